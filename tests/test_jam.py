"""Jam (issue 19): tempo-exact segments that continue each other, over real OSC with the tiny model.

The pure planning and the join are checked on numbers and on a real waveform; the daemon runs as
a subprocess (real UDP, real files, the real MusicGen code path with random weights).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from bridge import jam, jam_join
from daemon_helpers import DaemonProc, OscClient

BPM, BPB, BARS = 93.5, 3.5, 2  # 2 bars of 7/8, in quarter notes (docs/protocol.md, "Beats")
SR = 32000  # the tiny model's rate (as MusicGen's)


# --- planning and the join, pure ---------------------------------------------------------------

def test_segment_bounds_are_exact_and_do_not_drift():
    length_s = jam.segment_length_s(BPM, BPB, BARS)
    assert length_s == pytest.approx(2 * 3.5 * 60 / 93.5)
    ends = [jam.segment_bounds(k, length_s, SR)[1] for k in range(1000)]
    for k, end in enumerate(ends):  # every join within half a sample of the tempo grid
        assert abs(end - (k + 1) * length_s * SR) <= 0.5
    lengths = {jam.segment_samples(k, length_s, SR) for k in range(1000)}
    assert lengths == {143743, 143744}  # 4.4919786... s * 32000 = 143743.3 samples
    assert jam.segment_bounds(1, length_s, SR)[0] == jam.segment_bounds(0, length_s, SR)[1]


def test_continuation_window_is_the_last_ten_seconds():
    assert jam.continuation_window(143743, SR) == (0.0, 143743)
    start_s, used = jam.continuation_window(20 * SR + 7, SR)
    assert used == 10 * SR and start_s * SR == pytest.approx(10 * SR + 7)


def test_lead_and_speed():
    bar_s = BPB * 60 / BPM
    assert jam.lead_bars(4 * 2 * bar_s, 2 * bar_s, bar_s) == pytest.approx(6.0)
    assert jam.lead_bars(2 * bar_s, 5 * bar_s, bar_s) == pytest.approx(-3.0)
    assert jam.speed(4.0, 2.0) == 2.0 and jam.speed(4.0, 8.0) == 0.5
    assert not jam.is_slow(2.0, 3.0)
    assert jam.is_slow(0.5, 3.0) and jam.is_slow(2.0, -0.5)


def test_join_is_smooth_on_a_waveform():
    """A tone cut into two segments; the second one's own audio starts at a wrong phase (as a codec
    reconstruction does). Joined through the tail, the step at the join is like any other step."""
    sr, n = SR, 4000
    fade = int(jam_join.JOIN_FADE_S * sr)
    t = np.arange(2 * n + fade) / sr
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None]
    first, tail = jam_join.shape_segment(tone[:, : n + fade], sr, n, prev_tail=None, normalize_fn=None)
    assert first.shape == (1, n) and tail.shape == (1, fade)
    np.testing.assert_array_equal(tail, tone[:, n:n + fade])
    shifted = (0.5 * np.sin(2 * np.pi * 220 * t[n:] + 2.0)).astype(np.float32)[None]  # wrong phase
    joined, _ = jam_join.shape_segment(shifted, sr, n, prev_tail=tail, normalize_fn=None)
    steps = np.abs(np.diff(tone[0, : 2 * n]))
    join_step = abs(float(joined[0, 0] - first[0, -1]))
    assert join_step <= steps.max() * 1.05
    raw_step = abs(float(shifted[0, 0] - first[0, -1]))
    assert raw_step > 5 * steps.max()  # without the tail the join would click
    np.testing.assert_array_equal(joined[:, fade:], shifted[:, fade:n])  # after the fade: its own audio


def test_first_segment_gain_is_applied_to_its_tail():
    audio = (0.1 * np.sin(np.arange(5000) / 7.0)).astype(np.float32)[None]
    body, tail = jam_join.shape_segment(audio, SR, 4000, prev_tail=None, normalize_fn=lambda a: a * 3.0)
    np.testing.assert_allclose(body, audio[:, :4000] * 3, rtol=1e-5)
    np.testing.assert_allclose(tail, audio[:, 4000:4000 + tail.shape[1]] * 3, rtol=1e-5)


def test_start_refuses_what_a_jam_cannot_do():
    from bridge.errors import RequestError

    for params in ({"variations": 2}, {"loop": 1}, {"format": "mp3"}, {"segments": -1}, {"segments": 1.5}):
        with pytest.raises(RequestError):
            jam.parse_start({"bpm": 120, "bars": 1, **params}, "j")
    with pytest.raises(RequestError):
        jam.parse_start({}, "j" * 57)
    assert jam.parse_start({"bpm": 120, "bars": 1, "segments": 4.0}, "j") == ({"bpm": 120, "bars": 1}, 4, 2)


def test_a_jam_faster_than_playback_waits():
    # 3 segments of 4 s made, 2 s played, 2 ahead allowed: wait until 2 more seconds have played
    assert jam.wait_before_next_s(12.0, 2.0, 2, 4.0) == pytest.approx(2.0)
    assert jam.wait_before_next_s(8.0, 2.0, 2, 4.0) == 0.0


# --- the daemon ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def daemon(tiny_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("jam")
    d = DaemonProc(tiny_model, base / "state", base / "out").start()
    d.base = base
    yield d
    if d.alive():
        assert d.stop() == 0, d.log()[-3000:]


@pytest.fixture
def client(daemon):
    c = OscClient(daemon.port)
    yield c
    c.close()


def _sidecar(path: str) -> dict:
    return json.loads(Path(path + ".json").read_text())


def _start(client, jam_id, out_dir, *extra):
    client.send("/musicgen/jam", jam_id, "start", "prompt", "warm rhodes groove", "bpm", BPM, "beats_per_bar", BPB,
                "bars", BARS, "out_dir", str(out_dir), "format", "wavf", "top_k", 50, "seed", 7,
                "ahead", 8, "reply_port", client.port, *extra)


def test_jam_of_four_segments_joins_sample_exactly(daemon, client, tmp_path):
    out = tmp_path / "out"
    _start(client, "jam4", out, "segments", 4)
    client.wait_for("/musicgen/accepted", "jam4.s0", timeout=30)
    first = client.wait_for("/musicgen/jam_segment", "jam4", timeout=120)
    assert first[1] == 0 and first[2] == "jam4.s0"
    client.send("/musicgen/jam", "jam4", "prompt", "dark techno stabs", "reply_port", client.port)
    changed_from = client.wait_for("/musicgen/jam_prompt", "jam4", timeout=30)[1]
    assert changed_from in (1, 2)  # the next segment not yet submitted
    ended = client.wait_for("/musicgen/jam_ended", "jam4", timeout=300)
    assert ended[1:] == ["finished", 4], client.received[-20:]

    segs = client.messages("/musicgen/jam_segment", "jam4")
    assert [s[1] for s in segs] == [0, 1, 2, 3]
    assert [s[2] for s in segs] == [f"jam4.s{k}" for k in range(4)]
    # lead: playback starts with segment 0's done, so then exactly its 2 bars; never more than made
    assert segs[0][5] == pytest.approx(2.0, abs=1e-4)  # 143743 samples: 2 bars to the sample
    assert all(s[5] <= BARS * (i + 1) + 1e-3 for i, s in enumerate(segs))
    for s in segs:  # each segment's done came before its jam_segment, with the same path
        assert client.messages("/musicgen/done", s[2]) == [[s[2], s[3]]]
    length_s = jam.segment_length_s(BPM, BPB, BARS)
    paths = [s[3] for s in segs]
    audio = []
    for k, p in enumerate(paths):
        data, sr = sf.read(p, dtype="float32", always_2d=True)
        assert sr == SR
        assert data.shape[0] == jam.segment_samples(k, length_s, SR)  # exact to the sample
        audio.append(data.T)
        side = _sidecar(p)
        assert side["jam"]["index"] == k and side["jam"]["start_sample"] == jam.segment_bounds(k, length_s, SR)[0]
        assert side["prompt"] == ("warm rhodes groove" if k < changed_from else "dark techno stabs")
        if k == 0:
            assert side["action"] == "generate" and side["jam"]["joined"] is False
            continue
        # the continuation's prompt is the previous segment's end, all of it (< 10 s)
        prev_len = audio[k - 1].shape[1]
        assert side["action"] == "continue" and side["jam"]["joined"] is True
        assert side["source"]["audio_path"] == paths[k - 1]
        assert side["source"]["start_s"] == 0.0 and side["source"]["end_s"] is None
        hop = SR // 50
        assert side["source"]["prompt_samples_used"] == (prev_len // hop) * hop  # aligned from its start
        # on the waveform: segment k's first sample follows segment k-1's last like the audio that
        # was made right after it (the tail kept in k-1's sidecar), not like a cut
        prev, cur = audio[k - 1], audio[k]
        tail = jam_join.decode_tail(_sidecar(paths[k - 1])["jam"]["tail"])
        assert abs(cur[0, 0] - tail[0, 0]) <= 0.002 + 0.01 * abs(tail[0, 0])
        join_step = float(np.max(np.abs(cur[:, 0] - prev[:, -1])))
        inner = np.abs(np.diff(np.concatenate([prev[:, -2000:], tail], axis=1), axis=1))
        assert join_step <= float(inner.max()) + 1e-6
    assert not list(out.glob("*.partial")) and not list(out.glob(".*"))


def test_stop_cancels_the_running_segment_and_leaves_nothing_half_written(daemon, client, tmp_path):
    out = tmp_path / "out"
    _start(client, "jstop", out)
    client.wait_for("/musicgen/jam_segment", "jstop", timeout=120)
    client.wait_for("/musicgen/accepted", "jstop.s1", timeout=30)
    client.send("/musicgen/jam", "jstop", "stop", "reply_port", client.port)
    ended = client.wait_for("/musicgen/jam_ended", "jstop", timeout=120)
    assert ended[1] == "stopped"
    made = ended[2]
    assert made in (1, 2)  # s1 was cancelled (or had already been delivered)
    if made == 1:
        assert client.messages("/musicgen/cancelled", "jstop.s1")
    client.drain(0.5)
    assert not client.messages("/musicgen/accepted", f"jstop.s{made + 1}")
    clips = sorted(p.name for p in out.glob("*.wav"))
    assert len(clips) == made
    assert not list(out.glob("*.partial")) and not list(out.glob(".*"))
    client.send("/musicgen/jam", "jstop", "prompt", "x", "reply_port", client.port)
    assert client.wait_for("/musicgen/error", "jstop")[1] == "not_found"


def test_jam_errors_are_answered(daemon, client):
    client.send("/musicgen/jam", "jbad", "start", "prompt", "x", "bars", 2, "reply_port", client.port)
    err = client.wait_for("/musicgen/error", "jbad")
    assert err[1] == "bad_request" and "bpm" in err[2]
    client.send("/musicgen/jam", "jbad", "dance", "reply_port", client.port)
    assert client.wait_for("/musicgen/error", "jbad", pred=lambda a: "start" in a[2])[1] == "bad_request"
    client.send("/musicgen/jam", "jbad", "start", "prompt", "x", "bpm", 120, "bars", 1, "format", "mp3",
                "reply_port", client.port)
    assert client.wait_for("/musicgen/error", "jbad", pred=lambda a: "lossless" in a[2])


def test_kill9_mid_jam_ends_it_cleanly_without_duplicates(tiny_model, tmp_path):
    state, out = tmp_path / "state", tmp_path / "out"
    d = DaemonProc(tiny_model, state, out).start()
    c = OscClient(d.port)
    try:
        # long segments, so the kill lands while one is being made
        c.send("/musicgen/jam", "jk", "start", "prompt", "x", "bpm", BPM, "beats_per_bar", BPB, "bars", 4,
               "format", "wav", "reply_port", c.port)
        c.wait_for("/musicgen/jam_segment", "jk", timeout=180)
        c.wait_for("/musicgen/progress", "jk.s1", timeout=60)
        d.kill9()
        c.received.clear()
        d2 = DaemonProc(tiny_model, state, out, port=d.port).start()
        try:
            ended = c.wait_for("/musicgen/jam_ended", "jk", timeout=240)
            assert ended[1] == "restarted"
            made = ended[2]
            assert made >= 2  # s0, and the segment that was interrupted, made again at restart
            done = [a[0] for a in c.messages("/musicgen/done")]
            assert done == [f"jk.s{made - 1}"]  # delivered once, and nothing after it
            c.drain(1.0)
            assert not c.messages("/musicgen/accepted")
            clips = sorted(out.glob("*.wav"))
            assert len(clips) == made
            idx = sorted(_sidecar(str(p))["jam"]["index"] for p in clips)
            assert idx == list(range(made))
            assert not list(out.glob("*.partial")) and not list(out.glob(".*"))
        finally:
            assert d2.stop() == 0, d2.log()[-3000:]
    finally:
        c.close()
        if d.alive():
            d.kill9()


def test_a_jam_ahead_of_playback_waits_and_stops_at_once(daemon, client, tmp_path):
    """ahead 1: once more than one segment beyond playback is ready, the next one waits for
    playback (else it is made at once); a stop while waiting ends the jam at once."""
    out = tmp_path / "out"
    bars = 8  # 18 s segments: the tiny model makes two long before the first has played
    client.send("/musicgen/jam", "jwait", "start", "prompt", "x", "bpm", BPM, "beats_per_bar", BPB, "bars", bars,
                "ahead", 1, "out_dir", str(out), "reply_port", client.port)
    second = client.wait_for("/musicgen/jam_segment", "jwait", timeout=180, pred=lambda a: a[1] == 1)
    client.drain(1.0)
    if second[5] <= bars:  # this machine was slower than playback: nothing to wait for
        assert client.messages("/musicgen/accepted", "jwait.s2")
        client.send("/musicgen/jam", "jwait", "stop", "reply_port", client.port)
        assert client.wait_for("/musicgen/jam_ended", "jwait", timeout=120)[1] == "stopped"
        return
    assert not client.messages("/musicgen/accepted", "jwait.s2")  # waiting for playback
    client.send("/musicgen/jam", "jwait", "stop", "reply_port", client.port)
    assert client.wait_for("/musicgen/jam_ended", "jwait", timeout=10)[1:] == ["stopped", 2]
    client.drain(0.5)
    assert not client.messages("/musicgen/cancelled") and not client.messages("/musicgen/accepted", "jwait.s2")
    assert len(list(out.glob("*.wav"))) == 2
