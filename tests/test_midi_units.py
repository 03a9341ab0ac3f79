"""MIDI side on plain mido messages and bytes: config, byte parser, triggers, capture, clock,
and MidiSide's wiring (through ``inject``, no ports). Fast; no JACK needed."""

from __future__ import annotations

import logging
import random
import re
import tomllib
from pathlib import Path

import mido
import pytest

pytest.importorskip("rtmidi", reason="python-rtmidi (the [midi] extra) is not installed; "
                    "MidiConfig refuses MIDI without it")

from bridge.midi import (ClockFollower, MidiAction, MidiConfig, MidiConfigError, MidiSide,
                         MidiStreamParser, PhraseCapture, TriggerMatcher)
from bridge.midi.config import Trigger, pattern_matches

DOCS = Path(__file__).resolve().parent.parent / "docs" / "midi.md"


def note_on(note, velocity=100, channel=0):
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def note_off(note, channel=0):
    return mido.Message("note_off", note=note, channel=channel)


def cc(control, value, channel=0):
    return mido.Message("control_change", control=control, value=value, channel=channel)


# --- config ---------------------------------------------------------------------------------------

def test_config_defaults():
    cfg = MidiConfig.from_dict({})
    assert cfg.enabled and cfg.in_name == "MusicGen Bridge" and cfg.connect is None
    assert cfg.out_name is None and cfg.api == "auto"
    assert cfg.capture_bars == 4 and cfg.quantize == 0.25 and cfg.capture_beats == 16
    assert cfg.triggers == () and cfg.feedback == {}
    assert MidiConfig.from_dict(None).in_name == "MusicGen Bridge"


def test_config_full_table_and_cli_overrides():
    table = {
        "in": "Pads In", "connect": "nanoPAD", "out": "Lights", "api": "JACK",
        "capture_bars": 2, "quantize": 0.5, "capture_channel": 1,
        "triggers": [
            {"note": 36, "channel": 10, "action": "generate", "preset": "spark"},
            {"cc": 20, "action": "cancel"},
            {"program": 3, "action": "continue_last", "preset": "spark"},
            {"note": 37, "action": "melody"},
            {"note": 38, "action": "arm_capture"},
        ],
        "feedback": {"started": {"note": 36, "velocity": 127, "channel": 10},
                     "done": {"cc": 21, "value": 0}, "error": {"program": 5}},
    }
    cfg = MidiConfig.from_dict(table, presets={"spark"})
    assert cfg.api == "jack" and cfg.capture_channel == 0 and cfg.capture_beats == 8
    assert cfg.triggers[0] == Trigger("note", 36, 9, "generate", "spark")
    assert cfg.triggers[1] == Trigger("cc", 20, None, "cancel", None)
    assert cfg.triggers[2].kind == "program" and cfg.triggers[2].number == 3
    assert cfg.feedback["started"].message() == mido.Message("note_on", channel=9, note=36,
                                                             velocity=127)
    assert cfg.feedback["done"].message() == cc(21, 0)
    assert cfg.feedback["error"].message() == mido.Message("program_change", program=5)

    cli = {"in_name": "Other", "connect": None, "out_name": None, "api": "alsa"}
    cfg = MidiConfig.from_dict(table, cli_overrides=cli)
    assert (cfg.in_name, cfg.connect, cfg.out_name, cfg.api) == ("Other", "nanoPAD", "Lights",
                                                                 "alsa")
    cfg = MidiConfig.from_dict({}, cli_overrides={"connect": "Keys", "out_name": "FB"})
    assert cfg.connect == "Keys" and cfg.out_name == "FB"


