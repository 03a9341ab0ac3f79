"""The C decoding steps of every x86 path this CPU has, taking turns step by step on the same
decoder state: per-step ratios that a shared machine's drifting memory bandwidth cannot skew.

    python bench/step_ab.py [--arch small|tiny] [--steps 100] [--variations 1]
                            [--paths avx512bf16,avx512-int8] [--also=-DWARM_BYTES=0 ...]
                            [--against REV]

Builds the architecture with random weights (as ``bench/decode.py``), the decoder in bf16,
encodes a prompt and fills the cache as a generation does, then, for ``--steps`` positions,
runs at each position every path's C step once, in a rotating order, and times each call:
the bf16-weight steps of each instruction set from ``avx2`` up to the CPU's best
(``MUSICGEN_BRIDGE_CPU_ISA``; ``avx512bf16`` both reading the weights in place and reading
packed copies, ``avx512bf16-packed``), and the int8 steps on ``avx2`` and ``avx512``
(``MUSICGEN_BRIDGE_INT8``), or those named in ``--paths``; each ``--also=FLAGS`` adds every
path built with those compiler flags too (a tuning constant against its default, in one run);
``--against REV`` adds every path built from the C sources of git revision ``REV`` (labelled
``@REV``; a path those sources lack is left out, said on stderr): whether a change made a CPU's
step slower, e.g. Intel's with AMX, ``python bench/step_ab.py --paths amx --variations 4
--against 19ba996`` (the sources when issue 18 was filed). The older
sources are driven through this revision's step interface (the same dims and pointers since
issue 18 was filed); a last line per path says whether their logits are the same bit for bit.
All paths write the same cache positions in turn, so each step
reads a cache as long as a generation's at that position. ``bench/isa_compare.py`` times
whole decodes (sampling and EnCodec included) path after path; this one times only the step,
which is where the paths differ.

Prints, per path, the median ms/step, its ratio to the floor (the weight bytes it reads over
the copy bandwidth, measured before and after, the mean of the two), to the read floor (the
same bytes over the read-only bandwidth, ``decode.read_bandwidth_gbs``) and the median over the
positions of the time of the bf16 step this CPU runs by default (its best instruction set)
over this path's: its speed-up, both measured at the same position, milliseconds apart. A
benchmark: needs an x86 CPU with AVX2+FMA and a C compiler.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from decode import cpu_paths, cpu_paths_model, memory_bandwidth_gbs, read_bandwidth_gbs  # noqa: E402


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def sources_at(rev: str, into: Path) -> Path | None:
    """The C step's sources (``bridge/engine/csrc``) as they were at git revision ``rev``,
    written under ``into``; None (said on stderr) when git cannot give them."""
    repo = Path(__file__).resolve().parent.parent
    csrc = "bridge/engine/csrc"
    listed = subprocess.run(["git", "-C", str(repo), "ls-tree", "--name-only", f"{rev}:{csrc}"],
                            capture_output=True, text=True)
    if listed.returncode != 0:
        print(f"--against {rev}: {(listed.stderr.strip().splitlines() or ['no such revision'])[-1]}",
              file=sys.stderr)
        return None
    for name in listed.stdout.split():
        text = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{csrc}/{name}"],
                              capture_output=True, check=True).stdout
        (into / name).write_bytes(text)
    return into


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("tiny", "small"), default="small")
    parser.add_argument("--steps", type=int, default=100, help="positions timed (default 100: 2 s of audio)")
    parser.add_argument("--variations", type=int, default=1)
    parser.add_argument("--paths", default="", help="comma-separated labels to run (default: all)")
    parser.add_argument("--also", action="append", default=[], help="compiler flags of a variant of every path")
    parser.add_argument("--against", default="", help="also every path built from this git revision's C sources")
    args = parser.parse_args(argv)

    import torch

    from bridge.engine import cpu_kernels, fast_decoder
    from bridge.engine.cpu_step import CpuStep
    from bridge.engine.loading import quiet_transformers
    from bridge.engine.weights import weights_of

    quiet_transformers()
    found = cpu_paths_model(args.arch, args.variations)
    if found is None:
        return 2
    have, lm, inputs = found
    step_bytes = weights_of(lm.model).weight_bytes_per_step()
    paths = cpu_paths(have, args.paths)
    before, read_before = memory_bandwidth_gbs("cpu"), read_bandwidth_gbs("cpu")
    sources = [("", cpu_kernels._CSRC)]
    workdir = tempfile.TemporaryDirectory() if args.against else contextlib.nullcontext()
    with workdir, torch.inference_mode():
        if args.against:
            csrc = sources_at(args.against, Path(workdir.name))
            if csrc is None:
                return 2
            sources.append((f" @{args.against}", csrc))
        runner, ids, _, _ = fast_decoder.start_decoding(lm, inputs, args.steps + 2, guided=True)
        steps = {}
        for _, isa, int8, packed in paths:
            for flags in ["", *args.also]:
                for suffix, csrc in sources:
                    os.environ[cpu_kernels.ISA_ENV] = isa
                    cpu_kernels._state.clear()
                    found = cpu_kernels.step_library(isa, int8, tuple(flags.split()), packed=packed, csrc=csrc)
                    if found is None and suffix:
                        print(f"no C step for {isa} {flags} in {args.against}'s sources: left out", file=sys.stderr)
                        continue
                    if found is None:
                        print(f"no C step for {isa} {flags} (no compiler, or the flags do not build)", file=sys.stderr)
                        return 2
                    lib, name, label = found
                    steps[f"{label} {flags}".strip() + suffix] = CpuStep(runner, lib, name, label)
        runner.prefill(torch.cat([ids, ids]))
        rows, codebooks = runner.rows, len(runner.weights.embed_tokens)
        vocab = runner.weights.heads_w[0].shape[0]
        gen = torch.Generator().manual_seed(0)
        labels = list(steps)
        times: dict[str, list[float]] = {label: [] for label in labels}
        for label in labels:  # one untimed call each: first touches of the int8 copies and scratch
            steps[label](torch.randint(0, vocab, (rows, codebooks), generator=gen), ids.shape[-1])
        # with --against: each older build's largest logit difference from this revision's
        older = sources[1][0] if len(sources) > 1 else None
        pairs = {label: label.removesuffix(older) for label in labels
                 if older and label.endswith(older) and label.removesuffix(older) in steps}
        differences = dict.fromkeys(pairs, 0.0)
        for i in range(args.steps):
            tokens = torch.randint(0, vocab, (rows, codebooks), generator=gen)
            position = ids.shape[-1] + i
            logits = {}
            for j in range(len(labels)):
                label = labels[(i + j) % len(labels)]
                t0 = time.perf_counter()
                logits[label] = steps[label](tokens, position)
                times[label].append(time.perf_counter() - t0)
            for older, label in pairs.items():
                differences[older] = max(differences[older], float((logits[older] - logits[label]).abs().max()))
    after, read_after = memory_bandwidth_gbs("cpu"), read_bandwidth_gbs("cpu")
    bandwidth, read = (before + after) / 2, (read_before + read_after) / 2
    # the reference: the bf16 step this CPU runs by default (its best instruction set), if timed
    best_bf16 = have[-1] if have[-1] in labels else min((lab for lab in labels if "-int8" not in lab),
                                                           key=lambda lab: _median(times[lab]))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.arch}: {args.steps} positions, {rows} rows, {step_bytes / 1e9:.2f} GB of bf16 weights a step, "
          f"copy bandwidth {before:.1f} GB/s before, {after:.1f} after; reading alone {read_before:.1f} and "
          f"{read_after:.1f}; threads {torch.get_num_threads()}, load {load:.2f}")
    width = max(len(lab) for lab in labels)
    print(f"{'path':{width}s} {'ms/step':>8s} {'floor':>7s} {'x floor':>8s} {'read floor':>11s} {'x read':>7s} "
          f"{'speed-up over ' + best_bf16:>26s}")
    for label in labels:
        nbytes = step_bytes / (2 if "-int8" in label else 1)
        floor_ms, read_ms = nbytes / (bandwidth * 1e9) * 1e3, nbytes / (read * 1e9) * 1e3
        ms = _median(times[label]) * 1e3
        speedup = _median([b / t for b, t in zip(times[best_bf16], times[label])])
        print(f"{label:{width}s} {ms:8.2f} {floor_ms:7.2f} {ms / floor_ms:8.2f} {read_ms:11.2f} {ms / read_ms:7.2f} "
              f"{speedup:26.2f}")
    for older, label in pairs.items():
        print(f"logits of {older} against {label}: "
              + ("the same bit for bit" if differences[older] == 0 else f"largest difference {differences[older]:.3g}")
              + f" at all {args.steps} positions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
