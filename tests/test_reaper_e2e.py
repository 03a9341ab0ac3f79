"""End to end, REAPER side: the daemon (tiny test model) serves a request written by the
real "Generate at time selection" action, and the real background importer places the
daemon's real clip.

REAPER itself is replaced by the stand-in `reaper` table (tests/lua/reaper_stub.lua); the
request, the daemon, the clip and the result file are real:

1. `musicgen-bridge make-test-model DIR` builds the tiny random model (once per session);
2. `musicgen-bridge serve --model DIR --state-dir S --osc-port P --output-dir O` runs;
3. tests/lua/e2e_generate.lua runs the generate action with the inbox set to S/inbox and a
   saved project at <tmp>/Song/E2E.rpp with a one-bar time selection (2-4 s at 120 bpm);
4. the daemon writes <tmp>/Song/MusicGen/results/<id>.json (contract: docs/protocol.md);
5. tests/lua/e2e_import.lua runs the importer on that result in the project reopened with
   its saved ExtState (its identity, echoed by the daemon in result["request"]["project_id"]);
   the item must reference the real .wav, sit at 2.0 s on a new track named after the
   prompt, and the result must have moved to results/imported/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LUA_DIR = ROOT / "tests" / "lua"
PROMPT = "e2e test tone"
RESULT_TIMEOUT_S = 120


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("musicgen-bridge")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("musicgen-bridge")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from bridge.cli import main; sys.exit(main())"]


def _lua() -> str:
    path = shutil.which("lua5.4")
    assert path, "lua5.4 not found: install Lua 5.4 (scripts/setup.sh --test, or apt-get install lua5.4)"
    return path


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def test_model(tmp_path_factory) -> Path:
    model_dir = tmp_path_factory.mktemp("reaper-e2e-model")
    proc = subprocess.run(
        _cli() + ["make-test-model", str(model_dir)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"make-test-model failed:\n{proc.stdout}\n{proc.stderr}"
    return model_dir


@pytest.fixture
def daemon(test_model: Path, tmp_path: Path):
    state_dir = tmp_path / "state"
    output_dir = tmp_path / "default-output"
    log_path = tmp_path / "daemon.log"
    port = _free_udp_port()
    log = open(log_path, "w")
    proc = subprocess.Popen(
        _cli()
        + [
            "serve",
            "--model", str(test_model),
            "--state-dir", str(state_dir),
            "--osc-port", str(port),
            "--output-dir", str(output_dir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    info = {"proc": proc, "state_dir": state_dir, "inbox": state_dir / "inbox", "log": log_path}
    try:
        yield info
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        log.close()


def _run_lua(script: Path, env_extra: dict[str, str], cwd: Path) -> dict:
    env = dict(os.environ, **env_extra)
    proc = subprocess.run([_lua(), str(script)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _wav_seconds(path: Path) -> float:
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / info.samplerate


def test_generate_action_to_imported_clip(daemon, tmp_path: Path):
    project_dir = tmp_path / "Song"
    project_dir.mkdir()
    env = {"MGB_PROJECT_DIR": str(project_dir), "MGB_INBOX": str(daemon["inbox"]), "MGB_PROMPT": PROMPT}

    # 1. the generate action writes a real request into the daemon's inbox
    sent = _run_lua(LUA_DIR / "e2e_generate.lua", env, tmp_path)
    request_id = sent["id"]
    out_dir = Path(sent["out_dir"])
    assert out_dir == project_dir / "MusicGen"
    assert sent["request"]["position"] == 2
    assert sent["request"]["bpm"] == 120 and sent["request"]["bars"] == 1

    # 2. the daemon picks it up and writes the result into the project folder
    result_path = out_dir / "results" / f"{request_id}.json"
    deadline = time.monotonic() + RESULT_TIMEOUT_S
    while not result_path.exists():
        if daemon["proc"].poll() is not None:
            pytest.fail(f"the daemon exited ({daemon['proc'].returncode}):\n{daemon['log'].read_text()}")
        if time.monotonic() > deadline:
            rejected = list((daemon["inbox"] / "rejected").glob("*")) if (daemon["inbox"] / "rejected").exists() else []
            pytest.fail(
                f"no result {result_path} after {RESULT_TIMEOUT_S} s; inbox now "
                f"{sorted(p.name for p in daemon['inbox'].glob('*'))}, rejected {rejected}\n"
                f"daemon log:\n{daemon['log'].read_text()}"
            )
        time.sleep(0.25)
    result = json.loads(result_path.read_text())
    assert result["status"] == "done", result
    project_id = sent["request"]["project_id"]
    assert project_id.startswith("{") and project_id.endswith("}"), project_id
    assert result["request"]["project_id"] == project_id, "the daemon echoes the project's identity"
    assert result["id"] == request_id
    clip = Path(result["paths"][0])
    assert clip.suffix == ".wav" and clip.exists()
    assert clip.parent == out_dir
    assert not (daemon["inbox"] / f"{request_id}.json").exists(), "the daemon removes handled requests"

    # 3. the background importer places the real clip
    env["MGB_PROJECT_EXT"] = json.dumps(sent["project_ext"])  # saved in and loaded from the .rpp
    placed = _run_lua(LUA_DIR / "e2e_import.lua", env, tmp_path)
    assert placed["console"] == "", placed["console"]
    assert len(placed["tracks"]) == 1
    track = placed["tracks"][0]
    assert track["name"] == PROMPT
    assert len(track["items"]) == 1
    item = track["items"][0]
    assert item["position"] == pytest.approx(2.0)
    assert item["length"] == pytest.approx(_wav_seconds(clip), abs=1e-6)
    assert item["length"] == pytest.approx(2.0, abs=0.1), "one bar at 120 bpm"
    assert [t["file"] for t in item["takes"]] == [str(clip)]
    assert item["takes"][0]["name"] == PROMPT
    assert f"seed: {result['seed']}" in item["notes"]
    assert placed["undo_points"] and len(placed["undo_points"]) == 1
    assert not result_path.exists()
    assert (out_dir / "results" / "imported" / f"{request_id}.json").exists()
    assert placed["pending"] == [], "the project no longer waits for the imported result"
