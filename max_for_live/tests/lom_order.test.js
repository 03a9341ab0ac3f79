// What Live does later or refuses quietly, as the LOM documents it, against the device script:
// Clip.warping applied after the event that set it, an arrangement clip listed only later,
// Song.create_audio_track refused (LiveAPI.call does not throw), and the prompt box, the OSC
// atoms, the Tasks and the reply ports of the device itself.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { FakeLive, loadDevice } = require("./helpers/fake_live.js");
const protocol = require("../src/mgb_protocol.js");

const SET = "/Users/me/Songs/Demo Project/Demo.als";

function setup(opts = {}) {
    const live = new FakeLive(Object.assign({ setPath: SET }, opts));
    const track = live.addTrack({ name: "Gen" });
    live.placeDevice(track);
    const env = loadDevice(live);
    env.send("init");
    return { live, track, env };
}

function generate(env, prompt = "warm rhodes chords") {
    env.send("prompt", "text", ...prompt.split(" "));
    env.send("generate");
    const msgs = env.messages("/musicgen/generate");
    return msgs[msgs.length - 1];
}

test("an unwarped new clip: warping first, its markers (in beats) only once warping reads 1", () => {
    // Live leaves the new clip unwarped and guesses 15 beats where 4 bars at 120 are 16
    const { live, track, env } = setup({ autoWarp: false, warpGuessBeats: 15 });
    live.fileSeconds["/o/pad.wav"] = 8;
    const m = generate(env);
    env.reply("/musicgen/done", m.args[0], "/o/pad.wav");
    const clip = track.children.clip_slots[0].children.clip;
    assert.deepEqual(live.sets.filter((x) => x.prop === "warping").map((x) => x.value), [1]);
    assert.equal(live.callsOf("move_warp_marker").length, 0, "no marker work in the event that set warping");
    assert.equal(live.sets.filter((x) => x.prop === "end_marker").length, 0);
    env.settle(1000);
    assert.equal(clip.props.warping, 1);
    assert.deepEqual(live.callsOf("move_warp_marker").map((c) => c.args), [[15, 1]]);
    assert.deepEqual([clip.props.end_marker, clip.props.loop_end], [16, 16]);
    assert.deepEqual(live.errors, []);
    assert.match(env.status(), /Done: track "Gen", slot 1/);
});

test("warping that never takes: the markers are left alone and the console says so", () => {
    const { live, track, env } = setup({ autoWarp: false, warpGuessBeats: 15 });
    live.deferWarping = true;
    live.flush = function () { this.pendingWarping = []; };   // Live drops the change
    const m = generate(env);
    env.reply("/musicgen/done", m.args[0], "/o/pad.wav");
    env.settle(3000);
    assert.equal(track.children.clip_slots[0].children.clip.props.warping, 0);
    assert.equal(live.callsOf("move_warp_marker").length, 0);
    assert.ok(env.posts.some((p) => /did not warp/.test(p)), env.posts.join("\n"));
    assert.equal(env.tasks.filter((t) => t.running).length, 1, "only the ping Task is left");
});

test("arrangement: a clip not listed at the first look is looked for again before giving up", () => {
    const { live, track, env } = setup({ view: "Arranger", songTime: 16, arrangementDelay: 3 });
    env.send("variations", 2);
    const m = generate(env);
    env.reply("/musicgen/done", m.args[0], "/o/x_s1_v1.wav", "/o/x_s1_v2.wav");
    assert.doesNotMatch(env.status(), /made no arrangement clip/);
    env.settle(2000);
    const arr = track.children.arrangement_clips.map((c) => [c.props.start_time, c.props.name]);
    assert.deepEqual(arr, [[16, "warm rhodes chords v1"], [32, "warm rhodes chords v2"]]);
    assert.match(env.status(), /Done: track "Gen" at beat 16 \(bar 5\)/);
    assert.deepEqual(live.errors, []);
});

test("arrangement: a clip that never shows is reported after a bounded wait", () => {
    const { live, env } = setup({ view: "Arranger", arrangementDelay: 1e9 });
    const m = generate(env);
    env.reply("/musicgen/done", m.args[0], "/o/never.wav");
    env.settle(5000);
    assert.match(env.status(), /Could not create the clip \(Live made no arrangement clip from \/o\/never\.wav\): drag \/o\/never\.wav/);
    assert.equal(env.tasks.filter((t) => t.running).length, 1, "the wait ended; only the ping Task runs");
    assert.equal(live.callsOf("create_audio_clip").length, 1);
});

