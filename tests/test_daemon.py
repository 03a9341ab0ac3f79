"""The daemon as a subprocess with the tiny model, over real UDP: every address, reply and error."""

from __future__ import annotations

import json
import struct
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import write_tone
from daemon_helpers import DaemonProc, OscClient, free_udp_port


@pytest.fixture(scope="module")
def daemon(tiny_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("daemon")
    cfg = base / "config.toml"
    cfg.write_text('[presets.spark]\nprompt = "punchy breakbeat"\nduration = 0.5\n')
    d = DaemonProc(tiny_model, base / "state", base / "out", "--config", cfg, "--queue-size", 3).start()
    d.base = base
    yield d
    assert d.stop() == 0, d.log()[-3000:]


@pytest.fixture
def client(daemon):
    c = OscClient(daemon.port)
    yield c
    c.close()


def _no_partials(folder: Path):
    return not [p for p in folder.rglob("*") if p.name.endswith(".partial")]


def test_ping_and_status(client):
    client.send("/musicgen/ping")
    assert client.wait_for("/musicgen/pong", timeout=10)[0]
    client.send("/musicgen/status")
    status = client.wait_for("/musicgen/status", timeout=10)
    kv = dict(zip(status[::2], status[1::2]))
    assert kv["queue"] == 0 and "model" in kv and kv["device"] == "cpu" and isinstance(kv["clock_bpm"], float)


def test_generate_accepted_progress_done(client, daemon):
    out = daemon.base / "proj" / "MusicGen"
    client.send("/musicgen/generate", "g1", "dusty drums", "duration", 1.5, "seed", 7, "out_dir", str(out),
                "bpm", 120, "daw", "ableton", "position", 8)
    assert client.wait_for("/musicgen/accepted", "g1", timeout=10) == ["g1", 0]
    done = client.wait_for("/musicgen/done", "g1", timeout=120)
    paths = [Path(p) for p in done[1:]]
    assert len(paths) == 1 and paths[0].parent == out.resolve()
    assert sf.info(str(paths[0])).frames == 48000  # complete when done is sent
    meta = json.loads(Path(str(paths[0]) + ".json").read_text())
    assert meta["seed"] == 7 and meta["id"] == "g1" and meta["parameters"]["position"] == 8.0
    progress = [a[1] for a in client.messages("/musicgen/progress", "g1")]
    assert progress[0] == 0.0 and progress[-1] == 1.0 and progress == sorted(progress)
    assert all(isinstance(p, float) for p in progress)
    assert _no_partials(out)


def test_variations_and_ints_for_floats(client):
    # Max sends whole numbers as ints: duration 1 (int), bpm 120 (int), bars 1 (int)
    client.send("/musicgen/generate", "v1", "house", "bpm", 120, "bars", 1, "variations", 2, "loop", 1, "seed", 1)
    done = client.wait_for("/musicgen/done", "v1", timeout=120)
    assert len(done) == 3
    for p in done[1:]:
        assert sf.info(p).frames == 64000  # 1 bar of 4/4 at 120 bpm = 2.000 s


def test_continue_region(client, tmp_path):
    src = write_tone(tmp_path / "take.wav", sr=48000, seconds=3.0)
    client.send("/musicgen/continue", "c1", str(src), "start", 0.5, "end", 2.5, "duration", 1.0, "seed", 2)
    done = client.wait_for("/musicgen/done", "c1", timeout=120)
    meta = json.loads(Path(done[1] + ".json").read_text())
    assert meta["source"]["start_s"] == 0.5 and meta["source"]["end_s"] == 2.5
    assert sf.info(done[1]).frames == 32000


def test_preset_and_reply_port(client, daemon):
    other = OscClient(daemon.port)
    try:
        client.send("/musicgen/generate", "p1", "", "preset", "spark", "reply_port", other.port)
        done = other.wait_for("/musicgen/done", "p1", timeout=120)
        assert "punchy-breakbeat" in Path(done[1]).name
        assert other.messages("/musicgen/accepted", "p1")
        assert not client.messages("/musicgen/done", "p1")
    finally:
        other.close()


@pytest.mark.parametrize("args,code", [
    (["e1", "x", "duration", -1.0], "bad_request"),
    (["e2", "x", "duration", 0], "bad_request"),
    (["e3", "x", "duration", 1e9], "bad_request"),
    (["e4", "x", "duration", float("nan")], "bad_request"),
    (["e5", "x", "preset", "nope"], "unknown_preset"),
    (["e6", "x", "model", "large"], "unknown_model"),
    (["e7", "x", "bogus_key", 1], "bad_request"),
    (["e8", "x", "duration"], "bad_request"),
    (["e9", 42], "bad_request"),
    (["e10", "x", "melody", "/etc/passwd"], "bad_melody"),
    (["e11", "x", "format", "aiff"], "bad_request"),
    (["e12", "x", "seed", "abc"], "bad_request"),
    (["e13", "x" * 60000], "bad_request"),
    (["e14", "x", "out_dir", "/proc/nope/deeper"], "io_error"),
    (["bad id!", "x"], "bad_request"),
])
def test_bad_generate_requests(client, args, code):
    client.send("/musicgen/generate", *args)
    err = client.wait_for("/musicgen/error", timeout=10,
                          pred=lambda a: a[0] == (args[0] if args[0] != "bad id!" else ""))
    assert err[1] == code, err
    assert isinstance(err[2], str) and "\n" not in err[2] and len(err[2]) > 5


@pytest.mark.parametrize("path,code", [("/etc/passwd", "bad_audio"), ("/dev/zero", "bad_audio"),
                                        ("/nonexistent/file.wav", "bad_audio"), ("CORRUPT", "bad_audio"),
                                        ("TONE_SHORT_REGION", "bad_audio")])
def test_bad_continue_requests(client, tmp_path, path, code):
    extra = []
    if path == "CORRUPT":
        p = tmp_path / "corrupt.wav"
        p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(40)))
        path = str(p)
    elif path == "TONE_SHORT_REGION":
        path = str(write_tone(tmp_path / "t.wav", seconds=1.0))
        extra = ["start", 0.5, "end", 5.0]
    client.send("/musicgen/continue", "bc", path, *extra)
    err = client.wait_for("/musicgen/error", "bc", timeout=10)
    assert err[1] == code and "\n" not in err[2]


