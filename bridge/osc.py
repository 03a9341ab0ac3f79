"""OSC over UDP: receive requests, send replies (python-osc for the wire format).

The server reads datagrams itself so that nothing a client sends can stop it: every packet is
parsed inside a try block, bundles are flattened, and each message goes to ``on_message`` with
the sender's address. Replies always use 32-bit floats (``f``): Max's ``udpreceive`` decodes
doubles as 0.

python-osc refuses a whole message when one string is not valid UTF-8, and then the client would
never hear why. :func:`salvage_message` (written here: no library decodes a message it calls
invalid) reads such a message again with each bad string replaced by an :class:`UndecodableString`,
so the handlers can answer ``bad_request`` naming the argument, with the id echoed.
"""

from __future__ import annotations

import logging
import selectors
import socket
import struct
import threading
from typing import Any, Callable

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

log = logging.getLogger("bridge.osc")

#: Largest datagram the server reads; bigger ones are truncated by the OS and fail to parse.
MAX_DATAGRAM = 65536
#: Reply datagrams above this are refused by macOS by default (net.inet.udp.maxdgram = 9216).
SAFE_DATAGRAM = 8192

Address = tuple[str, int]


def build_message(address: str, args: list[Any]) -> bytes:
    """Encode an OSC message: str -> s, bool/int -> i, float -> f (32-bit), bytes -> b."""
    builder = OscMessageBuilder(address=address)
    for arg in args:
        if isinstance(arg, bool):
            builder.add_arg(int(arg), OscMessageBuilder.ARG_TYPE_INT)
        elif isinstance(arg, int):
            if -(2**31) <= arg < 2**31:
                builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_INT)
            else:
                builder.add_arg(float(arg), OscMessageBuilder.ARG_TYPE_FLOAT)
        elif isinstance(arg, float):
            builder.add_arg(arg, OscMessageBuilder.ARG_TYPE_FLOAT)
        elif isinstance(arg, (bytes, bytearray)):
            builder.add_arg(bytes(arg), OscMessageBuilder.ARG_TYPE_BLOB)
        else:
            builder.add_arg(str(arg), OscMessageBuilder.ARG_TYPE_STRING)
    return builder.build().dgram


def parse_packet(data: bytes) -> list[tuple[str, list[Any]]]:
    """Decode a datagram (message or bundle, nested bundles flattened) into (address, args)."""
    packet = OscPacket(data)
    return [(m.message.address, list(m.message.params)) for m in packet.messages]


class UndecodableString(bytes):
    """A string argument (its raw bytes) that is not valid UTF-8."""


