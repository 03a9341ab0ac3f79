"""bf16 kernels for CPUs with AVX512-BF16 (C sources in ``csrc/``), built on first use with the
system C compiler and loaded with ctypes: a matrix-vector product (this module's
:func:`bf16_linear`) and a whole decoding step (used by :mod:`.cpu_step`).

A decoding step multiplies a handful of rows (the conditional and guidance rows) by every weight
matrix of the decoder: it is bound by how fast the weights stream from memory. torch's bf16
``linear`` on such small batches reaches about half of this machine's memory bandwidth; this
kernel reads each weight matrix once, in its stored layout (``nn.Linear``'s ``(out, in)``, no
repacking, no copy), with ``vdpbf16ps`` and software prefetch one block ahead, split over OpenMP
threads. It accumulates in fp32 and rounds the result to bf16, as torch's bf16 ``linear`` does.

Used only when all of these hold: bf16 weights on the CPU, a CPU with AVX512-BF16, a C compiler
(``cc``) that builds the source, at most :data:`MAX_ROWS` rows, inner size a multiple of 32,
outer size a multiple of 16, and ``MUSICGEN_BRIDGE_CPU_KERNEL`` not set to ``0``. Otherwise callers get ``None`` from
:func:`bf16_linear` and use ``torch.nn.functional.linear``.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger("bridge.engine")

ENV = "MUSICGEN_BRIDGE_CPU_KERNEL"
#: Most rows (batch rows x positions) the kernel takes, as ``MAX_ROWS`` in ``csrc/bf16_matvec.h``
#: (8 variations with their guidance rows); larger products go to torch.
MAX_ROWS = 16

#: The C sources (``csrc/``), built together into one library.
_CSRC = Path(__file__).resolve().parent / "csrc"
_SOURCES = ("linear_bf16.c", "decoder_step_bf16.c")
_HEADERS = ("bf16_matvec.h",)

_FLAGS = ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-fopenmp", "-shared", "-fPIC"]
#: Added when the compiler knows AMX (products of 3-16 rows with tile multiplies, where the CPU
#: and Linux allow them); without them the library still builds, with vector products only.
_AMX_FLAGS = ["-mamx-tile", "-mamx-bf16"]
#: Set to "0" to keep AMX off (vector products for every row count).
AMX_ENV = "MUSICGEN_BRIDGE_AMX"

_state: dict = {}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "musicgen-bridge" / "kernels"


def _build(extra_flags: tuple[str, ...] = ()) -> ctypes.CDLL | None:
    """Build (once per source and flags; cached) and load the kernels library, with AMX where
    the compiler has it, or None."""
    lib = _build_with([*_FLAGS, *_AMX_FLAGS, *extra_flags], quiet=True) or _build_with([*_FLAGS, *extra_flags])
    if lib is not None:
        lib.bf16_amx_enable.argtypes = [ctypes.c_int]
        lib.bf16_amx_enable.restype = ctypes.c_int
        lib.bf16_amx_enable(0 if os.environ.get(AMX_ENV, "1") == "0" else 1)
    return lib


def _build_with(flags: list[str], quiet: bool = False) -> ctypes.CDLL | None:
    """Build and load with ``flags``, or None (logged at info level, at debug when ``quiet``:
    a first attempt that has a fallback)."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        log.info("fast decoder: no C compiler, bf16 kernel not built (torch linear used)")
        return None
    texts = {name: (_CSRC / name).read_text() for name in (*_SOURCES, *_HEADERS)}
    digest = hashlib.sha256(("".join(texts[n] for n in sorted(texts)) + " ".join(flags) + compiler)
                            .encode()).hexdigest()[:16]
    out = _cache_dir() / f"bf16_kernels_{digest}.so"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        # built next to its final place, so that the rename below stays on one file system
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            for name, text in texts.items():
                (Path(tmp) / name).write_text(text)
            part = Path(tmp) / out.name
            res = subprocess.run([compiler, *flags, *[str(Path(tmp) / n) for n in _SOURCES], "-o", str(part)],
                                 capture_output=True, text=True, timeout=120)
            if res.returncode != 0:
                log.log(logging.DEBUG if quiet else logging.INFO,
                        "fast decoder: bf16 kernels did not build with %s (%s)%s", " ".join(flags),
                        (res.stderr.strip().splitlines() or ["?"])[-1][:200],
                        "" if quiet else "; torch linear used")
                return None
            os.replace(part, out)  # atomic: concurrent builders race harmlessly
    lib = ctypes.CDLL(str(out))
    lib.linear_bf16.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.linear_bf16.restype = None
    lib.linear_many_bf16.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.linear_many_bf16.restype = None
    lib.decoder_step_layout.argtypes = [ctypes.c_int]
    lib.decoder_step_layout.restype = ctypes.c_int
    lib.decoder_step_bf16.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.c_int, ctypes.c_void_p]
    lib.decoder_step_bf16.restype = ctypes.c_int
    return lib


