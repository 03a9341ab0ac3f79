"""The daemon (`musicgen-bridge serve`): wires OSC, the inbox and MIDI to the queue and the engine.

Threads: ``osc-server`` (requests in, replies out), ``inbox`` (request files), ``worker`` (runs
one job at a time on the engine), the MIDI side's own threads, and the main thread waiting for
Ctrl-C / SIGTERM. Requests are validated and journaled on the receiving thread, never waiting for
the model; only the worker touches the model.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import __version__
from .audio import AudioError, audio_length_s, probe_region
from .clips import clean_partials, ensure_out_dir
from .config import ConfigError, ServeConfig, build_serve_config, load_config_file
from .daw import reaper as reaper_daw
from .engine import Cancelled, Engine
from .inbox import Inbox
from .jobs import Job, JobQueue, Journal, QueueFull
from .osc import OscServer
from .render import draw_seed, render
from .stems import ERROR_CODE as STEMS_ERROR, MISSING_EXTRA as STEMS_MISSING_EXTRA, StemSeparator, demucs_available
from .request import ID_RE, RequestError, parse_request

log = logging.getLogger("bridge.daemon")

PROGRESS_INTERVAL_S = 0.1
PREVIEW_INTERVAL_S = 0.5
PREVIEW_DIR = "previews"
NOTES_TTL_S = 600.0
MAX_NOTES_PER_ID = 10000


class _Shutdown(Exception):
    """Raised in the worker's progress hook when the daemon stops: the job stays journaled."""


