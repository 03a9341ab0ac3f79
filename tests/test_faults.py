"""Faults a hostile or unlucky user meets (issue 15): each test failed on the code before the fix.

A daemon subprocess with the tiny model over real UDP, plus an in-process daemon where a moment
inside a job must be hit exactly (a cancel right after the last step, right after done).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf

from bridge import fsops
from bridge.clips import write_clip
from bridge.config import trust_defaults
from bridge.osc import build_message
from daemon_helpers import DaemonProc, OscClient, start_inproc_daemon


@pytest.fixture(scope="module")
def daemon(tiny_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("faults")
    allowed = base / "allowed"
    (base / "config.toml").write_text(f'roots = ["{allowed}"]\n')
    d = DaemonProc(tiny_model, base / "state", allowed / "out", "--config", base / "config.toml").start()
    d.base, d.allowed, d.inbox = base, allowed, base / "state" / "inbox"
    yield d
    assert d.stop() == 0, d.log()[-3000:]


@pytest.fixture
def client(daemon):
    c = OscClient(daemon.port)
    yield c
    c.close()


def _wait_file(path: Path, timeout_s: float = 60.0) -> Path:
    end = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.1)
    return path


def _drop(inbox: Path, name: str, data: dict) -> None:
    tmp = inbox / f"{name}.tmp"
    tmp.write_text(json.dumps(data))
    tmp.rename(inbox / name)


# --- 1. a refused request writes nothing where it was refused ---------------------------------

def test_refused_inbox_request_leaves_nothing_in_its_out_dir(daemon):
    outside = daemon.base / "elsewhere" / "Song" / "MusicGen"
    _drop(daemon.inbox, "far-1.json", {"id": "far-1", "prompt": "x", "duration": 0.2, "out_dir": str(outside)})
    result = _wait_file(daemon.inbox / "rejected" / "far-1.result.json")
    data = json.loads(result.read_text())
    assert data["status"] == "error" and data["code"] == "forbidden"
    assert not (daemon.base / "elsewhere").exists()
    assert (daemon.inbox / "rejected" / "far-1.json").exists()


# --- 4. every cancel gets one answer --------------------------------------------------------

def test_cancel_after_done_is_answered(client):
    client.send("/musicgen/generate", "c1", "x", "duration", 0.2, "reply_port", client.port)
    client.wait_for("/musicgen/done", "c1", timeout=60)
    client.send("/musicgen/cancel", "c1", "reply_port", client.port)
    err = client.wait_for("/musicgen/error", "c1", timeout=10)
    assert err[1] == "already_done"
    client.send("/musicgen/cancel", "never-was", "reply_port", client.port)
    assert client.wait_for("/musicgen/error", "never-was", timeout=10)[1] == "not_found"


@pytest.fixture
def inproc(engine, tmp_path):
    """A daemon in this process (its worker's moments can be hit exactly) and a client."""
    d = start_inproc_daemon(engine, tmp_path)
    c = OscClient(d.cfg.osc_port)
    yield d, c
    c.close()
    d.stop()


def test_cancel_after_the_last_step_is_honoured(inproc, monkeypatch):
    """A cancel that lands after the last decoding step but before `done`: the job ends
    `cancelled`, its clips are removed, and no `done` is sent."""
    import bridge.worker as worker_mod

    d, c = inproc
    real_render = worker_mod.render

    def render_then_cancel(engine, req, *a, **kw):
        result = real_render(engine, req, *a, **kw)
        d.cancel(req.id)  # arrives now, between the last step and the outcome
        return result

    monkeypatch.setattr(worker_mod, "render", render_then_cancel)
    c.send("/musicgen/generate", "late", "x", "duration", 0.2)
    c.wait_for("/musicgen/cancelled", "late", timeout=60)
    c.drain(0.3)
    assert c.messages("/musicgen/done", "late") == []
    assert not [p for p in (d.cfg.output_dir).glob("*") if p.is_file()]


def test_cancel_between_done_and_the_end_of_the_job(inproc, monkeypatch):
    d, c = inproc
    answers = []
    real_deliver = d.delivery.deliver

    def deliver_then_cancel(job):
        real_deliver(job)
        try:
            d.cancel(job.id)  # the job is still the queue's running one here
        except Exception as exc:  # the OSC handler turns this into the error reply
            answers.append(getattr(exc, "code", repr(exc)))

    monkeypatch.setattr(d.delivery, "deliver", deliver_then_cancel)
    c.send("/musicgen/generate", "edge", "x", "duration", 0.2)
    c.wait_for("/musicgen/done", "edge", timeout=60)
    end = time.monotonic() + 10
    while not answers and time.monotonic() < end:  # the cancel runs on the worker, right after done
        time.sleep(0.02)
    assert answers == ["already_done"]


# --- 5. invalid UTF-8 -------------------------------------------------------------------------

def test_invalid_utf8_gets_bad_request_with_the_id(client):
    data = build_message("/musicgen/generate", ["u1", "PROMPTX", "duration", 0.2, "reply_port", client.port])
    client.send_raw(data.replace(b"PROMPTX\0", b"caf\xe9\xff\xfeX\0"))  # same length: padding kept
    err = client.wait_for("/musicgen/error", "u1", timeout=10)
    assert err[1] == "bad_request" and "argument 2" in err[2] and "UTF-8" in err[2]


# --- 6. the inbox keeps what it cannot take yet, and moves aside what is not a request ----------

def test_dot_ids_are_refused(client):
    client.send("/musicgen/generate", "..", "x", "duration", 0.2, "reply_port", client.port)
    err = client.wait_for("/musicgen/error", timeout=10)
    assert err[0] == "" and err[1] == "bad_request" and "id" in err[2]


def test_fifo_and_folder_in_the_inbox_are_moved_aside(daemon):
    os.mkfifo(daemon.inbox / "pipe.json")
    (daemon.inbox / "folder.json").mkdir()
    _wait_file(daemon.inbox / "rejected" / "pipe.json")
    _wait_file(daemon.inbox / "rejected" / "folder.json")
    assert not (daemon.inbox / "pipe.json").exists() and not (daemon.inbox / "folder.json").exists()
    # no out_dir in a FIFO: the error result goes to the daemon's output folder, where REAPER looks
    err = json.loads(_wait_file(daemon.allowed / "out" / "results" / "pipe.json").read_text())
    assert err["code"] == "bad_request" and "not a regular file" in err["message"]


def test_a_burst_of_200_request_files_all_run_in_order(tiny_model, tmp_path):
    """With the default queue (16 waiting), 200 files dropped at once all complete, in name order."""
    d = DaemonProc(tiny_model, tmp_path / "state", tmp_path / "out")
    inbox = tmp_path / "state" / "inbox"
    inbox.mkdir(parents=True)
    names = [f"burst-{i:03d}" for i in range(200)]
    for name in names:  # before the daemon starts: it meets all 200 at its first poll
        _drop(inbox, f"{name}.json", {"id": name, "prompt": "x", "duration": 0.04, "seed": 1, "daw": "none",
                                      "out_dir": str(tmp_path / "out")})
    d.start()
    try:
        results = tmp_path / "out" / "results"
        end = time.monotonic() + 600
        while len(list(results.glob("burst-*.json"))) < 200 and time.monotonic() < end:
            assert d.alive(), d.log()[-2000:]
            time.sleep(0.5)
        statuses = [json.loads((results / f"{n}.json").read_text())["status"] for n in names]
        assert statuses == ["done"] * 200
        with sqlite3.connect(tmp_path / "state" / "journal.sqlite3") as db:
            order = [row[0] for row in db.execute("SELECT id FROM jobs ORDER BY seq")]
        assert order == names
        assert not (inbox / "rejected").exists()
    finally:
        d.stop()


# --- 2. a full disk ---------------------------------------------------------------------------

@pytest.fixture
def full_disk(daemon):
    """A 96 kB tmpfs under the daemon's roots: room for a folder, not for a 2 s clip (needs root)."""
    mnt = daemon.allowed / "small"
    mnt.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)
    mnt.rmdir()


