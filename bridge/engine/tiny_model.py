"""Build a tiny random-weight MusicGen in the Hugging Face hub layout, for offline use and tests.

The result loads exactly like ``facebook/musicgen-*`` (config, safetensors weights, tokenizer,
feature-extractor and processor config), so the whole real code path (load -> generate -> write)
runs with no network. The weights are random: the audio is noise-like, but it depends on the
prompt, the melody and the seed exactly as a real model's would.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# A small vocabulary is enough: every word outside it maps to <unk>, but distinct prompts made
# of these words give distinct token sequences (and therefore distinct audio).
_WORDS = (
    "the a and of with in on for drums drum beat bass guitar piano synth pad lead chords chord "
    "melody vocal vocals strings brass horn sax flute organ rhodes keys kick snare hat hats hihat "
    "cymbal percussion groove loop house techno trance ambient lofi hip hop boom bap jazz funk "
    "soul rock metal pop disco dub reggae trap drill dnb jungle breakbeat break breaks garage "
    "dusty warm bright dark punchy soft hard heavy light deep fat thin clean dirty distorted "
    "slow fast mid tempo bpm minor major key c d e f g b sharp flat happy sad epic calm "
    "cinematic orchestral electronic acoustic analog vintage modern retro upbeat chill dreamy "
    "rhythm rhythmic arpeggio arp riff solo intro outro verse chorus bridge drop build "
    "noise texture field recording rain wind sea birds 80s 90s 70s 60s one two three four"
).split()


def _build_tokenizer(out_dir: Path) -> None:
    """Write a T5-style (Unigram, SentencePiece-like) tokenizer built from ``_WORDS``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    specials = ["<pad>", "</s>", "<unk>"]
    pieces = [(tok, 0.0) for tok in specials]
    pieces += [("\u2581" + w, -float(i % 7 + 1)) for i, w in enumerate(_WORDS)]
    pieces += [(ch, -10.0) for ch in "abcdefghijklmnopqrstuvwxyz0123456789"]
    pieces += [("\u2581", -5.0)]
    tok = Tokenizer(models.Unigram(pieces, unk_id=2, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    from tokenizers.processors import TemplateProcessing

    tok.post_processor = TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                            special_tokens=[("</s>", 1)])
    tok.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "T5Tokenizer",
        "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
        "model_max_length": 512, "extra_ids": 0,
    }, indent=2))
    (out_dir / "special_tokens_map.json").write_text(json.dumps(
        {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}, indent=2))


def _init_codebooks(codec, codebook_size: int) -> None:
    """Fill EnCodec's codebooks (zeros at init) from the encoder's own output, as k-means init does.

    Frames of the random encoder's output on varied signals become the first codebook, their
    residuals the next, and so on: different audio then gets different codes, and different codes
    decode to different audio.
    """
    import torch

    sr = 32000
    t = torch.arange(sr * 2) / sr
    signals = [0.3 * torch.randn(sr * 2)]
    for f in (55, 110, 220, 330, 440, 660, 880, 1760, 3520):
        signals.append(0.5 * torch.sin(2 * torch.pi * f * t) * (0.5 + 0.5 * torch.sin(2 * torch.pi * 2 * t)))
    wav = torch.stack(signals)[:, None]  # (n, 1, samples)
    frames = codec.encoder(wav).transpose(1, 2).reshape(-1, codec.config.codebook_dim)
    residual = frames
    for layer in codec.quantizer.layers:
        pick = torch.randperm(residual.shape[0])[:codebook_size]
        embed = residual[pick].clone()
        if embed.shape[0] < codebook_size:
            embed = torch.cat([embed, embed[torch.randint(0, embed.shape[0], (codebook_size - embed.shape[0],))]])
        layer.codebook.embed.copy_(embed)
        if hasattr(layer.codebook, "embed_avg"):
            layer.codebook.embed_avg.copy_(embed)
        if hasattr(layer.codebook, "inited"):
            layer.codebook.inited.fill_(True)
        codes = torch.cdist(residual, embed).argmin(dim=1)
        residual = residual - embed[codes]


def init_random_weights(model, codebook_size: int) -> None:
    """Give a freshly built MusicGen weights that make it behave like a trained one, statistically.

    transformers' init (std 0.02) makes a narrow random decoder ignore its conditioning, and
    EnCodec's codebooks start as zeros (every code decodes alike): use fan-in scaled decoder
    weights, output heads scaled for peaked distributions (so top-k and greedy decoding matter),
    and codebooks filled from the encoder's own output. Text, melody and audio prompts then all
    measurably steer the output.
    """
    import torch

    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and (name.startswith("decoder.") or "to_dec_proj" in name):
                module.weight.normal_(0.0, 1.0 / module.in_features ** 0.5)
        for head in model.decoder.lm_heads:
            head.weight.mul_(3.0)
        _init_codebooks(model.audio_encoder, codebook_size)


