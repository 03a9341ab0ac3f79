"""File operations that survive a file being briefly in use (Windows).

On Windows, antivirus scanners, search indexers and DAWs open new files for a moment; renaming or
deleting such a file fails with "file in use" (WinError 32, sharing violation) or "access denied"
(WinError 5). These helpers retry such failures for a bounded time and then give up with the
original error, so a job ends with ``io_error`` instead of crashing. Elsewhere the errors never
carry a ``winerror`` and nothing is retried. No library does this for plain ``os`` calls.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, TypeVar

#: Windows error numbers that mean "someone else has the file open right now".
IN_USE_WINERRORS = (5, 32, 33)  # access denied, sharing violation, lock violation
RETRY_FOR_S = 2.0
RETRY_STEP_S = 0.05

T = TypeVar("T")


def is_in_use(exc: BaseException) -> bool:
    """Whether ``exc`` is Windows' "file in use" (worth retrying), judged by its ``winerror``."""
    return isinstance(exc, OSError) and getattr(exc, "winerror", None) in IN_USE_WINERRORS


def retry_in_use(op: Callable[[], T], *, retry_for_s: float = RETRY_FOR_S, sleep=time.sleep) -> T:
    """Run ``op``; while it fails with "file in use", retry for up to ``retry_for_s`` seconds."""
    waited = 0.0
    while True:
        try:
            return op()
        except OSError as exc:
            if not is_in_use(exc) or waited >= retry_for_s:
                raise
        sleep(RETRY_STEP_S)
        waited += RETRY_STEP_S


def replace(src: Path, dst: Path) -> None:
    """``os.replace`` with retries on "file in use"."""
    retry_in_use(lambda: os.replace(src, dst))


def unlink_quietly(path: Path) -> bool:
    """Delete ``path`` if it exists (retrying "file in use"); False when it could not be deleted."""
    try:
        retry_in_use(lambda: Path(path).unlink(missing_ok=True))
        return True
    except OSError:
        return False


def write_bytes_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file and flush it to disk; a failed write leaves no file behind."""
    try:
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        unlink_quietly(path)
        raise
