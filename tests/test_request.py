"""bridge/request.py on its own: parse_request over the key table of docs/protocol.md.

Every refusal is a RequestError with a protocol code and a one-line message that names the key;
every accepted form (numbers as strings, 0/1/on/off) lands as the typed field. No daemon, no model.
"""

from __future__ import annotations

import json
import math

import pytest

from bridge.request import (KNOWN_KEYS, MAX_DURATION_S, TRANSPORT_KEYS, GenerationRequest, RequestError,
                            parse_request)


def parse(params=None, action="generate", req_id="job-1", presets=None, **kw):
    """parse_request with a prompt by default (most cases are not about the prompt)."""
    p = {"prompt": "warm pads"}
    p.update(params or {})
    p.update(kw)
    return parse_request(p, action=action, req_id=req_id, presets=presets)


def refused(params, code="bad_request", action="generate", req_id="job-1", presets=None, prompt=True) -> RequestError:
    """The RequestError parse_request raises for ``params``; checks the code and the one-line message."""
    p = {"prompt": "warm pads"} if prompt else {}
    p.update(params)
    with pytest.raises(RequestError) as info:
        parse_request(p, action=action, req_id=req_id, presets=presets)
    err = info.value
    assert err.code == code, (err.code, err.message)
    assert isinstance(err, ValueError)
    assert err.message and str(err) == err.message
    assert "\n" not in err.message and "\r" not in err.message
    return err


# --- every key: type and range errors -------------------------------------------------------------
# (key, bad value, a fragment the message must hold; None = the key itself)

BAD_VALUES = [
    ("prompt", ["a list"], None),
    ("prompt", "x" * 2001, "too long"),
    ("prompt", "bad\x00prompt", "NUL"),
    ("duration", "long", None),
    ("duration", 0, "> 0"),
    ("duration", -1.5, None),
    ("duration", MAX_DURATION_S + 0.001, "<= 300"),
    ("duration", float("nan"), "finite"),
    ("duration", float("inf"), "finite"),
    ("duration", "inf", "finite"),
    ("duration", None, None),
    ("bpm", "fast", None),
    ("bpm", 19.9, ">= 20"),
    ("bpm", 400.5, "<= 400"),
    ("bpm", [120], None),
    ("bars", 0, "> 0"),
    ("bars", 1000.5, "<= 1000"),
    ("bars", {}, None),
    ("beats_per_bar", 0.25, ">= 0.5"),
    ("beats_per_bar", 33, "<= 32"),
    ("loop", 2, None),
    ("loop", "maybe", None),
    ("loop", None, None),
    ("model", ["small"], None),
    ("model", "m" * 513, "too long"),
    ("seed", -1, ">= 0"),
    ("seed", 2**31, "<="),
    ("seed", 1.5, "whole number"),
    ("seed", "1.5", "whole number"),
    ("seed", "abc", None),
    ("top_k", -1, ">= 0"),
    ("top_k", 100001, "<="),
    ("top_k", 2.5, "whole number"),
    ("top_p", -0.1, ">= 0"),
    ("top_p", 1.01, "<= 1"),
    ("temperature", 0, "> 0"),
    ("temperature", 100.5, "<= 100"),
    ("cfg", -0.5, ">= 0"),
    ("cfg", 101, "<= 100"),
    ("format", "ogg", "one of"),
    ("format", 16, "string"),
    ("format", "w" * 17, "too long"),
    ("normalize", "loud", "one of"),
    ("normalize", True, "string"),
    ("variations", 0, ">= 1"),
    ("variations", 9, "<= 8"),
    ("variations", 1.5, "whole number"),
    ("melody", ["m.wav"], None),
    ("melody", "m" * 4097, "too long"),
    ("melody", "m\x00.wav", "NUL"),
    ("melody_notes", [], None),
    ("melody_notes", 5, None),
    ("melody_notes", "n" * 65, "too long"),
    ("melody_notes", [[60, 0, 1]], "melody note"),
    ("melody_notes", [60, 0, 1, 100], "melody note"),
    ("melody_notes", [{"pitch": 60}], "melody note"),
    ("melody_notes", [[128, 0, 1, 100]], "note pitch"),
    ("melody_notes", [[-1, 0, 1, 100]], "note pitch"),
    ("melody_notes", [[60.5, 0, 1, 100]], "note pitch"),
    ("melody_notes", [["C4", 0, 1, 100]], "note pitch"),
    ("melody_notes", [[60, -0.5, 1, 100]], "note start"),
    ("melody_notes", [[60, 0, -1, 100]], "note length"),
    ("melody_notes", [[60, 0, float("nan"), 100]], "note length"),
    ("melody_notes", [[60, 0, 1, 128]], "note velocity"),
    ("melody_notes", [[60, 0, 1, -1]], "note velocity"),
    ("melody_notes", [[60, 0, 1, 99.5]], "note velocity"),
    ("melody_notes", [[60, i * 0.25, 0.25, 100] for i in range(10001)], "10000"),
    ("audio_path", ["a.wav"], None),
    ("audio_path", "a\x00.wav", "NUL"),
    ("start", -1, ">= 0"),
    ("start", "soon", None),
    ("end", -0.1, ">= 0"),
    ("keep_prompt", 5, None),
    ("keep_prompt", "sometimes", None),
    ("out_dir", {"path": "/x"}, None),
    ("out_dir", "/tmp/a\x00b", "NUL"),
    ("name", "n" * 201, "too long"),
    ("name", [1], None),
    ("daw", "live", "one of"),
    ("daw", 1, "string"),
    ("position", "here", None),
    ("position", float("inf"), "finite"),
    ("track", "t" * 201, "too long"),
    ("project_id", "p" * 65, "too long"),
    ("project_id", "a\x00b", "NUL"),
    ("preview", "2", None),
    ("stems", 3, None),
    ("reply_host", "h" * 256, "too long"),
    ("reply_port", 0, ">= 1"),
    ("reply_port", 65536, "<= 65535"),
    ("reply_port", 9000.5, "whole number"),
    ("reply_port", "port", None),
]