def build_profiling_library() -> ctypes.CDLL | None:
    """The kernels built with ``-DSTEP_PROFILE``: the C step adds the time of each of its phases
    to the ``step_profile`` array (``bench/step_profile.py``). Not for decoding."""
    return _build(("-DSTEP_PROFILE",))


def kernel():
    """The loaded kernel library, or None where it cannot or should not be used."""
    if "lib" in _state:
        return _state["lib"]
    lib = None
    if os.environ.get(ENV, "1") != "0":
        try:
            import torch

            if torch.cpu._is_avx512_bf16_supported():
                lib = _build()
        except Exception as exc:  # never let an optional speed-up break generation
            log.info("fast decoder: bf16 kernel unavailable (%s); torch linear used", exc)
            lib = None
    _state["lib"] = lib
    return lib


def set_amx(on: bool) -> bool:
    """Use AMX tiles for products of 3-16 rows (where built, and granted by the CPU and Linux),
    or vector products only; returns whether AMX is now in use."""
    lib = kernel()
    return bool(lib is not None and lib.bf16_amx_enable(1 if on else 0))


def bf16_linear(x, w):
    """``x @ w.T`` for bf16 CPU tensors with few rows, or None when the kernel does not apply."""
    import torch

    lib = _state["lib"] if "lib" in _state else kernel()
    if lib is None:
        return None
    n, k = w.shape
    rows = x.numel() // k
    if rows > MAX_ROWS or k % 32 or n % 16 or not w.is_contiguous():
        return None
    x2 = x.reshape(rows, k)
    if not x2.is_contiguous():
        x2 = x2.contiguous()
    y = torch.empty((*x.shape[:-1], n), dtype=torch.bfloat16)
    lib.linear_bf16(w.data_ptr(), x2.data_ptr(), y.data_ptr(), rows, n, k)
    return y


def bf16_linear_many(x, weights):
    """``[x @ w.T for w in weights]`` in one pass (weights sharing the inner size), or None when
    the kernel does not apply."""
    import torch

    lib = _state["lib"] if "lib" in _state else kernel()
    if lib is None:
        return None
    k = weights[0].shape[1]
    rows = x.numel() // k
    if rows > MAX_ROWS or k % 32 or any(w.shape[1] != k or w.shape[0] % 16 or not w.is_contiguous()
                                        for w in weights):
        return None
    x2 = x.reshape(rows, k)
    if not x2.is_contiguous():
        x2 = x2.contiguous()
    outs = [torch.empty((*x.shape[:-1], w.shape[0]), dtype=torch.bfloat16) for w in weights]
    count = len(weights)
    ptrs = (ctypes.c_void_p * count)
    lib.linear_many_bf16(count, ptrs(*[w.data_ptr() for w in weights]), ptrs(*[y.data_ptr() for y in outs]),
                         (ctypes.c_int * count)(*[w.shape[0] for w in weights]), x2.data_ptr(), rows, k)
    return outs
