"""Running the real daemon as a subprocess and talking to it over real UDP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bridge.osc import build_message, parse_packet

ROOT = Path(__file__).resolve().parent.parent


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OscClient:
    """A UDP socket that sends OSC to the daemon and collects its replies."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.target = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[tuple[str, list]] = []

    def send(self, address: str, *args) -> None:
        self.sock.sendto(build_message(address, list(args)), self.target)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def _read(self, timeout: float) -> bool:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data, _ = self.sock.recvfrom(65536)
        except socket.timeout:
            return False
        self.received.extend(parse_packet(data))
        return True

    def wait_for(self, address: str, job_id: str | None = None, timeout: float = 60.0, pred=None):
        """The first received message matching, waiting up to ``timeout`` seconds."""
        end = time.monotonic() + timeout
        seen = 0
        while True:
            for addr, args in self.received[seen:]:
                if addr == address and (job_id is None or (args and args[0] == job_id)) and (pred is None or pred(args)):
                    return args
            seen = 0
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {address} {job_id or ''} within {timeout} s; got {self.received[-10:]}")
            self._read(min(remaining, 0.5))

    def drain(self, seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._read(end - time.monotonic())

    def messages(self, address: str, job_id: str | None = None) -> list[list]:
        return [args for addr, args in self.received
                if addr == address and (job_id is None or (args and args[0] == job_id))]

    def close(self) -> None:
        self.sock.close()


class DaemonProc:
    """`musicgen-bridge serve` in a subprocess."""

    def __init__(self, model: Path, state_dir: Path, output_dir: Path, *extra, port: int | None = None,
                 env: dict | None = None):
        self.port = port or free_udp_port()
        self.args = [sys.executable, "-m", "bridge", "serve", "--model", str(model), "--state-dir", str(state_dir),
                     "--output-dir", str(output_dir), "--osc-port", str(self.port), *[str(e) for e in extra]]
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **(env or {}))
        self.log_path = Path(state_dir).parent / f"daemon-{self.port}-{time.time_ns()}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True, timeout: float = 120.0) -> "DaemonProc":
        Path(self.log_path).parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 120.0, token: str | None = None) -> None:
        client = OscClient(self.port)
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    raise AssertionError(f"daemon exited with {self.proc.returncode}: {self.log()}")
                if token:
                    client.send("/musicgen/ping", "token", token)
                else:
                    client.send("/musicgen/ping")
                if client._read(0.5) and any(a == "/musicgen/pong" for a, _ in client.received):
                    return
            raise AssertionError(f"daemon not ready within {timeout} s: {self.log()}")
        finally:
            client.close()

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text()
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("daemon did not stop on SIGTERM: " + self.log()[-2000:])

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def start_inproc_daemon(engine, tmp_path: Path, **flags):
    """A daemon in this process on ``engine`` (its moments can be hit exactly by a test) with a
    free OSC port on the default host; returns it, started. The caller stops it."""
    from bridge.config import build_serve_config
    from bridge.daemon import Daemon

    cfg = build_serve_config({"state_dir": tmp_path / "state", "output_dir": tmp_path / "out",
                              "osc_port": free_udp_port(), **flags})
    d = Daemon(cfg, engine)
    d.start()
    return d
