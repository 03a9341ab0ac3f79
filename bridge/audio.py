"""Audio in and out: read, resample, fit channels, normalize, loop, write atomically.

Arrays are float32 of shape ``(channels, samples)``; every function takes and returns the sample
rate ``sr`` in Hz explicitly. Nothing here knows about models, jobs or DAWs.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

#: Output formats: name -> (soundfile format, subtype, file extension).
FORMATS = {
    "wav": ("WAV", "PCM_16", "wav"),
    "wav16": ("WAV", "PCM_16", "wav"),
    "wav24": ("WAV", "PCM_24", "wav"),
    "wavf": ("WAV", "FLOAT", "wav"),
    "flac": ("FLAC", "PCM_24", "flac"),
    "mp3": ("MP3", "MPEG_LAYER_III", "mp3"),
}

NORMALIZATIONS = ("loudness", "peak", "rms", "clip", "none")

LOUDNESS_TARGET_LUFS = -14.0
TRUE_PEAK_CEILING_DBTP = -1.0
PEAK_TARGET_DBFS = -1.0
RMS_TARGET_DBFS = -20.0

#: Largest input file read, in seconds of audio (protects the daemon from /dev/zero-like input).
MAX_INPUT_S = 15 * 60


class AudioError(ValueError):
    """A file that cannot be used as audio; the message is one line, fit for a user."""


def probe_region(path: str | os.PathLike, *, start_s: float = 0.0, end_s: float | None = None
                 ) -> tuple[int, int, int]:
    """Check that ``[start_s, end_s)`` of an audio file can be read, without decoding it.

    Returns ``(sr, start_frame, stop_frame)``. Raises :class:`AudioError` for a missing,
    unreadable, empty, too long or non-audio file and for a region outside the file.
    """
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise AudioError(f"audio file not found: {p}")
    if not p.is_file():
        raise AudioError(f"not a regular file: {p}")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # soundfile raises several types for non-audio data
        raise AudioError(f"not a readable audio file: {p} ({_first_line(exc)})") from None
    sr = int(info.samplerate)
    frames = int(info.frames)
    if sr <= 0 or frames <= 0:
        raise AudioError(f"audio file holds no audio: {p}")
    length_s = frames / sr
    if length_s > MAX_INPUT_S:
        raise AudioError(f"audio file too long: {p} is {length_s:.0f} s (at most {MAX_INPUT_S} s)")
    if not math.isfinite(start_s) or start_s < 0:
        raise AudioError(f"start must be >= 0 seconds, got {start_s}")
    if end_s is None:
        end_s = length_s
    if not math.isfinite(end_s):
        raise AudioError(f"end must be a number of seconds, got {end_s}")
    if start_s >= end_s:
        raise AudioError(f"start ({start_s:g} s) must be before end ({end_s:g} s)")
    if end_s > length_s + 1e-3:
        raise AudioError(f"region ends at {end_s:g} s, past the end of {p.name} ({length_s:.3f} s)")
    start = int(round(start_s * sr))
    stop = min(frames, int(round(end_s * sr)))
    if stop - start < 1:
        raise AudioError(f"region {start_s:g}-{end_s:g} s of {p.name} holds no samples")
    return sr, start, stop


def read_audio(path: str | os.PathLike, *, start_s: float = 0.0, end_s: float | None = None
               ) -> tuple[np.ndarray, int]:
    """Read ``[start_s, end_s)`` of an audio file as float32 ``(channels, samples)`` and its ``sr``.

    Raises :class:`AudioError` as :func:`probe_region` does, and for a file that fails to decode.
    """
    import soundfile as sf

    sr, start, stop = probe_region(path, start_s=start_s, end_s=end_s)
    try:
        data, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"cannot decode audio file: {path} ({_first_line(exc)})") from None
    audio = np.ascontiguousarray(data.T)
    if not np.all(np.isfinite(audio)):
        audio = np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0)
    return audio, sr


def audio_length_s(path: str | os.PathLike) -> float:
    """Length of an audio file in seconds (raises :class:`AudioError` like :func:`read_audio`)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioError(f"not a readable audio file: {path} ({_first_line(exc)})") from None
    return info.frames / info.samplerate


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample ``(channels, samples)`` from ``sr_in`` to ``sr_out`` Hz with soxr (very high quality)."""
    if sr_in == sr_out:
        return audio.astype(np.float32, copy=False)
    import soxr

    out = soxr.resample(audio.T.astype(np.float32), sr_in, sr_out, quality="VHQ")
    if out.ndim == 1:
        out = out[:, None]
    return np.ascontiguousarray(out.T, dtype=np.float32)


def fit_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Mix down to mono, or copy mono to both sides, or keep the first ``channels`` channels."""
    have = audio.shape[0]
    if have == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    if have == 1:
        return np.repeat(audio, channels, axis=0)
    if have > channels:
        return audio[:channels]
    return np.concatenate([audio, np.repeat(audio[-1:], channels - have, axis=0)], axis=0)


