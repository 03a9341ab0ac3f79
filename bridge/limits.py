"""The limits every layer agrees on: what a request may ask for is what the engine can make.

Kept free of imports so that the protocol layer (no torch) and the engine share one number.
"""

#: Longest clip, in seconds (longer than one 30 s window: the engine continues window by window).
MAX_DURATION_S = 300.0
#: Most variations of one request (each is a row of the batch; memory grows with them).
MAX_VARIATIONS = 8
