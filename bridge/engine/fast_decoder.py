"""The project's own MusicGen decoding loop over transformers' weights (``DECODERS["fast"]``).

transformers' ``generate`` re-concatenates its KV cache every step, rebuilds masks and runs a
general-purpose sampling loop; on a CPU the per-step work beyond the weight reads costs more
than the reads themselves. This loop does only what MusicGen needs, with the same weight
tensors (no copy of the model):

- the text encoder (and, for melody models, the chroma projection) runs once
  (:mod:`.conditioning`);
- cross-attention keys/values are computed once, before the first step (:mod:`.runner`);
- self-attention keys/values go into a preallocated :class:`~.kv_cache.StaticKVCache`;
- conditional and classifier-free-guidance rows run as one batch;
- the delay pattern is transformers' own (:mod:`.delay_pattern`), so the codes and the audio are
  laid out exactly as ``generate`` lays them out (an audio prompt's audio comes first);
- each step is the fastest one that applies here (:mod:`.steps`): a CUDA graph on CUDA
  (unmeasured: see docs/performance.md), one C call on bf16 CPUs, else torch operations.

With greedy decoding in fp32 it produces exactly the codes transformers' ``generate`` produces
(tests/test_fast_decoder.py). Sampling follows transformers' order (guidance, temperature,
top-k, top-p: :mod:`.sampling`) on the global torch generator: a seed gives the same audio run
after run.

Streaming: ``preview`` (optional) receives the audio of newly finished frames while decoding
goes on (:mod:`.previews`).
"""

from __future__ import annotations

from typing import Callable

from .codec import codes_to_audio
from .conditioning import encode_conditioning
from .delay_pattern import all_frames, build_pattern
from .loading import LoadedModel
from .previews import PreviewChunk, Previewer
from .runner import DecoderRunner
from .sampling import choose_tokens, guided_logits
from .steps import step_for
from .weights import linear_for, weights_of


def fast_decode(lm: LoadedModel, inputs: dict, max_new_tokens: int, sampling, on_step: Callable[[int], None],
                preview: PreviewChunk | None = None, keep_going: Callable[[], None] | None = None,
                cpu_int8: bool = False):
    """The fast decoder: same contract as ``transformers_decode``; returns audio
    ``(batch, channels, samples)`` including an audio prompt's audio first.

    ``cpu_int8``: the C step reads int8 copies of the decoder's weights where it runs
    (:mod:`.int8_switch`; ``MUSICGEN_BRIDGE_INT8`` overrides).

    ``preview`` (optional) receives, in order, numpy chunks ``(batch, channels, samples)`` of the
    newly generated audio (the prompt excluded) roughly every
    :data:`~.previews.PREVIEW_EVERY_FRAMES` frames. ``keep_going`` (optional) is called every
    :data:`~.codec.POLL_S` while EnCodec decodes at the end; what it raises stops the decoder.
    """
    import torch

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    guided = sampling.cfg is not None and sampling.cfg > 1
    with torch.inference_mode():
        runner, ids, pattern, pad_id = start_decoding(lm, inputs, max_new_tokens, guided, cpu_int8=cpu_int8)
        batch = ids.shape[0]
        first = ids.shape[-1]
        length = pattern.shape[-1]
        seq = pattern.clone()
        seq[:, :, :first] = ids
        previewer = None if preview is None else Previewer(lm, preview, first, length)
        step_fn = step_for(runner)

        def rows_of(t):  # conditional rows, then the same codes for the guidance rows
            return torch.cat([t, t], dim=0) if guided else t

        logits = runner.prefill(rows_of(seq[:, :, :first]))
        steps = length - first
        for step in range(1, steps + 1):
            position = first + step - 1
            scores = guided_logits(logits, sampling.cfg, batch * lm.num_codebooks)
            tokens = choose_tokens(scores, sampling).view(batch, lm.num_codebooks)
            fixed = pattern[:, :, position]
            seq[:, :, position] = torch.where(fixed == -1, tokens, fixed)
            on_step(step)
            if previewer is not None:
                previewer.after(seq, position)
            if step < steps:
                logits = step_fn(rows_of(seq[:, :, position]), position)
        if keep_going is None:
            return codes_to_audio(lm, all_frames(seq, pad_id))
        # EnCodec takes seconds on a CPU: meanwhile keep_going may raise, so a cancel or a shutdown
        # is answered at once
        return codes_to_audio(lm, all_frames(seq, pad_id), keep_going=keep_going)


fast_decode.supports_preview = True
fast_decode.supports_keep_going = True
fast_decode.supports_cpu_int8 = True


def start_decoding(lm: LoadedModel, inputs: dict, max_new_tokens: int, guided: bool, cpu_int8: bool = False):
    """What a generation starts from: ``(runner, ids, pattern, pad_id)``. The runner has the
    text (and chroma) encoded and a cache long enough; ``ids (batch, codebooks, n)`` are the
    first decoder tokens (start token, then any audio prompt's codes) and ``pattern (batch,
    codebooks, n + max_new_tokens)`` transformers' delay-pattern mask. ``cpu_int8``: the
    runner's C step reads int8 weights (see :func:`fast_decode`)."""
    batch = int(inputs["input_ids"].shape[0])
    ids, pattern, pad_id = build_pattern(lm.model, inputs, batch, max_new_tokens)
    runner = DecoderRunner(weights_of(lm.model), encode_conditioning(lm, inputs, guided),
                           2 * batch if guided else batch, pattern.shape[-1], cpu_int8=cpu_int8)
    return runner, ids, pattern, pad_id


def prepare(lm: LoadedModel, cpu_int8: bool = False) -> None:
    """The one-time work before the first request: gather the weight views and, for bf16 on the
    CPU, build (first run on a machine: a few seconds) or load the C kernels and make the copies
    of the weights the C step reads (:func:`.cpu_step.prepare_copies`; ``cpu_int8``: the
    engine's int8 switch)."""
    from .cpu_step import prepare_copies

    weights = weights_of(lm.model)
    linear_for(weights)
    prepare_copies(weights, cpu_int8)
