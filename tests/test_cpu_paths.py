"""The C decoding step on every x86 path (issue 18): which instruction set runs on which CPU (a
pure function, checked with simulated CPU flags), and, for each path this CPU can run
(``MUSICGEN_BRIDGE_CPU_ISA`` forcing the lower ones), the same correctness checks as the
AVX512-BF16 step: against fp32 and against torch's bf16 eager step, on the tiny model and on
one layer of musicgen-small's widths."""

from __future__ import annotations

import pytest
import torch

from bridge.engine import Engine, cpu_kernels, cpu_step, fast_decoder
from bridge.engine.loading import load_model
from test_fast_decoder import _check_c_step, _forced_logits, _inputs, _small_arch

HASWELL = {"sse4_2", "avx", "avx2", "fma"}
ZEN3 = HASWELL | {"sha_ni"}
SKYLAKE_X = HASWELL | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}
ZEN4 = SKYLAKE_X | {"avx512_bf16", "avx512_vnni"}
SAPPHIRE_RAPIDS = ZEN4 | {"amx_tile", "amx_bf16", "amx_int8"}


@pytest.mark.parametrize("flags,best", [(set(), None), ({"sse4_2", "avx"}, None), ({"avx2"}, None),
                                        (HASWELL, "avx2"), (ZEN3, "avx2"), (SKYLAKE_X, "avx512"),
                                        (ZEN4, "avx512bf16"), (SAPPHIRE_RAPIDS, "amx")])
def test_best_isa_from_cpu_flags(flags, best):
    assert cpu_kernels.pick_isa(flags) == (best, None)


def test_forcing_a_lower_isa_and_refusing_a_higher_one():
    assert cpu_kernels.pick_isa(SAPPHIRE_RAPIDS, "avx2") == ("avx2", None)
    assert cpu_kernels.pick_isa(SAPPHIRE_RAPIDS, "AVX512BF16") == ("avx512bf16", None)
    assert cpu_kernels.pick_isa(ZEN4, " avx512 ") == ("avx512", None)
    isa, note = cpu_kernels.pick_isa(ZEN4, "amx")
    assert isa == "avx512bf16" and "more than this CPU has" in note
    isa, note = cpu_kernels.pick_isa(HASWELL, "avx512")
    assert isa == "avx2" and "more than this CPU has" in note
    isa, note = cpu_kernels.pick_isa(ZEN3, "sse")
    assert isa == "avx2" and "not one of avx2, avx512, avx512bf16, amx" in note
    assert cpu_kernels.pick_isa(set(), "avx2")[0] is None


@pytest.fixture(params=["avx2", "avx512", "avx512bf16", "avx512bf16-packed"])
def forced_isa(request, monkeypatch):
    """Runs the test with the kernels of one instruction set (skipped where this CPU lacks it);
    AVX512-BF16 both reading the weights in place and reading packed copies, on any vendor's CPU
    (``MUSICGEN_BRIDGE_PACKED``)."""
    label = request.param
    isa = label.split("-")[0]
    if cpu_kernels.pick_isa(cpu_kernels.cpu_flags(), isa)[0] != isa:
        pytest.skip(f"this CPU has no {isa}")
    monkeypatch.setenv(cpu_kernels.ISA_ENV, isa)
    monkeypatch.setenv(cpu_kernels.PACKED_ENV, "1" if label.endswith("-packed") else "0")
    monkeypatch.setattr(cpu_kernels, "_state", {})
    found = cpu_kernels.step_kernel()
    if found is None:
        pytest.skip("no C compiler here")
    assert found[2] == label
    return label


@pytest.fixture(scope="module")
def tiny_pair(tiny_model):
    return (Engine(load_model(str(tiny_model), device="cpu", dtype="fp32"), decoder="fast"),
            load_model(str(tiny_model), device="cpu", dtype="bf16"))


@pytest.mark.parametrize("batch", [1, 3])
def test_c_step_on_each_isa_tiny(tiny_pair, forced_isa, batch):
    """2 rows (batch 1 with guidance: the few-rows blocks) and 6 rows (groups of 4 input rows)."""
    eng32, lm16 = tiny_pair
    _check_c_step(eng32.loaded, lm16, _inputs(eng32, "text", batch=batch), 30)


