"""The remote engine: a daemon with `--engine URL` and real `musicgen-bridge worker` subprocesses on
loopback addresses (127.0.0.2, 127.0.0.3), over real HTTP; clips compared with a local daemon's."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import run_cli, write_tone
from daemon_helpers import DaemonProc, OscClient, free_udp_port
from remote_helpers import WorkerProc, can_hide_folders

if not os.environ.get("CI"):  # CI installs the [worker] extra: there a missing package fails
    for _name in ("starlette", "uvicorn", "sse_starlette"):
        pytest.importorskip(_name, reason="the [worker] extra is not installed (pip install -e '.[worker]')")

TOKEN = "w-secret"


@pytest.fixture(scope="module")
def farm(tiny_melody_model, tmp_path_factory):
    """One worker (token, 1 MiB uploads, no waiting room) behind a daemon, and a local daemon."""
    base = tmp_path_factory.mktemp("remote")
    private = base / "daw-only"          # the DAW's files: the worker cannot see this folder
    private.mkdir()
    write_tone(private / "tone.wav", seconds=3.0)
    write_tone(private / "long.wav", seconds=30.0, channels=1)
    hide = [private] if can_hide_folders() else []
    worker = WorkerProc(tiny_melody_model, base / "logs", "--token", TOKEN, "--max-upload-mb", 1,
                        "--queue-size", 0, host="127.0.0.2", hide=hide).start()
    remote = DaemonProc(tiny_melody_model, base / "rstate", base / "rout", "--engine", worker.url,
                        "--engine-token", TOKEN).start()
    local = DaemonProc(tiny_melody_model, base / "lstate", base / "lout").start()
    ns = type("Farm", (), dict(base=base, private=private, worker=worker, remote=remote, local=local, hidden=bool(hide)))
    yield ns
    try:
        assert remote.stop() == 0, remote.log()[-3000:]
        assert local.stop() == 0, local.log()[-3000:]
    finally:
        worker.stop()


def _run(daemon: DaemonProc, messages: list[tuple], job_id: str, timeout: float = 180) -> tuple[OscClient, list]:
    c = OscClient(daemon.port)
    for address, *args in messages:
        c.send(address, *args)
    done = c.wait_for("/musicgen/done", job_id, timeout=timeout)
    return c, done[1:]


def _sidecar(path: str) -> dict:
    return json.loads(Path(path + ".json").read_text())


def test_clips_equal_local_ones(farm):
    """Text with 4 variations, a continuation of a file only the daemon can read, a MIDI-notes
    melody: the same bytes as a local engine's with the same seed and dtype."""
    tone = str(farm.private / "tone.wav")
    jobs = {
        "v4": [("/musicgen/generate", "v4", "warm pads", "duration", 0.5, "seed", 5, "variations", 4)],
        "c1": [("/musicgen/continue", "c1", tone, "start", 0.5, "end", 2.0, "duration", 0.5, "seed", 6,
                "keep_prompt", 1)],
        "m1": [("/musicgen/notes", "m1", 60, 0.0, 1.0, 100, 64, 1.0, 1.0, 100),
               ("/musicgen/generate", "m1", "tune", "bpm", 120, "duration", 0.5, "seed", 7)],
    }
    info = farm.worker.info(TOKEN)
    for job_id, messages in jobs.items():
        rc, remote_paths = _run(farm.remote, messages, job_id)
        lc, local_paths = _run(farm.local, messages, job_id)
        rc.close()
        lc.close()
        assert len(remote_paths) == len(local_paths) == (4 if job_id == "v4" else 1)
        for r, l in zip(remote_paths, local_paths):
            assert Path(r).read_bytes() == Path(l).read_bytes(), f"{job_id}: {r} differs from {l}"
            meta = _sidecar(r)
            assert meta["engine"]["url"] == farm.worker.url
            assert meta["engine"]["worker"] == info["worker"]["id"]
            assert meta["engine"]["device"] == "cpu" and meta["engine"]["attempts"] == 1
            assert "engine" not in _sidecar(l)
    assert farm.worker.info(TOKEN)["queue"]["done"] >= 3
    if farm.hidden:  # the worker could not have read the file: in its mount namespace the folder is empty
        assert Path(tone).is_file()
        assert not Path(f"/proc/{farm.worker.proc.pid}/root{farm.private}/tone.wav").exists()


def test_status_and_ready_line_name_the_engine(farm):
    c = OscClient(farm.remote.port)
    try:
        c.send("/musicgen/status")
        status = c.wait_for("/musicgen/status", timeout=10)
    finally:
        c.close()
    kv = dict(zip(status[::2], status[1::2]))
    assert kv["engine"] == farm.worker.url and kv["device"] == "cpu"
    assert f"via {farm.worker.url}" in farm.remote.log()


