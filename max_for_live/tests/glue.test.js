// The device script against a stand-in Live: requests it sends, clips it makes from replies.
// Every scenario runs on the bundle Max loads (musicgen_bridge.js); a few also on src/ directly.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { FakeLive, loadDevice } = require("./helpers/fake_live.js");

const SET = "/Users/me/Songs/Demo Project/Demo.als";
const OUT = "/Users/me/Songs/Demo Project/MusicGen";

// A Live 12 set with the device on audio track "Gen" (slots 0 and 2 filled), started.
function setup(opts = {}, { bundle = true } = {}) {
    const live = new FakeLive(Object.assign({ setPath: SET }, opts));
    const track = live.addTrack({ name: "Gen" });
    live.placeDevice(track, { inRack: !!opts.inRack });
    live.fillSlot(track, 0);
    live.fillSlot(track, 2);
    const env = loadDevice(live, { bundle });
    env.send("init");
    return { live, track, env };
}

function generate(env, prompt = "warm rhodes chords") {
    env.send("prompt", "text", prompt);
    env.send("generate");
    const msgs = env.messages("/musicgen/generate");
    return msgs[msgs.length - 1];
}

test("no Live API in global code: nothing touched before live.thisdevice's init", () => {
    const live = new FakeLive();
    live.placeDevice(live.addTrack());
    const env = loadDevice(live);
    assert.equal(live.constructed, 0);
    env.send("prompt", "text", "x");
    env.send("generate");
    assert.equal(live.constructed, 0);
    assert.match(env.status(), /still loading/);
    assert.equal(env.sent.length, 0);
    env.send("init");
    assert.ok(live.constructed > 0);
});

test("init: version read from live_app, first ping sent with the reply port", () => {
    const { env } = setup();
    assert.match(env.status(), /Ready \(Live 12\.1\.5\)/);
    const ping = env.messages("/musicgen/ping")[0];
    assert.deepEqual(ping.args.slice(0, 1), ["reply_port"]);
    assert.equal(ping.types, "si");
    const rp = ping.args[1];
    assert.ok(rp >= 9001 && rp < 9501);
    assert.deepEqual(env.outletValues(8)[0], ["port", rp]);      // udpreceive listens there
    assert.deepEqual(env.outletValues(7).slice(0, 2), [["host", "127.0.0.1"], ["port", 9000]]);
});

for (const bundle of [true, false]) {
    test(`generate -> done -> ClipSlot.create_audio_clip in the next empty slot (${bundle ? "bundle" : "src"})`, () => {
        const { live, track, env } = setup({}, { bundle });
        const m = generate(env);
        const id = m.args[0];
        assert.equal(m.args[1], "warm rhodes chords");
        const k = env.keys(m, 2);
        assert.deepEqual(k.bpm, { value: 120, type: "f" });
        assert.deepEqual(k.bars, { value: 4, type: "f" });
        assert.deepEqual(k.beats_per_bar, { value: 4, type: "f" });   // 0.5-32, may be fractional
        assert.equal(k.daw.value, "ableton");
        assert.equal(k.out_dir.value, OUT);
        assert.equal(k.reply_port.type, "i");
        assert.equal(k.seed.type, "i");
        assert.equal(k.temperature.type, "f");
        assert.equal(k.cfg.type, "f");
        assert.ok(!("variations" in k), "one variation is the daemon's default");
        assert.ok(!("model" in k), "model 'auto' sends no model key");

        env.reply("/musicgen/accepted", id, 1);
        assert.match(env.status(), /Queued \(1 ahead\)/);
        env.reply("/musicgen/progress", id, 0.42);
        assert.deepEqual(env.outletValues(5).pop(), [42]);
        assert.match(env.status(), /42%/);

        const file = OUT + "/warm-rhodes-chords_20261125-101500_s7.wav";
        live.fileSeconds[file] = 8;
        env.reply("/musicgen/done", id, file);
        const creates = live.callsOf("create_audio_clip");
        assert.equal(creates.length, 1);
        assert.equal(creates[0].type, "ClipSlot");
        assert.deepEqual(creates[0].args, [file]);
        assert.equal(creates[0].id, track.children.clip_slots[1].id, "slot 0 is filled: slot 1 is next");
        const clip = track.children.clip_slots[1].children.clip;
        assert.equal(clip.props.name, "warm rhodes chords");
        assert.equal(clip.props.warping, 1);
        assert.deepEqual(env.outletValues(5).pop(), [100]);
        assert.match(env.status(), /Done: track "Gen", slot 2/);
        assert.deepEqual(live.errors, []);
    });
}