class Daemon:
    def __init__(self, cfg: ServeConfig, engine: Engine, midi_factory=None, separator=None):
        self.cfg = cfg
        self.engine = engine
        # stems (docs/stems.md): made once, its model loads on the first job with `stems 1`
        self.separator = separator if separator is not None else StemSeparator(
            cfg.stems_model, device=engine.loaded.device)
        self.queue = JobQueue(cfg.queue_size)
        self.journal: Journal | None = None
        self.osc: OscServer | None = None
        self.inbox: Inbox | None = None
        self.midi = None
        self._midi_factory = midi_factory
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._notes: dict[str, tuple[float, list]] = {}
        self._notes_lock = threading.Lock()
        self._accept_lock = threading.Lock()
        self._midi_counter = 0
        self.last_clip: Path | None = None
        self.announce: list[tuple[str, int]] = []

    # --- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.cfg.state_dir / "journal.sqlite3")
        self.osc = OscServer(self.cfg.host, self.cfg.osc_port, self._on_osc)
        resumed = 0
        for job in self.journal.unfinished():
            if job.state in ("queued", "running"):
                job.state = "queued"
                self.queue.put(job)
                resumed += 1
            else:
                self._deliver(job)
        if resumed:
            log.info("resuming %d unfinished job(s) from the journal", resumed)
        self._worker = threading.Thread(target=self._work, name="worker", daemon=True)
        self._worker.start()
        self.osc.start()
        self.inbox = Inbox(self.cfg.inbox, self._on_inbox, poll_s=self.cfg.inbox_poll_s)
        self.inbox.start()
        if self._midi_factory is not None:
            self.midi = self._midi_factory(self._on_midi)
            self.midi.start()
        log.info("listening for OSC on %s:%d; inbox %s; default output %s", self.osc.address[0],
                 self.osc.address[1], self.cfg.inbox, self.cfg.output_dir)

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
        if self._worker is not None:
            self._worker.join(timeout=30)
        if self.osc is not None:
            self.osc.stop()
        if self.journal is not None:
            self.journal.close()

    # --- replies --------------------------------------------------------------------------------

    def _send(self, target, address: str, args: list) -> None:
        if target is not None and self.osc is not None:
            self.osc.send(target, address, args)

    def _targets(self, job: Job) -> list[tuple[str, int]]:
        targets = []
        if job.reply_host and job.reply_port:
            targets.append((job.reply_host, int(job.reply_port)))
        if job.source == "midi":
            targets.extend(t for t in self.announce if t not in targets)
        return targets

    def _reply(self, job: Job, address: str, args: list) -> None:
        for target in self._targets(job):
            self._send(target, address, args)

    # --- OSC ------------------------------------------------------------------------------------

    def _on_osc(self, address: str, args: list, sender) -> None:
        if not address.startswith("/musicgen/"):
            log.info("ignored OSC address %s from %s:%d", address, *sender)
            return
        verb = address[len("/musicgen/"):]
        if verb in ("generate", "continue"):
            self._osc_request(verb, args, sender)
        elif verb == "notes":
            self._osc_notes(args, sender)
        elif verb == "cancel":
            self._osc_cancel(args, sender)
        elif verb in ("ping", "status"):
            try:
                params = _pairs(args)
                target = _reply_target(params, sender)
            except RequestError as exc:
                self._send(sender, "/musicgen/error", ["", exc.code, exc.message])
                return
            if not self._authorized(params, sender, address):
                return
            if verb == "ping":
                self._send(target, "/musicgen/pong", [__version__])
            else:
                self._send(target, "/musicgen/status", self.status_args())
        else:
            first = args[0] if args and isinstance(args[0], str) else ""
            self._send(sender, "/musicgen/error", [first if ID_RE.match(first or "-!") else "", "bad_request",
                                                   f"unknown address {address}"])

    def _authorized(self, params: dict, sender, what: str) -> bool:
        if not self.cfg.token:
            return True
        if params.get("token") == self.cfg.token:
            return True
        log.warning("unauthorized %s from %s:%d (missing or wrong token); not served", what, *sender)
        return False

    def _osc_request(self, verb: str, args: list, sender) -> None:
        req_id = args[0] if args and isinstance(args[0], str) else ""
        reply_to = sender
        try:
            if len(args) < 2 or not isinstance(args[0], str) or not isinstance(args[1], str):
                second = "audio_path" if verb == "continue" else "prompt"
                raise RequestError("bad_request", f"/musicgen/{verb} needs <id:s> <{second}:s> [key value]...")
            if (len(args) - 2) % 2:
                raise RequestError("bad_request", "trailing arguments must be key value pairs")
            params = _pairs(args[2:])
            reply_to = _reply_target(params, sender)
            if not self._authorized(params, sender, f"/musicgen/{verb} {req_id}"):
                return
            if verb == "continue":
                params["audio_path"] = args[1]
            elif args[1].strip():
                params["prompt"] = args[1]  # an empty prompt leaves a preset's prompt in place
            job, position = self.submit(params, action=verb, req_id=req_id, source="osc", reply=reply_to)
        except RequestError as exc:
            self._send(reply_to, "/musicgen/error", [req_id if ID_RE.match(req_id or "-!") else "",
                                                     exc.code, exc.message])
            log.info("refused %s %s: %s (%s)", verb, req_id or "?", exc.message, exc.code)
            return
        self._send(reply_to, "/musicgen/accepted", [job.id, position])

    def _osc_notes(self, args: list, sender) -> None:
        req_id = args[0] if args and isinstance(args[0], str) else ""
        body = args[1:]
        target = sender
        try:
            if not ID_RE.match(req_id or "-!"):
                raise RequestError("bad_request", "/musicgen/notes needs <id:s> then pitch start_beats length_beats velocity ...")
            opts = {}
            while len(body) >= 2 and body[-2] in ("token", "reply_host", "reply_port"):
                opts[body[-2]] = body[-1]
                body = body[:-2]
            target = _reply_target(opts, sender)
            if not self._authorized(opts, sender, f"/musicgen/notes {req_id}"):
                return
            if len(body) == 0 or len(body) % 4:
                raise RequestError("bad_request", "notes come as 4 numbers each: pitch start_beats length_beats velocity")
            notes = []
            for i in range(0, len(body), 4):
                pitch, start, length, vel = body[i:i + 4]
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (pitch, start, length, vel)):
                    raise RequestError("bad_request", "note values must be numbers")
                if not (0 <= pitch <= 127 and 0 <= vel <= 127 and math.isfinite(start) and math.isfinite(length)
                        and start >= 0 and length >= 0):
                    raise RequestError("bad_request", f"bad note {pitch} {start} {length} {vel}")
                notes.append((int(pitch), float(start), float(length), int(vel)))
            now = time.monotonic()
            with self._notes_lock:
                for k in [k for k, (t, _) in self._notes.items() if now - t > NOTES_TTL_S]:
                    del self._notes[k]
                _, have = self._notes.get(req_id, (now, []))
                if len(have) + len(notes) > MAX_NOTES_PER_ID:
                    raise RequestError("bad_request", f"more than {MAX_NOTES_PER_ID} notes under one id")
                self._notes[req_id] = (now, have + notes)
        except RequestError as exc:
            self._send(target, "/musicgen/error", [req_id if ID_RE.match(req_id or "-!") else "", exc.code, exc.message])

    def _osc_cancel(self, args: list, sender) -> None:
        req_id = args[0] if args and isinstance(args[0], str) else ""
        try:
            params = _pairs(args[1:])
            target = _reply_target(params, sender)
        except RequestError as exc:
            self._send(sender, "/musicgen/error", [req_id if ID_RE.match(req_id or "-!") else "", exc.code, exc.message])
            return
        if not self._authorized(params, sender, f"/musicgen/cancel {req_id}"):
            return
        if not self.cancel(req_id):
            self._send(target, "/musicgen/error", [req_id if ID_RE.match(req_id or "-!") else "", "not_found",
                                                   f"no queued or running job {req_id!r}"])

    def status_args(self) -> list:
        running = self.queue.running
        clock = self.midi.clock_bpm if self.midi is not None else None
        d = self.engine.describe()
        return ["queue", len(self.queue), "running", running.id if running else "", "model", d["model"],
                "device", d["device"], "decoder", d["decoder"], "clock_bpm", float(clock or 0.0),
                "version", __version__,
                "stems", self.separator.model_name if demucs_available() else ""]

    # --- accepting work -------------------------------------------------------------------------

    def submit(self, params: dict, *, action: str, req_id: str, source: str, reply=None) -> tuple[Job, int]:
        """Validate, journal and queue a request; returns the job and its queue position.

        Raises :class:`RequestError` with a protocol error code when the request is refused.
        """
        if self._stopping.is_set():
            raise RequestError("generation_failed", "the daemon is shutting down")
        params = dict(params)
        params.pop("token", None)
        preset = params.pop("preset", None)
        merged = dict(self.cfg.defaults)
        if preset is not None:
            if not isinstance(preset, str) or preset not in self.cfg.presets:
                known = ", ".join(sorted(self.cfg.presets)) or "none configured"
                raise RequestError("unknown_preset", f"unknown preset {preset!r} (known: {known})")
            merged.update(self.cfg.presets[preset])
        merged.update(params)
        req = parse_request(merged, action=action, req_id=req_id)
        req.preset = preset
        if req.model and not self.engine.loaded.is_named(req.model):
            raise RequestError("unknown_model", f"model {req.model!r} is not loaded; this daemon runs "
                               f"{self.engine.loaded.spec!r} (start another daemon for another model)")
        self._resolve_notes(req)
        if req.melody or req.melody_notes:
            if not self.engine.loaded.is_melody:
                raise RequestError("bad_melody", f"model {self.engine.loaded.spec!r} takes no melody; "
                                   "start the daemon with a melody model (--model melody)")
        if req.stems and not demucs_available():
            raise RequestError(STEMS_ERROR, STEMS_MISSING_EXTRA)
        out_dir = Path(os.path.expanduser(req.out_dir)) if req.out_dir else self.cfg.output_dir
        self._check_paths(req, out_dir)
        if req.seed is None:
            req.seed = draw_seed()
        if reply is not None:
            req.reply_host, req.reply_port = reply[0], int(reply[1])
        job = Job(request=req, source=source, reply_host=reply[0] if reply else None,
                  reply_port=int(reply[1]) if reply else None, out_dir=str(out_dir))
        with self._accept_lock:
            if self.queue.find(req.id) is not None or self.journal.is_active(req.id):
                raise RequestError("duplicate_id", f"a job with id {req.id!r} is already queued or running")
            try:
                self.queue.check_room()
            except QueueFull as exc:
                raise RequestError("queue_full", str(exc)) from None
            self.journal.add(job)
            position = self.queue.put(job)
        log.info("job %s queued (%s, %s, %.2f s%s) at position %d", req.id, source, action, req.length_s(),
                 f", {req.variations} variations" if req.variations > 1 else "", position)
        return job, position

    def _resolve_notes(self, req) -> None:
        key = req.melody_notes if isinstance(req.melody_notes, str) else (None if req.melody_notes or req.melody else req.id)
        if key is None:
            return
        with self._notes_lock:
            entry = self._notes.pop(key, None)
        if entry is not None:
            req.melody_notes = entry[1]
        elif isinstance(req.melody_notes, str):
            raise RequestError("bad_melody", f"no notes were sent under id {key!r} (send /musicgen/notes first)")

    def _check_paths(self, req, out_dir: Path) -> None:
        for label, value in (("audio_path", req.audio_path), ("melody", req.melody), ("out_dir", str(out_dir))):
            if value and self.cfg.roots and not _under_roots(value, self.cfg.roots):
                raise RequestError("forbidden", f"{label} {value} is outside the allowed roots")
        if req.audio_path:
            p = Path(os.path.expanduser(req.audio_path))
            try:
                probe_region(p, start_s=req.start_s, end_s=req.end_s)
            except AudioError as exc:
                raise RequestError("bad_audio", str(exc)) from None
            req.audio_path = str(p.resolve())
        if req.melody:
            p = Path(os.path.expanduser(req.melody))
            if not p.is_file():
                raise RequestError("bad_melody", f"melody file not found or not a regular file: {p}")
            if p.suffix.lower() not in (".mid", ".midi", ".smf"):
                try:
                    audio_length_s(p)
                except AudioError as exc:
                    raise RequestError("bad_melody", str(exc)) from None
            req.melody = str(p.resolve())
        try:
            ensure_out_dir(out_dir)
        except OSError as exc:
            raise RequestError("io_error", str(exc)) from None

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job (removed at once) or the running one (stops within one step)."""
        job = self.queue.remove(job_id)
        if job is not None:
            self.journal.set_state(job, "cancelled")
            log.info("job %s cancelled while queued", job_id)
            self._deliver(job)
            return True
        running = self.queue.running
        if running is not None and running.id == job_id:
            running.cancel_requested = True
            log.info("job %s: cancel requested", job_id)
            return True
        return False

    # --- inbox ----------------------------------------------------------------------------------

    def _on_inbox(self, params: dict, path: Path) -> None:
        req_id = params.get("id") if isinstance(params.get("id"), str) else path.stem
        out_dir = params.get("out_dir") if isinstance(params.get("out_dir"), str) else str(self.cfg.output_dir)
        if "__invalid__" in params:
            self._inbox_refused(req_id, out_dir, RequestError("bad_request", f"request file is not valid JSON: {params['__invalid__']}"))
            self.inbox.reject(path)
            return
        params = dict(params)
        action = params.pop("action", "generate")
        params.pop("id", None)
        params.setdefault("daw", "reaper")
        try:
            if action not in ("generate", "continue"):
                raise RequestError("bad_request", f"action must be generate or continue, got {action!r}")
            if not self._authorized(params, ("inbox", 0), f"inbox request {req_id}"):
                self.inbox.reject(path)
                return
            self.submit(params, action=action, req_id=req_id, source="inbox", reply=None)
        except RequestError as exc:
            log.info("refused inbox request %s: %s (%s)", req_id, exc.message, exc.code)
            self._inbox_refused(req_id, out_dir, exc)
            self.inbox.reject(path)
            return
        self.inbox.done(path)

    def _inbox_refused(self, req_id: str, out_dir: str, exc: RequestError) -> None:
        if not isinstance(req_id, str) or not ID_RE.match(req_id):
            return
        try:
            reaper_daw.write_result(out_dir, req_id, {"id": req_id, "status": "error", "code": exc.code,
                                                      "message": exc.message, "paths": []})
        except OSError as err:
            log.warning("cannot write error result for %s: %s", req_id, err)

    # --- MIDI -----------------------------------------------------------------------------------

    def _on_midi(self, action) -> None:
        kind = action.kind
        if kind == "cancel":
            running = self.queue.running
            if running is not None:
                self.cancel(running.id)
            return
        self._midi_counter += 1
        req_id = f"midi-{int(time.time())}-{self._midi_counter}"
        params: dict[str, Any] = {}
        if action.preset:
            params["preset"] = action.preset
        op = "generate"
        if kind == "continue_last":
            if self.last_clip is None or not self.last_clip.exists():
                log.warning("MIDI continue_last: no clip made by this daemon yet")
                return
            op = "continue"
            params["audio_path"] = str(self.last_clip)
            try:
                length_s = audio_length_s(self.last_clip)
                params["start"] = max(0.0, length_s - 10.0)
            except AudioError:
                pass
        elif kind == "melody":
            params["melody_notes"] = [[int(n[0]), float(n[1]), float(n[2]), int(n[3])] for n in action.notes]
            params["bpm"] = float(action.bpm or 120.0)
        if kind != "melody":
            preset = self.cfg.presets.get(action.preset or "", {})
            if "bars" in preset and "bpm" not in preset:  # bars follow the MIDI clock's tempo
                clock = self.midi.clock_bpm if self.midi is not None else None
                params["bpm"] = float(action.bpm or clock or 120.0)
        try:
            job, position = self.submit(params, action=op, req_id=req_id, source="midi", reply=None)
            self._reply(job, "/musicgen/accepted", [job.id, position])
        except RequestError as exc:
            log.warning("MIDI %s (%s) refused: %s (%s)", kind, action.source or "", exc.message, exc.code)
            for target in self.announce:
                self._send(target, "/musicgen/error", [req_id, exc.code, exc.message])

    # --- the worker -----------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            job = self.queue.get(timeout=0.5)
            if job is None:
                continue
            try:
                self._run(job)
            except Exception:
                log.exception("job %s: unexpected failure", job.id)
            finally:
                self.queue.finish(job)

    def _run(self, job: Job) -> None:
        req = job.request
        job.run_started = time.monotonic()
        self.journal.set_state(job, "running")
        log.info("job %s running", job.id)
        self._feedback("started", job)
        last = [0.0, 0.0]  # time of the last progress reply, fraction sent

        def hook(fraction: float) -> None:
            if job.cancel_requested:
                raise Cancelled()
            if self._stopping.is_set():
                raise _Shutdown()
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL_S or (fraction >= 1.0 > last[1]):
                last[0], last[1] = now, fraction
                self._reply(job, "/musicgen/progress", [job.id, float(fraction)])

        self._reply(job, "/musicgen/progress", [job.id, 0.0])
        clock = self.midi.clock_bpm if self.midi is not None else None
        preview = self._previewer(job) if req.preview else None
        try:
            result = render(self.engine, req, job.out_dir, hook=hook, clock_bpm=clock,
                            owner=f"{job.id}@{job.created:.6f}", when=job.created, preview=preview,
                            separator=self.separator)
        except Cancelled:
            self.journal.set_state(job, "cancelled")
            log.info("job %s cancelled", job.id)
            self._deliver(job)
            return
        except _Shutdown:
            self.journal.set_state(job, "queued")
            log.info("job %s interrupted by shutdown; it stays journaled and runs at the next start", job.id)
            return
        except RequestError as exc:
            self._fail(job, exc.code, exc.message)
            return
        except OSError as exc:
            self._fail(job, "io_error", f"cannot write clips to {job.out_dir}: {exc.strerror or exc}")
            return
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self._fail(job, "generation_failed", (str(exc).splitlines() or [type(exc).__name__])[0][:300])
            return
        job_result = {"paths": [str(p) for p in result.paths], "seed": result.seed,
                      "duration_s": round(result.duration_s, 6), "sr": result.sr, "timings": result.timings}
        if req.stems:
            job_result["stems"] = [{name: str(p) for name, p in group.items()} for group in result.stems]
        self.journal.set_state(job, "done", job_result)
        if result.paths:
            self.last_clip = result.paths[0]
        log.info("job %s done in %.2f s: %s", job.id, result.timings.get("total_s", 0.0),
                 ", ".join(p.name for p in result.paths))
        self._deliver(job)

    def _previewer(self, job: Job):
        """A callback that rewrites ``<out_dir>/previews/<id>.wav`` (atomically, always a valid
        file) with the audio made so far, and sends ``/musicgen/preview <id> <path>``."""
        from .audio import write_audio

        folder = Path(job.out_dir) / PREVIEW_DIR
        path = folder / f"{job.id}.wav"
        last = [0.0]

        def on_audio(audio, sr: int) -> None:
            now = time.monotonic()
            if now - last[0] < PREVIEW_INTERVAL_S:
                return
            last[0] = now
            try:
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f".{job.id}.wav.{os.getpid()}.partial"
                write_audio(tmp, audio[0], sr, "wav")
                os.replace(tmp, path)
            except OSError as exc:
                log.warning("job %s: cannot write preview: %s", job.id, exc)
                return
            if job.preview_started is None:
                job.preview_started = now
                log.info("job %s: first preview after %.2f s", job.id, now - job.run_started)
            self._reply(job, "/musicgen/preview", [job.id, str(path)])

        return on_audio

    def _drop_preview(self, job: Job) -> None:
        try:
            (Path(job.out_dir) / PREVIEW_DIR / f"{job.id}.wav").unlink()
        except OSError:
            pass

    def _fail(self, job: Job, code: str, message: str) -> None:
        self.journal.set_state(job, "error", {"code": code, "message": message})
        log.info("job %s failed: %s (%s)", job.id, message, code)
        self._deliver(job)

    def _deliver(self, job: Job) -> None:
        """Tell the client a job ended (OSC reply, REAPER result file), once."""
        if job.delivered:
            return
        if job.request.preview:
            self._drop_preview(job)
        if job.state == "done":
            for v, group in enumerate(job.result.get("stems") or []):
                # one /musicgen/stems per variation, right before done (docs/protocol.md, "Stems")
                mix = job.result["paths"][v] if v < len(job.result.get("paths", [])) else ""
                self._reply(job, "/musicgen/stems", [job.id, v + 1, mix, *[x for kv in group.items() for x in kv]])
            self._reply(job, "/musicgen/done", [job.id, *job.result.get("paths", [])])
        elif job.state == "error":
            self._reply(job, "/musicgen/error", [job.id, job.result.get("code", "generation_failed"),
                                                 job.result.get("message", "")])
        elif job.state == "cancelled":
            self._reply(job, "/musicgen/cancelled", [job.id])
        self._feedback({"done": "done", "error": "error", "cancelled": "cancelled"}.get(job.state, "done"), job)
        if job.source == "inbox" or job.request.daw == "reaper":
            req = job.request
            result = {"id": job.id, "status": job.state, "paths": job.result.get("paths", []),
                      "prompt": req.prompt, "seed": job.result.get("seed", req.seed),
                      "duration_s": job.result.get("duration_s"), "sr": job.result.get("sr"),
                      "position": req.position, "track": req.track, "daw": req.daw, "action": req.action,
                      "name": req.name, "variations": req.variations, "request": req.to_dict()}
            if job.result.get("stems"):
                result["stems"] = job.result["stems"]
            if job.state == "error":
                result["code"] = job.result.get("code")
                result["message"] = job.result.get("message")
            try:
                reaper_daw.write_result(job.out_dir, job.id, result)
                reaper_daw.nudge(self._send, self.cfg.reaper)
            except OSError as exc:
                log.warning("cannot write REAPER result for %s: %s", job.id, exc)
        self.journal.mark_delivered(job)

    def _feedback(self, event: str, job: Job) -> None:
        if self.midi is not None:
            try:
                self.midi.feedback(event, job.id)
            except Exception:
                log.exception("MIDI feedback failed")


def _pairs(args: list) -> dict:
    """``[k1, v1, k2, v2, ...]`` -> dict; keys must be strings."""
    if len(args) % 2:
        raise RequestError("bad_request", "trailing arguments must be key value pairs")
    out = {}
    for i in range(0, len(args), 2):
        key = args[i]
        if not isinstance(key, str):
            raise RequestError("bad_request", f"expected a key (string) at argument {i + 3}, got {args[i]!r}")
        out[key] = args[i + 1]
    return out


def _reply_target(params: dict, sender) -> tuple[str, int]:
    host = params.get("reply_host", sender[0])
    port = params.get("reply_port", sender[1])
    if not isinstance(host, str) or not host:
        raise RequestError("bad_request", "reply_host must be a host name or address")
    if isinstance(port, float) and port.is_integer():
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise RequestError("bad_request", "reply_port must be 1-65535")
    return host, port


def _under_roots(path: str, roots: list[Path]) -> bool:
    try:
        p = Path(os.path.expanduser(path)).resolve()
    except (OSError, RuntimeError):
        return False
    return any(p == r or r in p.parents for r in roots)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lock_state_dir(state_dir: Path):
    """Hold an exclusive lock on the state dir so two daemons never share a journal."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fh = open(state_dir / "daemon.lock", "a+")
    try:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # Windows: msvcrt
        import msvcrt

        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            raise RuntimeError(f"another daemon is using the state dir {state_dir}") from None
    except OSError:
        raise RuntimeError(f"another daemon is using the state dir {state_dir}") from None
    return fh


