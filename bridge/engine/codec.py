"""EnCodec both ways, as transformers' ``generate`` uses it: context audio to decoder codes
(continuation prompts) and decoded codes back to audio.

Stereo models code each channel on its own; their codebooks interleave left and right
(codebooks 0, 2, 4, 6 left; 1, 3, 5, 7 right).
"""

from __future__ import annotations

import numpy as np

from .loading import LoadedModel


def audio_to_codes(lm: LoadedModel, audio: np.ndarray):
    """EnCodec codes of ``audio (batch, channels, samples)`` at the model's rate, as decoder
    input ids ``(batch * codebooks, frames)``."""
    import torch

    wav = torch.from_numpy(np.ascontiguousarray(audio)).to(lm.device, lm.dtype)
    enc = lm.model.audio_encoder
    with torch.inference_mode():
        if lm.channels == 1:
            codes = enc.encode(wav[:, :1], return_dict=True).audio_codes[0]  # (batch, K, frames)
        else:
            left = enc.encode(wav[:, :1], return_dict=True).audio_codes[0]
            right = enc.encode(wav[:, 1:2], return_dict=True).audio_codes[0]
            codes = left.new_empty((left.shape[0], left.shape[1] * 2, left.shape[2]))
            codes[:, ::2] = left
            codes[:, 1::2] = right
    return codes.reshape(codes.shape[0] * codes.shape[1], codes.shape[2])


def codes_to_audio(lm: LoadedModel, codes):
    """EnCodec-decode codes ``(batch, codebooks, frames)`` to audio ``(batch, channels, samples)``."""
    import torch

    enc = lm.model.audio_encoder
    codes = codes[None]
    scales = [None] * codes.shape[1]
    if lm.channels == 1:
        return enc.decode(codes, audio_scales=scales).audio_values
    left = enc.decode(codes[:, :, ::2], audio_scales=scales).audio_values
    right = enc.decode(codes[:, :, 1::2], audio_scales=scales).audio_values
    return torch.cat([left, right], dim=1)
