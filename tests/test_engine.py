"""The engine on tiny random-weight models: modes, conditioning, determinism, hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bridge.engine import Cancelled, Conditioning, Sampling, build_engine
from bridge.engine.loading import ModelLoadError, load_model
from bridge.melody import Note, chroma_from_notes


def test_text_generation_length_and_rate(engine):
    out = engine.generate(Conditioning(prompt="dusty drums"), 2.5, Sampling(), seed=3)
    assert out.sr == 32000
    assert out.audio.shape == (1, 1, 80000)
    assert np.all(np.isfinite(out.audio)) and np.abs(out.audio).max() > 0


def test_same_seed_is_bit_identical_and_variations_differ(engine):
    a = engine.generate(Conditioning(prompt="warm piano"), 1.0, Sampling(), seed=11, variations=3)
    b = engine.generate(Conditioning(prompt="warm piano"), 1.0, Sampling(), seed=11, variations=3)
    assert np.array_equal(a.audio, b.audio)
    assert a.audio.shape[0] == 3
    assert not np.array_equal(a.audio[0], a.audio[1]) and not np.array_equal(a.audio[1], a.audio[2])
    c = engine.generate(Conditioning(prompt="warm piano"), 1.0, Sampling(), seed=12, variations=1)
    assert not np.array_equal(a.audio[0], c.audio[0])


def test_prompt_reaches_the_model(engine):
    a = engine.generate(Conditioning(prompt="dusty boom bap drums"), 1.0, Sampling(), seed=5)
    b = engine.generate(Conditioning(prompt="bright trance lead synth"), 1.0, Sampling(), seed=5)
    assert not np.array_equal(a.audio, b.audio)


def test_prompt_changes_decoder_logits(engine):
    lm = engine.loaded
    logits = []
    for text in ("dusty drums", "ambient pad"):
        tok = lm.tokenizer([text], return_tensors="pt")
        dec = torch.full((lm.num_codebooks, 1), lm.model.generation_config.decoder_start_token_id)
        with torch.no_grad():
            logits.append(lm.model(**tok, decoder_input_ids=dec).logits)
    assert not torch.allclose(logits[0], logits[1])


def test_melody_conditioning_changes_logits_and_audio(melody_engine):
    lm = melody_engine.loaded
    c_major = chroma_from_notes([Note(60, 0, 1), Note(64, 1, 1), Note(67, 2, 1)])
    f_sharp = chroma_from_notes([Note(66, 0, 1), Note(61, 1, 1), Note(70, 2, 1)])
    logits = []
    for chroma in (c_major, f_sharp):
        tok = lm.tokenizer(["jazz piano"], return_tensors="pt")
        dec = torch.full((lm.num_codebooks, 1), lm.model.generation_config.decoder_start_token_id)
        with torch.no_grad():
            logits.append(lm.model(**tok, input_features=torch.from_numpy(chroma[None]).to(lm.dtype),
                                   decoder_input_ids=dec).logits)
    assert not torch.allclose(logits[0], logits[1])
    a = melody_engine.generate(Conditioning(prompt="jazz piano", chroma=c_major), 1.0, Sampling(), seed=2)
    b = melody_engine.generate(Conditioning(prompt="jazz piano", chroma=f_sharp), 1.0, Sampling(), seed=2)
    assert not np.array_equal(a.audio, b.audio)
    # and the text still matters for the melody model
    c = melody_engine.generate(Conditioning(prompt="metal guitar", chroma=c_major), 1.0, Sampling(), seed=2)
    assert not np.array_equal(a.audio, c.audio)


def test_melody_on_plain_model_is_refused(engine):
    chroma = chroma_from_notes([Note(60, 0, 1)])
    with pytest.raises(ValueError, match="takes no melody"):
        engine.generate(Conditioning(prompt="x", chroma=chroma), 1.0, Sampling(), seed=1)


def test_continuation_returns_only_new_audio(engine):
    prompt = engine.generate(Conditioning(prompt="drums"), 2.0, Sampling(), seed=1).audio[0]
    out = engine.generate(Conditioning(prompt="drums", prompt_audio=prompt), 1.5, Sampling(), seed=1)
    assert out.audio.shape == (1, 1, 48000)
    assert out.prompt_samples == 64000
    other = engine.generate(Conditioning(prompt="drums", prompt_audio=prompt[:, ::-1].copy()), 1.5,
                            Sampling(), seed=1)
    assert not np.array_equal(out.audio, other.audio), "the audio prompt must condition the output"


def test_beyond_30_seconds_uses_windows(engine):
    out = engine.generate(Conditioning(prompt="long ambient"), 32.0, Sampling(top_k=50), seed=1)
    assert out.windows == 2
    assert out.audio.shape[2] == 32 * 32000


def test_stereo_model(tiny_stereo_model):
    eng = build_engine(str(tiny_stereo_model), device="cpu", decoder="transformers")
    out = eng.generate(Conditioning(prompt="stereo pad"), 1.0, Sampling(), seed=1)
    assert out.audio.shape == (1, 2, 32000)
    cont = eng.generate(Conditioning(prompt="x", prompt_audio=out.audio[0]), 0.5, Sampling(), seed=1)
    assert cont.audio.shape == (1, 2, 16000)


def test_progress_hook_and_cancel_within_one_step(engine):
    seen = []
    engine.generate(Conditioning(prompt="x"), 1.0, Sampling(), seed=1, hook=seen.append)
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) > 10

    steps = []

    def hook(fraction):
        steps.append(fraction)
        if len(steps) == 5:
            raise Cancelled()

    with pytest.raises(Cancelled):
        engine.generate(Conditioning(prompt="x"), 5.0, Sampling(), seed=1, hook=hook)
    assert len(steps) == 5


def test_bad_model_specs_give_one_line_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="unknown model 'nonsense'"):
        load_model("nonsense")
    with pytest.raises(ModelLoadError, match="make-test-model"):
        load_model(str(tmp_path / "missing-folder"))
    (tmp_path / "notmodel").mkdir()
    (tmp_path / "notmodel" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelLoadError):
        load_model(str(tmp_path / "notmodel"))
    with pytest.raises(ModelLoadError) as info:
        load_model("facebook/musicgen-small")  # HF_HUB_OFFLINE is set by conftest
    assert "\n" not in str(info.value)