def test_full_disk_leaves_nothing_and_says_so(full_disk, client):
    import numpy as np

    audio = np.zeros((1, 32000 * 2), dtype=np.float32)
    with pytest.raises(OSError) as info:
        write_clip(full_disk, "clip", audio, 32000, "wav", {"x": 1}, owner=("j@1", 1))
    assert info.value.errno == errno.ENOSPC
    assert list(full_disk.iterdir()) == []  # no sidecar, no claim, no partial
    client.send("/musicgen/generate", "nospace", "x", "duration", 3.0, "out_dir", str(full_disk),
                "reply_port", client.port)
    err = client.wait_for("/musicgen/error", "nospace", timeout=120)
    assert err[1] == "io_error" and "no space left" in err[2].lower()
    assert list(full_disk.iterdir()) == []


# --- Windows: a file in use -------------------------------------------------------------------

def _in_use() -> OSError:
    exc = PermissionError(13, "The process cannot access the file because it is being used by another process")
    exc.winerror = 32
    return exc


def test_file_in_use_is_retried_then_published(tmp_path, monkeypatch):
    import numpy as np

    real_replace, fails = os.replace, [2]

    def flaky_replace(src, dst):
        if fails[0]:
            fails[0] -= 1
            raise _in_use()
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    monkeypatch.setattr(fsops, "RETRY_STEP_S", 0.01)
    clip = write_clip(tmp_path, "clip", np.zeros((1, 3200), dtype=np.float32), 32000, "wav", {"x": 1})
    assert fails[0] == 0 and sf.info(str(clip)).frames == 3200 and Path(str(clip) + ".json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav", "clip.wav.json"]


