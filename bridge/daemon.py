"""The daemon: its parts, wired together, and the two things every front end calls (submit, cancel).

A request's way (docs/daemon.md, "How a request flows"): a front end (:mod:`bridge.osc_handlers`,
:mod:`bridge.inbox`, :mod:`bridge.midi`) turns a message into keys -> :meth:`Daemon.submit` ->
:mod:`bridge.admission` checks it -> journaled and queued (:mod:`bridge.jobs`) ->
:mod:`bridge.worker` renders it on the engine (:mod:`bridge.render`, :mod:`bridge.engine`,
:mod:`bridge.clips`) -> :mod:`bridge.delivery` tells the client.

Threads: ``osc-server`` (requests in, replies out), ``inbox`` (request files), ``worker`` (one job
at a time on the engine), the MIDI side's own threads, and the caller's (``serve`` waits there for
Ctrl-C / SIGTERM). Requests are checked and journaled on the receiving thread, never waiting for the
model; only the worker touches the model.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from . import __version__
from .admission import Admission, token_ok
from .config import ServeConfig
from .delivery import Delivery
from .engine import Engine
from .errors import (ALREADY_DONE, DUPLICATE_ID, GENERATION_FAILED, NOT_FOUND, QUEUE_FULL, UNKNOWN_MODEL,
                     RequestError)
from .inbox import WAIT, Inbox, request_from_file
from .jam import JamManager
from .jobs import CANCELLED, FINAL_STATES, QUEUED, RUNNING, Job, JobQueue, Journal, QueueFull
from .osc import OscServer
from .osc_handlers import OscHandlers
from .request import ID_RE
from .stems import StemSeparator, demucs_available
from .worker import Worker

log = logging.getLogger("bridge.daemon")


class Daemon:
    """One loaded engine serving OSC, the inbox and (optionally) MIDI.

    ``midi_factory(on_action)`` builds the MIDI side (or None for no MIDI); ``separator`` splits
    stems (made from the config when not given; its model loads on the first job with stems).
    """

    def __init__(self, cfg: ServeConfig, engine: Engine, midi_factory=None, separator=None):
        self.cfg = cfg
        self.engine = engine
        self.separator = separator if separator is not None else StemSeparator(
            cfg.stems_model, device=engine.loaded.device)
        self.admission = Admission(output_dir=cfg.output_dir, defaults=cfg.defaults, presets=cfg.presets,
                                   roots=cfg.roots)
        self.queue = JobQueue(cfg.queue_size)
        self.journal: Journal | None = None
        self.delivery: Delivery | None = None
        self.worker: Worker | None = None
        self.osc: OscServer | None = None
        self.inbox: Inbox | None = None
        self.midi = None
        self.announce: list[tuple[str, int]] = []
        self._midi_factory = midi_factory
        self._stopping = threading.Event()
        self._accept_lock = threading.Lock()
        self._midi_counter = 0
        self.jams = JamManager(submit=self.submit, cancel=self.cancel, send=self.send, sr=lambda: self.engine.sr,
                               presets=cfg.presets, defaults=cfg.defaults)

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.cfg.state_dir / "journal.sqlite3")
        self.delivery = Delivery(self.journal, self.send, announce=self.announce, reaper_cfg=self.cfg.reaper)
        self.delivery.on_delivered = self.jams.on_delivered
        self.jams.announce = self.announce  # serve sets the list after construction
        self.worker = Worker(self.engine, self.queue, self.journal, self.delivery, stopping=self._stopping,
                             separator=self.separator, clock_bpm=self.clock_bpm)
        self._wire_models()
        self.osc = OscServer(self.cfg.host, self.cfg.osc_port, OscHandlers(self, self.send, self.cfg.token))
        self._resume()
        self.worker.start()
        self.osc.start()
        self.inbox = Inbox(self.cfg.inbox, self._on_inbox, poll_s=self.cfg.inbox_poll_s)
        self.inbox.start()
        self.write_models_file()
        if self._midi_factory is not None:
            self.midi = self._midi_factory(self._on_midi)
            self.delivery.midi = self.midi
            self.midi.start()
        log.info("listening for OSC on %s:%d; inbox %s; default output %s", self.osc.address[0],
                 self.osc.address[1], self.cfg.inbox, self.cfg.output_dir)

    def _resume(self) -> None:
        """Queue the journal's unfinished jobs again; deliver finished ones nobody was told of."""
        resumed = 0
        for job in self.journal.unfinished():
            if job.state in (QUEUED, RUNNING):
                job.state = QUEUED
                self.queue.put(job)
                resumed += 1
            else:
                self.delivery.deliver(job)
        if resumed:
            log.info("resuming %d unfinished job(s) from the journal", resumed)

    def stop(self) -> None:
        """Stop taking work; the running job is interrupted and stays journaled for the next start."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        log.info("stopping")
        if self.inbox is not None:
            self.inbox.stop()
        if self.midi is not None:
            try:
                self.midi.stop()
            except Exception:
                log.exception("MIDI stop failed")
        self.queue.close()
        if self.worker is not None:
            self.worker.join(timeout_s=30)
        if self.osc is not None:
            self.osc.stop()
        if self.journal is not None:
            self.journal.close()

    # --- what front ends call ---------------------------------------------------------------

    def submit(self, params: dict, *, action: str, req_id: str, source: str, reply=None,
               extra: dict | None = None) -> tuple[Job, int]:
        """Admit, journal and queue a request; returns the job and its queue position. ``extra`` is
        kept in the journaled request (a jam segment's place in its jam).

        Raises :class:`RequestError` with a protocol error code when the request is refused.
        """
        if self._stopping.is_set():
            raise RequestError(GENERATION_FAILED, "the daemon is shutting down")
        req, out_dir, model = self._admit(params, action=action, req_id=req_id)
        if extra:
            req.extra.update(extra)
        if reply is not None:
            req.reply_host, req.reply_port = reply[0], int(reply[1])
        job = Job(request=req, source=source, reply_host=reply[0] if reply else None,
                  reply_port=int(reply[1]) if reply else None, out_dir=str(out_dir), model=model)
        with self._accept_lock:
            if self.queue.find(req.id) is not None or self.journal.is_active(req.id):
                raise RequestError(DUPLICATE_ID, f"a job with id {req.id!r} is already queued or running")
            try:
                self.queue.check_room()
            except QueueFull as exc:
                raise RequestError(QUEUE_FULL, str(exc)) from None
            self.journal.add(job)
            position = self.queue.put(job)
        log.info("job %s queued (%s, %s, %.2f s%s) at position %d", req.id, source, action, req.length_s(),
                 f", {req.variations} variations" if req.variations > 1 else "", position)
        return job, position

    def cancel(self, job_id: str) -> None:
        """Cancel a queued job (removed at once) or the running one (stops within one step; its
        ``cancelled`` follows). Raises ``not_found`` or ``already_done``: every cancel is answered."""
        job = self.queue.remove(job_id)
        if job is not None:
            self.journal.set_state(job, CANCELLED)
            log.info("job %s cancelled while queued", job_id)
            self.delivery.deliver(job)
            return
        with self.worker.outcome_lock:
            running = self.queue.running
            if running is not None and running.id == job_id and running.state not in FINAL_STATES:
                running.cancel_requested = True
                log.info("job %s: cancel requested", job_id)
                return
        state = self.journal.latest_state(job_id)
        if state in FINAL_STATES:
            raise RequestError(ALREADY_DONE, f"job {job_id!r} has already ended ({state})")
        raise RequestError(NOT_FOUND, f"no queued or running job {job_id!r}")

    def status_args(self) -> list:
        """The key/value pairs of ``/musicgen/status``."""
        running = self.queue.running
        d = self.engine.describe()
        return ["queue", len(self.queue), "running", running.id if running else "", "model", d["model"],
                "device", d["device"], "decoder", d["decoder"], "engine", d.get("engine", "local"), "clock_bpm", float(self.clock_bpm() or 0.0),
                "version", __version__,
                "stems", self.separator.model_name if demucs_available() else "",
                "inbox_waiting", self.inbox.waiting if self.inbox is not None else 0]

    def clock_bpm(self) -> float | None:
        """The MIDI clock's tempo, when a MIDI side runs and hears a clock."""
        return self.midi.clock_bpm if self.midi is not None else None

    @property
    def last_clip(self) -> Path | None:
        return self.worker.last_clip if self.worker is not None else None

    def send(self, target, address: str, args: list) -> None:
        """One OSC message from the daemon's port (never raises)."""
        if target is not None and self.osc is not None:
            self.osc.send(target, address, args)

    # --- models: list, load, switch (docs/engine.md "Switching models") ----------------------

    def _wire_models(self) -> None:
        from .switching import Switcher

        self.target_model = self.engine.loaded.spec  # what jobs that name no model run on
        if not hasattr(self.engine.loaded, "model"):  # remote workers (bridge.remote): their model is theirs
            return
        self.worker.switcher = Switcher(self.engine, dtype=self.cfg.dtype, resolve=self.resolve_model,
                                        reply=self.send, job_reply=self.delivery.reply,
                                        on_failed=self._load_failed, on_switched=self.write_models_file)

    def _load_failed(self, name: str) -> None:
        """A ``/musicgen/load`` that failed: the jobs it retargeted go back to the loaded model."""
        with self._accept_lock:
            if self.target_model != name:
                return
            self.target_model = self.engine.loaded.spec
            for job in self.queue.queued():
                if not job.request.model and job.model == name:
                    self.journal.set_model(job, self.target_model)

    def resolve_model(self, name: str) -> str:
        from .models import resolve_name

        return resolve_name(name, self.cfg.models_dir)

    def check_loadable(self, name: str) -> None:
        """Raise ``unknown_model`` unless ``name`` is a model this daemon could load (by its name
        and files; the weights are read only when it loads)."""
        from .engine.audiocraft import find_checkpoint
        from .engine.specs import SHORT_NAMES, resolve_model_spec

        spec = self.resolve_model(name)
        if self.engine.loaded.is_named(spec) or find_checkpoint(spec) is not None:
            return
        try:
            resolve_model_spec(spec)
        except (KeyError, ValueError, FileNotFoundError) as exc:
            raise RequestError(UNKNOWN_MODEL, f"no model {name!r}: use one of {', '.join(SHORT_NAMES)}, a hub id, "
                               f"a name from /musicgen/models or a folder ({exc.__class__.__name__})") from None

    def _admit(self, params: dict, *, action: str, req_id: str):
        """Admit a request; returns it, its output folder and the model it will run on. The checks
        that need the model run now when that model is loaded, else when its turn comes."""
        from .admission import check_loaded

        lm = self.engine.loaded
        req, out_dir = self.admission.admit(params, action=action, req_id=req_id, lm=None)
        model = req.model or self.target_model
        if lm.is_named(model) or lm.spec == model:
            check_loaded(lm, req)
        elif req.model and (self.worker.switcher is None
                            or (not self.cfg.switch_models and req.model != self.target_model)):
            raise RequestError(UNKNOWN_MODEL, f"model {req.model!r} is not loaded; this daemon runs "
                               f"{self.target_model!r}; send /musicgen/load {req.model} first, or set "
                               "switch_models = true in the config")
        else:
            self.check_loadable(model)
        return req, out_dir, model

    def load(self, name: str, reply) -> None:
        """``/musicgen/load``: jobs from now on (and queued ones that named no model) run on
        ``name``; the worker loads it after the running job. Raises ``unknown_model`` at once for a
        name that cannot be a model."""
        if self.worker.switcher is None:
            raise RequestError(UNKNOWN_MODEL, f"this daemon generates on remote workers ({self.engine.loaded.spec}); "
                               "start the workers with the model you want (docs/remote.md)")
        self.check_loadable(name)
        with self._accept_lock:
            self.target_model = name
            for job in self.queue.queued():
                if not job.request.model:
                    self.journal.set_model(job, name)
            self.worker.switcher.request(name, reply)
        log.info("model %s asked for; it loads after the running job", name)

    def write_models_file(self) -> None:
        """``<inbox>/models.txt``: the models list for clients that read files (REAPER)."""
        from .models import catalogue, write_models_file

        try:
            write_models_file(self.cfg.inbox, catalogue(self.cfg.models_dir, self.engine.loaded))
        except OSError as exc:
            log.warning("cannot write the models list into %s: %s", self.cfg.inbox, exc)

    def models_args(self) -> list:
        """The arguments of the ``/musicgen/models`` reply."""
        from .models import catalogue, reply_args

        return reply_args(catalogue(self.cfg.models_dir, self.engine.loaded))

    # --- request files and MIDI -------------------------------------------------------------

    def _on_inbox(self, params: dict, path: Path) -> str | None:
        if not self.queue.has_room():
            return WAIT  # the file is durable where it is; it is taken once the queue has room
        req_id = params.get("id") if isinstance(params.get("id"), str) else path.stem
        out_dir = params.get("out_dir") if isinstance(params.get("out_dir"), str) else str(self.cfg.output_dir)
        try:
            action, params = request_from_file(params)
            if not token_ok(params, self.cfg.token):
                log.warning("unauthorized inbox request %s (missing or wrong token); not served", req_id)
                self.inbox.reject(path)
                return
            self.submit(params, action=action, req_id=req_id, source="inbox", reply=None)
        except RequestError as exc:
            log.info("refused inbox request %s: %s (%s)", req_id, exc.message, exc.code)
            if isinstance(req_id, str) and ID_RE.match(req_id):
                # into the request's folder only where the daemon may write; else beside the request
                folder = out_dir if self.admission.may_write(out_dir) else None
                self.delivery.refused_file(req_id, folder, self.inbox.rejected, exc)
            self.inbox.reject(path)
            return None
        self.inbox.done(path)
        return None

    def _on_midi(self, action) -> None:
        if action.kind == "cancel":
            running = self.queue.running
            if running is not None:
                try:
                    self.cancel(running.id)
                except RequestError:
                    pass  # it ended meanwhile
            return
        if action.kind in ("jam", "jam_stop"):
            try:
                self.jams.on_midi(action, clock_bpm=self.clock_bpm())
            except RequestError as exc:
                log.warning("MIDI %s (%s) refused: %s (%s)", action.kind, action.source or "", exc.message, exc.code)
            return
        from .midi.requests import request_from_midi  # imported with the MIDI side only

        self._midi_counter += 1
        req_id = f"midi-{int(time.time())}-{self._midi_counter}"
        made = request_from_midi(action, presets=self.cfg.presets, last_clip=self.last_clip,
                                 clock_bpm=self.clock_bpm())
        if made is None:
            return
        op, params = made
        try:
            job, position = self.submit(params, action=op, req_id=req_id, source="midi", reply=None)
            # the preset tells listening devices whose job it is (docs/ableton.md, "Live sets")
            self.delivery.reply(job, "/musicgen/accepted", [job.id, position, str(params.get("preset") or "")])
        except RequestError as exc:
            log.warning("MIDI %s (%s) refused: %s (%s)", action.kind, action.source or "", exc.message, exc.code)
            for target in self.announce:
                self.send(target, "/musicgen/error", [req_id, exc.code, exc.message])
