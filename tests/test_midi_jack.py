"""Real MIDI through a private JACK server (dummy driver): the MidiSide's ports as other JACK
clients see them, triggers, capture, clock, unplug/replug and feedback.

Peers are python-rtmidi JACK ports of their own clients (like a controller's driver) and JACK's
example clients ``jack_midiseq`` / ``jack_midi_dump`` (separate processes). Ports are wired with
``jack_connect`` the way a user (or a patchbay) does it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import mido
import pytest

rtmidi = pytest.importorskip("rtmidi", reason="python-rtmidi (the [midi] extra) is not installed")

from bridge.midi import MidiAction, MidiConfig, MidiSide
from bridge.midi.ports import _delete

try:
    from tests.jack import JackServer, jack_server, wait_until  # noqa: F401  (fixture)
except ImportError:  # tests/ not importable as a package: load the helper by path
    _spec = importlib.util.spec_from_file_location("mgb_tests_jack",
                                                   Path(__file__).with_name("jack.py"))
    _jack = importlib.util.module_from_spec(_spec)
    sys.modules["mgb_tests_jack"] = _jack
    _spec.loader.exec_module(_jack)
    JackServer, jack_server, wait_until = _jack.JackServer, _jack.jack_server, _jack.wait_until

IN_PORT = "musicgen-bridge:MusicGen Bridge"          # as JACK names our virtual input
OUT_PORT = "musicgen-bridge-out:MusicGen Feedback"   # our virtual feedback output


class Controller:
    """A MIDI device as JACK sees it: a client with one MIDI output port."""

    def __init__(self, client: str, port: str) -> None:
        self.rt = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=client)
        self.rt.open_virtual_port(port)
        self.name = f"{client}:{port}"
        self._lock = threading.Lock()     # rtmidi's JACK output is not safe from two threads

    def send(self, *msgs) -> None:
        with self._lock:
            for m in msgs:
                self.rt.send_message(m.bytes() if isinstance(m, mido.Message) else list(m))

    def close(self) -> None:
        if self.rt is not None:
            _delete(self.rt)             # as the daemon frees its ports (see ports._delete)
            self.rt = None


class Listener:
    """A client with one MIDI input port (a pad controller's lights)."""

    def __init__(self, client: str, port: str) -> None:
        self.rt = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=client)
        self.rt.open_virtual_port(port)
        self.name = f"{client}:{port}"
        self.received: list[list[int]] = []

    def poll(self) -> list[list[int]]:
        while (ev := self.rt.get_message()) is not None:
            self.received.append(ev[0])
        return self.received

    def close(self) -> None:
        _delete(self.rt)


@pytest.fixture
def peers(jack_server):
    """Make Controller/Listener peers; all closed before the server stops."""
    made = []

    def make(kind, client, port):
        peer = kind(client, port)
        made.append(peer)
        return peer

    yield make
    for peer in made:
        peer.close()


@pytest.fixture
def make_side(jack_server):
    sides: list[MidiSide] = []

    def make(table, actions=None, on_action=None) -> MidiSide:
        cfg = MidiConfig.from_dict({"api": "jack", "poll_s": 0.2, **table})
        side = MidiSide(cfg, on_action=on_action or actions.append,
                        log=logging.getLogger("test.midi"))
        side.start()
        sides.append(side)
        return side

    yield make
    for side in sides:
        side.stop()


def note_on(note, velocity=100, channel=0):
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def note_off(note, channel=0):
    return mido.Message("note_off", note=note, channel=channel)


class ClockSender(threading.Thread):
    """Sends 0xF8 at 24 per beat on an absolute schedule (no drift from sleep overshoot)."""

    def __init__(self, port: Controller, bpm: float) -> None:
        super().__init__(daemon=True)
        self.port, self.interval_s = port, 60.0 / bpm / 24
        self.halt = threading.Event()
        self.sent = 0

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.halt.is_set():
            delay = t0 + self.sent * self.interval_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.port.send([0xF8])
            self.sent += 1

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=2)


