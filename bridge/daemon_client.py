"""A client of the running daemon over OSC/UDP (async, anyio): ping, status, cancel, submit a job.

Used by the MCP server (bridge/mcp_server.py), which must never load a second model: it only
talks to the daemon that already holds one. The wire format comes from python-osc through
``bridge.osc.build_message``/``parse_packet``; what is written here is the request/reply
choreography of docs/protocol.md (which no library knows): each call opens its own UDP socket,
so every reply the daemon sends to "the sender" (accepted, progress, stems, done, error,
cancelled, status, pong) arrives at the call that is waiting for it, and concurrent calls never
see each other's replies.

A daemon that is not running and a daemon with a token that we do not send look the same from
here (the daemon sends nothing to unauthorized senders): :class:`DaemonUnreachable` says both.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from .osc import build_message, parse_packet

#: Seconds to wait for the daemon's answer to one ping; a ping is tried PING_TRIES times.
PING_TIMEOUT_S = 0.5
PING_TRIES = 3
#: Seconds to wait for accepted/error after a request (validation reads audio files).
ACCEPT_TIMEOUT_S = 30.0
#: While waiting for a job: after this long without a reply the daemon is asked for its status,
#: and it must answer within PING_TIMEOUT_S * PING_TRIES, else it is taken as gone.
QUIET_CHECK_S = 10.0
#: Seconds a cancel waits for a not_found error before it is taken as done.
CANCEL_CONFIRM_S = 1.0


class DaemonUnreachable(Exception):
    """No daemon answered (not running, other host/port, or a token it does not accept)."""


class DaemonError(Exception):
    """The daemon refused a request or a job failed: ``code`` and ``message`` are the daemon's."""

    def __init__(self, code: str, message: str, job_id: str = ""):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.job_id = job_id


class JobCancelled(Exception):
    """The job was cancelled (by a cancel call, another client or the DAW); no files remain."""

    def __init__(self, job_id: str):
        super().__init__(f"job {job_id} was cancelled; no files remain")
        self.job_id = job_id


def not_running_sentence(host: str, port: int) -> str:
    """The one sentence an assistant (and the producer reading along) gets when nobody answers."""
    return (f"No musicgen-bridge daemon answers at {host}:{port}: start it in a terminal with "
            f"`musicgen-bridge serve --model small` (same --osc-port; a daemon started with --token "
            f"also needs `musicgen-bridge mcp --token SECRET`).")


def target_host(host: str) -> str:
    """Where to send to reach a daemon configured to listen on ``host`` (wildcards mean loopback)."""
    host = (host or "").strip()
    if host in ("", "0.0.0.0", "*"):
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "::1"
    return host


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_status(args: list) -> dict[str, Any]:
    """``/musicgen/status`` arguments (key value pairs) as a dict; a trailing odd item is dropped."""
    out: dict[str, Any] = {}
    for i in range(0, len(args) - 1, 2):
        if isinstance(args[i], str):
            out[args[i]] = args[i + 1]
    return out


def request_args(params: dict[str, Any]) -> list:
    """Flatten request keys (docs/protocol.md) into OSC ``key value`` pairs, skipping ``None``.

    Booleans go as ints 0/1 and whole-number floats stay floats (the daemon takes either).
    """
    out: list = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        out += [key, value]
    return out


@dataclass
class JobOutcome:
    """What the daemon sent for one job: its clip paths and, with stems, {stem: path} per clip."""

    job_id: str
    status: str  # "accepted" (not waited for) or "done"
    queue_position: int = 0
    paths: list[str] = field(default_factory=list)
    stems: list[dict[str, str]] = field(default_factory=list)


ProgressFn = Callable[[float, str], Awaitable[None]]


