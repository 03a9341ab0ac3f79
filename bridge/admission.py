"""Admission: the one place a request is checked before it may be queued.

Every front end (OSC, request files, MIDI, the command line) hands loose keys to
:meth:`Admission.admit`, which returns a :class:`~bridge.request.GenerationRequest` ready for the
engine or raises :class:`~bridge.errors.RequestError`. The checks, in order:

1. defaults and presets merged under the request's own keys, types and ranges
   (:func:`bridge.request.parse_request`);
2. the model: the request may only name the loaded one (:func:`check_model`);
3. melody notes sent ahead under an id are taken from the :class:`NoteStore`;
4. a melody needs a melody model (:func:`check_melody_model`), and the job must fit in the
   device's free memory (:func:`check_memory`);
5. stems need the ``[stems]`` extra;
6. paths: under the configured ``roots``, the region of a file to continue readable, the melody file
   readable, the output folder writable;
7. a seed is drawn when none was given (it is recorded, so any clip can be made again).

The checks that need the loaded model (2, 4) run when ``lm`` is given. The command line admits
before loading the model; :mod:`bridge.render` runs them again on the loaded model (it also meets
jobs journaled by a daemon that ran another model).
"""

from __future__ import annotations

import hmac
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

from .audio import AudioError, audio_length_s, probe_region
from .clips import ensure_out_dir
from .errors import (BAD_AUDIO, BAD_MELODY, BAD_REQUEST, FORBIDDEN, IO_ERROR, OUT_OF_MEMORY, UNKNOWN_MODEL,
                     RequestError)
from .request import MAX_NOTES, GenerationRequest, parse_note, parse_request

#: How long notes sent with /musicgen/notes wait for the request that uses them.
NOTES_TTL_S = 600.0
MIDI_FILE_SUFFIXES = (".mid", ".midi", ".smf")


def draw_seed() -> int:
    """A fresh random seed (recorded, so any clip can be made again)."""
    return random.SystemRandom().randrange(0, 2**31 - 1)


class NoteStore:
    """Melody notes sent ahead of a request (``/musicgen/notes``), kept per id for ``ttl_s``.

    Notes sent under a request's own id are used by that request; notes under another id are
    used by a request whose ``melody_notes`` names that id. Each id is used once.
    """

    def __init__(self, ttl_s: float = NOTES_TTL_S, max_per_id: int = MAX_NOTES):
        self.ttl_s = ttl_s
        self.max_per_id = max_per_id
        self._notes: dict[str, tuple[float, list]] = {}
        self._lock = threading.Lock()

    def add(self, note_id: str, values: list) -> None:
        """Add notes given flat as ``pitch start_beats length_beats velocity ...`` under ``note_id``."""
        if len(values) == 0 or len(values) % 4:
            raise RequestError(BAD_REQUEST, "notes come as 4 numbers each: pitch start_beats length_beats velocity")
        notes = [parse_note(values[i:i + 4]) for i in range(0, len(values), 4)]
        now = time.monotonic()
        with self._lock:
            for key in [k for k, (t, _) in self._notes.items() if now - t > self.ttl_s]:
                del self._notes[key]
            _, have = self._notes.get(note_id, (now, []))
            if len(have) + len(notes) > self.max_per_id:
                raise RequestError(BAD_REQUEST, f"more than {self.max_per_id} notes under one id")
            self._notes[note_id] = (now, have + notes)

    def take(self, note_id: str) -> list | None:
        """The notes under ``note_id`` (removed), or None."""
        with self._lock:
            entry = self._notes.pop(note_id, None)
        return entry[1] if entry is not None else None

    def resolve(self, req: GenerationRequest) -> None:
        """Put the notes a request refers to into ``req.melody_notes`` (``bad_melody`` when missing)."""
        if isinstance(req.melody_notes, str):
            key = req.melody_notes
        elif req.melody_notes or req.melody:
            return
        else:
            key = req.id  # notes sent under the request's own id, if any
        notes = self.take(key)
        if notes is not None:
            req.melody_notes = notes
        elif isinstance(req.melody_notes, str):
            raise RequestError(BAD_MELODY, f"no notes were sent under id {key!r} (send /musicgen/notes first)")


def check_model(lm, req: GenerationRequest) -> None:
    """A request may name only the loaded model (``lm``: a :class:`bridge.engine.LoadedModel`)."""
    if req.model and not lm.is_named(req.model):
        raise RequestError(UNKNOWN_MODEL, f"model {req.model!r} is not loaded; this daemon runs "
                           f"{lm.spec!r} (start another daemon for another model)")


def check_melody_model(lm, req: GenerationRequest) -> None:
    """A melody (file or notes) needs a melody model."""
    if (req.melody or req.melody_notes) and not lm.is_melody:
        raise RequestError(BAD_MELODY, f"model {lm.spec!r} takes no melody; "
                           "use a melody model (--model melody)")


