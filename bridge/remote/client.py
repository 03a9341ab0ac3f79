""":class:`RemoteEngine`: an engine whose generation runs on workers elsewhere.

It has the local :class:`bridge.engine.Engine`'s interface (``generate``, ``describe``, ``sr``,
``channels``, ``decoder`` and a ``loaded`` record), so the daemon's render step, previews,
progress, cancel and stems work unchanged; only conditioning goes out and audio comes back.

One job, many workers: each job tries the workers in turn (starting from the next one, so
consecutive jobs spread). A worker that is busy (429/503), down (refused connection) or lost
mid-job (the stream ends without a result) is skipped; when every worker is unavailable the job
waits and tries again, calling the progress hook all along so a cancel or a daemon shutdown stops
it. The job is never dropped and ``generate`` returns at most once, so it is delivered once. A job
carries an idempotency key: a connection lost while the worker lives finds the same job again.

HTTP is the standard library's ``http.client`` (nothing to install on the DAW's machine).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import queue
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from ..engine import SHORT_NAMES, Conditioning, GenerationOutput, Sampling
from ..engine.generation import MAX_DURATION_S, MAX_VARIATIONS, WINDOW_S
from .sse import iter_events
from .wire import PREFIX, JobSpec, build_body, decode_array

log = logging.getLogger("bridge.remote")

TOKEN_ENV = "MUSICGEN_BRIDGE_ENGINE_TOKEN"
#: Seconds to wait for a worker to accept a connection and answer a request's head.
CONNECT_TIMEOUT_S = 10.0
#: A stream silent this long is a lost worker (workers send a keep-alive every 5 s).
STREAM_SILENCE_S = 30.0
#: Waits between rounds when every worker is unavailable grow up to this.
MAX_WAIT_S = 5.0
#: The progress hook is called at least this often while waiting (cancel, shutdown).
HOOK_TICK_S = 0.25


class RemoteEngineError(RuntimeError):
    """No usable worker (at start), or a worker refused a job for good; one line."""


@dataclass
class RemoteModel:
    """What the daemon needs to know about the workers' model (a :class:`LoadedModel` look-alike)."""

    spec: str
    source: str
    device: str
    dtype: str
    is_melody: bool
    sr: int
    channels: int
    frame_rate: int

    def is_named(self, spec: str) -> bool:
        return spec in (self.spec, self.source) or SHORT_NAMES.get(spec) == self.source


@dataclass
class Endpoint:
    url: str
    scheme: str
    host: str
    port: int
    base: str                       # path prefix before /v1 (a Ray route prefix), no trailing /
    info: dict | None = None
    state: str = "unknown"          # unknown, ok, busy, down, refused, other_model
    note: str = ""
    retry_at: float = 0.0

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        url = url.strip()
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"engine URL {url!r} must look like http://HOST:PORT or https://HOST:PORT")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"engine URL {url!r} has a bad port") from None
        base = parts.path.rstrip("/")
        base = base.removesuffix(PREFIX)
        return cls(url=url, scheme=parts.scheme, host=parts.hostname, port=port, base=base)