test("variations land in consecutive empty slots, skipping filled ones", () => {
    const { live, track, env } = setup();
    env.send("variations", 3);
    const m = generate(env, "house groove");
    assert.deepEqual(env.keys(m, 2).variations, { value: 3, type: "i" });
    const paths = [1, 2, 3].map((v) => `${OUT}/house-groove_20261125-101500_s5_v${v}.wav`);
    env.reply("/musicgen/done", m.args[0], ...paths);
    const names = live.slotClips(track).map((c) => c && c.name);
    assert.deepEqual(names.slice(0, 6), ["existing", "house groove v1", "existing", "house groove v2", "house groove v3", null]);
    assert.deepEqual(live.slotClips(track)[3].file_path, paths[1]);
    assert.match(env.status(), /slots 2, 4, 5/);
});

test("no empty slot left: the status line names the files to drag", () => {
    const live = new FakeLive({ setPath: SET });
    const track = live.addTrack({ name: "Full", slots: 2 });
    live.placeDevice(track);
    live.fillSlot(track, 0);
    const env = loadDevice(live);
    env.send("init");
    env.send("variations", 2);
    const m = generate(env);
    env.reply("/musicgen/done", m.args[0], "/o/a_s1_v1.wav", "/o/a_s1_v2.wav");
    assert.equal(live.slotClips(track)[1].file_path, "/o/a_s1_v1.wav");
    assert.match(env.status(), /No empty clip slot left on track "Full": drag \/o\/a_s1_v2\.wav/);
});

test("arrangement: Track.create_audio_clip at the insert marker, variations one after another", () => {
    const { live, track, env } = setup({ view: "Arranger", songTime: 16 });
    env.send("variations", 2);
    const m = generate(env);
    assert.deepEqual(env.keys(m, 2).position, { value: 16, type: "f" });
    env.reply("/musicgen/done", m.args[0], "/o/x_s1_v1.wav", "/o/x_s1_v2.wav");
    const creates = live.callsOf("create_audio_clip");
    assert.deepEqual(creates.map((c) => [c.type, c.id, ...c.args]), [
        ["Track", track.id, "/o/x_s1_v1.wav", 16],
        ["Track", track.id, "/o/x_s1_v2.wav", 32],
    ]);
    const arr = track.children.arrangement_clips.map((c) => [c.props.start_time, c.props.name]);
    assert.deepEqual(arr, [[16, "warm rhodes chords v1"], [32, "warm rhodes chords v2"]]);
    assert.match(env.status(), /at beat 16 \(bar 5\)/);
    assert.deepEqual(live.errors, []);
});

test("the Place menu overrides the focused view", () => {
    const { live, env } = setup({ view: "Arranger" });
    env.send("place", 1);
    const m = generate(env);
    assert.ok(!("position" in env.keys(m, 2)));
    env.reply("/musicgen/done", m.args[0], "/o/s.wav");
    assert.equal(live.callsOf("create_audio_clip")[0].type, "ClipSlot");
});

test("Live 11: no create_audio_clip; the status says so and shows the path to drag", () => {
    const { live, env } = setup({ version: [11, 3, 25] });
    assert.match(env.status(), /Live 11\.3\.25.*12\.0\.5/);
    const m = generate(env);
    assert.ok(!("out_dir" in env.keys(m, 2)), "Live 11 exposes no Live Set path");
    env.reply("/musicgen/done", m.args[0], "/daemon/out/warm_s3.wav");
    assert.equal(live.callsOf("create_audio_clip").length, 0);
    assert.match(env.status(), /Live 11\.3\.25 cannot import clips.*12\.0\.5.*drag the file in: \/daemon\/out\/warm_s3\.wav/);
    assert.deepEqual(live.errors, [], "nothing Live 11 lacks is asked for");
});

test("Live 12.0.4 is treated like Live 11", () => {
    const { live, env } = setup({ version: [12, 0, 4] });
    const m = generate(env);
    env.reply("/musicgen/done", m.args[0], "/o/a.wav");
    assert.equal(live.callsOf("create_audio_clip").length, 0);
    assert.match(env.status(), /drag the file in: \/o\/a\.wav/);
});