def test_virtual_port_trigger_fires_preset(jack_server, make_side, peers):
    actions: list[MidiAction] = []
    side = make_side({"triggers": [
        {"note": 36, "channel": 10, "action": "generate", "preset": "spark"},
        {"cc": 20, "action": "cancel"},
        {"program": 3, "action": "continue_last", "preset": "more"}]}, actions)
    assert side.api == "jack" and side.inputs == ["virtual:MusicGen Bridge"]
    assert IN_PORT in jack_server.midi_ports()

    pads = peers(Controller, "controller", "Pads")
    jack_server.connect(pads.name, IN_PORT)
    assert IN_PORT in jack_server.connections()[pads.name]
    pads.send(note_on(36, channel=0),                 # wrong channel
              note_on(36, velocity=0, channel=9),     # velocity 0: a note-off
              note_on(36, channel=9),                 # fires
              mido.Message("control_change", control=20, value=100),
              mido.Message("control_change", control=20, value=127),   # no new edge
              mido.Message("program_change", program=3))
    wait_until(lambda: len(actions) >= 3, what="three actions")
    time.sleep(0.3)
    assert [(a.kind, a.preset, a.source) for a in actions] == [
        ("generate", "spark", "note 36 ch 10"), ("cancel", None, "cc 20 any ch"),
        ("continue_last", "more", "program 3 any ch")]


def test_failing_daemon_callback_does_not_stop_midi(jack_server, make_side, peers, caplog):
    calls = []

    def on_action(action):
        calls.append(action.preset)
        raise RuntimeError("daemon hiccup")

    make_side({"triggers": [{"note": 60, "action": "generate", "preset": "p"}]},
              on_action=on_action)
    keys = peers(Controller, "controller", "Keys")
    jack_server.connect(keys.name, IN_PORT)
    with caplog.at_level(logging.ERROR, logger="test.midi"):
        keys.send(note_on(60))
        wait_until(lambda: len(calls) == 1, what="first trigger")
        keys.send(note_on(60))
        wait_until(lambda: len(calls) == 2, what="second trigger after the failure")
    assert "daemon hiccup" in caplog.text


def test_capture_and_melody_trigger_with_clock(jack_server, make_side, peers):
    actions: list[MidiAction] = []
    # a half-beat grid (250 ms at 120 bpm): the sender's sleeps may overshoot on a busy machine
    side = make_side({"quantize": 0.5, "triggers": [
        {"note": 37, "channel": 10, "action": "melody", "preset": "tune"}]}, actions)
    keys = peers(Controller, "controller", "Keys")
    jack_server.connect(keys.name, IN_PORT)
    clock = ClockSender(keys, bpm=120)
    clock.start()
    try:
        wait_until(lambda: side.clock_bpm is not None, what="clock tempo")
        beat_s = 0.5
        t0 = time.monotonic() + 0.1

        def at(beat):
            time.sleep(max(0.0, t0 + beat * beat_s - time.monotonic()))

        at(0)
        keys.send(note_on(60, 90))
        keys.send([0xF0, 0x7D, 0x01, 0x02, 0x03, 0xF7])            # sysex in between
        at(1)
        # one JACK event carrying a raw byte stream, as a packet-based driver may deliver it:
        # a sysex, C4 off as note-on velocity 0, E4 on by running status, another sysex.
        # (It must end with 0xF7: RtMidi's JACK input treats an event that starts with 0xF0
        # and does not end with 0xF7 as an unfinished sysex and glues the next events to it.)
        keys.send([0xF0, 0x7D, 0xF7, 0x90, 60, 0, 64, 100, 0xF0, 0x7D, 0x01, 0xF7])
        at(2)
        keys.send(note_off(64), note_on(67, 110))                   # G4 never released
        at(3)
        keys.send(note_on(37, channel=9))                           # the trigger pad
        at(3.5)
        keys.send(note_off(37, channel=9))
        at(4)
        keys.send(note_on(37, channel=9))                           # fire again
        wait_until(lambda: len(actions) >= 2, what="two melody actions")
    finally:
        clock.stop()
    melody = actions[-1]
    assert len(actions) == 2 and melody.kind == "melody" and melody.preset == "tune"
    assert melody.bpm == pytest.approx(120, abs=1.0)
    assert melody.notes[:2] == [(60, 0.0, 1.0, 90), (64, 1.0, 1.0, 100)]
    # the second melody trigger ended the stuck G4 at beat 4 (the first one at beat 3)
    assert melody.notes[2] == (67, 2.0, 2.0, 110)
    assert all(n[0] != 37 for n in melody.notes)                   # trigger pad not recorded
    assert actions[0].notes[2] == (67, 2.0, 1.0, 110)


