"""Switching models over OSC: /musicgen/models, /musicgen/load, jobs naming their model, kill -9."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.daemon_helpers import DaemonProc, OscClient, free_udp_port
from tests.finetune_helpers import make_audiocraft_checkpoint


@pytest.fixture(scope="module")
def models_folder(tiny_model, tiny_melody_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models folder") / "My Models"
    folder.mkdir()
    shutil.copytree(tiny_melody_model, folder / "tiny-melody")
    make_audiocraft_checkpoint(tiny_model, folder / "my-ft")
    broken = folder / "broken"
    broken.mkdir()
    data = (folder / "my-ft" / "state_dict.bin").read_bytes()
    (broken / "state_dict.bin").write_bytes(data[: len(data) // 3])
    return folder


def _daemon(tiny_model, tmp_path, models_folder, port=None):
    env = {"MUSICGEN_BRIDGE_CACHE_DIR": str(tmp_path / "cache")}
    return DaemonProc(tiny_model, tmp_path / "state", tmp_path / "out", "--models-dir", models_folder,
                      "--switch-models", port=port, env=env)


def _model_of(done_args) -> str:
    return json.loads(Path(done_args[1] + ".json").read_text())["model"]


def _status(c) -> dict:
    c.received.clear()
    c.send("/musicgen/status", "reply_port", c.port)
    args = c.wait_for("/musicgen/status", timeout=10)
    return dict(zip(args[::2], args[1::2]))


def test_models_list_and_switching(tiny_model, tmp_path, models_folder):
    d = _daemon(tiny_model, tmp_path, models_folder).start()
    c = OscClient(d.port)
    try:
        c.send("/musicgen/models", "reply_port", c.port)
        reply = c.wait_for("/musicgen/models", timeout=20)
        count, rows = reply[0], reply[1:]
        entries = {rows[i]: rows[i + 1:i + 5] for i in range(0, 5 * count, 5)}
        assert {"small", "melody", "tiny-melody", "my-ft", "broken"} <= set(entries)
        assert entries["tiny-melody"][0] == 1 and entries["my-ft"][0] == 0 and entries["melody"][0] == 1
        assert entries["tiny-melody"][2] > 0  # size in MB
        assert [name for name, row in entries.items() if row[3] == 1] == [str(tiny_model)]

        # jobs queued while models switch: each runs on the model it asked for, in order, none lost
        asked = [("j1", None), ("j2", "tiny-melody"), ("j3", None), ("j4", "my-ft"), ("j5", "tiny-melody")]
        for job_id, model in asked:
            extra = ["model", model] if model else []
            c.send("/musicgen/generate", job_id, "dusty drums", "duration", 0.5, "seed", 3, *extra, "reply_port", c.port)
        dones = [c.wait_for("/musicgen/done", job_id, timeout=120) for job_id, _ in asked]
        assert [_model_of(a) for a in dones] == [m or str(tiny_model) for _, m in asked]
        order = [args[0] for addr, args in c.received if addr == "/musicgen/done"]
        assert order == [j for j, _ in asked]
        assert c.wait_for("/musicgen/loading", pred=lambda a: a[0] == "my-ft" and a[1] == 1.0, timeout=5)
        # the fine-tune (same weights as the tiny model) gives j1's audio for j1's seed and prompt
        import soundfile as sf

        assert (sf.read(dones[0][1])[0] == sf.read(dones[3][1])[0]).all()

        # a bad name is refused at once; a model that fails to load leaves the old one serving
        c.send("/musicgen/load", "no-such-model", "reply_port", c.port)
        err = c.wait_for("/musicgen/error", timeout=10)
        assert err[1] == "unknown_model" and "no-such-model" in err[2]
        c.send("/musicgen/load", "broken", "reply_port", c.port)
        err = c.wait_for("/musicgen/error", pred=lambda a: "broken" in a[2] and "truncated" in a[2], timeout=60)
        assert "\n" not in err[2]
        assert _status(c)["model"] == "tiny-melody"
        c.send("/musicgen/generate", "j6", "after the failed load", "duration", 0.5, "reply_port", c.port)
        assert _model_of(c.wait_for("/musicgen/done", "j6", timeout=60)) == "tiny-melody"

        # an explicit load: progress, then loaded; later jobs naming no model run on it
        c.send("/musicgen/load", "my-ft", "reply_port", c.port)
        c.wait_for("/musicgen/loaded", pred=lambda a: a[0] == "my-ft", timeout=60)
        fractions = [a[1] for a in c.messages("/musicgen/loading") if a[0] == "my-ft"]
        assert fractions[-1] == 1.0
        assert _status(c)["model"] == "my-ft"
        c.send("/musicgen/generate", "j7", "on the fine-tune", "duration", 0.5, "reply_port", c.port)
        assert _model_of(c.wait_for("/musicgen/done", "j7", timeout=60)) == "my-ft"
        assert d.alive()
    finally:
        c.close()
        d.stop()


def test_kill_9_during_a_switch_recovers(tiny_model, tmp_path, models_folder):
    port = free_udp_port()
    d = _daemon(tiny_model, tmp_path, models_folder, port=port).start()
    c = OscClient(port)
    try:
        c.send("/musicgen/generate", "k1", "needs melody model", "model", "tiny-melody", "duration", 0.5,
               "seed", 1, "reply_port", c.port)
        c.send("/musicgen/generate", "k2", "then the first again", "duration", 0.5, "seed", 2, "reply_port", c.port)
        c.wait_for("/musicgen/loading", pred=lambda a: a[0] == "tiny-melody", timeout=30)
        # only an accepted job is journaled (docs/protocol.md): under load the daemon can still
        # be reading k2 while it loads the other model, and a kill then rightly loses it
        c.wait_for("/musicgen/accepted", "k2", timeout=30)
        d.kill9()
        d2 = _daemon(tiny_model, tmp_path, models_folder, port=port).start()
        try:
            k1 = c.wait_for("/musicgen/done", "k1", timeout=120)
            k2 = c.wait_for("/musicgen/done", "k2", timeout=120)
            assert _model_of(k1) == "tiny-melody" and _model_of(k2) == str(tiny_model)
            c.drain(0.5)
            assert len(c.messages("/musicgen/done", "k1")) == 1
        finally:
            d2.stop()
    finally:
        c.close()
        if d.alive():
            d.kill9()