def check_memory(lm, req: GenerationRequest) -> None:
    """A job that cannot fit in the device's free memory is refused before it starts."""
    from .engine import memory

    try:
        size = memory.DecoderSize.of(lm)
    except AttributeError:  # no local model to measure (e.g. a record without weights)
        return
    prompt_s = req.end_s - req.start_s if req.action == "continue" and req.end_s is not None else 0.0
    needed = memory.job_bytes(size, duration_s=req.length_s(), variations=req.variations, guidance=req.cfg > 1,
                              prompt_s=min(prompt_s, memory.WINDOW_S), prompt_chars=len(req.prompt))
    free = memory.free_bytes(lm.device)
    if not memory.fits(needed, free):
        raise RequestError(OUT_OF_MEMORY, f"this request needs about {memory.gb(needed)} on {lm.device} "
                           f"({req.variations} variation(s) of {req.length_s():g} s) but {memory.gb(free)} is free; "
                           "ask for fewer variations or a shorter clip")


def check_loaded(lm, req: GenerationRequest) -> None:
    """The checks that need the model the request runs on (:func:`check_model`,
    :func:`check_melody_model`, :func:`check_memory`), for when it is loaded."""
    check_model(lm, req)
    check_melody_model(lm, req)
    check_memory(lm, req)


def check_stems(req: GenerationRequest) -> None:
    if req.stems:
        from .stems import ERROR_CODE, MISSING_EXTRA, demucs_available

        if not demucs_available():
            raise RequestError(ERROR_CODE, MISSING_EXTRA)


def under_roots(path: str | os.PathLike, roots: list[Path]) -> bool:
    """Whether ``path`` (``~`` expanded, links resolved) is one of ``roots`` or inside one."""
    try:
        p = Path(os.path.expanduser(str(path))).resolve()
    except (OSError, RuntimeError):
        return False
    return any(p == r or r in p.parents for r in roots)


def check_paths(req: GenerationRequest, out_dir: Path, roots: list[Path]) -> None:
    """Paths under ``roots`` (when any are configured), input files readable, ``out_dir`` writable.

    Input paths are made absolute in ``req`` (the worker may run later, elsewhere).
    """
    for label, value in (("audio_path", req.audio_path), ("melody", req.melody), ("out_dir", str(out_dir))):
        if value and roots and not under_roots(value, roots):
            raise RequestError(FORBIDDEN, f"{label} {value} is outside the allowed roots")
    if req.audio_path:
        p = Path(os.path.expanduser(req.audio_path))
        try:
            probe_region(p, start_s=req.start_s, end_s=req.end_s)
        except AudioError as exc:
            raise RequestError(BAD_AUDIO, str(exc)) from None
        req.audio_path = str(p.resolve())
    if req.melody:
        p = Path(os.path.expanduser(req.melody))
        if not p.is_file():
            raise RequestError(BAD_MELODY, f"melody file not found or not a regular file: {p}")
        if p.suffix.lower() not in MIDI_FILE_SUFFIXES:
            try:
                audio_length_s(p)
            except AudioError as exc:
                raise RequestError(BAD_MELODY, str(exc)) from None
        req.melody = str(p.resolve())
    try:
        ensure_out_dir(out_dir)
    except OSError as exc:
        raise RequestError(IO_ERROR, str(exc)) from None


def token_ok(params: dict, token: str | None) -> bool:
    """Whether a request carries the configured ``token`` (always true when none is configured).

    Compared in constant time, so the token cannot be guessed from reply times."""
    if not token:
        return True
    given = params.get("token")
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


class Admission:
    """The daemon's (or the command line's) rules for new requests.

    ``defaults`` and ``presets`` come from the config file; ``roots`` limit the paths a request
    may name (empty: any); ``output_dir`` is used when a request names no ``out_dir``.
    """

    def __init__(self, *, output_dir: Path, defaults: dict | None = None, presets: dict | None = None,
                 roots: list[Path] | None = None):
        self.output_dir = Path(output_dir)
        self.defaults = dict(defaults or {})
        self.presets = dict(presets or {})
        self.roots = list(roots or [])
        self.notes = NoteStore()

    def may_write(self, folder: str | os.PathLike) -> bool:
        """Whether requests may have files written to ``folder`` (under ``roots``, when there are any)."""
        return not self.roots or under_roots(folder, self.roots)

    def admit(self, params: dict[str, Any], *, action: str, req_id: str, lm=None) -> tuple[GenerationRequest, Path]:
        """Check a request; returns it (paths absolute, seed drawn) and its output folder."""
        req = parse_request(params, action=action, req_id=req_id, presets=self.presets, defaults=self.defaults)
        if lm is not None:
            check_model(lm, req)
        self.notes.resolve(req)
        if lm is not None:
            check_melody_model(lm, req)
            check_memory(lm, req)
        check_stems(req)
        out_dir = Path(os.path.expanduser(req.out_dir)) if req.out_dir else self.output_dir
        check_paths(req, out_dir, self.roots)
        if req.seed is None:
            req.seed = draw_seed()
        return req, out_dir
