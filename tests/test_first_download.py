"""The first download of weights shows progress in the terminal (what, how big, rate, time left),
and the second run loads from the cache without downloading.

The hub is a local HTTP server speaking the part of the Hugging Face hub protocol that
huggingface_hub's file download uses (HEAD/GET ``/{repo}/resolve/{revision}/{file}`` with the
``X-Repo-Commit``/``ETag``/``Content-Length`` headers; ``X-Error-Code: EntryNotFound`` for files the
repo lacks), serving a tiny random-weight model built here. ``HF_ENDPOINT`` points the real
client at it. The CLI runs on a pseudo-terminal, as in a user's terminal (the hub's progress bars
only draw on a TTY).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import ROOT

REPO = "mgb-test/tiny-musicgen"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_server(model_dir: Path):
    """A local hub serving ``model_dir`` as ``REPO``; returns (server, requests seen)."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def _file(self):
            prefix = f"/{REPO}/resolve/"
            path = self.path.split("?", 1)[0]
            if not path.startswith(prefix):
                return None
            rel = path[len(prefix):].split("/", 1)[1] if "/" in path[len(prefix):] else ""
            target = (model_dir / rel).resolve()
            return target if rel and target.is_file() and model_dir.resolve() in target.parents else None

        def _headers(self, target):
            if target is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
            data = target.read_bytes()
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            return True

        def do_HEAD(self):  # noqa: N802 (http.server's naming)
            seen.append(("HEAD", self.path))
            self._headers(self._file())

        def do_GET(self):  # noqa: N802
            seen.append(("GET", self.path))
            target = self._file()
            if self._headers(target):
                data = target.read_bytes()
                for start in range(0, len(data), 256 * 1024):   # in pieces, like a network
                    self.wfile.write(data[start:start + 256 * 1024])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def run_on_pty(cmd, env, timeout_s=240):
    """Run ``cmd`` with stdout and stderr on a pseudo-terminal; returns (exit code, output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))   # 120 columns, as a terminal has
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env, cwd=ROOT)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:   # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    try:
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    return rc, b"".join(chunks).decode("utf-8", "replace")


def test_first_download_shows_progress_then_loads_from_cache(tiny_model, tmp_path):
    server, seen = hub_server(Path(tiny_model))
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        env.update(PYTHONPATH=str(ROOT), HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}",
                   HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_XET="1")
        cmd = [sys.executable, "-m", "bridge", "generate", "warm rhodes", "--model", REPO, "--duration", "0.5",
               "--device", "cpu", "--out", str(tmp_path / "clips")]
        rc, out = run_on_pty(cmd, env)
        assert rc == 0, out[-3000:]
        assert f"downloading {REPO} from the Hugging Face hub into {tmp_path / 'hf-home'}" in out, out[-3000:]
        weights = (Path(tiny_model) / "model.safetensors").stat().st_size
        assert any(m == "GET" and p.endswith("/model.safetensors") for m, p in seen), seen
        # tqdm's bar for the weights: percentage, size done/total, [elapsed<left, rate]
        bar = re.compile(r"model\.safetensors.*?100%\|.*?\| *[\d.]+[kMG]?/[\d.]+[kMG]? "
                         r"\[\d\d:\d\d<\d\d:\d\d, *[\d.]+[kMG]?B/s\]")
        assert bar.search(out), out[-3000:]
        assert weights > 0 and list((tmp_path / "clips").glob("*.wav"))

        files_before = sum(1 for m, p in seen if m == "GET" and "/resolve/" in p)
        rc2, out2 = run_on_pty(cmd, env)
        assert rc2 == 0, out2[-3000:]
        assert "downloading" not in out2                       # from the cache, no note, no bars
        assert sum(1 for m, p in seen if m == "GET" and "/resolve/" in p) == files_before   # no file fetched
    finally:
        server.shutdown()
        server.server_close()


if sys.platform == "win32":  # pragma: no cover - pty is POSIX
    pytest.skip("pty is POSIX-only", allow_module_level=True)
