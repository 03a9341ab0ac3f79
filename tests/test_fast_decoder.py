"""The fast decoder against transformers' ``generate``: same codes and audio with greedy decoding
in fp32 (tiny models and the musicgen-small decoder architecture; text, melody, continuation,
stereo), deterministic sampling, the step hook, cancellation, streaming previews, the engine."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from bridge.engine import DECODERS, Cancelled, Conditioning, Engine, Sampling, build_engine
from bridge.engine import fast_decoder
from bridge.engine.conditioning import encode_conditioning
from bridge.engine.decoders import transformers_decode
from bridge.engine.fast_decoder import fast_decode
from bridge.engine.loading import LoadedModel, load_model
from bridge.engine.runner import DecoderRunner
from bridge.engine.step_check import forced_logits as _forced_logits
from bridge.engine.steps import CudaGraphStep, StaticStep
from bridge.engine.weights import weights_of
from bridge.melody import Note, chroma_from_notes

GREEDY = Sampling(greedy=True, cfg=3.0)


def _inputs(engine: Engine, mode: str, batch: int = 2, prompt_frames: int = 20) -> dict:
    lm = engine.loaded
    if mode == "text":
        return engine._inputs(Conditioning(prompt="dusty boom bap drums with bass"), batch, None, 0, 0.0)
    if mode == "melody":
        chroma = chroma_from_notes([Note(60, 0, 1), Note(64, 1, 1), Note(67, 2, 1), Note(71, 3, 2)])
        return engine._inputs(Conditioning(prompt="jazz piano", chroma=chroma), batch, None, 0, 0.0)
    hop = lm.sr // lm.frame_rate
    rng = np.random.default_rng(7)
    history = (0.3 * rng.standard_normal((batch, lm.channels, hop * prompt_frames))).astype(np.float32)
    return engine._inputs(Conditioning(prompt="drums"), batch, history, hop * prompt_frames, 0.0)


def _same_as_transformers(lm: LoadedModel, inputs: dict, steps: int, sampling: Sampling = GREEDY) -> torch.Tensor:
    torch.manual_seed(0)
    with torch.inference_mode():
        ref = transformers_decode(lm, inputs, steps, sampling, lambda s: None)
    torch.manual_seed(0)
    with torch.inference_mode():
        out = fast_decode(lm, inputs, steps, sampling, lambda s: None)
    assert out.shape == ref.shape
    assert torch.equal(out, ref), f"max abs diff {(out - ref).abs().max().item()}"
    return out


@pytest.fixture(scope="module")
def fp32_engines(tiny_model, tiny_melody_model, tiny_stereo_model):
    return {name: Engine(load_model(str(path), device="cpu", dtype="fp32"), decoder="fast")
            for name, path in (("mono", tiny_model), ("melody", tiny_melody_model), ("stereo", tiny_stereo_model))}


@pytest.mark.parametrize("model,mode", [("mono", "text"), ("mono", "continuation"), ("melody", "text"),
                                        ("melody", "melody"), ("melody", "continuation"),
                                        ("stereo", "text"), ("stereo", "continuation")])
def test_greedy_fp32_matches_transformers_tiny(fp32_engines, model, mode):
    eng = fp32_engines[model]
    out = _same_as_transformers(eng.loaded, _inputs(eng, mode), 80)
    prompt = 20 if mode == "continuation" else 0
    per_channel = eng.loaded.num_codebooks // eng.loaded.channels
    assert out.shape == (2, eng.loaded.channels, (prompt + 80 - per_channel + 1) * 640)


def _small_arch(melody: bool, layers: int) -> Engine:
    """musicgen-small's decoder (1024 wide, 16 heads, ffn 4096, 4 codebooks of 2048) with
    ``layers`` layers, random fan-in-scaled weights, a narrow T5 and EnCodec; in memory, fp32."""
    from transformers import EncodecConfig, GenerationConfig, T5Config

    from bridge.engine.tiny_model import init_random_weights

    torch.manual_seed(1)
    text = T5Config(vocab_size=200, d_model=64, d_kv=16, d_ff=128, num_layers=1, num_heads=4,
                    relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    audio = EncodecConfig(sampling_rate=32000, audio_channels=1, num_filters=4, upsampling_ratios=[8, 5, 4, 4],
                          hidden_size=16, codebook_size=2048, codebook_dim=16, num_lstm_layers=1,
                          num_residual_layers=1, target_bandwidths=[2.2], use_causal_conv=False, normalize=False,
                          chunk_length_s=None, overlap=None)
    dec = dict(vocab_size=2048, max_position_embeddings=2048, num_hidden_layers=layers, ffn_dim=4096,
               num_attention_heads=16, hidden_size=1024, num_codebooks=4, audio_channels=1,
               pad_token_id=2048, bos_token_id=2048, dropout=0.0)
    if melody:
        from transformers import (MusicgenMelodyConfig, MusicgenMelodyDecoderConfig,
                                  MusicgenMelodyForConditionalGeneration as Model)

        cfg = MusicgenMelodyConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(),
                                   decoder=MusicgenMelodyDecoderConfig(**dec).to_dict(), num_chroma=12,
                                   chroma_length=235)
    else:
        from transformers import MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration as Model

        cfg = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(),
                             decoder=MusicgenDecoderConfig(**dec).to_dict())
    model = Model(cfg)
    init_random_weights(model, 2048)
    model.generation_config = GenerationConfig(decoder_start_token_id=2048, pad_token_id=2048, bos_token_id=2048)
    model.eval()

    class _Tokenizer:  # word ids from a fixed table: enough for tests
        def __call__(self, texts, padding=True, return_tensors="pt"):
            rows = [[2 + sum(map(ord, w)) % 190 for w in t.split()] + [1] for t in texts]
            width = max(map(len, rows))
            ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
            return {"input_ids": ids, "attention_mask": (torch.arange(width)[None] < torch.tensor(
                [len(r) for r in rows])[:, None]).long()}

    lm = LoadedModel(spec="small-arch", source="random", model=model, tokenizer=_Tokenizer(), device="cpu",
                     dtype=torch.float32, is_melody=melody, sr=32000, channels=1, frame_rate=50,
                     num_codebooks=4, max_positions=2048)
    return Engine(lm, decoder="fast")


@pytest.mark.parametrize("melody,layers,modes", [(False, 24, ("text", "continuation")),
                                                 (True, 6, ("text", "melody", "continuation"))])
def test_greedy_fp32_matches_transformers_small_architecture(melody, layers, modes):
    """The full musicgen-small decoder (24 layers) for text and continuation; the melody variant
    with 6 of its layers to keep the test short on a 2-core CPU. 53 steps = 1 s of audio."""
    eng = _small_arch(melody, layers)
    for mode in modes:
        _same_as_transformers(eng.loaded, _inputs(eng, mode, batch=1), 53)


def test_sampling_is_deterministic_and_matches_transformers(fp32_engines):
    eng = fp32_engines["mono"]
    inputs = _inputs(eng, "text")
    sampling = Sampling(top_k=50, top_p=0.9, temperature=0.8, cfg=3.0)
    out = _same_as_transformers(eng.loaded, inputs, 60, sampling)  # same draws, same order
    torch.manual_seed(0)
    again = fast_decode(eng.loaded, inputs, 60, sampling, lambda s: None)
    assert torch.equal(out, again)
    torch.manual_seed(1)
    other = fast_decode(eng.loaded, inputs, 60, sampling, lambda s: None)
    assert not torch.equal(out, other)
    torch.manual_seed(0)
    no_cfg = fast_decode(eng.loaded, inputs, 60, Sampling(top_k=250, cfg=1.0), lambda s: None)
    assert no_cfg.shape == out.shape and torch.isfinite(no_cfg).all()


def test_on_step_once_per_step_and_cancel_within_one_step(fp32_engines):
    eng = fp32_engines["mono"]
    inputs = _inputs(eng, "text", batch=1)
    seen = []
    fast_decode(eng.loaded, inputs, 40, GREEDY, seen.append)
    assert seen == list(range(1, 41))

    calls = []

    def cancel_at_5(step):
        calls.append(step)
        if step == 5:
            raise Cancelled()

    with pytest.raises(Cancelled):
        fast_decode(eng.loaded, inputs, 200, GREEDY, cancel_at_5)
    assert calls == [1, 2, 3, 4, 5]


def test_cuda_graph_step_is_exact_on_cpu(fp32_engines, monkeypatch):
    """The fixed-shape step the CUDA graph captures (whole-cache masked attention, index_copy_
    cache writes) gives the same codes as the eager step; run eagerly here, on the CPU."""
    eng = fp32_engines["melody"]
    inputs = _inputs(eng, "melody")
    monkeypatch.setattr(fast_decoder, "step_for", lambda runner: StaticStep(runner))
    _same_as_transformers(eng.loaded, inputs, 60)


def test_cuda_graph_capture_failure_falls_back_to_eager(fp32_engines, monkeypatch, caplog):
    """Should capturing the step fail (an operation CUDA graphs cannot hold), the generation
    goes on eagerly with the same codes. torch.cuda's stream and graph calls are stand-ins here
    (no GPU): the warm-up steps and the fallback run on the CPU."""
    import contextlib

    class Stream:
        def wait_stream(self, other):
            pass

    class FailingCapture:
        def __init__(self, graph):
            pass

        def __enter__(self):
            raise RuntimeError("operation not permitted when stream is capturing")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(torch.cuda, "Stream", Stream, raising=False)
    monkeypatch.setattr(torch.cuda, "current_stream", Stream, raising=False)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext(), raising=False)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", object, raising=False)
    monkeypatch.setattr(torch.cuda, "graph", FailingCapture, raising=False)
    made = []
    monkeypatch.setattr(fast_decoder, "step_for",
                        lambda runner: made.append(CudaGraphStep(runner)) or made[-1])
    eng = fp32_engines["mono"]
    with caplog.at_level("WARNING", logger="bridge.engine"):
        _same_as_transformers(eng.loaded, _inputs(eng, "text"), 40)
    assert made[0].eager and made[0].warmup == 0
    assert "CUDA graph capture failed" in caplog.text


def test_engine_fast_end_to_end_lengths(tiny_model, tiny_stereo_model):
    eng = build_engine(str(tiny_model), device="cpu", decoder="auto")
    assert eng.decoder == "fast" and "fast" in DECODERS
    out = eng.generate(Conditioning(prompt="dusty drums"), 2.5, Sampling(), seed=3)
    assert out.audio.shape == (1, 1, 80000) and np.isfinite(out.audio).all()
    cont = eng.generate(Conditioning(prompt="drums", prompt_audio=out.audio[0]), 1.5, Sampling(), seed=1)
    assert cont.audio.shape == (1, 1, 48000) and cont.prompt_samples == 80000
    long = eng.generate(Conditioning(prompt="ambient"), 31.0, Sampling(top_k=50), seed=1, variations=2)
    assert long.windows == 2 and long.audio.shape == (2, 1, 31 * 32000)
    stereo = build_engine(str(tiny_stereo_model), device="cpu")
    s = stereo.generate(Conditioning(prompt="pad"), 1.0, Sampling(), seed=1, variations=2)
    assert s.audio.shape == (2, 2, 32000)


def test_engine_fast_matches_transformers_engine(tiny_model):
    """Same seed, same sampling: the fast engine's clip equals the transformers engine's."""
    lm = load_model(str(tiny_model), device="cpu", dtype="fp32")
    a = Engine(lm, decoder="transformers").generate(Conditioning(prompt="warm piano"), 1.5, Sampling(), seed=4,
                                                    variations=2)
    b = Engine(lm, decoder="fast").generate(Conditioning(prompt="warm piano"), 1.5, Sampling(), seed=4,
                                            variations=2)
    assert np.array_equal(a.audio, b.audio)


def test_preview_streams_audio_before_the_end(tiny_model):
    eng = build_engine(str(tiny_model), device="cpu", dtype="fp32")
    progress = []
    previews = []

    def on_preview(audio):
        previews.append((progress[-1] if progress else 0.0, audio.copy()))

    out = eng.generate(Conditioning(prompt="x"), 3.5, Sampling(), seed=2, variations=2,
                       hook=progress.append, preview=on_preview)
    assert len(previews) == 3  # after 1, 2 and 3 s of finished frames; the rest is the final clip
    assert previews[0][0] < 0.35, "the first preview must come while generating"
    for i, (_, audio) in enumerate(previews):
        assert audio.dtype == np.float32 and audio.shape == (2, 1, (i + 1) * 32000)
        assert np.isfinite(audio).all()
    # chunks overlap their predecessors by decoded context: the preview tracks the final audio
    final = out.audio[:, :, :previews[-1][1].shape[2]]
    corr = np.corrcoef(final.ravel(), previews[-1][1].ravel())[0, 1]
    assert corr > 0.9
    # the transformers decoder does not stream and ignores preview
    ref = build_engine(str(tiny_model), device="cpu", decoder="transformers")
    got = []
    ref.generate(Conditioning(prompt="x"), 1.0, Sampling(), seed=2, preview=got.append)
    assert got == []


def test_bf16_decodes_like_fp32(tiny_model):
    """bf16 weights (what ``--dtype auto`` picks on CPUs with native bf16): finite audio, and
    greedy codes that mostly agree with fp32's over a short run."""
    lm32 = load_model(str(tiny_model), device="cpu", dtype="fp32")
    lm16 = load_model(str(tiny_model), device="cpu", dtype="bf16")
    eng = Engine(lm32, decoder="fast")
    inputs = _inputs(eng, "text")
    codes = {}
    for name, lm in (("fp32", lm32), ("bf16", lm16)):
        captured = []
        original = fast_decoder.codes_to_audio

        def spy(loaded, c, _orig=original, _out=captured):
            _out.append(c.clone())
            return _orig(loaded, c)

        fast_decoder.codes_to_audio = spy
        try:
            inp = dict(inputs)
            audio = fast_decode(lm, inp, 40, GREEDY, lambda s: None)
        finally:
            fast_decoder.codes_to_audio = original
        assert torch.isfinite(audio.float()).all()
        codes[name] = captured[-1]
    agree = (codes["fp32"] == codes["bf16"]).float().mean().item()
    assert agree > 0.5, agree


