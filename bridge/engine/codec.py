"""EnCodec both ways, as transformers' ``generate`` uses it: context audio to decoder codes
(continuation prompts) and decoded codes back to audio.

Stereo models code each channel on its own; their codebooks interleave left and right
(codebooks 0, 2, 4, 6 left; 1, 3, 5, 7 right).

EnCodec may live on another device than the decoder: on Apple's MPS it runs on the CPU in fp32
(:func:`codec_on_cpu`), because EnCodec on MPS garbles audio (audiocraft#31) and MPS convolutions
with more than 65536 outputs fail before macOS 15 (pytorch#144445). Codes and audio move between
the two here.

Decoding a whole clip takes seconds on a CPU. :func:`codes_to_audio` with ``keep_going`` runs it
on a helper thread and calls ``keep_going()`` every :data:`POLL_S` meanwhile, so a cancel or a
shutdown (raised there) is answered at once; the abandoned decode finishes in the background.
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from .loading import LoadedModel

#: How often a waiting :func:`codes_to_audio` calls ``keep_going``.
POLL_S = 0.05
#: Devices where EnCodec runs on the CPU instead.
CODEC_ON_CPU = ("mps",)


def codec_on_cpu(device: str) -> bool:
    """Whether EnCodec runs on the CPU (fp32) for a model on ``device``."""
    return device in CODEC_ON_CPU


def audio_to_codes(lm: LoadedModel, audio: np.ndarray):
    """EnCodec codes of ``audio (batch, channels, samples)`` at the model's rate, as decoder
    input ids ``(batch * codebooks, frames)`` on the decoder's device."""
    import torch

    enc = lm.model.audio_encoder
    param = next(enc.parameters())
    wav = torch.from_numpy(np.ascontiguousarray(audio)).to(param.device, param.dtype)
    with torch.inference_mode():
        if lm.channels == 1:
            codes = enc.encode(wav[:, :1], return_dict=True).audio_codes[0]  # (batch, K, frames)
        else:
            left = enc.encode(wav[:, :1], return_dict=True).audio_codes[0]
            right = enc.encode(wav[:, 1:2], return_dict=True).audio_codes[0]
            codes = left.new_empty((left.shape[0], left.shape[1] * 2, left.shape[2]))
            codes[:, ::2] = left
            codes[:, 1::2] = right
    return codes.reshape(codes.shape[0] * codes.shape[1], codes.shape[2]).to(lm.device)


def codes_to_audio(lm: LoadedModel, codes, keep_going: Callable[[], None] | None = None):
    """EnCodec-decode codes ``(batch, codebooks, frames)`` to audio ``(batch, channels, samples)``.

    ``keep_going()`` (optional) is called about every :data:`POLL_S` while EnCodec works; what it
    raises stops the wait (the decode's result is then dropped)."""
    if keep_going is None:
        return _decode(lm, codes)
    import torch

    box: dict = {}

    def run() -> None:
        try:
            with torch.inference_mode():
                box["audio"] = _decode(lm, codes)
        except BaseException as exc:  # handed to the waiting thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="encodec", daemon=True)
    worker.start()
    while True:
        worker.join(POLL_S)
        if not worker.is_alive():
            break
        keep_going()
    if "error" in box:
        raise box["error"]
    return box["audio"]


def _decode(lm: LoadedModel, codes):
    import torch

    enc = lm.model.audio_encoder
    codes = codes[None].to(next(enc.parameters()).device)
    scales = [None] * codes.shape[1]
    if lm.channels == 1:
        return enc.decode(codes, audio_scales=scales).audio_values
    left = enc.decode(codes[:, :, ::2], audio_scales=scales).audio_values
    right = enc.decode(codes[:, :, 1::2], audio_scales=scales).audio_values
    return torch.cat([left, right], dim=1)
