"""Admission (bridge/admission.py) and the front ends' key adapters, without a daemon or a model.

The loaded model is described by the real LoadedModel record (no weights are needed for the checks).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bridge.admission import Admission, NoteStore, check_paths, token_ok, under_roots
from bridge.engine.loading import LoadedModel
from bridge.errors import CODES, RequestError
from bridge.inbox import request_from_file
from bridge.midi.requests import request_from_midi
from bridge.midi.side import MidiAction
from bridge.osc_handlers import pairs_to_dict, reply_target
from bridge.request import parse_request
from conftest import write_tone


def lm(spec="small", source="facebook/musicgen-small", melody=False) -> LoadedModel:
    return LoadedModel(spec=spec, source=source, model=None, tokenizer=None, device="cpu", dtype=None,
                       is_melody=melody, sr=32000, channels=1, frame_rate=50, num_codebooks=4, max_positions=2048)


def code_of(fn, *a, **kw) -> str:
    with pytest.raises(RequestError) as info:
        fn(*a, **kw)
    assert info.value.code in CODES and "\n" not in info.value.message
    return info.value.code


@pytest.fixture
def adm(tmp_path) -> Admission:
    return Admission(output_dir=tmp_path / "out", defaults={"format": "flac", "duration": 3.0},
                     presets={"spark": {"prompt": "breakbeat", "bars": 2, "bpm": 90, "format": "wav24"}})


# --- presets and defaults ---------------------------------------------------------------------

def test_defaults_then_preset_then_request(adm):
    req, out_dir = adm.admit({"preset": "spark", "format": "mp3"}, action="generate", req_id="a")
    assert (req.prompt, req.bars, req.bpm, req.format, req.preset) == ("breakbeat", 2, 90, "mp3", "spark")
    assert req.length_s() == pytest.approx(2 * 4 * 60 / 90)
    req, _ = adm.admit({"prompt": "x"}, action="generate", req_id="b")
    assert (req.format, req.duration_s, req.preset) == ("flac", 3.0, None)
    assert out_dir == adm.output_dir and out_dir.is_dir()


def test_unknown_preset_names_the_known_ones(adm):
    with pytest.raises(RequestError) as info:
        adm.admit({"preset": "nope", "prompt": "x"}, action="generate", req_id="a")
    assert info.value.code == "unknown_preset" and "spark" in info.value.message
    assert code_of(parse_request, {"preset": "x", "prompt": "y"}, req_id="a") == "unknown_preset"


def test_seed_is_drawn_once_and_kept(adm):
    a, _ = adm.admit({"prompt": "x"}, action="generate", req_id="a")
    b, _ = adm.admit({"prompt": "x", "seed": 7}, action="generate", req_id="b")
    assert isinstance(a.seed, int) and 0 <= a.seed < 2**31 - 1 and b.seed == 7


# --- the loaded model -------------------------------------------------------------------------

def test_model_must_be_the_loaded_one(adm):
    small = lm()
    for name in ("small", "facebook/musicgen-small"):
        adm.admit({"prompt": "x", "model": name}, action="generate", req_id="a", lm=small)
    assert code_of(adm.admit, {"prompt": "x", "model": "large"}, action="generate", req_id="a",
                   lm=small) == "unknown_model"


def test_melody_needs_a_melody_model(adm):
    notes = [[60, 0, 1, 100]]
    assert code_of(adm.admit, {"prompt": "x", "melody_notes": notes}, action="generate", req_id="a",
                   lm=lm()) == "bad_melody"
    req, _ = adm.admit({"prompt": "x", "melody_notes": notes}, action="generate", req_id="a",
                       lm=lm("melody", "facebook/musicgen-melody", melody=True))
    assert req.melody_notes == [(60, 0.0, 1.0, 100)]
    # without a model (the command line before loading) the model checks wait
    adm.admit({"prompt": "x", "melody_notes": notes, "model": "large"}, action="generate", req_id="b")


# --- notes sent ahead -------------------------------------------------------------------------

def test_notes_sent_ahead_under_the_request_id_or_another():
    store = NoteStore()
    store.add("job1", [60, 0.0, 1.0, 100, 64, 1.0, 0.5, 90])
    store.add("job1", [67, 2.0, 1.0, 80])  # appended
    store.add("phrase", [48, 0, 4, 100])
    adm = Admission(output_dir=Path("."))
    adm.notes = store
    req = parse_request({"prompt": "x"}, req_id="job1")
    store.resolve(req)
    assert req.melody_notes == [(60, 0.0, 1.0, 100), (64, 1.0, 0.5, 90), (67, 2.0, 1.0, 80)]
    req = parse_request({"prompt": "x", "melody_notes": "phrase"}, req_id="other")
    store.resolve(req)
    assert req.melody_notes == [(48, 0.0, 4.0, 100)]
    req = parse_request({"prompt": "x", "melody_notes": "phrase"}, req_id="again")  # used once
    assert code_of(store.resolve, req) == "bad_melody"


@pytest.mark.parametrize("values", [[], [60, 0, 1], [128, 0, 1, 100], [60, -1, 1, 100], [60, 0, 1, 200],
                                    [60, 0, float("nan"), 100], ["a", 0, 1, 100], [60.5, 0, 1, 100]])
def test_bad_notes_are_refused(values):
    assert code_of(NoteStore().add, "n", values) == "bad_request"


def test_notes_expire_and_are_bounded():
    store = NoteStore(ttl_s=0.05, max_per_id=3)
    store.add("old", [60, 0, 1, 100])
    time.sleep(0.1)
    store.add("new", [60, 0, 1, 100, 62, 1, 1, 100])
    assert store.take("old") is None
    assert code_of(store.add, "new", [64, 2, 1, 100, 65, 3, 1, 100]) == "bad_request"
    assert len(store.take("new")) == 2


# --- paths ------------------------------------------------------------------------------------

def test_roots_limit_every_path(tmp_path):
    root = tmp_path / "Music"
    root.mkdir()
    tone = write_tone(root / "tone.wav", seconds=1.0)
    outside = write_tone(tmp_path / "elsewhere.wav", seconds=1.0)
    (root / "link").symlink_to(tmp_path)  # a link out of the root does not count as inside
    adm = Admission(output_dir=root / "out", roots=[root.resolve()])
    req, _ = adm.admit({"audio_path": str(tone)}, action="continue", req_id="a")
    assert req.audio_path == str(tone.resolve())
    for params, action in [({"audio_path": str(outside)}, "continue"),
                           ({"audio_path": str(root / "link" / "elsewhere.wav")}, "continue"),
                           ({"prompt": "x", "out_dir": str(tmp_path / "out")}, "generate")]:
        assert code_of(adm.admit, params, action=action, req_id="a") == "forbidden"
    assert not (tmp_path / "out").exists()  # refused before anything is created
    assert under_roots(root / "sub" / "new", [root.resolve()])
    assert not under_roots(tmp_path, [root.resolve()])


def test_inputs_and_output_folder_checked(tmp_path):
    tone = write_tone(tmp_path / "tone.wav", seconds=2.0)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [
        ({"audio_path": str(tmp_path / "missing.wav")}, "continue", "bad_audio"),
        ({"audio_path": str(tone), "start": 1.0, "end": 5.0}, "continue", "bad_audio"),
        ({"audio_path": str(blocker)}, "continue", "bad_audio"),
        ({"prompt": "x", "melody": str(tmp_path / "missing.mid")}, "generate", "bad_melody"),
        ({"prompt": "x", "melody": str(blocker)}, "generate", "bad_melody"),
        ({"prompt": "x", "out_dir": str(blocker / "sub")}, "generate", "io_error"),
    ]
    adm = Admission(output_dir=tmp_path / "out")
    for params, action, code in cases:
        assert code_of(adm.admit, params, action=action, req_id="a") == code, params
    req = parse_request({"prompt": "x", "melody": "~/../" + os.path.relpath(tone, Path.home().parent)}, req_id="a")
    check_paths(req, tmp_path / "out2", [])
    assert req.melody == str(tone.resolve())  # made absolute: the worker may run much later


# --- tokens and the front ends' adapters ---------------------------------------------------------

def test_token_ok():
    assert token_ok({}, None) and token_ok({"token": "x"}, "")
    assert token_ok({"token": "sésame"}, "sésame")
    assert not token_ok({}, "s") and not token_ok({"token": "S"}, "s") and not token_ok({"token": 1}, "1")


def test_osc_pairs_and_reply_target():
    assert pairs_to_dict(["a", 1, "b", "x"]) == {"a": 1, "b": "x"}
    assert code_of(pairs_to_dict, ["a"]) == "bad_request"
    assert code_of(pairs_to_dict, [1, 2]) == "bad_request"
    sender = ("127.0.0.1", 5000)
    assert reply_target({}, sender) == sender
    assert reply_target({"reply_port": 9001.0}, sender) == ("127.0.0.1", 9001)
    assert reply_target({"reply_host": "10.0.0.2", "reply_port": 7}, sender) == ("10.0.0.2", 7)
    for bad in ({"reply_port": 0}, {"reply_port": 70000}, {"reply_port": True}, {"reply_host": ""}):
        assert code_of(reply_target, bad, sender) == "bad_request"


def test_request_file_keys():
    assert request_from_file({"id": "r1", "prompt": "x"}) == ("generate", {"prompt": "x", "daw": "reaper"})
    assert request_from_file({"action": "continue", "audio_path": "a.wav", "daw": "none"}) == (
        "continue", {"audio_path": "a.wav", "daw": "none"})
    assert code_of(request_from_file, {"action": "delete"}) == "bad_request"
    assert code_of(request_from_file, {"__invalid__": "Expecting value", "id": "r"}) == "bad_request"


def test_midi_actions_as_keys(tmp_path):
    presets = {"spark": {"prompt": "x", "bars": 2}, "fixed": {"prompt": "y", "bars": 1, "bpm": 100}}
    assert request_from_midi(MidiAction("generate", preset="spark"), presets=presets, last_clip=None,
                             clock_bpm=128.0) == ("generate", {"preset": "spark", "bpm": 128.0})
    assert request_from_midi(MidiAction("generate", preset="fixed"), presets=presets, last_clip=None,
                             clock_bpm=128.0) == ("generate", {"preset": "fixed"})
    assert request_from_midi(MidiAction("generate", preset="spark", bpm=90.0), presets=presets,
                             last_clip=None, clock_bpm=None)[1]["bpm"] == 90.0
    op, keys = request_from_midi(MidiAction("melody", notes=[(60, 0.0, 1.0, 100)], bpm=None), presets=presets,
                                 last_clip=None, clock_bpm=None)
    assert op == "generate" and keys == {"melody_notes": [[60, 0.0, 1.0, 100]], "bpm": 120.0}
    assert request_from_midi(MidiAction("continue_last"), presets=presets, last_clip=None, clock_bpm=None) is None
    clip = write_tone(tmp_path / "last.wav", seconds=12.0)
    op, keys = request_from_midi(MidiAction("continue_last"), presets=presets, last_clip=clip, clock_bpm=None)
    assert op == "continue" and keys["audio_path"] == str(clip) and keys["start"] == pytest.approx(2.0)