def test_auto_dtype_rule():
    from bridge.engine.specs import cpu_has_fast_bf16, pick_dtype

    assert pick_dtype("cpu", "auto") == (torch.bfloat16 if cpu_has_fast_bf16() else torch.float32)
    assert pick_dtype("cuda", "auto") == torch.float16
    assert pick_dtype("mps", "auto") == torch.float16  # half the memory; EnCodec stays fp32 on the CPU
    assert pick_dtype("cpu", "fp32") == torch.float32


@pytest.fixture
def amx_setting():
    """Lets a test turn AMX off or on; puts it back as configured afterwards."""
    from bridge.engine import cpu_kernels

    yield cpu_kernels.set_amx
    cpu_kernels.set_amx(os.environ.get(cpu_kernels.AMX_ENV, "1") != "0")


@pytest.mark.parametrize("amx", [False, True])
def test_bf16_cpu_kernel_matches_torch(amx, amx_setting):
    """The AVX512-BF16 matrix-vector kernel (where it builds) agrees with torch's bf16 linear,
    with vector products only and with AMX tiles (3-16 rows, where the CPU has AMX)."""
    from bridge.engine import cpu_kernels

    if cpu_kernels.kernel() is None:
        pytest.skip("no AVX512-BF16 CPU or no C compiler here")
    if amx_setting(amx) != amx:
        pytest.skip("no AMX here")
    torch.manual_seed(0)
    for rows in range(1, cpu_kernels.MAX_ROWS + 1):
        x = torch.randn(rows, 1, 1024, dtype=torch.bfloat16)
        w = torch.randn(2064, 1024, dtype=torch.bfloat16) / 32
        got = cpu_kernels.bf16_linear(x, w)
        ref = torch.nn.functional.linear(x.float(), w.float())
        assert got.dtype == torch.bfloat16 and got.shape == (rows, 1, 2064)
        assert torch.allclose(got.float(), ref, rtol=1e-2, atol=1e-2)
        many = cpu_kernels.bf16_linear_many(x, [w, w[:1024]])
        assert torch.equal(many[0], got) and torch.equal(many[1], got[..., :1024])
    too_many = torch.randn(cpu_kernels.MAX_ROWS + 1, 1024, dtype=torch.bfloat16)
    assert cpu_kernels.bf16_linear(too_many, w) is None  # too many rows: torch's
    assert cpu_kernels.bf16_linear(x, w[:2056]) is None  # outer size not a multiple of 16: torch's