def test_huge_audio_file_is_refused(client, tmp_path):
    big = tmp_path / "huge.wav"
    import numpy as np

    with sf.SoundFile(str(big), "w", samplerate=8000, channels=1, subtype="PCM_U8", format="WAV") as fh:
        fh.write(np.zeros(8000 * 60 * 16, dtype=np.int16))  # 16 minutes (8-bit, 8 kHz: 7.7 MB on disk)
    client.send("/musicgen/continue", "huge", str(big))
    err = client.wait_for("/musicgen/error", "huge", timeout=10)
    assert err[1] == "bad_audio" and "too long" in err[2]


def test_garbage_never_kills_the_daemon(client, daemon):
    client.send_raw(b"")
    client.send_raw(b"\x00\x01\x02garbage")
    client.send_raw(b"/musicgen/generate\x00\x00,ss\x00")  # truncated
    client.send_raw(b"/musicgen/generate\x00\x00,zz\x00" + b"\x00" * 8)  # unknown type tags
    client.send_raw(b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 1000) + b"short")  # bad bundle
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    bundle = OscBundleBuilder(IMMEDIATELY)
    for addr in ("/musicgen/ping", "/musicgen/status"):
        bundle.add_content(OscMessageBuilder(address=addr).build())
    client.send_raw(bundle.build().dgram)
    client.send("/musicgen/unknown", "u1")
    client.send("/other/address", 1, 2.0)
    client.send("/musicgen/notes", "n1", 60, 0.0)
    client.send("/musicgen/cancel", 42)
    client.send("/musicgen/generate")
    assert client.wait_for("/musicgen/pong", timeout=10)  # from inside the bundle
    assert client.wait_for("/musicgen/error", "u1", timeout=10)[1] == "bad_request"
    assert client.wait_for("/musicgen/error", "n1", timeout=10)[1] == "bad_request"
    client.send("/musicgen/ping")
    client.received.clear()
    client.send("/musicgen/ping")
    client.wait_for("/musicgen/pong", timeout=10)
    assert daemon.alive()