@pytest.mark.parametrize("table, fragment", [
    ({"triggers": [{"note": 60, "action": "explode", "preset": "x"}]}, "unknown action 'explode'"),
    ({"triggers": [{"note": 128, "action": "cancel"}]}, "note 128 is out of range 0-127"),
    ({"triggers": [{"note": -1, "action": "cancel"}]}, "note -1 is out of range 0-127"),
    ({"triggers": [{"cc": 300, "action": "cancel"}]}, "cc 300 is out of range"),
    ({"triggers": [{"note": 60.0, "action": "cancel"}]}, "note must be an integer"),
    ({"triggers": [{"note": True, "action": "cancel"}]}, "note must be an integer"),
    ({"triggers": [{"note": 60, "channel": 0, "action": "cancel"}]}, "channel 0 is out of range 1-16"),
    ({"triggers": [{"note": 60, "channel": 17, "action": "cancel"}]}, "channel 17 is out of range"),
    ({"triggers": [{"note": 60, "cc": 1, "action": "cancel"}]}, "exactly one of note, cc, program"),
    ({"triggers": [{"action": "cancel"}]}, "exactly one of note, cc, program (got none)"),
    ({"triggers": [{"note": 60, "action": "cancel", "chanel": 1}]}, "unknown key 'chanel'"),
    ({"triggers": [{"note": 60, "action": "generate"}]}, "generate needs a preset"),
    ({"triggers": [{"note": 60, "action": "cancel", "preset": "x"}]}, "cancel takes no preset"),
    ({"triggers": [{"note": 60, "action": "jam"}]}, "jam needs a preset"),
    ({"triggers": [{"note": 60, "action": "jam_stop", "preset": "x"}]}, "jam_stop takes no preset"),
    ({"triggers": {"note": 60}}, "array of tables"),
    ({"trigers": []}, "unknown key 'trigers'"),
    ({"api": "pulse"}, "unknown MIDI API 'pulse'"),
    ({"quantize": -0.25}, "quantize: -0.25 is out of range"),
    ({"capture_bars": "4"}, "capture_bars: must be a number"),
    ({"capture_channel": 20}, "channel 20 is out of range 1-16"),
    ({"in": ""}, "midi.in: port name must be a non-empty string"),
    ({"feedback": {"finished": {"note": 36}}}, "unknown event 'finished'"),
    ({"feedback": {"done": {"note": 36, "velocity": 200}}}, "velocity: 200 is out of range"),
    ({"feedback": {"done": {"cc": 36, "velocity": 1}}}, "a cc takes value, not velocity"),
    ({"feedback": {"done": 36}}, "must be a table"),
])
def test_config_errors_are_one_line_and_name_the_key(table, fragment):
    with pytest.raises(MidiConfigError) as err:
        MidiConfig.from_dict(table)
    message = str(err.value)
    assert fragment in message
    assert "\n" not in message and message.startswith("midi")


def test_config_unknown_preset_and_bad_cli_values():
    table = {"triggers": [{"note": 60, "action": "generate", "preset": "nope"}]}
    MidiConfig.from_dict(table)  # presets unknown to the caller: accepted
    with pytest.raises(MidiConfigError, match=r"midi.triggers\[0\]: unknown preset 'nope'"):
        MidiConfig.from_dict(table, presets={"spark"})
    with pytest.raises(MidiConfigError, match="--midi-api: unknown MIDI API 'oss'"):
        MidiConfig.from_dict({}, cli_overrides={"api": "oss"})
    with pytest.raises(MidiConfigError, match="unknown command-line override"):
        MidiConfig.from_dict({}, cli_overrides={"port": "x"})


def test_pattern_matches_substring_and_regex():
    assert pattern_matches("nanokey", "nanoKEY2:nanoKEY2 MIDI 1 20:0")
    assert pattern_matches("Launchpad (MIDI)", "Launchpad (MIDI):out")      # literal parentheses
    assert pattern_matches(r"^Seq:o.t$", "Seq:out")
    assert not pattern_matches("Keys", "Seq:out")
    assert not pattern_matches("[", "Seq:out")                              # bad regex: substring


