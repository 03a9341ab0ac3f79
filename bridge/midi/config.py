"""The MIDI side's configuration: the ``[midi]`` table of the config file plus ``--midi-*`` options.

Everything is validated once, up front, so that a typo in a trigger is a clear one-line error at
start-up rather than a pad that silently does nothing during a set.

Channel numbers are 1-16 in the config (as printed on controllers) and 0-15 inside (as in mido).
Note, CC and program numbers are 0-127 everywhere (mido's numbering; some controllers display
programs as 1-128).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Collection, Mapping

import mido

ACTIONS = ("generate", "continue_last", "melody", "cancel", "arm_capture", "jam", "jam_stop")
APIS = ("auto", "alsa", "jack", "coremidi", "winmm")
FEEDBACK_EVENTS = ("started", "done", "error", "cancelled")
MESSAGE_KINDS = ("note", "cc", "program")

DEFAULT_IN_NAME = "MusicGen Bridge"
DEFAULT_CLIENT_NAME = "musicgen-bridge"

_MIDI_KEYS = {
    "enabled", "in", "connect", "out", "out_connect", "api", "capture_bars", "beats_per_bar",
    "quantize", "capture_channel", "poll_s", "clock_timeout_s", "triggers", "feedback",
}
_TRIGGER_KEYS = {"note", "cc", "program", "channel", "action", "preset"}
_FEEDBACK_KEYS = {"note", "cc", "program", "channel", "velocity", "value"}
_CLI_KEYS = {"in_name", "connect", "out_name", "out_connect", "api"}


class MidiConfigError(ValueError):
    """A bad ``[midi]`` table or ``--midi-*`` option; the message is one line naming the key."""


def rtmidi_missing_message() -> str | None:
    """The one-line error for MIDI asked for without python-rtmidi (the ``[midi]`` extra), with
    the command that installs it into this interpreter; ``None`` when it is installed."""
    try:
        import rtmidi  # noqa: F401
        return None
    except ImportError:
        pass
    line = (f"MIDI needs python-rtmidi, which is not installed: run "
            f"\"{sys.executable}\" -m pip install \"python-rtmidi>=1.5\"")
    if sys.version_info >= (3, 13):
        line += (f" (python-rtmidi 1.5.8 has no wheel for Python {sys.version_info[0]}.{sys.version_info[1]}: "
                 "pip compiles it, which needs a C++ compiler; or set up with Python 3.12, see docs/install.md)")
    return line


def require_rtmidi() -> None:
    """Raise :class:`MidiConfigError` when python-rtmidi is missing (see rtmidi_missing_message)."""
    message = rtmidi_missing_message()
    if message:
        raise MidiConfigError(message)


@dataclass(frozen=True)
class Trigger:
    """One ``[[midi.triggers]]`` entry: which incoming message fires which action."""

    kind: str                # "note" | "cc" | "program"
    number: int              # note, controller or program number, 0-127
    channel: int | None      # 0-15 (mido numbering); None = any channel
    action: str              # one of ACTIONS
    preset: str | None = None

    def describe(self) -> str:
        """Human-readable source, e.g. ``note 60 ch 1`` (channel 1-16 as on controllers)."""
        chan = "any ch" if self.channel is None else f"ch {self.channel + 1}"
        return f"{self.kind} {self.number} {chan}"


@dataclass(frozen=True)
class FeedbackMessage:
    """What to send on the feedback port for one job event (a note, a CC or a program change)."""

    kind: str          # "note" | "cc" | "program"
    number: int        # 0-127
    value: int = 127   # note velocity (0 = note off) or CC value; unused for program
    channel: int = 0   # 0-15

    def message(self) -> mido.Message:
        if self.kind == "note":
            return mido.Message("note_on", channel=self.channel, note=self.number,
                                velocity=self.value)
        if self.kind == "cc":
            return mido.Message("control_change", channel=self.channel, control=self.number,
                                value=self.value)
        return mido.Message("program_change", channel=self.channel, program=self.number)


@dataclass
class MidiConfig:
    """Validated MIDI settings. Build it with :meth:`from_dict`."""

    enabled: bool = True
    in_name: str = DEFAULT_IN_NAME     # virtual input port (or our local port name in connect mode)
    connect: str | None = None         # connect to existing sources matching this instead
    out_name: str | None = None        # virtual feedback output port
    out_connect: str | None = None     # or: send feedback to existing destinations matching this
    api: str = "auto"
    capture_bars: float = 4.0          # rolling capture buffer length; 0 = no rolling buffer
    beats_per_bar: int = 4
    quantize: float = 0.25             # grid in beats; 0 = no quantization
    capture_channel: int | None = None  # 0-15; None = record every channel
    poll_s: float = 1.0                # how often the port list is checked (re-open, re-connect)
    clock_timeout_s: float = 2.0       # no clock tick for this long -> clock_bpm is None
    triggers: tuple[Trigger, ...] = ()
    feedback: dict[str, FeedbackMessage] = field(default_factory=dict)
    client_name: str = DEFAULT_CLIENT_NAME

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | None,
                  cli_overrides: Mapping[str, Any] | None = None,
                  presets: Collection[str] | None = None) -> "MidiConfig":
        """Validate the ``[midi]`` table and apply command-line overrides.

        ``cli_overrides`` holds ``in_name``, ``connect``, ``out_name``, ``out_connect``, ``api``;
        ``None`` values mean "not given on the command line". When ``presets`` (names from the
        config) is given, triggers naming another preset are refused too.
        Raises :class:`MidiConfigError` with a one-line message, also when MIDI is enabled and
        python-rtmidi (the ``[midi]`` extra) is not installed.
        """
        table = dict(table or {})
        _only_known(table, _MIDI_KEYS, "midi")
        cfg = cls()
        cfg.enabled = _bool(table, "enabled", True, "midi")
        cfg.in_name = _port_name(table.get("in", DEFAULT_IN_NAME), "midi.in")
        cfg.connect = _pattern(table.get("connect"), "midi.connect")
        cfg.out_name = _opt_port_name(table.get("out"), "midi.out")
        cfg.out_connect = _pattern(table.get("out_connect"), "midi.out_connect")
        cfg.api = _api(table.get("api", "auto"), "midi.api")
        cfg.capture_bars = _number(table, "capture_bars", 4.0, 0.0, 64.0, "midi")
        cfg.beats_per_bar = _int(table, "beats_per_bar", 4, 1, 32, "midi")
        cfg.quantize = _number(table, "quantize", 0.25, 0.0, 4.0, "midi")
        cfg.capture_channel = _channel(table, "capture_channel", "midi")
        cfg.poll_s = _number(table, "poll_s", 1.0, 0.05, 60.0, "midi")
        cfg.clock_timeout_s = _number(table, "clock_timeout_s", 2.0, 0.1, 60.0, "midi")

        raw_triggers = table.get("triggers", [])
        if not isinstance(raw_triggers, list):
            raise MidiConfigError("midi.triggers: must be an array of tables ([[midi.triggers]])")
        cfg.triggers = tuple(_trigger(t, i, presets) for i, t in enumerate(raw_triggers))

        raw_feedback = table.get("feedback", {})
        if not isinstance(raw_feedback, Mapping):
            raise MidiConfigError("midi.feedback: must be a table ([midi.feedback])")
        for event, spec in raw_feedback.items():
            if event not in FEEDBACK_EVENTS:
                raise MidiConfigError(f"midi.feedback: unknown event {event!r} "
                                      f"(known: {', '.join(FEEDBACK_EVENTS)})")
            cfg.feedback[event] = _feedback(spec, f"midi.feedback.{event}")

        for key, value in (cli_overrides or {}).items():
            if key not in _CLI_KEYS:
                raise MidiConfigError(f"midi: unknown command-line override {key!r}")
            if value is None:
                continue
            where = "--midi-" + {"in_name": "in", "out_name": "out"}.get(key, key).replace("_", "-")
            if key == "in_name":
                cfg.in_name = _port_name(value, where)
            elif key == "connect":
                cfg.connect = _pattern(value, where)
            elif key == "out_name":
                cfg.out_name = _opt_port_name(value, where)
            elif key == "out_connect":
                cfg.out_connect = _pattern(value, where)
            elif key == "api":
                cfg.api = _api(value, where)
        if cfg.enabled:
            require_rtmidi()   # after validation: a typo is reported first, then the missing extra
        return cfg

    @property
    def capture_beats(self) -> float:
        """Length of the rolling capture buffer in beats."""
        return self.capture_bars * self.beats_per_bar


# --- validation helpers -------------------------------------------------------------------------

def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bool(table: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise MidiConfigError(f"{where}.{key}: must be true or false, not {value!r}")
    return value


def _int(table: Mapping[str, Any], key: str, default: int, low: int, high: int,
         where: str) -> int:
    value = table.get(key, default)
    if not _is_int(value):
        raise MidiConfigError(f"{where}.{key}: must be an integer, not {value!r}")
    if not low <= value <= high:
        raise MidiConfigError(f"{where}.{key}: {value} is out of range {low}-{high}")
    return value


def _number(table: Mapping[str, Any], key: str, default: float, low: float, high: float,
            where: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MidiConfigError(f"{where}.{key}: must be a number, not {value!r}")
    if not low <= value <= high:
        raise MidiConfigError(f"{where}.{key}: {value} is out of range {low:g}-{high:g}")
    return float(value)


def _channel(table: Mapping[str, Any], key: str, where: str) -> int | None:
    if key not in table:
        return None
    value = table[key]
    if not _is_int(value):
        raise MidiConfigError(f"{where}.{key}: channel must be an integer 1-16, not {value!r}")
    if not 1 <= value <= 16:
        raise MidiConfigError(f"{where}.{key}: channel {value} is out of range 1-16")
    return value - 1


def _port_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MidiConfigError(f"{where}: port name must be a non-empty string, not {value!r}")
    if len(value) > 60:
        raise MidiConfigError(f"{where}: port name is longer than 60 characters")
    return value.strip()


def _opt_port_name(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    return _port_name(value, where)


def _pattern(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MidiConfigError(f"{where}: must be a string (a port name, part of one, or a regex)")
    return value


def _api(value: Any, where: str) -> str:
    if not isinstance(value, str) or value.lower() not in APIS:
        raise MidiConfigError(f"{where}: unknown MIDI API {value!r} (use {'|'.join(APIS)})")
    return value.lower()


def _one_kind(spec: Mapping[str, Any], where: str) -> tuple[str, int]:
    kinds = [k for k in MESSAGE_KINDS if k in spec]
    if len(kinds) != 1:
        raise MidiConfigError(f"{where}: needs exactly one of note, cc, program "
                              f"(got {', '.join(kinds) or 'none'})")
    kind = kinds[0]
    number = spec[kind]
    if not _is_int(number):
        raise MidiConfigError(f"{where}: {kind} must be an integer 0-127, not {number!r}")
    if not 0 <= number <= 127:
        raise MidiConfigError(f"{where}: {kind} {number} is out of range 0-127")
    return kind, number


def _only_known(table: Mapping, known: Collection[str], where: str) -> None:
    """Refuse the first (sorted) key of ``table`` that is not in ``known``, naming the known ones."""
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise MidiConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")


def _trigger(spec: Any, index: int, presets: Collection[str] | None) -> Trigger:
    where = f"midi.triggers[{index}]"
    if not isinstance(spec, Mapping):
        raise MidiConfigError(f"{where}: must be a table")
    _only_known(spec, _TRIGGER_KEYS, where)
    kind, number = _one_kind(spec, where)
    channel = _channel(spec, "channel", where)
    action = spec.get("action")
    if action not in ACTIONS:
        raise MidiConfigError(f"{where}: unknown action {action!r} (use {'|'.join(ACTIONS)})")
    preset = spec.get("preset")
    if preset is not None and (not isinstance(preset, str) or not preset):
        raise MidiConfigError(f"{where}: preset must be a preset name, not {preset!r}")
    if action in ("generate", "jam") and preset is None:
        raise MidiConfigError(f"{where}: action {action} needs a preset")
    if action in ("cancel", "arm_capture", "jam_stop") and preset is not None:
        raise MidiConfigError(f"{where}: action {action} takes no preset")
    if preset is not None and presets is not None and preset not in presets:
        raise MidiConfigError(f"{where}: unknown preset {preset!r}")
    return Trigger(kind=kind, number=number, channel=channel, action=action, preset=preset)


def _feedback(spec: Any, where: str) -> FeedbackMessage:
    if not isinstance(spec, Mapping):
        raise MidiConfigError(f"{where}: must be a table like {{note = 36, velocity = 127}}")
    _only_known(spec, _FEEDBACK_KEYS, where)
    kind, number = _one_kind(spec, where)
    if kind == "note" and "value" in spec:
        raise MidiConfigError(f"{where}: a note takes velocity, not value")
    if kind == "cc" and "velocity" in spec:
        raise MidiConfigError(f"{where}: a cc takes value, not velocity")
    if kind == "program" and ("velocity" in spec or "value" in spec):
        raise MidiConfigError(f"{where}: a program change takes no velocity or value")
    value_key = "velocity" if kind == "note" else "value"
    value = _int(spec, value_key, 127, 0, 127, where) if kind != "program" else 0
    channel = _channel(spec, "channel", where)
    return FeedbackMessage(kind=kind, number=number, value=value,
                           channel=0 if channel is None else channel)


def pattern_matches(pattern: str, name: str) -> bool:
    """True when ``name`` contains ``pattern`` (case-insensitive) or the regex matches in it.

    Substring first, so names with regex characters (``"Launchpad (MIDI)"``) work as written;
    an invalid regex is only a substring.
    """
    if pattern.lower() in name.lower():
        return True
    try:
        return re.search(pattern, name, re.IGNORECASE) is not None
    except re.error:
        return False