def test_clock_tempo_start_stop_and_timeout(jack_server, make_side, peers):
    side = make_side({}, [])
    daw = peers(Controller, "daw", "Clock Out")
    jack_server.connect(daw.name, IN_PORT)
    assert side.clock_bpm is None
    daw.send(mido.Message("start"))
    clock = ClockSender(daw, bpm=100)
    clock.start()
    try:
        time.sleep(2.0)
        bpm = side.clock_bpm
        assert bpm == pytest.approx(100, abs=1.0), bpm
        assert side.clock_running
        daw.send(mido.Message("stop"))
        wait_until(lambda: not side.clock_running, what="stop")
        time.sleep(0.5)
        assert side.clock_bpm == pytest.approx(100, abs=1.0)       # ticks go on while stopped
    finally:
        clock.stop()
    wait_until(lambda: side.clock_bpm is None, timeout_s=3.0, what="tempo to time out")


def test_connect_mode_unplug_and_replug(jack_server, make_side, peers):
    actions: list[MidiAction] = []
    side = make_side({"connect": "nanoKEY", "triggers": [
        {"note": 60, "action": "generate", "preset": "spark"}]}, actions)
    assert side.inputs == []
    assert IN_PORT not in jack_server.ports()                       # no virtual port
    other = peers(Controller, "other", "Drums")                     # does not match
    keys = Controller("nanoKEY2", "nanoKEY2 MIDI 1")
    try:
        wait_until(lambda: side.inputs == [keys.name], what="connection to the keyboard")
        assert any(c.startswith("musicgen-bridge") for c in jack_server.connections()[keys.name])
        assert jack_server.connections()[other.name] == []
        keys.send(note_on(60))
        wait_until(lambda: len(actions) == 1, what="trigger before unplug")

        keys.close()                                                # unplug
        wait_until(lambda: side.inputs == [], what="the side to notice the unplug")
        time.sleep(0.5)
        keys = Controller("nanoKEY2", "nanoKEY2 MIDI 1")            # replug
        wait_until(lambda: side.inputs == [keys.name], what="reconnection")
        keys.send(note_on(60, channel=4))
        wait_until(lambda: len(actions) == 2, what="trigger after replug")
    finally:
        keys.close()
    assert [a.preset for a in actions] == ["spark", "spark"]


def test_connect_mode_follows_a_restarted_jack_client(jack_server, make_side):
    """jack_midiseq (another process) loops C4; killing and restarting it = unplug + replug."""
    actions: list[MidiAction] = []
    side = make_side({"connect": "^Seq:", "triggers": [
        {"note": 60, "action": "generate", "preset": "spark"}]}, actions)
    seq = jack_server.spawn("jack_midiseq", "Seq", "12000", "0", "60", "2000")   # 4 per second
    wait_until(lambda: side.inputs == ["Seq:out"], what="connection to jack_midiseq")
    wait_until(lambda: len(actions) >= 2, what="triggers from jack_midiseq")
    seq.send_signal(signal.SIGINT)                                  # unplug
    seq.wait(timeout=5)
    wait_until(lambda: side.inputs == [], what="the side to notice jack_midiseq left")
    time.sleep(0.3)
    count = len(actions)
    time.sleep(0.5)
    assert len(actions) == count
    jack_server.spawn("jack_midiseq", "Seq", "12000", "0", "60", "2000")
    wait_until(lambda: side.inputs == ["Seq:out"], what="reconnection to jack_midiseq")
    wait_until(lambda: len(actions) >= count + 2, what="triggers after the restart")