test("error replies show in the status line and end the job", () => {
    const { env } = setup();
    const m = generate(env);
    env.reply("/musicgen/error", m.args[0], "unknown_model", "model large is not loaded (small is)");
    assert.equal(env.status(), "Error unknown_model: model large is not loaded (small is)");
    env.reply("/musicgen/done", m.args[0], "/o/late.wav");           // no job any more: ignored
    assert.equal(env.status(), "Error unknown_model: model large is not loaded (small is)");
    env.reply("/musicgen/error", "", "bad_request", "could not read the request");
    assert.equal(env.status(), "Error bad_request: could not read the request");
});

test("another device's replies on the same port are ignored", () => {
    const { live, env } = setup();
    env.reply("/musicgen/pong", "0.1.0");
    generate(env);
    const before = env.status();
    env.reply("/musicgen/done", "someone-else", "/o/x.wav");
    env.reply("/musicgen/error", "someone-else", "io_error", "nope");
    assert.equal(env.status(), before);
    assert.equal(live.callsOf("create_audio_clip").length, 0);
});

test("cancel sends /musicgen/cancel for the newest job; cancelled ends it", () => {
    const { env } = setup();
    const m = generate(env);
    env.send("cancel");
    const c = env.messages("/musicgen/cancel");
    assert.deepEqual(c.map((x) => x.args), [[m.args[0]]]);
    env.reply("/musicgen/cancelled", m.args[0]);
    assert.match(env.status(), /Cancelled "warm rhodes chords"/);
    env.send("cancel");
    assert.equal(env.status(), "Nothing to cancel");
});

test("continue a warped clip: region in file seconds via its warp markers; result in the next slot", () => {
    const { live, track, env } = setup({ tempo: 120 });
    // Slot 3: audio recorded at 100 BPM (0.6 s a beat), looping beats 4..12 in the song.
    const src = live.addAudioClip(track, 3, {
        name: "Vox take", file_path: "/Users/me/Music/vox take.wav", warping: 1, looping: 1,
        start_marker: 0, end_marker: 16, loop_start: 4, loop_end: 12,
        warp_markers: [{ beat_time: 0, sample_time: 0 }, { beat_time: 16, sample_time: 9.6 }],
    });
    live.select({ clip: src });
    env.send("continuation");
    const m = env.messages("/musicgen/continue")[0];
    assert.equal(m.args[1], "/Users/me/Music/vox take.wav");
    const k = env.keys(m, 2);
    assert.equal(k.start.type, "f");
    assert.ok(Math.abs(k.start.value - 2.4) < 1e-5, k.start.value);
    assert.ok(Math.abs(k.end.value - 7.2) < 1e-5, k.end.value);
    assert.ok(!("loop" in k));
    assert.ok(!("prompt" in k), "an empty prompt is not sent");
    env.reply("/musicgen/done", m.args[0], "/o/vox_cont.wav");
    const creates = live.callsOf("create_audio_clip");
    assert.equal(creates[0].id, track.children.clip_slots[4].id, "the slot after the clip");
    assert.equal(track.children.clip_slots[4].children.clip.props.name, "Vox take cont");
});

test("continue an unwarped clip: markers are already seconds", () => {
    const { live, track, env } = setup();
    const src = live.addAudioClip(track, 1, {
        file_path: "/m/raw.wav", warping: 0, looping: 0, start_marker: 1.25, end_marker: 5.5,
    });
    live.select({ clip: src });
    env.send("prompt", "text", "keep the groove going");
    env.send("continuation");
    const k = env.keys(env.messages("/musicgen/continue")[0], 2);
    assert.deepEqual([k.start.value, k.end.value], [1.25, 5.5]);
    assert.equal(k.prompt.value, "keep the groove going");
});

test("continue an arrangement clip: the result goes right after it", () => {
    const { live, track, env } = setup();
    const src = live.addArrangementAudioClip(track, { start_time: 8, end_time: 24, warping: 1, start_marker: 0, end_marker: 16,
        warp_markers: [{ beat_time: 0, sample_time: 0 }, { beat_time: 16, sample_time: 8 }] });
    live.select({ clip: src });
    env.send("continuation");
    const m = env.messages("/musicgen/continue")[0];
    assert.deepEqual(env.keys(m, 2).position, { value: 24, type: "f" });
    env.reply("/musicgen/done", m.args[0], "/o/c.wav");
    const c = live.callsOf("create_audio_clip")[0];
    assert.deepEqual([c.type, c.args[1]], ["Track", 24]);
});

