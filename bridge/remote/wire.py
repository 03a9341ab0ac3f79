"""What crosses the network between a daemon and a worker (docs/protocol.md "Worker API").

Values only, never paths: text, numbers, and arrays as base64 of little-endian float32 (bit-exact,
so a remote clip equals a local one). Prompt audio travels as the bytes of an audio file (WAV or
FLAC; the daemon sends 32-bit float WAV at the model's rate, which is exact). Both sides use the
functions here; nothing here imports a web framework.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from dataclasses import dataclass

import numpy as np

#: The path prefix of this API version; a change that breaks clients gets /v2.
API = "v1"
PREFIX = f"/{API}"
#: Default cap on a request body, in bytes (30 s of stereo float32 prompt audio is ~10 MB as base64).
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Idempotency keys: what a client may use to find its job again after a dropped connection.
KEY_RE = re.compile(r"[A-Za-z0-9._:@#-]{1,160}\Z")
MAX_PROMPT_CHARS = 2000

# error codes of the worker API (JSON ``{"error": {"code", "message"}}`` or an ``error`` event)
BAD_REQUEST = "bad_request"
UNAUTHORIZED = "unauthorized"
TOO_LARGE = "too_large"
BUSY = "busy"
NOT_FOUND = "not_found"
GENERATION_FAILED = "generation_failed"
SHUTTING_DOWN = "shutting_down"


class WireError(ValueError):
    """A request the worker refuses: ``code`` and a one-line ``message``."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def encode_array(a: np.ndarray) -> dict:
    """``{"shape": [...], "dtype": "float32", "data": base64}`` of a float32 array."""
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "dtype": "float32", "data": base64.b64encode(a.tobytes()).decode("ascii")}


def array_event(meta: dict, a: np.ndarray) -> str:
    """``json.dumps({**meta, **encode_array(a)})``, without having json scan megabytes of base64."""
    a = np.ascontiguousarray(a, dtype="<f4")
    head = json.dumps({**meta, "shape": list(a.shape), "dtype": "float32"})
    return head[:-1] + ', "data": "' + base64.b64encode(a.tobytes()).decode("ascii") + '"}'