def test_names_cannot_escape_out_dir(client, daemon):
    out = daemon.base / "escape" / "MusicGen"
    client.send("/musicgen/generate", "n2", "../../../etc/evil", "name", "../../x/..\\CON:*?", "duration", 0.5,
                "out_dir", str(out))
    done = client.wait_for("/musicgen/done", "n2", timeout=120)
    p = Path(done[1])
    assert p.parent == out.resolve()
    assert "/" not in p.name and "\\" not in p.name and ".." not in p.name and ":" not in p.name


def test_cancel_queued_and_running(client, daemon):
    out = daemon.base / "cancel-out"
    client.send("/musicgen/generate", "long1", "slow", "duration", 120.0, "out_dir", str(out))
    client.send("/musicgen/generate", "q2", "queued", "duration", 1.0, "out_dir", str(out))
    client.wait_for("/musicgen/accepted", "q2", timeout=10)
    client.wait_for("/musicgen/progress", "long1", timeout=30, pred=lambda a: a[1] > 0.0)
    client.send("/musicgen/cancel", "q2")
    assert client.wait_for("/musicgen/cancelled", "q2", timeout=10)
    client.send("/musicgen/cancel", "long1")
    assert client.wait_for("/musicgen/cancelled", "long1", timeout=30)
    client.drain(0.5)
    assert not client.messages("/musicgen/done", "long1") and not client.messages("/musicgen/done", "q2")
    assert not out.exists() or not list(out.glob("*.wav"))
    assert _no_partials(out) if out.exists() else True
    client.send("/musicgen/cancel", "never-was")
    assert client.wait_for("/musicgen/error", "never-was", timeout=10)[1] == "not_found"


def test_queue_overflow(client, daemon):
    ids = [f"qf{i}" for i in range(6)]
    client.send("/musicgen/generate", ids[0], "fill", "duration", 60.0)
    client.wait_for("/musicgen/progress", ids[0], timeout=30)
    for i in ids[1:]:
        client.send("/musicgen/generate", i, "fill", "duration", 0.2)
    err = client.wait_for("/musicgen/error", timeout=10, pred=lambda a: a[1] == "queue_full")
    assert err[0] in ids[4:]  # queue size 3: jobs 1-3 wait, the 4th waiting one is refused
    positions = [client.wait_for("/musicgen/accepted", i, timeout=10)[1] for i in ids[1:4]]
    assert positions == [1, 2, 3]
    client.send("/musicgen/cancel", ids[0])
    for i in ids[1:4]:
        client.wait_for("/musicgen/done", i, timeout=120)


def test_notes_then_generate_on_plain_model_is_refused(client):
    client.send("/musicgen/notes", "mn", 60, 0.0, 1.0, 100, 64, 1.0, 1.0, 100)
    client.send("/musicgen/generate", "mn", "jazz", "bpm", 100.0)
    assert client.wait_for("/musicgen/error", "mn", timeout=10)[1] == "bad_melody"


def test_inbox_request_and_result_file(daemon, tmp_path):
    inbox = daemon.base / "state" / "inbox"
    out = tmp_path / "Song" / "MusicGen"
    req = {"id": "rpr-1", "action": "generate", "prompt": "ambient pad", "bpm": 100, "bars": 1,
           "daw": "reaper", "out_dir": str(out), "position": 12.5, "track": "new", "seed": 3,
           "notes_for_test": None}
    del req["notes_for_test"]
    (inbox / "rpr-1.json.tmp").write_text(json.dumps(req))
    (inbox / "rpr-1.json.tmp").rename(inbox / "rpr-1.json")
    (inbox / "broken.json").write_text("{not json")
    bad = {"id": "rpr-2", "action": "generate", "prompt": "x" * 100_000, "out_dir": str(out)}
    (inbox / "rpr-2.json").write_text(json.dumps(bad))
    result = out / "results" / "rpr-1.json"
    end = time.time() + 120
    while not result.exists() and time.time() < end:
        time.sleep(0.2)
    data = json.loads(result.read_text())
    assert data["status"] == "done" and data["position"] == 12.5 and data["track"] == "new"
    assert sf.info(data["paths"][0]).frames == int(round(2.4 * 32000))
    assert not (inbox / "rpr-1.json").exists()
    err = json.loads((out / "results" / "rpr-2.json").read_text())
    assert err["status"] == "error" and err["code"] == "bad_request" and "too long" in err["message"]
    assert (inbox / "rejected" / "broken.json").exists()
    assert not [p for p in (out / "results").iterdir() if p.name.startswith(".")]


