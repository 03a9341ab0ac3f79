"""Weight-product bandwidth of the AVX512-BF16 vector kernel (``csrc/bf16_matvec.h``) with each
weight-reading pattern and software-prefetch choice, for tuning on a new CPU (issue 18: on AMD
Zen 4 the interleaved blocks read the weights at about 60-75% of the copy bandwidth, against
about 95% on Intel Sapphire Rapids; row streams read them at or above it).

    python bench/matvec_prefetch.py [--rows 2] [--matrices 300] [--repeats 7]

Builds the kernels once per choice: row streams (each weight row read whole, one sequential
stream per thread; ``-DBF16_ROW_STREAMS=1``, this project's choice on every CPU but Intel's)
with the default 4 KB prefetch distance and others (``-DROW_PREFETCH_BYTES``), and the
interleaved blocks of 16 rows (``-DBF16_ROW_STREAMS=0``, the choice on Intel) with each of
their prefetch choices (``-DBF16_PREFETCH_BYTES``: none, fixed distances ahead in the row; the
default, one block ahead). Then runs ``--matrices`` products of 1024 x 1024 bf16 weights (0.63
GB for 300) against ``--rows`` input rows, the choices taking turns, best of ``--repeats``, and
prints ms and GB/s per choice next to the copy bandwidth. AMX is turned off (vector blocks
only); row streams apply to one or two rows (with more, every choice runs the interleaved
blocks). A benchmark: needs a CPU with AVX512-BF16 and a C compiler; a busy machine makes it
noise.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHOICES = {"row streams, 4 KB ahead (default)": ("-DBF16_ROW_STREAMS=1",),
           "row streams, 1 KB ahead": ("-DBF16_ROW_STREAMS=1", "-DROW_PREFETCH_BYTES=1024"),
           "row streams, 8 KB ahead": ("-DBF16_ROW_STREAMS=1", "-DROW_PREFETCH_BYTES=8192"),
           "blocks, one block ahead (Intel)": ("-DBF16_ROW_STREAMS=0",),
           "blocks, no prefetch": ("-DBF16_ROW_STREAMS=0", "-DBF16_PREFETCH_BYTES=0"),
           "blocks, 1 KB ahead in the row": ("-DBF16_ROW_STREAMS=0", "-DBF16_PREFETCH_BYTES=1024"),
           "blocks, 4 KB ahead in the row": ("-DBF16_ROW_STREAMS=0", "-DBF16_PREFETCH_BYTES=4096")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2)
    parser.add_argument("--matrices", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    import torch

    from bridge.engine import cpu_kernels as ck

    if "avx512_bf16" not in ck.cpu_flags():
        print("needs a CPU with AVX512-BF16", file=sys.stderr)
        return 2
    libs = {}
    for name, flags in CHOICES.items():
        lib = ck._build_with([*ck._FLAGS, *flags])
        if lib is None:
            print("the kernels did not build", file=sys.stderr)
            return 2
        lib.linear_bf16.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int] * 3
        libs[name] = lib
    ws = [torch.randn(1024, 1024, dtype=torch.bfloat16) for _ in range(args.matrices)]
    x = torch.randn(args.rows, 1024, dtype=torch.bfloat16)
    y = torch.empty(args.rows, 1024, dtype=torch.bfloat16)
    src = torch.ones(1 << 28)
    dst = torch.empty_like(src)
    copy = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        dst.copy_(src)
        copy = min(copy, time.perf_counter() - t0)
    best = {name: float("inf") for name in libs}
    for _ in range(args.repeats):
        for name, lib in libs.items():
            t0 = time.perf_counter()
            for w in ws:
                lib.linear_bf16(w.data_ptr(), x.data_ptr(), y.data_ptr(), args.rows, 1024, 1024)
            best[name] = min(best[name], time.perf_counter() - t0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    nbytes = args.matrices * 1024 * 1024 * 2
    print(f"load average {load:.2f}  threads {torch.get_num_threads()}  rows {args.rows}  "
          f"copy bandwidth {2 * src.numel() * 4 / copy / 1e9:.1f} GB/s (read+write)")
    for name, t in best.items():
        print(f"{name:34s} {t * 1e3:7.1f} ms  {nbytes / t / 1e9:5.1f} GB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
