"""Ableton Live needs nothing beyond the OSC replies.

The Max for Live device sends requests with ``daw ableton`` and a ``reply_port``; on
``/musicgen/done <id> <path>...`` it creates the clips with ``ClipSlot.create_audio_clip`` or
``Track.create_audio_clip`` (Live 12.0.5+). The daemon only has to make sure the files are
complete before ``done`` is sent, which ``bridge.clips`` guarantees.
"""

NEEDS_RESULT_FILE = False