def test_docs_example_config_is_valid():
    """The example config in docs/midi.md parses and validates."""
    text = DOCS.read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert blocks, "docs/midi.md has no toml example"
    for block in blocks:
        doc = tomllib.loads(block)
        if "midi" in doc:
            cfg = MidiConfig.from_dict(doc["midi"], presets=set(doc.get("presets", {})))
            assert cfg.triggers


# --- byte stream parser ---------------------------------------------------------------------------

def types_and_bytes(msgs):
    return [m.bytes() for m in msgs]


def test_parser_running_status():
    p = MidiStreamParser()
    assert types_and_bytes(p.feed([0x90, 60, 100, 62, 100, 60, 0])) == [
        [0x90, 60, 100], [0x90, 62, 100], [0x90, 60, 0]]
    # running status continues across feeds and across a realtime byte
    assert types_and_bytes(p.feed([64, 90, 0xF8, 65])) == [[0x90, 64, 90], [0xF8]]
    assert types_and_bytes(p.feed([80])) == [[0x90, 65, 80]]


def test_parser_realtime_inside_messages_and_sysex():
    p = MidiStreamParser()
    assert types_and_bytes(p.feed([0x90, 60, 0xF8, 100])) == [[0xF8], [0x90, 60, 100]]
    assert types_and_bytes(p.feed([0xF0, 0x7D, 1])) == []
    assert types_and_bytes(p.feed([0xF8, 2, 0xFA, 0xF7])) == [[0xF8], [0xFA],
                                                               [0xF0, 0x7D, 1, 2, 0xF7]]


def test_parser_sysex_and_common_cancel_running_status():
    p = MidiStreamParser()
    out = p.feed([0x90, 60, 100, 0xF0, 1, 0xF7, 62, 100, 0x80, 60, 0])
    assert types_and_bytes(out) == [[0x90, 60, 100], [0xF0, 1, 0xF7], [0x80, 60, 0]]
    out = p.feed([0xB0, 1, 2, 0xF2, 0, 1, 3, 4, 0xF6, 5, 6])   # song position, tune request
    assert types_and_bytes(out) == [[0xB0, 1, 2], [0xF2, 0, 1], [0xF6]]


def test_parser_drops_garbage():
    p = MidiStreamParser()
    # stray data, undefined status bytes, an unterminated sysex cut by a note
    out = p.feed([5, 6, 0xF4, 7, 0xF9, 0xFD, 0xF0, 1, 2, 0x91, 60, 100, 0xF7, 1, 2])
    assert types_and_bytes(out) == [[0x91, 60, 100]]
    assert p.feed([0xC3, 5, 6]) == [mido.Message("program_change", channel=3, program=5),
                                    mido.Message("program_change", channel=3, program=6)]


# --- triggers -------------------------------------------------------------------------------------

def test_note_trigger_velocity_zero_and_channel_filter():
    t_any = Trigger("note", 60, None, "generate", "a")
    t_ch10 = Trigger("note", 36, 9, "generate", "b")
    m = TriggerMatcher([t_any, t_ch10])
    assert m.match(note_on(60, channel=3)) == [t_any]
    assert m.match(note_on(60, velocity=0)) == []          # note-on velocity 0 = note-off
    assert m.match(note_off(60)) == []
    assert m.match(note_on(36, channel=9)) == [t_ch10]
    assert m.match(note_on(36, channel=0)) == []
    assert m.match(note_on(61)) == []
    assert m.is_trigger_note(9, 36) and not m.is_trigger_note(0, 36)
    assert m.is_trigger_note(5, 60)


def test_cc_trigger_fires_on_rising_edge_only():
    t = Trigger("cc", 20, None, "generate", "a")
    m = TriggerMatcher([t])
    fired = [bool(m.match(cc(20, v))) for v in (0, 70, 80, 127, 30, 64, 63, 64, 10)]
    assert fired == [False, True, False, False, False, True, False, True, False]
    assert m.match(cc(20, 127, channel=1)) == [t]           # per-channel state
    assert m.match(cc(21, 127)) == []