def test_file_always_in_use_fails_cleanly(tmp_path, monkeypatch):
    import numpy as np

    def always_in_use(src, dst):
        raise _in_use()

    monkeypatch.setattr(os, "replace", always_in_use)
    monkeypatch.setattr(fsops, "RETRY_STEP_S", 0.01)
    with pytest.raises(OSError):
        write_clip(tmp_path, "clip", np.zeros((1, 3200), dtype=np.float32), 32000, "wav", {"x": 1})
    assert list(tmp_path.iterdir()) == []


def test_in_use_is_only_windows_sharing_errors():
    assert fsops.is_in_use(_in_use())
    assert not fsops.is_in_use(PermissionError(13, "denied"))  # POSIX: no winerror, never retried
    calls = []
    with pytest.raises(PermissionError):
        fsops.retry_in_use(lambda: calls.append(1) or (_ for _ in ()).throw(PermissionError(13, "x")),
                           sleep=lambda s: None)
    assert calls == [1]


# --- 7. default trust -------------------------------------------------------------------------

def test_trust_defaults(tmp_path):
    home, out = tmp_path / "home", tmp_path / "home" / "Music" / "MusicGen"
    roots, warnings = trust_defaults([], host="127.0.0.1", output_dir=out, home=home, is_root=False)
    assert roots == [] and warnings == []  # the user at this machine
    roots, warnings = trust_defaults([], host="0.0.0.0", output_dir=out, home=home, is_root=False)
    assert roots == [out.resolve(), home.resolve()] and len(warnings) == 1
    roots, warnings = trust_defaults([tmp_path / "x"], host="::", output_dir=out, home=home, is_root=True)
    assert roots == [tmp_path / "x"] and any("ROOT" in w for w in warnings)
    assert trust_defaults([], host="::1", output_dir=out, home=home, is_root=True) == ([], [])


# --- 3. cancel and shutdown while EnCodec decodes ---------------------------------------------------

@pytest.fixture
def slow_codec(monkeypatch):
    """EnCodec made slow (3 s per decode), as the first decode of a real model is on these CPUs."""
    from bridge.engine import codec

    real = codec._decode

    def slow(lm, codes):
        time.sleep(3.0)
        return real(lm, codes)

    monkeypatch.setattr(codec, "_decode", slow)
    yield
    import threading

    for t in threading.enumerate():  # an abandoned decode ends before the interpreter does
        if t.name == "encodec":
            t.join(timeout=30)


@pytest.fixture
def fast_engine(tiny_model):
    from bridge.engine import build_engine

    return build_engine(str(tiny_model), device="cpu", decoder="fast")


def test_cancel_during_the_codec_is_answered_at_once(fast_engine, slow_codec, tmp_path):
    d = start_inproc_daemon(fast_engine, tmp_path)
    c = OscClient(d.cfg.osc_port)
    try:
        c.send("/musicgen/generate", "dec", "x", "duration", 0.3)
        c.wait_for("/musicgen/progress", "dec", timeout=60, pred=lambda a: a[1] >= 0.99)  # the last step
        time.sleep(0.3)  # well inside the 3 s decode
        t0 = time.monotonic()
        c.send("/musicgen/cancel", "dec")
        c.wait_for("/musicgen/cancelled", "dec", timeout=10)
        assert time.monotonic() - t0 < 1.0
        assert not [p for p in d.cfg.output_dir.glob("*") if p.is_file()]
    finally:
        c.close()
        d.stop()


def test_stop_during_the_codec_is_prompt_and_keeps_the_job(fast_engine, slow_codec, tmp_path):
    d = start_inproc_daemon(fast_engine, tmp_path)
    c = OscClient(d.cfg.osc_port)
    try:
        c.send("/musicgen/generate", "term", "x", "duration", 0.3)
        c.wait_for("/musicgen/progress", "term", timeout=60, pred=lambda a: a[1] >= 0.99)
        time.sleep(0.3)
        t0 = time.monotonic()
        d.stop()
        assert time.monotonic() - t0 < 1.0
        assert d.journal is not None
    finally:
        c.close()
        d.stop()
    from bridge.jobs import Journal

    journal = Journal(tmp_path / "state" / "journal.sqlite3")
    try:
        assert [j.id for j in journal.unfinished()] == ["term"]  # runs again at the next start
    finally:
        journal.close()
