"""`musicgen-bridge generate` end to end: real files in, real clips out, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from conftest import run_cli, write_tone


def _clips(out: Path):
    return sorted(p for p in out.iterdir() if not p.name.endswith(".json"))


def test_text_generation_writes_clip_and_sidecar(tiny_model, tmp_path):
    out = tmp_path / "out"
    r = run_cli("generate", "dusty boom bap drums", "--model", tiny_model, "--duration", 2, "--seed", 7,
                "--out", out)
    assert r.returncode == 0, r.stderr
    paths = [Path(line) for line in r.stdout.split()]
    assert len(paths) == 1 and paths[0].exists()
    assert paths[0].name.startswith("dusty-boom-bap-drums_") and "_s7" in paths[0].name
    info = sf.info(str(paths[0]))
    assert info.samplerate == 32000 and info.frames == 64000 and info.subtype == "PCM_16"
    meta = json.loads(Path(str(paths[0]) + ".json").read_text())
    assert meta["seed"] == 7 and meta["prompt"] == "dusty boom bap drums"
    assert meta["model"] == str(tiny_model) and meta["sr"] == 32000
    assert meta["parameters"]["top_k"] == 250 and meta["parameters"]["cfg"] == 3.0
    assert "transformers" in meta["versions"] and meta["timings"]["generate_s"] > 0
    assert "generating" in r.stderr  # the progress bar
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]


def test_same_seed_same_samples_and_no_overwrite(tiny_model, tmp_path):
    out = tmp_path / "out"
    args = ("generate", "lofi piano", "--model", tiny_model, "--duration", 1, "--seed", 3, "--out", out,
            "--normalize", "none", "--format", "wavf")
    a, b = run_cli(*args), run_cli(*args)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    pa, pb = Path(a.stdout.split()[-1]), Path(b.stdout.split()[-1])
    assert pa != pb and pa.exists() and pb.exists()  # never overwritten
    assert np.array_equal(sf.read(str(pa))[0], sf.read(str(pb))[0])


def test_without_seed_one_is_drawn_and_recorded(tiny_model, tmp_path):
    r = run_cli("generate", "pad", "--model", tiny_model, "--duration", 0.5, "--out", tmp_path, "-q")
    assert r.returncode == 0, r.stderr
    meta = json.loads(Path(r.stdout.split()[-1] + ".json").read_text())
    assert isinstance(meta["seed"], int) and meta["seed"] >= 0


def test_bpm_bars_loop_and_variations(tiny_model, tmp_path):
    r = run_cli("generate", "house groove", "--model", tiny_model, "--bpm", 120, "--bars", 2, "--loop",
                "--variations", 3, "--seed", 1, "--out", tmp_path, "--format", "wav24")
    assert r.returncode == 0, r.stderr
    paths = [Path(p) for p in r.stdout.split()]
    assert len(paths) == 3 and all("_v" in p.name for p in paths)
    datas = [sf.read(str(p))[0] for p in paths]
    for p, d in zip(paths, datas):
        assert sf.info(str(p)).frames == 128000  # 120 bpm, 2 bars of 4/4 = 4.000 s at 32 kHz
        assert sf.info(str(p)).subtype == "PCM_24"
    assert not np.array_equal(datas[0], datas[1])


@pytest.mark.parametrize("fmt,ext,major", [("flac", "flac", "FLAC"), ("mp3", "mp3", "MP3"), ("wav", "wav", "WAV")])
def test_formats(tiny_model, tmp_path, fmt, ext, major):
    r = run_cli("generate", "synth", "--model", tiny_model, "--duration", 1, "--format", fmt, "--out", tmp_path, "-q")
    assert r.returncode == 0, r.stderr
    p = Path(r.stdout.split()[-1])
    assert p.suffix == "." + ext and sf.info(str(p)).format == major


def test_continuation_holds_only_new_audio_unless_keep_prompt(tiny_model, tmp_path):
    src = write_tone(tmp_path / "take.wav", sr=44100, seconds=4.0, channels=2)
    r = run_cli("generate", "--model", tiny_model, "--continue", src, "--start", 1, "--end", 3,
                "--duration", 1.5, "--seed", 2, "--out", tmp_path / "o", "-q")
    assert r.returncode == 0, r.stderr
    p = Path(r.stdout.split()[-1])
    assert sf.info(str(p)).frames == 48000 and sf.info(str(p)).channels == 1
    meta = json.loads(Path(str(p) + ".json").read_text())
    assert meta["source"]["start_s"] == 1.0 and meta["source"]["end_s"] == 3.0
    r2 = run_cli("generate", "--model", tiny_model, "--continue", src, "--start", 1, "--end", 3,
                 "--duration", 1.5, "--seed", 2, "--keep-prompt", "--out", tmp_path / "o", "-q")
    assert r2.returncode == 0, r2.stderr
    assert sf.info(r2.stdout.split()[-1]).frames == 64000 + 48000


def test_melody_from_audio_and_from_midi(tiny_melody_model, tmp_path):
    tone = write_tone(tmp_path / "melody.flac", sr=22050, seconds=2.0, channels=1, freq=330.0)
    mid = mido.MidiFile()
    track = mido.MidiTrack()
    mid.tracks.append(track)
    for pitch in (60, 62, 64, 65):
        track.append(mido.Message("note_on", note=pitch, velocity=100, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    mid.save(str(tmp_path / "melody.mid"))
    outs = {}
    for src in (tone, tmp_path / "melody.mid"):
        r = run_cli("generate", "jazz piano", "--model", tiny_melody_model, "--melody", src, "--duration", 1,
                    "--seed", 4, "--out", tmp_path / "o", "--normalize", "none", "-q")
        assert r.returncode == 0, r.stderr
        outs[src.suffix] = sf.read(r.stdout.split()[-1])[0]
    assert not np.array_equal(outs[".flac"], outs[".mid"])


BAD = [
    (["--duration", "0"], "duration"),
    (["--duration", "-1"], "duration"),
    (["--duration", "1e9"], "duration"),
    (["--duration", "nan"], "duration"),
    (["--format", "ogg"], "format"),
    (["--normalize", "loud"], "normalize"),
    (["--bars", "2"], "bpm"),
    (["--model", "no-such-model"], "unknown model"),
    (["--continue", "MISSING"], "not found"),
    (["--continue", "/etc/passwd"], "not a readable audio file"),
    (["--continue", "TONE", "--start", "2", "--end", "1"], "before end"),
    (["--continue", "TONE", "--start", "1", "--end", "99"], "past the end"),
    (["--continue", "CORRUPT"], "audio file"),
    (["--melody", "TONE"], "takes no melody"),
    (["--start", "1"], "--continue"),
]


@pytest.mark.parametrize("extra,needle", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input_one_line_error_nothing_written(tiny_model, tmp_path, extra, needle):
    tone = write_tone(tmp_path / "tone.wav", seconds=3.0)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40)
    subst = {"TONE": str(tone), "CORRUPT": str(corrupt), "MISSING": str(tmp_path / "missing.wav")}
    extra = [subst.get(a, a) for a in extra]
    if "--model" not in extra:
        extra += ["--model", str(tiny_model)]
    out = tmp_path / "out"
    r = run_cli("generate", "a prompt", *extra, "--out", out, "-q")
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("musicgen-bridge: error:") and needle in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_out_dir_that_cannot_be_created(tiny_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run_cli("generate", "x", "--model", tiny_model, "--duration", 0.5, "--out", blocker / "sub", "-q")
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and "cannot create output folder" in r.stderr


def test_make_test_model_cli(tmp_path):
    r = run_cli("make-test-model", tmp_path / "m", "--stereo")
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["decoder"]["audio_channels"] == 2
    for name in ("model.safetensors", "tokenizer.json", "preprocessor_config.json", "generation_config.json"):
        assert (tmp_path / "m" / name).exists()
    size = sum(p.stat().st_size for p in (tmp_path / "m").iterdir())
    assert size < 10_000_000
