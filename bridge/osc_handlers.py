"""OSC verbs: what each ``/musicgen/<verb>`` message does (docs/protocol.md, "OSC").

:class:`OscHandlers` is the ``on_message`` of :class:`bridge.osc.OscServer`: a table from verb to
handler, like python-osc's dispatcher. Each handler reads its arguments, finds the reply target
(the sender, or ``reply_host``/``reply_port``), checks the token and calls the daemon. A refused
message is answered with ``/musicgen/error <id> <code> <message>``, the id echoed when one could be
read; unauthorized messages are only logged.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from . import __version__
from .admission import token_ok
from .errors import BAD_REQUEST, RequestError
from .osc import UndecodableString
from .request import ID_RE

log = logging.getLogger("bridge.osc_handlers")

PREFIX = "/musicgen/"
Address = tuple[str, int]
#: Trailing keys ``/musicgen/notes`` accepts after its numbers.
NOTES_OPTIONS = ("token", "reply_host", "reply_port")
JAM_COMMANDS = ("start", "prompt", "stop", "launched")


class _Unauthorized(Exception):
    pass


class _Call:
    """One message being handled: the id to echo in an error and where to reply."""

    def __init__(self, args: list, sender: Address, id_first: bool):
        first = args[0] if args and isinstance(args[0], str) else ""
        self.req_id = first if id_first else ""
        self.echo_id = first if id_first and ID_RE.match(first or "-!") else ""
        self.target = sender
        self.sender = sender


class OscHandlers:
    """``daemon`` provides ``submit``, ``cancel``, ``status_args`` and ``admission.notes``;
    ``send(target, address, args)`` sends one reply; ``token`` (or None) is required in every message."""

    def __init__(self, daemon, send: Callable[[Address, str, list], None], token: str | None):
        self.daemon = daemon
        self.send = send
        self.token = token
        # verb -> (handler, whether the first argument is the request id)
        self.verbs: dict[str, tuple[Callable[[str, list, _Call], None], bool]] = {
            "generate": (self.request, True),
            "continue": (self.request, True),
            "notes": (self.notes, True),
            "cancel": (self.cancel, True),
            "ping": (self.ping, False),
            "status": (self.status, False),
            "jam": (self.jam, True),
        }

    def __call__(self, address: str, args: list, sender: Address) -> None:
        if not address.startswith(PREFIX):
            log.info("ignored OSC address %s from %s:%d", address, *sender)
            return
        verb = address[len(PREFIX):]
        handler, id_first = self.verbs.get(verb, (None, True))
        call = _Call(args, sender, id_first)
        try:
            if handler is None:
                raise RequestError(BAD_REQUEST, f"unknown address {address}")
            for i, arg in enumerate(args):
                if isinstance(arg, UndecodableString):
                    raise RequestError(BAD_REQUEST, f"argument {i + 1} of {address} is not valid UTF-8")
            handler(verb, args, call)
        except _Unauthorized:
            return
        except RequestError as exc:
            self.send(call.target, "/musicgen/error", [call.echo_id, exc.code, exc.message])
            if handler == self.request:
                log.info("refused %s %s: %s (%s)", verb, call.req_id or "?", exc.message, exc.code)

    # --- helpers ----------------------------------------------------------------------------

    def authorize(self, params: dict, sender: Address, what: str) -> None:
        """Raise (silently: no reply) unless the message carries the configured token."""
        if not token_ok(params, self.token):
            log.warning("unauthorized %s from %s:%d (missing or wrong token); not served", what, *sender)
            raise _Unauthorized()

    def _options(self, pairs: list, call: _Call, what: str) -> dict:
        """Key/value ``pairs`` -> dict; sets the reply target and checks the token."""
        params = pairs_to_dict(pairs)
        call.target = reply_target(params, call.sender)
        self.authorize(params, call.sender, what)
        return params

    # --- verbs ------------------------------------------------------------------------------

    def request(self, verb: str, args: list, call: _Call) -> None:
        """``/musicgen/generate <id> <prompt> [key value]...``, ``/musicgen/continue <id> <audio_path> ...``"""
        if len(args) < 2 or not isinstance(args[0], str) or not isinstance(args[1], str):
            second = "audio_path" if verb == "continue" else "prompt"
            raise RequestError(BAD_REQUEST, f"/musicgen/{verb} needs <id:s> <{second}:s> [key value]...")
        params = self._options(args[2:], call, f"/musicgen/{verb} {call.req_id}")
        if verb == "continue":
            params["audio_path"] = args[1]
        elif args[1].strip():
            params["prompt"] = args[1]  # an empty prompt leaves a preset's prompt in place
        job, position = self.daemon.submit(params, action=verb, req_id=call.req_id, source="osc", reply=call.target)
        self.send(call.target, "/musicgen/accepted", [job.id, position])

    def notes(self, verb: str, args: list, call: _Call) -> None:
        """``/musicgen/notes <id> pitch start_beats length_beats velocity ... [token T] [reply_host H] [reply_port P]``"""
        if not call.echo_id:
            raise RequestError(BAD_REQUEST, "/musicgen/notes needs <id:s> then pitch start_beats length_beats velocity ...")
        body, opts = list(args[1:]), []
        while len(body) >= 2 and body[-2] in NOTES_OPTIONS:
            opts += body[-2:]
            body = body[:-2]
        self._options(opts, call, f"/musicgen/notes {call.req_id}")
        self.daemon.admission.notes.add(call.req_id, body)

    def cancel(self, verb: str, args: list, call: _Call) -> None:
        """``/musicgen/cancel <id>``"""
        self._options(args[1:], call, f"/musicgen/cancel {call.req_id}")
        self.daemon.cancel(call.req_id)  # answered by /musicgen/cancelled, or raises

    def jam(self, verb: str, args: list, call: _Call) -> None:
        """``/musicgen/jam <id> start|prompt <text>|stop|launched [key value]...`` (bridge/jam.py)"""
        if not call.echo_id or len(args) < 2 or args[1] not in JAM_COMMANDS:
            raise RequestError(BAD_REQUEST, "/musicgen/jam needs <id:s> then start, prompt <text:s>, stop or launched")
        command, rest = args[1], args[2:]
        if command == "prompt":
            if not rest or not isinstance(rest[0], str):
                raise RequestError(BAD_REQUEST, "/musicgen/jam <id> prompt needs the new prompt (a string)")
            text, rest = rest[0], rest[1:]
        params = self._options(rest, call, f"/musicgen/jam {call.req_id} {command}")
        jams = self.daemon.jams
        if command == "start":
            jams.start(call.req_id, {k: v for k, v in params.items() if k != "token"}, reply=call.target)
        elif command == "prompt":
            self.send(call.target, "/musicgen/jam_prompt", [call.req_id, jams.set_prompt(call.req_id, text)])
        elif command == "stop":
            jams.stop(call.req_id, finish=params.get("finish", 0) in (1, True, "1", "true"))
        else:
            jams.launched(call.req_id)

    def ping(self, verb: str, args: list, call: _Call) -> None:
        self._options(args, call, PREFIX + verb)
        self.send(call.target, "/musicgen/pong", [__version__])

    def status(self, verb: str, args: list, call: _Call) -> None:
        self._options(args, call, PREFIX + verb)
        self.send(call.target, "/musicgen/status", self.daemon.status_args())


def pairs_to_dict(args: list) -> dict[str, Any]:
    """``[k1, v1, k2, v2, ...]`` -> dict; keys must be strings."""
    if len(args) % 2:
        raise RequestError(BAD_REQUEST, "trailing arguments must be key value pairs")
    out = {}
    for i in range(0, len(args), 2):
        key = args[i]
        if not isinstance(key, str):
            raise RequestError(BAD_REQUEST, f"expected a key (string) at argument {i + 3}, got {args[i]!r}")
        out[key] = args[i + 1]
    return out


def reply_target(params: dict, sender: Address) -> Address:
    """Where to answer: ``reply_host``/``reply_port`` when given, else the sender."""
    host = params.get("reply_host", sender[0])
    port = params.get("reply_port", sender[1])
    if not isinstance(host, str) or not host:
        raise RequestError(BAD_REQUEST, "reply_host must be a host name or address")
    if isinstance(port, float) and port.is_integer():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise RequestError(BAD_REQUEST, "reply_port must be 1-65535")
    return host, port
