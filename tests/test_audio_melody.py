"""Audio processing and melody chroma on real signals."""

from __future__ import annotations

import mido
import numpy as np
import pyloudnorm
import pytest

from bridge.audio import make_loop, normalize, read_audio, resample, fit_channels, true_peak, AudioError
from bridge.clips import slugify, write_clip
from bridge.engine import Conditioning, Sampling
from bridge.melody import CHROMA_FPS, Note, chroma_from_audio, chroma_from_notes, read_midi_notes, MelodyError
from conftest import write_tone


def _tone(freq, sr=32000, seconds=2.0, amp=0.1):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None]


def test_loudness_normalization_hits_target_under_true_peak_ceiling():
    sr = 32000
    rng = np.random.default_rng(0)
    x = (0.05 * rng.standard_normal((2, sr * 3))).astype(np.float32)
    y = normalize(x, sr, "loudness")
    assert pyloudnorm.Meter(sr).integrated_loudness(y.T.astype(np.float64)) == pytest.approx(-14.0, abs=0.3)
    assert true_peak(y, sr) <= 10 ** (-1 / 20) + 1e-4
    spiky = x.copy()
    spiky[:, sr] = 0.9  # a single loud peak: loudness target would push it over the ceiling
    z = normalize(spiky, sr, "loudness")
    assert true_peak(z, sr) <= 10 ** (-1 / 20) + 1e-4


def test_other_normalizations():
    x = _tone(440, amp=0.3)
    assert np.abs(normalize(x, 32000, "peak")).max() == pytest.approx(10 ** (-1 / 20), rel=1e-4)
    rms = np.sqrt(np.mean(normalize(x, 32000, "rms") ** 2))
    assert 20 * np.log10(rms) == pytest.approx(-20.0, abs=0.01)
    assert np.abs(normalize(x * 10, 32000, "clip")).max() <= 1.0
    assert np.array_equal(normalize(x, 32000, "none"), x)
    silence = np.zeros((1, 32000), np.float32)
    assert not np.any(normalize(silence, 32000, "loudness"))


def test_loop_has_exact_length_and_a_continuous_seam():
    sr = 32000
    length = 128000
    x = _tone(110.0, seconds=4.05)  # 4 s loop + 50 ms tail
    loop = make_loop(x, sr, length)
    assert loop.shape == (1, length)
    # the seam: last sample -> first sample behaves like neighbouring samples of the tone
    seam_jump = abs(loop[0, 0] - loop[0, -1])
    typical = np.abs(np.diff(x[0])).max()
    assert seam_jump <= typical * 1.5


def test_resample_and_channels():
    x = _tone(1000, sr=44100, seconds=1.0)
    y = resample(x, 44100, 32000)
    assert y.shape == (1, 32000)
    spectrum = np.abs(np.fft.rfft(y[0]))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)
    assert fit_channels(y, 2).shape == (2, 32000)
    assert fit_channels(np.stack([y[0], -y[0]]), 1).max() == pytest.approx(0.0, abs=1e-6)


def test_read_audio_regions_and_errors(tmp_path):
    p = write_tone(tmp_path / "a.flac", sr=48000, seconds=2.0, channels=2)
    audio, sr = read_audio(p, start_s=0.5, end_s=1.5)
    assert sr == 48000 and audio.shape == (2, 48000)
    with pytest.raises(AudioError, match="past the end"):
        read_audio(p, start_s=0, end_s=3)
    with pytest.raises(AudioError, match="before end"):
        read_audio(p, start_s=1.5, end_s=1.0)
    with pytest.raises(AudioError, match="not a regular file"):
        read_audio("/dev/zero")
    with pytest.raises(AudioError, match="not found"):
        read_audio(tmp_path / "missing.wav")


def test_chroma_from_audio_finds_the_pitch_class():
    for freq, expected in ((440.0, 9), (261.63, 0), (392.0, 7)):
        chroma = chroma_from_audio(_tone(freq, seconds=3.0), 32000)
        assert chroma.shape[1] == 12 and np.all(chroma.sum(axis=1) == 1)
        assert np.bincount(chroma.argmax(axis=1), minlength=12).argmax() == expected
    assert chroma.shape[0] == pytest.approx(3.0 * CHROMA_FPS, abs=2)


def test_chroma_from_notes_timing_rests_and_weights():
    notes = [Note(60, 0.0, 1.0), Note(67, 1.0, 0.5), Note(64, 2.0, 1.0)]
    chroma = chroma_from_notes(notes)
    classes = chroma.argmax(axis=1)
    f = lambda t: int(t * CHROMA_FPS)  # noqa: E731
    assert classes[f(0.5)] == 0 and classes[f(1.2)] == 7 and classes[f(2.5)] == 4
    assert classes[f(1.75)] == 7  # the rest holds the previous class
    loud = chroma_from_notes([Note(60, 0, 1, 20), Note(62, 0, 1, 120)])
    assert loud.argmax(axis=1)[0] == 2  # velocity-weighted


def test_midi_file_reading_with_tempo_and_stuck_notes(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60)))
    tr.append(mido.Message("note_on", note=62, velocity=90, time=0))
    tr.append(mido.Message("note_on", note=62, velocity=0, time=480))  # note-off as velocity 0
    tr.append(mido.Message("note_on", note=69, velocity=90, time=0))  # stuck: no note-off
    tr.append(mido.MetaMessage("end_of_track", time=960))
    mid.save(str(tmp_path / "m.mid"))
    notes = read_midi_notes(tmp_path / "m.mid")
    assert [(n.pitch, round(n.start_s, 3), round(n.length_s, 3)) for n in notes] == [(62, 0.0, 1.0), (69, 1.0, 2.0)]
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(MelodyError):
        read_midi_notes(tmp_path / "bad.mid")


def test_different_melodies_change_the_output(melody_engine):
    a_audio = chroma_from_audio(_tone(261.63, seconds=2.0), 32000)
    b_audio = chroma_from_audio(_tone(369.99, seconds=2.0), 32000)
    a_notes = chroma_from_notes([Note(60, 0, 0.5), Note(62, 0.5, 0.5)])
    b_notes = chroma_from_notes([Note(66, 0, 0.5), Note(68, 0.5, 0.5)])
    out = {}
    for key, chroma in (("a_audio", a_audio), ("b_audio", b_audio), ("a_notes", a_notes), ("b_notes", b_notes)):
        out[key] = melody_engine.generate(Conditioning(prompt="piano", chroma=chroma), 1.0, Sampling(), seed=3).audio
    assert not np.array_equal(out["a_audio"], out["b_audio"])
    assert not np.array_equal(out["a_notes"], out["b_notes"])


def test_slugs_and_never_overwrite(tmp_path):
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("CON") == "clip-con"
    assert slugify("") == "musicgen" and slugify("日本語") == "musicgen"
    assert len(slugify("x" * 500)) <= 48
    audio = np.zeros((1, 3200), np.float32)
    a = write_clip(tmp_path, "clip", audio, 32000, "wav", {"n": 1})
    b = write_clip(tmp_path, "clip", audio, 32000, "wav", {"n": 2})
    assert a.name == "clip.wav" and b.name == "clip-2.wav"
    # the same owner re-running after a crash reuses its own file
    c = write_clip(tmp_path, "take", audio, 32000, "wav", {}, owner=("job@1", 1))
    d = write_clip(tmp_path, "take", audio, 32000, "wav", {}, owner=("job@1", 1))
    e = write_clip(tmp_path, "take", audio, 32000, "wav", {}, owner=("job@2", 1))
    assert c == d and e.name == "take-2.wav"
    assert not list(tmp_path.glob(".*"))