def _osc_string(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\0", pos)
    return data[pos:end], (end + 4) & ~3


def salvage_message(data: bytes) -> tuple[str, list[Any]] | None:
    """Decode a single (non-bundle) message whose strings may be invalid UTF-8; None when the
    packet is malformed in any other way. Types: i f d h s S b T F N I c."""
    try:
        raw, pos = _osc_string(data, 0)
        address = raw.decode("utf-8")
        if not address.startswith("/"):
            return None
        tags, pos = _osc_string(data, pos)
        if not tags.startswith(b","):
            return None
        args: list[Any] = []
        fixed = {b"i": (">i", 4), b"f": (">f", 4), b"d": (">d", 8), b"h": (">q", 8), b"c": (">I", 4)}
        for tag in (tags[1:][i:i + 1] for i in range(len(tags) - 1)):
            if tag in fixed:
                fmt, size = fixed[tag]
                args.append(struct.unpack_from(fmt, data, pos)[0])
                pos += size
            elif tag in (b"s", b"S"):
                raw, pos = _osc_string(data, pos)
                try:
                    args.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    args.append(UndecodableString(raw))
            elif tag == b"b":
                (size,) = struct.unpack_from(">i", data, pos)
                args.append(data[pos + 4:pos + 4 + size])
                pos += 4 + ((size + 3) & ~3)
            elif tag in (b"T", b"F", b"N", b"I"):
                args.append({b"T": True, b"F": False, b"N": None, b"I": float("inf")}[tag])
            else:
                return None
        return (address, args) if pos <= len(data) else None
    except (ValueError, struct.error, UnicodeDecodeError):
        return None


#: Hosts that mean "this machine": the server listens on both loopback families for them, since
#: macOS resolves ``localhost`` to ::1 first and a client's packets would otherwise vanish.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "ip6-localhost")


def bind_addresses(host: str) -> list[str]:
    """The addresses to listen on for ``host``: both loopbacks (IPv4 first) for a loopback host."""
    if host in LOOPBACK_HOSTS:
        return ["127.0.0.1", "::1"]
    return [host]


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class OscServer:
    """UDP sockets that dispatch OSC messages and send replies from the port the request came to.

    For a loopback ``host`` it listens on 127.0.0.1 and, where the machine has IPv6, on ::1 with
    the same port; a reply leaves from the socket of its target's family.
    """

    def __init__(self, host: str, port: int, on_message: Callable[[str, list, Address], None]):
        self.socks: list[socket.socket] = []
        for i, bind_host in enumerate(bind_addresses(host)):
            sock = socket.socket(_family(bind_host), socket.SOCK_DGRAM)
            try:
                sock.bind((bind_host, port))
            except OSError as exc:
                sock.close()
                if i == 0:
                    raise OSError(f"cannot listen for OSC on {bind_host}:{port}: {exc.strerror or exc}") from None
                log.info("not listening on %s:%d as well (%s)", bind_host, port, exc.strerror or exc)
                continue
            sock.setblocking(False)
            self.socks.append(sock)
            if i == 0:
                port = sock.getsockname()[1]  # the second family takes the same port (also for port 0)
        self.address = self.socks[0].getsockname()[:2]
        self.on_message = on_message
        self._selector = selectors.DefaultSelector()
        for sock in self.socks:
            self._selector.register(sock, selectors.EVENT_READ)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="osc-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self._wake_w.send(b"x")  # wakes the selector at once
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._selector.close()
        for sock in (*self.socks, self._wake_r, self._wake_w):
            sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=1.0):
                if key.fileobj is self._wake_r:
                    return
                self._receive(key.fileobj)

    def _receive(self, sock: socket.socket) -> None:
        try:
            data, sender = sock.recvfrom(MAX_DATAGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("recv failed: %s", exc)  # e.g. ICMP port unreachable from an earlier reply
            return
        sender = (sender[0], sender[1])
        try:
            messages = parse_packet(data)
        except Exception as exc:
            salvaged = salvage_message(data) if not data.startswith(b"#bundle") else None
            if salvaged is None:
                log.warning("dropped a malformed OSC packet from %s:%d (%d bytes): %s", sender[0], sender[1],
                            len(data), str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                return
            messages = [salvaged]
        for address, args in messages:
            try:
                self.on_message(address, args, sender)
            except Exception:  # a handler bug must not stop the server
                log.exception("error while handling %s from %s:%d", address, *sender)

    def _sock_for(self, target: Address) -> socket.socket:
        family = _family(target[0])
        return next((s for s in self.socks if s.family == family), self.socks[0])

    def send(self, target: Address, address: str, args: list[Any]) -> None:
        """Send one message; failures are logged, never raised."""
        try:
            data = build_message(address, args)
        except Exception as exc:
            log.error("cannot encode %s: %s", address, exc)
            return
        if len(data) > SAFE_DATAGRAM:
            log.warning("%s reply is %d bytes; macOS drops UDP datagrams over 9216 bytes", address, len(data))
        try:
            with self._send_lock:
                self._sock_for(target).sendto(data, target)
        except OSError as exc:
            log.info("cannot send %s to %s:%s: %s", address, target[0], target[1], exc.strerror or exc)