def test_kill_9_then_restart_delivers_once(tiny_model, tmp_path):
    state, out = tmp_path / "state", tmp_path / "out"
    port = free_udp_port()
    d = DaemonProc(tiny_model, state, out, port=port).start()
    c = OscClient(port)
    try:
        c.send("/musicgen/generate", "k1", "survive", "duration", 40.0, "seed", 9, "reply_port", c.port)
        c.send("/musicgen/generate", "k2", "queued behind", "duration", 0.5, "seed", 1, "reply_port", c.port)
        c.wait_for("/musicgen/accepted", "k2", timeout=10)
        c.wait_for("/musicgen/progress", "k1", timeout=60, pred=lambda a: 0.2 < a[1] < 0.9)
        d.kill9()
        assert not list(out.glob("*.wav"))
        d2 = DaemonProc(tiny_model, state, out, port=port).start()
        try:
            done1 = c.wait_for("/musicgen/done", "k1", timeout=180)
            done2 = c.wait_for("/musicgen/done", "k2", timeout=60)
            assert sf.info(done1[1]).frames == 40 * 32000
            assert Path(done2[1]).exists()
            c.drain(1.0)
            assert len(c.messages("/musicgen/done", "k1")) == 1 and len(c.messages("/musicgen/done", "k2")) == 1
            assert d2.stop() == 0
            # a third start delivers nothing again
            c.received.clear()
            d3 = DaemonProc(tiny_model, state, out, port=port).start()
            c.drain(2.0)
            assert not c.messages("/musicgen/done")
            assert d3.stop() == 0
        finally:
            if d2.alive():
                d2.stop()
        clips = sorted(out.glob("*.wav"))
        assert len(clips) == 2, clips
        assert _no_partials(out)  # the restart cleaned up
    finally:
        c.close()
        if d.alive():
            d.kill9()


def test_sigterm_keeps_running_job_journaled(tiny_model, tmp_path):
    state, out = tmp_path / "state", tmp_path / "out"
    port = free_udp_port()
    c = OscClient(port)
    d = DaemonProc(tiny_model, state, out, port=port).start()
    try:
        c.send("/musicgen/generate", "t1", "interrupted", "duration", 40.0, "reply_port", c.port)
        c.wait_for("/musicgen/progress", "t1", timeout=60, pred=lambda a: a[1] > 0.05)
        assert d.stop() == 0
        assert "interrupted by shutdown" in d.log()
        d2 = DaemonProc(tiny_model, state, out, port=port).start()
        c.wait_for("/musicgen/done", "t1", timeout=180)
        assert d2.stop() == 0
    finally:
        c.close()


def test_token_required(tiny_model, tmp_path):
    port = free_udp_port()
    d = DaemonProc(tiny_model, tmp_path / "state", tmp_path / "out", "--token", "s3cret", port=port).start(wait=False)
    c = OscClient(port)
    try:
        d.wait_ready(token="s3cret")
        c.send("/musicgen/ping")
        c.send("/musicgen/generate", "t1", "x", "duration", 0.5)
        c.send("/musicgen/generate", "t2", "x", "duration", 0.5, "token", "wrong")
        c.drain(1.5)
        assert not c.received  # refused requests get no answer (logged only)
        c.send("/musicgen/generate", "t3", "x", "duration", 0.5, "token", "s3cret")
        assert c.wait_for("/musicgen/done", "t3", timeout=120)
        assert "unauthorized" in d.log()
    finally:
        c.close()
        d.stop()


