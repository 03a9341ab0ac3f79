"""One protocol in three languages: the request-key table (bridge/protocol_keys.json) against the
daemon's own validation (bridge/request.py), and the copies the DAW sides are generated from it.

- scripts/protocol_tables.py wrote max_for_live/src/mgb_limits.js and
  reaper_scripts/lib/musicgen_limits.lua from the table: the committed files must be fresh;
- bridge/request.py must behave as the table says at every limit (each key's converter is called
  at and just past its minimum and maximum, with every choice, at the longest string);
- the Node suite (max_for_live/tests/limits.test.js, run by tests/test_max_for_live.py) and the
  Lua suite (tests/lua/test_limits.lua, run by tests/test_reaper_scripts.py) check their side
  against the same JSON file.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bridge import audio, request

ROOT = Path(__file__).resolve().parents[1]
TABLE = json.loads((ROOT / "bridge" / "protocol_keys.json").read_text(encoding="utf-8"))
KEYS = TABLE["keys"]


def _tables_module():
    spec = importlib.util.spec_from_file_location("protocol_tables", ROOT / "scripts" / "protocol_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_copies_are_fresh():
    tables = _tables_module()
    for path, data in tables.outputs().items():
        assert path.read_bytes() == data, f"{path.name} is stale: run python3 scripts/protocol_tables.py"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "protocol_tables.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_lua_writer_refuses_what_lua_cannot_read():
    with pytest.raises(ValueError, match="ASCII"):
        _tables_module().lua_module({"about": "caf\u00e9"})


def test_same_keys_as_the_daemon():
    assert set(KEYS) == set(request._KEYS)
    assert set(TABLE["transport_keys"]) == set(request.TRANSPORT_KEYS)
    assert TABLE["max_duration_s"] == request.MAX_DURATION_S
    assert sorted(KEYS["format"]["choices"]) == sorted(audio.FORMATS)
    assert sorted(KEYS["normalize"]["choices"]) == sorted(audio.NORMALIZATIONS)
    assert sorted(KEYS["daw"]["choices"]) == sorted(request.DAWS)
    assert sorted(TABLE["transport_keys"]["action"]["choices"]) == sorted(request.ACTIONS)


def _accepts(conv, value) -> bool:
    try:
        conv(value)
    except request.RequestError:
        return False
    return True


@pytest.mark.parametrize("key", sorted(KEYS))
def test_daemon_limits_match_the_table(key):
    spec = KEYS[key]
    _field, conv = request._KEYS[key]
    kind = spec["type"]
    if kind in ("float", "int"):
        lo, hi = spec.get("min"), spec.get("max")
        if lo is not None:
            assert _accepts(conv, lo) != bool(spec.get("min_open")), f"{key} at its minimum {lo}"
            assert not _accepts(conv, lo - 0.001 if kind == "float" else lo - 1), f"{key} below {lo}"
        else:
            assert _accepts(conv, -1e9), f"{key} has no minimum"
        if hi is not None:
            assert _accepts(conv, hi), f"{key} at its maximum {hi}"
            assert not _accepts(conv, hi + 0.001 if kind == "float" else hi + 1), f"{key} above {hi}"
        else:
            assert _accepts(conv, 1e9), f"{key} has no maximum"
        mid = (lo if lo is not None else 0) + 0.5
        if hi is None or mid <= hi:
            assert _accepts(conv, mid) == (kind == "float"), f"{key}: fractions {'refused' if kind == 'int' else 'taken'}"
    elif kind == "bool":
        assert _accepts(conv, 1) and _accepts(conv, 0) and not _accepts(conv, 2)
    elif kind == "string":
        n = spec["max_chars"]
        assert _accepts(conv, "x" * n) and not _accepts(conv, "x" * (n + 1)), f"{key}: at most {n} characters"
    elif kind == "choice":
        for choice in spec["choices"]:
            assert _accepts(conv, choice), f"{key}: {choice}"
        assert not _accepts(conv, "no-such-" + key)
    elif kind == "notes":
        p_lo, p_hi = spec["pitch"]
        v_lo, v_hi = spec["velocity"]
        b_lo, b_hi = spec["beats"]
        assert _accepts(conv, [[p_lo, b_lo, b_lo, v_lo], [p_hi, b_hi, b_hi, v_hi]])
        assert not _accepts(conv, [[p_hi + 1, 0, 1, 100]])
        assert not _accepts(conv, [[60, 0, 1, v_hi + 1]])
        assert not _accepts(conv, [[60, b_hi + 1, 1, 100]])
        assert not _accepts(conv, [[60, 0, 1, 100]] * (spec["max_notes"] + 1))
    else:
        pytest.fail(f"unknown type {kind} in the table")


def test_defaults_match_the_table():
    fields = {f.name: f for f in dataclasses.fields(request.GenerationRequest)}
    for key, spec in KEYS.items():
        if "default" not in spec:
            continue
        field_name = request._KEYS[key][0]
        assert fields[field_name].default == spec["default"], key


def test_jam_keys_agree_with_bridge_jam():
    from bridge import jam
    from bridge.errors import RequestError
    from bridge.osc_handlers import JAM_COMMANDS

    table = TABLE["jam"]
    assert sorted(JAM_COMMANDS) == table["commands"]
    assert sorted(jam.REFUSED_KEYS) == table["refused"] and sorted(jam.LOSSLESS) == table["formats"]
    assert tuple(table["keys"]) == jam.JAM_KEYS and jam.MAX_JAM_ID_CHARS == table["max_id_chars"]
    assert set(table["refused"]) <= set(KEYS) and set(table["required"]) <= set(KEYS)
    base = {"bpm": 120, "bars": 1}
    for pos, key in enumerate(jam.JAM_KEYS, start=1):
        spec = table["keys"][key]
        for ok in (spec["min"], spec["max"]):
            assert jam.parse_start({**base, key: ok}, "j")[pos] == ok
        for bad in (spec["min"] - 1, spec["max"] + 1, spec["min"] + 0.5):
            with pytest.raises(RequestError):
                jam.parse_start({**base, key: bad}, "j")
        assert jam.parse_start(base, "j")[pos] == spec["default"]
    jam.parse_start(base, "j" * table["max_id_chars"])
    with pytest.raises(RequestError):
        jam.parse_start(base, "j" * (table["max_id_chars"] + 1))
    for fmt in KEYS["format"]["choices"]:
        if fmt in table["formats"]:
            jam.parse_start({**base, "format": fmt}, "j")
        else:
            with pytest.raises(RequestError):
                jam.parse_start({**base, "format": fmt}, "j")
