"""Kernels for bf16 weights on x86 CPUs (C sources in ``csrc/``), built on first use with the
system C compiler and loaded with ctypes: for CPUs with AVX512-BF16, a matrix-vector product
(this module's :func:`bf16_linear`) and a whole decoding step; for CPUs without it (AVX2+FMA or
AVX-512F), the whole decoding step reading bf16 weights and computing in fp32 (both used by
:mod:`.cpu_step`).

Which kernels run is the CPU's best instruction set (:func:`pick_isa`, a pure function of the
CPU's feature flags): ``amx`` (AVX512-BF16 with AMX tiles for 3-16 rows), ``avx512bf16``,
``avx512`` (AVX-512F), ``avx2`` (AVX2 and FMA), or none (torch everywhere).
``MUSICGEN_BRIDGE_CPU_ISA`` set to one of these names forces a lower one (a higher one than
the CPU has is ignored, with a log line), so that one machine can run and test every path.

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
_HEADERS = ("bf16_scalar.h", "bf16_matvec.h", "bf16_packed.h", "fp32_vec.h", "int8_matvec.h", "decoder_step_body.h",
            "attention_prefetch.h")

_FLAGS = ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-fopenmp", "-shared", "-fPIC"]
#: Added when the compiler knows AMX (products of 3-16 rows with tile multiplies, where the CPU
#: and Linux allow them); without them the library still builds, with vector products only.
_AMX_FLAGS = ["-mamx-tile", "-mamx-bf16"]
#: Set to "0" to keep AMX off (vector products for every row count).
AMX_ENV = "MUSICGEN_BRIDGE_AMX"

_state: dict = {}

#: Instruction sets the kernels are built for, lowest first.
ISAS = ("avx2", "avx512", "avx512bf16", "amx")
#: Set to one of :data:`ISAS` to use that one instead of the CPU's best (a lower one only).
ISA_ENV = "MUSICGEN_BRIDGE_CPU_ISA"
#: The CPU flags (Linux ``/proc/cpuinfo`` names) each instruction set needs.
ISA_FLAGS = {"avx2": ("avx2", "fma"), "avx512": ("avx512f", "avx512bw"),
             "avx512bf16": ("avx512f", "avx512bw", "avx512vl", "avx512_bf16"),
             "amx": ("avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_tile", "amx_bf16")}
#: Set to "1" for int8 decoder weights in the C step (opt-in; see :mod:`.cpu_step`).
INT8_ENV = "MUSICGEN_BRIDGE_INT8"
#: Compiler flags and exported step function of the fp32-arithmetic step (csrc/decoder_step_f32.c).
_F32_BUILDS = {"avx2": (["-DVW=8", "-mavx2", "-mfma"], "decoder_step_avx2"),
               "avx512": (["-DVW=16", "-mavx512f", "-mavx512bw"], "decoder_step_avx512")}


def pick_isa(flags, forced: str | None = None) -> tuple[str | None, str | None]:
    """``(isa, note)``: the best of :data:`ISAS` whose :data:`ISA_FLAGS` are all in ``flags``,
    or ``forced`` when it is one of them and the CPU has it (None: no kernels). ``note`` says why
    ``forced`` was not followed (unknown name, or more than the CPU has), else None."""
    flags = set(flags)
    have = [isa for isa in ISAS if all(f in flags for f in ISA_FLAGS[isa])]
    best = have[-1] if have else None
    forced = (forced or "").strip().lower()
    if not forced:
        return best, None
    if forced not in ISAS:
        return best, f"{ISA_ENV}={forced!r} is not one of {', '.join(ISAS)}; using {best or 'torch'}"
    if forced not in have:
        return best, f"{ISA_ENV}={forced} asks for more than this CPU has; using {best or 'torch'}"
    return forced, None


def decoder_only_bf16(device: str, dtype: str, decoder: str, loaded_fp32: bool, which: str | None) -> bool:
    """Whether to cast only the decoder to bf16 after loading: ``--dtype auto`` on a CPU whose C
    step reads bf16 weights without native bf16 (``avx2``, ``avx512``), with the fast decoder
    and a model loaded in fp32. The text encoder and EnCodec stay fp32 (bf16 is emulated and
    slower there); the decoder's weights are half the bytes for the C step."""
    return (device == "cpu" and (dtype or "auto").lower() == "auto" and decoder == "fast" and loaded_fp32
            and which in _F32_BUILDS)


