"""Switching the loaded model while the daemon runs (``/musicgen/load``, or a job naming another model).

Only the worker thread switches, between jobs: the running job finishes, the queue waits, the new
model loads (``/musicgen/loading <name> <fraction>`` replies), then the queue goes on. A name that
cannot be loaded leaves the old model serving and is answered with an error.

Memory: two models are held at once only when the device has room. :func:`plan` decides, from the
new model's weights on disk (:func:`weights_bytes`, times 1.2 for load-time copies, plus the
copies the CPU step keeps of the decoder's weights: :func:`with_step_copies`) and the device's
free memory (:func:`bridge.engine.memory.free_bytes`): room -> the new model loads beside the old one,
which is released once the new one is ready (a failed load costs nothing); no room, or free memory
unknown -> the old model is released first, and reloaded when the new one fails.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

from .engine import memory

log = logging.getLogger("bridge.switching")

BESIDE = "load_beside"      # load the new model, then release the old one
REPLACE = "release_first"   # release the old model, then load the new one
#: Loading needs more than the weights for a moment (a CPU copy while moving to the device).
LOAD_OVERHEAD = 1.2


def plan(new_bytes: int | None, free: int | None) -> str:
    """``BESIDE`` when the new model's weights fit in the free memory (with headroom), else ``REPLACE``."""
    if new_bytes is None or free is None:
        return REPLACE
    return BESIDE if memory.fits(int(new_bytes * LOAD_OVERHEAD), free) else REPLACE


def weights_bytes(spec: str, dtype_bytes: int = 4) -> int | None:
    """The new model's weights in memory at ``dtype_bytes`` per value, from its files (None: unknown,
    e.g. a hub model not downloaded yet)."""
    from .engine.audiocraft import find_checkpoint
    from .engine.specs import resolve_model_spec

    try:
        ckpt = find_checkpoint(spec)
        if ckpt is not None:
            return int(ckpt.stat().st_size * dtype_bytes / 2)  # fp16 files, the usual; base parts are small beside it
        source, is_local = resolve_model_spec(spec)
        folder = Path(source) if is_local else _cached_snapshot(source)
        if folder is None:
            return None
        index = folder / "model.safetensors.index.json"
        if index.is_file():
            total = json.loads(index.read_text())["metadata"]["total_size"]
        else:
            total = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
        return int(total * dtype_bytes / 4) if total else None  # hub weights are stored as fp32
    except Exception:
        return None


def with_step_copies(weights: int | None, *, packed: bool, int8: bool) -> int | None:
    """``weights`` (bytes) plus the copies of the decoder's weight matrices the CPU's C step keeps
    beside them: packed bf16 copies (``packed``, :func:`bridge.engine.cpu_step.packed_weights`:
    as many bytes as the bf16 decoder) or int8 ones (``int8``: half as many). The decoder is most
    of a MusicGen's weights, so the whole ``weights`` (at bf16) stands for it: an upper bound."""
    if weights is None:
        return None
    return int(weights * (2.0 if packed else 1.5 if int8 else 1.0))


def _step_copies(engine, device: str) -> tuple[bool, bool]:
    """``(packed, int8)``: which copies of the weights the C step keeps on this machine."""
    if device != "cpu":
        return False, False
    int8 = bool(getattr(engine, "cpu_int8", False))
    try:
        from .engine import cpu_step

        return cpu_step.reads_packed_copies(int8), int8
    except Exception:  # an estimate: never let it stop a switch
        return False, False


