"""A private JACK server with the dummy driver, for tests that need real MIDI ports.

Each server gets a unique name (``-n``), so tests running side by side (or a user's own JACK)
never meet. The ``jack_server`` fixture starts one per test, points ``JACK_DEFAULT_SERVER`` at it
for this process and its children, and kills it at teardown. libjack reads the variable when a
client opens, so set it (the fixture does) before creating rtmidi JACK ports.

The machine needs Debian's ``jackd2`` (``scripts/setup.sh --test`` installs it). A missing jackd
is a test failure, not a skip.

    jackd --no-realtime -n <name> -d dummy -r 48000 -p 256

``jack_lsp``/``jack_connect`` with ``-s <name>`` are used to look at and wire ports the way a user
would; ``JackServer.spawn`` runs JACK's example clients (``jack_midiseq``, ``jack_midi_dump``) as
independent peers on the server.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest

_counter = itertools.count(1)
MAX_SERVER_NAME = 23


class JackServer:
    """A jackd process with the dummy driver and a unique server name."""

    def __init__(self, rate: int = 48000, period: int = 256, name: str | None = None) -> None:
        # short: with jackd2 1.9.21, a server name of 24 characters or more makes every libjack
        # client abort (SIGABRT) when it connects, although jackd itself starts
        self.name = name or f"mgb{os.getpid() % 100000}-{next(_counter)}-{uuid.uuid4().hex[:4]}"
        if len(self.name) > MAX_SERVER_NAME:
            raise ValueError(f"JACK server name {self.name!r} is longer than {MAX_SERVER_NAME}")
        self.rate = rate
        self.period = period
        self.proc: subprocess.Popen | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="mgb-jack-"))
        self.log_path = self._dir / "jackd.log"
        self._children: list[subprocess.Popen] = []

    @property
    def env(self) -> dict[str, str]:
        """os.environ pointed at this server (for subprocesses)."""
        env = dict(os.environ)
        env["JACK_DEFAULT_SERVER"] = self.name
        env["JACK_NO_AUDIO_RESERVATION"] = "1"
        return env

    def start(self, timeout_s: float = 15.0) -> "JackServer":
        missing = [t for t in ("jackd", "jack_lsp", "jack_connect") if shutil.which(t) is None]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} not found: install jackd2 "
                               f"(scripts/setup.sh --test)")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["jackd", "--no-realtime", "-n", self.name, "-d", "dummy",
             "-r", str(self.rate), "-p", str(self.period)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jackd exited with {self.proc.returncode}:\n{self.log()}")
            if self._lsp().returncode == 0:
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"jackd {self.name} not ready after {timeout_s} s:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        for child in self._children:
            # SIGINT: the JACK example clients close their client cleanly on it; jack_midi_dump
            # dies on SIGTERM without closing, and jackd then takes ~6 s to shut down
            _terminate(child, timeout_s=2.0, sig=signal.SIGINT)
        self._children.clear()
        if self.proc is not None:
            _terminate(self.proc)
            self.proc = None
        shutil.rmtree(self._dir, ignore_errors=True)
        # clients that outlive their server (a test that kills it) cannot remove their
        # semaphores; they carry this server's unique name, so they are ours to remove
        for leftover in Path("/dev/shm").glob(f"jack*_{glob.escape(self.name)}_*"):
            try:
                leftover.unlink()
            except OSError:
                pass

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- looking at ports, as a user would ------------------------------------------------------

    def _lsp(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["jack_lsp", "-s", self.name, *args], capture_output=True,
                              text=True, env=self.env, timeout=10)

    def ports(self) -> list[str]:
        """All port names (``client:port``)."""
        res = self._lsp()
        return [line for line in res.stdout.splitlines() if line and not line[0].isspace()]

    def midi_ports(self) -> list[str]:
        res = self._lsp("-t")
        out, name = [], None
        for line in res.stdout.splitlines():
            if line and not line[0].isspace():
                name = line
            elif name and "midi" in line:
                out.append(name)
        return out

    def connections(self) -> dict[str, list[str]]:
        """port -> ports it is connected to (both directions, as jack_lsp -c shows them)."""
        res = self._lsp("-c")
        out: dict[str, list[str]] = {}
        name = None
        for line in res.stdout.splitlines():
            if line and not line[0].isspace():
                name = line
                out[name] = []
            elif name and line.strip():
                out[name].append(line.strip())
        return out

    def connect(self, src: str, dst: str) -> None:
        res = subprocess.run(["jack_connect", "-s", self.name, src, dst], capture_output=True,
                             text=True, env=self.env, timeout=10)
        if res.returncode != 0:
            raise RuntimeError(f"jack_connect {src} {dst} failed: {res.stderr.strip()}")

    def wait_for_port(self, match: Callable[[str], bool] | str, timeout_s: float = 10.0) -> str:
        """The first port name that ``match`` accepts (a callable, or a substring)."""
        pred = match if callable(match) else (lambda n: match in n)
        deadline = time.monotonic() + timeout_s
        while True:
            names = [n for n in self.ports() if pred(n)]
            if names:
                return names[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no JACK port matching {match!r} on {self.name} after "
                                     f"{timeout_s} s; ports: {self.ports()}")
            time.sleep(0.05)

    def spawn(self, *argv: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
        """Run a JACK client (jack_midiseq, jack_midi_dump, ...) on this server; stopped with it."""
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=subprocess.DEVNULL, env=self.env, start_new_session=True)
        self._children.append(proc)
        return proc


def _terminate(proc: subprocess.Popen, timeout_s: float = 5.0,
               sig: int = signal.SIGTERM) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)
    except ProcessLookupError:
        pass


@pytest.fixture
def jack_server(monkeypatch) -> JackServer:
    """A fresh JACK dummy server for one test; JACK_DEFAULT_SERVER points at it meanwhile."""
    server = JackServer().start()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    monkeypatch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
    try:
        yield server
    finally:
        server.stop()


def wait_until(pred: Callable[[], object], timeout_s: float = 5.0, interval_s: float = 0.02,
               what: str = "condition"):
    """Poll ``pred`` until it returns something truthy; fail with ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)
