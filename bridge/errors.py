"""Errors a user can cause, and the protocol's error codes as named constants.

:class:`RequestError` carries one of the codes below to the client (an ``/musicgen/error`` reply or
an error result file, docs/protocol.md "Error codes"); :class:`CliError` is a command-line failure
printed as one line. Nothing here imports the rest of the package, so every layer can use it.
"""

from __future__ import annotations

BAD_REQUEST = "bad_request"            #: malformed, wrong type, unknown key, out-of-range value
BAD_AUDIO = "bad_audio"                #: missing, unreadable or non-audio file; region outside the file
BAD_MELODY = "bad_melody"              #: no melody model, unreadable melody, notes not sent
UNKNOWN_MODEL = "unknown_model"        #: the request names a model this daemon does not run
UNKNOWN_PRESET = "unknown_preset"
DUPLICATE_ID = "duplicate_id"          #: a job with this id is queued or running
QUEUE_FULL = "queue_full"
FORBIDDEN = "forbidden"                #: a path outside the configured roots
UNAUTHORIZED = "unauthorized"          #: token missing or wrong (logged, never answered)
NOT_FOUND = "not_found"                #: cancel of an unknown id
ALREADY_DONE = "already_done"          #: cancel of a job that has already ended
IO_ERROR = "io_error"                  #: the output folder cannot be written
OUT_OF_MEMORY = "out_of_memory"        #: the job does not fit in the device's free memory
GENERATION_FAILED = "generation_failed"
STEMS_UNAVAILABLE = "stems_unavailable"  #: stems asked for without the [stems] extra

#: Every code a client can receive, in the order docs/protocol.md lists them.
CODES = (BAD_REQUEST, BAD_AUDIO, BAD_MELODY, UNKNOWN_MODEL, UNKNOWN_PRESET, DUPLICATE_ID, QUEUE_FULL,
         FORBIDDEN, UNAUTHORIZED, NOT_FOUND, ALREADY_DONE, IO_ERROR, OUT_OF_MEMORY, GENERATION_FAILED, STEMS_UNAVAILABLE)


class RequestError(ValueError):
    """A request that cannot be served: ``code`` (one of :data:`CODES`) and a one-line message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class CliError(Exception):
    """A user-facing command-line failure: printed as one line, exit code 1."""