def test_previews_and_progress(farm):
    c = OscClient(farm.remote.port)
    try:
        c.send("/musicgen/generate", "p1", "slow build", "duration", 3.0, "seed", 8, "preview", 1)
        first = c.wait_for("/musicgen/preview", "p1", timeout=180)
        assert first[1].endswith("p1.wav")
        done = c.wait_for("/musicgen/done", "p1", timeout=180)
    finally:
        c.close()
    fractions = [a[1] for a in c.messages("/musicgen/progress", "p1")]
    assert len(fractions) >= 3 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert Path(done[1]).is_file()


def test_cancel_during_generation_stops_the_worker(farm):
    c = OscClient(farm.remote.port)
    try:
        c.send("/musicgen/generate", "x1", "long one", "duration", 120.0, "seed", 9)
        c.wait_for("/musicgen/progress", "x1", timeout=180, pred=lambda a: a[1] > 0.0)
        c.send("/musicgen/cancel", "x1")
        c.wait_for("/musicgen/cancelled", "x1", timeout=30)
    finally:
        c.close()
    end = time.monotonic() + 10
    while farm.worker.info(TOKEN)["queue"]["running"] is not None:
        assert time.monotonic() < end, "the worker kept generating a cancelled job"
        time.sleep(0.2)
    assert not list((farm.base / "rout").glob("long-one*"))


def test_wrong_or_missing_token_is_refused(farm, tmp_path):
    before = farm.worker.info(TOKEN)["queue"]["done"]
    body = {"prompt": "x", "duration_s": 0.5, "seed": 1}
    for token in (None, "wrong"):
        status, _, data = farm.worker.request("POST", "/v1/generate", body, token=token)
        assert status == 401 and json.loads(data)["error"]["code"] == "unauthorized"
        assert farm.worker.request("GET", "/v1/info", token=token)[0] == 401
    # a daemon with the wrong token does not start, and says why in one line
    r = run_cli("serve", "--engine", farm.worker.url, "--engine-token", "wrong", "--state-dir", tmp_path / "s",
                "--output-dir", tmp_path / "o", "--osc-port", free_udp_port(), timeout=120)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("musicgen-bridge: error: no engine worker answers") and "token" in last
    time.sleep(0.5)
    assert farm.worker.info(TOKEN)["queue"]["done"] == before


def test_oversized_upload_is_refused(farm):
    big = b'{"prompt": "' + b"x" * (2 * 2**20) + b'"}'
    status, _, data = farm.worker.request("POST", "/v1/generate", big, token=TOKEN)
    assert status == 413 and "at most 1048576" in json.loads(data)["error"]["message"]
    # through the daemon: 30 s of prompt audio is over this worker's 1 MiB; the job ends in a clear error
    c = OscClient(farm.remote.port)
    try:
        c.send("/musicgen/continue", "big1", str(farm.private / "long.wav"), "duration", 0.5, "seed", 1)
        err = c.wait_for("/musicgen/error", "big1", timeout=120)
    finally:
        c.close()
    assert err[1] == "generation_failed" and "refused the job" in err[2] and "bytes" in err[2]


def test_busy_worker_makes_the_job_wait(farm):
    """The worker takes one job and no more (queue size 0): the daemon's job waits, then runs."""
    import http.client

    conn = http.client.HTTPConnection(farm.worker.host, farm.worker.port, timeout=60)
    conn.request("POST", "/v1/generate", json.dumps({"prompt": "hog", "duration_s": 300.0, "seed": 1, "key": "hog"}),
                 {"Authorization": f"Bearer {TOKEN}"})
    hog = conn.getresponse()
    assert hog.status == 200
    stream_lines: list[bytes] = []
    def read():
        try:
            for line in iter(hog.readline, b""):
                stream_lines.append(line)
        except (OSError, AttributeError, ValueError):  # closed under it at the end
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        status, headers, data = farm.worker.request("POST", "/v1/generate", {"prompt": "y", "duration_s": 0.5,
                                                                              "seed": 1}, token=TOKEN)
        assert status == 429 and json.loads(data)["error"]["code"] == "busy" and int(headers["retry-after"]) >= 1
        c = OscClient(farm.remote.port)
        c.send("/musicgen/generate", "b1", "patient", "duration", 0.5, "seed", 3)
        c.wait_for("/musicgen/accepted", "b1", timeout=30)
        time.sleep(2.0)
        assert not c.messages("/musicgen/done", "b1") and not c.messages("/musicgen/error", "b1")
        assert "busy" in farm.remote.log()
        assert farm.worker.request("DELETE", "/v1/jobs/hog", token=TOKEN)[0] == 200
        done = c.wait_for("/musicgen/done", "b1", timeout=120)
        c.close()
        assert Path(done[1]).is_file()
    finally:
        conn.close()
    reader.join(10)
    assert any(b"event: cancelled" in line for line in stream_lines), stream_lines[-20:]


