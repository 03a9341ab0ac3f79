"""Stems: split a clip into drums, bass, other and vocals (and guitar, piano) with demucs.

Separation uses `demucs <https://github.com/adefossez/demucs>`_ 4.1+ (Hybrid Transformer Demucs;
torch >= 2.1, no torchaudio), an optional extra: ``pip install 'musicgen-bridge[stems]'``.
Without it, asking for stems fails with :data:`MISSING_EXTRA` (code ``stems_unavailable``);
everything else works.

:class:`StemSeparator` is made once (by the daemon or the command line, never by the engine),
loads its model on first use and keeps it, on the same device as generation. The weights of the
named models come from demucs's own hub repositories on first use (``htdemucs`` about 80 MB,
``htdemucs_ft`` and ``htdemucs_6s`` larger) and are cached like MusicGen's. A folder holding a
demucs bag (``<name>.yaml`` plus ``<sig>.safetensors``, e.g. from :func:`make_test_stem_model`)
works too: the tests use a tiny random-weight HTDemucs built that way, never a download.

Audio in and out is ``(channels, samples)`` float32 at the clip's rate: it is resampled to the
model's rate (44.1 kHz) and back with soxr, mono is copied to both sides and averaged back, and
every stem has exactly the clip's length and channel count. Stems are not normalized: they keep
their level in the mix, so they add up to (about) the mix.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import fit_channels, resample

#: The one-line error when demucs is not installed.
MISSING_EXTRA = "stems need the optional extra: pip install 'musicgen-bridge[stems]'"
ERROR_CODE = "stems_unavailable"
DEFAULT_STEM_MODEL = "htdemucs"
#: Named models and the stems they make (in demucs's order, which is the order of files and replies).
STEM_MODELS = {
    "htdemucs": ("drums", "bass", "other", "vocals"),
    "htdemucs_ft": ("drums", "bass", "other", "vocals"),
    "htdemucs_6s": ("drums", "bass", "other", "vocals", "guitar", "piano"),
}
#: Chunk overlap when a clip is longer than the model's segment (demucs's default).
OVERLAP = 0.25

ProgressHook = Callable[[float], None]


class StemsUnavailable(RuntimeError):
    """Stems cannot be made here: demucs missing, or its model cannot be loaded. One line."""

    code = ERROR_CODE


def demucs_available() -> bool:
    """Whether the optional extra is installed (demucs and what its separation imports)."""
    try:
        _import_demucs()
    except StemsUnavailable:
        return False
    return True


def _import_demucs():
    try:
        import demucs.apply  # noqa: F401
        import demucs.htdemucs  # noqa: F401
    except ImportError:
        raise StemsUnavailable(MISSING_EXTRA) from None
    return demucs


def check_stem_model(spec: str | None) -> str:
    """A valid stem model spec (a name of :data:`STEM_MODELS` or a folder holding a demucs bag).

    Raises ``ValueError`` with a one-line message otherwise. Needs no demucs.
    """
    spec = (spec or DEFAULT_STEM_MODEL).strip()
    if spec in STEM_MODELS:
        return spec
    p = Path(os.path.expanduser(spec))
    if p.is_dir():
        _bag_yaml(p)
        return str(p)
    raise ValueError(f"unknown stem model {spec!r}: use {', '.join(STEM_MODELS)} or a folder made by "
                     "make_test_stem_model")


def _bag_yaml(folder: Path) -> Path:
    found = sorted(folder.glob("*.yaml"))
    if len(found) != 1:
        raise ValueError(f"stem model folder {folder} must hold exactly one <name>.yaml (a demucs bag), "
                         f"found {len(found)}")
    return found[0]


class StemSeparator:
    """A demucs separation model, loaded on first use and kept.

    ``StemSeparator("htdemucs", device="cuda")``; ``StemSeparator.from_model(model)`` wraps a
    model already built (tests). :meth:`separate` is not re-entrant per instance; the daemon
    calls it from its single worker.
    """

    def __init__(self, model_name: str = DEFAULT_STEM_MODEL, device: str = "cpu", *, shifts: int = 0,
                 overlap: float = OVERLAP):
        self.model_name = model_name or DEFAULT_STEM_MODEL
        self.device = device or "cpu"
        self.shifts = shifts  # 0: deterministic; demucs's random shifts trade time for ~0.2 dB SDR
        self.overlap = overlap
        self._model = None
        self._lock = threading.Lock()
        self.load_s: float | None = None

    @classmethod
    def from_model(cls, model, device: str = "cpu", name: str = "custom", **kw) -> "StemSeparator":
        """Wrap a demucs model (``HTDemucs``, ``BagOfModels``, ...) that is already built."""
        sep = cls(name, device, **kw)
        sep._model = model.to(device).eval()
        sep.load_s = 0.0
        return sep

    # --- the model ------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self):
        """The demucs model, loading it on first use (raises :class:`StemsUnavailable`)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    @property
    def sources(self) -> tuple[str, ...]:
        """Stem names, in the order files and replies list them (loads the model when not named)."""
        if self._model is None and self.model_name in STEM_MODELS:
            return STEM_MODELS[self.model_name]
        return tuple(self.model.sources)

    def _load(self):
        _import_demucs()
        t0 = time.perf_counter()
        name = self.model_name
        try:
            if name in STEM_MODELS:
                from demucs.pretrained import get_model

                model = get_model(name)
            else:
                model = load_stem_model_folder(Path(os.path.expanduser(name)))
        except StemsUnavailable:
            raise
        except SystemExit as exc:  # demucs's fatal() exits
            raise StemsUnavailable(f"cannot load the separation model {name!r}: {exc}") from None
        except Exception as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise StemsUnavailable(f"cannot load the separation model {name!r}: {first}") from None
        model = model.to(self.device).eval()
        self.load_s = time.perf_counter() - t0
        return model

    @property
    def samplerate(self) -> int:
        """The rate the model separates at (44.1 kHz for every demucs v4 model)."""
        return int(self._model.samplerate) if self._model is not None else 44100

    def describe(self) -> dict:
        return {"model": self.model_name, "device": self.device, "loaded": self._model is not None,
                "sr": self.samplerate}

    # --- separation -----------------------------------------------------------------------------

    def separate(self, audio: np.ndarray, sr: int, hook: ProgressHook | None = None) -> dict[str, np.ndarray]:
        """Split ``audio`` ``(channels, samples)`` at ``sr`` into ``{stem: (channels, samples)}``.

        Every stem has the input's channel count, length and rate. ``hook(fraction)`` is called
        with 0..1 before and after each chunk the model runs on and may raise (e.g. ``Cancelled``)
        to stop; the exception propagates and nothing is returned.
        """
        import torch
        from demucs.apply import apply_model

        model = self.model
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[1] == 0:
            raise ValueError("audio must be (channels, samples) with samples > 0")
        channels, length = audio.shape
        msr = int(model.samplerate)
        x = resample(fit_channels(audio, int(model.audio_channels)), sr, msr)
        wav = torch.from_numpy(np.ascontiguousarray(x))
        ref = wav.mean(0)
        mean, std = ref.mean(), ref.std() + 1e-8
        total = max(1, _chunk_count(model, wav.shape[-1], self.overlap) * max(1, self.shifts))
        done = [0]

        def callback(info: dict) -> None:
            if info.get("state") == "end":
                done[0] += 1
            if hook is not None:
                hook(min(1.0, done[0] / total))

        if hook is not None:
            hook(0.0)
        out = apply_model(model, ((wav - mean) / std)[None], shifts=self.shifts, split=True,
                          overlap=self.overlap, device=self.device, callback=callback)
        out = (out * std + mean)[0].to("cpu", torch.float32).numpy()
        stems: dict[str, np.ndarray] = {}
        for k, name in enumerate(model.sources):
            s = resample(out[k], msr, sr)
            if s.shape[1] < length:
                s = np.pad(s, ((0, 0), (0, length - s.shape[1])))
            s = s[:, :length]
            s = s.mean(axis=0, keepdims=True) if channels == 1 else fit_channels(s, channels)
            stems[name] = np.ascontiguousarray(s, dtype=np.float32)
        if hook is not None:
            hook(1.0)
        return stems


