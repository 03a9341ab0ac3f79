"""Delivery: telling clients what happened to a job (OSC replies, REAPER result files, MIDI feedback).

A job's client is whoever sent it (its reply target) and, for MIDI-triggered jobs, every
``announce`` target of the config. :meth:`Delivery.deliver` sends a job's final answer exactly once
and records that in the journal; replies during the job (accepted, progress, preview) go through
:meth:`Delivery.reply`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from .clips import remove_preview, write_json_atomic
from .daw import reaper as reaper_daw
from .errors import GENERATION_FAILED, RequestError
from .jobs import CANCELLED, DONE, ERROR, Job, Journal

log = logging.getLogger("bridge.delivery")

Address = tuple[str, int]
#: ``send(target, address, args)``: one OSC message; never raises.
Send = Callable[[Address, str, list], None]


class Delivery:
    def __init__(self, journal: Journal, send: Send, *, announce: list[Address] | None = None,
                 reaper_cfg: dict | None = None):
        self.journal = journal
        self.send = send
        self.announce = announce if announce is not None else []  # the daemon's list (shared)
        self.reaper_cfg = dict(reaper_cfg or {})
        self.midi = None  # the MIDI side, when one runs: feedback(event, job_id)
        self.on_delivered: Callable[[Job], None] | None = None  # after each final answer (jams)

    def targets(self, job: Job) -> list[Address]:
        """Where replies about ``job`` go: its sender, and the announce targets for MIDI jobs."""
        targets = []
        if job.reply_host and job.reply_port:
            targets.append((job.reply_host, int(job.reply_port)))
        if job.source == "midi":
            targets.extend(t for t in self.announce if t not in targets)
        return targets

    def reply(self, job: Job, address: str, args: list) -> None:
        for target in self.targets(job):
            self.send(target, address, args)

    def feedback(self, event: str, job: Job) -> None:
        """MIDI feedback (``started``, ``done``, ``error``, ``cancelled``) when a MIDI side runs."""
        if self.midi is not None:
            try:
                self.midi.feedback(event, job.id)
            except Exception:
                log.exception("MIDI feedback failed")

    def deliver(self, job: Job) -> None:
        """Tell the client a job ended (OSC replies, REAPER result file, MIDI feedback), once."""
        if job.delivered:
            return
        if job.request.preview:
            remove_preview(job.out_dir, job.id)
        if job.state == DONE:
            paths = job.result.get("paths", [])
            for v, group in enumerate(job.result.get("stems") or []):
                # one /musicgen/stems per variation, right before done (docs/protocol.md, "Stems")
                mix = paths[v] if v < len(paths) else ""
                self.reply(job, "/musicgen/stems", [job.id, v + 1, mix, *[x for kv in group.items() for x in kv]])
            self.reply(job, "/musicgen/done", [job.id, *paths])
        elif job.state == ERROR:
            self.reply(job, "/musicgen/error", [job.id, job.result.get("code", GENERATION_FAILED),
                                                job.result.get("message", "")])
        elif job.state == CANCELLED:
            self.reply(job, "/musicgen/cancelled", [job.id])
        self.feedback(job.state if job.state in (DONE, ERROR, CANCELLED) else DONE, job)
        if job.source == "inbox" or job.request.daw == "reaper":
            self._write_reaper_result(job)
        self.journal.mark_delivered(job)
        if self.on_delivered is not None:
            try:
                self.on_delivered(job)
            except Exception:
                log.exception("after delivering %s", job.id)

    def _write_reaper_result(self, job: Job) -> None:
        req = job.request
        result = {"id": job.id, "status": job.state, "paths": job.result.get("paths", []),
                  "prompt": req.prompt, "seed": job.result.get("seed", req.seed),
                  "duration_s": job.result.get("duration_s"), "sr": job.result.get("sr"),
                  "position": req.position, "track": req.track, "daw": req.daw, "action": req.action,
                  "name": req.name, "variations": req.variations, "request": req.to_dict()}
        if job.result.get("stems"):
            result["stems"] = job.result["stems"]
        if job.state == ERROR:
            result["code"] = job.result.get("code")
            result["message"] = job.result.get("message")
        try:
            reaper_daw.write_result(job.out_dir, job.id, result)
            reaper_daw.nudge(self.send, self.reaper_cfg)
        except OSError as exc:
            log.warning("cannot write REAPER result for %s: %s", job.id, exc)

    def refused_file(self, req_id: str, out_dir: str | None, rejected_dir: Path, exc: RequestError) -> None:
        """The error result of a request file that was refused (never journaled): in
        ``<out_dir>/results/<id>.json`` when the daemon may write there, else (or when that fails)
        as ``<rejected_dir>/<id>.result.json``, beside the refused request file."""
        result = {"id": req_id, "status": ERROR, "code": exc.code, "message": exc.message, "paths": []}
        if out_dir:
            try:
                reaper_daw.write_result(out_dir, req_id, result)
                return
            except OSError as err:
                log.warning("cannot write error result for %s to %s: %s", req_id, out_dir, err)
        try:
            rejected_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(rejected_dir / f"{req_id}.result.json", result)
        except OSError as err:
            log.warning("cannot write error result for %s to %s: %s", req_id, rejected_dir, err)