def test_c_step_on_each_isa_small_widths(forced_isa):
    """One layer of musicgen-small's widths (1024 wide, 16 heads of 64, ffn 4096, 2048 codes)."""
    eng32 = _small_arch(False, 1)
    eng16 = _small_arch(False, 1)
    eng16.loaded.model.to(torch.bfloat16)
    eng16.loaded.dtype = torch.bfloat16
    _check_c_step(eng32.loaded, eng16.loaded, _inputs(eng32, "text", batch=1), 20)


def test_forced_avx2_turns_the_bf16_product_kernels_off(tiny_pair, monkeypatch):
    """Below AVX512-BF16 only the whole step is in C; the eager step's products are torch's."""
    from bridge.engine import weights

    if cpu_kernels.pick_isa(cpu_kernels.cpu_flags(), "avx2")[0] != "avx2":
        pytest.skip("this CPU has no AVX2")
    monkeypatch.setenv(cpu_kernels.ISA_ENV, "avx2")
    monkeypatch.setattr(cpu_kernels, "_state", {})
    assert cpu_kernels.kernel() is None and not cpu_kernels.amx_in_use()
    lm16 = tiny_pair[1]
    assert weights.linear_for(weights.weights_of(lm16.model))[0] is weights._linear
    logits = _forced_logits(lm16, _inputs(tiny_pair[0], "text", batch=1), 5, c_step=True)
    assert torch.isfinite(logits).all()


def _forced_avx2_step_calls(monkeypatch) -> list:
    """The AVX2 kernels for this test (skipped where the CPU lacks AVX2), and the list that each
    C step call appends its instruction set to."""
    if cpu_kernels.pick_isa(cpu_kernels.cpu_flags(), "avx2")[0] != "avx2":
        pytest.skip("this CPU has no AVX2")
    monkeypatch.setenv(cpu_kernels.ISA_ENV, "avx2")
    monkeypatch.setattr(cpu_kernels, "_state", {})
    calls = []
    original = cpu_step.CpuStep.__call__
    monkeypatch.setattr(cpu_step.CpuStep, "__call__", lambda self, *a: calls.append(self.isa) or original(self, *a))
    return calls


def _assert_decoder_alone_in_bf16(model) -> None:
    assert next(model.decoder.parameters()).dtype == torch.bfloat16
    assert next(model.text_encoder.parameters()).dtype == torch.float32
    assert next(model.audio_encoder.parameters()).dtype == torch.float32


def test_a_switched_model_is_fitted_as_the_first(tiny_model, tiny_melody_model, monkeypatch):
    """After a model switch on an AVX2 CPU, the new model's decoder alone is in bf16 and the C
    step decodes it, as for the model the daemon started with (it used to stay fp32: torch's
    eager step, several times slower)."""
    from bridge.engine import Conditioning, Sampling, build_engine
    from bridge.switching import switch

    calls = _forced_avx2_step_calls(monkeypatch)
    eng = build_engine(str(tiny_model), device="cpu")
    new = switch(eng, str(tiny_melody_model), "tiny-melody", dtype="auto", say=lambda fraction: None)
    assert eng.loaded is new
    _assert_decoder_alone_in_bf16(new.model)
    out = eng.generate(Conditioning(prompt="piano"), 0.5, Sampling(), seed=3)
    assert out.audio.shape == (1, 1, 16000) and torch.isfinite(torch.from_numpy(out.audio)).all()
    assert calls and set(calls) == {"avx2"}


def test_decoder_only_bf16_rule():
    rule = cpu_kernels.decoder_only_bf16
    assert rule("cpu", "auto", "fast", True, "avx2") and rule("cpu", "AUTO", "fast", True, "avx512")
    assert not rule("cpu", "auto", "fast", True, "avx512bf16")  # native bf16: the whole model is bf16
    assert not rule("cpu", "auto", "fast", True, None)          # no kernels: fp32
    assert not rule("cpu", "fp32", "fast", True, "avx2")        # asked for fp32
    assert not rule("cpu", "auto", "transformers", True, "avx2")
    assert not rule("cuda", "auto", "fast", True, "avx2")
    assert not rule("cpu", "auto", "fast", False, "avx2")