test("continue needs an audio clip", () => {
    const { live, track, env } = setup();
    env.send("continuation");
    assert.match(env.status(), /select an audio clip first/);
    live.select({ clip: live.addMidiClip(track, 5, []) });
    env.send("continuation");
    assert.match(env.status(), /MIDI clip: use Melody/);
    assert.equal(env.messages("/musicgen/continue").length, 0);
});

test("melody: unmuted notes of the playing region, chunked, then a generate naming them", () => {
    const live = new FakeLive({ setPath: SET, tempo: 96 });
    const audio = live.addTrack({ name: "Gen" });
    live.placeDevice(audio);
    const keys = live.addTrack({ name: "Keys", kind: "midi" });
    const notes = [];
    for (let i = 0; i < 700; i++) {
        notes.push({ pitch: 48 + (i % 24), start_time: 4 + i * (8 / 700), duration: 0.1, velocity: 90, mute: i % 7 === 0 ? 1 : 0 });
    }
    notes.push({ pitch: 30, start_time: 1, duration: 1, velocity: 90, mute: 0 });      // before the loop
    const clip = live.addMidiClip(keys, 0, notes, { looping: 1, loop_start: 4, loop_end: 12, start_marker: 0, end_marker: 16 });
    live.select({ clip, track: keys });
    const env = loadDevice(live);
    env.send("init");
    env.send("reply", "/musicgen/status", "queue", 0, "running", "", "model", "melody", "device", "cpu", "clock_bpm", 0);
    env.send("prompt", "text", "string quartet");
    env.send("melody");
    const chunks = env.messages("/musicgen/notes");
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    const id = chunks[0].args[0];
    let count = 0;
    for (let i = 0; i < chunks.length; i++) {
        assert.ok(env.datagrams.find((d) => d.length > 8000) === undefined);
        assert.equal(chunks[i].args[0], id);
        assert.match(chunks[i].types, /^s(iffi)+$/);
        count += (chunks[i].args.length - 1) / 4;
    }
    assert.equal(count, 600, "700 notes minus 100 muted; the one before the loop is out");
    assert.ok(Math.abs(chunks[0].args[2] - 8 / 700) < 1e-6, "beats from the loop start (note 0 is muted)");
    const g = env.messages("/musicgen/generate");
    assert.equal(g.length, 1);
    assert.equal(g[0].args[0], id);
    const k = env.keys(g[0], 2);
    assert.deepEqual(k.melody_notes, { value: id, type: "s" });
    assert.deepEqual(k.bpm, { value: 96, type: "f" });
    assert.deepEqual(k.bars, { value: 2, type: "f" }, "the 8-beat loop is 2 bars");
    // The notes are sent before the generate that uses them.
    const order = env.messages().map((m) => m.address).filter((a) => a !== "/musicgen/ping" && a !== "/musicgen/status");
    assert.equal(order[order.length - 1], "/musicgen/generate");
    env.reply("/musicgen/done", id, "/o/quartet.wav");
    assert.equal(audio.children.clip_slots[0].children.clip.props.name, "string quartet");
});

test("melody is refused early when the daemon's model takes no melody", () => {
    const live = new FakeLive({ setPath: SET });
    const audio = live.addTrack({ name: "Gen" });
    live.placeDevice(audio);
    const clip = live.addMidiClip(live.addTrack({ kind: "midi" }), 0, [{ pitch: 60, start_time: 0, duration: 1, velocity: 100 }]);
    live.select({ clip });
    const env = loadDevice(live);
    env.send("init");
    env.reply("/musicgen/status", "queue", 0, "running", "", "model", "small", "device", "cpu", "clock_bpm", 0);
    env.send("melody");
    assert.match(env.status(), /takes no melody/);
    assert.equal(env.messages("/musicgen/notes").length, 0);
});

