"""The worker's HTTP API (docs/protocol.md "Worker API"), a Starlette app.

``POST /v1/generate`` takes one job as JSON and answers with a stream of server-sent events
(sse-starlette) until the job ends; ``GET /v1/jobs/{key}/events`` re-attaches to a job after a
dropped connection; ``DELETE /v1/jobs/{key}`` cancels; ``GET /v1/info`` tells the model and the
queue. Every route wants ``Authorization: Bearer <token>`` when the worker has a token (compared
in constant time). Bodies over the limit are refused (413) before they are read whole.

The same app runs under uvicorn (``musicgen-bridge worker``) and as a Ray Serve ingress
(:mod:`bridge.remote.farm`); the job runner is found in ``app.state.runner``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import platform

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .. import __version__
from .jobs import TERMINAL, JobRunner
from .wire import (
    API,
    BAD_REQUEST,
    BUSY,
    MAX_BODY_BYTES,
    NOT_FOUND,
    PREFIX,
    SHUTTING_DOWN,
    TOO_LARGE,
    UNAUTHORIZED,
    WireError,
    error_body,
    parse_body,
)

log = logging.getLogger("bridge.remote")

_STATUS = {BAD_REQUEST: 400, UNAUTHORIZED: 401, NOT_FOUND: 404, TOO_LARGE: 413, BUSY: 429, SHUTTING_DOWN: 503}


def _error(code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=_STATUS.get(code, 500), headers=headers)


def _authorized(request: Request) -> bool:
    token = request.app.state.token
    if not token:
        return True
    got = request.headers.get("authorization", "")
    scheme, _, value = got.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _refuse_unauthorized(request: Request) -> JSONResponse:
    client = request.client.host if request.client else "?"
    log.warning("refused %s %s from %s: missing or wrong token", request.method, request.url.path, client)
    return _error(UNAUTHORIZED, "missing or wrong token (send Authorization: Bearer <token>)")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise WireError(TOO_LARGE, f"the request body is {int(declared)} bytes; this worker takes at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WireError(TOO_LARGE, f"the request body is over {limit} bytes, the most this worker takes")
        chunks.append(chunk)
    return b"".join(chunks)


def worker_info(runner: JobRunner) -> dict:
    import torch
    import transformers

    engine = {**runner.engine.describe(), "frame_rate": runner.engine.loaded.frame_rate}
    return {"api": API, "musicgen_bridge": __version__, "engine": engine,
            "worker": {"id": runner.worker_id, "host": runner.host},
            "queue": runner.info(),
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "python": platform.python_version()}}


async def info(request: Request):
    if not _authorized(request):
        return _refuse_unauthorized(request)
    return JSONResponse(worker_info(request.app.state.runner))


async def generate(request: Request):
    if not _authorized(request):
        return _refuse_unauthorized(request)
    runner: JobRunner = request.app.state.runner
    try:
        raw = await _read_body(request, request.app.state.max_body_bytes)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise WireError(BAD_REQUEST, "the body is not JSON") from None
        spec = parse_body(body)
        job = runner.submit(spec)
    except WireError as exc:
        headers = {"Retry-After": str(int(round(runner.retry_after_s())))} if exc.code == BUSY else None
        if exc.code == BUSY:
            return JSONResponse({**error_body(exc.code, exc.message), "retry_after_s": runner.retry_after_s()},
                                status_code=429, headers=headers)
        return _error(exc.code, exc.message, headers)
    return _stream(job, request)


async def events(request: Request):
    if not _authorized(request):
        return _refuse_unauthorized(request)
    job = request.app.state.runner.jobs.get(request.path_params["key"])
    if job is None:
        return _error(NOT_FOUND, f"no job {request.path_params['key']!r} on this worker")
    return _stream(job, request)


async def cancel(request: Request):
    if not _authorized(request):
        return _refuse_unauthorized(request)
    state = request.app.state.runner.cancel(request.path_params["key"])
    if state is None:
        return _error(NOT_FOUND, f"no job {request.path_params['key']!r} on this worker")
    return JSONResponse({"key": request.path_params["key"], "state": state})


def _stream(job, request: Request):
    from sse_starlette.sse import EventSourceResponse, ServerSentEvent

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def send(event: str, data: str) -> None:  # from the generation thread
        loop.call_soon_threadsafe(queue.put_nowait, (event, data))

    async def gen():
        try:
            yield ServerSentEvent(data=json.dumps({"key": job.key}), event="job")
            for event, data in job.attach(send):
                yield ServerSentEvent(data=data, event=event)
                if event in TERMINAL:
                    return
            while True:
                event, data = await queue.get()
                yield ServerSentEvent(data=data, event=event)
                if event in TERMINAL:
                    return
        finally:
            job.detach(send)

    return EventSourceResponse(gen(), ping=5, headers={"X-Job-Key": job.key})


def build_app(runner: JobRunner | None = None, *, token: str | None = None,
              max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The worker app; ``runner`` may be set later as ``app.state.runner`` (Ray replicas)."""
    routes = [Route(f"{PREFIX}/info", info, methods=["GET"]),
              Route(f"{PREFIX}/generate", generate, methods=["POST"]),
              Route(f"{PREFIX}/jobs/{{key}}/events", events, methods=["GET"]),
              Route(f"{PREFIX}/jobs/{{key}}", cancel, methods=["DELETE"])]
    app = Starlette(routes=routes)
    app.state.runner = runner
    app.state.token = token
    app.state.max_body_bytes = max_body_bytes
    return app
