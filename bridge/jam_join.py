"""The audio of a jam's joins: each segment's head crossfaded from the previous segment's tail.

Joins: the engine returns a continuation's new audio starting exactly at the prompt's end, but
decoded from the codec's codes of the prompt, not from the prompt itself, so the first new sample
does not follow the previous file's last one. Each segment is therefore generated ``TAIL_S``
longer; the first ``JOIN_FADE_S`` of that tail (what the model made right after the segment's
end, in the same decode) is kept in the segment's sidecar, and the next segment's head is an
equal-power crossfade from that tail into its own audio. The join is as smooth as any two samples
inside one clip. Written by hand: no library knows MusicGen continuations' seams.

Loudness: segment 0 is normalized as the request says; continuations keep the level the music
already has (the prompt is the previous, normalized segment), only clipped to [-1, 1], so no gain
step lands on a join.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Callable

import numpy as np

#: Audio generated past each segment's end (for the next join's crossfade).
TAIL_S = 0.05
#: Length of the crossfade at each join.
JOIN_FADE_S = 0.02


def _fades(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    return np.cos(0.5 * np.pi * t).astype(np.float32), np.sin(0.5 * np.pi * t).astype(np.float32)


def encode_tail(tail: np.ndarray) -> dict:
    data = np.ascontiguousarray(tail, dtype="<f4")
    return {"channels": int(data.shape[0]), "samples": int(data.shape[1]),
            "f32le_b64": base64.b64encode(data.tobytes()).decode("ascii")}


def decode_tail(meta: dict) -> np.ndarray:
    raw = base64.b64decode(meta["f32le_b64"])
    return np.frombuffer(raw, dtype="<f4").reshape(int(meta["channels"]), int(meta["samples"])).astype(np.float32)


def read_tail(clip_path: str | Path) -> np.ndarray | None:
    """The join tail kept in a jam segment's sidecar (``<clip>.json``), or None."""
    side = Path(clip_path).with_name(Path(clip_path).name + ".json")
    try:
        meta = json.loads(side.read_text(encoding="utf-8")).get("jam", {}).get("tail")
        return decode_tail(meta) if meta else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def shape_segment(audio: np.ndarray, sr: int, length_samples: int, *, prev_tail: np.ndarray | None,
                  normalize_fn: Callable[[np.ndarray], np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """One generated segment (with ``TAIL_S`` extra) -> (its clip audio, its join tail).

    ``prev_tail``: the previous segment's tail; the head is crossfaded from it. ``normalize_fn``:
    the first segment's normalization (its gain is measured and applied to the tail too); None
    keeps the level and clips to [-1, 1].
    """
    fade_n = int(round(JOIN_FADE_S * sr))
    if audio.shape[1] < length_samples + fade_n:
        audio = np.pad(audio, ((0, 0), (0, length_samples + fade_n - audio.shape[1])))
    body = audio[:, :length_samples].astype(np.float32, copy=True)
    tail = audio[:, length_samples:length_samples + fade_n].astype(np.float32, copy=True)
    if prev_tail is not None and prev_tail.shape[0] == body.shape[0]:
        n = min(prev_tail.shape[1], length_samples)
        fade_out, fade_in = _fades(n)
        body[:, :n] = prev_tail[:, :n] * fade_out + body[:, :n] * fade_in
    if normalize_fn is not None:
        normed = normalize_fn(body)
        denom = float(np.sum(body.astype(np.float64) ** 2))
        gain = float(np.sum(normed.astype(np.float64) * body) / denom) if denom > 0 else 1.0
        body, tail = normed.astype(np.float32), tail * gain
    body = np.clip(body, -1.0, 1.0)
    return body, np.clip(tail, -1.0, 1.0)
