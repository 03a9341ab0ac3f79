"""Requests as files: a folder the daemon polls for ``<id>.json`` (REAPER has no sockets).

Clients write ``<id>.json.tmp`` and rename it to ``<id>.json``; the daemon reads complete files
only, in name order, hands each to ``on_request(params, path)``, and removes it once the request
is journaled (or moves it to ``rejected/`` when it cannot be used). A file in the inbox is already
durable, so while the queue is full the files simply wait there (``on_request`` returns
:data:`WAIT`), and are taken in order as the queue drains. Files left while the daemon was down are
picked up at start. Anything that is not a regular file (a folder, a FIFO, a link) is moved aside
unread.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .errors import BAD_REQUEST, RequestError
from .request import ACTIONS

log = logging.getLogger("bridge.inbox")

MAX_REQUEST_BYTES = 4 * 1024 * 1024
#: What ``on_request`` returns to leave a file in the inbox for a later poll (the queue is full).
WAIT = "wait"


class Inbox:
    def __init__(self, folder: Path, on_request: Callable[[dict, Path], str | None], poll_s: float = 0.25):
        self.folder = Path(folder)
        self.rejected = self.folder / "rejected"
        self.on_request = on_request
        self.poll_s = poll_s
        self.waiting = 0  # request files left for a later poll by the last poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="inbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("inbox poll failed")
            self._stop.wait(self.poll_s)

    def poll_once(self) -> int:
        """Handle complete request files in name order until one must wait; returns how many were handled."""
        try:
            names = sorted(n for n in os.listdir(self.folder) if n.endswith(".json") and not n.startswith("."))
        except OSError as exc:
            log.warning("cannot list inbox %s: %s", self.folder, exc.strerror)
            return 0
        handled = 0
        for i, name in enumerate(names):
            path = self.folder / name
            try:
                params = self._read(path)
            except FileNotFoundError:
                continue  # taken away meanwhile
            except _Unusable as exc:
                log.warning("rejected inbox file %s: %s", name, exc)
                params = {"__invalid__": str(exc), "id": path.stem}
            try:
                if self.on_request(params, path) == WAIT:
                    self.waiting = len(names) - i
                    return handled
            except Exception:
                log.exception("inbox request %s failed", name)
                self.reject(path)
            handled += 1
        self.waiting = 0
        return handled

    def _read(self, path: Path) -> dict:
        """The JSON object of a request file (raises :class:`_Unusable` saying why it cannot be one).

        Opened without following links and without blocking, then checked on the open file, so a
        FIFO or a device put in the inbox can neither hang nor fool the daemon."""
        if os.path.islink(path):
            raise _Unusable("a link, not a request file (write the file itself, then rename it)")
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_BINARY", 0))
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _Unusable("a folder, not a request file" if os.path.isdir(path)
                            else f"cannot be opened ({exc.strerror})") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_REQUEST_BYTES:
            os.close(fd)
            if stat.S_ISDIR(st.st_mode):
                raise _Unusable("a folder, not a request file")
            raise _Unusable("not a regular file" if not stat.S_ISREG(st.st_mode) else f"larger than {MAX_REQUEST_BYTES} bytes")
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_REQUEST_BYTES + 1)
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise _Unusable(f"not valid JSON: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}") from None
        if not isinstance(data, dict):
            raise _Unusable("not valid JSON: not a JSON object")
        return data

    def done(self, path: Path) -> None:
        """The request is journaled: remove its file."""
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    def reject(self, path: Path) -> None:
        """Move an unusable request out of the way (kept for the user to look at)."""
        target = self.rejected / path.name
        try:
            self.rejected.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(target):
                target = self.rejected / f"{path.stem}.{time.time_ns()}{path.suffix}"
            os.replace(path, target)
        except OSError as exc:
            log.warning("cannot move %s to rejected/: %s", path.name, exc.strerror)
            try:
                path.unlink()
            except OSError:
                pass


class _Unusable(Exception):
    """A file in the inbox that is not a request (the message says why)."""


def request_from_file(data: dict) -> tuple[str, dict[str, Any]]:
    """``(action, keys)`` of a request file's JSON object (``id`` and ``action`` taken out; ``daw``
    defaults to ``reaper``). Raises ``bad_request`` for a file that could not be used."""
    if "__invalid__" in data:
        raise RequestError(BAD_REQUEST, f"unusable request file: {data['__invalid__']}")
    params = dict(data)
    action = params.pop("action", "generate")
    params.pop("id", None)
    params.setdefault("daw", "reaper")
    if action not in ACTIONS:
        raise RequestError(BAD_REQUEST, f"action must be generate or continue, got {action!r}")
    return action, params
