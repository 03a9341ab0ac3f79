"""Memory bandwidth measured as the benchmarks measure it, in turns, over a minute: copy and
read-only, each as the fastest of 7 runs and as their median.

    python bench/bandwidth.py [--rounds 12] [--pause 4]

Each round measures, one right after the other, ``decode.memory_bandwidth_gbs`` (copies of a
1 GB buffer, read + write counted) and ``decode.read_bandwidth_gbs`` (sums of a 1 GB buffer:
reading alone), 7 runs each, and prints the fastest and the median of each, then waits
``--pause`` seconds; at the end, the spread of each over the rounds. On the project's 2-core
cloud machines (AMD EPYC Zen 4) the fastest of a few runs now and then reads 45-50 GB/s, a
burst well under a second long, while the medians stay near 30: a decode of seconds sees the
median, so the benchmarks' floors use it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decode import memory_bandwidth_gbs, read_bandwidth_gbs  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--pause", type=float, default=4.0)
    args = parser.parse_args(argv)

    import torch

    rows = []
    print(f"threads {torch.get_num_threads()}")
    for i in range(args.rounds):
        row = (memory_bandwidth_gbs("cpu", best=True), memory_bandwidth_gbs("cpu"),
               read_bandwidth_gbs("cpu", best=True), read_bandwidth_gbs("cpu"))
        rows.append(row)
        print(f"round {i + 1:2d}: copy fastest {row[0]:5.1f} median {row[1]:5.1f} GB/s   "
              f"read alone fastest {row[2]:5.1f} median {row[3]:5.1f} GB/s", flush=True)
        if i + 1 < args.rounds:
            time.sleep(args.pause)
    for j, name in enumerate(("copy, fastest", "copy, median", "read alone, fastest", "read alone, median")):
        xs = [r[j] for r in rows]
        print(f"{name:20s} {min(xs):5.1f}-{max(xs):5.1f} GB/s (max/min {max(xs) / min(xs):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