test("device on a MIDI track: clips go to the selected audio track, else a clear error", () => {
    const live = new FakeLive({ setPath: SET });
    const midi = live.addTrack({ name: "Synth", kind: "midi" });
    live.placeDevice(midi);
    const env = loadDevice(live);
    env.send("init");
    live.select({ track: midi });
    generate(env);
    assert.match(env.status(), /select an audio track/);
    assert.equal(env.messages("/musicgen/generate").length, 0);
    const audio = live.addTrack({ name: "Bounce" });
    live.select({ track: audio });
    const m = generate(env);
    env.reply("/musicgen/done", m.args[0], "/o/y.wav");
    assert.equal(audio.children.clip_slots[0].children.clip.props.file_path, "/o/y.wav");
});

test("device inside a rack still finds its track", () => {
    const { live, track, env } = setup({ inRack: true });
    const m = generate(env);
    env.reply("/musicgen/done", m.args[0], "/o/r.wav");
    assert.equal(live.callsOf("create_audio_clip")[0].id, track.children.clip_slots[1].id);
});

test("frozen target track is refused before sending", () => {
    const live = new FakeLive({ setPath: SET });
    live.placeDevice(live.addTrack({ name: "Ice", frozen: true }));
    const env = loadDevice(live);
    env.send("init");
    generate(env);
    assert.match(env.status(), /frozen/);
    assert.equal(env.messages("/musicgen/generate").length, 0);
});

test("length in seconds, time signatures and the key of the set", () => {
    const { env } = setup({ tempo: 90, numerator: 6, denominator: 8, scaleMode: true, rootNote: 9, scaleName: "Minor" });
    let k = env.keys(generate(env, "lofi piano"), 2);
    assert.deepEqual([k.bpm.value, k.bars.value, k.beats_per_bar.value], [90, 4, 3]);
    assert.equal(env.messages("/musicgen/generate")[0].args[1], "lofi piano, in A minor");
    env.send("usekey", 0);
    assert.equal(generate(env, "lofi piano").args[1], "lofi piano");
    env.send("lengthmode", 1);
    env.send("seconds", 6.5);
    k = env.keys(generate(env), 2);
    assert.deepEqual(k.duration, { value: 6.5, type: "f" });
    assert.ok(!("bars" in k) && !("loop" in k));
    env.send("lengthmode", 0);
    env.send("bars", 200);
    generate(env);
    assert.match(env.status(), /at most 300 s/);
});

