"""Melody conditioning for MusicGen-Melody: one-hot chroma from audio and from MIDI notes.

MusicGen-Melody takes a chroma sequence of shape ``(frames, 12)`` at ``sr / hop_length`` frames
per second (32000 / 4096 = 7.8125 fps), one-hot: the dominant pitch class per frame, C first.
transformers' feature extractor for it needs torchaudio, which has no build for current torch,
so the same computation is done here with ``torch.stft``. From MIDI notes the chroma is made
directly (no audio rendering): the pitch class sounding longest (velocity-weighted) in a frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHROMA_SR = 32000
CHROMA_N_FFT = 16384
CHROMA_HOP = 4096
NUM_CHROMA = 12
CHROMA_FPS = CHROMA_SR / CHROMA_HOP  # frames per second


class MelodyError(ValueError):
    """A melody source that cannot be used; the message is one line, fit for a user."""


@dataclass(frozen=True)
class Note:
    """A note in seconds: ``pitch`` (MIDI 0-127), ``start_s``, ``length_s``, ``velocity`` (1-127)."""

    pitch: int
    start_s: float
    length_s: float
    velocity: int = 100


def notes_from_beats(notes_beats, bpm: float) -> list[Note]:
    """Turn ``(pitch, start_beats, length_beats, velocity)`` tuples into :class:`Note` in seconds."""
    if not bpm or bpm <= 0:
        raise MelodyError("a tempo (bpm > 0) is needed to place notes given in beats")
    sec_per_beat = 60.0 / bpm
    out = []
    for item in notes_beats:
        pitch, start_b, length_b, vel = item
        out.append(Note(int(pitch), float(start_b) * sec_per_beat, float(length_b) * sec_per_beat, int(vel)))
    return validate_notes(out)


def validate_notes(notes: list[Note]) -> list[Note]:
    """Check pitches, times and velocities; drop zero-length and zero-velocity notes."""
    good = []
    for n in notes:
        if not 0 <= n.pitch <= 127:
            raise MelodyError(f"note pitch {n.pitch} outside 0-127")
        if not (np.isfinite(n.start_s) and np.isfinite(n.length_s)) or n.start_s < 0:
            raise MelodyError(f"note at {n.start_s} s has a bad start or length")
        if n.start_s > 600:
            raise MelodyError(f"note at {n.start_s:.0f} s starts beyond 10 minutes")
        if n.length_s <= 0 or n.velocity <= 0:
            continue
        good.append(n)
    if not good:
        raise MelodyError("the melody holds no notes")
    return good


def read_midi_notes(path: str | os.PathLike) -> list[Note]:
    """Read all notes of a Standard MIDI File (all tracks, tempo map applied) in seconds."""
    import mido

    p = Path(path)
    if not p.is_file():
        raise MelodyError(f"MIDI file not found: {p}")
    try:
        mid = mido.MidiFile(str(p))
        now_s = 0.0
        open_notes: dict[tuple[int, int], list[tuple[float, int]]] = {}
        notes: list[Note] = []
        for msg in mid:  # merged tracks, msg.time in seconds
            now_s += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault((msg.channel, msg.note), []).append((now_s, msg.velocity))
            elif msg.type in ("note_off", "note_on"):
                stack = open_notes.get((msg.channel, msg.note))
                if stack:
                    start_s, vel = stack.pop(0)
                    notes.append(Note(msg.note, start_s, now_s - start_s, vel))
        for (_, pitch), stack in open_notes.items():  # stuck notes end with the file
            for start_s, vel in stack:
                notes.append(Note(pitch, start_s, max(now_s - start_s, 1e-3), vel))
    except MelodyError:
        raise
    except Exception as exc:
        raise MelodyError(f"not a readable MIDI file: {p} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    notes.sort(key=lambda n: (n.start_s, n.pitch))
    return validate_notes(notes)


def chroma_from_notes(notes: list[Note], length_s: float | None = None) -> np.ndarray:
    """One-hot chroma ``(frames, 12)`` from notes.

    Each frame takes the pitch class with the largest velocity-weighted overlap; frames where
    nothing sounds hold the previous frame's class (the first note's class before it), so rests
    do not read as a run of C.
    """
    notes = validate_notes(list(notes))
    end_s = max(n.start_s + n.length_s for n in notes)
    length_s = end_s if length_s is None else length_s
    frames = max(1, int(np.ceil(length_s * CHROMA_FPS)))
    weight = np.zeros((frames, NUM_CHROMA), dtype=np.float64)
    frame_s = 1.0 / CHROMA_FPS
    for n in notes:
        first = int(n.start_s // frame_s)
        last = int((n.start_s + n.length_s) // frame_s)
        for f in range(max(first, 0), min(last, frames - 1) + 1):
            lo = max(n.start_s, f * frame_s)
            hi = min(n.start_s + n.length_s, (f + 1) * frame_s)
            if hi > lo:
                weight[f, n.pitch % 12] += (hi - lo) * n.velocity
    chroma = np.zeros((frames, NUM_CHROMA), dtype=np.float32)
    first_class = min(notes, key=lambda n: n.start_s).pitch % 12
    prev = first_class
    for f in range(frames):
        if weight[f].max() > 0:
            prev = int(weight[f].argmax())
        chroma[f, prev] = 1.0
    return chroma


_FILTERS = None


def chroma_from_audio(audio: np.ndarray, sr: int) -> np.ndarray:
    """One-hot chroma ``(frames, 12)`` from ``(channels, samples)`` audio at ``sr`` Hz.

    Mono mix, resampled to 32 kHz, power STFT (n_fft 16384, hop 4096, Hann, centered), mapped to
    12 pitch classes by the librosa-style chroma filter bank, argmax per frame.
    """
    import torch

    from .audio import resample

    global _FILTERS
    mono = audio.mean(axis=0, keepdims=True)
    mono = resample(mono, sr, CHROMA_SR)[0]
    if mono.shape[0] < CHROMA_N_FFT:
        mono = np.pad(mono, (0, CHROMA_N_FFT - mono.shape[0]))
    if _FILTERS is None:
        from transformers.audio_utils import chroma_filter_bank

        _FILTERS = torch.from_numpy(chroma_filter_bank(
            num_frequency_bins=CHROMA_N_FFT, num_chroma=NUM_CHROMA, sampling_rate=CHROMA_SR, tuning=0,
        )).float()
    wav = torch.from_numpy(np.ascontiguousarray(mono))
    window = torch.hann_window(CHROMA_N_FFT)
    spec = torch.stft(wav, n_fft=CHROMA_N_FFT, hop_length=CHROMA_HOP, win_length=CHROMA_N_FFT,
                      window=window, center=True, pad_mode="reflect" if wav.shape[0] > CHROMA_N_FFT // 2 else "constant",
                      return_complex=True)
    power = spec.abs() ** 2  # (freq, frames)
    raw = _FILTERS @ power  # (12, frames)
    idx = raw.argmax(dim=0)
    chroma = torch.zeros(raw.shape[1], NUM_CHROMA)
    chroma[torch.arange(raw.shape[1]), idx] = 1.0
    return chroma.numpy()


def chroma_from_file(path: str | os.PathLike) -> np.ndarray:
    """Chroma from a ``.mid``/``.midi`` file (notes) or any audio file soundfile reads."""
    p = Path(path)
    if p.suffix.lower() in (".mid", ".midi", ".smf"):
        return chroma_from_notes(read_midi_notes(p))
    from .audio import AudioError, read_audio

    try:
        audio, sr = read_audio(p)
    except AudioError as exc:
        raise MelodyError(str(exc)) from None
    return chroma_from_audio(audio, sr)