@pytest.mark.parametrize("model", ["mono", "melody"])
def test_auto_dtype_on_an_avx2_cpu_casts_only_the_decoder(tiny_model, tiny_melody_model, monkeypatch, model):
    """``--dtype auto`` where the C step has no native bf16: the decoder in bf16 (decoded by the
    C step), text encoder and EnCodec in fp32; text, continuation and melody clips come out whole."""
    import numpy as np

    from bridge.engine import Conditioning, Sampling, build_engine
    from bridge.melody import Note, chroma_from_notes

    calls = _forced_avx2_step_calls(monkeypatch)
    eng = build_engine(str(tiny_melody_model if model == "melody" else tiny_model), device="cpu")
    _assert_decoder_alone_in_bf16(eng.loaded.model)
    if model == "melody":
        chroma = chroma_from_notes([Note(60, 0, 1), Note(64, 1, 1)])
        out = eng.generate(Conditioning(prompt="piano", chroma=chroma), 1.0, Sampling(), seed=3)
    else:
        out = eng.generate(Conditioning(prompt="dusty drums"), 1.0, Sampling(), seed=3)
        cont = eng.generate(Conditioning(prompt="drums", prompt_audio=out.audio[0]), 0.5, Sampling(), seed=1)
        assert cont.audio.shape == (1, 1, 16000) and np.isfinite(cont.audio).all()
    assert out.audio.shape == (1, 1, 32000) and np.isfinite(out.audio).all()
    assert calls and set(calls) == {"avx2"}


def _force_int8_isa(isa, monkeypatch):
    """The int8 step of ``isa`` for this test (skipped where the CPU lacks it or nothing builds)."""
    if cpu_kernels.pick_isa(cpu_kernels.cpu_flags(), isa)[0] != isa:
        pytest.skip(f"this CPU has no {isa}")
    monkeypatch.setenv(cpu_kernels.ISA_ENV, isa)
    monkeypatch.setattr(cpu_kernels, "_state", {})
    if cpu_kernels.step_kernel(int8=True) is None:
        pytest.skip("no C compiler here")


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
def test_int8_step_stays_close_to_fp32(isa, monkeypatch):
    """Opt-in int8 weights (per-row scales), one layer of musicgen-small's widths: top codes agree
    with fp32 within 5 points of the bf16 step's, and the logit distance stays within 4x the
    bf16 step's."""
    from bridge.engine import cpu_step

    _force_int8_isa(isa, monkeypatch)
    eng32 = _small_arch(False, 1)
    eng16 = _small_arch(False, 1)
    eng16.loaded.model.to(torch.bfloat16)
    eng16.loaded.dtype = torch.bfloat16
    inputs = _inputs(eng32, "text", batch=1)
    monkeypatch.delenv(cpu_kernels.INT8_ENV, raising=False)
    ref = _forced_logits(eng32.loaded, inputs, 20, c_step=False)
    bf16 = _forced_logits(eng16.loaded, inputs, 20, c_step=True)
    with torch.inference_mode():
        runner = fast_decoder.start_decoding(eng16.loaded, inputs, 20, guided=True, cpu_int8=True)[0]
        assert cpu_step.cpu_step_for(runner).isa == f"{isa}-int8"
    int8 = _forced_logits(eng16.loaded, inputs, 20, c_step=True, cpu_int8=True)
    assert torch.isfinite(int8).all()
    agree = {name: (x.argmax(-1) == ref.argmax(-1)).float().mean().item() for name, x in (("bf16", bf16), ("int8", int8))}
    dist = {name: (x - ref).abs().mean().item() for name, x in (("bf16", bf16), ("int8", int8))}
    assert agree["int8"] >= agree["bf16"] - 0.05, agree
    assert dist["int8"] <= 4 * dist["bf16"] + 1e-4, dist
    assert (int8 - bf16).abs().mean().item() > 0  # the int8 copies were used


@pytest.mark.parametrize("vendor,forced,streams", [("AuthenticAMD", None, True), ("GenuineIntel", None, False),
                                                   ("", None, True), ("GenuineIntel", "1", True),
                                                   ("AuthenticAMD", "0", False), ("AuthenticAMD", "x", True)])
