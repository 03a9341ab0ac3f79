"""Stems: separation with a tiny random-weight HTDemucs built locally (never downloaded), files and
sidecars written by render, the `/musicgen/stems` + `/musicgen/done` replies, REAPER result files,
cancellation during separation, and the one-line error when the optional extra is missing."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bridge.engine import Cancelled
from bridge.render import STEMS_GENERATION_SHARE, render
from bridge.request import RequestError, parse_request
from bridge.stems import (MISSING_EXTRA, STEM_MODELS, StemSeparator, check_stem_model, demucs_available,
                          make_test_stem_model, make_tiny_htdemucs)

# These tests need the [stems] extra (scripts/setup.sh --test installs it); without it they fail
# with MISSING_EXTRA rather than being skipped. Only the missing-extra tests simulate its absence.

FOUR = STEM_MODELS["htdemucs"]
SIX = STEM_MODELS["htdemucs_6s"]


@pytest.fixture(scope="module")
def stems_dir(tmp_path_factory) -> Path:
    return make_test_stem_model(tmp_path_factory.mktemp("stems") / "tiny4")


@pytest.fixture(scope="module")
def separator(stems_dir) -> StemSeparator:
    return StemSeparator(str(stems_dir), device="cpu")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def _no_demucs(monkeypatch):
    """Make `import demucs...` fail as it does when the extra is not installed."""
    for name in [n for n in sys.modules if n == "demucs" or n.startswith("demucs.")] + ["demucs"]:
        monkeypatch.setitem(sys.modules, name, None)


# --- the separator ----------------------------------------------------------------------------


def test_separator_keeps_length_rate_and_channels(separator):
    rng = np.random.default_rng(0)
    for channels, sr, n in ((1, 32000, 80001), (2, 48000, 30000)):
        audio = (0.1 * rng.standard_normal((channels, n))).astype(np.float32)
        fractions: list[float] = []
        stems = separator.separate(audio, sr, hook=fractions.append)
        assert tuple(stems) == FOUR
        for s in stems.values():
            assert s.shape == (channels, n) and s.dtype == np.float32 and np.isfinite(s).all()
        assert not np.array_equal(stems["drums"], stems["bass"])
        assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
        assert len(set(fractions)) >= (3 if n > sr * 2 else 2)  # a step per chunk (segment: 2 s)
    model = separator.model
    assert separator.loaded and separator.model is model  # loaded once, kept
    again = separator.separate(audio, 48000)  # shifts=0: deterministic
    assert all(np.array_equal(again[k], stems[k]) for k in FOUR)


def test_separator_from_model_and_hook_cancels():
    sep = StemSeparator.from_model(make_tiny_htdemucs(SIX), name="tiny6")
    assert sep.sources == SIX
    calls = []

    def hook(f):
        calls.append(f)
        if f > 0:
            raise Cancelled()

    with pytest.raises(Cancelled):
        sep.separate(np.zeros((1, 32000 * 5), np.float32), 32000, hook=hook)
    assert calls[-1] > 0 and calls[-1] < 1


def test_stem_model_specs(stems_dir, tmp_path):
    assert check_stem_model(None) == "htdemucs"
    assert check_stem_model("htdemucs_6s") == "htdemucs_6s"
    assert check_stem_model(str(stems_dir)) == str(stems_dir)
    with pytest.raises(ValueError, match="unknown stem model"):
        check_stem_model("htdemucs_xl")
    with pytest.raises(ValueError, match="exactly one"):
        check_stem_model(str(tmp_path))
    from bridge.config import ConfigError, build_serve_config

    assert build_serve_config({}, {"stems_model": "htdemucs_ft"}).stems_model == "htdemucs_ft"
    with pytest.raises(ConfigError, match="unknown stem model"):
        build_serve_config({"stems_model": "nope"})


def test_request_key_and_preset():
    assert parse_request({"prompt": "x", "stems": 1}, req_id="a").stems is True
    assert parse_request({"prompt": "x", "stems": "false"}, req_id="a").stems is False
    assert parse_request({"prompt": "x", "preset": "split"}, req_id="a",
                         presets={"split": {"stems": True}}).stems is True
    with pytest.raises(RequestError):
        parse_request({"prompt": "x", "stems": 2}, req_id="a")


# --- render -------------------------------------------------------------------------------------


def test_render_writes_mix_and_one_file_per_stem(engine, separator, tmp_path):
    req = parse_request({"prompt": "dusty boom bap", "duration": 0.5, "seed": 5, "stems": 1,
                         "variations": 2}, req_id="st1")
    fractions: list[float] = []
    res = render(engine, req, tmp_path, hook=fractions.append, separator=separator, owner="st1@1", when=1.7e9)
    assert len(res.paths) == 2 and len(res.stems) == 2
    for mix, stems in zip(res.paths, res.stems):
        assert tuple(stems) == FOUR
        mix_info = sf.info(str(mix))
        meta = json.loads(Path(str(mix) + ".json").read_text())
        assert meta["stems"] == {name: p.name for name, p in stems.items()}
        assert meta["separation"]["model"] == str(separator.model_name) and meta["separation"]["sr"] == 44100
        for name, p in stems.items():
            assert p.parent == mix.parent and p.name == f"{mix.stem}.{name}.wav"
            info = sf.info(str(p))
            assert (info.samplerate, info.frames, info.channels) == (32000, 16000, 1) == \
                (mix_info.samplerate, mix_info.frames, mix_info.channels)
            side = json.loads(Path(str(p) + ".json").read_text())
            assert side["stem"] == name and side["mix"] == mix.name and side["seed"] == 5
    assert len(_files(tmp_path)) == 2 * (1 + 4) * 2  # clips + sidecars, nothing else
    assert res.timings["separate_s"] > 0
    gen = [f for f in fractions if f <= STEMS_GENERATION_SHARE]
    sep = [f for f in fractions if f > STEMS_GENERATION_SHARE]
    assert gen and sep and fractions[-1] == 1.0 and fractions == sorted(fractions)

    # re-run of the same job (a crash after writing): the same files are reused, none added
    again = render(engine, req, tmp_path, separator=separator, owner="st1@1", when=1.7e9)
    assert again.paths == res.paths and again.stems == res.stems
    assert len(_files(tmp_path)) == 2 * (1 + 4) * 2


def test_stem_name_collision_is_listed_in_the_sidecar(engine, separator, tmp_path):
    from bridge.clips import clip_basename

    req = parse_request({"prompt": "clash", "duration": 0.5, "seed": 2, "stems": 1}, req_id="st2")
    squatter = tmp_path / (clip_basename("clash", 2, None, 1.7e9) + ".bass.wav")  # someone else's file
    squatter.write_bytes(b"not ours")
    res = render(engine, req, tmp_path, separator=separator, when=1.7e9)
    bass = res.stems[0]["bass"]
    assert bass.name.endswith(".bass-2.wav") and squatter.read_bytes() == b"not ours"
    meta = json.loads(Path(str(res.paths[0]) + ".json").read_text())
    assert meta["stems"]["bass"] == bass.name


def test_cancel_during_separation_leaves_no_files(engine, separator, tmp_path):
    req = parse_request({"prompt": "cancel me", "duration": 0.5, "seed": 1, "stems": 1, "variations": 2},
                        req_id="st3")
    seen: list[float] = []

    def hook(f):
        seen.append(f)
        if f > STEMS_GENERATION_SHARE + 0.15:  # inside the second variation's separation
            raise Cancelled()

    with pytest.raises(Cancelled):
        render(engine, req, tmp_path, hook=hook, separator=separator)
    assert any(STEMS_GENERATION_SHARE < f < 1.0 for f in seen)
    assert _files(tmp_path) == []  # the first variation's mix and stems were removed too


def test_missing_extra_is_one_clear_error(engine, tmp_path, monkeypatch, capsys):
    _no_demucs(monkeypatch)
    assert not demucs_available()
    req = parse_request({"prompt": "x", "duration": 0.5, "stems": 1}, req_id="st4")
    with pytest.raises(RequestError) as err:
        render(engine, req, tmp_path, separator=StemSeparator())
    assert err.value.code == "stems_unavailable" and err.value.message == MISSING_EXTRA
    assert _files(tmp_path) == []

    from bridge.cli import main

    assert main(["generate", "x", "--stems", "--out", str(tmp_path), "--model", "/nonexistent"]) != 0
    line = capsys.readouterr().err.strip()
    assert line == f"musicgen-bridge: error: {MISSING_EXTRA}"


# --- command line -------------------------------------------------------------------------------


def test_cli_generate_stems(tiny_model, stems_dir, tmp_path, capsys):
    from bridge.cli import main

    out = tmp_path / "out"
    rc = main(["generate", "lofi keys", "--model", str(tiny_model), "--decoder", "transformers", "--duration", "0.5",
               "--seed", "3", "--stems", "--stems-model", str(stems_dir), "--out", str(out), "-q"])
    printed = [Path(p) for p in capsys.readouterr().out.split()]
    assert rc == 0
    assert len(printed) == 5 and all(p.exists() for p in printed)
    assert [p.name.split(".")[-2] for p in printed[1:]] == list(FOUR)
    assert main(["generate", "x", "--stems-model", "htdemucs", "--out", str(out)]) != 0


# --- daemon: OSC replies and REAPER result files -----------------------------------------------------


@pytest.fixture
def live_daemon(engine, stems_dir, tmp_path):
    from bridge.config import build_serve_config
    from bridge.daemon import Daemon
    from daemon_helpers import OscClient, free_udp_port

    cfg = build_serve_config({"state_dir": tmp_path / "state", "output_dir": tmp_path / "out",
                              "osc_port": free_udp_port(), "stems_model": str(stems_dir)})
    d = Daemon(cfg, engine)
    d.start()
    client = OscClient(cfg.osc_port)
    try:
        yield d, client
    finally:
        client.close()
        d.stop()


def test_daemon_sends_stems_before_done_and_writes_reaper_result(live_daemon, tmp_path):
    d, client = live_daemon
    out = tmp_path / "Song" / "MusicGen"
    client.send("/musicgen/generate", "osc1", "house groove", "duration", 0.5, "seed", 4, "stems", 1,
                "daw", "reaper", "out_dir", str(out), "position", 2.0)
    done = client.wait_for("/musicgen/done", "osc1", timeout=120)
    order = [a for a, args in client.received if args and args[0] == "osc1" and a in ("/musicgen/stems", "/musicgen/done")]
    assert order == ["/musicgen/stems", "/musicgen/done"]
    stems = client.messages("/musicgen/stems", "osc1")[0]
    assert stems[1] == 1 and stems[2] == done[1] and len(done) == 2  # done: the mix paths only
    pairs = dict(zip(stems[3::2], stems[4::2]))
    assert tuple(pairs) == FOUR
    for name, p in pairs.items():
        assert p.endswith(f".{name}.wav") and sf.info(p).frames == 16000
    result_file = out / "results" / "osc1.json"
    end = time.monotonic() + 10
    while not result_file.exists() and time.monotonic() < end:  # written right after done
        time.sleep(0.05)
    result = json.loads(result_file.read_text())
    assert result["status"] == "done" and result["paths"] == [done[1]]
    assert result["stems"] == [pairs]
    progress = [args[1] for args in client.messages("/musicgen/progress", "osc1")]
    assert progress[-1] == pytest.approx(1.0) and progress == sorted(progress)
    client.send("/musicgen/status")
    status = client.wait_for("/musicgen/status", timeout=10)
    assert dict(zip(status[::2], status[1::2]))["stems"] == d.separator.model_name


def test_daemon_refuses_stems_without_the_extra(live_daemon, monkeypatch):
    d, client = live_daemon
    _no_demucs(monkeypatch)
    client.send("/musicgen/generate", "osc2", "x", "duration", 0.5, "stems", 1)
    err = client.wait_for("/musicgen/error", "osc2", timeout=10)
    assert err[1:] == ["stems_unavailable", MISSING_EXTRA]
    client.send("/musicgen/generate", "osc3", "x", "duration", 0.2)  # everything else still works
    client.wait_for("/musicgen/done", "osc3", timeout=60)


def test_daemon_cancel_during_separation(engine, tmp_path):
    """A slow separator: the job is cancelled while it separates; no files, `cancelled` sent."""
    from bridge.config import build_serve_config
    from bridge.daemon import Daemon
    from daemon_helpers import OscClient, free_udp_port

    class SlowSeparator(StemSeparator):
        def separate(self, audio, sr, hook=None):
            for i in range(200):
                hook(i / 200)
                time.sleep(0.05)
            raise AssertionError("not cancelled")

    cfg = build_serve_config({"state_dir": tmp_path / "state", "output_dir": tmp_path / "out",
                              "osc_port": free_udp_port()})
    d = Daemon(cfg, engine, separator=SlowSeparator("htdemucs"))
    d.start()
    client = OscClient(cfg.osc_port)
    try:
        client.send("/musicgen/generate", "slow", "x", "duration", 0.3, "stems", 1)
        client.wait_for("/musicgen/progress", "slow", timeout=60, pred=lambda a: a[1] > STEMS_GENERATION_SHARE)
        client.send("/musicgen/cancel", "slow")
        client.wait_for("/musicgen/cancelled", "slow", timeout=30)
        assert client.messages("/musicgen/done", "slow") == []
        assert _files(tmp_path / "out") == []
    finally:
        client.close()
        d.stop()