def test_feedback_on_virtual_output_seen_by_jack_midi_dump(jack_server, make_side, tmp_path):
    side = make_side({"out": "MusicGen Feedback", "feedback": {
        "started": {"note": 36, "velocity": 127, "channel": 10},
        "done": {"note": 36, "velocity": 0, "channel": 10},
        "error": {"cc": 21, "value": 5}}}, [])
    assert side.outputs == ["virtual:MusicGen Feedback"]
    dump_log = tmp_path / "dump.txt"
    with open(dump_log, "w") as fh:
        jack_server.spawn("stdbuf", "-oL", "jack_midi_dump", "dump", stdout=fh)
    dump_in = jack_server.wait_for_port("dump:")
    jack_server.connect(OUT_PORT, dump_in)
    side.feedback("started", "job1")
    wait_until(lambda: "99 24 7f" in dump_log.read_text(), what="note-on in jack_midi_dump")
    side.feedback("done", "job1")
    side.feedback("error", "job2")
    side.feedback("cancelled", "job3")                              # not configured: nothing
    wait_until(lambda: "b0 15 05" in dump_log.read_text(), what="CC in jack_midi_dump")
    lines = [ln for ln in dump_log.read_text().splitlines() if ":" in ln]
    assert [ln.split(":", 1)[1].split()[:3] for ln in lines] == [
        ["99", "24", "7f"], ["99", "24", "00"], ["b0", "15", "05"]]


def test_feedback_connects_to_an_existing_port(jack_server, make_side, peers):
    lights = peers(Listener, "launchpad", "Pad Lights")
    side = make_side({"out_connect": "Pad Lights", "out": "MusicGen Feedback",
                      "feedback": {"done": {"note": 40, "velocity": 3, "channel": 2}}}, [])
    wait_until(lambda: side.outputs == [lights.name, "virtual:MusicGen Feedback"],
               what="connection to the lights, next to the virtual port")
    monitor = peers(Listener, "monitor", "In")
    jack_server.connect(OUT_PORT, monitor.name)
    time.sleep(0.5)                                                 # a few port checks
    assert side.outputs == [lights.name, "virtual:MusicGen Feedback"]
    side.feedback("done", "job1")
    wait_until(lambda: lights.poll() and monitor.poll(), what="feedback at both listeners")
    assert lights.received == monitor.received == [[0x91, 40, 3]]


def test_auto_api_and_started_before_jack(monkeypatch, tmp_path):
    """Started while no JACK server runs: start() does not raise, the port appears once JACK
    is up. With api auto and no ALSA sequencer here, JACK is the API chosen."""
    server = JackServer()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", server.name)
    monkeypatch.setenv("JACK_NO_AUDIO_RESERVATION", "1")
    cfg = MidiConfig.from_dict({"api": "auto", "poll_s": 0.1})
    side = MidiSide(cfg, on_action=lambda a: None, log=logging.getLogger("test.midi"))
    try:
        side.start()
        assert side.inputs == [] and side.api is None
        server.start()
        wait_until(lambda: side.inputs, timeout_s=15.0, what="the port after JACK came up")
        if not os.path.exists("/dev/snd/seq"):
            assert side.api == "jack"
            assert IN_PORT in server.midi_ports()
    finally:
        side.stop()
        server.stop()


def test_jack_server_dying_under_the_side_is_survived(jack_server, make_side):
    side = make_side({"out": "MusicGen Feedback", "feedback": {"done": {"note": 1}}}, [])
    jack_server.stop()
    time.sleep(0.6)
    side.feedback("done", "job1")                                   # logs, does not raise
    assert side.inputs == ["virtual:MusicGen Bridge"]
    t0 = time.monotonic()
    side.stop()
    assert time.monotonic() - t0 < 5.0