def test_row_streams_rule(vendor, forced, streams):
    """Row streams everywhere but on Intel (where the interleaved blocks were measured), unless forced."""
    assert cpu_kernels.row_streams(vendor, forced) is streams


@pytest.mark.parametrize("pattern", ["packed", "streams", "blocks"])
@pytest.mark.parametrize("batch", [1, 3, 4, 7])
def test_bf16_step_with_each_weight_pattern(tiny_pair, pattern, batch, monkeypatch):
    """The AVX512-BF16 products read packed copies of the weights (groups of 8, 4, 2 and 1
    input rows on each pair of weight rows), or the weights in place as row streams (2 to 8
    rows: groups of 8, 4, 2 and 1 input rows; beyond, blocks) or as interleaved blocks (Intel);
    each passes the C step's checks (the tiny model's width, 32, is half a row-stream
    iteration: the tail is taken too). 2, 6, 8 and 14 rows."""
    if cpu_kernels.pick_isa(cpu_kernels.cpu_flags())[0] not in ("avx512bf16", "amx"):
        pytest.skip("this CPU has no AVX512-BF16")
    monkeypatch.setenv(cpu_kernels.ISA_ENV, "avx512bf16")
    monkeypatch.setenv(cpu_kernels.PACKED_ENV, "1" if pattern == "packed" else "0")
    monkeypatch.setenv(cpu_kernels.ROW_STREAMS_ENV, "0" if pattern == "blocks" else "1")
    monkeypatch.setattr(cpu_kernels, "_state", {})
    found = cpu_kernels.step_kernel()
    if found is None:
        pytest.skip("no C compiler here")
    assert found[2] == ("avx512bf16-packed" if pattern == "packed" else "avx512bf16")
    eng32, lm16 = tiny_pair
    _check_c_step(eng32.loaded, lm16, _inputs(eng32, "text", batch=batch), 20)


@pytest.mark.parametrize("vendor,forced,packed", [("AuthenticAMD", None, True), ("GenuineIntel", None, False),
                                                  ("", None, True), ("GenuineIntel", "1", True),
                                                  ("AuthenticAMD", "0", False), ("AuthenticAMD", " ", True)])
def test_packed_layout_rule(vendor, forced, packed):
    """Packed copies everywhere but on Intel (unmeasured there; AMX takes 3+ rows), unless forced."""
    assert cpu_kernels.packed_layout(vendor, forced) is packed


@pytest.mark.parametrize("k,segment", [(32, 32), (64, 64), (1024, 1024), (1536, 768), (2048, 1024),
                                       (4096, 1024), (6144, 1024), (1056, 352), (1088, 544)])
def test_pack_segment(k, segment):
    """Segments: the largest divisor of K, a multiple of 32 and at most 1024, in equal parts
    (musicgen-medium's 1536 wide: 2 of 768)."""
    assert cpu_step.pack_segment(k) == segment


def test_packs_only_widths_of_whole_blocks():
    """Every matrix the step reads needs rows in blocks of 32 (else the in-place step runs):
    musicgen's widths pack; a head of 2064 codes (a multiple of 16, which the in-place step
    takes) does not."""
    from types import SimpleNamespace

    def weights(vocab):
        layer = {n: torch.empty(1024, 1024) for n in ("q", "k", "v", "o", "cq", "co")}
        layer.update(fc1=torch.empty(4096, 1024), fc2=torch.empty(1024, 4096))
        return SimpleNamespace(layers=[layer], heads_w=[torch.empty(vocab, 1024)] * 4)

    assert cpu_step.packs(weights(2048))
    assert not cpu_step.packs(weights(2064))


def test_pack_bf16_layout():
    """Blocks of 32 rows; in a block, segments; in a segment, pairs of rows; in a pair, lines of
    32 values of each row in turn (what csrc/bf16_packed.h reads)."""
    n, k = 64, 1536
    w = torch.arange(n * k, dtype=torch.float32).reshape(n, k)
    p = cpu_step.pack_bf16(w).reshape(-1)
    s = 768

    def at(row, col):  # where w[row, col] lands
        block, r = divmod(row, 32)
        pair, half = divmod(r, 2)
        seg, c = divmod(col, s)
        line, v = divmod(c, 32)
        return block * 32 * k + seg * 32 * s + pair * 2 * s + line * 64 + half * 32 + v

    for row, col in [(0, 0), (1, 0), (0, 32), (1, 31), (2, 0), (31, 767), (5, 768), (33, 1535), (63, 800)]:
        assert p[at(row, col)].item() == w[row, col].item()
    assert sorted(p.tolist()) == w.reshape(-1).tolist()  # every value once


