"""Decoding speed: transformers' ``generate`` against the project's fast decoder, same weights.

    python bench/decode.py --arch tiny|small [--seconds S] [--dtype auto|fp32|bf16|fp16] [--device auto|cpu|cuda]
                           [--variations N]

Builds the architecture with random weights (speed does not depend on their values; nothing is
downloaded), then, in one run on the same weight tensors, batch 1 (``--variations N``: N) with classifier-free guidance
(cfg 3, top-k 250 sampling):

1. transformers' ``generate`` with the model in fp32;
2. transformers' ``generate`` with the model cast in place to the fast decoder's dtype;
3. the fast decoder (``DECODERS["fast"]``) on those same cast weights.

On CPUs without native bf16 (or with ``MUSICGEN_BRIDGE_CPU_ISA=avx2|avx512`` forcing the C step
that reads bf16 weights and computes in fp32), ``--dtype auto`` means bf16 for the decoder only:
the fast decoder runs with the text encoder and EnCodec in fp32, as the engine does there.
``MUSICGEN_BRIDGE_INT8=1`` runs the fast decoder's C step on int8 copies of the decoder's
weights (opt-in; the floor is then for one byte a weight). With
``MUSICGEN_BRIDGE_CPU_ISA`` set, torch is held to the same instruction set for the transformers
runs (``ATEN_CPU_CAPABILITY``, ``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``, unless set
already), so both sides run on the same ISA.

It prints which step the fast decoder ran (the C step and its instruction set, AMX or not, or
torch's eager step) and the floor for the weight bytes that step reads.

For each it prints decoding steps per second (the step loop, from the first step to the last),
seconds of audio per second of wall time (text encoder and EnCodec included), peak memory, and
for the fast decoder its ms/step against the floor set by the weight bytes one step reads over
the memory bandwidth (measured at the start, and again right before and after the fast
decoder's run: the floor uses the mean of those two, since a shared machine's bandwidth
drifts), and against the read floor: the same bytes over the read-only bandwidth (a sum of a
1 GB buffer) measured right before and after; on machines whose copy figure swings with its
writes, reading alone is what bounds a step. The last line is ``speedup: X.XX``: the fast decoder's
steps/s over the faster of the two transformers runs. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

#: torch's own instruction-set limits matching each forced ISA (read when torch is imported).
TORCH_ISA_ENV = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE",
               "MKL_ENABLE_INSTRUCTIONS": "AVX512"},
    "avx512bf16": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"},
}
for _name, _value in TORCH_ISA_ENV.get(os.environ.get("MUSICGEN_BRIDGE_CPU_ISA", "").strip().lower(), {}).items():
    os.environ.setdefault(_name, _value)

FRAME_RATE = 50


def build_small(melody: bool = False):
    """musicgen-small's architecture (T5-base text encoder, 32 kHz EnCodec, 24-layer 1024-wide
    decoder with 16 heads and 4 codebooks of 2048) with random weights, in fp32."""
    import torch
    from transformers import (EncodecConfig, GenerationConfig, MusicgenConfig, MusicgenDecoderConfig,
                              MusicgenForConditionalGeneration, T5Config)

    torch.manual_seed(0)
    text = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12,
                    relative_attention_num_buckets=32, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    audio = EncodecConfig(sampling_rate=32000, audio_channels=1, num_filters=64, upsampling_ratios=[8, 5, 4, 4],
                          codebook_size=2048, codebook_dim=128, hidden_size=128, num_lstm_layers=2,
                          num_residual_layers=1, target_bandwidths=[2.2], use_causal_conv=False, normalize=False,
                          chunk_length_s=None, overlap=None)
    dec = MusicgenDecoderConfig(vocab_size=2048, max_position_embeddings=2048, num_hidden_layers=24,
                                ffn_dim=4096, num_attention_heads=16, hidden_size=1024, num_codebooks=4,
                                audio_channels=1, pad_token_id=2048, bos_token_id=2048, dropout=0.1,
                                activation_function="gelu")
    cfg = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=dec.to_dict())
    model = MusicgenForConditionalGeneration(cfg)
    with torch.no_grad():  # EnCodec codebooks start as zeros; give them values like trained ones
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    model.generation_config = GenerationConfig(decoder_start_token_id=2048, pad_token_id=2048, bos_token_id=2048,
                                               do_sample=True, guidance_scale=3.0, max_length=1500, top_k=250)
    model.config.decoder.pad_token_id = 2048
    model.config.decoder.bos_token_id = 2048
    model.eval()
    return model


def loaded_for(model, spec: str, device: str):
    from bridge.engine.loading import LoadedModel

    model.to(device)
    dec = model.config.decoder
    return LoadedModel(spec=spec, source="random", model=model, tokenizer=None, device=device,
                       dtype=next(model.decoder.parameters()).dtype, is_melody=False, sr=32000,
                       channels=int(dec.audio_channels), frame_rate=FRAME_RATE,
                       num_codebooks=int(dec.num_codebooks), max_positions=int(dec.max_position_embeddings))


def build(arch: str, device: str):
    """A LoadedModel for ``arch`` in fp32, and the token ids of a short prompt."""
    import torch

    if arch == "tiny":
        from bridge.engine.loading import load_model
        from bridge.engine.tiny_model import make_test_model

        path = Path(tempfile.gettempdir()) / "musicgen-bridge-bench-tiny"
        if not (path / "config.json").exists():
            make_test_model(path)
        lm = load_model(str(path), device=device, dtype="fp32")
        tok = lm.tokenizer(["dusty boom bap drums with a warm bass"], return_tensors="pt")
        return lm, {"input_ids": tok["input_ids"].to(device), "attention_mask": tok["attention_mask"].to(device)}
    model = build_small()
    lm = loaded_for(model, "small (random weights)", device)
    ids = torch.randint(2, 32000, (1, 12), generator=torch.Generator().manual_seed(1))
    return lm, {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}


class PeakMemory:
    """Peak resident memory (CPU) or peak allocated CUDA memory during a block.

    On the CPU the resident size is read at each decoding step (``sample``) and at the ends of
    the block: a sampling thread would take a core from the decoder's threads on small machines."""

    def __init__(self, device: str):
        self.device = device
        self.peak = 0

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def sample(self) -> None:
        if self.device != "cuda":
            self.peak = max(self.peak, self.rss())

    def __enter__(self):
        if self.device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        self.sample()
        return self

    def __exit__(self, *exc):
        if self.device == "cuda":
            import torch

            self.peak = torch.cuda.max_memory_allocated()
        self.sample()


