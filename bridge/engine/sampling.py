"""Choosing the next codes from the decoder's logits: classifier-free guidance, temperature,
top-k, top-p, then a draw (or argmax for greedy decoding).

The steps and their order are transformers' (``ClassifierFreeGuidanceLogitsProcessor``, then
``TemperatureLogitsWarper``, ``TopKLogitsWarper``, ``TopPLogitsWarper``, softmax and
``torch.multinomial`` on the global generator), so a seed set with ``torch.manual_seed`` gives
the same draws run after run, and greedy decoding picks exactly the codes transformers picks.

On Apple's MPS the draw runs on the CPU: torch's ``multinomial`` on MPS can return indices whose
probability is zero (pytorch#192577), which top-k masking produces in every row; one step's
probabilities are a few rows of 2048 values, so the copy costs microseconds. Off CUDA, a drawn
code whose probability is zero (which a correct draw never gives) is replaced by the row's most
likely code and logged.
"""

from __future__ import annotations

import logging

log = logging.getLogger("bridge.engine")

#: Devices whose ``torch.multinomial`` is not trusted: the draw is made on the CPU.
DRAW_ON_CPU = ("mps",)


def guided_logits(logits, guidance_scale: float, rows: int):
    """Apply classifier-free guidance to fp32 logits ``(2*rows, ...)`` (conditional rows first).

    ``uncond + (cond - uncond) * guidance_scale`` as transformers computes it; without guidance
    rows (``guidance_scale <= 1``) the logits are returned as they are.
    """
    if guidance_scale is None or guidance_scale <= 1:
        return logits
    cond, uncond = logits[:rows], logits[rows:]
    return uncond + (cond - uncond) * guidance_scale


def choose_tokens(scores, sampling):
    """Next token per row of fp32 ``scores (rows, vocab)``, as transformers' ``_sample`` does."""
    import torch

    if sampling.greedy:
        return torch.argmax(scores, dim=-1)
    temperature = float(sampling.temperature)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if temperature != 1.0:
        scores = scores / temperature
    top_k = int(sampling.top_k or 0)
    if top_k > 0:
        top_k = min(top_k, scores.shape[-1])
        kth = torch.topk(scores, top_k)[0][..., -1, None]
        scores = scores.masked_fill(scores < kth, -float("inf"))
    top_p = float(sampling.top_p or 0.0)
    if 0 < top_p < 1:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        sorted_remove = cumulative <= (1 - top_p)
        sorted_remove[..., -1:] = False
        remove = sorted_remove.scatter(1, sorted_indices, sorted_remove)
        scores = scores.masked_fill(remove, -float("inf"))
    probs = torch.nn.functional.softmax(scores, dim=-1)
    return draw(probs)


def draw(probs):
    """One code per row of ``probs (rows, vocab)``, drawn on the global generator (on the CPU for
    the devices in :data:`DRAW_ON_CPU`), never a code of probability zero."""
    import torch

    device = probs.device
    if device.type in DRAW_ON_CPU:
        probs = probs.cpu()
    tokens = torch.multinomial(probs, num_samples=1)
    if probs.device.type == "cuda":
        return tokens.squeeze(1)  # trusted there, and a check would stall the GPU every step
    impossible = probs.gather(1, tokens) <= 0
    if bool(impossible.any()):
        log.warning("the draw returned %d code(s) of probability 0; the most likely code is used instead",
                    int(impossible.sum()))
        tokens = torch.where(impossible, probs.argmax(dim=-1, keepdim=True), tokens)
    return tokens.squeeze(1).to(device)