def _cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of ``/proc/cpuinfo`` (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """This CPU's feature flags by their ``/proc/cpuinfo`` names: read from ``/proc/cpuinfo`` on
    Linux, else from torch's CPU checks (which cover AVX2, AVX-512, AVX512-BF16 and AMX; FMA is
    assumed with AVX2 there, as on every AVX2 CPU of Intel and AMD)."""
    listed = _cpuinfo("flags")
    if listed is not None:
        return set(listed.split())
    flags: set[str] = set()
    try:
        import torch

        cpu = torch.cpu
        checks = {"_is_avx2_supported": ("avx2", "fma"), "_is_avx512_supported": ("avx512f", "avx512bw", "avx512vl"),
                  "_is_avx512_bf16_supported": ("avx512_bf16",), "_is_amx_tile_supported": ("amx_tile", "amx_bf16")}
        for name, names in checks.items():
            check = getattr(cpu, name, None)
            if check is not None and check():
                flags.update(names)
    except Exception:  # pragma: no cover - private helpers may change
        pass
    return flags


def isa() -> str | None:
    """The instruction set the kernels use in this process (see :func:`pick_isa`); cached."""
    if "isa" not in _state:
        chosen, note = pick_isa(cpu_flags(), os.environ.get(ISA_ENV))
        if note:
            log.warning("fast decoder: %s", note)
        _state["isa"] = chosen
    return _state["isa"]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "musicgen-bridge" / "kernels"


def cpu_vendor() -> str:
    """This CPU's vendor string (``GenuineIntel``, ``AuthenticAMD``, ...) from ``/proc/cpuinfo``,
    or ``""`` where it cannot be read."""
    return _cpuinfo("vendor_id") or ""


#: Set to "0" or "1" to force the bf16 step's weight-reading pattern (see :func:`row_streams`).
ROW_STREAMS_ENV = "MUSICGEN_BRIDGE_ROW_STREAMS"


def row_streams(vendor: str, forced: str | None = None) -> bool:
    """Whether the AVX512-BF16 products of 1 to 8 rows read each weight row whole, one after
    the other (``csrc/bf16_matvec.h``'s row streams), rather than 4 or 16 rows side by side, and
    the step prefetches the next product at its barriers. Row streams on every CPU but Intel's:
    on AMD Zen 4 they read the weights 1.2-1.4x faster; on Intel Sapphire Rapids the
    interleaved blocks were measured at 1.07-1.15x the floor and neither change has been
    measured there, so the step is built as it was. ``forced`` (``MUSICGEN_BRIDGE_ROW_STREAMS``) "0" or
    "1" overrides."""
    return _not_intel_unless_forced(vendor, forced)


def _not_intel_unless_forced(vendor: str, forced: str | None) -> bool:
    """The rule of :func:`row_streams` and :func:`packed_layout`: ``forced`` "0" or "1" (an
    environment variable's value) decides; else every vendor but Intel."""
    forced = (forced or "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return vendor != "GenuineIntel"


#: Set to "0" or "1" to force whether the AVX512-BF16 step reads packed weights (see
#: :func:`packed_layout`).
PACKED_ENV = "MUSICGEN_BRIDGE_PACKED"


def packed_layout(vendor: str, forced: str | None = None) -> bool:
    """Whether the AVX512-BF16 step (without AMX) reads packed copies of the decoder's weight
    matrices (``csrc/bf16_packed.h``; :func:`.cpu_step.pack_bf16` makes them at load, as many
    bytes again as the decoder's bf16 weights) instead of reading them in place. Packed on
    every CPU but Intel's: on AMD Zen 4 the step of 4 variations takes about 0.7x the time of
    the in-place one, and a single clip's about 0.9x (``bench/step_ab.py``); on Intel
    Sapphire Rapids AMX takes 3 or more rows and the in-place blocks read 1-2 rows at
    1.07-1.15x the floor, and the packed step has not been measured there. ``forced``
    (``MUSICGEN_BRIDGE_PACKED``) "0" or "1" overrides: "0" saves the copy's memory."""
    return _not_intel_unless_forced(vendor, forced)


def _packed_here() -> bool:
    """:func:`packed_layout` for this CPU and environment."""
    return packed_layout(cpu_vendor(), os.environ.get(PACKED_ENV))


def _build_packed(extra_flags: tuple[str, ...] = (), csrc: Path = _CSRC) -> ctypes.CDLL | None:
    """The AVX512-BF16 step reading packed weights (``-DBF16_PACKED=1``; the step alone, without
    AMX or the one-product kernel), built and loaded, or None (also for sources older than the
    packed layout)."""
    if not (csrc / "bf16_packed.h").exists():
        return None
    lib = _build_with([*_FLAGS, "-DBF16_PACKED=1", *extra_flags], sources=("decoder_step_bf16.c",), csrc=csrc)
    if lib is not None:
        _declare_step(lib, "decoder_step_bf16")
    return lib


def _build(extra_flags: tuple[str, ...] = (), csrc: Path = _CSRC) -> ctypes.CDLL | None:
    """Build (once per source and flags; cached) and load the AVX512-BF16 kernels library, with
    AMX where the compiler has it (used where :func:`isa` is ``amx``), or None."""
    streams = row_streams(cpu_vendor(), os.environ.get(ROW_STREAMS_ENV))
    # without row streams (Intel), also without the prefetch at barriers: the step as measured there
    extra_flags = (f"-DBF16_ROW_STREAMS={int(streams)}", *(() if streams else ("-DWARM_BYTES=0",)), *extra_flags)
    lib = (_build_with([*_FLAGS, *_AMX_FLAGS, *extra_flags], quiet=True, csrc=csrc)
           or _build_with([*_FLAGS, *extra_flags], csrc=csrc))
    if lib is not None:
        lib.bf16_amx_enable.argtypes = [ctypes.c_int]
        lib.bf16_amx_enable.restype = ctypes.c_int
        if hasattr(lib, "bf16_amx_in_use"):  # sources older than it lack it (bench/step_ab.py --against)
            lib.bf16_amx_in_use.restype = ctypes.c_int
        lib.bf16_amx_enable(0 if os.environ.get(AMX_ENV, "1") == "0" or isa() != "amx" else 1)
        _declare_step(lib, "decoder_step_bf16")
        lib.linear_bf16.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                    ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.linear_bf16.restype = None
        lib.linear_many_bf16.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.linear_many_bf16.restype = None
    return lib


def _declare_step(lib: ctypes.CDLL, name: str) -> None:
    lib.decoder_step_layout.argtypes = [ctypes.c_int]
    lib.decoder_step_layout.restype = ctypes.c_int
    fn = getattr(lib, name)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    fn.restype = ctypes.c_int


def _build_f32(which: str, extra_flags: tuple[str, ...] = (), suffix: str = "", csrc: Path = _CSRC
               ) -> ctypes.CDLL | None:
    """The fp32-arithmetic step (``csrc/decoder_step_f32.c``) for ``which`` (``avx2`` or
    ``avx512``), built and loaded, or None."""
    flags, name = _F32_BUILDS[which]
    name += suffix
    lib = _build_with(["-O3", *flags, "-fopenmp", "-shared", "-fPIC", "-Werror=implicit-function-declaration",
                       *extra_flags], sources=("decoder_step_f32.c",), libs=("-lm",), csrc=csrc)
    if lib is not None:
        _declare_step(lib, name)
    return lib


def _build_with(flags: list[str], quiet: bool = False, sources: tuple[str, ...] = _SOURCES,
                libs: tuple[str, ...] = (), csrc: Path = _CSRC) -> ctypes.CDLL | None:
    """Build ``sources`` and load them with ``flags``, or None (logged at info level, at debug
    when ``quiet``: a first attempt that has a fallback). ``csrc``: where the sources are
    (another revision's, for ``bench/step_ab.py --against``; headers it lacks are left out)."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        log.info("fast decoder: no C compiler, bf16 kernel not built (torch linear used)")
        return None
    texts = {name: (csrc / name).read_text() for name in (*sources, *_HEADERS)
             if csrc == _CSRC or (csrc / name).exists()}
    if any(name not in texts for name in sources):
        log.info("fast decoder: %s lacks %s", csrc, ", ".join(n for n in sources if n not in texts))
        return None
    digest = hashlib.sha256(("".join(texts[n] for n in sorted(texts)) + " ".join(flags) + compiler)
                            .encode()).hexdigest()[:16]
    out = _cache_dir() / f"cpu_kernels_{digest}.so"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        # built next to its final place, so that the rename below stays on one file system
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            for name, text in texts.items():
                (Path(tmp) / name).write_text(text)
            part = Path(tmp) / out.name
            res = subprocess.run([compiler, *flags, *[str(Path(tmp) / n) for n in sources], "-o", str(part), *libs],
                                 capture_output=True, text=True, timeout=120)
            if res.returncode != 0:
                log.log(logging.DEBUG if quiet else logging.INFO,
                        "fast decoder: bf16 kernels did not build with %s (%s)%s", " ".join(flags),
                        (res.stderr.strip().splitlines() or ["?"])[-1][:200],
                        "" if quiet else "; torch linear used")
                return None
            os.replace(part, out)  # atomic: concurrent builders race harmlessly
    return ctypes.CDLL(str(out))


def build_profiling_library(int8: bool = False, extra_flags: tuple[str, ...] = ()
                            ) -> tuple[ctypes.CDLL | None, str | None, str | None]:
    """``(library, step function name, label)`` of this process's C step (as
    :func:`step_kernel` picks it) built with ``-DSTEP_PROFILE`` (and ``extra_flags``): the step
    adds the time of each of its phases to the ``step_profile`` array (``bench/step_profile.py``).
    Not for decoding. ``(None, None, None)`` without kernels. ``int8``: the int8 step."""
    found = step_library(isa(), int8, ("-DSTEP_PROFILE", *extra_flags), packed=_packed_here())
    return found if found else (None, None, None)


def step_library(which: str | None, int8: bool = False, extra_flags: tuple[str, ...] = (),
                 packed: bool = False, csrc: Path = _CSRC) -> tuple[ctypes.CDLL, str, str] | None:
    """``(library, step function name, label)`` of the whole-step C function for instruction set
    ``which``, built with ``extra_flags`` added (benchmarks: ``-DSTEP_PROFILE``, tuning
    constants), or None (no kernels for ``which``, or no compiler). ``label`` is ``which``, or
    ``avx2-int8`` / ``avx512-int8`` for the int8 step (the latter with AVX512-VNNI products
    where the CPU has them), or ``avx512bf16-packed`` for the step
    reading packed weights (``packed``: only for ``avx512bf16``). ``csrc``: build from these
    sources (another revision's: ``bench/step_ab.py --against``) instead of this package's."""
    if which is None:
        return None
    if packed and which == "avx512bf16" and not int8:
        lib = _build_packed(extra_flags, csrc)
        return (lib, "decoder_step_bf16", which + "-packed") if lib is not None else None
    if int8:
        base = "avx2" if which == "avx2" else "avx512"
        vnni = ("-mavx512vnni",) if base == "avx512" and "avx512_vnni" in cpu_flags() else ()
        lib = _build_f32(base, ("-DWEIGHTS_INT8", *vnni, *extra_flags), suffix="_int8", csrc=csrc)
        return (lib, _F32_BUILDS[base][1] + "_int8", base + "-int8") if lib is not None else None
    if which in _F32_BUILDS:
        lib = _build_f32(which, extra_flags, csrc=csrc)
        return (lib, _F32_BUILDS[which][1], which) if lib is not None else None
    lib = kernel() if not extra_flags and csrc == _CSRC else _build(extra_flags, csrc)
    return (lib, "decoder_step_bf16", which) if lib is not None else None


def kernel():
    """The loaded kernel library, or None where it cannot or should not be used."""
    if "lib" in _state:
        return _state["lib"]
    lib = None
    if os.environ.get(ENV, "1") != "0":
        try:
            if isa() in ("avx512bf16", "amx"):
                lib = _build()
        except Exception as exc:  # never let an optional speed-up break generation
            log.info("fast decoder: bf16 kernel unavailable (%s); torch linear used", exc)
            lib = None
    _state["lib"] = lib
    return lib


def step_kernel(int8: bool = False, packed: bool | None = None) -> tuple[ctypes.CDLL, str, str] | None:
    """``(library, step function name, isa)`` of the whole-step C function for this CPU (see
    :func:`isa`), or None where there is none (no kernels for this CPU, no compiler, or
    ``MUSICGEN_BRIDGE_CPU_KERNEL=0``). ``int8``: the step reading int8 weights (integer
    products on int16 inputs, ``csrc/int8_matvec.h``: AVX2 or AVX-512BW; the isa is then
    ``avx2-int8`` or ``avx512-int8``). ``packed``: the AVX512-BF16 step reading packed weights
    (isa ``avx512bf16-packed``) or not; None: where :func:`packed_layout` says so."""
    if packed is None:
        packed = _packed_here()
    key = ("step", bool(int8), bool(packed))
    if key in _state:
        return _state[key]
    found = None
    try:
        if os.environ.get(ENV, "1") != "0":
            found = step_library(isa(), int8, packed=packed)
    except Exception as exc:  # never let an optional speed-up break generation
        log.info("fast decoder: C step unavailable (%s); eager step used", exc)
        found = None
    _state[key] = found
    return found


def set_amx(on: bool) -> bool:
    """Use AMX tiles for products of 3-16 rows (where built, and granted by the CPU and Linux),
    or vector products only; returns whether AMX is now in use."""
    lib = kernel()
    return bool(lib is not None and lib.bf16_amx_enable(1 if on else 0))


def amx_in_use() -> bool:
    """Whether the bf16 kernels use AMX tiles for products of 3-16 rows now."""
    lib = _state.get("lib")
    return bool(lib is not None and lib.bf16_amx_in_use())


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