class DaemonClient:
    """Talks to the daemon at ``host``:``port`` (a wildcard host means this machine)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9000, token: str | None = None):
        self.host = target_host(host)
        self.port = int(port)
        self.token = token or None

    # --- one socket per call ----------------------------------------------------------------

    def _resolve(self) -> tuple[socket.AddressFamily, str]:
        try:
            info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise DaemonUnreachable(f"cannot resolve the daemon's host {self.host!r}: {exc.strerror}") from None
        family, _, _, _, sockaddr = info[0]
        return family, sockaddr[0]

    async def _open(self) -> _Call:
        family, ip = self._resolve()
        if is_loopback(ip):
            local = "127.0.0.1" if family == socket.AF_INET else "::1"
        else:
            local = "0.0.0.0" if family == socket.AF_INET else "::"
        sock = await anyio.create_udp_socket(family=family, local_host=local)
        return _Call(sock, ip, self.port, self.token, self.host)

    # --- verbs -------------------------------------------------------------------------------

    async def ping(self) -> str:
        """The daemon's version; raises :class:`DaemonUnreachable` when nobody answers."""
        async with await self._open() as call:
            return await call.ping()

    async def status(self) -> dict[str, Any]:
        async with await self._open() as call:
            await call.ping()
            return await call.status()

    async def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job; raises :class:`DaemonError` ``not_found`` for an unknown id.

        The daemon answers a successful cancel only to the job's own client (``cancelled``), so
        here success is "no error came back, and the status that follows no longer runs it".
        """
        async with await self._open() as call:
            await call.ping()
            await call.send("/musicgen/cancel", [job_id])
            await call.send("/musicgen/status", [])
            with anyio.move_on_after(CANCEL_CONFIRM_S + PING_TIMEOUT_S * PING_TRIES):
                while True:
                    address, args = await call.receive()
                    if address == "/musicgen/error" and args[:1] == [job_id]:
                        raise DaemonError(str(args[1]), str(args[2]), job_id)
                    if address == "/musicgen/status":
                        # the daemon handles datagrams in order: an error would have come first
                        return {"id": job_id, "cancelled": True, "daemon": parse_status(args)}
            raise DaemonUnreachable(not_running_sentence(self.host, self.port))

    async def submit(self, verb: str, job_id: str, first: str, params: dict[str, Any], *, wait: bool = True,
                     on_progress: ProgressFn | None = None) -> JobOutcome:
        """Send ``/musicgen/<verb> <id> <first> [key value]...`` and follow the job.

        ``first`` is the prompt (generate) or the audio path (continue). Without ``wait`` it
        returns once the job is accepted. ``on_progress(fraction, message)`` is awaited for each
        progress reply (and once with 0 while queued). When the caller is cancelled (the MCP
        client cancelled its request) the job is cancelled at the daemon too.
        """
        async with await self._open() as call:
            await call.ping()
            await call.send(f"/musicgen/{verb}", [job_id, first, *request_args(params)])
            outcome = JobOutcome(job_id=job_id, status="accepted")
            accepted = False
            try:
                with anyio.fail_after(ACCEPT_TIMEOUT_S):
                    while not accepted:
                        address, args = await call.receive()
                        if not args or args[0] != job_id:
                            continue
                        if address == "/musicgen/error":
                            raise DaemonError(str(args[1]), str(args[2]), job_id)
                        if address == "/musicgen/accepted":
                            accepted = True
                            outcome.queue_position = int(args[1]) if len(args) > 1 else 0
            except TimeoutError:
                raise DaemonUnreachable(f"the daemon at {self.host}:{self.port} answered ping but not the "
                                        f"request within {ACCEPT_TIMEOUT_S:g} s; see its log") from None
            if not wait:
                return outcome
            if on_progress is not None and outcome.queue_position > 0:
                await on_progress(0.0, f"queued: {outcome.queue_position} job(s) ahead")
            try:
                return await self._follow(call, outcome, on_progress)
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    await call.send("/musicgen/cancel", [job_id])
                raise

    async def _follow(self, call: _Call, outcome: JobOutcome, on_progress: ProgressFn | None) -> JobOutcome:
        job_id = outcome.job_id
        last_heard = time.monotonic()
        asked_at: float | None = None
        stems: dict[int, dict[str, str]] = {}
        while True:
            message = None
            with anyio.move_on_after(1.0):
                message = await call.receive()
            now = time.monotonic()
            if message is None:
                if asked_at is None and now - last_heard > QUIET_CHECK_S:
                    await call.send("/musicgen/status", [])  # a queued job sends nothing: is the daemon alive?
                    asked_at = now
                elif asked_at is not None and now - asked_at > PING_TIMEOUT_S * PING_TRIES + 1.0:
                    raise DaemonUnreachable(
                        f"the daemon at {self.host}:{self.port} stopped answering while job {job_id} was waiting "
                        "or running; the daemon's journal keeps the job and runs it again at its next start, and "
                        "its clips then show in recent_clips")
                continue
            last_heard, asked_at = now, None
            address, args = message
            if not args or args[0] != job_id:
                continue  # status answers, pongs, other jobs
            if address == "/musicgen/progress" and on_progress is not None and len(args) > 1:
                await on_progress(float(args[1]), "generating")
            elif address == "/musicgen/stems" and len(args) >= 3:
                pairs = args[3:]
                stems[int(args[1])] = {str(pairs[i]): str(pairs[i + 1]) for i in range(0, len(pairs) - 1, 2)}
            elif address == "/musicgen/done":
                outcome.status = "done"
                outcome.paths = [str(p) for p in args[1:] if p]
                outcome.stems = [stems.get(v + 1, {}) for v in range(len(outcome.paths))] if stems else []
                return outcome
            elif address == "/musicgen/error":
                raise DaemonError(str(args[1]), str(args[2]), job_id)
            elif address == "/musicgen/cancelled":
                raise JobCancelled(job_id)


class _Call:
    """One UDP socket, for one tool call."""

    def __init__(self, sock, ip: str, port: int, token: str | None, shown_host: str):
        self.sock = sock
        self.ip = ip
        self.port = port
        self.token = token
        self.shown_host = shown_host
        self._pending: list[tuple[str, list]] = []

    async def __aenter__(self) -> _Call:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.sock.aclose()

    async def send(self, address: str, args: list) -> None:
        if self.token:
            args = [*args, "token", self.token]
        try:
            await self.sock.sendto(build_message(address, args), self.ip, self.port)
        except OSError as exc:
            raise DaemonUnreachable(f"cannot send to the daemon at {self.shown_host}:{self.port}: "
                                    f"{exc.strerror or exc}") from None

    async def receive(self) -> tuple[str, list]:
        """The next OSC message (bundles flattened); unreadable datagrams and ICMP errors are skipped."""
        pending = self._pending
        while not pending:
            try:
                data, _ = await self.sock.receive()
            except OSError:  # Windows reports an earlier datagram to a closed port (WSAECONNRESET) on receive
                await anyio.sleep(0.05)
                continue
            try:
                pending = parse_packet(data)
            except Exception:
                pending = []
        self._pending = pending[1:]
        return pending[0]

    async def ping(self) -> str:
        for _ in range(PING_TRIES):
            await self.send("/musicgen/ping", [])
            with anyio.move_on_after(PING_TIMEOUT_S):
                while True:
                    address, args = await self.receive()
                    if address == "/musicgen/pong":
                        return str(args[0]) if args else ""
        raise DaemonUnreachable(not_running_sentence(self.shown_host, self.port))

    async def status(self) -> dict[str, Any]:
        await self.send("/musicgen/status", [])
        with anyio.move_on_after(PING_TIMEOUT_S * PING_TRIES):
            while True:
                address, args = await self.receive()
                if address == "/musicgen/status":
                    return parse_status(args)
        raise DaemonUnreachable(not_running_sentence(self.shown_host, self.port))