def make_test_model(out_dir: str | os.PathLike, *, melody: bool = False, stereo: bool = False,
                    hidden_size: int = 32, num_layers: int = 2, codebook_size: int = 64,
                    seed: int = 0) -> Path:
    """Write a tiny random MusicGen (or MusicGen-Melody) to ``out_dir`` and return its path.

    The audio side is a real EnCodec at 32 kHz with hop 640 (50 frames per second) and 4
    codebooks (8 for stereo: interleaved left/right), like the released checkpoints, only narrow.
    """
    import torch
    from transformers import EncodecConfig, GenerationConfig, T5Config

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    _build_tokenizer(out)
    from tokenizers import Tokenizer

    vocab_size = Tokenizer.from_file(str(out / "tokenizer.json")).get_vocab_size()

    text_cfg = T5Config(vocab_size=vocab_size, d_model=hidden_size, d_kv=8, d_ff=hidden_size * 2,
                        num_layers=1, num_heads=2, relative_attention_num_buckets=8,
                        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    audio_cfg = EncodecConfig(
        sampling_rate=32000, audio_channels=1, target_bandwidths=[4 * 50 * (codebook_size.bit_length() - 1) / 1000], num_filters=4,
        hidden_size=16, upsampling_ratios=[8, 5, 4, 4], codebook_size=codebook_size,
        codebook_dim=16, num_lstm_layers=1, num_residual_layers=1, use_causal_conv=False,
        normalize=False, chunk_length_s=None, overlap=None,
    )
    num_codebooks = 8 if stereo else 4
    decoder_kwargs = dict(
        vocab_size=codebook_size, max_position_embeddings=2048, num_hidden_layers=num_layers,
        ffn_dim=hidden_size * 2, num_attention_heads=2, hidden_size=hidden_size,
        num_codebooks=num_codebooks, audio_channels=2 if stereo else 1,
        pad_token_id=codebook_size, bos_token_id=codebook_size, dropout=0.0,
    )
    if melody:
        from transformers import (MusicgenMelodyConfig, MusicgenMelodyDecoderConfig,
                                  MusicgenMelodyForConditionalGeneration)

        dec_cfg = MusicgenMelodyDecoderConfig(**decoder_kwargs)
        config = MusicgenMelodyConfig(text_encoder=text_cfg.to_dict(), audio_encoder=audio_cfg.to_dict(),
                                   decoder=dec_cfg.to_dict(), num_chroma=12, chroma_length=235)
        model = MusicgenMelodyForConditionalGeneration(config)
    else:
        from transformers import (MusicgenConfig, MusicgenDecoderConfig,
                                  MusicgenForConditionalGeneration)

        dec_cfg = MusicgenDecoderConfig(**decoder_kwargs)
        config = MusicgenConfig(text_encoder=text_cfg.to_dict(), audio_encoder=audio_cfg.to_dict(),
                             decoder=dec_cfg.to_dict())
        model = MusicgenForConditionalGeneration(config)
    init_random_weights(model, codebook_size)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=codebook_size, pad_token_id=codebook_size, bos_token_id=codebook_size,
        do_sample=True, guidance_scale=3.0, max_length=1500, top_k=250,
    )
    model.config.decoder.pad_token_id = codebook_size
    model.config.decoder.bos_token_id = codebook_size
    model.save_pretrained(out)
    fe = {
        "feature_extractor_type": "MusicgenMelodyFeatureExtractor" if melody else "EncodecFeatureExtractor",
        "sampling_rate": 32000, "feature_size": 2 if stereo else 1, "padding_side": "left",
        "padding_value": 0.0, "return_attention_mask": True,
    }
    if melody:
        fe.update({"hop_length": 4096, "n_fft": 16384, "num_chroma": 12, "chunk_length": 30})
    (out / "preprocessor_config.json").write_text(json.dumps(fe, indent=2))
    (out / "processor_config.json").write_text(json.dumps(
        {"processor_class": "MusicgenMelodyProcessor" if melody else "MusicgenProcessor"}, indent=2))
    (out / "MUSICGEN_BRIDGE_TEST_MODEL").write_text(
        "Random weights, built by `musicgen-bridge make-test-model`. Not for music.\n")
    return out
