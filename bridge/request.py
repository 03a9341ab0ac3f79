"""The typed generation request, and its validation from loose key/value input.

Every front end (command line, OSC, inbox files, MIDI presets) produces a plain dict of the keys
documented in docs/protocol.md; :func:`parse_request` checks it and returns a
:class:`GenerationRequest` or raises :class:`RequestError` with a code and a one-line message.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .audio import FORMATS, NORMALIZATIONS
from .errors import BAD_AUDIO, BAD_REQUEST, UNKNOWN_PRESET, RequestError
from .limits import MAX_DURATION_S, MAX_VARIATIONS

MAX_PROMPT_CHARS = 2000
#: Most melody notes one request (or one id of /musicgen/notes) may carry.
MAX_NOTES = 10000
#: Request ids: also file names (results/<id>.json), so never starting with "." (hidden, "..").
ID_RE = re.compile(r"^(?!\.)[A-Za-z0-9._-]{1,64}\Z")
DAWS = ("ableton", "reaper", "none")
ACTIONS = ("generate", "continue")
#: A prompt of exactly this text means "no prompt": the Max for Live device sends it as the
#: positional prompt of /musicgen/generate instead of an empty symbol (which Max may drop).
PROMPT_NONE = "-"


@dataclass
class GenerationRequest:
    """One generation, validated. Times are seconds unless the name says beats."""

    id: str
    action: str = "generate"
    prompt: str = ""
    duration_s: float = 8.0
    bpm: float | None = None
    bars: float | None = None
    beats_per_bar: float = 4.0
    loop: bool = False
    model: str | None = None
    seed: int | None = None
    top_k: int = 250
    top_p: float = 0.0
    temperature: float = 1.0
    cfg: float = 3.0
    format: str = "wav"
    normalize: str = "loudness"
    variations: int = 1
    melody: str | None = None
    melody_notes: list | str | None = None  # [(pitch, start_beats, length_beats, velocity)] or an id
    audio_path: str | None = None
    start_s: float = 0.0
    end_s: float | None = None
    keep_prompt: bool = False
    out_dir: str | None = None
    name: str | None = None
    daw: str = "none"
    position: float | None = None
    track: str | None = None
    preview: bool = False
    stems: bool = False
    reply_host: str | None = None
    reply_port: int | None = None
    preset: str | None = None
    project_id: str | None = None  # the DAW project's identity, echoed back (REAPER results)
    extra: dict = field(default_factory=dict)

    def length_s(self) -> float:
        """Length of the new audio: exact bars at the tempo when given, else ``duration_s``."""
        if self.bpm is not None and self.bars is not None:
            return self.bars * self.beats_per_bar * 60.0 / self.bpm
        return self.duration_s

    def to_dict(self) -> dict:
        d = asdict(self)
        if isinstance(d.get("melody_notes"), list):
            d["melody_notes"] = [list(n) for n in d["melody_notes"]]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GenerationRequest":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


# key -> (field name, converter)
def _num(name, lo=None, hi=None, lo_open=False, integer=False):
    def conv(v):
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, str):
            try:
                v = float(v.strip())
            except ValueError:
                raise RequestError(BAD_REQUEST, f"{name} must be a number, got {v!r}") from None
        if not isinstance(v, (int, float)):
            raise RequestError(BAD_REQUEST, f"{name} must be a number, got {type(v).__name__}")
        try:
            v = float(v)
        except OverflowError:  # an integer beyond any float (JSON allows 10**400)
            raise RequestError(BAD_REQUEST, f"{name} must be a finite number, got an integer of {len(str(v))} digits") from None
        if not math.isfinite(v):
            raise RequestError(BAD_REQUEST, f"{name} must be a finite number, got {v}")
        if integer:
            if v != int(v):
                raise RequestError(BAD_REQUEST, f"{name} must be a whole number, got {v:g}")
            v = int(v)
        if lo is not None and (v < lo or (lo_open and v <= lo)):
            raise RequestError(BAD_REQUEST, f"{name} must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
        if hi is not None and v > hi:
            raise RequestError(BAD_REQUEST, f"{name} must be <= {hi:g}, got {v:g}")
        return v
    return conv


def _str(name, maxlen=4096, choices=None):
    def conv(v):
        if isinstance(v, int) and not isinstance(v, bool) and choices is None:
            v = str(v)
        elif isinstance(v, float) and choices is None:
            v = str(int(v)) if v.is_integer() else str(v)
        if not isinstance(v, str):
            raise RequestError(BAD_REQUEST, f"{name} must be a string")
        if "\x00" in v:
            raise RequestError(BAD_REQUEST, f"{name} must not contain NUL characters")
        if len(v) > maxlen:
            raise RequestError(BAD_REQUEST, f"{name} is too long ({len(v)} characters, at most {maxlen})")
        if choices is not None:
            v = v.strip().lower()
            if v not in choices:
                raise RequestError(BAD_REQUEST, f"{name} must be one of {', '.join(choices)}, got {v!r}")
        return v
    return conv


def _bool(name):
    def conv(v):
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.strip().lower() in ("0", "1", "true", "false", "yes", "no", "on", "off"):
            return v.strip().lower() in ("1", "true", "yes", "on")
        raise RequestError(BAD_REQUEST, f"{name} must be 0 or 1, got {v!r}")
    return conv


def parse_note(note) -> tuple[int, float, float, int]:
    """One melody note ``[pitch, start_beats, length_beats, velocity]``, checked (raises ``bad_request``)."""
    if not isinstance(note, (list, tuple)) or len(note) != 4:
        raise RequestError(BAD_REQUEST, "each melody note must be [pitch, start_beats, length_beats, velocity]")
    return (_num("note pitch", 0, 127, integer=True)(note[0]), _num("note start", 0, 100000)(note[1]),
            _num("note length", 0, 100000)(note[2]), _num("note velocity", 0, 127, integer=True)(note[3]))


def _notes(v):
    if isinstance(v, str):
        return _str("melody_notes", 64)(v)
    if not isinstance(v, (list, tuple)) or not v:
        raise RequestError(BAD_REQUEST, "melody_notes must be an id or a list of [pitch, start_beats, length_beats, velocity]")
    if len(v) > MAX_NOTES:
        raise RequestError(BAD_REQUEST, f"melody_notes holds more than {MAX_NOTES} notes")
    return [parse_note(n) for n in v]


_KEYS = {
    "prompt": ("prompt", _str("prompt", MAX_PROMPT_CHARS)),
    "duration": ("duration_s", _num("duration", 0, MAX_DURATION_S, lo_open=True)),
    "bpm": ("bpm", _num("bpm", 20, 400)),
    "bars": ("bars", _num("bars", 0, 1000, lo_open=True)),
    "beats_per_bar": ("beats_per_bar", _num("beats_per_bar", 0.5, 32)),
    "loop": ("loop", _bool("loop")),
    "model": ("model", _str("model", 512)),
    "seed": ("seed", _num("seed", 0, 2**31 - 1, integer=True)),
    "top_k": ("top_k", _num("top_k", 0, 100000, integer=True)),
    "top_p": ("top_p", _num("top_p", 0, 1)),
    "temperature": ("temperature", _num("temperature", 0, 100, lo_open=True)),
    "cfg": ("cfg", _num("cfg", 0, 100)),
    "format": ("format", _str("format", 16, tuple(FORMATS))),
    "normalize": ("normalize", _str("normalize", 16, NORMALIZATIONS)),
    "variations": ("variations", _num("variations", 1, MAX_VARIATIONS, integer=True)),
    "melody": ("melody", _str("melody")),
    "melody_notes": ("melody_notes", _notes),
    "audio_path": ("audio_path", _str("audio_path")),
    "start": ("start_s", _num("start", 0)),
    "end": ("end_s", _num("end", 0)),
    "keep_prompt": ("keep_prompt", _bool("keep_prompt")),
    "out_dir": ("out_dir", _str("out_dir")),
    "name": ("name", _str("name", 200)),
    "daw": ("daw", _str("daw", 16, DAWS)),
    "position": ("position", _num("position")),
    "track": ("track", _str("track", 200)),
    "preview": ("preview", _bool("preview")),
    "stems": ("stems", _bool("stems")),
    "reply_host": ("reply_host", _str("reply_host", 255)),
    "reply_port": ("reply_port", _num("reply_port", 1, 65535, integer=True)),
    "preset": ("preset", _str("preset", 100)),
    "project_id": ("project_id", _str("project_id", 64)),
}
#: Keys a front end may pass that are not generation parameters (consumed elsewhere).
TRANSPORT_KEYS = ("token", "id", "action")
KNOWN_KEYS = tuple(_KEYS) + TRANSPORT_KEYS


def merge_presets(params: dict[str, Any], presets: dict[str, dict] | None = None,
                  defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """``defaults``, then the named ``preset``'s keys, then ``params`` (each wins over the one before).

    The ``preset`` key stays in the result. Raises ``unknown_preset`` for a name not in ``presets``.
    """
    merged = dict(defaults or {})
    preset = params.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or preset not in (presets or {}):
            known = ", ".join(sorted(presets or {})) or "none configured"
            raise RequestError(UNKNOWN_PRESET, f"unknown preset {preset!r} (known: {known})")
        merged.update(presets[preset])
    merged.update(params)
    return merged


def parse_request(params: dict[str, Any], *, action: str = "generate", req_id: str | None = None,
                  presets: dict[str, dict] | None = None, defaults: dict[str, Any] | None = None
                  ) -> GenerationRequest:
    """Validate loose ``params`` into a :class:`GenerationRequest` (raises :class:`RequestError`).

    ``defaults`` and the preset named by a ``preset`` key are merged under ``params`` first
    (:func:`merge_presets`).
    """
    req_id = req_id if req_id is not None else params.get("id")
    if not isinstance(req_id, str) or not ID_RE.match(req_id):
        raise RequestError(BAD_REQUEST, "id must be 1-64 characters of A-Z a-z 0-9 . _ - (not starting with .)")
    if action not in ACTIONS:
        raise RequestError(BAD_REQUEST, f"action must be generate or continue, got {action!r}")
    if isinstance(params.get("prompt"), str) and params["prompt"].strip() == PROMPT_NONE:
        params = {k: v for k, v in params.items() if k != "prompt"}  # "no prompt": a preset's stays
    params = merge_presets(params, presets, defaults)
    req = GenerationRequest(id=req_id, action=action)
    for key, value in params.items():
        if key in TRANSPORT_KEYS:
            continue
        if key not in _KEYS:
            raise RequestError(BAD_REQUEST, f"unknown key {key!r}")
        field_name, conv = _KEYS[key]
        setattr(req, field_name, conv(value))
    req.prompt = req.prompt.strip()
    if (req.bpm is None) != (req.bars is None) and req.bars is not None:
        raise RequestError(BAD_REQUEST, "bars needs bpm (the tempo) to give a length")
    if not 0 < req.length_s() <= MAX_DURATION_S:
        raise RequestError(BAD_REQUEST, f"length must be in (0, {MAX_DURATION_S:g}] seconds, got {req.length_s():g}")
    if action == "continue":
        if not req.audio_path:
            raise RequestError(BAD_REQUEST, "continue needs audio_path (the audio file to continue)")
        if req.end_s is not None and req.start_s >= req.end_s:
            raise RequestError(BAD_AUDIO, f"start ({req.start_s:g} s) must be before end ({req.end_s:g} s)")
    elif req.audio_path:
        raise RequestError(BAD_REQUEST, "audio_path is only for continue")
    if req.melody and req.melody_notes:
        raise RequestError(BAD_REQUEST, "give either melody (a file) or melody_notes, not both")
    if not req.prompt and not (req.melody or req.melody_notes or action == "continue"):
        raise RequestError(BAD_REQUEST, "prompt is empty (a prompt is needed unless there is a melody or audio to continue)")
    return req