test("a refused create_audio_track renames no existing track; the stems are listed to drag", () => {
    const { live, track, env } = setup({ rejectCreateTrack: true });
    live.addTrack({ name: "Keys" });
    live.addTrack({ name: "Bass" });
    env.send("stems", 1);
    const m = generate(env);
    const id = m.args[0];
    env.reply("/musicgen/stems", id, 1, "/o/mix.wav", "drums", "/o/mix.drums.wav", "bass", "/o/mix.bass.wav");
    env.reply("/musicgen/done", id, "/o/mix.wav");
    env.settle(500);
    assert.deepEqual(live.song.children.tracks.map((t) => t.props.name), ["Gen", "Keys", "Bass"]);
    assert.equal(live.slotClips(track)[0].name, "warm rhodes chords", "the mix landed");
    assert.notEqual(live.slotClips(track)[0].muted, 1, "the mix still plays: its stems did not land");
    assert.match(env.status(), /Could not place the stems \(Live made no track for the drums stem\): drag \/o\/mix\.drums\.wav {2}\| {2}\/o\/mix\.bass\.wav/);
});

test("an empty prompt box is an empty prompt, not the word 'text'", () => {
    const { env } = setup();
    env.send("prompt", "text");                       // what [textedit] sends when empty
    env.send("generate");
    assert.equal(env.messages("/musicgen/generate").length, 0);
    assert.match(env.status(), /type a prompt first/);
    env.send("prompt", "text", "text");               // the box holds the word "text"
    env.send("generate");
    assert.equal(env.messages("/musicgen/generate")[0].args[1], "text");
    env.send("host", "text");                         // an emptied host box keeps the host
    assert.deepEqual(env.outletValues(7).filter((a) => a[0] === "host").pop(), ["host", "127.0.0.1"]);
});

test("no empty symbol is ever sent: an empty prompt goes as '-', empty keys are left out", () => {
    const msg = protocol.buildGenerate("j1", "", { bpm: 120, track: "", model: "", out_dir: "/o" });
    assert.deepEqual(msg.map((a) => a.v), ["/musicgen/generate", "j1", "-", "bpm", 120, "out_dir", "/o"]);
    assert.equal(protocol.buildGenerate("j2", "   ")[2].v, protocol.PROMPT_NONE);
    assert.equal(protocol.buildGenerate("j3", "lofi")[2].v, "lofi");

    // a melody without words from the device
    const live = new FakeLive({ setPath: SET });
    const audio = live.addTrack({ name: "Gen" });
    live.placeDevice(audio);
    const keys = live.addTrack({ name: "Keys", kind: "midi" });
    const clip = live.addMidiClip(keys, 0, [{ pitch: 60, start_time: 0, duration: 1, velocity: 100 }]);
    live.select({ clip, track: keys });
    const env = loadDevice(live);
    env.send("init");
    env.send("model", 4);                               // melody
    env.send("prompt", "text");
    env.send("melody");
    const g = env.messages("/musicgen/generate");
    assert.equal(g.length, 1, env.status());
    assert.equal(g[0].args[1], "-");
    for (const m of env.messages()) {
        for (const a of m.args) { assert.notEqual(a, "", `empty atom in ${m.address}`); }
    }
});

test("the ping Task and the waits stop when the device is deleted", () => {
    const { live, env } = setup({ view: "Arranger", arrangementDelay: 1e9 });
    const m = generate(env);
    env.reply("/musicgen/done", m.args[0], "/o/x.wav");
    env.tick(50);
    assert.ok(env.tasks.filter((t) => t.running).length >= 2, "ping + a wait");
    env.send("notifydeleted");
    assert.equal(env.tasks.filter((t) => t.running).length, 0);
    assert.ok(env.created.every((t) => t.freed), "every Task freed");
    const sent = env.sent.length;
    env.settle(3000);
    assert.equal(env.sent.length, sent, "no more pings");
    assert.equal(live.callsOf("create_audio_clip").length, 1);
});

test("reply ports: nothing bound before init; two devices never share an automatic port", () => {
    const globals = new Map();   // one Max: its Global objects are shared by every device
    const envs = [];
    for (let i = 0; i < 2; i++) {
        const live = new FakeLive({ setPath: SET, globals });
        // ids in one Live are unique; these two differ by 500 (9001 + id mod 500 collides)
        for (let k = 0; k < 500 * i; k++) { live.make("Other", {}, null); }
        live.placeDevice(live.addTrack({ name: "Gen" }));
        const env = loadDevice(live);
        env.send("port", 9100);
        env.send("host", "text", "localhost");
        assert.deepEqual(env.outletValues(8), [], "no reply port before live.thisdevice's init");
        env.send("init");
        envs.push(env);
    }
    const ports = envs.map((e) => e.outletValues(8).pop()[1]);
    assert.notEqual(ports[0], ports[1]);
    for (const p of ports) { assert.ok(p >= 9001 && p < 9501, String(p)); }
    // the first device goes: its port is free for the next one
    envs[0].send("notifydeleted");
    const live3 = new FakeLive({ setPath: SET, globals });
    for (let k = 0; k < 1000; k++) { live3.make("Other", {}, null); }
    live3.placeDevice(live3.addTrack({ name: "Gen" }));
    const env3 = loadDevice(live3);
    env3.send("init");
    assert.equal(env3.outletValues(8).pop()[1], ports[0]);
    // a fixed Reply port is used as set
    envs[1].send("replyport", 9300);
    assert.deepEqual(envs[1].outletValues(8).pop(), ["port", 9300]);
});
