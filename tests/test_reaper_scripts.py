"""The REAPER side (reaper_scripts/): every Lua file compiles with luac5.4, and the Lua
test suites (tests/lua/test_*.lua) pass under lua5.4 against the stand-in `reaper` table
(tests/lua/reaper_stub.lua).

The ReaPack index (index.xml, written by scripts/reapack_index.py) installs every action and the
lib/ folder as one package.

lua5.4/luac5.4 come from Debian's lua5.4 package (scripts/setup.sh --test installs it);
when they are missing these tests fail, they are not skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "reaper_scripts"
LUA_TESTS = ROOT / "tests" / "lua"

ACTIONS = {
    "MusicGen - Generate at time selection.lua",
    "MusicGen - Continue selected item.lua",
    "MusicGen - Melody from selected MIDI item.lua",
    "MusicGen - Settings.lua",
    "MusicGen - Import results (background).lua",
    "MusicGen - Import results now.lua",
}

LUA_FILES = sorted(SCRIPTS.rglob("*.lua")) + sorted(LUA_TESTS.glob("*.lua"))
LUA_SUITES = sorted(LUA_TESTS.glob("test_*.lua"))


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} not found: install Lua 5.4 (scripts/setup.sh --test, or apt-get install lua5.4)"
    return path


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_action_scripts_present_and_thin():
    found = {p.name for p in SCRIPTS.glob("*.lua")}
    assert found == ACTIONS
    for name in ACTIONS:
        text = (SCRIPTS / name).read_text(encoding="utf-8")
        code = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("--")]
        assert len(code) <= 5, f"{name}: keep the logic in reaper_scripts/lib/"
        assert 'debug.getinfo(1, "S").source' in text, f"{name}: must find lib/ from its own path"


@pytest.mark.parametrize("path", LUA_FILES, ids=_rel)
def test_lua_file_compiles(path: Path):
    proc = subprocess.run([_tool("luac5.4"), "-p", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("path", LUA_SUITES, ids=_rel)
def test_lua_suite(path: Path, tmp_path: Path):
    proc = subprocess.run(
        [_tool("lua5.4"), str(path)],
        cwd=tmp_path,  # the suites find everything from their own path, not the cwd
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 failed" in proc.stdout, proc.stdout


# ---- ReaPack --------------------------------------------------------------------------------
# index.xml as cfillion/reapack-index writes it (checked against its sources: <index version="1"
# name=...>, <category name=the package's folder>, <reapack name=file type="script" desc=...>,
# <version name author>, <source main="main"? file=path relative to the category>URL</source>;
# headers parsed as cfillion/metaheader does: "@tag value" or indented continuation lines, up to
# the first empty line).

def _reapack():
    import importlib.util

    spec = importlib.util.spec_from_file_location("reapack_index", ROOT / "scripts" / "reapack_index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reapack_index_is_fresh():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "reapack_index.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (ROOT / "index.xml").read_bytes() == _reapack().build_index()


def test_reapack_header_parsing_follows_metaheader():
    parse = _reapack().parse_header
    tags = parse("-- @description One line\n-- @version 1.2\n-- @provides\n--   [main] a.lua\n--   lib/*.lua\n"
                 "-- @noindex\n-- @about\n--   first\n--   second\n\n-- @after the empty line\n")
    assert tags == {"description": "One line", "version": "1.2", "provides": "[main] a.lua\nlib/*.lua",
                    "noindex": True, "about": "first\nsecond"}


def test_reapack_index_installs_every_action_and_the_whole_lib():
    import xml.etree.ElementTree as ET

    reapack = _reapack()
    root = ET.fromstring((ROOT / "index.xml").read_bytes())
    assert root.tag == "index" and root.get("version") == "1" and root.get("name")
    cats = root.findall("category")
    assert [c.get("name") for c in cats] == ["reaper_scripts"]
    pkgs = cats[0].findall("reapack")
    assert len(pkgs) == 1, "one package: the lib files may belong to one package only"
    pkg = pkgs[0]
    assert pkg.get("type") == "script" and pkg.get("desc")
    assert pkg.get("name") in ACTIONS
    versions = pkg.findall("version")
    assert len(versions) == 1
    project_version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert versions[0].get("name") == project_version, "the package's @version follows pyproject.toml"
    sources = versions[0].findall("source")
    by_file = {s.get("file") or pkg.get("name"): s for s in sources}
    lib = {f"lib/{p.name}" for p in (SCRIPTS / "lib").glob("*.lua")}
    assert set(by_file) == ACTIONS | lib, "every action and every lib file, nothing else"
    for name in ACTIONS:
        assert by_file[name].get("main") == "main", f"{name} goes into the Action List"
    for name in lib:
        assert by_file[name].get("main") is None, f"{name} is a library, not an action"
    for name, src in by_file.items():
        url = src.text
        assert url.startswith("https://") and url.endswith("/reaper_scripts/" + quote(name, safe="/()")), url
    # the files a script loads are all installed
    for path in SCRIPTS.rglob("*.lua"):
        for mod in re.findall(r'require\("([\w_]+)"\)', path.read_text(encoding="utf-8")):
            assert f"lib/{mod}.lua" in by_file, f"{path.name} needs lib/{mod}.lua"
    # everything else says @noindex, so the real reapack-index makes the same single package
    for path in SCRIPTS.rglob("*.lua"):
        tags = reapack.parse_header(path.read_text(encoding="utf-8"))
        if path.name == pkg.get("name"):
            assert "noindex" not in tags and tags["version"] == project_version
        else:
            assert tags == {"noindex": True}, f"{path.relative_to(ROOT)}: header must be '-- @noindex' alone"
