"""Running `musicgen-bridge worker` in a subprocess on a loopback address, and talking HTTP to it."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def can_hide_folders() -> bool:
    """Whether this machine lets a test start a process in its own mount namespace (root + unshare)."""
    if not shutil.which("unshare") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


class WorkerProc:
    """A worker subprocess. ``hide`` lists folders mounted over with an empty tmpfs in the worker's
    own mount namespace: files there exist for the daemon only."""

    def __init__(self, model: Path, log_dir: Path, *extra, host: str = "127.0.0.1", port: int | None = None,
                 hide: list[Path] | None = None):
        self.host = host
        self.port = port or free_tcp_port(host)
        self.extra = [str(e) for e in extra]
        self.model = model
        self.hide = [Path(h) for h in hide or []]
        self.log_dir = Path(log_dir)
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> WorkerProc:
        cmd = [sys.executable, "-m", "bridge", "worker", "--model", str(self.model), "--device", "cpu",
               "--host", self.host, "--port", str(self.port), *self.extra]
        if self.hide:
            mounts = " && ".join(f"mount -t tmpfs none {_q(h)}" for h in self.hide)
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   f"{mounts} && exec " + " ".join(_q(c) for c in cmd)]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"worker-{self.port}-{time.time_ns()}.log"
        self._log = open(self.log_path, "w")
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}: {self.log()}")
            if re.search(r"worker ready: .* https?://", self.log()):
                return self
            time.sleep(0.1)
        raise AssertionError(f"worker not ready within {timeout} s: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text()
        except (OSError, AttributeError):
            return ""

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def request(self, method: str, path: str, body=None, token: str | None = None, headers: dict | None = None,
                timeout: float = 30.0) -> tuple[int, dict, bytes]:
        """One HTTP request; returns (status, headers with lower-case names, body bytes read whole)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if token:
                h["Authorization"] = f"Bearer {token}"
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def info(self, token: str | None = None) -> dict:
        status, _, data = self.request("GET", "/v1/info", token=token)
        assert status == 200, data
        return json.loads(data)


def _q(s) -> str:
    import shlex

    return shlex.quote(str(s))
