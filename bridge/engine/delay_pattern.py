"""MusicGen's delay pattern: codebook ``k`` of a frame is decoded ``delays[k]`` steps after
codebook 0, so that each step can condition on the coarser codebooks of the same frame.

A decoding sequence ``seq (batch, codebooks, length)`` holds, at position ``p`` of codebook
``k``, the code of frame ``p - 1 - delays[k]``. Position 0 is the start token; the positions
before a codebook's first frame and after its last hold the pad token (the same id). Mono, 4
codebooks, 3 frames (``P`` pad, ``fN`` frame N's code), ``length = frames + 4``::

    position    0   1   2   3   4   5   6
    codebook 0  P   f0  f1  f2  P   P   P
    codebook 1  P   P   f0  f1  f2  P   P
    codebook 2  P   P   P   f0  f1  f2  P
    codebook 3  P   P   P   P   f0  f1  f2

Stereo models have 8 codebooks, left and right interleaved; each pair shares one delay
(``delays = 0, 0, 1, 1, 2, 2, 3, 3``). An audio prompt's codes are the first frames.

The pattern itself is transformers' own (``build_delay_pattern_mask``), so codes and audio are
laid out exactly as ``generate`` lays them out; this module adds what the decoding loop and the
previews need to read frames back out of a sequence.
"""

from __future__ import annotations


def build_pattern(model, inputs: dict, batch: int, max_new_tokens: int):
    """``(ids, pattern, pad_id)`` for a generation of ``max_new_tokens`` positions: ``ids
    (batch, codebooks, n)`` the first positions (the start token, then any audio prompt's codes
    from ``inputs["decoder_input_ids"]`` ``(batch * codebooks, prompt_frames)``), ``pattern
    (batch, codebooks, n + max_new_tokens)`` transformers' delay-pattern mask (-1 where a code is
    to be decoded, else the code or pad id that position holds)."""
    import torch

    gen = model.generation_config
    start_id = gen.decoder_start_token_id if gen.decoder_start_token_id is not None else gen.bos_token_id
    num_codebooks = model.decoder.num_codebooks
    device = inputs["input_ids"].device
    bos = torch.full((batch * num_codebooks, 1), int(start_id), dtype=torch.long, device=device)
    ids = inputs.get("decoder_input_ids")
    if ids is None:
        ids = bos
    else:
        ids = ids.to(device=device, dtype=torch.long)
        if bool((ids[..., 0] != start_id).all()):
            ids = torch.cat([bos, ids], dim=-1)
    max_length = ids.shape[-1] + max_new_tokens
    ids, pattern = model.decoder.build_delay_pattern_mask(ids, pad_token_id=int(start_id), max_length=max_length)
    return (ids.reshape(batch, num_codebooks, -1), pattern.reshape(batch, num_codebooks, -1),
            int(start_id))


def codebook_delays(num_codebooks: int, channels: int) -> list[int]:
    """Each codebook's delay in positions: ``0, 1, 2, 3`` (mono), ``0, 0, 1, 1, ...`` (stereo)."""
    import torch

    return torch.arange(num_codebooks // channels).repeat_interleave(channels).tolist()


def finished_frames(filled_to: int, delays: list[int]) -> int:
    """How many frames have every codebook once positions ``0..filled_to`` are filled."""
    return filled_to - max(delays)


def frames_between(seq, delays: list[int], begin: int, end: int):
    """Codes of frames ``begin..end-1`` of ``seq (batch, codebooks, length)``: ``(batch,
    codebooks, end - begin)``."""
    import torch

    return torch.stack([seq[:, k, begin + 1 + d:end + 1 + d] for k, d in enumerate(delays)], dim=1)


def all_frames(seq, pad_id: int):
    """Codes of every frame of a finished ``seq (batch, codebooks, length)`` (start and pad
    positions dropped): ``(batch, codebooks, length - max(delays) - 1)``."""
    batch, num_codebooks, length = seq.shape
    flat = seq.reshape(batch * num_codebooks, length)
    return flat[flat != pad_id].reshape(batch, num_codebooks, -1)