def _needs_cpu_kernels():
    from bridge.engine import cpu_kernels

    if cpu_kernels.kernel() is None:
        pytest.skip("no AVX512-BF16 CPU or no C compiler here")


def _check_c_step(lm32: LoadedModel, lm16: LoadedModel, inputs: dict, steps: int) -> None:
    """The C step is as close to fp32 as torch's bf16 eager step is, and close to that step."""
    ref = _forced_logits(lm32, inputs, steps, c_step=False)
    eager = _forced_logits(lm16, inputs, steps, c_step=False)
    c = _forced_logits(lm16, inputs, steps, c_step=True)
    assert torch.isfinite(c).all()
    err_eager = (eager - ref).abs().mean().item()
    err_c = (c - ref).abs().mean().item()
    assert err_c <= 1.3 * err_eager + 1e-4, (err_c, err_eager)
    # and close to fp32 in every row on its own (a product kernel wrong for one row would make
    # the eager step, which uses the same kernel, just as wrong)
    rows = 2 * int(inputs["input_ids"].shape[0])
    per_row = (c - ref).abs().reshape(steps, rows, -1).mean(dim=(0, 2))
    assert per_row.max().item() <= 0.03 * ref.std().item(), per_row
    assert (c - eager).abs().mean().item() <= 0.02 * ref.std().item()
    assert (c.argmax(-1) == eager.argmax(-1)).float().mean().item() >= 0.9