def decode_array(obj, *, ndim: int, name: str) -> np.ndarray:
    """The array of :func:`encode_array`; :class:`WireError` for anything malformed."""
    if not isinstance(obj, dict) or obj.get("dtype", "float32") != "float32":
        raise WireError(BAD_REQUEST, f"{name} must be {{shape, dtype: float32, data: base64}}")
    shape = obj.get("shape")
    if (not isinstance(shape, list) or len(shape) != ndim
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise WireError(BAD_REQUEST, f"{name}.shape must be {ndim} non-negative integers")
    try:
        raw = base64.b64decode(obj.get("data", ""), validate=True)
    except (ValueError, TypeError):
        raise WireError(BAD_REQUEST, f"{name}.data is not base64") from None
    if len(raw) != 4 * math.prod(shape):
        raise WireError(BAD_REQUEST, f"{name}.data holds {len(raw)} bytes, shape {shape} needs {4 * math.prod(shape)}")
    a = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    if not np.isfinite(a).all():
        raise WireError(BAD_REQUEST, f"{name} holds values that are not finite")
    return a


def wav_bytes(audio: np.ndarray, sr: int) -> bytes:
    """``(channels, samples)`` float32 as a 32-bit float WAV file (lossless)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(audio.T, dtype=np.float32), sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def read_audio_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """An audio file's bytes (WAV, FLAC, ...) as float32 ``(channels, samples)`` and its rate."""
    import soundfile as sf

    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        raise WireError(BAD_REQUEST, f"prompt_audio is not a readable audio file: {str(exc).splitlines()[0][:200]}") from None
    if audio.shape[0] == 0:
        raise WireError(BAD_REQUEST, "prompt_audio holds no samples")
    if not np.isfinite(audio).all():
        raise WireError(BAD_REQUEST, "prompt_audio holds values that are not finite")
    return np.ascontiguousarray(audio.T), int(sr)


@dataclass
class JobSpec:
    """One generation as the worker receives it (``POST /v1/generate``)."""

    prompt: str
    duration_s: float
    seed: int
    variations: int = 1
    top_k: int = 250
    top_p: float = 0.0
    temperature: float = 1.0
    cfg: float = 3.0
    preview: bool = False
    key: str | None = None
    chroma: np.ndarray | None = None          # (frames, 12)
    prompt_audio: np.ndarray | None = None    # (channels, samples) at prompt_sr
    prompt_sr: int = 0


def build_body(spec: JobSpec) -> dict:
    """The JSON body a client sends for ``spec`` (prompt audio as a float WAV file, base64)."""
    body = {"prompt": spec.prompt, "duration_s": spec.duration_s, "seed": int(spec.seed),
            "variations": spec.variations, "preview": bool(spec.preview),
            "sampling": {"top_k": spec.top_k, "top_p": spec.top_p, "temperature": spec.temperature, "cfg": spec.cfg}}
    if spec.key:
        body["key"] = spec.key
    if spec.chroma is not None:
        body["chroma"] = encode_array(spec.chroma)
    if spec.prompt_audio is not None:
        body["prompt_audio"] = {"data": base64.b64encode(wav_bytes(spec.prompt_audio, spec.prompt_sr)).decode("ascii")}
    return body


def _number(d: dict, key: str, kind, default, lo, hi, where: str = ""):
    value = d.get(key, default)
    ok_types = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        raise WireError(BAD_REQUEST, f"{where}{key} must be a number, got {value!r}"[:300])
    if not (math.isfinite(value) and lo <= value <= hi):
        raise WireError(BAD_REQUEST, f"{where}{key} must be in [{lo}, {hi}], got {value!r}"[:300])
    return kind(value)


_BODY_KEYS = {"prompt", "duration_s", "seed", "variations", "preview", "sampling", "key", "chroma", "prompt_audio"}
_SAMPLING_KEYS = {"top_k", "top_p", "temperature", "cfg"}


def parse_body(body) -> JobSpec:
    """Check a decoded JSON body; :class:`WireError` (``bad_request``) names the first bad value."""
    from ..engine.generation import MAX_DURATION_S, MAX_VARIATIONS

    if not isinstance(body, dict):
        raise WireError(BAD_REQUEST, "the body must be a JSON object")
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise WireError(BAD_REQUEST, f"unknown key {unknown[0]!r}")
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS:
        raise WireError(BAD_REQUEST, f"prompt must be text of at most {MAX_PROMPT_CHARS} characters")
    key = body.get("key")
    if key is not None and (not isinstance(key, str) or not KEY_RE.match(key)):
        raise WireError(BAD_REQUEST, "key must be 1-160 characters of A-Z a-z 0-9 . _ : @ # -")
    if "duration_s" not in body or "seed" not in body:
        raise WireError(BAD_REQUEST, "duration_s and seed are required")
    duration_s = _number(body, "duration_s", float, None, 0.02, MAX_DURATION_S)
    seed = _number(body, "seed", int, None, 0, 2**63 - 1)
    variations = _number(body, "variations", int, 1, 1, MAX_VARIATIONS)
    preview = body.get("preview", False)
    if not isinstance(preview, bool):
        raise WireError(BAD_REQUEST, "preview must be true or false")
    sampling = body.get("sampling", {})
    if not isinstance(sampling, dict):
        raise WireError(BAD_REQUEST, "sampling must be an object")
    unknown = sorted(set(sampling) - _SAMPLING_KEYS)
    if unknown:
        raise WireError(BAD_REQUEST, f"unknown key sampling.{unknown[0]}")
    spec = JobSpec(prompt=prompt, duration_s=duration_s, seed=seed, variations=variations, preview=preview, key=key,
                   top_k=_number(sampling, "top_k", int, 250, 0, 100000, "sampling."),
                   top_p=_number(sampling, "top_p", float, 0.0, 0.0, 1.0, "sampling."),
                   temperature=_number(sampling, "temperature", float, 1.0, 0.0, 100.0, "sampling."),
                   cfg=_number(sampling, "cfg", float, 3.0, 0.0, 100.0, "sampling."))
    if body.get("chroma") is not None:
        spec.chroma = decode_array(body["chroma"], ndim=2, name="chroma")
        if spec.chroma.shape[1] != 12 or spec.chroma.shape[0] == 0:
            raise WireError(BAD_REQUEST, "chroma must have shape [frames >= 1, 12]")
    if body.get("prompt_audio") is not None:
        pa = body["prompt_audio"]
        if not isinstance(pa, dict) or not isinstance(pa.get("data"), str):
            raise WireError(BAD_REQUEST, "prompt_audio must be {data: base64 of a WAV or FLAC file}")
        try:
            raw = base64.b64decode(pa["data"], validate=True)
        except ValueError:
            raise WireError(BAD_REQUEST, "prompt_audio.data is not base64") from None
        spec.prompt_audio, spec.prompt_sr = read_audio_bytes(raw)
    return spec


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}
