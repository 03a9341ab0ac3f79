// Live sets (issue 19): new clips launch when they land, jam segments follow each other, and
// MIDI-triggered results land on the track of a device that listens for them; against the
// stand-in Live (helpers/fake_live.js), on the bundle Max loads.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { FakeLive, loadDevice } = require("./helpers/fake_live.js");

const SET = "/Users/me/Songs/Demo Project/Demo.als";

function setup(opts = {}, filled = []) {
    const live = new FakeLive(Object.assign({ setPath: SET, fileSeconds: {} }, opts));
    const track = live.addTrack({ name: "Gen" });
    live.placeDevice(track);
    for (const i of filled) { live.fillSlot(track, i); }
    const env = loadDevice(live);
    env.send("init");
    return { live, track, env };
}

const fires = (live) => live.callsOf("fire").map((c) => c.id);
const slotId = (track, i) => track.children.clip_slots[i].id;
const clipAt = (track, i) => track.children.clip_slots[i].children.clip;

function generateDone(env, path = "/o/a_s1.wav") {
    env.send("prompt", "text", "warm rhodes chords");
    env.send("generate");
    const m = env.messages("/musicgen/generate").pop();
    env.reply("/musicgen/accepted", m.args[0], 0);
    env.reply("/musicgen/done", m.args[0], path);
    env.settle(200);
    return m.args[0];
}

test("launch off: the new clip waits in its slot", () => {
    const { live, env } = setup({}, [0]);
    generateDone(env);
    assert.deepEqual(fires(live), []);
});

test("launch on: ClipSlot.fire() on the slot the new clip landed in", () => {
    const { live, track, env } = setup({}, [0, 2]);
    env.send("launch", 1);
    generateDone(env);
    assert.equal(clipAt(track, 1).props.name.length > 0, true);
    assert.deepEqual(fires(live), [slotId(track, 1)]);
    assert.equal(clipAt(track, 1).props.launch_quantization, 0, "global quantization: Live starts it on the next bar");
    assert.deepEqual(live.errors, []);
});

test("launch follow: fired in the last bar of the track's playing clip, quantized to 1 bar", () => {
    const { live, track, env } = setup({}, []);
    const playing = live.addAudioClip(track, 0, { warping: 1, looping: 0, end_marker: 8, loop_end: 8 });
    live.play(playing, 1.0);                 // 7 beats left of 8: not the last bar (4 beats in 4/4)
    env.send("launch", 2);
    generateDone(env);
    assert.deepEqual(fires(live), []);
    playing.props.playing_position = 3.9;
    env.settle(100);
    assert.deepEqual(fires(live), []);
    playing.props.playing_position = 4.2;    // in the last bar
    env.settle(100);
    assert.deepEqual(fires(live), [slotId(track, 1)]);
    assert.equal(clipAt(track, 1).props.launch_quantization, 5);   // "1 Bar": starts where the other ends
    assert.deepEqual(live.errors, []);
});