def test_packed_copies_are_made_at_load_and_read_by_the_step(tiny_model, monkeypatch):
    """Where the step reads packed copies they exist once the engine is built (not at the first
    clip), and the step reads them; with int8 on, or packing forced off, none are made."""
    if cpu_kernels.pick_isa(cpu_kernels.cpu_flags())[0] not in ("avx512bf16", "amx"):
        pytest.skip("this CPU has no AVX512-BF16")
    from bridge.engine import build_engine
    from bridge.engine.weights import weights_of

    monkeypatch.setenv(cpu_kernels.ISA_ENV, "avx512bf16")
    monkeypatch.delenv(cpu_kernels.INT8_ENV, raising=False)
    for packed, int8, made in (("1", False, True), ("0", False, False), ("1", True, False)):
        monkeypatch.setenv(cpu_kernels.PACKED_ENV, packed)
        monkeypatch.setattr(cpu_kernels, "_state", {})
        if cpu_kernels.step_kernel() is None:
            pytest.skip("no C compiler here")
        engine = build_engine(str(tiny_model), device="cpu", dtype="bf16", cpu_int8=int8)
        weights = weights_of(engine.loaded.model)
        assert (getattr(weights, "_packed", None) is not None) is made, (packed, int8)
        if made:
            inputs = _inputs(engine, "text", batch=1)
            runner = fast_decoder.start_decoding(engine.loaded, inputs, 4, guided=True)[0]
            step = cpu_step.cpu_step_for(runner)
            assert step is not None and step.isa == "avx512bf16-packed"
            copy = weights._packed[id(weights.layers[0]["fc1"])]
            assert any(p == copy.data_ptr() for p in step.ptrs)


@pytest.mark.parametrize("isa", ["avx2", "avx512"])
@pytest.mark.parametrize("batch", [1, 3])
def test_int8_step_tiny(tiny_pair, isa, batch, monkeypatch):
    """The int8 step on the tiny model: widths of 32 and 64 (rows padded to 64 in the packed
    copies), 2 rows and 6 rows (three pairs of input rows on the same weights): every row close to fp32
    (within 4x the bf16 step's distance) and top codes mostly equal."""
    _force_int8_isa(isa, monkeypatch)
    eng32, lm16 = tiny_pair
    inputs = _inputs(eng32, "text", batch=batch)
    monkeypatch.delenv(cpu_kernels.INT8_ENV, raising=False)
    ref = _forced_logits(eng32.loaded, inputs, 12, c_step=False)
    bf16 = _forced_logits(lm16, inputs, 12, c_step=True)
    int8 = _forced_logits(lm16, inputs, 12, c_step=True, cpu_int8=True)
    assert torch.isfinite(int8).all()
    rows = 2 * batch
    per_row = {name: (x - ref).abs().reshape(12, rows, -1).mean(dim=(0, 2)) for name, x in (("bf16", bf16), ("int8", int8))}
    assert (per_row["int8"] <= 4 * per_row["bf16"] + 0.01 * ref.std()).all(), per_row
    assert (int8.argmax(-1) == ref.argmax(-1)).float().mean().item() >= 0.8
    assert (int8 - bf16).abs().mean().item() > 0  # the int8 copies were used


# --cpu-int8 and the cpu_int8 config key (issue 18): the choice, then the real engine


@pytest.mark.parametrize("asked,env,wanted,note", [
    (False, None, False, None), (True, None, True, None), (True, "", True, None), (True, " 1 ", True, None),
    (False, "1", True, "overrides the off setting"), (True, "0", False, "overrides the on setting"),
    (False, "yes", True, "overrides"), (True, "off", False, "overrides"),
    (True, "maybe", True, "neither 1 nor 0; ignored"), (False, "2", False, "ignored")])