def test_program_trigger_and_several_triggers_on_one_message():
    t1 = Trigger("program", 3, 0, "generate", "a")
    t2 = Trigger("program", 3, None, "arm_capture")
    m = TriggerMatcher([t1, t2])
    assert m.match(mido.Message("program_change", program=3)) == [t1, t2]
    assert m.match(mido.Message("program_change", program=3, channel=1)) == [t2]
    assert m.match(mido.Message("program_change", program=4)) == []


# --- capture --------------------------------------------------------------------------------------

def play(cap, events):
    """events: (t_s, 'on'|'off', pitch[, velocity])"""
    for ev in events:
        if ev[1] == "on":
            cap.note_on(ev[0], 0, ev[2], ev[3] if len(ev) > 3 else 100)
        else:
            cap.note_off(ev[0], 0, ev[2])


def test_capture_seconds_to_quantized_beats():
    cap = PhraseCapture(rolling_beats=16)
    # 120 bpm: a beat is 0.5 s; slightly sloppy playing
    play(cap, [(10.00, "on", 60, 90), (10.49, "off", 60), (10.52, "on", 64), (10.99, "off", 64),
               (11.01, "on", 67, 110), (12.02, "off", 67)])
    assert cap.phrase(12.5, bpm=120, quantize_beats=0.25) == [
        (60, 0.0, 1.0, 90), (64, 1.0, 1.0, 100), (67, 2.0, 2.0, 110)]
    # same playing read at 60 bpm (a beat is 1 s), no quantization
    notes = cap.phrase(12.5, bpm=60, quantize_beats=0)
    assert [(n[0], round(n[1], 3), round(n[2], 3)) for n in notes] == [
        (60, 0.0, 0.49), (64, 0.52, 0.47), (67, 1.01, 1.01)]


def test_capture_stuck_note_is_closed_at_phrase_end():
    cap = PhraseCapture()
    play(cap, [(0.0, "on", 60), (0.5, "off", 60), (0.5, "on", 62)])   # 62 never released
    assert cap.phrase(2.0, bpm=120, quantize_beats=0.25) == [(60, 0.0, 1.0, 100),
                                                             (62, 1.0, 3.0, 100)]


def test_capture_overlapping_same_pitch_notes():
    cap = PhraseCapture()
    # two note-ons on one pitch, then their two note-offs
    play(cap, [(0.0, "on", 60, 80), (0.5, "on", 60, 90), (0.75, "off", 60), (1.5, "off", 60),
               (1.6, "off", 60)])                                          # + a stray note-off
    assert cap.phrase(2.0, bpm=120, quantize_beats=0.25) == [(60, 0.0, 1.0, 80),
                                                             (60, 1.0, 2.0, 90)]


def test_capture_velocity_zero_is_note_off_and_tiny_notes_get_one_step():
    cap = PhraseCapture()
    play(cap, [(0.0, "on", 60), (0.01, "on", 60, 0), (0.5, "on", 61), (0.5, "off", 61)])
    assert cap.phrase(1.0, bpm=120, quantize_beats=0.25) == [(60, 0.0, 0.25, 100),
                                                             (61, 1.0, 0.25, 100)]


def test_capture_rolling_window():
    cap = PhraseCapture(rolling_beats=4)          # 1 bar of 4/4: 2 s at 120 bpm, 4 s at 60
    play(cap, [(0.6, "on", 50), (0.9, "off", 50), (3.0, "on", 60), (3.4, "off", 60),
               (4.0, "on", 62), (4.4, "off", 62)])
    assert [n[0] for n in cap.phrase(4.5, bpm=120, quantize_beats=0.25)] == [60, 62]
    assert [n[0] for n in cap.phrase(4.5, bpm=60, quantize_beats=0.25)] == [50, 60, 62]
    assert PhraseCapture(rolling_beats=0).phrase(4.5, 120, 0.25) == []