def _cached_snapshot(repo: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:
        return None


def switch(engine, spec: str, name: str, *, dtype: str, say: Callable[[float], None]):
    """Load ``spec`` into ``engine`` (its ``loaded`` is replaced); returns the new LoadedModel.

    ``say(fraction)`` reports progress. Raises :class:`~bridge.engine.loading.ModelLoadError` after
    putting the old model back when the new one cannot be loaded."""
    from .engine.loading import load_model

    old = engine.loaded
    itemsize = getattr(old.dtype, "itemsize", 4)
    packed, int8 = _step_copies(engine, old.device)
    how = plan(with_step_copies(weights_bytes(spec, itemsize), packed=packed, int8=int8),
               memory.free_bytes(old.device))
    log.info("switching model %s -> %s (%s)", old.spec, name, how)
    say(0.0)
    if how == REPLACE:
        engine.loaded = _Released(old)
        _free(old)
        say(0.1)
    try:
        new = load_model(spec, device=old.device, dtype=dtype)
        say(0.8)
        _prepare(engine, new, dtype)
    except Exception:
        if how == REPLACE:
            log.warning("model %s could not be loaded; loading %s again", name, old.spec)
            back = load_model(old.source, device=old.device, dtype=dtype)
            back.spec, back.origin = old.spec, old.origin
            _prepare(engine, back, dtype)
            engine.loaded = back
        else:
            engine.loaded = old
        raise
    new.spec = name
    engine.loaded = new
    if how == BESIDE:
        _free(old)
    say(1.0)
    return new


class _Released:
    """Stands in for a released model while the new one loads (only the worker uses the engine)."""

    def __init__(self, old):
        self.spec, self.source, self.origin = old.spec, old.source, old.origin
        self.device, self.dtype, self.is_melody = old.device, old.dtype, old.is_melody
        self.sr, self.channels = old.sr, old.channels

    def is_named(self, spec: str) -> bool:
        return spec in (self.spec, self.source)


def _free(lm) -> None:
    lm.model = None
    memory.release(lm.device)


def _prepare(engine, lm, dtype: str) -> None:
    """Ready a model just loaded as the engine's first one was (:func:`bridge.engine.fit_model`:
    the decoder alone in bf16 where the C step wants it, EnCodec's place; the fast decoder's
    kernels and weight copies)."""
    from .engine import fit_model

    fit_model(lm, dtype, engine.decoder)
    if engine.decoder == "fast":
        from .engine.fast_decoder import prepare

        prepare(lm, getattr(engine, "cpu_int8", False))


class Switcher:
    """The worker's side of switching: loads asked for with ``/musicgen/load`` (:meth:`request`,
    run by :meth:`run_pending` between jobs) and the model each job needs (:meth:`for_job`).

    ``resolve(name)`` gives what ``load_model`` takes; ``reply(target, address, args)`` answers the
    client that asked; ``job_reply(job, address, args)`` a job's client."""

    def __init__(self, engine, *, dtype: str, resolve: Callable[[str], str], reply, job_reply,
                 on_failed: Callable[[str], None] = lambda name: None,
                 on_switched: Callable[[], None] = lambda: None):
        import threading

        self.on_failed = on_failed
        self.on_switched = on_switched
        self.engine = engine
        self.dtype = dtype
        self.resolve = resolve
        self.reply = reply
        self.job_reply = job_reply
        self._pending: list[tuple[str, object]] = []
        self._lock = threading.Lock()

    def request(self, name: str, target) -> None:
        with self._lock:
            self._pending.append((name, target))

    def run_pending(self) -> None:
        """Loads asked for while the last job ran (each answered; a failed one leaves the old model)."""
        from .engine.loading import ModelLoadError

        while True:
            with self._lock:
                if not self._pending:
                    return
                name, target = self._pending.pop(0)
            if self.engine.loaded.is_named(name) or self.engine.loaded.spec == name:
                self.reply(target, "/musicgen/loaded", [name])
                continue
            try:
                switch(self.engine, self.resolve(name), name, dtype=self.dtype,
                       say=lambda f: self.reply(target, "/musicgen/loading", [name, float(f)]))
            except ModelLoadError as exc:
                from .errors import UNKNOWN_MODEL

                self.on_failed(name)
                self.reply(target, "/musicgen/error", ["", UNKNOWN_MODEL, str(exc)])
                continue
            self.on_switched()
            self.reply(target, "/musicgen/loaded", [name])

    def for_job(self, job) -> None:
        """Load the model ``job`` needs when another one is loaded; raises ``unknown_model``
        (the old model stays) when it cannot be loaded."""
        from .engine.loading import ModelLoadError
        from .errors import UNKNOWN_MODEL, RequestError

        name = getattr(job, "model", "") or ""
        lm = self.engine.loaded
        if not name or lm.spec == name or lm.is_named(name):
            return
        try:
            switch(self.engine, self.resolve(name), name, dtype=self.dtype,
                   say=lambda f: self.job_reply(job, "/musicgen/loading", [name, float(f)]))
        except ModelLoadError as exc:
            raise RequestError(UNKNOWN_MODEL, str(exc)) from None
        self.on_switched()