def test_int8_env_overrides_flag_and_config(asked, env, wanted, note):
    from bridge.engine import int8_switch

    got, why = int8_switch.resolve(asked, env)
    assert got is wanted
    assert (why is None) if note is None else (note in why and "MUSICGEN_BRIDGE_INT8" in why)


_ZEN4_BF16 = {"device": "cpu", "decoder": "fast", "isa": "avx512bf16", "kernels_off": False, "weights_dtype": "bf16"}


@pytest.mark.parametrize("machine,why", [
    ({}, None),
    ({"isa": "avx2"}, None),
    ({"device": "cuda", "isa": None, "weights_dtype": "fp16"}, "the model runs on cuda"),
    ({"device": "mps", "isa": None, "weights_dtype": "fp32"}, "the model runs on mps"),
    ({"decoder": "transformers"}, "--decoder transformers does not use the C step"),
    ({"kernels_off": True}, "turned off"),
    ({"isa": None, "weights_dtype": "fp32"}, "this CPU has no C step"),      # Apple silicon, old x86
    ({"weights_dtype": "fp32"}, "weights are fp32"),                        # --dtype fp32
    ({"compiler": False}, "did not build"),
])
def test_int8_plan_on_simulated_machines(machine, why):
    """Asked for where the C step cannot read int8: one line saying why, never an error; the
    int8 kernel is built only where everything else allows it."""
    from bridge.engine import int8_switch

    built = []
    compiler = machine.pop("compiler", True)
    facts = {**_ZEN4_BF16, **machine}
    expected = ("avx2" if facts["isa"] == "avx2" else "avx512") + "-int8"

    def int8_step():
        built.append(True)
        return expected if compiler else None

    step_isa, note = int8_switch.plan(True, **facts, int8_step=int8_step)
    if why is None:
        assert step_isa == expected and note is None
        assert int8_switch.status(step_isa) == f"int8 decoder weights ({expected} C step)"
    else:
        assert step_isa is None and why in note and note.startswith("int8 decoder weights asked for but not used")
        assert "\n" not in note and int8_switch.status(step_isa) == ""
        assert built == ([True] if why == "did not build" else [])
    assert int8_switch.plan(False, **facts, int8_step=int8_step) == (None, None)  # off by default


def _int8_step_runs_here():
    if cpu_kernels.isa() is None or cpu_kernels.step_kernel(int8=True) is None:
        pytest.skip("no C step for this CPU, or no C compiler")


def _step_isas(engine, monkeypatch):
    """The instruction sets of the C steps that decode one short clip on ``engine``."""
    from bridge.engine import Conditioning, Sampling, cpu_step

    calls = []
    original = cpu_step.CpuStep.__call__
    monkeypatch.setattr(cpu_step.CpuStep, "__call__", lambda self, *a: calls.append(self.isa) or original(self, *a))
    out = engine.generate(Conditioning(prompt="dusty drums"), 0.5, Sampling(), seed=3)
    monkeypatch.setattr(cpu_step.CpuStep, "__call__", original)
    assert out.audio.shape == (1, 1, 16000) and torch.isfinite(torch.from_numpy(out.audio)).all()
    return set(calls)


def test_cpu_int8_flag_reaches_the_c_step(tiny_model, monkeypatch):
    """``generate --cpu-int8`` builds an engine whose C step reads int8 weights; without the
    flag it does not; ``MUSICGEN_BRIDGE_INT8=0`` overrides the flag."""
    from bridge import cli
    from bridge.engine import cpu_step

    monkeypatch.delenv(cpu_kernels.INT8_ENV, raising=False)
    _int8_step_runs_here()
    parse = cli.build_parser().parse_args
    eng = cli._load_engine(parse(["generate", "x", "--model", str(tiny_model), "--device", "cpu", "--cpu-int8"]))
    assert eng.cpu_int8 and eng.cpu_int8_isa.endswith("-int8") and eng.describe()["cpu_int8"] is True
    inputs = _inputs(eng, "text", batch=1)
    with torch.inference_mode():
        runner = fast_decoder.start_decoding(eng.loaded, inputs, 5, guided=True, cpu_int8=eng.cpu_int8)[0]
        assert cpu_step.cpu_step_for(runner).isa == eng.cpu_int8_isa
    assert _step_isas(eng, monkeypatch) == {eng.cpu_int8_isa}
    monkeypatch.setenv(cpu_kernels.INT8_ENV, "0")
    assert not any(isa.endswith("-int8") for isa in _step_isas(eng, monkeypatch))
    monkeypatch.delenv(cpu_kernels.INT8_ENV)

    off = cli._load_engine(parse(["generate", "x", "--model", str(tiny_model), "--device", "cpu"]))
    assert not off.cpu_int8 and off.cpu_int8_isa is None and off.describe()["cpu_int8"] is False
    isas = _step_isas(off, monkeypatch)
    assert isas and not any(isa.endswith("-int8") for isa in isas)