def parse_engine_urls(value) -> list[str]:
    """``"URL,URL"`` or a list of URLs as a checked list (ValueError names a bad one)."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    urls = [str(u).strip() for u in items if str(u).strip()]
    for u in urls:
        Endpoint.parse(u)
    if not urls:
        raise ValueError("engine needs at least one URL")
    return urls


class _Unavailable(Exception):
    def __init__(self, state: str, note: str, retry_after_s: float = 0.0, new_key: bool = False):
        super().__init__(note)
        self.state, self.note, self.retry_after_s, self.new_key = state, note, retry_after_s, new_key


@dataclass
class _Attempt:
    progress: float = 0.0
    preview: np.ndarray | None = None
    counters: dict = field(default_factory=lambda: {"sent": 0, "received": 0})


class RemoteEngine:
    """Generation on workers at ``urls`` (``musicgen-bridge worker`` or a Ray Serve farm)."""

    def __init__(self, urls: list[str], *, token: str | None = None, ca_file: str | None = None,
                 connect_timeout_s: float = CONNECT_TIMEOUT_S):
        self.endpoints = [Endpoint.parse(u) for u in urls]
        self.token = token or os.environ.get(TOKEN_ENV) or None
        self.connect_timeout_s = connect_timeout_s
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else None
        self._next = 0
        self.loaded: RemoteModel | None = None
        self._info: dict = {}
        #: bytes sent and received by the last job (bench/remote.py reads it)
        self.last_job_bytes = {"sent": 0, "received": 0}

    # --- the engine interface ---------------------------------------------------------------

    @property
    def sr(self) -> int:
        return self.loaded.sr

    @property
    def channels(self) -> int:
        return self.loaded.channels

    @property
    def decoder(self) -> str:
        return self._info.get("engine", {}).get("decoder", "remote")

    def describe(self) -> dict:
        d = dict(self._info.get("engine", {}))
        d["engine"] = ",".join(e.url for e in self.endpoints)
        return d

    def connect(self) -> RemoteEngine:
        """Ask every worker what it runs; the first that answers sets the model. Raises
        :class:`RemoteEngineError` when none answers."""
        problems = []
        for ep in self.endpoints:
            try:
                self._check(ep)
            except _Unavailable as exc:
                ep.state, ep.note = exc.state, exc.note
                problems.append(f"{ep.url}: {exc.note}")
                log.warning("engine %s: %s", ep.url, exc.note)
        if self.loaded is None:
            raise RemoteEngineError("no engine worker answers: " + "; ".join(problems) +
                                    " (start `musicgen-bridge worker` there, or check --engine and --engine-token)")
        return self

    def generate(self, cond: Conditioning, duration_s: float, sampling: Sampling, *, seed: int,
                 variations: int = 1, hook: Callable[[float], None] | None = None,
                 preview: Callable[[np.ndarray], None] | None = None) -> GenerationOutput:
        """As :meth:`bridge.engine.Engine.generate`, on the first worker that takes the job."""
        lm = self.loaded
        if not (math.isfinite(duration_s) and 0 < duration_s <= MAX_DURATION_S):
            raise ValueError(f"duration must be in (0, {MAX_DURATION_S:g}] seconds, got {duration_s}")
        if not 1 <= variations <= MAX_VARIATIONS:
            raise ValueError(f"variations must be 1-{MAX_VARIATIONS}, got {variations}")
        if cond.chroma is not None and not lm.is_melody:
            raise ValueError(f"model {lm.spec!r} takes no melody; load a melody model (e.g. --model melody)")
        spec = JobSpec(prompt=cond.prompt, duration_s=float(duration_s), seed=int(seed), variations=int(variations),
                       top_k=int(sampling.top_k), top_p=float(sampling.top_p), temperature=float(sampling.temperature),
                       cfg=float(sampling.cfg), preview=preview is not None, chroma=cond.chroma)
        prompt_samples = 0
        if cond.prompt_audio is not None:
            # the engine drops the start to whole codec frames and never looks back more than one
            # window: only that much crosses the network, and the result is the same
            hop = lm.sr // lm.frame_rate
            usable = (cond.prompt_audio.shape[1] // hop) * hop
            if usable <= 0:
                raise ValueError(f"the audio region is too short to continue (under {hop} samples)")
            prompt_samples = usable
            keep = min(usable, int(WINDOW_S * lm.frame_rate) * hop)
            spec.prompt_audio = cond.prompt_audio[:, cond.prompt_audio.shape[1] - keep:]
            spec.prompt_sr = lm.sr
        state = _Attempt()
        attempts = 0
        delay = 0.5
        t0 = time.perf_counter()
        key = f"mgb-{uuid.uuid4().hex}"
        while True:
            order = self.endpoints[self._next:] + self.endpoints[:self._next]
            self._next = (self._next + 1) % len(self.endpoints)
            hints = []
            for ep in order:
                if ep.state in ("refused", "other_model") and time.monotonic() < ep.retry_at:
                    continue
                attempts += 1
                spec.key = key
                try:
                    out = self._attempt(ep, spec, state, hook, preview)
                except _Unavailable as exc:
                    self._mark(ep, exc)
                    if exc.new_key:
                        key = f"mgb-{uuid.uuid4().hex}"
                    if exc.retry_after_s:
                        hints.append(exc.retry_after_s)
                    continue
                ep.state, ep.note = "ok", ""
                out.prompt_samples = prompt_samples
                out.timings["remote_s"] = round(time.perf_counter() - t0, 3)
                out.engine["attempts"] = attempts
                self.last_job_bytes = dict(state.counters)
                return out
            wait_s = min(hints) if hints else delay
            delay = min(MAX_WAIT_S, delay * 2)
            self._wait(min(wait_s, MAX_WAIT_S), hook, state.progress)

    # --- one try on one worker --------------------------------------------------------------

    def _attempt(self, ep: Endpoint, spec: JobSpec, state: _Attempt, hook, preview) -> GenerationOutput:
        if ep.info is None:
            self._check(ep)
        body = json.dumps(build_body(spec)).encode()
        conn = self._connection(ep)
        try:
            try:
                conn.request("POST", f"{ep.base}{PREFIX}/generate", body=body,
                             headers={**self._headers(), "Content-Type": "application/json",
                                      "Accept": "text/event-stream"})
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise _Unavailable("down", f"cannot reach the worker: {_reason(exc)}") from None
            state.counters["sent"] += len(body)
            if resp.status != 200:
                self._refusal(ep, resp)
            return self._follow(ep, conn, resp, spec, state, hook, preview)
        finally:
            conn.close()

    def _follow(self, ep, conn, resp, spec, state: _Attempt, hook, preview) -> GenerationOutput:
        """Read the job's events; returns its output or raises _Unavailable / RuntimeError."""
        events: queue.Queue = queue.Queue()
        counters = state.counters

        def read() -> None:
            try:
                conn.sock.settimeout(STREAM_SILENCE_S)
                for item in iter_events(_Counting(resp, counters)):
                    events.put(item)
                events.put(("_eof", ""))
            except Exception as exc:  # the socket closed under us, a timeout, a reset
                events.put(("_down", _reason(exc)))

        reader = threading.Thread(target=read, name="remote-stream", daemon=True)
        reader.start()
        try:
            while True:
                try:
                    event, data = events.get(timeout=HOOK_TICK_S)
                except queue.Empty:
                    if hook is not None:
                        hook(state.progress)
                    continue
                if event == "progress":
                    state.progress = max(state.progress, float(json.loads(data)["fraction"]))
                    if hook is not None:
                        hook(state.progress)
                elif event == "preview":
                    self._preview(state, json.loads(data), preview)
                elif event == "result":
                    return self._output(ep, json.loads(data), spec)
                elif event == "error":
                    err = json.loads(data)
                    if err.get("code") == "shutting_down":
                        raise _Unavailable("down", "the worker shut down during the job", new_key=True)
                    raise RuntimeError(f"the worker at {ep.url} failed: {err.get('message', 'unknown error')}")
                elif event == "cancelled":
                    raise _Unavailable("down", "the worker cancelled the job (not asked by this daemon)",
                                       new_key=True)
                elif event in ("_eof", "_down"):
                    raise _Unavailable("down", f"lost the worker during the job ({data or 'stream ended'})")
        except BaseException as exc:
            if not isinstance(exc, (_Unavailable, RuntimeError)):
                self._cancel_quietly(ep, spec.key)  # a cancel or a shutdown: the worker stops too
            raise
        finally:
            try:
                conn.sock and conn.sock.shutdown(2)
            except OSError:
                pass

    def _preview(self, state: _Attempt, data: dict, preview) -> None:
        chunk = decode_array(data, ndim=3, name="preview")
        start = int(data.get("start", 0))
        have = state.preview
        if have is None or start == 0 or have.shape[:2] != chunk.shape[:2]:
            have = np.zeros(chunk.shape[:2] + (0,), dtype=np.float32)
        state.preview = np.concatenate([have[:, :, :start], chunk], axis=2)
        if preview is not None:
            preview(state.preview)

    def _output(self, ep: Endpoint, data: dict, spec: JobSpec) -> GenerationOutput:
        audio = decode_array(data, ndim=3, name="result")
        eng = (ep.info or {}).get("engine", {})
        out = GenerationOutput(audio=audio, sr=int(data["sr"]), seed=int(data["seed"]),
                               prompt_samples=int(data.get("prompt_samples", 0)), windows=int(data.get("windows", 1)),
                               timings=dict(data.get("timings") or {}))
        out.engine = {"kind": "remote", "url": ep.url, "worker": data.get("worker"),
                      "host": data.get("host") or (ep.info or {}).get("worker", {}).get("host"),
                      "device": data.get("device") or eng.get("device"),
                      "dtype": eng.get("dtype"), "decoder": eng.get("decoder"),
                      "versions": (ep.info or {}).get("versions")}
        return out

    # --- helpers ------------------------------------------------------------------------------

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _connection(self, ep: Endpoint, timeout: float | None = None):
        t = timeout or self.connect_timeout_s
        if ep.scheme == "https":
            return http.client.HTTPSConnection(ep.host, ep.port, timeout=t, context=self._ssl)
        return http.client.HTTPConnection(ep.host, ep.port, timeout=t)

    def _check(self, ep: Endpoint) -> None:
        """GET /v1/info; sets (or checks against) the model. Raises _Unavailable."""
        conn = self._connection(ep)
        try:
            try:
                conn.request("GET", f"{ep.base}{PREFIX}/info", headers=self._headers())
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise _Unavailable("down", f"cannot reach the worker: {_reason(exc)}") from None
            if resp.status != 200:
                self._refusal(ep, resp)
            try:
                info = json.loads(resp.read())
                eng = info["engine"]
                model = RemoteModel(spec=str(eng["model"]), source=str(eng["model_source"]), device=str(eng["device"]),
                                    dtype=str(eng["dtype"]), is_melody=bool(eng["melody"]), sr=int(eng["sr"]),
                                    channels=int(eng["channels"]), frame_rate=int(eng.get("frame_rate", 50)))
            except (ValueError, KeyError, TypeError, OSError):
                raise _Unavailable("refused", "the answer to /v1/info is not a musicgen-bridge worker's") from None
        finally:
            conn.close()
        if self.loaded is None:
            self.loaded, self._info = model, info
        elif (model.source, model.sr, model.channels, model.is_melody) != (
                self.loaded.source, self.loaded.sr, self.loaded.channels, self.loaded.is_melody):
            raise _Unavailable("other_model", f"it runs model {model.spec}, the other workers {self.loaded.spec}")
        ep.info = info

    def _refusal(self, ep: Endpoint, resp) -> None:
        """Turn a non-200 answer into _Unavailable (busy, wrong token) or a RuntimeError (bad job)."""
        try:
            payload = json.loads(resp.read() or b"{}")
        except (ValueError, OSError):
            payload = {}
        err = payload.get("error", {}) if isinstance(payload, dict) else {}
        message = err.get("message") or f"HTTP {resp.status} {resp.reason}"
        if resp.status in (429, 503):
            hint = payload.get("retry_after_s") if isinstance(payload, dict) else None
            try:
                hint = float(hint if hint is not None else resp.getheader("Retry-After") or 1.0)
            except ValueError:
                hint = 1.0
            raise _Unavailable("busy", message, retry_after_s=max(0.2, min(hint, MAX_WAIT_S)))
        if resp.status in (401, 403):
            raise _Unavailable("refused", f"{message} (check --engine-token)")
        if resp.status == 404:
            raise _Unavailable("refused", f"no worker API at {ep.url} ({message})")
        if resp.status in (400, 413, 422):
            raise RuntimeError(f"the worker at {ep.url} refused the job: {message}")
        raise _Unavailable("down", message)

    def _mark(self, ep: Endpoint, exc: _Unavailable) -> None:
        if (ep.state, ep.note) != (exc.state, exc.note):
            level = logging.ERROR if exc.state in ("refused", "other_model") else logging.WARNING
            log.log(level, "engine %s: %s", ep.url, exc.note)
        ep.state, ep.note = exc.state, exc.note
        if exc.state in ("refused", "other_model"):
            ep.retry_at = time.monotonic() + 30.0  # a token or a model is not fixed in a second
            ep.info = None
        elif exc.state == "down":
            ep.info = None  # a restarted worker may run another model: ask again

    def _wait(self, seconds: float, hook, progress: float) -> None:
        end = time.monotonic() + seconds
        while True:
            if hook is not None:
                hook(progress)
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(HOOK_TICK_S, left))

    def _cancel_quietly(self, ep: Endpoint, key: str | None) -> None:
        if not key:
            return
        conn = self._connection(ep, timeout=2.0)
        try:
            conn.request("DELETE", f"{ep.base}{PREFIX}/jobs/{key}", headers=self._headers())
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            pass  # the worker also cancels a job nobody listens to
        finally:
            conn.close()


class _Counting:
    """A response wrapper counting the bytes read (for bench/remote.py)."""

    def __init__(self, resp, counters: dict):
        self.resp, self.counters = resp, counters

    def readline(self) -> bytes:
        line = self.resp.readline()
        self.counters["received"] += len(line)
        return line


def _reason(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]
