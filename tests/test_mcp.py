"""`musicgen-bridge mcp`: the MCP SDK's own client over stdio, against a real daemon with the tiny model."""

from __future__ import annotations

import json
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import soundfile as sf

if not os.environ.get("CI"):  # CI installs the extra (scripts/setup.sh --test): there a missing SDK fails
    pytest.importorskip("mcp", reason="the [mcp] extra is not installed (pip install -e '.[mcp]')")

import anyio
from conftest import ROOT, run_cli, write_tone
from daemon_helpers import DaemonProc, free_udp_port
from mcp import ClientSession, StdioServerParameters, stdio_client

from bridge.config import ConfigError
from bridge.daemon_client import not_running_sentence, target_host
from bridge.mcp_server import placement_note, resolve_settings

TOOLS = {"generate", "continue_clip", "status", "cancel", "recent_clips"}
TOKEN = "s3cret token"


@pytest.fixture(scope="module")
def daemon(tiny_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("mcp")
    # with a token: every call below must send it (`mcp --token`), and a call without it gets no answer
    d = DaemonProc(tiny_model, base / "state", base / "out", "--token", TOKEN).start(wait=False)
    d.wait_ready(token=TOKEN)
    d.base = base
    yield d
    assert d.stop() == 0, d.log()[-3000:]


@asynccontextmanager
async def mcp_session(log_path: Path, *args):
    """The real `musicgen-bridge mcp` in a subprocess, driven by the SDK's stdio client."""
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "bridge", "mcp", *map(str, args)], env=env,
                                   cwd=str(ROOT))
    with open(log_path, "a") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def run(fn) -> None:
    anyio.run(fn)


def test_generate_with_progress_status_and_recent_clips(daemon, tmp_path):
    project_out = tmp_path / "My Song" / "MusicGen"
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value, total, message):
        progress.append((value, total, message))

    async def main():
        async with mcp_session(tmp_path / "mcp.log", "--osc-port", daemon.port, "--token", TOKEN,
                               "--output-dir", daemon.base / "out") as s:
            tools = (await s.list_tools()).tools
            assert {t.name for t in tools} == TOOLS
            gen = next(t for t in tools if t.name == "generate")
            assert gen.input_schema["required"] == ["prompt"]
            props = gen.input_schema["properties"]
            assert {"prompt", "bpm", "bars", "seed", "model", "daw", "position", "track", "out_dir", "wait"} <= set(props)
            assert ["ableton", "reaper", "none"] == next(a for a in props["daw"]["anyOf"] if "enum" in a)["enum"]
            assert all(t.description and len(t.description) > 40 for t in tools)
            assert all(p.get("description") for p in props.values())

            st = await s.call_tool("status", {})
            assert not st.is_error, text_of(st)
            assert st.structured_content["running"] == ""
            assert st.structured_content["device"] == "cpu"
            assert st.structured_content["daemon"] == f"127.0.0.1:{daemon.port}"

            res = await s.call_tool("generate", {"prompt": "dusty boom bap drums", "bpm": 120, "bars": 1, "seed": 7,
                                                 "daw": "reaper", "position": 12.5, "track": "new",
                                                 "out_dir": str(project_out)},
                                    progress_callback=on_progress)
            assert not res.is_error, text_of(res)
            out = res.structured_content
            assert out["status"] == "done" and out["seed"] == 7
            assert json.loads(text_of(res))["id"] == out["id"]  # the text content is the same JSON
            (clip,) = out["clips"]
            path = Path(clip["path"])
            assert path.parent == project_out and path.is_file() and "_s7" in path.name
            info = sf.info(str(path))
            assert info.frames == 2 * info.samplerate  # 1 bar of 4 beats at 120 bpm = 2 s exactly
            assert clip["duration_s"] == pytest.approx(2.0)
            # REAPER places it through its result file: the placement names it, and it is there
            assert out["placement"]["daw"] == "reaper" and out["placement"]["position"] == 12.5
            result_file = project_out / "results" / f"{out['id']}.json"
            assert str(result_file) in out["placement"]["note"]
            with anyio.fail_after(10):  # written right after the done reply, for REAPER's importer
                while not result_file.exists():
                    await anyio.sleep(0.05)
            assert json.loads(result_file.read_text())["position"] == 12.5

            recent = await s.call_tool("recent_clips", {"folder": str(project_out)})
            assert not recent.is_error, text_of(recent)
            (listed,) = recent.structured_content["clips"]
            assert listed["path"] == str(path) and listed["prompt"] == "dusty boom bap drums"
            assert listed["seed"] == 7 and listed["track"] == "new" and listed["bpm"] == 120
            # continue the clip just made: its first second, one new second
            cont = await s.call_tool("continue_clip", {"audio_path": str(path), "start": 0.0, "end": 1.0,
                                                       "duration": 1.0, "seed": 3, "out_dir": str(project_out)})
            assert not cont.is_error, text_of(cont)
            (c2,) = cont.structured_content["clips"]
            assert Path(c2["path"]).is_file() and c2["duration_s"] == pytest.approx(1.0)
            assert cont.structured_content["placement"]["daw"] == "none"
            # without a folder it looks in the daemon's output folder and the folders of this session
            recent = await s.call_tool("recent_clips", {"limit": 5})
            listed = recent.structured_content["clips"]
            assert [c["path"] for c in listed[:2]] == [c2["path"], str(path)]  # newest first
            assert listed[0]["action"] == "continue"

    run(main)
    fractions = [v for v, _, _ in progress]
    assert fractions, "no MCP progress notifications"
    assert all(0.0 <= v <= 1.0 for v in fractions) and all(a < b for a, b in zip(fractions, fractions[1:]))
    assert all(total == 1.0 for _, total, _ in progress)
    assert fractions[-1] > 0.5