def _timings(fn, device: str, repeats: int) -> list[float]:
    import torch

    out = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return sorted(out)


def memory_bandwidth_gbs(device: str, nbytes: int = 1 << 30, best: bool = False, repeats: int = 7) -> float:
    """Measured memory bandwidth in GB/s: copies of a ``nbytes`` buffer, counting the bytes read
    and written (as STREAM's copy does); the median of ``repeats`` copies, or with ``best`` the
    fastest (STREAM's convention). On the project's shared cloud machines the fastest of a few
    catches bursts of up to 50 GB/s that last well under a second, which a decode of seconds
    never sees (``bench/bandwidth.py``); the median is what the memory sustains."""
    import torch

    src = torch.randn(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)  # first touch of dst outside the timing
    times = _timings(lambda: dst.copy_(src), device, repeats)
    return 2 * nbytes / (times[0] if best else times[len(times) // 2]) / 1e9


def read_bandwidth_gbs(device: str, nbytes: int = 1 << 30, best: bool = False, repeats: int = 7) -> float:
    """Measured read-only memory bandwidth in GB/s: sums of a ``nbytes`` buffer of random values
    (what a decoding step does with its weights: read them once); the median of ``repeats``, or
    with ``best`` the fastest."""
    import torch

    src = torch.randn(nbytes // 4, dtype=torch.float32, device=device)
    times = _timings(lambda: src.sum(), device, repeats)
    return nbytes / (times[0] if best else times[len(times) // 2]) / 1e9


def cpu_paths_model(arch: str, variations: int):
    """For the CPU-path benchmarks (``isa_compare.py``, ``step_ab.py``): ``(isas, lm, inputs)``
    with the x86 instruction sets this CPU has a C step for (lowest first), the architecture
    built with its decoder in bf16 (text encoder and EnCodec fp32: what every path reads is the
    same) and the inputs for ``variations``; None (said on stderr) without any such set."""
    import torch

    from bridge.engine import cpu_kernels

    flags = cpu_kernels.cpu_flags()
    isas = [isa for isa in cpu_kernels.ISAS if cpu_kernels.pick_isa(flags, isa)[0] == isa]
    if not isas:
        print("no x86 instruction set with a C step here (needs AVX2+FMA at least)", file=sys.stderr)
        return None
    lm, inputs = build(arch, "cpu")
    lm.model.decoder.to(torch.bfloat16)
    return isas, lm, with_variations(inputs, variations)


def with_variations(inputs: dict, variations: int) -> dict:
    """The prompt's inputs repeated for ``variations`` clips decoded in one batch."""
    return {k: v.repeat(variations, 1) for k, v in inputs.items()} if variations > 1 else inputs


def cpu_paths(isas: list[str], wanted: str = "") -> list[tuple[str, str, bool, bool]]:
    """The C steps the CPU-path benchmarks compare, as ``(label, isa, int8, packed)``: each of
    ``isas``' bf16 step (AVX512-BF16 both reading the weights in place and reading packed
    copies, ``avx512bf16-packed``), then the int8 steps on ``avx2`` and ``avx512``; only the
    labels in ``wanted`` (comma-separated) when given."""
    paths = [(isa, isa, False, False) for isa in isas]
    paths += [(isa + "-packed", isa, False, True) for isa in isas if isa == "avx512bf16"]
    paths += [(isa + "-int8", isa, True, False) for isa in isas if isa in ("avx2", "avx512")]
    return [path for path in paths if path[0] in wanted.split(",")] if wanted else paths


def timed(decode, lm, inputs, steps: int, sampling, device: str) -> dict:
    """Run one decode; steps/s over the step loop, audio s/s over the whole call, peak memory."""
    import torch

    stamps = []
    mem = PeakMemory(device)

    def on_step(step: int) -> None:
        if device == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        mem.sample()

    torch.manual_seed(0)
    with mem, torch.inference_mode():
        t0 = time.perf_counter()
        audio = decode(lm, inputs, steps, sampling, on_step)
        if device == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
    loop_steps = len(stamps) - 1
    mean_s = (stamps[-1] - stamps[0]) / loop_steps if loop_steps > 0 else wall
    durations = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    median_s = durations[len(durations) // 2] if durations else wall
    audio_s = audio.shape[-1] / lm.sr
    return {"steps_per_s": 1.0 / mean_s, "ms_per_step": mean_s * 1e3, "median_ms": median_s * 1e3,
            "wall_s": wall, "audio_per_s": audio_s / wall, "peak_bytes": mem.peak,
            "first_step_s": stamps[0] - t0}


def describe_step(step, dtype) -> str:
    """Which step the fast decoder ran: the C step (instruction set, arithmetic, AMX) or torch's."""
    from bridge.engine import cpu_kernels
    from bridge.engine.cpu_step import CpuStep

    if isinstance(step, CpuStep):
        if step.isa.endswith("-int8"):
            how = "int8 weights with per-row scales, int16 inputs, integer products"
        elif step.isa in ("avx2", "avx512"):
            how = "bf16 weights, fp32 arithmetic"
        elif step.isa.endswith("-packed"):
            how = "packed copies of the bf16 weights, vdpbf16ps products"
        else:
            how = "bf16 weights, vdpbf16ps products"
        amx = "AMX on for 3-16 rows" if cpu_kernels.amx_in_use() else "no AMX"
        return f"C step {step.isa} ({how}, {amx}, {step.runner.rows} rows)"
    name = type(step).__name__ if not hasattr(step, "__self__") else "eager step (torch)"
    return f"{name}, {str(dtype).replace('torch.', '')} weights"


def report(name: str, r: dict) -> None:
    print(f"{name:34s} {r['steps_per_s']:7.2f} steps/s  {r['ms_per_step']:7.1f} ms/step "
          f"(median {r['median_ms']:6.1f})  "
          f"{r['audio_per_s']:6.3f} audio s/s  wall {r['wall_s']:6.2f} s  "
          f"peak mem {r['peak_bytes'] / 2**30:5.2f} GiB", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("tiny", "small"), default="small")
    parser.add_argument("--seconds", type=float, default=2.0, help="audio seconds per run (default 2)")
    parser.add_argument("--dtype", default="auto", help="auto|fp32|bf16|fp16: the fast decoder's dtype")
    parser.add_argument("--device", default="cpu", help="auto|cpu|cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--variations", type=int, default=1, help="clips per call, one batch (default 1)")
    args = parser.parse_args(argv)

    import torch

    from bridge.engine import cpu_kernels, previews
    from bridge.engine import fast_decoder as fast_decoder_module
    from bridge.engine.decoders import transformers_decode
    from bridge.engine.fast_decoder import fast_decode
    from bridge.engine.generation import Sampling
    from bridge.engine.loading import quiet_transformers
    from bridge.engine.specs import pick_device, pick_dtype
    from bridge.engine.weights import weights_of

    quiet_transformers()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    dtype = pick_dtype(device, args.dtype)
    isa = cpu_kernels.isa() if device == "cpu" else None
    # the C step without native bf16: bf16 decoder, text encoder and EnCodec in fp32
    decoder_only = device == "cpu" and isa in ("avx2", "avx512") and args.dtype in ("auto", "bf16")
    if decoder_only:
        dtype = torch.bfloat16
    lm, inputs = build(args.arch, device)
    inputs = with_variations(inputs, args.variations)
    per_channel = lm.num_codebooks // lm.channels
    frames = int(round(args.seconds * FRAME_RATE))
    steps = frames + per_channel - 1
    sampling = Sampling(top_k=250, cfg=3.0)
    bandwidth = memory_bandwidth_gbs(device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average before: {load:.2f} (other work on the machine skews every figure below)")
    print(f"arch {args.arch}  device {device}  threads {torch.get_num_threads()}  variations {args.variations}  "
          f"audio {args.seconds:g} s = "
          f"{steps} steps  fast dtype {str(dtype).replace('torch.', '')}  memory bandwidth {bandwidth:.1f} GB/s "
          f"(copy, read+write)", flush=True)
    limits = {k: os.environ[k] for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
              if k in os.environ}
    print(f"kernels ISA {isa}  ({cpu_kernels.ISA_ENV}={os.environ.get(cpu_kernels.ISA_ENV, '')!r}; torch "
          f"capability {torch.backends.cpu.get_cpu_capability()}"
          + (f", {' '.join(f'{k}={v}' for k, v in limits.items())}" if limits else "") + ")", flush=True)

    warm = min(steps, 8)
    transformers_decode(lm, inputs, warm, sampling, lambda s: None)  # first-call costs out of the timings
    tf32 = timed(transformers_decode, lm, inputs, steps, sampling, device)
    report("transformers generate fp32", tf32)

    lm.model.to(dtype)  # in place: the same parameter objects, cast
    lm.dtype = dtype
    name = str(dtype).replace("torch.", "")
    runs = {"fp32": tf32}
    if dtype != torch.float32:
        transformers_decode(lm, inputs, warm, sampling, lambda s: None)
        runs[name] = timed(transformers_decode, lm, inputs, steps, sampling, device)
        report(f"transformers generate {name}", runs[name])
    if decoder_only:  # transformers ran all in bf16 above; the fast decoder: bf16 decoder only
        lm.model.to(torch.float32)
        lm.model.decoder.to(dtype)
        lm.dtype = torch.float32
        name = f"{name} decoder"
    steps_run = []
    original_step_for = fast_decoder_module.step_for
    fast_decoder_module.step_for = lambda runner: steps_run.append(original_step_for(runner)) or steps_run[-1]
    fast_decode(lm, inputs, warm, sampling, lambda s: None)
    # the floor is set by the memory's speed while the fast decoder runs: on a shared machine it
    # drifts by a third within minutes, so it is measured again right before and after
    around = [memory_bandwidth_gbs(device)]
    reads = [read_bandwidth_gbs(device)]
    fast = timed(fast_decode, lm, inputs, steps, sampling, device)
    around.append(memory_bandwidth_gbs(device))
    reads.append(read_bandwidth_gbs(device))
    fast_decoder_module.step_for = original_step_for
    report(f"fast decoder {name}", fast)
    print(f"fast decoder step: {describe_step(steps_run[-1], dtype)}")

    if frames > previews.PREVIEW_EVERY_FRAMES:  # streaming: when the first second can be heard
        t0 = time.perf_counter()
        firsts = []

        def on_preview(chunk) -> None:
            if not firsts:
                firsts.append((time.perf_counter() - t0, chunk.shape[-1] / lm.sr))

        torch.manual_seed(0)
        with torch.inference_mode():
            fast_decode(lm, inputs, steps, sampling, lambda s: None, preview=on_preview)
        total = time.perf_counter() - t0
        print(f"fast decoder preview: first {firsts[0][1]:.2f} s of audio after {firsts[0][0]:.2f} s "
              f"(whole {args.seconds:g} s clip: {total:.2f} s)")

    step_bytes = weights_of(lm.model).weight_bytes_per_step()
    int8 = getattr(steps_run[-1], "isa", "").endswith("-int8")
    if int8:  # one byte a weight (the per-row scales are negligible)
        step_bytes //= weights_of(lm.model).layers[0]["q"].element_size()
    bandwidth_then = sum(around) / 2
    floor_ms = step_bytes / (bandwidth_then * 1e9) * 1e3
    print(f"fast decoder: {fast['ms_per_step']:.1f} ms/step against a floor of {floor_ms:.1f} ms/step "
          f"({step_bytes / 1e9:.2f} GB of {'int8' if int8 else str(weights_of(lm.model).dtype).replace('torch.', '')}"
          f" weights per step at {bandwidth_then:.1f} GB/s, the copy bandwidth measured right before and after it: "
          f"{around[0]:.1f} and {around[1]:.1f}); {fast['ms_per_step'] / floor_ms:.2f}x the floor "
          f"(median step {fast['median_ms'] / floor_ms:.2f}x)")
    read_then = sum(reads) / 2
    read_floor_ms = step_bytes / (read_then * 1e9) * 1e3
    print(f"fast decoder against the read floor: {read_floor_ms:.1f} ms/step (reading alone at {read_then:.1f} GB/s, "
          f"measured right before and after it: {reads[0]:.1f} and {reads[1]:.1f}); "
          f"{fast['ms_per_step'] / read_floor_ms:.2f}x (median step {fast['median_ms'] / read_floor_ms:.2f}x)")
    best_tf = max(r["steps_per_s"] for r in runs.values())
    best_tf_median = min(r["median_ms"] for r in runs.values())
    print(f"median step: fast {fast['median_ms']:.1f} ms against transformers' best {best_tf_median:.1f} ms "
          f"({best_tf_median / fast['median_ms']:.2f}x; medians resist bursts of other load)")
    if hasattr(os, "getloadavg"):
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"over transformers fp32: {fast['steps_per_s'] / tf32['steps_per_s']:.2f}x")
    print(f"speedup: {fast['steps_per_s'] / best_tf:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
