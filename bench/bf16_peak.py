"""The compute floor of the AVX512-BF16 step: how many bf16 multiply-adds per second this CPU's
cores do with ``vdpbf16ps`` alone (no memory), and what that makes the shortest possible step
of musicgen-small's decoder for each number of rows, next to its weight-bandwidth floor.

    python bench/bf16_peak.py [--seconds 1]

Builds a C loop of 12 independent ``vdpbf16ps`` chains (latency hidden; registers only) with the
system compiler, runs it on every OpenMP thread (``OMP_NUM_THREADS``, as the step), best of 3,
and prints GMAC/s. A step multiplies every weight once per row: rows x 0.36 G multiply-adds for
musicgen-small (the weight bytes / 2), so without AMX the products of 16 rows (8 variations
with guidance) cannot take less than rows x 0.36 G / peak, whatever the memory does. Why by
hand: no library reports one instruction's throughput. A benchmark: needs a CPU with
AVX512-BF16 and a C compiler.
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
            __m512 a[12];
            for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i);
            const __m512bh w = (__m512bh)_mm512_set1_epi32(0x3f803f80), x = (__m512bh)_mm512_set1_epi32(0x3c003c00);
            for (long k = 0; k < iters; k++)
                for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], w, x);
            __m512 s = a[0];
            for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
            sink += _mm512_reduce_add_ps(s);
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
    parser.add_argument("--iterations", type=int, default=20_000_000, help="loop turns per thread (12 instructions each)")
    args = parser.parse_args(argv)

    from bridge.engine import cpu_kernels

    if "avx512_bf16" not in cpu_kernels.cpu_flags():
        print("needs a CPU with AVX512-BF16", file=sys.stderr)
        return 2
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        print("needs a C compiler", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "peak.c", Path(tmp) / "peak"
        src.write_text(SOURCE)
        subprocess.run([compiler, "-O3", "-funroll-all-loops", "-mavx512f", "-mavx512bf16", "-fopenmp", str(src),
                        "-o", str(exe)], check=True)
        out = subprocess.run([str(exe), str(args.iterations)], check=True, capture_output=True, text=True).stdout
    threads, seconds = int(out.split()[0]), float(out.split()[1])
    macs = threads * args.iterations * 12 * 32
    peak = macs / seconds
    from decode import memory_bandwidth_gbs

    bandwidth = memory_bandwidth_gbs("cpu")
    weights = 0.72e9  # musicgen-small's decoder weights a step, bf16 (bench/decode.py's small)
    print(f"vdpbf16ps: {peak / 1e9:.0f} GMAC/s on {threads} threads "
          f"({threads * args.iterations * 12 / seconds / threads / 1e9:.2f} instructions per ns per thread)")
    print(f"copy bandwidth {bandwidth:.1f} GB/s: weight floor {weights / bandwidth / 1e6:.1f} ms a step (any rows)")
    for rows in (2, 4, 8, 16):
        print(f"  {rows:2d} rows: compute floor {rows * weights / 2 / peak * 1e3:5.1f} ms a step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