def test_roots_restrict_paths(tiny_model, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'roots = ["{allowed}"]\n')
    outside = write_tone(tmp_path / "outside.wav")
    inside = write_tone(allowed / "inside.wav")
    port = free_udp_port()
    d = DaemonProc(tiny_model, tmp_path / "state", allowed / "out", "--config", cfg, port=port).start()
    c = OscClient(port)
    try:
        c.send("/musicgen/continue", "r1", str(outside), "duration", 0.5)
        assert c.wait_for("/musicgen/error", "r1", timeout=10)[1] == "forbidden"
        c.send("/musicgen/generate", "r2", "x", "out_dir", str(tmp_path / "elsewhere"))
        assert c.wait_for("/musicgen/error", "r2", timeout=10)[1] == "forbidden"
        c.send("/musicgen/generate", "r3", "x", "out_dir", str(allowed / "sub" / ".." / ".." / "escape"))
        assert c.wait_for("/musicgen/error", "r3", timeout=10)[1] == "forbidden"
        c.send("/musicgen/continue", "r4", str(inside), "duration", 0.5)
        assert c.wait_for("/musicgen/done", "r4", timeout=120)
    finally:
        c.close()
        d.stop()


def test_non_loopback_without_token_refuses_to_start(tiny_model, tmp_path):
    d = DaemonProc(tiny_model, tmp_path / "state", tmp_path / "out", "--host", "0.0.0.0")
    d.start(wait=False)
    assert d.proc.wait(60) != 0
    lines = [line for line in d.log().splitlines() if line.strip()]
    assert lines[-1].startswith("musicgen-bridge: error: refusing to listen on 0.0.0.0 without --token")


@pytest.mark.parametrize("text,needle", [("osc_port = [1,2\n", "not valid TOML"),
                                         ('cpu_int8 = "yes"\n', "config key 'cpu_int8' must be bool, got 'yes'"),
                                         ("switch_models = 1\n", "config key 'switch_models' must be bool")])
