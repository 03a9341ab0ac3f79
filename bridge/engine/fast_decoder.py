"""The project's own MusicGen decoding loop over transformers' weights (``DECODERS["fast"]``).

transformers' ``generate`` re-concatenates its KV cache every step, rebuilds masks and runs a
general-purpose sampling loop; on a CPU the per-step work beyond the weight reads costs more
than the reads themselves. This loop does only what MusicGen needs, with the same weight
tensors (no copy of the model):

- the text encoder (and, for melody models, the chroma projection) runs once;
- cross-attention keys/values are computed once, before the first step;
- self-attention keys/values go into a preallocated :class:`~.kv_cache.StaticKVCache`;
- conditional and classifier-free-guidance rows run as one batch;
- the delay pattern is transformers' own (``build_delay_pattern_mask``), so the codes and the
  audio are laid out exactly as ``generate`` lays them out (an audio prompt's audio comes first);
- on CUDA the one-token step is captured once in a CUDA graph and replayed (unmeasured: see
  docs/performance.md).

With greedy decoding in fp32 it produces exactly the codes transformers' ``generate`` produces
(tests/test_fast_decoder.py). Sampling follows transformers' order (guidance, temperature,
top-k, top-p) on the global torch generator: a seed gives the same audio run after run.

Streaming: ``preview`` (optional) receives the audio of newly finished frames (all delayed
codebooks complete) while decoding goes on, decoded by EnCodec in chunks.
"""

from __future__ import annotations

import logging
from typing import Callable

from .conditioning import encode_conditioning
from . import delay_pattern
from .codec import codes_to_audio
from .delay_pattern import all_frames, build_pattern
from .loading import LoadedModel
from .runner import DecoderRunner
from .sampling import choose_tokens, guided_logits
from .steps import step_for
from .weights import linear_for, weights_of

log = logging.getLogger("bridge.engine")

#: New frames between two preview chunks (50 frames = 1 s of audio).
PREVIEW_EVERY_FRAMES = 50
#: Frames decoded before each preview chunk and thrown away, so EnCodec's LSTM and convolutions
#: start each chunk warmed up (a preview chunk is close to, not exactly, the final audio).
PREVIEW_CONTEXT_FRAMES = 25

PreviewChunk = Callable[["object"], None]  # np.ndarray (batch, channels, samples)


def prepare(loaded: LoadedModel) -> None:
    """The one-time work before the first request: gather the weight views and, for bf16 on the
    CPU, build (first run on a machine: a few seconds) or load the C kernels."""
    linear_for(weights_of(loaded.model))


def start_decoding(loaded: LoadedModel, inputs: dict, max_new_tokens: int, guided: bool):
    """What a generation starts from: ``(runner, ids, pattern, pad_id)``. The runner has the
    text (and chroma) encoded and a cache long enough; ``ids (batch, codebooks, n)`` are the
    first decoder tokens (start token, then any audio prompt's codes) and ``pattern (batch,
    codebooks, n + max_new_tokens)`` transformers' delay-pattern mask."""
    batch = int(inputs["input_ids"].shape[0])
    ids, pattern, pad_id = build_pattern(loaded.model, inputs, batch, max_new_tokens)
    runner = DecoderRunner(weights_of(loaded.model), encode_conditioning(loaded, inputs, guided),
                           2 * batch if guided else batch, pattern.shape[-1])
    return runner, ids, pattern, pad_id


class _Previewer:
    """Decodes finished frames in chunks while generation goes on and hands them on."""

    def __init__(self, loaded: LoadedModel, callback: PreviewChunk, prompt_frames: int, total_frames: int,
                 every_frames: int = PREVIEW_EVERY_FRAMES, context_frames: int = PREVIEW_CONTEXT_FRAMES):
        self.loaded = loaded
        self.callback = callback
        self.prompt_frames = prompt_frames
        self.total_frames = total_frames
        self.every = max(1, int(every_frames))
        self.context = max(0, int(context_frames))
        self.sent = prompt_frames  # decoder frames already handed on (the prompt never is)
        self.delays = delay_pattern.codebook_delays(loaded.num_codebooks, loaded.channels)
        self.hop = loaded.sr // loaded.frame_rate

    def after(self, seq, filled_to: int) -> None:
        """Positions ``0..filled_to`` of ``seq (batch, codebooks, length)`` are final."""
        finished = min(delay_pattern.finished_frames(filled_to, self.delays), self.total_frames)
        if finished - self.sent >= self.every:  # the rest comes with the final audio
            self._send(seq, finished)

    def _send(self, seq, finished: int) -> None:
        begin = max(0, self.sent - self.context)
        audio = codes_to_audio(self.loaded, delay_pattern.frames_between(seq, self.delays, begin, finished))
        skip = (self.sent - begin) * self.hop
        chunk = audio[:, :, skip:(finished - begin) * self.hop]
        self.sent = finished
        self.callback(chunk.float().cpu().numpy())


def fast_decode(loaded: LoadedModel, inputs: dict, max_new_tokens: int, sampling, on_step: Callable[[int], None],
                preview: PreviewChunk | None = None):
    """The fast decoder: same contract as ``transformers_decode``; returns audio
    ``(batch, channels, samples)`` including an audio prompt's audio first.

    ``preview`` (optional) receives, in order, numpy chunks ``(batch, channels, samples)`` of the
    newly generated audio (the prompt excluded) roughly every :data:`PREVIEW_EVERY_FRAMES` frames.
    """
    import torch

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    guided = sampling.cfg is not None and sampling.cfg > 1
    with torch.inference_mode():
        runner, ids, pattern, pad_id = start_decoding(loaded, inputs, max_new_tokens, guided)
        batch = ids.shape[0]
        first = ids.shape[-1]
        length = pattern.shape[-1]
        seq = pattern.clone()
        seq[:, :, :first] = ids
        prompt_frames = first - 1
        per_channel = loaded.num_codebooks // loaded.channels
        total_frames = length - per_channel  # frames in the output (prompt included)
        previewer = None if preview is None else _Previewer(loaded, preview, prompt_frames, total_frames)
        step_fn = step_for(runner)

        def rows_of(t):  # conditional rows, then the same codes for the guidance rows
            return torch.cat([t, t], dim=0) if guided else t

        logits = runner.prefill(rows_of(seq[:, :, :first]))
        steps = length - first
        for step in range(1, steps + 1):
            position = first + step - 1
            scores = guided_logits(logits, sampling.cfg, batch * loaded.num_codebooks)
            tokens = choose_tokens(scores, sampling).view(batch, loaded.num_codebooks)
            fixed = pattern[:, :, position]
            seq[:, :, position] = torch.where(fixed == -1, tokens, fixed)
            on_step(step)
            if previewer is not None:
                previewer.after(seq, position)
            if step < steps:
                logits = step_fn(rows_of(seq[:, :, position]), position)
        return codes_to_audio(loaded, all_frames(seq, pad_id))


fast_decode.supports_preview = True