def test_capture_armed_take():
    cap = PhraseCapture(rolling_beats=16)
    play(cap, [(0.0, "on", 40), (0.2, "off", 40), (0.9, "on", 41)])    # 41 held when armed
    assert cap.toggle_arm(1.0) is True and cap.armed
    play(cap, [(1.5, "off", 41), (2.0, "on", 60), (2.5, "off", 60), (2.5, "on", 64)])
    assert cap.toggle_arm(3.0) is False and not cap.armed                # 64 still held
    take = [(41, 0.0, 1.0, 100), (60, 2.0, 1.0, 100), (64, 3.0, 1.0, 100)]
    play(cap, [(3.5, "off", 64), (4.0, "on", 70), (4.2, "off", 70)])     # after the take
    assert cap.phrase(5.0, 120, 0.25) == take
    assert cap.phrase(6.0, 120, 0.25) == take                           # the take stays
    cap.toggle_arm(7.0)
    cap.toggle_arm(7.1)                                                  # empty take: cleared
    assert [n[0] for n in cap.phrase(7.2, 120, 0.25)] == [40, 41, 60, 64, 70]


def test_capture_melody_while_armed_ends_the_take():
    cap = PhraseCapture()
    cap.toggle_arm(0.0)
    play(cap, [(0.5, "on", 60), (1.0, "off", 60), (1.0, "on", 62)])
    assert cap.phrase(1.5, 120, 0.25) == [(60, 0.0, 1.0, 100), (62, 1.0, 1.0, 100)]
    assert not cap.armed


def test_capture_all_notes_off_and_old_stuck_notes_are_forgotten():
    cap = PhraseCapture(rolling_beats=4)
    play(cap, [(0.0, "on", 60), (0.0, "on", 64)])
    cap.all_notes_off(0.5)
    assert cap.phrase(1.0, 120, 0.25) == [(60, 0.0, 1.0, 100), (64, 0.0, 1.0, 100)]
    play(cap, [(10.0, "on", 30)])                 # stuck forever
    play(cap, [(100.0, "on", 72), (100.5, "off", 72)])
    assert cap.phrase(101.0, 120, 0.25) == [(72, 0.0, 1.0, 100)]


# --- clock ----------------------------------------------------------------------------------------