@pytest.mark.parametrize("flags,why", [({"dtype": "fp32"}, "weights are fp32"),
                                       ({"decoder": "transformers"}, "--decoder transformers")])
def test_cpu_int8_where_the_c_step_does_not_run_warns_in_one_line(tiny_model, monkeypatch, caplog, flags, why):
    """Asked for with fp32 weights or transformers' decoder: the engine loads and generates
    without int8, and one warning says why."""
    import logging

    from bridge.engine import build_engine

    monkeypatch.delenv(cpu_kernels.INT8_ENV, raising=False)
    if cpu_kernels.isa() is None:
        pytest.skip("no C step for this CPU (the warning then names that)")
    with caplog.at_level(logging.WARNING, logger="bridge.engine"):
        eng = build_engine(str(tiny_model), device="cpu", cpu_int8=True, **flags)
    notes = [r.getMessage() for r in caplog.records if "int8" in r.getMessage()]
    assert len(notes) == 1 and why in notes[0] and "not used" in notes[0], notes
    assert not eng.cpu_int8 and eng.cpu_int8_isa is None
    assert not any(isa.endswith("-int8") for isa in _step_isas(eng, monkeypatch))


def test_step_ab_benchmark_runs_on_the_tiny_model():
    """bench/step_ab.py (the CPU paths in turns) runs end to end: every path this CPU has, a
    tuning constant as a variant, the floors and speed-ups printed."""
    import subprocess
    import sys
    from pathlib import Path

    if cpu_kernels.pick_isa(cpu_kernels.cpu_flags())[0] is None:
        pytest.skip("no x86 C step here")
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "bench" / "step_ab.py"), "--arch", "tiny", "--steps", "3",
                        "--paths", "avx2,avx2-int8", "--also=-DWARM_BYTES=0"],
                       capture_output=True, text=True, timeout=300, cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("avx2")]
    assert [row[0] for row in rows] == ["avx2", "avx2", "avx2-int8", "avx2-int8"], r.stdout
    assert all(float(row[-1]) > 0 for row in rows), r.stdout


