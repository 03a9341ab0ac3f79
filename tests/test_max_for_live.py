"""The Max for Live device: its JavaScript tests under Node, and its build.

- ``node --test max_for_live/tests/`` must pass (the device's plain functions and its Live-API glue
  against a stand-in Live). Node is part of the test set-up (scripts/setup.sh --test): a missing
  node is a failure, not a skip.
- ``max_for_live/build.py`` makes the .amxd and the bundled script from the text sources: the
  committed files must equal a fresh build, and the .amxd must hold the patcher unchanged.
- The patcher must be sound: every patch cord joins existing boxes through inlets and outlets
  they have, and every JavaScript file a box names sits next to the device.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
M4L = ROOT / "max_for_live"
PATCHER = M4L / "MusicGen Bridge.maxpat"
DEVICE = M4L / "MusicGen Bridge.amxd"


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("mgb_build", M4L / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def patcher():
    return json.loads(PATCHER.read_text(encoding="utf-8"))["patcher"]


def test_node_tests_pass():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: run scripts/setup.sh --test (it installs Node.js)")
    proc = subprocess.run([node, "--test", "max_for_live/tests/"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, "node --test failed:\n" + out[-8000:]
    assert "# fail 0" in out, out[-4000:]
    passed = [line for line in out.splitlines() if line.startswith("# pass ")]
    assert passed and int(passed[-1].split()[-1]) >= 50, out[-4000:]


def test_amxd_holds_the_patcher_unchanged(build, patcher):
    parsed = build.parse_amxd(DEVICE.read_bytes())
    assert parsed["chunks"] == ["ampf", "meta", "ptch"]
    assert parsed["device_type"] == "aaaa"          # an audio effect
    assert parsed["patcher_text"] == PATCHER.read_text(encoding="utf-8")
    assert parsed["patcher"]["patcher"] == patcher


def test_committed_outputs_equal_a_fresh_build(build):
    first = build.outputs()
    second = build.outputs()
    assert first == second, "the build is not deterministic"
    for path, data in first.items():
        assert path.exists(), f"{path.name} is missing: run python3 max_for_live/build.py"
        assert path.read_bytes() == data, f"{path.name} is stale: run python3 max_for_live/build.py"
    proc = subprocess.run([sys.executable, str(M4L / "build.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_amxd_chunk_layout(build):
    data = build.build_amxd(b'{"patcher": {"boxes": [], "lines": []}}')
    assert data[:4] == b"ampf" and data[4:8] == (4).to_bytes(4, "little") and data[8:12] == b"aaaa"
    assert data[12:16] == b"meta"
    ptch_at = 16 + 4 + int.from_bytes(data[16:20], "little")
    assert data[ptch_at:ptch_at + 4] == b"ptch"
    size = int.from_bytes(data[ptch_at + 4:ptch_at + 8], "little")
    assert data[ptch_at + 8 + size - 1] == 0 and ptch_at + 8 + size == len(data)
    with pytest.raises(ValueError):
        build.parse_amxd(data[:-3])
    with pytest.raises(ValueError):
        build.parse_amxd(b"ampf" + (4).to_bytes(4, "little") + b"aaaa" + b"ptch" + (8).to_bytes(4, "little") + b"mx@c\0\0\0\0")
    with pytest.raises(ValueError):
        build.build_amxd(b"not json")


def _all_patchers(p: dict):
    yield p
    for b in p.get("boxes", []):
        sub = b["box"].get("patcher")
        if sub:
            yield from _all_patchers(sub)


def test_every_patch_cord_joins_existing_boxes_in_range(patcher):
    count = 0
    for p in _all_patchers(patcher):
        boxes = {b["box"]["id"]: b["box"] for b in p["boxes"]}
        assert len(boxes) == len(p["boxes"]), "duplicate box ids"
        for line in p.get("lines", []):
            cord = line["patchline"]
            (src, outlet), (dst, inlet) = cord["source"], cord["destination"]
            assert src in boxes, f"cord from missing box {src}"
            assert dst in boxes, f"cord to missing box {dst}"
            assert 0 <= outlet < boxes[src]["numoutlets"], f"{src} has no outlet {outlet}: {cord}"
            assert 0 <= inlet < boxes[dst]["numinlets"], f"{dst} has no inlet {inlet}: {cord}"
            count += 1
        for box in boxes.values():
            if box.get("numoutlets"):
                assert len(box.get("outlettype", [])) == box["numoutlets"], box["id"]
    assert count > 50


def test_every_javascript_file_the_patcher_names_exists(patcher):
    named = []
    for p in _all_patchers(patcher):
        for b in p["boxes"]:
            box = b["box"]
            words = box.get("text", "").split()
            if box.get("maxclass") == "newobj" and words and words[0] in ("js", "v8", "jsui", "v8ui", "node.script"):
                assert len(words) >= 2, f"{box['id']}: {words[0]} without a file"
                named.append(words[1])
            if box.get("maxclass") in ("jsui", "v8ui") and box.get("filename"):
                named.append(box["filename"])
            attrs = box.get("saved_object_attributes", {})
            if attrs.get("filename"):
                named.append(attrs["filename"])
    assert "musicgen_bridge.js" in named
    for name in named:
        assert (M4L / name).is_file(), f"the patcher names {name}, which is not next to the device"
    for dep in patcher.get("dependency_cache", []):
        folder = M4L / dep.get("patcherrelativepath", ".")
        assert (folder / dep["name"]).is_file(), f"dependency {dep['name']} not found"


def test_daemon_reads_the_devices_no_prompt_placeholder():
    """The device sends "-" as the positional prompt when there is none (never an empty symbol);
    the daemon reads it as no prompt, keeps accepting "", and a preset's prompt stays."""
    from bridge.request import PROMPT_NONE, RequestError, parse_request

    assert PROMPT_NONE == "-"
    notes = [[60, 0, 1, 100]]
    assert parse_request({"id": "a", "prompt": "-", "melody_notes": notes}).prompt == ""
    assert parse_request({"id": "b", "prompt": "", "melody_notes": notes}).prompt == ""
    presets = {"pad": {"prompt": "ambient pad", "duration": 4}}
    assert parse_request({"id": "c", "prompt": "-", "preset": "pad"}, presets=presets).prompt == "ambient pad"
    assert parse_request({"id": "d", "prompt": "- dash"}).prompt == "- dash"
    with pytest.raises(RequestError, match="prompt is empty"):
        parse_request({"id": "e", "prompt": "-"})