@pytest.mark.parametrize("key,value,fragment", BAD_VALUES,
                         ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD_VALUES)])
def test_bad_value_is_refused_naming_the_key(key, value, fragment):
    err = refused({key: value})
    if key == "melody_notes":
        assert "melody_notes" in err.message or "note" in err.message
    else:
        assert key in err.message, err.message
    if fragment is not None:
        assert fragment in err.message, err.message


@pytest.mark.parametrize("key,value", [("bpm", 10**400), ("seed", -(10**400)), ("name", 10**400),
                                       ("melody_notes", [[10**400, 0, 1, 100]])],
                         ids=["bpm", "seed", "name", "melody_notes"])
def test_huge_integer_is_a_request_error(key, value):
    refused({key: value})


def test_bad_value_table_covers_every_key():
    # "preset" has its own code (unknown_preset) and its own tests below
    keys = {k for k, _, _ in BAD_VALUES}
    assert keys == set(KNOWN_KEYS) - set(TRANSPORT_KEYS) - {"preset"}


# --- accepted forms: strings for numbers, 0/1/on/off for switches -------------------------------

COERCIONS = [
    ("duration", "12.5", "duration_s", 12.5),
    ("duration", " 4 ", "duration_s", 4.0),
    ("duration", 300, "duration_s", 300.0),
    ("bpm", "120", "bpm", 120.0),
    ("seed", "42", "seed", 42),
    ("seed", 42.0, "seed", 42),
    ("seed", 2**31 - 1, "seed", 2**31 - 1),
    ("top_k", "0", "top_k", 0),
    ("top_p", "0.9", "top_p", 0.9),
    ("temperature", "1e-3", "temperature", 0.001),
    ("variations", "3", "variations", 3),
    ("reply_port", "9000", "reply_port", 9000),
    ("position", "-2.5", "position", -2.5),
    ("loop", 1, "loop", True),
    ("loop", 0, "loop", False),
    ("loop", 1.0, "loop", True),
    ("loop", True, "loop", True),
    ("loop", "on", "loop", True),
    ("loop", "off", "loop", False),
    ("loop", " ON ", "loop", True),
    ("loop", "1", "loop", True),
    ("loop", "0", "loop", False),
    ("loop", "yes", "loop", True),
    ("loop", "false", "loop", False),
    ("preview", "true", "preview", True),
    ("stems", "no", "stems", False),
    ("keep_prompt", 1, "keep_prompt", True),
    ("format", "FLAC", "format", "flac"),
    ("format", " wav24 ", "format", "wav24"),
    ("normalize", "Peak", "normalize", "peak"),
    ("daw", "REAPER", "daw", "reaper"),
    ("name", 7, "name", "7"),
    ("name", 7.0, "name", "7"),
    ("name", 7.5, "name", "7.5"),
    ("track", 3, "track", "3"),
    ("model", "facebook/musicgen-small", "model", "facebook/musicgen-small"),
    ("melody_notes", "riff.1", "melody_notes", "riff.1"),
    ("melody_notes", [["60", "0", "1.5", "100"]], "melody_notes", [(60, 0.0, 1.5, 100)]),
    ("melody_notes", [(60, 0, 0, 0)], "melody_notes", [(60, 0.0, 0.0, 0)]),
    ("melody_notes", [[127, 1, 2, 127]] * 10000, "melody_notes", [(127, 1.0, 2.0, 127)] * 10000),
]


