"""GPU check: what can only be verified on a CUDA (or Apple MPS) machine, in one run of a few minutes.

    python bench/gpu_check.py [--device auto|cuda|mps|cpu] [--arch small|tiny] [--quick] [--json FILE]

On musicgen-small's architecture with random weights (nothing is downloaded; speed and memory do
not depend on the weights' values), it reports:

1. CUDA-graph step against the eager step: greedy fp32 codes identical; greedy fp16 agreement rate.
2. ms/step with graphs on and off, for 1 and 4 variations, in the engine's dtype (fp16 on CUDA).
3. A 40 s clip (two windows): its length, wall time.
4. A 30 s clip end to end through ``Engine.generate`` (text, decoding, EnCodec): wall time, peak
   memory, and the admission estimate (``bridge/engine/memory.py``) against the measured peak.

On MPS the graph sections are skipped (there are none) and the rest runs. Without CUDA or MPS it
says so in one line and exits 0; ``--device cpu --arch tiny`` runs every section that applies on
the CPU, as a quick check of this script itself. A benchmark, not a test: figures go to
docs/performance.md with the GPU they came from.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

GRAPHS_ENV = "MUSICGEN_BRIDGE_CUDA_GRAPHS"


def pick_device(asked: str) -> str | None:
    import torch

    if asked in ("cpu", "cuda", "mps"):
        ok = {"cpu": True, "cuda": torch.cuda.is_available(),
              "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()}[asked]
        return asked if ok else None
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return None


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def model_for(arch: str, device: str, dtype):
    """A LoadedModel of ``arch`` on ``device`` in ``dtype``, with a tokenizer (the tiny model's)."""
    import dataclasses

    from bridge.engine import place_codec
    from bridge.engine.loading import load_model
    from bridge.engine.tiny_model import make_test_model

    tiny = Path(tempfile.gettempdir()) / "musicgen-bridge-gpu-check-tiny"
    if not (tiny / "config.json").exists():
        make_test_model(tiny)
    if arch == "tiny":
        lm = load_model(str(tiny), device=device, dtype={"torch.float16": "fp16", "torch.float32": "fp32",
                                                          "torch.bfloat16": "bf16"}[str(dtype)])
    else:
        from decode import build_small, loaded_for

        model = build_small().to(dtype)
        lm = loaded_for(model, "small architecture (random weights)", device)
        lm = dataclasses.replace(lm, tokenizer=load_model(str(tiny), device="cpu", dtype="fp32").tokenizer)
    place_codec(lm, "fast")
    return lm


def inputs_for(lm, variations: int = 1):
    tok = lm.tokenizer(["dusty boom bap drums with a warm bass"] * variations, return_tensors="pt")
    return {"input_ids": tok["input_ids"].to(lm.device), "attention_mask": tok["attention_mask"].to(lm.device)}


def decode_codes(lm, seconds: float, sampling, graphs: bool, variations: int = 1):
    """Run the fast decoder; returns (codes, ms per step)."""
    import torch

    from bridge.engine import fast_decoder

    os.environ[GRAPHS_ENV] = "1" if graphs else "0"
    captured = {}
    real = fast_decoder.codes_to_audio

    def capture(lm_, codes, **kw):
        captured["codes"] = codes.detach().cpu().clone()
        return real(lm_, codes, **kw)

    stamps = []

    def on_step(step):
        sync(lm.device)
        stamps.append(time.perf_counter())

    fast_decoder.codes_to_audio = capture
    try:
        torch.manual_seed(0)
        with torch.inference_mode():
            fast_decoder.fast_decode(lm, inputs_for(lm, variations), int(seconds * 50) + 3, sampling, on_step)
    finally:
        fast_decoder.codes_to_audio = real
        os.environ.pop(GRAPHS_ENV, None)
    loop = stamps[len(stamps) // 5:]  # after the warm-up (and the graph capture)
    ms = (loop[-1] - loop[0]) / max(1, len(loop) - 1) * 1e3
    return captured["codes"], ms


def peak_bytes(device: str) -> int:
    import torch

    if device == "cuda":
        return int(torch.cuda.max_memory_allocated())
    if device == "mps":
        return int(torch.mps.driver_allocated_memory())
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS) | cuda | mps | cpu")
    parser.add_argument("--arch", choices=("small", "tiny"), default="small")
    parser.add_argument("--quick", action="store_true", help="shorter clips (a smoke run)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    import torch

    device = pick_device(args.device)
    if device is None:
        print(f"gpu_check: no {'CUDA or MPS device' if args.device == 'auto' else args.device} here "
              f"(torch {torch.__version__}); nothing to check")
        return 0
    from bridge.engine import Conditioning, Engine, Sampling, memory

    name = torch.cuda.get_device_name(0) if device == "cuda" else device
    print(f"gpu_check on {name}, torch {torch.__version__}, arch {args.arch}", flush=True)
    out: dict = {"device": name, "torch": torch.__version__, "arch": args.arch}
    short = 1.0 if args.quick else 3.0
    greedy = Sampling(greedy=True, cfg=3.0)
    sample = Sampling(top_k=250, cfg=3.0)
    half = torch.float16 if device in ("cuda", "mps") else torch.float32

    # 1. graph step vs eager step
    if device == "cuda":
        lm32 = model_for(args.arch, device, torch.float32)
        a, _ = decode_codes(lm32, short, greedy, graphs=True)
        b, _ = decode_codes(lm32, short, greedy, graphs=False)
        out["graph_vs_eager_fp32_identical"] = bool(torch.equal(a, b))
        del lm32
        torch.cuda.empty_cache()
    lm = model_for(args.arch, device, half)
    if device == "cuda":
        a, _ = decode_codes(lm, short, greedy, graphs=True)
        b, _ = decode_codes(lm, short, greedy, graphs=False)
        out["graph_vs_eager_fp16_agreement"] = round(float((a == b).float().mean()), 4)
    for key in ("graph_vs_eager_fp32_identical", "graph_vs_eager_fp16_agreement"):
        if key in out:
            print(f"{key}: {out[key]}", flush=True)

    # 2. ms/step, graphs on/off, 1 and 4 variations
    for variations in (1, 4):
        for graphs in ((True, False) if device == "cuda" else (False,)):
            _, ms = decode_codes(lm, short * 2, sample, graphs=graphs, variations=variations)
            key = f"ms_per_step_v{variations}_{'graphs' if graphs else 'eager'}"
            out[key] = round(ms, 2)
            print(f"{key}: {ms:.2f}", flush=True)

    engine = Engine(lm, decoder="fast")
    size = memory.DecoderSize.of(lm)

    # 3. a 40 s clip: two windows
    long_s = 12.0 if args.quick else 40.0
    t0 = time.perf_counter()
    res = engine.generate(Conditioning(prompt="long ambient pad"), long_s, sample, seed=1)
    out["clip_40s"] = {"seconds": long_s, "samples": int(res.audio.shape[-1]), "windows": res.windows,
                       "exact_length": res.audio.shape[-1] == int(long_s * lm.sr),
                       "wall_s": round(time.perf_counter() - t0, 2)}
    print(f"clip of {long_s:g} s: {out['clip_40s']}", flush=True)

    # 4. a 30 s clip end to end, peak memory against the estimate
    clip_s = 6.0 if args.quick else 30.0
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    sync(device)
    base = peak_bytes(device) if device == "mps" else int(torch.cuda.memory_allocated()) if device == "cuda" else 0
    t0 = time.perf_counter()
    res = engine.generate(Conditioning(prompt="dusty boom bap drums"), clip_s, sample, seed=2)
    sync(device)
    wall = time.perf_counter() - t0
    measured = peak_bytes(device) - base
    estimate = memory.job_bytes(size, duration_s=clip_s, variations=1, guidance=True, prompt_chars=20)
    out["clip_30s"] = {"seconds": clip_s, "wall_s": round(wall, 2), "realtime_x": round(clip_s / wall, 2),
                       "peak_job_bytes": measured, "estimate_bytes": estimate,
                       "estimate_over_measured": round(estimate / measured, 2) if measured > 0 else None}
    print(f"clip of {clip_s:g} s end to end: {out['clip_30s']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
