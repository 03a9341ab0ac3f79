"""Where a bf16 CPU decoding step spends its time: the whole-step C function this CPU runs
(``bridge/engine/csrc/decoder_step_bf16.c``, or ``decoder_step_f32.c`` without AVX512-BF16;
``MUSICGEN_BRIDGE_CPU_ISA`` forces a lower one) built with ``-DSTEP_PROFILE``, phase by phase.

    python bench/step_profile.py [--arch small|tiny] [--positions 1500] [--every 250] [--variations 1]

Builds the architecture with random weights in bf16 (as ``bench/decode.py``), fills the KV cache
step by step up to ``--positions`` (``--variations`` clips with guidance: 2 rows each, the same
codes every step: the time does not depend on them) and prints, for a window of 50 steps every ``--every``
positions, ms/step for: layer norms, the weight products (q/k/v, out, cross q/out, fc2), fc1
with GELU, self-attention (grows with the cache), cross-attention, the final norm with the
codebook heads; and the weight products' bytes over their time against the machine's copy
bandwidth. Each phase includes the barrier that ends it (time waiting for the other thread).
A benchmark: needs an x86 CPU with AVX2+FMA at least, and a C compiler.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from decode import build, memory_bandwidth_gbs, with_variations  # noqa: E402

#: In the order of the P_* phases in decoder_step_bf16.c (the step_profile array).
PHASES = ("layer norms", "products", "self-attention", "cross-attention", "fc1+GELU", "final norm+heads")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("tiny", "small"), default="small")
    parser.add_argument("--positions", type=int, default=1500, help="fill the cache up to here (default 1500 = 30 s)")
    parser.add_argument("--every", type=int, default=250, help="measure a window every this many positions")
    parser.add_argument("--int8", action="store_true", help="the opt-in int8 step (one byte a weight)")
    parser.add_argument("--variations", type=int, default=1, help="clips decoded together (default 1)")
    parser.add_argument("--also", default="", help="compiler flags added to the step's build (tuning constants)")
    args = parser.parse_args(argv)

    import ctypes

    import torch

    from bridge.engine import cpu_kernels, fast_decoder
    from bridge.engine.cpu_step import CpuStep
    from bridge.engine.loading import quiet_transformers

    quiet_transformers()
    lib, name, isa = cpu_kernels.build_profiling_library(int8=args.int8, extra_flags=tuple(args.also.split()))
    if lib is None:
        print("needs an x86 CPU with AVX2+FMA at least and a C compiler", file=sys.stderr)
        return 2
    profile = (ctypes.c_double * len(PHASES)).in_dll(lib, "step_profile")
    bandwidth = memory_bandwidth_gbs("cpu")
    lm, inputs = build(args.arch, "cpu")
    inputs = with_variations(inputs, args.variations)
    lm.model.to(torch.bfloat16)
    lm.dtype = torch.bfloat16
    window = 50
    with torch.inference_mode():
        runner, ids, _, _ = fast_decoder.start_decoding(lm, inputs, args.positions + window, guided=True)
        weights = runner.weights
        step = CpuStep(runner, lib, name, isa)
        runner.prefill(torch.cat([ids, ids]))
        tokens = torch.randint(0, weights.heads_w[0].shape[0], (runner.rows, len(weights.embed_tokens)))
        products = sum(w.numel() * (1 if args.int8 else 2) for layer in weights.layers for n, w in layer.items()
                       if n in ("q", "k", "v", "o", "cq", "co", "fc2"))
        print(f"step {name} ({isa}, {runner.rows} rows)  threads {torch.get_num_threads()}  copy bandwidth {bandwidth:.1f} GB/s  "
              f"weights per step {weights.weight_bytes_per_step() / (2e9 if args.int8 else 1e9):.2f} GB")
        print(f"{'positions':>11s} {'ms/step':>8s} " + " ".join(f"{p:>16s}" for p in PHASES)
              + f" {'products GB/s':>14s}")
        position = 1
        for start in range(1, args.positions + 1, args.every):
            while position < start:
                step(tokens, position)
                position += 1
            for i in range(len(PHASES)):
                profile[i] = 0.0
            t0 = time.perf_counter()
            for _ in range(window):
                step(tokens, position)
                position += 1
            ms = (time.perf_counter() - t0) / window * 1e3
            parts = {p: profile[i] / window * 1e3 for i, p in enumerate(PHASES)}
            rate = products / (parts["products"] / 1e3) / 1e9 if parts["products"] else float("nan")
            print(f"{start:5d}-{start + window:<5d} {ms:8.2f} " + " ".join(f"{parts[p]:16.2f}" for p in PHASES)
                  + f" {rate:14.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
