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

MAX_DURATION_S = 300.0
MAX_PROMPT_CHARS = 2000
MAX_VARIATIONS = 8
ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DAWS = ("ableton", "reaper", "none")
ACTIONS = ("generate", "continue")
#: A prompt of exactly this text means "no prompt": the Max for Live device sends it as the
#: positional prompt of /musicgen/generate instead of an empty symbol (which Max may drop).
PROMPT_NONE = "-"


class RequestError(ValueError):
    """A request that cannot be served: ``code`` (see docs/protocol.md) and a one-line message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


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
                raise RequestError("bad_request", f"{name} must be a number, got {v!r}") from None
        if not isinstance(v, (int, float)):
            raise RequestError("bad_request", f"{name} must be a number, got {type(v).__name__}")
        v = float(v)
        if not math.isfinite(v):
            raise RequestError("bad_request", f"{name} must be a finite number, got {v}")
        if integer:
            if v != int(v):
                raise RequestError("bad_request", f"{name} must be a whole number, got {v:g}")
            v = int(v)
        if lo is not None and (v < lo or (lo_open and v <= lo)):
            raise RequestError("bad_request", f"{name} must be {'>' if lo_open else '>='} {lo:g}, got {v:g}")
        if hi is not None and v > hi:
            raise RequestError("bad_request", f"{name} must be <= {hi:g}, got {v:g}")
        return v
    return conv


def _str(name, maxlen=4096, choices=None):
    def conv(v):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and choices is None:
            v = str(int(v)) if float(v).is_integer() else str(v)
        if not isinstance(v, str):
            raise RequestError("bad_request", f"{name} must be a string")
        if "\x00" in v:
            raise RequestError("bad_request", f"{name} must not contain NUL characters")
        if len(v) > maxlen:
            raise RequestError("bad_request", f"{name} is too long ({len(v)} characters, at most {maxlen})")
        if choices is not None:
            v = v.strip().lower()
            if v not in choices:
                raise RequestError("bad_request", f"{name} must be one of {', '.join(choices)}, got {v!r}")
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
        raise RequestError("bad_request", f"{name} must be 0 or 1, got {v!r}")
    return conv


def _notes(v):
    if isinstance(v, str):
        return _str("melody_notes", 64)(v)
    if not isinstance(v, (list, tuple)) or not v:
        raise RequestError("bad_request", "melody_notes must be an id or a list of [pitch, start_beats, length_beats, velocity]")
    if len(v) > 10000:
        raise RequestError("bad_request", "melody_notes holds more than 10000 notes")
    out = []
    for n in v:
        if not isinstance(n, (list, tuple)) or len(n) != 4:
            raise RequestError("bad_request", "each melody note must be [pitch, start_beats, length_beats, velocity]")
        out.append((_num("note pitch", 0, 127, integer=True)(n[0]), _num("note start", 0, 100000)(n[1]),
                    _num("note length", 0, 100000)(n[2]), _num("note velocity", 0, 127, integer=True)(n[3])))
    return out


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


def parse_request(params: dict[str, Any], *, action: str = "generate", req_id: str | None = None,
                  presets: dict[str, dict] | None = None) -> GenerationRequest:
    """Validate loose ``params`` into a :class:`GenerationRequest` (raises :class:`RequestError`)."""
    req_id = req_id if req_id is not None else params.get("id")
    if not isinstance(req_id, str) or not ID_RE.match(req_id):
        raise RequestError("bad_request", "id must be 1-64 characters of A-Z a-z 0-9 . _ -")
    if action not in ACTIONS:
        raise RequestError("bad_request", f"action must be generate or continue, got {action!r}")
    params = dict(params)
    if isinstance(params.get("prompt"), str) and params["prompt"].strip() == PROMPT_NONE:
        del params["prompt"]  # "no prompt": a preset's prompt, if any, stays in place
    preset = params.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or preset not in (presets or {}):
            raise RequestError("unknown_preset", f"unknown preset {preset!r}"
                               + (f"; known: {', '.join(sorted(presets))}" if presets else "; none configured"))
        params = {**presets[preset], **params}
    req = GenerationRequest(id=req_id, action=action)
    for key, value in params.items():
        if key in TRANSPORT_KEYS:
            continue
        if key not in _KEYS:
            raise RequestError("bad_request", f"unknown key {key!r}")
        field_name, conv = _KEYS[key]
        setattr(req, field_name, conv(value))
    req.prompt = req.prompt.strip()
    if (req.bpm is None) != (req.bars is None) and req.bars is not None:
        raise RequestError("bad_request", "bars needs bpm (the tempo) to give a length")
    if not 0 < req.length_s() <= MAX_DURATION_S:
        raise RequestError("bad_request", f"length must be in (0, {MAX_DURATION_S:g}] seconds, got {req.length_s():g}")
    if action == "continue":
        if not req.audio_path:
            raise RequestError("bad_request", "continue needs audio_path (the audio file to continue)")
        if req.end_s is not None and req.start_s >= req.end_s:
            raise RequestError("bad_audio", f"start ({req.start_s:g} s) must be before end ({req.end_s:g} s)")
    elif req.audio_path:
        raise RequestError("bad_request", "audio_path is only for continue")
    if req.melody and req.melody_notes:
        raise RequestError("bad_request", "give either melody (a file) or melody_notes, not both")
    if not req.prompt and not (req.melody or req.melody_notes or action == "continue"):
        raise RequestError("bad_request", "prompt is empty (a prompt is needed unless there is a melody or audio to continue)")
    return req
