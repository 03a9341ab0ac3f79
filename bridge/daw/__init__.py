"""What each DAW needs to be told when a job ends.

- Ableton Live: the ``/musicgen/done`` OSC reply to the Max for Live device is the signal; the
  device creates the clip itself (``bridge.daw.ableton`` only describes that).
- REAPER: a result file in the project folder that a deferred ReaScript polls, optionally nudged
  through REAPER's OSC control surface (``bridge.daw.reaper``).
"""