def serve_main(args) -> int:
    """Entry point of `musicgen-bridge serve` (args from argparse)."""
    from .cli import CliError

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        logging.getLogger("bridge.midi").setLevel(logging.INFO)
    try:
        file_data = load_config_file(args.config) if args.config else {}
        announce_raw = file_data.pop("announce", [])
        flags = {"model": args.model, "device": args.device, "dtype": args.dtype, "decoder": args.decoder,
                 "host": args.host, "osc_port": args.osc_port, "output_dir": args.output_dir,
                 "state_dir": args.state_dir, "inbox_dir": args.inbox_dir, "token": args.token,
                 "queue_size": args.queue_size, "verbose": args.verbose or None,
                 "stems_model": getattr(args, "stems_model", None)}
        cfg = build_serve_config(flags, file_data)
        announce = _parse_targets(announce_raw)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if not is_loopback(cfg.host) and not cfg.token:
        raise CliError(f"refusing to listen on {cfg.host} without --token: anyone on the network could "
                       "generate and write files; set --token SECRET (and send `token SECRET` with every request)")
    midi_factory = _midi_factory(cfg, args)
    try:
        lock = _lock_state_dir(cfg.state_dir)
    except (RuntimeError, OSError) as exc:
        raise CliError(str(exc)) from None
    from .engine import build_engine
    from .engine.loading import ModelLoadError

    try:
        engine = build_engine(cfg.model, device=cfg.device, dtype=cfg.dtype, decoder=cfg.decoder)
    except (ModelLoadError, ValueError) as exc:
        raise CliError(str(exc)) from None
    daemon = Daemon(cfg, engine, midi_factory=midi_factory)
    daemon.announce = announce
    for folder in {cfg.output_dir}:
        if folder.is_dir():
            clean_partials(folder)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        daemon.start()
    except OSError as exc:
        raise CliError(str(exc)) from None
    print(f"musicgen-bridge {__version__} ready: model {engine.loaded.spec} on {engine.loaded.device}, "
          f"OSC {daemon.osc.address[0]}:{daemon.osc.address[1]}", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        daemon.stop()
        lock.close()
    log.info("stopped")
    return 0


def _parse_targets(raw) -> list[tuple[str, int]]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError("announce must be a list of \"host:port\" strings")
    out = []
    for item in raw:
        try:
            host, port = str(item).rsplit(":", 1)
            out.append((host, int(port)))
        except ValueError:
            raise ConfigError(f"announce entry {item!r} must be \"host:port\"") from None
    return out


def _midi_factory(cfg: ServeConfig, args):
    """A function building the MIDI side, or None when MIDI is not asked for."""
    overrides = {"in_name": getattr(args, "midi_in", None), "connect": getattr(args, "midi_connect", None),
                 "out_name": getattr(args, "midi_out", None), "api": getattr(args, "midi_api", None)}
    if not cfg.midi and not any(v is not None for v in overrides.values()):
        return None
    from .cli import CliError
    from .midi import MidiConfig, MidiConfigError, MidiSide

    try:
        midi_cfg = MidiConfig.from_dict(cfg.midi, cli_overrides=overrides, presets=list(cfg.presets))
    except MidiConfigError as exc:
        raise CliError(str(exc)) from None
    return lambda on_action: MidiSide(midi_cfg, on_action=on_action, log=logging.getLogger("bridge.midi"))
