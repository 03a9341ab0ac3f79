"""The worker's jobs: a bounded queue, one generation thread, and each job's events for listeners.

The engine is not thread-safe, so one thread generates, one job at a time. A job's events
(``queued``, ``started``, ``progress``, ``preview``, then one of ``result``/``error``/``cancelled``)
go to every stream listening to it; a stream that attaches late (a client back after a dropped
connection, with the same ``key``) gets the latest progress, the whole preview so far and, once
there, the end. A finished job is kept for :data:`RESULT_TTL_S` so that client finds its result
without generating again. A job nobody listens to any more is cancelled after
:data:`ORPHAN_GRACE_S` (the client went away).
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from ..engine import Cancelled, Conditioning, Sampling
from .wire import (
    BUSY,
    GENERATION_FAILED,
    SHUTTING_DOWN,
    JobSpec,
    WireError,
    array_event,
)

log = logging.getLogger("bridge.remote")

#: How long a finished job's result waits for a client that lost its connection.
RESULT_TTL_S = 60.0
#: Finished jobs kept at most (their audio is in memory).
MAX_FINISHED = 4
#: A job with no listener for this long is cancelled.
ORPHAN_GRACE_S = 3.0
#: Preview events at most this often.
PREVIEW_INTERVAL_S = 0.5
TERMINAL = ("result", "error", "cancelled")


class WorkerJob:
    """One job and its listeners. ``emit`` may be called from any thread."""

    def __init__(self, key: str, spec: JobSpec):
        self.key = key
        self.spec = spec
        self.state = "queued"
        self.position = 0
        self.cancel_requested = False
        self.shutdown = False
        self.progress = 0.0
        self.preview: np.ndarray | None = None
        self.preview_sr = 0
        self.final: tuple[str, str] | None = None   # (event, data) of the end
        self.ended_at: float | None = None
        self.orphan_since: float | None = time.monotonic()
        self._listeners: list[Callable[[str, str], None]] = []
        self._lock = threading.Lock()

    def attach(self, send: Callable[[str, str], None]) -> list[tuple[str, str]]:
        """Add a listener; returns the events it must first replay (state so far)."""
        with self._lock:
            replay = [("progress", json.dumps({"fraction": self.progress}))] if self.progress > 0 else []
            if self.state == "queued":
                replay.insert(0, ("queued", json.dumps({"position": self.position})))
            if self.preview is not None:
                replay.append(("preview", _preview_data(self.preview, 0, self.preview_sr)))
            if self.final is not None:
                replay.append(self.final)
            else:
                self._listeners.append(send)
                self.orphan_since = None
            return replay

    def detach(self, send) -> None:
        with self._lock:
            if send in self._listeners:
                self._listeners.remove(send)
            if not self._listeners and self.final is None:
                self.orphan_since = time.monotonic()

    def emit(self, event: str, data: dict | str) -> None:
        payload = data if isinstance(data, str) else json.dumps(data)
        with self._lock:
            if event in TERMINAL:
                self.final = (event, payload)
                self.ended_at = time.monotonic()
            listeners = list(self._listeners)
        for send in listeners:
            send(event, payload)

    def set_preview(self, audio: np.ndarray, sr: int) -> None:
        """Record the preview so far and send listeners only the samples that changed."""
        with self._lock:
            old = self.preview
            self.preview, self.preview_sr = audio, sr
        start = 0
        if old is not None and old.shape[:2] == audio.shape[:2]:
            n = min(old.shape[2], audio.shape[2])
            differs = np.flatnonzero((old[:, :, :n] != audio[:, :, :n]).any(axis=(0, 1)))
            start = int(differs[0]) if differs.size else n
        self.emit("preview", _preview_data(audio, start, sr))


def _preview_data(audio: np.ndarray, start: int, sr: int) -> str:
    return array_event({"start": start, "sr": sr, "total": int(audio.shape[2])}, audio[:, :, start:])


class JobRunner:
    """The bounded queue and the generation thread of one worker process (or Ray replica)."""

    def __init__(self, engine, *, queue_size: int = 2):
        self.engine = engine
        self.queue_size = queue_size
        self.worker_id = uuid.uuid4().hex[:12]
        self.host = socket.gethostname()
        self.jobs: OrderedDict[str, WorkerJob] = OrderedDict()
        self.waiting: list[WorkerJob] = []
        self.running: WorkerJob | None = None
        self.recent_s: list[float] = []
        self.done = 0  # jobs that produced audio
        self._cond = threading.Condition()
        self._stopping = False
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._loop, name="remote-jobs", daemon=True)
        self._thread.start()
        self._reaper = threading.Thread(target=self._reap_loop, name="remote-reaper", daemon=True)
        self._reaper.start()

    # --- submitting -------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> WorkerJob:
        """Queue ``spec`` (or find the job its ``key`` names). Raises ``WireError(busy)`` when full."""
        with self._cond:
            if self._stopping:
                raise WireError(SHUTTING_DOWN, "the worker is shutting down")
            if spec.key and spec.key in self.jobs:
                return self.jobs[spec.key]
            if len(self.waiting) + (1 if self.running else 0) > self.queue_size:
                raise WireError(BUSY, f"the worker is busy ({len(self.waiting)} jobs waiting); retry later")
            key = spec.key or f"job-{self.worker_id}-{next(self._ids)}"
            job = WorkerJob(key, spec)
            self.jobs[key] = job
            self.waiting.append(job)
            job.position = len(self.waiting) + (1 if self.running else 0)
            self._cond.notify_all()
        return job

    def retry_after_s(self) -> float:
        """A hint for a client told ``busy``: about one job's time, 1-30 s."""
        typical = sorted(self.recent_s)[len(self.recent_s) // 2] if self.recent_s else 2.0
        return float(min(30.0, max(1.0, round(typical, 1))))

    def cancel(self, key: str) -> str | None:
        """Cancel a queued or running job; returns its state, or None when unknown."""
        with self._cond:
            job = self.jobs.get(key)
            if job is None:
                return None
            if job in self.waiting:
                self.waiting.remove(job)
                job.state = "cancelled"
                cancelled_now = True
            else:
                job.cancel_requested = True
                cancelled_now = False
            state = job.state
        if cancelled_now:
            job.emit("cancelled", {})
        return state

    def info(self) -> dict:
        with self._cond:
            return {"size": self.queue_size, "waiting": len(self.waiting),
                    "running": self.running.key if self.running else None, "done": self.done}

    def stop(self) -> None:
        """Refuse new jobs; the running and waiting ones end with ``shutting_down`` (clients retry)."""
        with self._cond:
            self._stopping = True
            waiting, self.waiting = self.waiting, []
            if self.running is not None:
                self.running.shutdown = True
            self._cond.notify_all()
        for job in waiting:
            job.emit("error", {"code": SHUTTING_DOWN, "message": "the worker is shutting down"})

    # --- the generation thread --------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self.waiting and not self._stopping:
                    self._cond.wait(1.0)
                if self._stopping:
                    return
                job = self.waiting.pop(0)
                self.running = job
                job.state = "running"
            try:
                self._run(job)
            except Exception:  # pragma: no cover - _run reports its own failures
                log.exception("job %s: unexpected failure", job.key)
            finally:
                with self._cond:
                    self.running = None

    def _run(self, job: WorkerJob) -> None:
        spec = job.spec
        engine = self.engine
        job.emit("started", {"worker": self.worker_id})
        t0 = time.monotonic()
        last = [0.0, 0.0]

        def hook(fraction: float) -> None:
            if job.shutdown:
                raise _Shutdown()
            if job.cancel_requested:
                raise Cancelled()
            job.progress = fraction
            now = time.monotonic()
            if now - last[0] >= 0.1 or fraction >= 1.0:
                last[0] = now
                job.emit("progress", {"fraction": fraction})

        def preview(audio: np.ndarray) -> None:
            now = time.monotonic()
            if now - last[1] >= PREVIEW_INTERVAL_S:
                last[1] = now
                job.set_preview(audio, engine.sr)

        try:
            cond = self._conditioning(spec)
            out = engine.generate(cond, spec.duration_s, Sampling(top_k=spec.top_k, top_p=spec.top_p,
                                                                  temperature=spec.temperature, cfg=spec.cfg),
                                  seed=spec.seed, variations=spec.variations, hook=hook,
                                  preview=preview if spec.preview else None)
        except Cancelled:
            job.state = "cancelled"
            log.info("job %s cancelled", job.key)
            job.emit("cancelled", {})
            return
        except _Shutdown:
            job.state = "error"
            job.emit("error", {"code": SHUTTING_DOWN, "message": "the worker is shutting down"})
            return
        except Exception as exc:
            job.state = "error"
            log.exception("job %s failed", job.key)
            job.emit("error", {"code": GENERATION_FAILED,
                               "message": ((str(exc).splitlines() or [type(exc).__name__])[0])[:300]})
            return
        self.recent_s = (self.recent_s + [time.monotonic() - t0])[-9:]
        self.done += 1
        job.state = "done"
        log.info("job %s done in %.2f s", job.key, time.monotonic() - t0)
        job.emit("result", array_event({"sr": out.sr, "seed": out.seed, "prompt_samples": out.prompt_samples,
                                        "windows": out.windows, "timings": out.timings,
                                        "worker": self.worker_id, "host": self.host,
                                        "device": self.engine.describe().get("device")}, out.audio))

    def _conditioning(self, spec: JobSpec) -> Conditioning:
        from ..audio import fit_channels, resample

        cond = Conditioning(prompt=spec.prompt, chroma=spec.chroma)
        if spec.prompt_audio is not None:
            cond.prompt_audio = fit_channels(resample(spec.prompt_audio, spec.prompt_sr, self.engine.sr),
                                             self.engine.channels)
        return cond

    def _reap_loop(self) -> None:
        """Forget old results; cancel jobs nobody listens to."""
        while not self._stopping:
            time.sleep(0.5)
            now = time.monotonic()
            orphans = []
            with self._cond:
                finished = [k for k, j in self.jobs.items() if j.final is not None]
                for key in finished[:-MAX_FINISHED] if len(finished) > MAX_FINISHED else []:
                    del self.jobs[key]
                for key, job in list(self.jobs.items()):
                    if job.final is not None and now - job.ended_at > RESULT_TTL_S:
                        del self.jobs[key]
                    elif job.final is None and job.orphan_since is not None and now - job.orphan_since > ORPHAN_GRACE_S:
                        orphans.append(key)
            for key in orphans:
                log.info("job %s: no client listens any more; cancelled", key)
                self.cancel(key)


class _Shutdown(Exception):
    pass