def test_bad_config_is_one_line(tiny_model, tmp_path, text, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    d = DaemonProc(tiny_model, tmp_path / "state", tmp_path / "out", "--config", cfg)
    d.start(wait=False)
    assert d.proc.wait(60) != 0
    lines = [line for line in d.log().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in d.log(), d.log()


def test_cpu_int8_config_key_is_said_on_the_ready_line(tiny_model, tmp_path):
    """``cpu_int8 = true``: the ready line says the C step reads int8 weights, or a warning
    says why it cannot here; ``--no-cpu-int8`` on the command line wins over the file."""
    from bridge.engine import cpu_kernels

    cfg = tmp_path / "int8.toml"
    cfg.write_text("cpu_int8 = true\n")
    env = {cpu_kernels.INT8_ENV: ""}  # not set: the config decides
    d = DaemonProc(tiny_model, tmp_path / "state", tmp_path / "out", "--config", cfg, "--device", "cpu", env=env)
    d.start()
    try:
        ready = [line for line in d.log().splitlines() if " ready: " in line][-1]
        if cpu_kernels.isa() is not None and cpu_kernels.step_kernel(int8=True) is not None:
            assert "int8 decoder weights (" in ready and "-int8 C step)" in ready, ready
        else:
            assert "int8 decoder weights asked for but not used" in d.log() and "int8 decoder" not in ready
    finally:
        assert d.stop() == 0
    d = DaemonProc(tiny_model, tmp_path / "state", tmp_path / "out", "--config", cfg, "--device", "cpu",
                   "--no-cpu-int8", env=env).start()
    try:
        assert "int8 decoder weights" not in d.log()  # neither on nor asked for
    finally:
        assert d.stop() == 0


def test_liblo_oscsend_and_oscdump_peers(daemon, tmp_path):
    """liblo's command-line tools as the client: oscsend sends, oscdump shows the replies."""
    import queue
    import threading

    dump_port = free_udp_port()
    dump = subprocess.Popen(["oscdump", "-L", str(dump_port)], stdout=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in dump.stdout], daemon=True).start()
    try:
        time.sleep(0.5)
        subprocess.run(["oscsend", "localhost", str(daemon.port), "/musicgen/generate", "sssfsisi", "lo1",
                        "liblo peer", "duration", "0.5", "reply_port", str(dump_port), "seed", "4"], check=True)
        got = []  # (address, typetags, rest) per line: oscdump prints "<timetag> <address> <types> <args>"
        end = time.time() + 120
        while time.time() < end:
            try:
                parts = lines.get(timeout=1).split(None, 3)
            except queue.Empty:
                continue
            got.append((parts[1], parts[2], parts[3] if len(parts) > 3 else ""))
            if parts[1] == "/musicgen/done":
                break
        addresses = [g[0] for g in got]
        assert "/musicgen/accepted" in addresses, got
        accepted = got[addresses.index("/musicgen/accepted")]
        assert accepted[1] == "si" and accepted[2].startswith('"lo1" 0'), accepted
        progress = [g for g in got if g[0] == "/musicgen/progress"]
        assert progress and all(g[1] == "sf" for g in progress), progress  # 32-bit floats, never doubles
        assert got[-1][0] == "/musicgen/done" and got[-1][1] == "ss" and ".wav" in got[-1][2], got[-1]
    finally:
        dump.kill()


def test_max_for_live_messages_are_served(client, daemon, tmp_path):
    """The device's own message builders (Node) -> OSC with the device's type tags -> the daemon."""
    from pythonosc.osc_message_builder import OscMessageBuilder

    src = write_tone(tmp_path / "clip.wav", seconds=2.0)
    script = f"""
    const p = require({json.dumps(str(Path(__file__).resolve().parent.parent / "max_for_live" / "src" / "mgb_protocol.js"))});
    const notes = [];
    for (let i = 0; i < 600; i++) notes.push({{pitch: 60 + (i % 12), start_beats: i * 0.25, length_beats: 0.25, velocity: 100}});
    const out = [
      p.buildPing({{reply_port: {client.port}}}),
      p.buildGenerate("m4l-1", "warm rhodes", {{bpm: 120, bars: 1, beats_per_bar: 4, loop: true, seed: 5,
                        variations: 2, daw: "ableton", position: 16, reply_port: {client.port}}}),
      p.buildContinue("m4l-2", {json.dumps(str(src))}, {{start: 0.5, end: 1.5, duration: 1, reply_port: {client.port}}}),
      ...p.buildNotesMessages("m4l-3", notes),
      p.buildCancel("m4l-unknown", {{}}),
    ];
    console.log(JSON.stringify(out));
    """
    proc = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    messages = json.loads(proc.stdout)
    assert len(messages) > 5  # 600 notes need several datagrams under 8 kB
    for atoms in messages:
        builder = OscMessageBuilder(address=atoms[0]["v"])
        for atom in atoms[1:]:
            builder.add_arg(atom["v"], {"s": "s", "i": "i", "f": "f"}[atom["t"]])
        data = builder.build().dgram
        assert len(data) < 8192
        client.send_raw(data)
    assert client.wait_for("/musicgen/pong", timeout=10)
    done = client.wait_for("/musicgen/done", "m4l-1", timeout=120)
    assert len(done) == 3 and all(sf.info(p).frames == 64000 for p in done[1:])
    assert sf.info(client.wait_for("/musicgen/done", "m4l-2", timeout=120)[1]).frames == 32000
    assert client.wait_for("/musicgen/error", "m4l-unknown", timeout=10)[1] == "not_found"
    assert not client.messages("/musicgen/error", "m4l-3")  # all note chunks accepted


def test_preview_files_while_generating(client, daemon):
    out = daemon.base / "preview-out"
    client.send("/musicgen/generate", "pv1", "streaming", "duration", 20.0, "preview", 1, "out_dir", str(out))
    first = client.wait_for("/musicgen/preview", "pv1", timeout=120)
    path = Path(first[1])
    assert path.parent.name == "previews" and path.parent.parent.resolve() == out.resolve()
    info = sf.info(str(path))  # complete and valid when announced
    assert info.samplerate == 32000 and 0 < info.frames < 20 * 32000
    done = client.wait_for("/musicgen/done", "pv1", timeout=120)
    previews = client.messages("/musicgen/preview", "pv1")
    assert previews, "a streaming decoder sends previews"
    # every preview was a complete file when announced: it is gone now (removed at the end), but
    # the done clip is there and the preview folder holds no partial files
    assert not path.exists()
    assert Path(done[1]).exists()
    assert not [p for p in (out / "previews").iterdir()]
    log = daemon.log()
    assert "first preview after" in log
