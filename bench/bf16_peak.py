"""The compute floor of the AVX512-BF16 step: how many bf16 multiply-adds per second this CPU's
cores do with ``vdpbf16ps`` alone (no memory), and what that makes the shortest possible step
of musicgen-small's decoder for each number of rows, next to its weight-bandwidth floor.

    python bench/bf16_peak.py [--iterations N] [--fp32]

Builds a C loop of 12 independent ``vdpbf16ps`` chains (latency hidden; registers only) with the
system compiler, runs it on every OpenMP thread (``OMP_NUM_THREADS``, as the step), best of 3,
and prints GMAC/s. A step multiplies every weight once per row: rows x 0.36 G multiply-adds for
musicgen-small (the weight bytes / 2), so without AMX the products of 16 rows (8 variations
with guidance) cannot take less than rows x 0.36 G / peak, whatever the memory does. Why by
hand: no library reports one instruction's throughput. A benchmark: needs a CPU with
AVX512-BF16 and a C compiler.

``--fp32``: the same for the fp32-arithmetic steps (AVX2 and AVX-512F, CPUs without
AVX512-BF16): 12 chains of 256-bit ``vfmadd231ps`` (8 multiply-adds each; needs AVX2+FMA).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SOURCE = r"""
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char** argv) {
    const long iters = atol(argv[1]);
    double best = 1e30, sink = 0;
    int threads = 1;
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = now();
        #pragma omp parallel reduction(+ : sink)
        {
            threads = omp_get_num_threads();
#ifdef FP32
            __m256 a[12];
            for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
            const __m256 w = _mm256_set1_ps(1.0001f), x = _mm256_set1_ps(0.9999f);
            for (long k = 0; k < iters; k++)
                for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(w, x, a[i]);
            __m256 s = a[0];
            for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
            float t[8];
            _mm256_storeu_ps(t, s);
            sink += t[0];
#else
            __m512 a[12];
            for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
            const __m512bh w = (__m512bh)_mm512_set1_epi32(0x3f803f80), x = (__m512bh)_mm512_set1_epi32(0x3c003c00);
            for (long k = 0; k < iters; k++)
                for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], w, x);
            __m512 s = a[0];
            for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
            sink += _mm512_reduce_add_ps(s);
#endif
        }
        const double t = now() - t0;
        if (t < best) best = t;
    }
    printf("%d %.6f %g\n", threads, best, sink);
    return 0;
}
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000_000,
                        help="loop turns per thread (12 instructions each)")
    parser.add_argument("--fp32", action="store_true", help="256-bit fp32 vfmadd231ps (the AVX2 step's) instead")
    args = parser.parse_args(argv)

    from bridge.engine import cpu_kernels

    # (instruction, CPU flags it needs, compiler flags, multiply-adds per instruction)
    name, needs, flags, per = (("vfmadd231ps (256-bit)", ("avx2", "fma"), ["-mavx2", "-mfma", "-DFP32"], 8)
                               if args.fp32 else ("vdpbf16ps", ("avx512_bf16",), ["-mavx512f", "-mavx512bf16"], 32))
    if not all(flag in cpu_kernels.cpu_flags() for flag in needs):
        print(f"needs a CPU with {' and '.join(needs)}", file=sys.stderr)
        return 2
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        print("needs a C compiler", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "peak.c", Path(tmp) / "peak"
        src.write_text(SOURCE)
        subprocess.run([compiler, "-O3", "-funroll-all-loops", *flags, "-fopenmp", str(src), "-o", str(exe)],
                       check=True)
        out = subprocess.run([str(exe), str(args.iterations)], check=True, capture_output=True, text=True).stdout
    threads, seconds = int(out.split()[0]), float(out.split()[1])
    macs = threads * args.iterations * 12 * per
    peak = macs / seconds
    from decode import memory_bandwidth_gbs

    bandwidth = memory_bandwidth_gbs("cpu")
    weights = 0.72e9  # musicgen-small's decoder weights a step, bf16 (bench/decode.py's small)
    print(f"{name}: {peak / 1e9:.0f} GMAC/s on {threads} threads "
          f"({threads * args.iterations * 12 / seconds / threads / 1e9:.2f} instructions per ns per thread)")
    print(f"copy bandwidth {bandwidth:.1f} GB/s: weight floor {weights / bandwidth / 1e6:.1f} ms a step (any rows)")
    for rows in (2, 4, 8, 16):
        print(f"  {rows:2d} rows: compute floor {rows * weights / 2 / peak * 1e3:5.1f} ms a step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
