"""A bf16 matrix-vector kernel for CPUs with AVX512-BF16, built on first use with the system C
compiler and loaded with ctypes.

A decoding step multiplies a handful of rows (the conditional and guidance rows) by every weight
matrix of the decoder: it is bound by how fast the weights stream from memory. torch's bf16
``linear`` on such small batches reaches about half of this machine's memory bandwidth; this
kernel reads each weight matrix once, in its stored layout (``nn.Linear``'s ``(out, in)``, no
repacking, no copy), with ``vdpbf16ps`` and software prefetch one block ahead, split over torch's OpenMP
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
#: Most rows (batch rows x positions) the kernel takes; larger products go to torch.
MAX_ROWS = 4

_SOURCE = r"""
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t to_bf16(float f) {            /* round to nearest even, as torch does */
    uint32_t u; memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}


/* y[m, n0..n0+R) for m < M: R weight rows against M input rows, fp32 accumulators. The R rows
   are one contiguous block of memory; while it is read, the same lines of the next block are
   prefetched (a block ahead: about 90% of the copy bandwidth on the machines measured, against
   about 75% for a fixed distance ahead in each row). */
#define BLOCK(R, MM)                                                                        \
static void block_##R##_##MM(const uint16_t* w, const uint16_t* x, uint16_t* y,               \
                             int N, int K, int n0) {                                          \
    __m512 acc[R][MM];                                                                        \
    for (int r = 0; r < R; r++) for (int m = 0; m < MM; m++) acc[r][m] = _mm512_setzero_ps(); \
    for (int k = 0; k < K; k += 32) {                                                         \
        __m512bh xv[MM];                                                                      \
        for (int m = 0; m < MM; m++)                                                          \
            xv[m] = (__m512bh)_mm512_loadu_si512((const void*)(x + (size_t)m * K + k));       \
        for (int r = 0; r < R; r++) {                                                         \
            const uint16_t* p = w + (size_t)(n0 + r) * K + k;                                 \
            _mm_prefetch((const char*)(p + (size_t)R * K), _MM_HINT_T0);                      \
            __m512bh wv = (__m512bh)_mm512_loadu_si512((const void*)p);                      \
            for (int m = 0; m < MM; m++) acc[r][m] = _mm512_dpbf16_ps(acc[r][m], wv, xv[m]);  \
        }                                                                                     \
    }                                                                                         \
    for (int r = 0; r < R; r++)                                                               \
        for (int m = 0; m < MM; m++)                                                          \
            y[(size_t)m * N + n0 + r] = to_bf16(_mm512_reduce_add_ps(acc[r][m]));             \
}
BLOCK(16, 1)
BLOCK(16, 2)
BLOCK(4, 3)
BLOCK(4, 4)

static inline void block(const uint16_t* w, const uint16_t* x, uint16_t* y, int M, int N, int K, int n0) {
    switch (M) {
        case 1: block_16_1(w, x, y, N, K, n0); break;
        case 2: block_16_2(w, x, y, N, K, n0); break;
        case 3: block_4_3(w, x, y, N, K, n0); break;
        default: block_4_4(w, x, y, N, K, n0); break;
    }
}

/* y (M, N) = x (M, K) @ w (N, K)^T, all bf16, row-major; M in 1..4, K % 32 == 0, N % 16 == 0. */
void linear_bf16(const uint16_t* w, const uint16_t* x, uint16_t* y, int M, int N, int K) {
    int R = M <= 2 ? 16 : 4;
    int blocks = N / R;
    #pragma omp parallel for schedule(static)
    for (int b = 0; b < blocks; b++) block(w, x, y, M, N, K, b * R);
}

/* The same for `count` matrices that share the input (q/k/v, the codebook heads): one parallel
   region, each thread streaming its share of every matrix in turn, no barrier in between. */
void linear_many_bf16(int count, const uint16_t* const* ws, uint16_t* const* ys, const int* ns,
                      const uint16_t* x, int M, int K) {
    int R = M <= 2 ? 16 : 4;
    #pragma omp parallel
    for (int c = 0; c < count; c++) {
        int blocks = ns[c] / R;
        #pragma omp for schedule(static) nowait
        for (int b = 0; b < blocks; b++) block(ws[c], x, ys[c], M, ns[c], K, b * R);
    }
}
"""

_FLAGS = ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-fopenmp", "-shared", "-fPIC"]

_state: dict = {}


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "musicgen-bridge" / "kernels"


def _build() -> ctypes.CDLL | None:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler:
        log.info("fast decoder: no C compiler, bf16 kernel not built (torch linear used)")
        return None
    digest = hashlib.sha256((_SOURCE + " ".join(_FLAGS) + compiler).encode()).hexdigest()[:16]
    out = _cache_dir() / f"linear_bf16_{digest}.so"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "linear_bf16.c"
            src.write_text(_SOURCE)
            part = Path(tmp) / out.name
            res = subprocess.run([compiler, *_FLAGS, str(src), "-o", str(part)], capture_output=True, text=True,
                                 timeout=120)
            if res.returncode != 0:
                log.info("fast decoder: bf16 kernel did not build (%s); torch linear used",
                         (res.stderr.strip().splitlines() or ["?"])[-1][:200])
                return None
            os.replace(part, out)  # atomic: concurrent builders race harmlessly
    lib = ctypes.CDLL(str(out))
    lib.linear_bf16.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.linear_bf16.restype = None
    lib.linear_many_bf16.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.linear_many_bf16.restype = None
    return lib


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
