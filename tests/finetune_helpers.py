"""Audiocraft-format fine-tunes made from the offline test models (the reverse key mapping)."""

from __future__ import annotations

from pathlib import Path


def make_audiocraft_checkpoint(model_dir: Path, out_dir: Path, *, base: str | None = None,
                               compression: bool = True) -> Path:
    """Write ``out_dir/state_dict.bin`` (and ``compression_state_dict.bin``) the way audiocraft
    exports a fine-tune, holding ``model_dir``'s own decoder weights; the config names
    ``model_dir`` (or ``base``) as the checkpoint the fine-tune started from."""
    import torch
    import yaml
    from transformers import AutoConfig

    from bridge.engine.audiocraft import transformers_to_lm

    config = AutoConfig.from_pretrained(str(model_dir))
    if config.model_type == "musicgen_melody":
        from transformers import MusicgenMelodyForConditionalGeneration as cls
    else:
        from transformers import MusicgenForConditionalGeneration as cls
    model = cls.from_pretrained(str(model_dir), dtype=torch.float32)
    lm = transformers_to_lm(model.state_dict())
    dec = config.decoder
    cfg = {
        "continue_from": "//pretrained/" + str(base or model_dir),
        "compression_model_checkpoint": "//pretrained/facebook/encodec_32khz",
        "transformer_lm": {"dim": dec.hidden_size, "num_heads": dec.num_attention_heads,
                           "num_layers": dec.num_hidden_layers, "n_q": dec.num_codebooks,
                           "card": dec.vocab_size},
        "channels": dec.audio_channels,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"best_state": {k: v.clone() for k, v in lm.items()}, "xp.cfg": yaml.safe_dump(cfg),
                "version": "1.3.0", "exported": True}, out_dir / "state_dict.bin")
    if compression:
        torch.save({"pretrained": "facebook/encodec_32khz", "exported": True, "version": "1.3.0"},
                   out_dir / "compression_state_dict.bin")
    return out_dir