test("jam: start message, segments in consecutive slots, each launched after the previous one", () => {
    const { live, track, env } = setup({ tempo: 93.5, numerator: 7, denominator: 8 }, []);
    env.send("prompt", "text", "dusty soul groove");
    env.send("bars", 2);
    env.send("jam", 1);
    const start = env.messages("/musicgen/jam").pop();
    const id = start.args[0];
    assert.equal(start.args[1], "start");
    const k = env.keys(start, 2);
    assert.equal(k.prompt.value, "dusty soul groove");
    assert.deepEqual([k.bpm.type, k.bars.value, k.beats_per_bar.value], ["f", 2, 3.5]);
    assert.ok(k.reply_port.value >= 9001);
    const seconds = 2 * 3.5 * 60 / 93.5;
    const seg = (i) => {
        const p = `/o/jam s00${i}_s${i}.wav`;
        live.fileSeconds[p] = seconds;
        env.reply("/musicgen/accepted", `${id}.s${i}`, 0);
        env.reply("/musicgen/done", `${id}.s${i}`, p);
        env.reply("/musicgen/jam_segment", id, i, `${id}.s${i}`, p, seconds, 2 * (i + 1));
        env.settle(100);
    };
    seg(0);
    assert.ok(clipAt(track, 0), "segment 0 in slot 1");
    assert.deepEqual(fires(live), [slotId(track, 0)]);      // the first one starts at once
    assert.match(env.status(), /segment 1 ready, 2 bars ahead/);
    live.play(clipAt(track, 0), 0);
    env.settle(100);
    const launched = env.messages("/musicgen/jam").filter((m) => m.args[1] === "launched");
    assert.equal(launched.length, 1, "the daemon hears when playback began");

    seg(1);
    seg(2);
    assert.ok(clipAt(track, 1) && clipAt(track, 2), "consecutive slots");
    assert.equal(clipAt(track, 1).props.end_marker, 7, "warped to exactly 2 bars of 7/8");
    assert.deepEqual(fires(live), [slotId(track, 0)], "segment 1 waits for segment 0's last bar");
    clipAt(track, 0).props.playing_position = 3.6;        // in the last 3.5 beats of 7
    env.settle(100);
    assert.deepEqual(fires(live), [slotId(track, 0), slotId(track, 1)]);
    assert.equal(clipAt(track, 1).props.launch_quantization, 5);
    live.play(clipAt(track, 1), 0);
    env.settle(100);
    assert.equal(fires(live).length, 2, "segment 2 waits for segment 1");
    clipAt(track, 1).props.playing_position = 4.0;
    env.settle(100);
    assert.deepEqual(fires(live), [0, 1, 2].map((i) => slotId(track, i)));
    seg(3);
    live.play(clipAt(track, 2), 0);
    live.song.props.is_playing = 0;                         // the performer stops Live
    clipAt(track, 2).props.playing_position = 6;            // in segment 2's last bar
    env.settle(100);
    assert.equal(fires(live).length, 3, "a stopped transport is never started by a follower");
    live.song.props.is_playing = 1;
    env.settle(100);
    assert.deepEqual(fires(live), [0, 1, 2, 3].map((i) => slotId(track, i)));

    env.send("prompt", "text", "add strings");             // the prompt box is live
    const pr = env.messages("/musicgen/jam").filter((m) => m.args[1] === "prompt");
    assert.deepEqual(pr.map((m) => m.args.slice(0, 4)), [[id, "prompt", "add strings", "reply_port"]]);
    env.reply("/musicgen/jam_slow", id, 0.6, 1.5);
    assert.match(env.status(), /slower than playback \(0\.6x real time/);

    env.send("jam", 0);
    assert.equal(env.messages("/musicgen/jam").pop().args[1], "stop");
    env.reply("/musicgen/jam_ended", id, "stopped", 3);
    assert.deepEqual(env.ui("jam").pop(), ["set", 0]);
    assert.match(env.status(), /Jam ended \(stopped\) after 3 segments/);
    assert.deepEqual(live.errors, []);
});

test("jam refused by the daemon: the error shows and the toggle can start again", () => {
    const { env } = setup();
    env.send("jam", 1);
    assert.match(env.status(), /type a prompt first/);
    assert.deepEqual(env.ui("jam").pop(), ["set", 0]);
    env.send("prompt", "text", "x");
    env.send("jam", 1);
    const id = env.messages("/musicgen/jam").pop().args[0];
    env.reply("/musicgen/error", id, "bad_request", "bpm must be 20-400");
    assert.match(env.status(), /Jam refused: bad_request: bpm must be 20-400/);
    assert.deepEqual(env.ui("jam").pop(), ["set", 0]);
    env.send("jam", 1);
    assert.equal(env.messages("/musicgen/jam").filter((m) => m.args[1] === "start").length, 2);
});

test("MIDI-triggered jobs land on a listening device's track, by preset", () => {
    const { live, track, env } = setup({}, [0]);
    env.send("launch", 1);
    env.reply("/musicgen/accepted", "midi-1-1", 0, "spark");
    env.reply("/musicgen/done", "midi-1-1", "/o/spark_s1.wav");
    env.settle(200);
    assert.equal(clipAt(track, 1), null, "not listening: nothing lands");
    env.send("listen", "text", "spark", "pad");
    env.reply("/musicgen/accepted", "midi-1-2", 0, "spark");
    env.reply("/musicgen/done", "midi-1-2", "/o/spark_s2.wav");
    env.reply("/musicgen/accepted", "midi-1-3", 0, "bass");
    env.reply("/musicgen/done", "midi-1-3", "/o/bass_s3.wav");
    env.settle(200);
    assert.equal(clipAt(track, 1).props.file_path, "/o/spark_s2.wav");
    assert.equal(clipAt(track, 2), null, "another preset is left to other devices");
    assert.deepEqual(fires(live), [slotId(track, 1)]);
    env.send("listen", "text", "*");
    env.reply("/musicgen/accepted", "midi-1-4", 0, "");
    env.reply("/musicgen/done", "midi-1-4", "/o/any_s4.wav");
    env.settle(200);
    assert.equal(clipAt(track, 2).props.file_path, "/o/any_s4.wav");
    assert.deepEqual(live.errors, []);
    assert.match(env.outletValues(9).pop()[1], /"listen":"\*"/);   // saved with the set
});

test("launch follow: results that land faster than they play queue one after another", () => {
    const { live, track, env } = setup({}, []);
    const playing = live.addAudioClip(track, 0, { warping: 1, looping: 1, end_marker: 8, loop_end: 8 });
    live.play(playing, 0.5);
    env.send("launch", 2);
    env.send("listen", "text", "*");
    for (const n of [1, 2]) {
        env.reply("/musicgen/accepted", `midi-9-${n}`, 0, "spark");
        env.reply("/musicgen/done", `midi-9-${n}`, `/o/spark_s${n}.wav`);
    }
    env.settle(100);
    assert.deepEqual(fires(live), []);
    playing.props.playing_position = 5;      // last bar of the playing clip: the first result only
    env.settle(100);
    assert.deepEqual(fires(live), [slotId(track, 1)]);
    live.play(clipAt(track, 1), 0.1);
    env.settle(100);
    assert.deepEqual(fires(live), [slotId(track, 1)], "the second waits for the first's last bar");
    clipAt(track, 1).props.playing_position = clipAt(track, 1).props.loop_end - 1;
    env.settle(100);
    assert.deepEqual(fires(live), [slotId(track, 1), slotId(track, 2)]);
    assert.deepEqual(live.errors, []);
});

test("followDecision and listensTo: the pure rules", () => {
    const timing = require("../src/mgb_timing.js");
    const session = require("../src/mgb_session.js");
    assert.equal(timing.followDecision(null, 4), "fire");
    assert.equal(timing.followDecision({ triggered: true, playing: false, position: 0, end: 8 }, 4), "wait");
    assert.equal(timing.followDecision({ triggered: false, playing: false, position: 0, end: 8 }, 4), "fire");
    assert.equal(timing.followDecision({ transport: false, triggered: false, playing: true, position: 7, end: 8 }, 4), "wait");
    assert.equal(timing.followDecision({ triggered: false, playing: true, position: 3.99, end: 8 }, 4), "wait");
    assert.equal(timing.followDecision({ triggered: false, playing: true, position: 4, end: 8 }, 4), "fire");
    assert.equal(timing.followDecision({ triggered: false, playing: true, position: 3.5, end: 7 }, 3.5), "fire");
    assert.equal(timing.jamBars(2.4), 2);
    assert.equal(timing.jamBars(0.2), 1);
    assert.equal(session.listensTo("", "spark"), false);
    assert.equal(session.listensTo("*", ""), true);
    assert.equal(session.listensTo("All", "x"), true);
    assert.equal(session.listensTo("spark,pad", "pad"), true);
    assert.equal(session.listensTo("spark pad", "spa"), false);
    assert.equal(session.listensTo("spark", ""), false);
});
