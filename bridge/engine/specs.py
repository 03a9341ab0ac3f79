"""Model specs (short names, hub ids, local folders) and the device/dtype choice."""

from __future__ import annotations

import os
from pathlib import Path

#: Short names users type, mapped to the hub repositories holding transformers-format weights.
SHORT_NAMES = {
    "small": "facebook/musicgen-small",
    "medium": "facebook/musicgen-medium",
    "large": "facebook/musicgen-large",
    "melody": "facebook/musicgen-melody",
    "melody-large": "facebook/musicgen-melody-large",
    "stereo-small": "facebook/musicgen-stereo-small",
    "stereo-medium": "facebook/musicgen-stereo-medium",
    "stereo-large": "facebook/musicgen-stereo-large",
    "stereo-melody": "facebook/musicgen-stereo-melody",
    "stereo-melody-large": "facebook/musicgen-stereo-melody-large",
}

DEFAULT_MODEL = "small"
MODEL_ENV = "MUSICGEN_BRIDGE_MODEL"

#: Approximate memory (GB) for weights at fp32 / fp16, for docs and warnings.
APPROX_PARAMS_B = {"small": 0.59, "medium": 1.8, "large": 3.3, "melody": 1.5, "melody-large": 3.3}


def default_model_spec() -> str:
    """The model to load when none is named: ``$MUSICGEN_BRIDGE_MODEL`` or ``small``."""
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def resolve_model_spec(spec: str) -> tuple[str, bool]:
    """Return ``(source, is_local)`` for a short name, a hub id or a local folder."""
    spec = (spec or "").strip()
    if not spec:
        raise ValueError("empty model name")
    expanded = Path(os.path.expanduser(spec))
    if expanded.is_dir():
        return str(expanded.resolve()), True
    if spec in SHORT_NAMES:
        return SHORT_NAMES[spec], False
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec.replace("/", "", 1) or spec.count("/") > 1
    if looks_like_path:
        raise FileNotFoundError(f"model folder not found: {spec}")
    if "/" not in spec:
        raise KeyError(spec)
    return spec, False


def pick_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when available, else ``mps`` on Apple, else ``cpu``."""
    import torch

    device = (device or "auto").lower()
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or mps")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but torch sees no CUDA GPU")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("--device mps asked for, but torch sees no Apple GPU")
    return device


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 weights are faster
    than fp32 ones (half the bytes per step) and not emulated."""
    import torch

    from .cpu_kernels import isa

    if isa() is not None:  # x86 with the kernels: what they run (MUSICGEN_BRIDGE_CPU_ISA can lower it)
        return isa() in ("avx512bf16", "amx")
    cpu = getattr(torch, "cpu", None)
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(cpu, name, None)
        try:
            if check is not None and check():
                return True
        except Exception:  # pragma: no cover - private helpers may change
            pass
    return False


def pick_dtype(device: str, dtype: str = "auto"):
    """Weights dtype: for ``auto``, fp16 on CUDA and Apple MPS, bf16 on CPUs with native bf16
    (AVX512-BF16 or AMX), fp32 elsewhere (older CPUs); or the one asked for.

    MPS: half the memory of fp32 (small 1.2 GB, large 6.6 GB of weights on 8-16 GB Macs); EnCodec
    stays fp32 on the CPU there and sampling is done in fp32 (docs/engine.md, unverified on a Mac)."""
    import torch

    dtype = (dtype or "auto").lower()
    table = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16,
             "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
    if dtype == "auto":
        if device in ("cuda", "mps"):
            return torch.float16
        if device == "cpu" and cpu_has_fast_bf16():
            return torch.bfloat16
        return torch.float32
    if dtype not in table:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, fp32, bf16 or fp16")
    return table[dtype]
