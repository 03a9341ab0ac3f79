"""The worker: one thread that takes jobs from the queue, one at a time, and runs them on the engine.

A job's outcome is recorded in the journal (``done`` with its result, ``error`` with a code,
``cancelled``) and then delivered. Only this thread touches the model. A daemon that stops while a
job runs interrupts it at the next step; the job goes back to ``queued`` in the journal and runs at
the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from .clips import remove_clip, write_preview
from .delivery import Delivery
from .engine import Cancelled, Engine
from .engine import memory
from .errors import GENERATION_FAILED, IO_ERROR, OUT_OF_MEMORY, RequestError
from .jobs import CANCELLED, DONE, ERROR, QUEUED, RUNNING, Job, JobQueue, Journal
from .render import render

log = logging.getLogger("bridge.worker")

#: Progress replies are sent at most this often (and always at 100 %).
PROGRESS_INTERVAL_S = 0.1
#: The preview file is rewritten at most this often.
PREVIEW_INTERVAL_S = 0.5


class _Shutdown(Exception):
    """Raised in the progress hook when the daemon stops: the job stays journaled."""


class Worker:
    """``stopping`` is the daemon's stop signal (the running job is interrupted when it is set);
    ``clock_bpm()`` gives the MIDI clock's tempo (or None) for requests that follow it."""

    def __init__(self, engine: Engine, queue: JobQueue, journal: Journal, delivery: Delivery, *,
                 stopping: threading.Event, separator=None, clock_bpm: Callable[[], float | None] = lambda: None):
        self.engine = engine
        self.queue = queue
        self.journal = journal
        self.delivery = delivery
        self.separator = separator
        self.clock_bpm = clock_bpm
        self.stopping = stopping
        self.last_clip: Path | None = None  # the first clip of the last job done (MIDI "continue last")
        #: Held while a job's outcome is decided, so a cancel sees either a running job (and is
        #: honoured) or an ended one (and is answered ``already_done``), never a job in between.
        self.outcome_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.loop, name="worker", daemon=True)
        self._thread.start()

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait for the thread (once ``stopping`` is set and the queue closed)."""
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def loop(self) -> None:
        while not self.stopping.is_set():
            job = self.queue.get(timeout=0.5)
            if job is None:
                continue
            try:
                self.run(job)
            except Exception:
                log.exception("job %s: unexpected failure", job.id)
            finally:
                self.queue.finish(job)

    def run(self, job: Job) -> None:
        """Render one job and record and deliver its outcome."""
        req = job.request
        job.run_started = time.monotonic()
        self.journal.set_state(job, RUNNING)
        log.info("job %s running", job.id)
        self.delivery.feedback("started", job)
        self.delivery.reply(job, "/musicgen/progress", [job.id, 0.0])
        try:
            result = render(self.engine, req, job.out_dir, hook=self._progress_hook(job), clock_bpm=self.clock_bpm(),
                            owner=f"{job.id}@{job.created:.6f}", when=job.created,
                            preview=self._previewer(job) if req.preview else None, separator=self.separator)
        except Cancelled:
            self._cancelled(job)
            return
        except _Shutdown:
            self.journal.set_state(job, QUEUED)
            log.info("job %s interrupted by shutdown; it stays journaled and runs at the next start", job.id)
            return
        except RequestError as exc:
            self._fail(job, exc.code, exc.message)
            return
        except OSError as exc:
            self._fail(job, IO_ERROR, f"cannot write clips to {job.out_dir}: {exc.strerror or exc}")
            return
        except Exception as exc:
            if memory.is_out_of_memory(exc):
                memory.release(self.engine.loaded.device)
                log.warning("job %s ran out of memory on %s; memory released", job.id, self.engine.loaded.device)
                self._fail(job, OUT_OF_MEMORY, f"out of memory on {self.engine.loaded.device}; "
                                               "ask for fewer variations or a shorter clip")
                return
            log.exception("job %s failed", job.id)
            self._fail(job, GENERATION_FAILED, (str(exc).splitlines() or [type(exc).__name__])[0][:300])
            return
        job_result = {"paths": [str(p) for p in result.paths], "seed": result.seed,
                      "duration_s": round(result.duration_s, 6), "sr": result.sr, "timings": result.timings}
        if req.stems:
            job_result["stems"] = [{name: str(p) for name, p in group.items()} for group in result.stems]
        with self.outcome_lock:
            if not job.cancel_requested:
                self.journal.set_state(job, DONE, job_result)
        if job.cancel_requested:  # asked after the last step: the clips go, the cancel is honoured
            for p in [*result.paths, *(p for group in result.stems for p in group.values())]:
                remove_clip(p)
            self._cancelled(job)
            return
        if result.paths:
            self.last_clip = result.paths[0]
        log.info("job %s done in %.2f s: %s", job.id, result.timings.get("total_s", 0.0),
                 ", ".join(p.name for p in result.paths))
        self.delivery.deliver(job)

    def _fail(self, job: Job, code: str, message: str) -> None:
        with self.outcome_lock:
            if not job.cancel_requested:
                self.journal.set_state(job, ERROR, {"code": code, "message": message})
        if job.cancel_requested:
            self._cancelled(job)
            return
        log.info("job %s failed: %s (%s)", job.id, message, code)
        self.delivery.deliver(job)

    def _cancelled(self, job: Job) -> None:
        self.journal.set_state(job, CANCELLED)
        log.info("job %s cancelled", job.id)
        self.delivery.deliver(job)

    def _progress_hook(self, job: Job) -> Callable[[float], None]:
        """Called by the engine each step: cancels, stops, and sends progress replies."""
        last = [0.0, 0.0]  # time of the last progress reply, fraction sent

        def hook(fraction: float) -> None:
            if job.cancel_requested:
                raise Cancelled()
            if self.stopping.is_set():
                raise _Shutdown()
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL_S or (fraction >= 1.0 > last[1]):
                last[0], last[1] = now, fraction
                self.delivery.reply(job, "/musicgen/progress", [job.id, float(fraction)])

        return hook

    def _previewer(self, job: Job) -> Callable:
        """A callback that rewrites ``<out_dir>/previews/<id>.wav`` with the audio made so far
        (atomically, always a valid file) and sends ``/musicgen/preview <id> <path>``."""
        last = [0.0]

        def on_audio(audio, sr: int) -> None:
            now = time.monotonic()
            if now - last[0] < PREVIEW_INTERVAL_S:
                return
            last[0] = now
            try:
                path = write_preview(job.out_dir, job.id, audio[0], sr)
            except OSError as exc:
                log.warning("job %s: cannot write preview: %s", job.id, exc)
                return
            if job.preview_started is None:
                job.preview_started = now
                log.info("job %s: first preview after %.2f s", job.id, now - job.run_started)
            self.delivery.reply(job, "/musicgen/preview", [job.id, str(path)])

        return on_audio
