"""The MusicGen engine: model specs and loading, generation modes, decoders.

It knows nothing of OSC, MIDI, files or DAWs: conditioning in, audio arrays out.
"""

from __future__ import annotations

import logging

from .decoders import DECODERS
from .generation import Cancelled, Conditioning, Engine, GenerationOutput, Sampling
from .loading import LoadedModel, ModelLoadError, load_model
from .specs import SHORT_NAMES, default_model_spec

log = logging.getLogger("bridge.engine")


def place_codec(lm: LoadedModel, decoder: str) -> None:
    """EnCodec to the CPU in fp32 where the device cannot be trusted with it (:mod:`.codec`).
    transformers' ``generate`` decodes on the model's own device, so with that decoder it stays."""
    from .codec import codec_on_cpu

    if not codec_on_cpu(lm.device):
        return
    if decoder == "transformers":
        log.warning("EnCodec stays on %s with --decoder transformers (its generate decodes there); "
                    "the fast decoder runs it on the CPU, where its audio is right", lm.device)
        return
    import torch

    lm.model.audio_encoder.to("cpu", torch.float32)


def build_engine(model: str | None = None, *, device: str = "auto", dtype: str = "auto",
                 decoder: str = "auto", cpu_int8: bool = False) -> Engine:
    """Load ``model`` (default: ``$MUSICGEN_BRIDGE_MODEL`` or ``small``) and wrap it in an Engine.

    ``decoder="auto"`` picks the project's fast decoder (``DECODERS`` in :mod:`.decoders` lists
    the decoders by name). ``cpu_int8``: the C step reads int8 copies of the decoder's weights
    (opt-in; ``MUSICGEN_BRIDGE_INT8`` overrides; where it cannot run, a warning says why and the
    engine runs without it: :mod:`.int8_switch`).
    """
    lm = load_model(model or default_model_spec(), device=device, dtype=dtype)
    if decoder == "auto":
        decoder = "fast"
    fit_model(lm, dtype, decoder)
    engine = Engine(lm, decoder=decoder)
    _set_cpu_int8(engine, cpu_int8)
    if decoder == "fast":
        from .fast_decoder import prepare

        prepare(lm, engine.cpu_int8)  # the C kernels' first build happens here, not in the first request
    return engine


def fit_model(lm: LoadedModel, dtype: str, decoder: str) -> None:
    """Fit a model just loaded with ``dtype`` (as asked: ``auto``...) to ``decoder``, at start and
    after a switch (:mod:`bridge.switching`): on a CPU whose C step computes in fp32 from bf16
    weights (:func:`.cpu_kernels.decoder_only_bf16`), the decoder alone cast to bf16 (text
    encoder and EnCodec stay fp32); EnCodec placed as :func:`place_codec` says."""
    if lm.device == "cpu":
        import torch

        from .cpu_kernels import decoder_only_bf16, isa

        if decoder_only_bf16(lm.device, dtype, decoder, lm.dtype == torch.float32, isa()):
            lm.model.decoder.to(torch.bfloat16)  # the C step's bf16 weights; encoder and EnCodec fp32
    place_codec(lm, decoder)


def _set_cpu_int8(engine: Engine, asked: bool) -> None:
    """Turn the int8 C step on where it runs (its kernel built and the weights' int8 copies made
    now, not in the first request); where it does not, log why in one line."""
    import os

    import torch

    from . import cpu_kernels, cpu_step, int8_switch

    wanted, note = int8_switch.resolve(asked, os.environ.get(int8_switch.ENV))
    if note:
        log.warning("%s", note)
    lm = engine.loaded
    weights = next(lm.model.decoder.parameters()).dtype
    names = {torch.bfloat16: "bf16", torch.float32: "fp32", torch.float16: "fp16"}
    kernels_off = "0" in (os.environ.get(cpu_kernels.ENV, "1"), os.environ.get(cpu_step.ENV, "1"))
    on_cpu = lm.device == "cpu"

    def int8_step():
        found = cpu_kernels.step_kernel(int8=True)
        return found[2] if found is not None else None

    step_isa, note = int8_switch.plan(wanted, device=lm.device, decoder=engine.decoder,
                                      isa=cpu_kernels.isa() if on_cpu else None, kernels_off=kernels_off,
                                      weights_dtype=names.get(weights, str(weights)), int8_step=int8_step)
    if note:
        log.warning("%s", note)
    engine.cpu_int8 = step_isa is not None
    engine.cpu_int8_isa = step_isa  # (the int8 copies are made by fast_decoder.prepare, at load)


__all__ = ["build_engine", "fit_model", "Engine", "Conditioning", "Sampling", "GenerationOutput", "Cancelled",
           "LoadedModel", "ModelLoadError", "load_model", "SHORT_NAMES", "default_model_spec", "DECODERS"]
