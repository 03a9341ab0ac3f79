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


class OscServer:
    """A UDP socket that dispatches OSC messages and sends replies from the same port."""

    def __init__(self, host: str, port: int, on_message: Callable[[str, list, Address], None]):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise OSError(f"cannot listen for OSC on {host}:{port}: {exc.strerror or exc}") from None
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()[:2]
        self.on_message = on_message
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="osc-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self.sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                log.debug("recv failed: %s", exc)  # e.g. ICMP port unreachable from an earlier reply
                continue
            sender = (sender[0], sender[1])
            try:
                messages = parse_packet(data)
            except Exception as exc:
                salvaged = salvage_message(data) if not data.startswith(b"#bundle") else None
                if salvaged is not None:
                    messages = [salvaged]
                else:
                    log.warning("dropped a malformed OSC packet from %s:%d (%d bytes): %s", sender[0], sender[1],
                                len(data), str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                    continue
            for address, args in messages:
                try:
                    self.on_message(address, args, sender)
                except Exception:  # a handler bug must not stop the server
                    log.exception("error while handling %s from %s:%d", address, *sender)

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
                self.sock.sendto(data, target)
        except OSError as exc:
            log.info("cannot send %s to %s:%s: %s", address, target[0], target[1], exc.strerror or exc)