@pytest.mark.parametrize("model,mode,batch,amx", [("mono", "text", 2, True), ("mono", "text", 2, False),
                                                  ("mono", "continuation", 3, True),
                                                  ("mono", "continuation", 3, False),
                                                  ("melody", "melody", 2, True), ("stereo", "text", 1, True)])
def test_cpu_step_matches_eager_bf16_step_tiny(fp32_engines, tiny_model, tiny_melody_model, tiny_stereo_model,
                                               model, mode, batch, amx, amx_setting):
    """The whole-step C function (bf16 CPUs) against torch's bf16 eager step on the same codes;
    2 rows (batch 1 with guidance) use the vector products, 4 and 6 rows AMX tiles where the CPU
    has them, else groups of 4 rows in the vector products."""
    _needs_cpu_kernels()
    amx_setting(amx)
    path = {"mono": tiny_model, "melody": tiny_melody_model, "stereo": tiny_stereo_model}[model]
    eng = fp32_engines[model]
    inputs = _inputs(eng, mode, batch=batch)
    _check_c_step(eng.loaded, load_model(str(path), device="cpu", dtype="bf16"), inputs, 40)


@pytest.mark.parametrize("melody,modes", [(False, ("text", "continuation")), (True, ("melody",))])
def test_cpu_step_matches_eager_bf16_step_small_architecture(melody, modes):
    """musicgen-small's widths (1024 wide, 16 heads of 64, ffn 4096, 2048 codes), 3 layers."""
    _needs_cpu_kernels()
    eng32 = _small_arch(melody, 3)
    eng16 = _small_arch(melody, 3)
    eng16.loaded.model.to(torch.bfloat16)
    eng16.loaded.dtype = torch.bfloat16
    for mode in modes:
        _check_c_step(eng32.loaded, eng16.loaded, _inputs(eng32, mode, batch=1), 30)


