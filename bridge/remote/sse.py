"""Reading a server-sent event stream from a file-like HTTP response.

Written by hand because the standard library has no SSE reader and the daemon side should need
no package beyond the standard library to talk to a worker (``http.client``). It follows the
WHATWG "event stream interpretation" for what a worker sends: ``event:``, ``data:`` (joined with
newlines), comments (``:``, the keep-alive pings) and a blank line that ends an event.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO


def iter_events(stream: BinaryIO) -> Iterator[tuple[str, str]]:
    """Yield ``(event, data)`` until the stream ends (an unfinished last event is dropped)."""
    event, data = "", []
    while True:
        raw = stream.readline()
        if not raw:
            return
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
