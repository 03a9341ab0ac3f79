"""One decoding step checked against another: teacher-forced logits and how far apart they are.

Used by the tests (the C step on every path against fp32 and torch's bf16 step) and by
``bench/int8_quality.py``. Teacher forcing feeds every step the same random codes, so the steps
compared see the same inputs however their logits differ; a free-running comparison would
diverge at the first code chosen differently.
"""

from __future__ import annotations


def forced_logits(lm, inputs: dict, steps: int, c_step: bool, cpu_int8: bool = False):
    """Logits ``(steps, rows * codebooks, codes)`` of the prefill and ``steps - 1`` steps fed the
    same random codes (batch with guidance rows), through the eager step or the C step
    (:mod:`.cpu_step`; ``cpu_int8``: its int8 weights, ``MUSICGEN_BRIDGE_INT8`` overriding)."""
    import torch

    from . import fast_decoder
    from .cpu_step import CpuStep, cpu_step_for

    with torch.inference_mode():
        runner, ids, _, _ = fast_decoder.start_decoding(lm, inputs, steps, guided=True, cpu_int8=cpu_int8)
        weights, rows = runner.weights, runner.rows
        step = cpu_step_for(runner) if c_step else runner.step
        if c_step and not isinstance(step, CpuStep):
            raise RuntimeError("the C step does not run here")
        out = [runner.prefill(torch.cat([ids, ids]))]
        gen = torch.Generator().manual_seed(0)
        vocab, codebooks = weights.heads_w[0].shape[0], len(weights.embed_tokens)
        for i in range(steps - 1):
            out.append(step(torch.randint(0, vocab, (rows, codebooks), generator=gen), ids.shape[-1] + i))
        return torch.stack(out)


def distance(logits, ref) -> float:
    """Mean absolute difference of ``logits`` from ``ref``, over ``ref``'s standard deviation."""
    return ((logits - ref).abs().mean() / ref.std()).item()


def top_agreement(logits, ref) -> float:
    """The fraction of rows whose highest-scoring code is ``ref``'s."""
    return (logits.argmax(-1) == ref.argmax(-1)).float().mean().item()