def true_peak(audio: np.ndarray, sr: int) -> float:
    """Estimated true peak (linear) by 4x oversampling, as in ITU-R BS.1770-4 Annex 2."""
    if audio.size == 0:
        return 0.0
    over = resample(audio, sr, sr * 4)
    return float(max(np.max(np.abs(over)), np.max(np.abs(audio))))


def normalize(audio: np.ndarray, sr: int, strategy: str = "loudness") -> np.ndarray:
    """Scale audio by a strategy from :data:`NORMALIZATIONS`.

    - ``loudness``: integrated loudness to -14 LUFS (BS.1770), then lowered if needed so the true
      peak stays under -1 dBTP. Clips shorter than 0.4 s (too short to gate) use RMS instead.
    - ``peak``: sample peak to -1 dBFS. ``rms``: RMS to -20 dBFS, then clipped to [-1, 1].
    - ``clip``: only clipped to [-1, 1]. ``none``: unchanged.
    """
    if strategy not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {strategy!r}; use one of {', '.join(NORMALIZATIONS)}")
    audio = audio.astype(np.float32, copy=True)
    if strategy == "none":
        return audio
    if strategy == "clip":
        return np.clip(audio, -1.0, 1.0)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-9:
        return audio  # silence stays silence
    if strategy == "peak":
        return audio * (_db_to_lin(PEAK_TARGET_DBFS) / peak)
    if strategy == "rms":
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        return np.clip(audio * (_db_to_lin(RMS_TARGET_DBFS) / rms), -1.0, 1.0)
    # loudness
    gain = _loudness_gain(audio, sr)
    audio = audio * gain
    ceiling = _db_to_lin(TRUE_PEAK_CEILING_DBTP)
    tp = true_peak(audio, sr)
    if tp > ceiling:
        audio = audio * (ceiling / tp)
    return audio.astype(np.float32)


def _loudness_gain(audio: np.ndarray, sr: int) -> float:
    if audio.shape[1] >= int(0.4 * sr):
        import pyloudnorm

        loudness = pyloudnorm.Meter(sr).integrated_loudness(audio.T.astype(np.float64))
        if math.isfinite(loudness):
            return _db_to_lin(LOUDNESS_TARGET_LUFS - loudness)
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    # -14 LUFS is roughly -14 dBFS RMS for broadband material.
    return _db_to_lin(LOUDNESS_TARGET_LUFS) / max(rms, 1e-9)


def make_loop(audio: np.ndarray, sr: int, length_samples: int, crossfade_s: float = 0.02) -> np.ndarray:
    """Cut ``audio`` to exactly ``length_samples`` so that it loops without a click.

    The audio past the loop end (at least ``crossfade_s`` of it, when present) is crossfaded into
    the loop's start with an equal-power fade, so the seam continues the way the music did.
    """
    if audio.shape[1] < length_samples:
        pad = length_samples - audio.shape[1]
        audio = np.pad(audio, ((0, 0), (0, pad)))
    fade = min(int(round(crossfade_s * sr)), length_samples // 2, audio.shape[1] - length_samples)
    out = audio[:, :length_samples].copy()
    if fade > 0:
        t = (np.arange(fade, dtype=np.float64) + 0.5) / fade
        fade_in = np.sin(0.5 * np.pi * t).astype(np.float32)
        fade_out = np.cos(0.5 * np.pi * t).astype(np.float32)
        tail = audio[:, length_samples:length_samples + fade]
        out[:, :fade] = out[:, :fade] * fade_in + tail * fade_out
    else:
        # Nothing past the end: a short fade at both ends avoids the click.
        short = min(int(0.002 * sr), length_samples // 2)
        if short > 0:
            ramp = np.linspace(0.0, 1.0, short, dtype=np.float32)
            out[:, :short] *= ramp
            out[:, -short:] *= ramp[::-1]
    return out


def encode_audio(audio: np.ndarray, sr: int, fmt: str = "wav") -> bytes:
    """``(channels, samples)`` float audio as the bytes of a file in ``fmt`` (see :data:`FORMATS`).

    Encoded in memory, so that a full disk shows up as a plain ``OSError`` when the bytes are
    written, not inside libsndfile's write callback (where soundfile hides it).
    """
    import soundfile as sf

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    major, subtype, _ = FORMATS[fmt]
    data = audio.T
    if subtype != "FLOAT":
        data = np.clip(data, -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, data, sr, format=major, subtype=subtype)
    return buf.getvalue()


def write_audio(path: str | os.PathLike, audio: np.ndarray, sr: int, fmt: str = "wav") -> None:
    """Write ``(channels, samples)`` float audio to ``path`` (not atomic; see ``bridge.clips``).

    A failed write (e.g. no space left) raises ``OSError`` and leaves no file."""
    from .fsops import write_bytes_durably

    write_bytes_durably(Path(path), encode_audio(audio, sr, fmt))


def _db_to_lin(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
