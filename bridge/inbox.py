"""Requests as files: a folder the daemon polls for ``<id>.json`` (REAPER has no sockets).

Clients write ``<id>.json.tmp`` and rename it to ``<id>.json``; the daemon reads complete files
only, hands each to ``on_request(params, path)``, and removes it once the request is journaled
(or moves it to ``rejected/`` when it cannot be used). Files left while the daemon was down are
picked up at start.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable

from .errors import BAD_REQUEST, RequestError
from .request import ACTIONS

log = logging.getLogger("bridge.inbox")

MAX_REQUEST_BYTES = 4 * 1024 * 1024


class Inbox:
    def __init__(self, folder: Path, on_request: Callable[[dict, Path], None], poll_s: float = 0.25):
        self.folder = Path(folder)
        self.rejected = self.folder / "rejected"
        self.on_request = on_request
        self.poll_s = poll_s
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
        """Handle every complete request file now; returns how many were handled."""
        try:
            names = sorted(os.listdir(self.folder))
        except OSError as exc:
            log.warning("cannot list inbox %s: %s", self.folder, exc.strerror)
            return 0
        handled = 0
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            path = self.folder / name
            if not path.is_file():
                continue
            params = self._read(path)
            if params is None:
                continue
            try:
                self.on_request(params, path)
            except Exception:
                log.exception("inbox request %s failed", name)
                self.reject(path)
            handled += 1
        return handled

    def _read(self, path: Path) -> dict | None:
        try:
            if path.stat().st_size > MAX_REQUEST_BYTES:
                raise ValueError(f"larger than {MAX_REQUEST_BYTES} bytes")
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        except (OSError, ValueError) as exc:
            log.warning("rejected inbox file %s: %s", path.name, exc)
            self.on_request({"__invalid__": str(exc).splitlines()[0] if str(exc) else "unreadable",
                             "id": path.stem}, path)
            return None

    def done(self, path: Path) -> None:
        """The request is journaled: remove its file."""
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    def reject(self, path: Path) -> None:
        """Move an unusable request out of the way (kept for the user to look at)."""
        try:
            self.rejected.mkdir(parents=True, exist_ok=True)
            os.replace(path, self.rejected / path.name)
        except OSError as exc:
            log.warning("cannot move %s to rejected/: %s", path.name, exc.strerror)
            try:
                path.unlink()
            except OSError:
                pass


def request_from_file(data: dict) -> tuple[str, dict[str, Any]]:
    """``(action, keys)`` of a request file's JSON object (``id`` and ``action`` taken out; ``daw``
    defaults to ``reaper``). Raises ``bad_request`` for a file that could not be read as JSON."""
    if "__invalid__" in data:
        raise RequestError(BAD_REQUEST, f"request file is not valid JSON: {data['__invalid__']}")
    params = dict(data)
    action = params.pop("action", "generate")
    params.pop("id", None)
    params.setdefault("daw", "reaper")
    if action not in ACTIONS:
        raise RequestError(BAD_REQUEST, f"action must be generate or continue, got {action!r}")
    return action, params