@pytest.mark.parametrize("key,value,field,expected", COERCIONS,
                         ids=[f"{k}-{i}" for i, (k, _, _, _) in enumerate(COERCIONS)])
def test_accepted_forms(key, value, field, expected):
    req = parse({key: value})
    got = getattr(req, field)
    assert got == expected
    assert type(got) is type(expected)
    if key == "melody_notes" and isinstance(expected, list):
        assert all(type(a) is type(b) for n, m in zip(got, expected) for a, b in zip(n, m))


def test_prompt_given_as_number_becomes_text():
    assert parse(prompt=808).prompt == "808"


def test_defaults():
    req = parse()
    assert (req.id, req.action, req.prompt) == ("job-1", "generate", "warm pads")
    assert req.length_s() == req.duration_s == 8.0
    assert (req.format, req.normalize, req.daw, req.variations) == ("wav", "loudness", "none", 1)
    assert req.melody is None and req.melody_notes is None and req.audio_path is None
    assert not (req.loop or req.preview or req.stems or req.keep_prompt)


# --- length: bpm and bars, the 300 s limit -----------------------------------------------------

@pytest.mark.parametrize("bpm,bars,beats_per_bar,length_s", [
    (120, 4, None, 8.0),
    ("120", "4", None, 8.0),
    (128, 8, None, 15.0),
    (90, 2, 3, 4.0),
    (100, 1, 7, 4.2),
    (60, 0.5, None, 2.0),
    (120, 150, None, 300.0),
])
def test_bpm_and_bars_give_an_exact_length(bpm, bars, beats_per_bar, length_s):
    params = {"bpm": bpm, "bars": bars, "duration": 5}
    if beats_per_bar is not None:
        params["beats_per_bar"] = beats_per_bar
    req = parse(params)
    assert req.length_s() == pytest.approx(length_s, rel=1e-12, abs=0)
    assert req.duration_s == 5.0  # duration stays as given; bpm and bars win


def test_bars_without_bpm_is_refused():
    err = refused({"bars": 4})
    assert "bars" in err.message and "bpm" in err.message


def test_bpm_without_bars_keeps_the_duration():
    req = parse(bpm=120, duration=3)
    assert req.bpm == 120.0 and req.bars is None and req.length_s() == 3.0


@pytest.mark.parametrize("params,ok", [
    ({"duration": 300}, True),
    ({"duration": "300"}, True),
    ({"duration": 300.001}, False),
    ({"duration": "300.001"}, False),
    ({"duration": 0.001}, True),
    ({"bpm": 120, "bars": 150}, True),          # exactly 300 s
    ({"bpm": 120, "bars": 150.0005}, False),    # 300.001 s
    ({"bpm": 20, "bars": 1000}, False),         # 12000 s
    ({"bpm": 60, "bars": 75, "beats_per_bar": 4}, True),
    ({"bpm": 60, "bars": 75, "beats_per_bar": 4.0001}, False),
])
def test_the_300_s_limit_at_the_edge(params, ok):
    if ok:
        assert 0 < parse(params).length_s() <= MAX_DURATION_S
    else:
        err = refused(params)
        assert "300" in err.message
        assert "duration" in err.message or "length" in err.message


