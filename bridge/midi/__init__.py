"""MIDI side of the daemon: pads, keys, CCs and program changes fire generations, a played phrase
becomes the melody, MIDI clock gives the tempo, and a feedback port lights pads.

Modules: ``config`` (the ``[midi]`` table), ``ports`` (rtmidi ports and APIs), ``stream`` (raw
bytes -> mido messages), ``triggers``, ``capture``, ``clock``, ``side`` (threads and wiring).
See docs/midi.md.
"""

from .capture import PhraseCapture
from .clock import ClockFollower
from .config import FeedbackMessage, MidiConfig, MidiConfigError, Trigger
from .side import MidiAction, MidiSide
from .stream import MidiStreamParser
from .triggers import TriggerMatcher

__all__ = [
    "ClockFollower", "FeedbackMessage", "MidiAction", "MidiConfig", "MidiConfigError", "MidiSide",
    "MidiStreamParser", "PhraseCapture", "Trigger", "TriggerMatcher",
]