def test_cancel_a_running_generate(daemon, tmp_path):
    out_dir = tmp_path / "cancelled"
    started = anyio.Event()
    seen: dict = {}

    async def on_progress(value, total, message):
        if value > 0:
            started.set()

    async def main():
        async with mcp_session(tmp_path / "mcp.log", "--osc-port", daemon.port, "--token", TOKEN) as s:
            async def long_generate():
                seen["generate"] = await s.call_tool(
                    "generate", {"prompt": "long ambient drone", "duration": 120, "out_dir": str(out_dir)},
                    progress_callback=on_progress)

            async with anyio.create_task_group() as tg:
                tg.start_soon(long_generate)
                with anyio.fail_after(120):
                    await started.wait()
                st = await s.call_tool("status", {})
                running = st.structured_content["running"]
                assert running.startswith("mcp-"), st.structured_content
                seen["cancel"] = await s.call_tool("cancel", {"job_id": running})
                seen["running"] = running

            # the assistant cancels its own generate request: the job is cancelled at the daemon too
            second = anyio.Event()

            async def on_progress2(value, total, message):
                if value > 0:
                    second.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: s.call_tool("generate", {"prompt": "another long drone", "duration": 120,
                                                               "out_dir": str(out_dir)},
                                                  progress_callback=on_progress2))
                with anyio.fail_after(120):
                    await second.wait()
                st = await s.call_tool("status", {})
                seen["second"] = st.structured_content["running"]
                tg.cancel_scope.cancel()
            with anyio.fail_after(30):
                while (await s.call_tool("status", {})).structured_content["running"] != "":
                    await anyio.sleep(0.2)

    run(main)
    assert seen["second"].startswith("mcp-") and seen["second"] != seen["running"]
    assert f"job {seen['second']}: cancel requested" in daemon.log()
    assert not seen["cancel"].is_error, text_of(seen["cancel"])
    assert seen["cancel"].structured_content["cancelled"] is True
    gen = seen["generate"]
    assert gen.is_error and text_of(gen).startswith("cancelled: ") and seen["running"] in text_of(gen)
    assert not out_dir.exists() or not [p for p in out_dir.iterdir() if p.is_file()]  # no files remain


def test_bad_arguments_give_the_daemons_code(daemon, tmp_path):
    async def main():
        async with mcp_session(tmp_path / "mcp.log", "--osc-port", daemon.port, "--token", TOKEN) as s:
            res = await s.call_tool("generate", {"prompt": "x", "duration": 1, "model": "large"})
            assert res.is_error and text_of(res).startswith("unknown_model: "), text_of(res)
            res = await s.call_tool("continue_clip", {"audio_path": str(tmp_path / "missing.wav")})
            assert res.is_error and text_of(res).startswith("bad_audio: "), text_of(res)
            res = await s.call_tool("continue_clip", {"audio_path": str(tone), "start": 2.0, "end": 1.0})
            assert res.is_error and text_of(res).startswith("bad_"), text_of(res)
            res = await s.call_tool("cancel", {"job_id": "no-such-job"})
            assert res.is_error and text_of(res).startswith("not_found: "), text_of(res)
            # what the schema already forbids never reaches the daemon, and still is a tool error
            res = await s.call_tool("generate", {"prompt": "x", "bpm": 1000, "bars": 1})
            assert res.is_error and "bpm" in text_of(res)
            assert res.structured_content is None or "error" not in (res.structured_content or {})
            res = await s.call_tool("generate", {"prompt": "x", "duration": 1, "model": "large"})
            assert res.structured_content["error"]["code"] == "unknown_model"
            assert "is not loaded" in res.structured_content["error"]["message"]
            # the daemon is fine afterwards, and wait=false returns once the job is queued
            res = await s.call_tool("generate", {"prompt": "quick one", "duration": 0.5, "wait": False,
                                                 "out_dir": str(tmp_path / "queued")})
            assert not res.is_error and res.structured_content["status"] == "accepted", text_of(res)
            job_id = res.structured_content["id"]
            with anyio.fail_after(60):
                while not (clips := (await s.call_tool("recent_clips", {"folder": str(tmp_path / "queued")}))
                           .structured_content["clips"]):
                    await anyio.sleep(0.2)
            assert clips[0]["job_id"] == job_id and Path(clips[0]["path"]).is_file()

    tone = write_tone(tmp_path / "take one.wav", seconds=1.0)
    run(main)
    assert daemon.alive()