# --- actions: continue and its audio ---------------------------------------------------------------

def test_continue_needs_audio_path():
    err = refused({}, action="continue", prompt=False)
    assert "audio_path" in err.message
    assert "audio_path" in refused({"audio_path": ""}, action="continue").message


def test_continue_with_audio_path_needs_no_prompt():
    req = parse_request({"audio_path": "/music/take 1.wav"}, action="continue", req_id="c1")
    assert req.action == "continue" and req.audio_path == "/music/take 1.wav" and req.prompt == ""


def test_audio_path_is_refused_for_generate():
    assert "audio_path" in refused({"audio_path": "/music/a.wav"}).message


@pytest.mark.parametrize("start,end,ok", [
    (0, None, True), (1, 2, True), (0, 0.001, True), ("1.5", "2", True),
    (2, 2, False), (3, 2, False), ("2", "1", False),
])
def test_continue_region_start_before_end(start, end, ok):
    params = {"audio_path": "a.wav", "start": start}
    if end is not None:
        params["end"] = end
    if ok:
        req = parse(params, action="continue")
        assert req.start_s == float(start) and req.end_s == (None if end is None else float(end))
    else:
        err = refused(params, code="bad_audio", action="continue")
        assert "start" in err.message and "end" in err.message


@pytest.mark.parametrize("action", ["remix", "", "GENERATE", None])
def test_unknown_action_is_refused(action):
    assert "action" in refused({}, action=action).message


# --- melody: file or notes, prompt rules --------------------------------------------------------

@pytest.mark.parametrize("notes", [[[60, 0, 1, 100]], "riff"])
def test_melody_and_melody_notes_are_exclusive(notes):
    err = refused({"melody": "tune.wav", "melody_notes": notes})
    assert "melody" in err.message and "melody_notes" in err.message


@pytest.mark.parametrize("params,action,ok", [
    ({"prompt": ""}, "generate", False),
    ({"prompt": "   \t "}, "generate", False),
    ({}, "generate", False),
    ({"prompt": "", "melody": "tune.wav"}, "generate", True),
    ({"prompt": "", "melody_notes": [[60, 0, 1, 100]]}, "generate", True),
    ({"prompt": "", "melody_notes": "riff"}, "generate", True),
    ({"prompt": "", "melody_notes": ""}, "generate", False),
    ({"prompt": "", "audio_path": "a.wav"}, "continue", True),
    ({"prompt": " ", "audio_path": "a.wav", "keep_prompt": 1}, "continue", True),
])
def test_empty_prompt_rules(params, action, ok):
    if ok:
        assert parse_request(params, action=action, req_id="p").prompt == ""
    else:
        assert "prompt" in refused(params, action=action, prompt=False).message


def test_prompt_is_stripped_and_limited_to_2000_characters():
    assert parse(prompt="  dub techno \n").prompt == "dub techno"
    assert parse(prompt="x" * 2000).prompt == "x" * 2000
    assert "2000" in refused({"prompt": "x" * 2001}).message


# --- ids ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("req_id", ["a", "A-z_0.9", "x" * 64, "take.1_v-2", "a...", "-"])
def test_valid_ids(req_id):
    assert parse(req_id=req_id).id == req_id


@pytest.mark.parametrize("req_id", ["", "x" * 65, "a b", "ä", "a/b", "a\\b", "a:b", "a\x00", " a", 5, None, b"ab",
                                    "..", ".hidden"])
def test_invalid_ids_are_refused(req_id):
    params = {"prompt": "x"}
    if req_id is not None:
        params["id"] = req_id
    with pytest.raises(RequestError) as info:
        parse_request(params)
    assert info.value.code == "bad_request" and "id" in info.value.message


