"""The Max for Live device: its JavaScript tests under Node, and its build.

- ``node --test max_for_live/tests/`` must pass (the device's plain functions and its Live-API glue
  against a stand-in Live). Node is part of the test set-up (scripts/setup.sh --test): a missing
  node is a failure, not a skip.
- ``max_for_live/build.py`` makes the devices and the bundled script from the text sources: the
  committed files must equal a fresh build, and each .amxd must hold the patcher unchanged.
- The frozen device (the one users install) is checked byte by byte against the format facts
  learned from Ableton's maxdevtools (its reader and its reference devices Test.amxd and
  FrozenTest.amxd): chunk layout, the ``mx@c`` header, the files back to back, the ``dlst``
  footer with one ``dire`` entry per file; and the patcher carries the top-level ``project``
  and ``latency`` keys every reference device has.
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
DEVICE_TWO_FILES = M4L / "MusicGen Bridge (two files).amxd"
BUNDLE = M4L / "musicgen_bridge.js"


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


@pytest.mark.parametrize("device", [DEVICE, DEVICE_TWO_FILES], ids=["frozen", "two-files"])
def test_amxd_holds_the_patcher_unchanged(build, patcher, device):
    parsed = build.parse_amxd(device.read_bytes())
    assert parsed["chunks"] == ["ampf", "meta", "ptch"]
    assert parsed["device_type"] == "aaaa"          # an audio effect
    assert parsed["patcher_text"] == PATCHER.read_text(encoding="utf-8")
    assert parsed["patcher"]["patcher"] == patcher
    assert parsed["frozen"] == (device == DEVICE)


def _chunks(data: bytes) -> dict:
    out, pos = {}, 0
    while pos < len(data):
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        out[data[pos:pos + 4]] = data[pos + 8:pos + 8 + size]
        pos += 8 + size
    assert pos == len(data)
    return out


def test_frozen_device_layout_byte_by_byte():
    """Read without build.py: every offset and size as the reference frozen device has them."""
    data = DEVICE.read_bytes()
    assert data[:4] == b"ampf" and data[12:16] == b"meta" and data[24:28] == b"ptch"
    ch = _chunks(data)
    assert ch[b"ampf"] == b"aaaa"
    assert ch[b"meta"] == (7).to_bytes(4, "little"), "the frozen reference's meta"
    assert _chunks(DEVICE_TWO_FILES.read_bytes())[b"meta"] == (1).to_bytes(4, "little"), "the unfrozen reference's"
    ptch = ch[b"ptch"]
    assert ptch[:4] == b"mx@c"
    assert int.from_bytes(ptch[4:8], "big") == 16
    footer_at = int.from_bytes(ptch[8:16], "big")
    footer = ptch[footer_at:]
    assert footer[:4] == b"dlst" and int.from_bytes(footer[4:8], "big") == len(footer)
    entries, pos = [], 8
    while pos < len(footer):
        assert footer[pos:pos + 4] == b"dire"
        size = int.from_bytes(footer[pos + 4:pos + 8], "big")
        fields, fpos, body = {}, 0, footer[pos + 8:pos + size]
        while fpos < len(body):
            fsize = int.from_bytes(body[fpos + 4:fpos + 8], "big")
            fields[body[fpos:fpos + 4].decode()] = body[fpos + 8:fpos + fsize]
            fpos += fsize
        assert fpos == len(body)
        assert list(fields) == ["type", "fnam", "sz32", "of32", "vers", "flag", "mdat"]
        assert len(fields["fnam"]) % 4 == 0 and fields["fnam"].endswith(b"\0")
        entries.append({k: (v if k in ("type", "fnam") else int.from_bytes(v, "big")) for k, v in fields.items()})
        pos += size
    assert [e["fnam"].rstrip(b"\0") for e in entries] == [b"MusicGen Bridge.amxd", b"musicgen_bridge.js"]
    assert [e["type"] for e in entries] == [b"JSON", b"TEXT"]
    assert [e["flag"] for e in entries] == [17, 0] and [e["vers"] for e in entries] == [0, 0]
    # the files lie back to back from byte 16 up to the footer
    assert entries[0]["of32"] == 16
    assert entries[1]["of32"] == 16 + entries[0]["sz32"]
    assert entries[1]["of32"] + entries[1]["sz32"] == footer_at
    device_json = ptch[16:16 + entries[0]["sz32"]]
    assert device_json.endswith(b"}\n\0") or device_json.endswith(b"}\0")
    assert device_json[:-1] == PATCHER.read_bytes()
    assert ptch[entries[1]["of32"]:footer_at] == BUNDLE.read_bytes(), "the script is inside, unchanged"
    # modification dates: seconds since 1904 (HFS+), a fixed date for reproducible builds
    assert all(3_600_000_000 < e["mdat"] < 4_200_000_000 for e in entries)


def test_frozen_device_embeds_every_file_its_patcher_names(build, patcher):
    parsed = build.parse_amxd(DEVICE.read_bytes())
    embedded = {f["name"] for f in parsed["files"]}
    for dep in patcher["dependency_cache"]:
        assert dep["name"] in embedded, f"{dep['name']} is not inside the frozen device"
    for b in patcher["boxes"]:
        words = b["box"].get("text", "").split()
        if b["box"].get("maxclass") == "newobj" and words[:1] == ["js"]:
            assert words[1] in embedded


def test_patcher_has_the_project_and_latency_keys_of_reference_devices(patcher):
    assert patcher["latency"] == 0
    project = patcher["project"]
    assert project["amxdtype"] == int.from_bytes(b"aaaa", "big"), "amxdtype is the ampf device type as a number"
    assert project["devpath"] == "." and project["devpathtype"] == 0
    assert set(project["contents"]) == {"patchers", "media", "code", "data", "other"}
    assert project["version"] == 1


def test_frozen_parser_refuses_broken_devices(build):
    good = build.build_frozen_amxd(b'{"patcher": {"boxes": [], "lines": []}}', "X.amxd", [("a.js", b"TEXT", b"post(1);")])
    parsed = build.parse_amxd(good)
    assert parsed["frozen"] and [f["name"] for f in parsed["files"]] == ["a.js"]
    assert parsed["files"][0]["data"] == b"post(1);"
    ptch_at = good.index(b"ptch")
    bad_offset = bytearray(good)
    bad_offset[ptch_at + 8 + 8:ptch_at + 8 + 16] = (10**6).to_bytes(8, "big")
    with pytest.raises(ValueError, match="header"):
        build.parse_amxd(bytes(bad_offset))
    no_footer = bytearray(good)
    at = no_footer.index(b"dlst")
    no_footer[at:at + 4] = b"xxxx"
    with pytest.raises(ValueError, match="dlst"):
        build.parse_amxd(bytes(no_footer))
    with pytest.raises(ValueError):
        build.build_frozen_amxd(b"{}", "X.amxd", [("a.js", b"TXT", b"")])


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
