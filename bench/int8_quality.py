"""What the opt-in int8 decoder weights (``--cpu-int8``) change, against fp32 and the bf16 C step.

    python bench/int8_quality.py [--steps 50] [--seconds 2] [--seed 0] [--greedy]

The model is musicgen-small's architecture (T5-base text encoder, 32 kHz EnCodec, 24-layer
1024-wide decoder, 4 codebooks of 2048), built as ``bench/decode.py --arch small`` builds it,
then given the project's random decoder weights (``bridge.engine.tiny_model.init_random_weights``:
fan-in scaled, output heads scaled for peaked distributions). EnCodec keeps ``bench/decode.py``'s
normally distributed codebooks, and its decoder's biases are set to zero: a random EnCodec
decoder's biases add a signal about 30 times louder than the part that depends on the codes, so
every clip would measure alike. Nothing is downloaded. **Quality on trained weights is unmeasured here**: trained weight matrices have
other row statistics (outliers, which per-row int8 scales handle worst), so these figures say
how the int8 step behaves, not how a real model sounds with it.

Three decoder paths on the same weights, batch 1 with classifier-free guidance (cfg 3):
fp32 (torch's eager step: the reference), the bf16 C step (decoder cast to bf16, as ``--dtype
auto`` does) and the int8 C step (the bf16 decoder with ``cpu_int8``: int8 copies of its weight
matrices, one fp32 scale per row). The C steps run on this CPU's instruction set
(``MUSICGEN_BRIDGE_CPU_ISA`` forces a lower one); ``MUSICGEN_BRIDGE_INT8`` is ignored here.

(a) Teacher-forced: the prefill and ``--steps - 1`` steps fed the same random codes on every
path (``bridge.engine.step_check``), so each step sees the same inputs: mean absolute logit
distance to fp32 over the fp32 logits' standard deviation, the share of rows (conditional and
guidance rows, every codebook) whose top code is fp32's, and the same share after guidance
(the scores decoding samples from).

(b) Free-running: each path generates ``--seconds`` of audio from the same seed (top-k 250
sampling, or ``--greedy``), EnCodec decodes each path's own codes, and each clip is compared
with the fp32 clip: the share of codes equal to fp32's, the first frame where they differ, and
the log-mel spectral distance (mean absolute difference in dB over 64 mel bands, 32 ms frames
every 10 ms, each clip floored 80 dB below its peak). Once one sampled code differs the clips
go separate ways, so the last row, fp32 with the next seed, gives the distance between two
unrelated clips of this model for scale.

Prints one table. A benchmark, not a test; it takes about two to three minutes on the 2-core
Zen 4 machine (fewer ``--steps`` and ``--seconds`` run shorter).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SR = 32000


def log_mel_db(audio, floor_db: float = 80.0):
    """``(mel bands, frames)`` log-mel power in dB of mono ``audio`` (numpy, 32 kHz), floored
    ``floor_db`` below its peak (silence would otherwise dominate the distance)."""
    import numpy as np
    import torch
    from transformers.audio_utils import mel_filter_bank

    n_fft, hop = 1024, SR // 100
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    spec = torch.stft(x, n_fft, hop_length=hop, window=torch.hann_window(n_fft), return_complex=True).abs() ** 2
    mel = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=64, min_frequency=20.0,
                          max_frequency=SR / 2, sampling_rate=SR, norm="slaney", mel_scale="slaney")
    power = torch.from_numpy(mel.T.astype(np.float32)) @ spec
    db = 10 * torch.log10(power.clamp(min=1e-12))
    return db.clamp(min=db.max() - floor_db)


def mel_distance_db(a, b) -> float:
    n = min(a.shape[-1], b.shape[-1])
    return (log_mel_db(a[:n]) - log_mel_db(b[:n])).abs().mean().item()


def forced(lm, inputs, steps: int, c_step: bool, cpu_int8: bool, cfg: float):
    """Teacher-forced logits, raw and after guidance, and the step that ran."""
    import torch

    from bridge.engine import cpu_step
    from bridge.engine.sampling import guided_logits
    from bridge.engine.step_check import forced_logits

    ran = []
    original = cpu_step.cpu_step_for
    cpu_step.cpu_step_for = lambda runner: ran.append(original(runner)) or ran[-1]
    try:  # (forced_logits imports cpu_step_for when called)
        logits = forced_logits(lm, inputs, steps, c_step=c_step, cpu_int8=cpu_int8)
    finally:
        cpu_step.cpu_step_for = original
    rows = logits.shape[1] // 2  # conditional rows first, then the guidance rows
    guided = torch.stack([guided_logits(step, cfg, rows) for step in logits])
    return logits, guided, (ran[-1].isa if ran and ran[-1] is not None else "eager (torch)")


def generate(lm, inputs, seconds: float, sampling, seed: int, cpu_int8: bool):
    """``(codes (codebooks, frames), mono audio, step name, seconds)`` of one clip."""
    import torch

    from bridge.engine import fast_decoder

    captured, ran = {}, []
    real_audio, real_step_for = fast_decoder.codes_to_audio, fast_decoder.step_for

    def capture(lm_, codes, **kw):
        captured["codes"] = codes.clone()
        return real_audio(lm_, codes, **kw)

    fast_decoder.codes_to_audio = capture
    fast_decoder.step_for = lambda runner: ran.append(real_step_for(runner)) or ran[-1]
    try:
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        with torch.inference_mode():
            audio = fast_decoder.fast_decode(lm, inputs, int(seconds * 50) + 3, sampling, lambda s: None,
                                             cpu_int8=cpu_int8)
        took = time.perf_counter() - t0
    finally:
        fast_decoder.codes_to_audio, fast_decoder.step_for = real_audio, real_step_for
    step = ran[-1]
    name = step.isa if hasattr(step, "isa") else "eager (torch)"
    return captured["codes"][0], audio[0, 0].float().numpy(), name, took


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="teacher-forced steps (default 50)")
    parser.add_argument("--seconds", type=float, default=2.0, help="audio generated per path (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--greedy", action="store_true", help="argmax decoding instead of top-k 250 sampling")
    args = parser.parse_args(argv)
    if args.steps < 2 or not 0 < args.seconds <= 30:
        parser.error("--steps must be >= 2 and --seconds in (0, 30]")

    import torch
    from decode import build

    from bridge.engine import cpu_kernels
    from bridge.engine.generation import Sampling
    from bridge.engine.step_check import distance, top_agreement
    from bridge.engine.tiny_model import init_random_weights

    if os.environ.pop(cpu_kernels.INT8_ENV, None) is not None:
        print(f"({cpu_kernels.INT8_ENV} ignored: this benchmark runs each path itself)")
    if cpu_kernels.isa() is None or cpu_kernels.step_kernel() is None or cpu_kernels.step_kernel(int8=True) is None:
        print("no C step here (not an x86 CPU with AVX2+FMA, or no C compiler): nothing to compare")
        return 1
    t_start = time.perf_counter()
    lm, inputs = build("small", "cpu")
    codec = lm.model.audio_encoder
    codebooks = [layer.codebook.embed.clone() for layer in codec.quantizer.layers]
    init_random_weights(lm.model, 2048)
    with torch.no_grad():  # decode.py's codebooks back (init_random_weights derives near-equal ones
        for layer, embed in zip(codec.quantizer.layers, codebooks):  # from this random encoder)
            layer.codebook.embed.copy_(embed)
        for name, param in codec.decoder.named_parameters():  # audio that depends on the codes only
            if name.endswith("bias"):
                param.zero_()
    lm.model.eval()
    sampling = Sampling(greedy=args.greedy, cfg=3.0)
    print(f"musicgen-small architecture, random weights; {torch.get_num_threads()} threads; "
          f"C step ISA {cpu_kernels.isa()}; built in {time.perf_counter() - t_start:.0f} s", flush=True)

    rows = {}
    # fp32 first (the model as built), then the decoder cast to bf16 for both C steps
    ref, ref_guided, ref_step = forced(lm, inputs, args.steps, c_step=False, cpu_int8=False, cfg=sampling.cfg)
    clip32 = generate(lm, inputs, args.seconds, sampling, args.seed, cpu_int8=False)
    other32 = generate(lm, inputs, args.seconds, sampling, args.seed + 1, cpu_int8=False)
    lm.model.decoder.to(torch.bfloat16)  # as --dtype auto does; text encoder and EnCodec stay fp32
    for name, int8 in (("bf16", False), ("int8", True)):
        logits, guided, step = forced(lm, inputs, args.steps, c_step=True, cpu_int8=int8, cfg=sampling.cfg)
        rows[name] = (logits, guided, step, generate(lm, inputs, args.seconds, sampling, args.seed, cpu_int8=int8))

    def free_running(clip) -> list[str]:
        codes, audio = clip[0], clip[1]
        same = codes == clip32[0]
        differ = (~same).any(dim=0).nonzero()
        return [f"{same.float().mean().item() * 100:.1f}%", str(int(differ[0])) if len(differ) else "none",
                f"{mel_distance_db(audio, clip32[1]):.2f}", f"{clip[3]:.1f}"]

    table = [["path", "step", "logit dist", "top code", "guided", "codes = fp32", "1st differs", "log-mel dB",
              "gen s"],
             ["fp32 (ref)", ref_step, "0", "100%", "100%", *free_running(clip32)]]
    for name, (logits, guided, step, clip) in rows.items():
        table.append([name, step, f"{distance(logits, ref):.4f}", f"{top_agreement(logits, ref) * 100:.1f}%",
                      f"{top_agreement(guided, ref_guided) * 100:.1f}%", *free_running(clip)])
    table.append(["fp32, seed+1", other32[2], "", "", "", *free_running(other32)])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print(f"\nteacher-forced: {args.steps} steps; free-running: {args.seconds:g} s ({clip32[0].shape[-1]} frames), "
          f"seed {args.seed}, {'greedy' if args.greedy else 'top-k 250 sampling'}, cfg 3")
    for row in table:
        print("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    print(f"\nlogit dist: mean |logits - fp32| / std(fp32 logits); top code, guided: share of rows whose best code "
          f"is fp32's (raw rows; after guidance); codes = fp32: share of generated codes equal to the fp32 clip's; "
          f"1st differs: first frame where they differ; log-mel dB: mean |difference| of 64-band log-mel spectra "
          f"against the fp32 clip; gen s: seconds to generate. Random weights: quality on trained weights is "
          f"unmeasured. Total {time.perf_counter() - t_start:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
