"""The fast decoder's C step on each x86 instruction set this CPU has, in one run, on the same
weights: ms/step against the floor for the weight bytes one step reads.

    python bench/isa_compare.py [--arch small|tiny] [--seconds 2] [--variations 1] [--rounds 3]
                                [--paths avx512bf16,avx512bf16-packed] [--against-one]

Builds the architecture with random weights (as ``bench/decode.py``), casts the decoder to bf16
(text encoder and EnCodec stay fp32: what every path reads is the same), then decodes
``--seconds`` of audio (batch ``--variations`` with guidance, top-k 250) with each instruction
set from ``avx2`` up to the CPU's best (``MUSICGEN_BRIDGE_CPU_ISA`` for each, the kernels
reloaded; ``avx512bf16`` both reading the weights in place and reading packed copies,
``avx512bf16-packed``, ``MUSICGEN_BRIDGE_PACKED``), then with the opt-in int8 step (``MUSICGEN_BRIDGE_INT8=1``) on ``avx2`` and
``avx512``. The paths take turns, ``--rounds`` times, and the copy bandwidth is measured at the
start of every round: a shared machine's memory bandwidth drifts by a third within minutes,
and turns keep every path under the same conditions. Per round it prints each path's ms/step
(mean over the steps) and its ratio to the floor (weight bytes over that round's copy
bandwidth; half of them for int8); at the end, per path, the median over the rounds of ms/step,
of the ratio to the floor and of the ratio to the bf16 path of the same round; with
``--against-one``, each path also decodes one clip right after its variations, and the
median of the two's ratio (what variations cost over one clip, on the same path and moment). The comparison
against transformers is ``bench/decode.py``'s (slow on the lower instruction sets).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from decode import FRAME_RATE, cpu_paths, cpu_paths_model, memory_bandwidth_gbs, timed  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("tiny", "small"), default="small")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--variations", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="turns of every path (default 3)")
    parser.add_argument("--paths", default="", help="comma-separated labels to run (default: all)")
    parser.add_argument("--against-one", action="store_true",
                        help="with --variations N: each path also decodes one clip in each round, and the "
                             "summary gives N variations' ms/step over one clip's, same round")
    args = parser.parse_args(argv)

    import torch

    from bridge.engine import cpu_kernels
    from bridge.engine import fast_decoder as fd
    from bridge.engine.generation import Sampling
    from bridge.engine.loading import quiet_transformers
    from bridge.engine.weights import weights_of

    quiet_transformers()
    found = cpu_paths_model(args.arch, args.variations)
    if found is None:
        return 2
    have, lm, inputs = found
    steps = int(round(args.seconds * FRAME_RATE)) + lm.num_codebooks // lm.channels - 1
    sampling = Sampling(top_k=250, cfg=3.0)
    step_bytes = weights_of(lm.model).weight_bytes_per_step()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average before: {load:.2f}  threads {torch.get_num_threads()}  {steps} steps  rows "
          f"{2 * args.variations}  ({step_bytes / 1e9:.2f} GB of bf16 weights a step)", flush=True)
    runs = cpu_paths(have, args.paths)
    bf16_label = have[-1] if any(run[0] == have[-1] for run in runs) else runs[0][0]
    original = fd.step_for
    ratios: dict[str, list] = {}
    per_clip: dict[str, list] = {}
    against_one = args.against_one and args.variations > 1
    for rnd in range(args.rounds):
        bandwidth = memory_bandwidth_gbs("cpu")
        floor_ms = step_bytes / (bandwidth * 1e9) * 1e3
        print(f"round {rnd + 1}: copy bandwidth {bandwidth:.1f} GB/s, floor {floor_ms:.1f} ms/step", flush=True)
        this_round = {}
        for label, isa, int8, packed in runs:
            os.environ[cpu_kernels.ISA_ENV] = isa
            os.environ[cpu_kernels.INT8_ENV] = "1" if int8 else "0"
            os.environ[cpu_kernels.PACKED_ENV] = "1" if packed else "0"
            cpu_kernels._state.clear()
            ran = []
            fd.step_for = lambda runner: ran.append(original(runner)) or ran[-1]
            if rnd == 0:  # builds the kernels (and the int8 copies) outside the timing
                fd.fast_decode(lm, inputs, min(steps, 8), sampling, lambda s: None)
            r = timed(fd.fast_decode, lm, inputs, steps, sampling, "cpu")
            if against_one:
                one = timed(fd.fast_decode, lm, {k: v[:1] for k, v in inputs.items()}, steps, sampling, "cpu")
                per_clip.setdefault(label, []).append(r["ms_per_step"] / one["ms_per_step"])
                print(f"  {label:17s} one clip {one['ms_per_step']:7.1f} ms/step", flush=True)
            fd.step_for = original
            got = getattr(ran[-1], "isa", "eager (torch)")
            amx = " (AMX on)" if cpu_kernels.amx_in_use() else ""
            floor = floor_ms / 2 if int8 else floor_ms  # one byte a weight
            this_round[label] = r["ms_per_step"]
            ratios.setdefault(label, []).append((r["ms_per_step"], r["ms_per_step"] / floor))
            print(f"  {label:17s} step {got + amx:22s} {r['ms_per_step']:7.1f} ms/step (median {r['median_ms']:6.1f})  "
                  f"{r['ms_per_step'] / floor:5.2f}x its floor", flush=True)
        for label, ms in this_round.items():
            ratios[label][-1] += (this_round[bf16_label] / ms,)

    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2

    print(f"medians over {args.rounds} rounds (speed-up: {bf16_label} ms/step over the path's, same round):")
    for label, rows in ratios.items():
        print(f"  {label:17s} {median([r[0] for r in rows]):7.1f} ms/step  {median([r[1] for r in rows]):5.2f}x its floor  "
              f"speed-up over {bf16_label} {median([r[2] for r in rows]):5.2f}x", flush=True)
    for label, rows in per_clip.items():
        print(f"  {label:17s} {args.variations} variations over one clip: {median(rows):5.2f}x "
              f"(rounds: {', '.join(f'{r:.2f}' for r in rows)})", flush=True)
    if hasattr(os, "getloadavg"):
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
