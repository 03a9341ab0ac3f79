"""MIDI into the real daemon through a JACK dummy server: pads fire presets, a played phrase
becomes the melody, MIDI clock sets the tempo, and results are announced over OSC."""

from __future__ import annotations

import json
import time
from pathlib import Path

import mido
import pytest

rtmidi = pytest.importorskip("rtmidi", reason="python-rtmidi (the [midi] extra) is not installed")
import soundfile as sf

from daemon_helpers import DaemonProc, OscClient, free_udp_port
from jack import jack_server, wait_until  # noqa: F401  (fixture)

IN_PORT = "musicgen-bridge:MusicGen Bridge"


class Pad:
    """A controller: a JACK client with one MIDI output port."""

    def __init__(self, name: str = "padctl"):
        self.rt = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name=name)
        self.rt.open_virtual_port("out")
        self.name = f"{name}:out"

    def send(self, *msgs):
        for m in msgs:
            self.rt.send_message(m.bytes() if isinstance(m, mido.Message) else list(m))

    def close(self):
        self.rt.close_port()
        self.rt.delete()


@pytest.fixture
def midi_daemon(jack_server, tiny_melody_model, tmp_path):
    announce = OscClient(free_udp_port())
    cfg = tmp_path / "live.toml"
    cfg.write_text(f"""
announce = ["127.0.0.1:{announce.port}"]

[presets.spark]
prompt = "punchy breakbeat"
bars = 1

[presets.tune]
prompt = "jazz piano"
duration = 1.0

[presets.groove]
prompt = "slow groove"
bars = 1

[midi]
api = "jack"
poll_s = 0.2
capture_bars = 4

[[midi.triggers]]
note = 36
channel = 10
action = "generate"
preset = "spark"

[[midi.triggers]]
note = 37
channel = 10
action = "melody"
preset = "tune"

[[midi.triggers]]
cc = 20
action = "cancel"

[[midi.triggers]]
note = 38
channel = 10
action = "jam"
preset = "spark"

[[midi.triggers]]
note = 39
channel = 10
action = "jam"
preset = "groove"
""")
    d = DaemonProc(tiny_melody_model, tmp_path / "state", tmp_path / "out", "--config", cfg, "--midi-in",
                   env={"JACK_DEFAULT_SERVER": jack_server.name, "JACK_NO_AUDIO_RESERVATION": "1"}).start()
    jack_server.wait_for_port(IN_PORT, timeout_s=20)
    pad = Pad()
    jack_server.connect(pad.name, IN_PORT)
    d.announce, d.pad, d.out = announce, pad, tmp_path / "out"
    yield d
    pad.close()
    announce.close()
    assert d.stop() == 0, d.log()[-3000:]


def test_pad_fires_preset_and_clip_lands(midi_daemon):
    d = midi_daemon
    pad, osc = d.pad, d.announce
    pad.send(mido.Message("note_on", note=36, velocity=0, channel=9))  # velocity 0 = note off: no fire
    pad.send(mido.Message("note_on", note=36, velocity=100, channel=0))  # wrong channel: no fire
    pad.send(mido.Message("note_on", note=36, velocity=100, channel=9), mido.Message("note_off", note=36, channel=9))
    pad.send(mido.Message("note_on", note=36, velocity=90, channel=9))  # retrigger: queued, not dropped
    first = osc.wait_for("/musicgen/done", timeout=120)
    osc.wait_for("/musicgen/done", timeout=120, pred=lambda a: a[0] != first[0])
    osc.drain(1.0)
    assert len(osc.messages("/musicgen/done")) == 2
    assert len(osc.messages("/musicgen/accepted")) == 2
    assert [a[2] for a in osc.messages("/musicgen/accepted")] == ["spark", "spark"]  # for listening devices
    clip = Path(first[1])
    assert clip.parent == d.out.resolve() and "punchy-breakbeat" in clip.name
    # no MIDI clock: bars use 120 bpm, 1 bar of 4/4 = 2 s
    assert sf.info(str(clip)).frames == 64000


def test_clock_tempo_and_captured_melody(midi_daemon):
    d = midi_daemon
    pad, osc = d.pad, d.announce
    bpm = 100.0
    tick_s = 60.0 / bpm / 24
    status = OscClient(d.port)
    try:
        t0 = time.monotonic()
        sent = 0
        phrase = [(60, 0), (64, 24), (67, 48), (72, 72)]  # one note per beat, in clock ticks
        pad.send([0xFA])  # start
        while sent < 24 * 6:
            delay = t0 + sent * tick_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for pitch, at in phrase:
                if sent == at:
                    pad.send(mido.Message("note_on", note=pitch, velocity=100))
                if sent == at + 20:
                    pad.send(mido.Message("note_off", note=pitch))
            pad.send([0xF8])
            sent += 1
        status.send("/musicgen/status")
        kv = status.wait_for("/musicgen/status", timeout=10)
        clock = dict(zip(kv[::2], kv[1::2]))["clock_bpm"]
        assert abs(clock - bpm) < 3.0, clock
        pad.send(mido.Message("note_on", note=37, velocity=100, channel=9))  # melody trigger
        done = osc.wait_for("/musicgen/done", timeout=120)
        meta = json.loads(Path(done[1] + ".json").read_text())
        assert meta["melody"] == "4 notes"
        notes = meta["parameters"]["melody_notes"]
        assert [n[0] for n in notes] == [60, 64, 67, 72]
        assert [round(n[1]) for n in notes] == [0, 1, 2, 3]  # beats from the clock-quantized capture
        assert abs(meta["parameters"]["bpm"] - bpm) < 3.0
    finally:
        status.close()


def test_pads_start_reprompt_and_stop_a_jam(midi_daemon):
    """Issue 19: a jam trigger starts a jam of its preset, another preset's trigger changes the
    jam's prompt from the next segment on, the sounding preset's trigger stops it; replies
    announced. The tiny model is far faster than playback: the jam waits (2 segments ahead)."""
    d = midi_daemon
    pad, osc = d.pad, d.announce
    pad.send(mido.Message("note_on", note=38, velocity=100, channel=9))
    acc = osc.wait_for("/musicgen/accepted", timeout=30, pred=lambda a: a[0].startswith("midi-jam-"))
    jam_id = acc[0].rsplit(".s", 1)[0]
    assert acc[2] == "spark"  # listening devices take it by preset
    osc.wait_for("/musicgen/jam_segment", jam_id, timeout=120)
    pad.send(mido.Message("note_on", note=39, velocity=100, channel=9))
    from_index = osc.wait_for("/musicgen/jam_prompt", jam_id, timeout=30)[1]
    seg = osc.wait_for("/musicgen/jam_segment", jam_id, timeout=120, pred=lambda a: a[1] >= from_index)
    meta = json.loads(Path(seg[3] + ".json").read_text())
    assert meta["prompt"] == "slow groove" and meta["jam"]["index"] == from_index
    assert sf.info(seg[3]).frames == 64000  # 1 bar of 4/4 at 120 (no clock), to the sample
    pad.send(mido.Message("note_on", note=39, velocity=100, channel=9))  # the sounding preset's pad
    ended = osc.wait_for("/musicgen/jam_ended", jam_id, timeout=120)
    assert ended[1] == "stopped"
    leads = [a[5] for a in osc.messages("/musicgen/jam_segment", jam_id)]
    assert max(leads) <= 3 * 1 + 0.5  # 1-bar segments: never more than 2 ready beyond the playing one