def test_no_daemon_gives_one_clear_sentence(daemon, tmp_path):
    port = free_udp_port()  # nobody listens here

    async def main():
        async with mcp_session(tmp_path / "mcp.log", "--osc-port", port) as s:
            assert {t.name for t in (await s.list_tools()).tools} == TOOLS  # the server itself runs
            for name, args in [("status", {}), ("generate", {"prompt": "x"})]:
                res = await s.call_tool(name, args)
                assert res.is_error
                assert text_of(res) == not_running_sentence("127.0.0.1", port)
                assert res.structured_content["error"]["code"] == "daemon_unreachable"
            assert "musicgen-bridge serve" in text_of(res) and text_of(res).count(". ") == 0
        # a daemon with a token ignores calls without it: the same sentence, which names --token
        async with mcp_session(tmp_path / "mcp.log", "--osc-port", daemon.port) as s:
            res = await s.call_tool("status", {})
            assert res.is_error and text_of(res) == not_running_sentence("127.0.0.1", daemon.port)
            assert "--token" in text_of(res)

    run(main)
    assert "unauthorized" in daemon.log()


def listening_addresses(port: int) -> list[str]:
    """Addresses with a TCP socket listening on ``port`` (Linux /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                found.append("127.0.0.1" if addr == "0100007F" else addr)
    return found


def test_streamable_http_on_loopback(daemon, tmp_path):
    """`--http-port`: the same tools over streamable HTTP, bound to 127.0.0.1 only."""
    import socket
    import subprocess

    from mcp import Client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        http_port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = open(tmp_path / "mcp-http.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "mcp", "--http-port", str(http_port), "--osc-port",
                             str(daemon.port), "--token", TOKEN], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        async def main():
            with anyio.fail_after(60):
                while True:  # until it listens
                    try:
                        await (await anyio.connect_tcp("127.0.0.1", http_port)).aclose()
                        break
                    except OSError:
                        assert proc.poll() is None, (tmp_path / "mcp-http.log").read_text()
                        await anyio.sleep(0.2)
            async with Client(f"http://127.0.0.1:{http_port}/mcp") as c:
                assert {t.name for t in (await c.list_tools()).tools} == TOOLS
                res = await c.call_tool("status", {})
                assert not res.is_error, text_of(res)
                assert res.structured_content["device"] == "cpu"

        run(main)
        assert listening_addresses(http_port) == ["127.0.0.1"]
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def test_settings_come_from_the_daemons_config_and_flags_win(tmp_path):
    cfg = tmp_path / "daemon.toml"
    cfg.write_text('host = "0.0.0.0"\nosc-port = 9100\ntoken = "s3cret"\noutput_dir = "~/Clips"\nmodel = "small"\n')
    s = resolve_settings(config=str(cfg))
    assert (s["host"], s["osc_port"], s["token"]) == ("0.0.0.0", 9100, "s3cret")
    assert s["output_dir"] == os.path.expanduser("~/Clips")
    s = resolve_settings(config=str(cfg), osc_port=9200, token="other")
    assert (s["osc_port"], s["token"]) == (9200, "other")
    d = resolve_settings()
    assert (d["host"], d["osc_port"], d["token"]) == ("127.0.0.1", 9000, None)
    assert (target_host("0.0.0.0"), target_host("::"), target_host("10.0.0.5")) == ("127.0.0.1", "::1", "10.0.0.5")
    cfg.write_text("osc_port = 70000\n")
    with pytest.raises(ConfigError, match="osc_port must be 1-65535"):
        resolve_settings(config=str(cfg))


def test_cli_error_is_one_line(tmp_path):
    r = run_cli("mcp", "--config", tmp_path / "nope.toml", timeout=60)
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and "config file not found" in r.stderr


def test_without_the_extra_one_line_says_how_to_install_it():
    import subprocess

    code = ("import sys; sys.modules['mcp'] = None  # as if the [mcp] extra were not installed\n"
            "from bridge.cli import main; sys.exit(main(['mcp']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "pip install 'musicgen-bridge[mcp]'" in r.stderr


def test_placement_notes():
    assert "results/j1.json" in placement_note("reaper", 12.5, "2", "/p/MusicGen", "j1").replace(os.sep, "/")
    assert "at 12.5 s on track '2'" in placement_note("reaper", 12.5, "2", "/p/MusicGen", "j1")
    assert "at 8 beats" in placement_note("ableton", 8.0, None, "/p", "j1")
    assert placement_note(None, None, None, "/p", "j1") == "Not placed in a DAW: the files are in /p"