test("output folder: the user's folder when the set is not saved, the daemon's otherwise", () => {
    const { env } = setup({ setPath: "" });
    let m = generate(env);
    assert.ok(!("out_dir" in env.keys(m, 2)));
    assert.match(env.status(), /daemon's output folder/);
    env.send("folder", "Macintosh HD:/Users/me/Generated/");
    m = generate(env);
    assert.equal(env.keys(m, 2).out_dir.value, "/Volumes/Macintosh HD/Users/me/Generated");
    const saved = env.outletValues(9).pop();
    assert.equal(saved[0], "state");
    assert.equal(JSON.parse(saved[1]).folder, "/Volumes/Macintosh HD/Users/me/Generated");
});

test("saved state comes back from pattr: folder, prompt, host, last seed", () => {
    const live = new FakeLive({ setPath: "" });
    live.placeDevice(live.addTrack());
    const env = loadDevice(live);
    env.send("restore", "state", JSON.stringify({ v: 1, prompt: "dusty drums", folder: "/Users/me/G", host: "10.0.0.5",
        port: 9100, replyPort: 9200, token: "t0k", lastSeed: 77 }));
    assert.deepEqual(env.ui("prompt").pop(), ["set", "dusty drums"]);
    assert.deepEqual(env.ui("folder").pop(), ["set", "/Users/me/G"]);
    assert.deepEqual(env.ui("host").pop(), ["set", "10.0.0.5"]);
    env.send("init");
    assert.deepEqual(env.outletValues(7).slice(-2), [["host", "10.0.0.5"], ["port", 9100]]);
    assert.deepEqual(env.outletValues(8).pop(), ["port", 9200]);
    const ping = env.messages("/musicgen/ping").pop();
    assert.deepEqual(ping.args, ["reply_port", 9200, "token", "t0k"]);
    const k = env.keys(generate(env, "dusty drums"), 2);
    assert.equal(k.out_dir.value, "/Users/me/G");
    assert.equal(k.token.value, "t0k");
    env.send("cancel");
    assert.deepEqual(env.messages("/musicgen/cancel").pop().args.slice(1), ["token", "t0k"]);
    env.send("recall");
    assert.deepEqual(env.ui("seed").pop(), ["set", k.seed.value]);
});

test("seed: dice draws one per request, recall repeats the last result's seed", () => {
    const { env } = setup();
    const m1 = generate(env);
    const s1 = env.keys(m1, 2).seed.value;
    env.reply("/musicgen/done", m1.args[0], "/o/a.wav");
    const s2 = env.keys(generate(env), 2).seed.value;
    assert.notEqual(s1, s2);
    env.send("recall");
    assert.deepEqual(env.ui("dice").pop(), ["set", 0]);
    const s3 = env.keys(generate(env), 2).seed.value;
    assert.equal(s3, s2, "recall brings back the latest request's seed");
    env.send("dice", 0);
    env.send("seed", 1234);
    assert.equal(env.keys(generate(env), 2).seed.value, 1234);
    assert.equal(env.keys(generate(env), 2).seed.value, 1234);
});

test("connection indicator from ping/pong: lost after the timeout, back on a pong", () => {
    const { env } = setup();
    env.tick(2000);
    env.tick(2000);
    assert.equal(env.outletValues(6).length, 0);
    env.tick(2000);                                   // 6 s without an answer
    assert.deepEqual(env.outletValues(6).pop(), [0]);
    assert.match(env.status(), /No answer from 127\.0\.0\.1:9000.*musicgen-bridge serve/);
    env.reply("/musicgen/pong", "0.1.0");
    assert.deepEqual(env.outletValues(6).pop(), [1]);
    assert.match(env.status(), /Connected to musicgen-bridge 0\.1\.0/);
    assert.equal(env.messages("/musicgen/status").length, 1, "asks for the daemon's model on connect");
    const pings = env.messages("/musicgen/ping").length;
    env.tick(2000);
    assert.equal(env.messages("/musicgen/ping").length, pings + 1);
});

test("settings: host and ports go to udpsend/udpreceive and into the saved state", () => {
    const { env } = setup();
    env.send("host", "text", "192.168.1.20");
    env.send("port", 9100);
    env.send("replyport", 9555);
    assert.deepEqual(env.outletValues(7).slice(-2), [["host", "192.168.1.20"], ["port", 9100]]);
    assert.deepEqual(env.outletValues(8).pop(), ["port", 9555]);
    const st = JSON.parse(env.outletValues(9).pop()[1]);
    assert.deepEqual([st.host, st.port, st.replyPort], ["192.168.1.20", 9100, 9555]);
    env.send("port", 0);                             // out of range: ignored
    assert.equal(JSON.parse(env.outletValues(9).pop()[1]).port, 9100);
});

test("Live's wrong tempo guess for a new clip is fixed through its end warp marker", () => {
    const { live, track, env } = setup({ warpGuessBeats: 8 });    // Live thinks 8 beats, we made 16
    const m = generate(env);
    live.fileSeconds["/o/g.wav"] = 8;
    env.reply("/musicgen/done", m.args[0], "/o/g.wav");
    const mv = live.callsOf("move_warp_marker");
    assert.deepEqual(mv.map((c) => c.args), [[8, 8]]);
    const clip = track.children.clip_slots[1].children.clip;
    assert.equal(clip.warpMarkers[1].beat_time, 16);
    assert.deepEqual([clip.props.end_marker, clip.props.loop_end], [16, 16]);
});

test("a right guess is left alone", () => {
    const { live, env } = setup();
    const m = generate(env);
    live.fileSeconds["/o/ok.wav"] = 8;
    env.reply("/musicgen/done", m.args[0], "/o/ok.wav");
    assert.equal(live.callsOf("move_warp_marker").length, 0);
});

test("a request nobody acknowledges is reported; a late result still lands", () => {
    const { live, track, env } = setup();
    const m = generate(env);
    env.tick(2000);
    env.tick(2000);
    env.tick(2000);
    env.tick(2000);
    assert.doesNotMatch(env.status(), /No answer to/);
    env.tick(2000);
    assert.match(env.status(), /No answer to "warm rhodes chords" from 127\.0\.0\.1:9000/);
    env.reply("/musicgen/done", m.args[0], "/o/late.wav");
    assert.equal(track.children.clip_slots[1].children.clip.props.file_path, "/o/late.wav");
    assert.equal(live.callsOf("create_audio_clip").length, 1);
});

test("unknown messages are reported, internal helpers cannot be called from the patch", () => {
    const { env } = setup();
    env.send("frobnicate", 1);
    assert.match(env.posts.pop(), /unknown message frobnicate/);
    env.send("sendMessage", []);
    assert.match(env.posts.pop(), /unknown message sendMessage/);
});

// ---- stems ----------------------------------------------------------------------------------

const STEMS4 = ["drums", "bass", "other", "vocals"];

function stemsReply(env, id, variation, mix, names = STEMS4) {
    const base = mix.replace(/\.wav$/, "");
    const args = [];
    for (const n of names) { args.push(n, `${base}.${n}.wav`); }
    env.reply("/musicgen/stems", id, variation, mix, ...args);
    return names.map((n) => `${base}.${n}.wav`);
}

for (const bundle of [true, false]) {
    test(`stems (session): new adjacent tracks, same scene, clips named "<prompt> \u2013 <stem>" (${bundle ? "bundle" : "src"})`, () => {
        const { live, track, env } = setup({}, { bundle });
        const keys = live.addTrack({ name: "Keys" });          // a user's track after the device's
        env.send("stems", 1);
        const m = generate(env);
        assert.deepEqual(env.keys(m, 2).stems, { value: 1, type: "i" });
        const id = m.args[0];
        const mix = OUT + "/warm-rhodes-chords_20261125-101500_s7.wav";
        const stemFiles = stemsReply(env, id, 1, mix);
        assert.equal(live.callsOf("create_audio_clip").length, 0, "nothing lands before done");
        env.reply("/musicgen/done", id, mix);

        const tracks = live.song.children.tracks;
        assert.deepEqual(tracks.map((t) => t.props.name), ["Gen", "Gen \u2013 drums", "Gen \u2013 bass",
            "Gen \u2013 other", "Gen \u2013 vocals", "Keys"]);
        assert.deepEqual(live.callsOf("create_audio_track").map((c) => [c.type, ...c.args]),
            [["Song", 1], ["Song", 2], ["Song", 3], ["Song", 4]]);
        for (let i = 0; i < 4; i++) {
            const clips = live.slotClips(tracks[i + 1]);
            assert.equal(clips[1].file_path, stemFiles[i], "same scene as the mix (slot 2)");
            assert.equal(clips[1].name, "warm rhodes chords \u2013 " + STEMS4[i]);
            assert.equal(clips[1].warping, 1);
            assert.equal(clips.filter(Boolean).length, 1);
        }
        assert.equal(live.slotClips(track)[1].name, "warm rhodes chords");
        assert.equal(live.slotClips(track)[1].muted, 1, "the mix is deactivated: its stems play instead");
        assert.deepEqual(live.slotClips(keys).filter(Boolean), []);
        assert.match(env.status(), /Done: track "Gen", slot 2, 4 stems on the tracks below in the same scene/);
        assert.deepEqual(live.errors, []);

        // the next job reuses the stem tracks: no new ones, its scene on each of them
        const m2 = generate(env, "house groove");
        const mix2 = OUT + "/house-groove_20261125-101600_s8.wav";
        stemsReply(env, m2.args[0], 1, mix2);
        env.reply("/musicgen/done", m2.args[0], mix2);
        assert.equal(live.song.children.tracks.length, 6);
        assert.equal(live.slotClips(tracks[1])[3].name, "house groove \u2013 drums");
        assert.equal(live.slotClips(track)[3].name, "house groove");
        assert.deepEqual(live.errors, []);
    });
}

test("stems (arrangement): variations and their stems at the same positions", () => {
    const { live, track, env } = setup({ view: "Arranger", songTime: 16 });
    env.send("stems", 1);
    env.send("variations", 2);
    const m = generate(env);
    const id = m.args[0];
    const mixes = ["/o/x_s1_v1.wav", "/o/x_s1_v2.wav"];
    stemsReply(env, id, 1, mixes[0], ["drums", "bass"]);
    stemsReply(env, id, 2, mixes[1], ["drums", "bass"]);
    env.reply("/musicgen/done", id, ...mixes);
    const [main, drums, bass] = live.song.children.tracks;
    assert.equal(main, track);
    assert.deepEqual([drums.props.name, bass.props.name], ["Gen \u2013 drums", "Gen \u2013 bass"]);
    const arr = (t) => t.children.arrangement_clips.map((c) => [c.props.start_time, c.props.name, c.props.file_path]);
    assert.deepEqual(arr(main).map((x) => x[0]), [16, 32]);
    assert.deepEqual(main.children.arrangement_clips.map((c) => c.props.muted), [1, 1]);
    assert.deepEqual(arr(drums), [[16, "warm rhodes chords v1 \u2013 drums", "/o/x_s1_v1.drums.wav"],
        [32, "warm rhodes chords v2 \u2013 drums", "/o/x_s1_v2.drums.wav"]]);
    assert.deepEqual(arr(bass).map((x) => x[0]), [16, 32]);
    assert.match(env.status(), /2 stems on the tracks below at the same position/);
    assert.deepEqual(live.errors, []);
});

test("stems: a taken slot on a stem track is reported with the file to drag", () => {
    const { live, env } = setup();
    const drums = live.addTrack({ name: "Gen \u2013 drums" });
    live.fillSlot(drums, 1);
    env.send("stems", 1);
    const m = generate(env);
    const files = stemsReply(env, m.args[0], 1, "/o/a.wav", ["drums", "bass"]);
    env.reply("/musicgen/done", m.args[0], "/o/a.wav");
    assert.deepEqual(live.song.children.tracks.map((t) => t.props.name), ["Gen", "Gen \u2013 drums", "Gen \u2013 bass"]);
    assert.match(env.status(), new RegExp("slot taken.*: drag " + files[0].replace(/\./g, "\\.")));
    assert.equal(live.slotClips(live.song.children.tracks[2])[1].file_path, files[1]);
    assert.equal(live.slotClips(live.song.children.tracks[0])[1].muted, undefined, "not all stems landed: mix stays on");
});

test("stems off: no stems key, and stems of another device's job are ignored", () => {
    const { live, env } = setup();
    const m = generate(env);
    assert.ok(!("stems" in env.keys(m, 2)));
    env.reply("/musicgen/stems", "not-ours", 1, "/o/z.wav", "drums", "/o/z.drums.wav");
    env.reply("/musicgen/done", m.args[0], "/o/a.wav");
    assert.equal(live.song.children.tracks.length, 1);
    assert.equal(live.callsOf("create_audio_clip").length, 1);
});

test("stems on Live before 12.0.5: the mix and stem files are listed to drag", () => {
    const { env } = setup({ version: [11, 3, 25] });
    env.send("stems", 1);
    const m = generate(env);
    const files = stemsReply(env, m.args[0], 1, "/o/a.wav", ["drums"]);
    env.reply("/musicgen/done", m.args[0], "/o/a.wav");
    assert.match(env.status(), new RegExp("drag the files in: /o/a\\.wav  \\|  " + files[0].replace(/\./g, "\\.")));
});

test("the Model menu is filled from /musicgen/models; choosing a model asks the daemon to load it", () => {
    const { env } = setup();
    env.reply("/musicgen/pong", "0.1.0");
    assert.equal(env.messages("/musicgen/models").length, 1, "asks for the models on connect");
    env.reply("/musicgen/models", 3, "small", 0, 0, 0, 0, "my fine-tune", 0, 0, 2400.5, 1,
        "tiny-melody", 1, 0, 1.2, 0);
    const ranges = env.ui("model").filter((a) => a[0] === "_parameter_range");
    assert.deepEqual(ranges.pop(), ["_parameter_range", "auto", "small", "my fine-tune", "tiny-melody"]);
    env.send("model", 3);
    const loads = env.messages("/musicgen/load");
    assert.equal(loads.length, 1);
    assert.equal(loads[0].args[0], "tiny-melody");
    assert.match(env.status(), /load tiny-melody/);
    env.reply("/musicgen/loading", "tiny-melody", 0.8);
    assert.match(env.status(), /Loading model tiny-melody 80%/);
    env.reply("/musicgen/loaded", "tiny-melody");
    assert.equal(env.status(), "Model tiny-melody loaded");
    const m = generate(env);
    const k = {};
    for (let i = 2; i + 1 < m.args.length; i += 2) { k[m.args[i]] = m.args[i + 1]; }
    assert.equal(k.model, "tiny-melody");
    env.send("model", 3);                            // the same choice again: no second load
    assert.equal(env.messages("/musicgen/load").length, 1);
});