def _chunk_count(model, length: int, overlap: float) -> int:
    """How many times apply_model runs a network on ``length`` samples (split=True, shifts=0)."""
    subs = list(getattr(model, "models", None) or [model])
    n = 0
    for m in subs:
        seg = float(getattr(m, "segment", 0) or 0)
        seg_len = int(m.samplerate * seg) if seg > 0 else length
        stride = max(1, int((1 - overlap) * seg_len))
        n += max(1, math.ceil(length / stride))
    return n


# --- local model folders (demucs's hub layout) ---------------------------------------------------

def load_stem_model_folder(folder: Path):
    """A demucs bag from a local folder: ``<name>.yaml`` (``models: [sig, ...]``, optional
    ``weights``, ``segment``) and ``<sig>.safetensors`` per model, as on demucs's hub repos."""
    import yaml
    from demucs.apply import BagOfModels
    from demucs.hf import load_safetensors_model

    spec = yaml.safe_load(_bag_yaml(folder).read_text(encoding="utf-8")) or {}
    sigs = spec.get("models") or []
    if not sigs:
        raise ValueError(f"{folder}: the yaml lists no models")
    models = [load_safetensors_model(folder / f"{sig}.safetensors") for sig in sigs]
    return BagOfModels(models, spec.get("weights"), spec.get("segment"))


def save_stem_model_folder(model, folder: str | os.PathLike, name: str = "tiny_htdemucs", sig: str = "0000tiny") -> Path:
    """Write a single demucs model (built with ``capture_init``) as a bag folder; returns it."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    args, kwargs = model._init_args_kwargs
    klass = type(model)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"klass": f"{klass.__module__}.{klass.__name__}", "args": json.dumps(list(args), default=_json_frac),
            "kwargs": json.dumps(kwargs, default=_json_frac)}
    save_file(state, str(folder / f"{sig}.safetensors"), metadata=meta)
    (folder / f"{name}.yaml").write_text(f"models: ['{sig}']\n", encoding="utf-8")
    return folder


def _json_frac(o):
    from fractions import Fraction

    if isinstance(o, Fraction):
        return {"_type": "fraction", "numerator": o.numerator, "denominator": o.denominator}
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def make_tiny_htdemucs(sources=STEM_MODELS["htdemucs"], *, segment: float = 2.0, seed: int = 0):
    """A random-weight HTDemucs of the real architecture with tiny channels (about 0.1 M
    parameters, 44.1 kHz stereo): noise out, but the real separation code path. Never downloads."""
    import torch

    _import_demucs()
    from demucs.htdemucs import HTDemucs

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HTDemucs(sources=list(sources), channels=4, depth=4, t_layers=1, t_heads=2, dconv_comp=4,
                         segment=segment)
    return model.eval()


def make_test_stem_model(folder: str | os.PathLike, *, six: bool = False, segment: float = 2.0) -> Path:
    """Write a tiny random-weight HTDemucs bag to ``folder`` (usable as ``--stems-model FOLDER``)."""
    sources = STEM_MODELS["htdemucs_6s" if six else "htdemucs"]
    return save_stem_model_folder(make_tiny_htdemucs(sources, segment=segment), folder)
