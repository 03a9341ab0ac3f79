"""MIDI actions as requests: what keys a pad, a played phrase or "continue last" turns into.

A pure function, so the daemon's MIDI handler stays a few lines and this is testable without ports.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..audio import AudioError, audio_length_s

log = logging.getLogger("bridge.midi")

#: "Continue last" continues from this many seconds before the end of the last clip.
CONTINUE_LAST_CONTEXT_S = 10.0
#: The tempo used when neither the trigger nor a MIDI clock gives one.
DEFAULT_BPM = 120.0


def request_from_midi(action, *, presets: dict[str, dict], last_clip: Path | None,
                      clock_bpm: float | None) -> tuple[str, dict[str, Any]] | None:
    """``(action, keys)`` of the request a :class:`~bridge.midi.MidiAction` asks for, or None
    when there is nothing to do (``continue_last`` before any clip was made)."""
    params: dict[str, Any] = {}
    if action.preset:
        params["preset"] = action.preset
    op = "generate"
    if action.kind == "continue_last":
        if last_clip is None or not last_clip.exists():
            log.warning("MIDI continue_last: no clip made by this daemon yet")
            return None
        op = "continue"
        params["audio_path"] = str(last_clip)
        try:
            params["start"] = max(0.0, audio_length_s(last_clip) - CONTINUE_LAST_CONTEXT_S)
        except AudioError:
            pass  # admission refuses the file with a clear error
    elif action.kind == "melody":
        params["melody_notes"] = [[int(n[0]), float(n[1]), float(n[2]), int(n[3])] for n in action.notes]
        params["bpm"] = float(action.bpm or DEFAULT_BPM)
    if action.kind != "melody":
        preset = presets.get(action.preset or "", {})
        if "bars" in preset and "bpm" not in preset:  # bars follow the MIDI clock's tempo
            params["bpm"] = float(action.bpm or clock_bpm or DEFAULT_BPM)
    return op, params