@pytest.mark.parametrize("fp32", [False, True])
def test_multiply_rate_benchmark_runs(fp32):
    """bench/bf16_peak.py measures vdpbf16ps (or, --fp32, AVX2's vfmadd231ps) and prints the
    compute floor per number of rows, or says in one line that this CPU lacks the instruction."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "bench" / "bf16_peak.py"), "--iterations", "100000",
                        *(["--fp32"] if fp32 else [])], capture_output=True, text=True, timeout=300, cwd=root)
    needs = ("avx2", "fma") if fp32 else ("avx512_bf16",)
    if not all(flag in cpu_kernels.cpu_flags() for flag in needs):
        assert r.returncode == 2 and r.stderr.startswith("needs a CPU with"), r.stderr
        return
    assert r.returncode == 0, r.stderr[-2000:]
    rate = re.search(r"^(vdpbf16ps|vfmadd231ps \(256-bit\)): (\d+) GMAC/s", r.stdout, re.M)
    assert rate and rate.group(1).startswith("vfmadd" if fp32 else "vdpbf16ps") and int(rate.group(2)) > 0, r.stdout
    floors = re.findall(r"^\s+(\d+) rows: compute floor\s+([\d.]+) ms", r.stdout, re.M)
    assert [int(rows) for rows, _ in floors] == [2, 4, 8, 16], r.stdout
    assert float(floors[-1][1]) > float(floors[0][1]) > 0, r.stdout


def test_step_ab_against_an_older_revision():
    """bench/step_ab.py --against REV adds each path built from REV's C sources, timed in turns
    with this tree's, and says whether their logits are the same (here REV is HEAD: they are,
    unless the sources changed since); an unknown revision is one line on stderr and exit 2."""
    import subprocess
    import sys
    from pathlib import Path

    if cpu_kernels.pick_isa(cpu_kernels.cpu_flags())[0] is None:
        pytest.skip("no x86 C step here")
    root = Path(__file__).resolve().parent.parent
    if subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    bench = [sys.executable, str(root / "bench" / "step_ab.py"), "--arch", "tiny", "--steps", "3", "--paths", "avx2"]
    r = subprocess.run([*bench, "--against", "HEAD"], capture_output=True, text=True, timeout=300, cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("avx2")]
    assert [row[0] for row in rows] == ["avx2", "avx2"] and rows[1][1] == "@HEAD", r.stdout
    assert any(line.startswith("logits of avx2 @HEAD against avx2: ") and "at all 3 positions" in line
               for line in r.stdout.splitlines()), r.stdout
    r = subprocess.run([*bench, "--against", "no-such-revision"], capture_output=True, text=True, timeout=300,
                       cwd=root)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "--against no-such-revision" in r.stderr


def _same_logits_step_by_step(lm16, inputs, builds):
    """Two builds of a C step on one runner, the same codes at each position: equal logits."""
    from bridge.engine.cpu_step import CpuStep

    with torch.inference_mode():
        runner, ids, _, _ = fast_decoder.start_decoding(lm16, inputs, 12, guided=True)
        first, second = (CpuStep(runner, *found) for found in builds)
        runner.prefill(torch.cat([ids, ids]))
        gen = torch.Generator().manual_seed(3)
        vocab = runner.weights.heads_w[0].shape[0]
        for i in range(10):
            tokens = torch.randint(0, vocab, (runner.rows, len(runner.weights.embed_tokens)), generator=gen)
            a = first(tokens, ids.shape[-1] + i)
            b = second(tokens, ids.shape[-1] + i)
            assert torch.isfinite(a).all() and torch.equal(a, b), i


@pytest.mark.parametrize("packed", [False, True])
def test_vector_rounding_is_bit_for_bit_the_scalar_one(tiny_pair, packed, monkeypatch):
    """The AVX512-BF16 step rounds to bf16 16 lanes at a time (stores, layer norms, attention);
    the same step built with -DSCALAR_STORES rounds one value at a time, as torch does: the
    logits are equal bit for bit, step after step (6 rows: every store mode)."""
    if cpu_kernels.pick_isa(cpu_kernels.cpu_flags())[0] not in ("avx512bf16", "amx"):
        pytest.skip("this CPU has no AVX512-BF16")
    monkeypatch.setenv(cpu_kernels.ISA_ENV, "avx512bf16")
    monkeypatch.setattr(cpu_kernels, "_state", {})
    builds = [cpu_kernels.step_library("avx512bf16", extra_flags=flags, packed=packed)
              for flags in ((), ("-DSCALAR_STORES",))]
    if None in builds:
        pytest.skip("no C compiler here")
    eng32, lm16 = tiny_pair
    _same_logits_step_by_step(lm16, _inputs(eng32, "text", batch=3), builds)


def test_int8_vnni_products_equal_the_plain_ones(tiny_pair, monkeypatch):
    """Where the CPU has AVX512-VNNI the int8 step multiplies with vpdpwssd: the same integer
    sums as vpmaddwd + vpaddd, so the same logits bit for bit (6 rows: groups of 4 and 2)."""
    if "avx512_vnni" not in cpu_kernels.cpu_flags() or cpu_kernels.pick_isa(cpu_kernels.cpu_flags(), "avx512")[0] != "avx512":
        pytest.skip("this CPU has no AVX512-VNNI")
    _force_int8_isa("avx512", monkeypatch)
    builds = [cpu_kernels.step_library("avx512", int8=True, extra_flags=flags)
              for flags in ((), ("-mno-avx512vnni",))]
    if None in builds:
        pytest.skip("no C compiler here")
    eng32, lm16 = tiny_pair
    _same_logits_step_by_step(lm16, _inputs(eng32, "text", batch=3), builds)