@pytest.mark.parametrize("req_id", ["abc\n", "x" * 64 + "\n"], ids=["short", "64-chars"])
def test_id_with_a_trailing_newline_is_refused(req_id):
    with pytest.raises(RequestError):
        parse_request({"prompt": "x"}, req_id=req_id)


def test_id_comes_from_params_unless_given():
    assert parse_request({"prompt": "x", "id": "from-params"}).id == "from-params"
    assert parse_request({"prompt": "x", "id": "from-params"}, req_id="given").id == "given"


# --- unknown keys, transport keys, NUL -----------------------------------------------------------

@pytest.mark.parametrize("key", ["tempo", "Prompt", "duration_s", "length_beats", ""])
def test_unknown_key_is_refused_by_name(key):
    err = refused({key: 1})
    assert "unknown key" in err.message and repr(key) in err.message


def test_transport_keys_are_ignored():
    req = parse_request({"prompt": "x", "token": "s3cret", "id": "ignored-here", "action": "continue"},
                        req_id="r1")
    assert req.id == "r1" and req.action == "generate"
    assert "s3cret" not in json.dumps(req.to_dict())
    assert set(TRANSPORT_KEYS) == {"token", "id", "action"}


@pytest.mark.parametrize("key", ["prompt", "model", "melody", "out_dir", "name", "track", "reply_host"])
def test_nul_in_any_string_is_refused(key):
    err = refused({key: "a\x00b"})
    assert key in err.message and "NUL" in err.message


# --- presets --------------------------------------------------------------------------------------

PRESETS = {"lofi": {"prompt": "lofi hip hop", "bpm": 80, "bars": 4, "format": "flac"},
           "broken": {"prompt": "x", "tempo": 90}}


def test_preset_fills_keys_and_the_request_overrides_them():
    req = parse_request({"preset": "lofi"}, req_id="p1", presets=PRESETS)
    assert (req.prompt, req.bpm, req.bars, req.format, req.preset) == ("lofi hip hop", 80.0, 4.0, "flac", "lofi")
    assert req.length_s() == 12.0
    req = parse_request({"preset": "lofi", "prompt": "jazz", "bars": 2}, req_id="p1", presets=PRESETS)
    assert (req.prompt, req.bars, req.format) == ("jazz", 2.0, "flac")


@pytest.mark.parametrize("preset,presets,fragment", [
    ("nope", PRESETS, "known: broken, lofi"),
    ("lofi", None, "none configured"),
    ("lofi", {}, "none configured"),
    (["lofi"], PRESETS, "unknown preset"),
])
def test_unknown_preset(preset, presets, fragment):
    err = refused({"preset": preset}, code="unknown_preset", presets=presets)
    assert fragment in err.message


def test_a_preset_with_a_bad_key_is_refused():
    assert "tempo" in refused({"preset": "broken"}, presets=PRESETS).message


# --- to_dict / from_dict ----------------------------------------------------------------------

def test_round_trip_through_json():
    req = parse({"melody_notes": [[60, 0, 1, 100], [64, 1, 0.5, 90]], "bpm": 100, "bars": 2, "seed": 7,
                 "loop": "on", "format": "flac", "name": "Ünïcode name", "position": 12.25})
    d = req.to_dict()
    assert d["melody_notes"] == [[60, 0.0, 1.0, 100], [64, 1.0, 0.5, 90]]
    assert all(type(n) is list for n in d["melody_notes"])
    back = GenerationRequest.from_dict(json.loads(json.dumps(d)))
    assert back.to_dict() == d
    assert back.melody_notes == [[60, 0.0, 1.0, 100], [64, 1.0, 0.5, 90]]
    back.melody_notes = [tuple(n) for n in back.melody_notes]
    assert back == req
    assert math.isclose(back.length_s(), req.length_s())


def test_from_dict_ignores_keys_it_does_not_know():
    d = parse().to_dict()
    d["written_by_a_newer_version"] = 1
    assert GenerationRequest.from_dict(d) == parse()


def test_to_dict_keeps_a_notes_id_as_text():
    d = parse(melody_notes="riff").to_dict()
    assert d["melody_notes"] == "riff"
    assert GenerationRequest.from_dict(d).melody_notes == "riff"
