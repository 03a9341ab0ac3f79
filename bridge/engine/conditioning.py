"""What the decoder attends to, encoded once per generation: the text (and, for melody models,
the chroma) of a request, as transformers' ``generate`` encodes them.

:class:`~.generation.Conditioning` is what a request asks for (a prompt, a chroma, prompt
audio); :class:`EncodedConditioning` is its text and chroma run through the text encoder and
the projections, ready for the decoder: cross-attention states (MusicGen) or a prefix of
decoder positions (MusicGen-Melody). Conditional rows come first, then, with classifier-free
guidance, as many rows conditioned on nothing (zeroed text, the null chroma).
"""

from __future__ import annotations

from .loading import LoadedModel


class EncodedConditioning:
    """What the decoder attends to: cross-attention states (MusicGen) or a prefix (Melody)."""

    def __init__(self, cross_states=None, cross_mask=None, prefix=None):
        self.cross_states = cross_states   # (rows, text_len, hidden), already masked
        self.cross_mask = cross_mask       # (rows, 1, 1, text_len) bool, True = attend
        self.prefix = prefix               # (rows, prefix_len, hidden) prepended to the decoder input

    @property
    def prefix_len(self) -> int:
        return 0 if self.prefix is None else int(self.prefix.shape[1])


def encode_conditioning(lm: LoadedModel, inputs: dict, guided: bool) -> EncodedConditioning:
    """Encode text (and chroma) once, as transformers' ``generate`` does."""
    import math

    import torch

    model = lm.model
    ids, mask = inputs["input_ids"], inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(ids)
    text = model.text_encoder(input_ids=ids, attention_mask=mask, return_dict=True).last_hidden_state
    dec_config = model.decoder.config
    if not lm.is_melody:
        if guided:
            text = torch.concatenate([text, torch.zeros_like(text)], dim=0)
            mask = torch.concatenate([mask, torch.zeros_like(mask)], dim=0)
        if model.text_encoder.config.hidden_size != dec_config.hidden_size and \
                getattr(dec_config, "cross_attention_hidden_size", None) is None:
            text = model.enc_to_dec_proj(text)
        text = text * mask[..., None]
        return EncodedConditioning(cross_states=text, cross_mask=mask.bool()[:, None, None, :])

    # Melody: [projected chroma (chroma_length frames), projected text] is a decoder prefix.
    if model.text_encoder.config.hidden_size != dec_config.hidden_size:
        text = model.enc_to_dec_proj(text)
    if guided:
        text = torch.concatenate([text, torch.zeros_like(text)], dim=0)
        mask = torch.concatenate([mask, torch.zeros_like(mask)], dim=0)
    text = text * mask[..., None]
    chroma = inputs.get("input_features")
    if chroma is not None:
        chroma = chroma.to(device=text.device, dtype=model.dtype)
        null = torch.zeros_like(chroma)
    else:
        null = torch.zeros((ids.shape[0], 1, model.config.num_chroma), device=model.device, dtype=model.dtype)
    null[:, :, 0] = 1
    if chroma is None:
        chroma = null
    if guided:
        chroma = torch.concatenate([chroma, null], dim=0)
    if model.config.num_chroma != dec_config.hidden_size:
        chroma = model.audio_enc_to_dec_proj(chroma)
    length = int(model.config.chroma_length)
    if chroma.shape[1] < length:
        chroma = chroma.repeat(1, int(math.ceil(length / chroma.shape[1])), 1)
    chroma = chroma[:, :length]
    return EncodedConditioning(prefix=torch.cat([chroma, text], dim=1))
