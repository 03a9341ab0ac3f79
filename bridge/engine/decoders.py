"""The decoders an :class:`~.generation.Engine` runs, by name (``--decoder``), in one table.

A decoder turns one window's model inputs into audio::

    decode(lm, inputs, max_new_tokens, sampling, on_step[, preview]) -> audio (batch, channels, samples)

``inputs`` holds ``input_ids``/``attention_mask`` ``(batch, text_len)``, for melody models
``input_features`` ``(batch, chroma_frames, 12)``, for continuations ``decoder_input_ids``
``(batch * codebooks, prompt_frames)`` (the prompt's audio comes first in the output);
``on_step(step)`` is called once per decoding step (an exception raised there stops the
decoder); ``preview`` only where the decoder has ``supports_preview``.

- ``fast`` (:mod:`.fast_decoder`): the project's own loop, the default.
- ``transformers`` (:func:`transformers_decode`): transformers' ``generate``, the reference.
"""

from __future__ import annotations

from typing import Callable

from .fast_decoder import fast_decode
from .loading import LoadedModel


class _StepHook:
    """A StoppingCriteria that reports each decoding step and never stops generation."""

    def __init__(self, on_step: Callable[[int], None]):
        self.on_step = on_step
        self.steps = 0

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        self.steps += 1
        self.on_step(self.steps)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def transformers_decode(lm: LoadedModel, inputs: dict, max_new_tokens: int, sampling,
                        on_step: Callable[[int], None]):
    """The reference decoder: transformers' ``generate``. Returns audio ``(batch, channels, samples)``.

    Per-step progress and cancellation use a ``StoppingCriteria`` that never stops (transformers
    5.x's ``streamer=`` receives only the first put for MusicGen).
    """
    from transformers import StoppingCriteriaList

    kwargs = dict(max_new_tokens=max_new_tokens, guidance_scale=sampling.cfg if sampling.cfg > 1 else None)
    if sampling.greedy:
        kwargs.update(do_sample=False, top_k=None, top_p=None, temperature=None)
    else:
        kwargs.update(do_sample=True, top_k=int(sampling.top_k) if sampling.top_k > 0 else 0,
                      top_p=float(sampling.top_p) if 0 < sampling.top_p < 1 else 1.0,
                      temperature=float(sampling.temperature))
    return lm.model.generate(**inputs, stopping_criteria=StoppingCriteriaList([_StepHook(on_step)]),
                             **kwargs)


DECODERS: dict[str, Callable] = {"transformers": transformers_decode, "fast": fast_decode}