def ticks(clock, bpm, start_s, beats, jitter_s=0.0, lump_s=0.0, seed=1):
    rng = random.Random(seed)
    interval = 60.0 / bpm / 24
    n = int(beats * 24)
    t = start_s
    for i in range(n):
        t = start_s + i * interval + rng.uniform(-jitter_s, jitter_s)
        if lump_s:
            t = (t // lump_s + 1) * lump_s         # delivered at the end of a JACK period
        clock.tick(t)
    return start_s + n * interval


def test_clock_estimate_with_jitter_and_jack_periods():
    clock = ClockFollower()
    end = ticks(clock, 100, 50.0, 4, jitter_s=0.002, lump_s=256 / 48000)
    assert clock.bpm(end) == pytest.approx(100, abs=0.5)
    clock = ClockFollower()
    end = ticks(clock, 174, 0.0, 4, jitter_s=0.001)
    assert clock.bpm(end) == pytest.approx(174, abs=0.5)


def test_clock_none_before_enough_ticks_and_after_timeout():
    clock = ClockFollower(timeout_s=2.0)
    assert clock.bpm(0.0) is None
    end = ticks(clock, 120, 0.0, 0.25)           # 6 ticks: not enough yet
    assert clock.bpm(end) is None
    end = ticks(clock, 120, end, 1)
    assert clock.bpm(end) == pytest.approx(120, abs=0.1)
    assert clock.bpm(end + 1.9) == pytest.approx(120, abs=0.1)
    assert clock.bpm(end + 2.1) is None


def test_clock_follows_tempo_change_and_pause():
    clock = ClockFollower()
    end = ticks(clock, 100, 0.0, 4)
    end = ticks(clock, 140, end, 2.5)
    assert clock.bpm(end) == pytest.approx(140, abs=0.5)
    end = ticks(clock, 90, end + 3.0, 1)         # clock paused 3 s, then slower
    assert clock.bpm(end) == pytest.approx(90, abs=0.5)


def test_clock_start_stop_continue():
    clock = ClockFollower()
    assert not clock.running
    clock.start(0.0)
    end = ticks(clock, 120, 0.0, 1)
    assert clock.running and clock.ticks_since_start == 24
    clock.stop(end)
    assert not clock.running
    end = ticks(clock, 120, end, 1)              # clock keeps running while stopped
    assert clock.bpm(end) == pytest.approx(120, abs=0.1)
    clock.continue_(end)
    assert clock.running and clock.ticks_since_start == 48
    clock.start(end)
    assert clock.ticks_since_start == 0


# --- MidiSide wiring, without ports ---------------------------------------------------------------

def make_side(table, actions, log=None):
    cfg = MidiConfig.from_dict(table)
    return MidiSide(cfg, on_action=actions.append, log=log or logging.getLogger("test.midi"))


SIDE_TABLE = {
    "capture_channel": 1,
    "triggers": [
        {"note": 36, "channel": 10, "action": "generate", "preset": "spark"},
        {"note": 37, "channel": 10, "action": "melody", "preset": "tune"},
        {"note": 38, "channel": 10, "action": "arm_capture"},
        {"cc": 20, "action": "cancel"},
        {"program": 3, "action": "continue_last", "preset": "more"},
    ],
}


def test_side_actions_from_messages():
    actions: list[MidiAction] = []
    side = make_side(SIDE_TABLE, actions)
    side.inject(note_on(36, channel=9), 1.0)
    side.inject(note_on(36, velocity=0, channel=9), 1.1)
    side.inject(note_on(36, channel=0), 1.2)          # wrong channel
    side.inject(cc(20, 127), 1.3)
    side.inject(cc(20, 127), 1.4)                     # no new edge
    side.inject(mido.Message("program_change", program=3), 1.5)
    assert [(a.kind, a.preset, a.bpm, a.source) for a in actions] == [
        ("generate", "spark", None, "note 36 ch 10"),
        ("cancel", None, None, "cc 20 any ch"),
        ("continue_last", "more", None, "program 3 any ch"),
    ]


def test_side_melody_uses_clock_tempo_and_skips_trigger_notes():
    actions: list[MidiAction] = []
    side = make_side(SIDE_TABLE, actions)
    interval = 60.0 / 100 / 24
    for i in range(24 * 8):                           # 8 beats of clock at 100 bpm
        side.inject(mido.Message("clock"), i * interval)
    beat = 0.6
    side.inject(note_on(60), 1 * beat)
    side.inject(note_on(36, channel=9), 1 * beat)     # a trigger pad: fires, not recorded
    side.inject(note_off(60), 2 * beat)
    side.inject(note_on(62, channel=3), 2 * beat)     # other channel: not recorded
    side.inject(note_on(64), 2 * beat)
    side.inject(mido.Message("sysex", data=[1, 2]), 2.5 * beat)
    side.inject(note_on(37, channel=9), 4 * beat)     # melody trigger; 64 is stuck
    kinds = [a.kind for a in actions]
    assert kinds == ["generate", "melody"]
    melody = actions[1]
    assert melody.preset == "tune" and melody.bpm == pytest.approx(100, abs=0.2)
    assert melody.notes == [(60, 0.0, 1.0, 100), (64, 1.0, 2.0, 100)]
    assert actions[0].bpm == pytest.approx(100, abs=0.2)


def test_side_melody_without_clock_uses_120_and_arm_toggles_without_callback():
    actions: list[MidiAction] = []
    side = make_side(SIDE_TABLE, actions)
    side.inject(note_on(38, channel=9), 0.0)          # arm
    assert side.capture_armed and actions == []
    side.inject(note_on(67), 0.25)
    side.inject(note_off(67), 0.5)
    side.inject(note_on(38, channel=9), 1.0)          # disarm
    assert not side.capture_armed and actions == []
    side.inject(note_on(37, channel=9), 5.0)
    assert actions[0].kind == "melody" and actions[0].bpm == 120.0
    assert actions[0].notes == [(67, 0.0, 0.5, 100)]


def test_side_melody_with_nothing_captured_does_not_fire(caplog):
    actions: list[MidiAction] = []
    side = make_side(SIDE_TABLE, actions)
    with caplog.at_level(logging.WARNING, logger="test.midi"):
        side.inject(note_on(37, channel=9), 1.0)
    assert actions == []
    assert "no notes captured" in caplog.text


def test_side_survives_a_failing_daemon_callback(caplog):
    calls = []

    def on_action(action):
        calls.append(action.kind)
        if len(calls) == 1:
            raise RuntimeError("queue exploded")

    side = MidiSide(MidiConfig.from_dict(SIDE_TABLE), on_action=on_action,
                    log=logging.getLogger("test.midi"))
    with caplog.at_level(logging.ERROR, logger="test.midi"):
        side.inject(note_on(36, channel=9), 1.0)
        side.inject(note_on(36, channel=9), 2.0)
    assert calls == ["generate", "generate"]
    assert "queue exploded" in caplog.text


def test_side_feedback_without_ports_is_a_noop_and_disabled_side_starts_nothing():
    actions: list[MidiAction] = []
    side = make_side({"enabled": False, "feedback": {"done": {"note": 36}}}, actions)
    side.start()
    assert side.inputs == [] and side.outputs == [] and side.api is None
    side.feedback("done", "job1")
    side.feedback("started", "job1")
    side.feedback("bogus", None)
    assert side.clock_bpm is None
    side.stop()


def test_jam_trigger_steps():
    """A jam pad: starts (no MIDI jam), changes the prompt (another preset), stops (its own
    preset again or jam_stop); jam_stop with no jam does nothing (bridge/jam.py)."""
    from bridge.jam import midi_jam_step

    assert midi_jam_step("groove", None) == "start"
    assert midi_jam_step("lift", "groove") == "prompt"
    assert midi_jam_step("groove", "groove") == "stop"
    assert midi_jam_step(None, "groove", stop=True) == "stop"
    assert midi_jam_step(None, None, stop=True) == "none"


class _FakeRt:
    """Records the calls an rtmidi object gets while it is freed."""

    def __init__(self, api: int, calls: list) -> None:
        self.api, self.calls = api, calls

    def get_current_api(self) -> int:
        return self.api

    def __getattr__(self, name):
        if name in ("close_port", "cancel_callback", "delete"):
            return lambda: self.calls.append(name)
        raise AttributeError(name)


@pytest.mark.parametrize("jack", [True, False])
def test_ports_are_closed_before_they_are_freed(monkeypatch, jack):
    """rtmidi's JACK process callback may still be in its last cycle when a port closes: the
    port is closed first, and on JACK the callback is cancelled and the object freed only after
    JACK_SETTLE_S (other APIs: at once)."""
    rtmidi = pytest.importorskip("rtmidi", reason="python-rtmidi (the [midi] extra) is not installed")
    from bridge.midi import ports

    calls: list = []
    monkeypatch.setattr(ports.time, "sleep", lambda s: calls.append(("sleep", s)))
    api = rtmidi.API_UNIX_JACK if jack else rtmidi.API_LINUX_ALSA
    ports._delete(_FakeRt(api, calls))
    settle = [("sleep", ports.JACK_SETTLE_S)] if jack else []
    assert calls == ["close_port", *settle, "cancel_callback", "delete"]
    assert ports.JACK_SETTLE_S >= 0.05