def test_fast_decode_uses_cpu_step_for_bf16(tiny_model, monkeypatch):
    """bf16 on a CPU with the kernels decodes through the C step (else the eager step), with
    finite audio, the step hook, and a clean fallback for too many rows or when turned off."""
    _needs_cpu_kernels()
    from bridge.engine import cpu_kernels, cpu_step

    lm = load_model(str(tiny_model), device="cpu", dtype="bf16")
    inputs = _inputs(Engine(lm, decoder="fast"), "text")
    calls = []
    original = cpu_step.CpuStep.__call__
    monkeypatch.setattr(cpu_step.CpuStep, "__call__", lambda self, *a: calls.append(1) or original(self, *a))
    steps = []
    with torch.inference_mode():
        audio = fast_decode(lm, inputs, 30, Sampling(top_k=50, cfg=3.0), steps.append)
    assert torch.isfinite(audio.float()).all() and steps == list(range(1, 31))
    assert len(calls) == 29  # every step after the prefill
    runner = DecoderRunner(weights_of(lm.model), encode_conditioning(lm, inputs, True), 4, 10)
    step = cpu_step.cpu_step_for(runner)
    bad = torch.zeros((4, 4), dtype=torch.long)
    bad[1, 2] = lm.model.decoder.config.vocab_size + 1
    with pytest.raises(ValueError, match="codes must be"):
        step(bad, 0)
    with pytest.raises(ValueError, match="the step takes codes"):
        step(bad[:3], 0)
    with pytest.raises(ValueError, match="KV cache holds"):
        step(bad * 0, 10)
    runner = DecoderRunner(weights_of(lm.model), encode_conditioning(lm, inputs, True), cpu_kernels.MAX_ROWS + 2, 10)
    assert cpu_step.cpu_step_for(runner) is None
    monkeypatch.setenv(cpu_step.ENV, "0")
    calls.clear()
    with torch.inference_mode():
        fast_decode(lm, inputs, 10, Sampling(top_k=50, cfg=3.0), lambda s: None)
    assert calls == []
