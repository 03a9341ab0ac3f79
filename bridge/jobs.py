"""Jobs: the journal (SQLite) and the bounded queue the worker takes them from.

A job is journaled before it is acknowledged, and its state changes are committed as they
happen: ``queued -> running -> done | error | cancelled``, then ``delivered`` once the client was
told. A daemon killed at any point finds its unfinished jobs in the journal at restart and runs
them again; results already written are reused (see :func:`bridge.clips.write_clip`), so no job
is delivered twice and no accepted job is lost.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .request import GenerationRequest

# A job's states, in the order it passes them (the journal's ``state`` column).
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
ERROR = "error"
CANCELLED = "cancelled"
ACTIVE_STATES = (QUEUED, RUNNING)
FINAL_STATES = (DONE, ERROR, CANCELLED)


@dataclass
class Job:
    """A request on its way through the daemon, with where to answer."""

    request: GenerationRequest
    source: str = "osc"                 # osc | inbox | midi
    reply_host: str | None = None
    reply_port: int | None = None
    out_dir: str = ""
    created: float = field(default_factory=time.time)
    state: str = QUEUED
    result: dict = field(default_factory=dict)
    delivered: bool = False
    cancel_requested: bool = False
    run_started: float = 0.0
    seq: int | None = None              # its row in the journal (an id may be used again later)
    preview_started: float | None = None
    model: str = ""                     # the model it runs on (its own ``model``, else the daemon's then)

    @property
    def id(self) -> str:
        return self.request.id


#: The row of a job: its own (``seq``), or for a job never journaled here the newest of its id.
_ROW = "seq=COALESCE(?, (SELECT MAX(seq) FROM jobs WHERE id=?))"


class Journal:
    """Jobs in SQLite (WAL mode, one connection guarded by a lock: the daemon's threads share it)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS jobs (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 id TEXT NOT NULL,
                 state TEXT NOT NULL,
                 source TEXT NOT NULL,
                 request TEXT NOT NULL,
                 reply_host TEXT, reply_port INTEGER,
                 out_dir TEXT NOT NULL,
                 result TEXT,
                 delivered INTEGER NOT NULL DEFAULT 0,
                 created REAL NOT NULL, updated REAL NOT NULL)""")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        if "model" not in columns:  # journals written before models could be switched
            self._db.execute("ALTER TABLE jobs ADD COLUMN model TEXT NOT NULL DEFAULT ''")
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_id ON jobs(id)")
        self._db.execute("CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, job: Job) -> None:
        """Journal a new job (committed when this returns)."""
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO jobs(id, state, source, request, reply_host, reply_port, out_dir, created, updated, model)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (job.id, job.state, job.source, json.dumps(job.request.to_dict()), job.reply_host,
                 job.reply_port, job.out_dir, job.created, now, job.model))
            job.seq = cur.lastrowid

    def set_state(self, job: Job, state: str, result: dict | None = None) -> None:
        job.state = state
        if result is not None:
            job.result = result
        with self._lock:
            self._db.execute("UPDATE jobs SET state=?, result=?, updated=? WHERE " + _ROW,
                             (state, json.dumps(job.result) if job.result else None, time.time(), job.seq, job.id))

    def set_model(self, job: Job, model: str) -> None:
        """Record that ``job`` now runs on ``model`` (a ``/musicgen/load`` retargets queued jobs)."""
        job.model = model
        with self._lock:
            self._db.execute("UPDATE jobs SET model=?, updated=? WHERE " + _ROW, (model, time.time(), job.seq, job.id))

    def mark_delivered(self, job: Job) -> None:
        job.delivered = True
        with self._lock:
            self._db.execute("UPDATE jobs SET delivered=1, updated=? WHERE " + _ROW, (time.time(), job.seq, job.id))

    def latest_state(self, job_id: str) -> str | None:
        """The state of the newest job with this id, or None when there is none."""
        with self._lock:
            row = self._db.execute("SELECT state FROM jobs WHERE id=? ORDER BY seq DESC LIMIT 1", (job_id,)).fetchone()
        return row[0] if row else None

    def is_active(self, job_id: str) -> bool:
        return self.latest_state(job_id) in ACTIVE_STATES

    def unfinished(self) -> list[Job]:
        """Jobs to resume at start: not final, or final but never delivered; oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, state, source, request, reply_host, reply_port, out_dir, result, delivered, created, seq, model"
                " FROM jobs WHERE state IN ('queued','running') OR delivered=0 ORDER BY seq").fetchall()
        jobs = []
        for (jid, state, source, req, host, port, out_dir, result, delivered, created, seq, model) in rows:
            request = GenerationRequest.from_dict(json.loads(req))
            if isinstance(request.melody_notes, list):
                request.melody_notes = [tuple(n) for n in request.melody_notes]
            jobs.append(Job(request=request, source=source, reply_host=host, reply_port=port, out_dir=out_dir,
                            created=created, state=state, result=json.loads(result) if result else {},
                            delivered=bool(delivered), seq=seq, model=model or ""))
        return jobs


class QueueFull(Exception):
    pass


class JobQueue:
    """A bounded FIFO of jobs waiting for the worker, plus the job that is running."""

    def __init__(self, max_queued: int):
        self.max_queued = max_queued
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition()
        self.running: Job | None = None
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._jobs)

    def has_room(self) -> bool:
        with self._cond:
            return len(self._jobs) < self.max_queued

    def check_room(self) -> None:
        if not self.has_room():
            raise QueueFull(f"the queue is full ({self.max_queued} jobs waiting); try again later")

    def put(self, job: Job) -> int:
        """Add a job; returns its position (0 = next). The bound is checked by :meth:`check_room`
        (new requests); jobs resumed from the journal are never refused."""
        with self._cond:
            self._jobs.append(job)
            self._cond.notify_all()
            return len(self._jobs) - 1 + (1 if self.running is not None else 0)

    def get(self, timeout: float | None = None) -> Job | None:
        """The next job (it becomes ``running``), or None on timeout or when closed."""
        with self._cond:
            end = None if timeout is None else time.monotonic() + timeout
            while not self._jobs and not self._closed:
                remaining = None if end is None else end - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self._closed:
                return None
            job = self._jobs.popleft()
            self.running = job
            return job

    def finish(self, job: Job) -> None:
        with self._cond:
            if self.running is job:
                self.running = None

    def remove(self, job_id: str) -> Job | None:
        """Take a queued (not running) job out; returns it, or None."""
        with self._cond:
            for job in self._jobs:
                if job.id == job_id:
                    self._jobs.remove(job)
                    return job
        return None

    def queued(self) -> list[Job]:
        """The waiting jobs, next first (a snapshot)."""
        with self._cond:
            return list(self._jobs)

    def find(self, job_id: str) -> Job | None:
        with self._cond:
            if self.running is not None and self.running.id == job_id:
                return self.running
            for job in self._jobs:
                if job.id == job_id:
                    return job
        return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