def test_bad_engine_values_are_one_line_errors(tmp_path):
    r = run_cli("serve", "--engine", "ftp://x", "--state-dir", tmp_path / "s", timeout=60)
    assert r.returncode == 1 and "engine URL 'ftp://x'" in r.stderr.strip().splitlines()[-1]
    r = run_cli("serve", "--engine", "http://127.0.0.3:9", "--state-dir", tmp_path / "s", timeout=60)
    assert r.returncode == 1 and "no engine worker answers: http://127.0.0.3:9: cannot reach" in r.stderr
    r = run_cli("worker", "--host", "0.0.0.0", "--port", 0, timeout=60)
    assert r.returncode == 1 and "without --token" in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        r = run_cli("worker", "--port", taken.getsockname()[1], timeout=60)
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith("musicgen-bridge: error: cannot listen on")
    r = run_cli("worker", "--model", tmp_path / "no-model", "--port", 0, timeout=120)
    assert r.returncode == 1 and "model folder not found" in r.stderr.strip().splitlines()[-1]
    for flags, needle in ((["--tls-cert", tmp_path / "c.pem"], "go together"),
                          (["--queue-size", -1], "--queue-size"), (["--max-upload-mb", 0], "--max-upload-mb")):
        r = run_cli("worker", "--port", 0, *flags, timeout=60)
        assert r.returncode == 1 and needle in r.stderr.strip().splitlines()[-1], r.stderr


# --- workers that die ---------------------------------------------------------------------------

def _worker_running(w: WorkerProc) -> bool:
    try:
        return w.info()["queue"]["running"] is not None
    except Exception:
        return False


def test_kill9_worker_mid_job(tiny_model, tmp_path):
    """Two workers: a job whose worker is killed finishes on the other; a job whose only live
    worker is killed waits and is delivered once when that worker is back on its port."""
    a = WorkerProc(tiny_model, tmp_path / "logs", host="127.0.0.2").start()
    b = WorkerProc(tiny_model, tmp_path / "logs", host="127.0.0.3").start()
    d = DaemonProc(tiny_model, tmp_path / "state", tmp_path / "out", "--engine", f"{a.url},{b.url}").start()
    c = OscClient(d.port)
    try:
        # job 1 starts on a (first in turn); a dies; b makes it
        c.send("/musicgen/generate", "k1", "first", "duration", 4.0, "seed", 21)
        c.wait_for("/musicgen/progress", "k1", timeout=120, pred=lambda x: x[1] > 0.0)
        assert _worker_running(a)
        a.kill9()
        done = c.wait_for("/musicgen/done", "k1", timeout=180)
        meta = _sidecar(done[1])
        assert meta["engine"]["url"] == b.url and meta["engine"]["attempts"] >= 2
        # job 2 starts on b (next in turn); b dies while a is still dead; b comes back on its port
        c.send("/musicgen/generate", "k2", "second", "duration", 4.0, "seed", 22)
        c.wait_for("/musicgen/progress", "k2", timeout=120, pred=lambda x: x[1] > 0.0)
        assert _worker_running(b)
        b.kill9()
        time.sleep(2.0)
        assert not c.messages("/musicgen/done", "k2") and not c.messages("/musicgen/error", "k2")
        b.start()
        done2 = c.wait_for("/musicgen/done", "k2", timeout=180)
        c.drain(2.0)
        assert len(c.messages("/musicgen/done", "k2")) == 1 and len(c.messages("/musicgen/done", "k1")) == 1
        assert not c.messages("/musicgen/error")
        assert _sidecar(done2[1])["engine"]["url"] == b.url
        clips = sorted(p.name for p in (tmp_path / "out").glob("*.wav"))
        assert len(clips) == 2, clips
    finally:
        c.close()
        try:
            assert d.stop() == 0, d.log()[-3000:]
        finally:
            a.stop()
            b.stop()


def test_tls_worker_and_its_certificate(tiny_model, tmp_path):
    """HTTPS with a self-signed certificate: refused without trusting it, used with --engine-ca."""
    import shutil
    import subprocess

    from bridge.engine import Conditioning, Sampling
    from bridge.remote.client import RemoteEngine, RemoteEngineError

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    crt, key = tmp_path / "w.crt", tmp_path / "w.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    w = WorkerProc(tiny_model, tmp_path / "logs", "--tls-cert", crt, "--tls-key", key, "--cpu-int8").start()
    try:
        assert f"https://127.0.0.1:{w.port}/v1" in w.log()
        # --cpu-int8 reached the engine: its ready line says so, or a warning says why not here
        assert "int8 decoder weights (" in w.log() or "int8 decoder weights asked for but not used" in w.log()
        url = f"https://localhost:{w.port}"
        with pytest.raises(RemoteEngineError, match="CERTIFICATE_VERIFY_FAILED"):
            RemoteEngine([url]).connect()
        engine = RemoteEngine([url], ca_file=str(crt)).connect()
        out = engine.generate(Conditioning(prompt="tls"), 0.3, Sampling(), seed=4)
        assert out.audio.shape == (1, 1, 9600) and out.engine["url"] == url
    finally:
        w.stop()
