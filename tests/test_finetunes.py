"""Audiocraft-format fine-tunes: key mapping, conversion, the cache, `convert`, one-line errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from bridge.engine import Conditioning, Sampling, build_engine
from bridge.engine.audiocraft import (MARKER, ConversionError, find_checkpoint, lm_to_transformers,
                                      transformers_to_lm)
from bridge.engine.loading import ModelLoadError, load_model
from tests.conftest import CLI, ROOT
from tests.finetune_helpers import make_audiocraft_checkpoint


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGEN_BRIDGE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def finetune(tiny_model, tmp_path_factory):
    return make_audiocraft_checkpoint(tiny_model, tmp_path_factory.mktemp("ft") / "my fine-tüne")


def _decoder_state(model_dir):
    from transformers import MusicgenMelodyForConditionalGeneration

    model = MusicgenMelodyForConditionalGeneration.from_pretrained(str(model_dir))
    return {k: v for k, v in model.state_dict().items()
            if not k.startswith(("text_encoder.", "audio_encoder.")) and "embed_positions" not in k}


def test_mapping_round_trip_melody(tiny_melody_model):
    state = _decoder_state(tiny_melody_model)
    lm = transformers_to_lm(state)
    assert any(k.endswith("self_attn.in_proj_weight") for k in lm)
    assert "condition_provider.conditioners.self_wav.output_proj.weight" in lm
    back = lm_to_transformers(lm)
    assert set(back) == set(state)
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_unknown_weights_are_named():
    with pytest.raises(ConversionError, match="unknown weights lora.A"):
        lm_to_transformers({"transformer.layers.0.linear1.weight": torch.zeros(2, 2), "lora.A": torch.zeros(1)})


def test_detection(finetune, tiny_model):
    assert find_checkpoint(str(finetune)) == (finetune / "state_dict.bin").resolve()
    assert find_checkpoint(str(finetune / "state_dict.bin")) is not None
    assert find_checkpoint(str(tiny_model)) is None
    assert find_checkpoint("small") is None


def test_finetune_loads_and_gives_the_same_audio(finetune, tiny_model, tmp_path):
    ref = build_engine(str(tiny_model), device="cpu", dtype="fp32")
    ft = build_engine(str(finetune), device="cpu", dtype="fp32")
    assert ft.loaded.origin == str((finetune / "state_dict.bin").resolve())
    assert ft.loaded.is_named(str(finetune)) and not ft.loaded.is_named(str(tiny_model))
    cond = Conditioning(prompt="dusty boom bap drums")
    a = ref.generate(cond, 1.0, Sampling(), seed=7)
    b = ft.generate(cond, 1.0, Sampling(), seed=7)
    assert np.array_equal(a.audio, b.audio)
    # converted once, then from the cache (keyed by the checkpoint's hash)
    converted = ft.loaded.source
    assert (tmp_path / "cache") in Path(converted).parents
    stamp = (Path(converted) / MARKER).stat().st_mtime_ns
    again = load_model(str(finetune / "state_dict.bin"), device="cpu", dtype="fp32")
    assert again.source == converted
    assert (Path(converted) / MARKER).stat().st_mtime_ns == stamp


def test_truncated_checkpoint_is_one_line_error(finetune, tmp_path):
    bad = tmp_path / "half"
    bad.mkdir()
    data = (finetune / "state_dict.bin").read_bytes()
    (bad / "state_dict.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError) as err:
        load_model(str(bad), device="cpu")
    msg = str(err.value)
    assert "\n" not in msg and "truncated" in msg and "state_dict.bin" in msg
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").glob("*/config.json"))


def test_foreign_checkpoints_are_one_line_errors(tmp_path, tiny_model):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    torch.save({"model": {"w": torch.zeros(3)}}, foreign / "state_dict.bin")
    with pytest.raises(ModelLoadError, match="no 'best_state'") as err:
        load_model(str(foreign), device="cpu")
    assert "\n" not in str(err.value)
    noise = tmp_path / "noise.bin"
    noise.write_bytes(b"\x00not torch at all" * 100)
    with pytest.raises(ModelLoadError, match="not a PyTorch checkpoint"):
        load_model(str(noise), device="cpu")
    # the right format, the wrong size for the base it names
    lm = transformers_to_lm(_decoder_state_plain(tiny_model))
    lm["transformer.layers.0.linear1.weight"] = torch.zeros(5, 5)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    torch.save({"best_state": lm, "xp.cfg": f"continue_from: //pretrained/{tiny_model}\n"}, wrong / "state_dict.bin")
    with pytest.raises(ModelLoadError, match="does not fit base model .*fc1.weight has shape"):
        load_model(str(wrong), device="cpu")


def _decoder_state_plain(model_dir):
    from transformers import MusicgenForConditionalGeneration

    return MusicgenForConditionalGeneration.from_pretrained(str(model_dir)).state_dict()


def test_convert_command(finetune, tmp_path):
    dst = tmp_path / "out model"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*CLI, "convert", str(finetune), str(dst)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert (dst / "config.json").is_file() and (dst / "model.safetensors").is_file()
    assert (dst / "tokenizer.json").is_file() and (dst / MARKER).is_file()
    again = subprocess.run([*CLI, "convert", str(finetune), str(dst)], capture_output=True, text=True, env=env)
    assert again.returncode != 0 and "not empty" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    missing = subprocess.run([*CLI, "convert", str(tmp_path / "nothing"), str(tmp_path / "x")],
                             capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
