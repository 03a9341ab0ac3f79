"""The REAPER side (reaper_scripts/): every Lua file compiles with luac5.4, and the Lua
test suites (tests/lua/test_*.lua) pass under lua5.4 against the stand-in `reaper` table
(tests/lua/reaper_stub.lua).

lua5.4/luac5.4 come from Debian's lua5.4 package (scripts/setup.sh --test installs it);
when they are missing these tests fail, they are not skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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
