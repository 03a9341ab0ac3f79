// OSC messages, melody chunking and reply parsing (src/mgb_protocol.js).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const p = require("../src/mgb_protocol.js");
const { encodeOsc, decodeOsc } = require("./helpers/fake_live.js");

function keys(msg, from) {
    const out = {};
    for (let i = from; i + 1 < msg.length; i += 2) { out[msg[i].v] = msg[i + 1]; }
    return out;
}

test("generate: id, prompt, then typed key/value pairs; whole-number floats stay floats", () => {
    const msg = p.buildGenerate("job1", "warm rhodes chords", {
        bpm: 120, bars: 4, beats_per_bar: 4, seed: 7, temperature: 1, cfg: 3, loop: true,
        daw: "ableton", reply_port: 9001, out_dir: "/Songs/Demo Project/MusicGen", model: undefined,
    });
    assert.deepEqual(msg.slice(0, 3), [
        { t: "s", v: "/musicgen/generate" }, { t: "s", v: "job1" }, { t: "s", v: "warm rhodes chords" }]);
    const k = keys(msg, 3);
    assert.deepEqual(k.bpm, { t: "f", v: 120 });
    assert.deepEqual(k.bars, { t: "f", v: 4 });
    assert.deepEqual(k.beats_per_bar, { t: "f", v: 4 });
    assert.deepEqual(k.seed, { t: "i", v: 7 });
    assert.deepEqual(k.temperature, { t: "f", v: 1 });
    assert.deepEqual(k.loop, { t: "i", v: 1 });
    assert.deepEqual(k.reply_port, { t: "i", v: 9001 });
    assert.equal(k.out_dir.v, "/Songs/Demo Project/MusicGen");
    assert.ok(!("model" in k), "undefined keys are left out");
    // On the wire: 'f' for bpm, never 'd'.
    const d = decodeOsc(encodeOsc(msg));
    assert.equal(d.address, "/musicgen/generate");
    assert.equal(d.types[d.args.indexOf("bpm") + 1], "f");
    assert.ok(!d.types.includes("d"));
});

test("keys come out in a fixed order, whatever order the caller used", () => {
    const a = p.buildGenerate("x", "p", { cfg: 3, bpm: 100, seed: 1 });
    const b = p.buildGenerate("x", "p", { seed: 1, bpm: 100, cfg: 3 });
    assert.deepEqual(a, b);
    assert.deepEqual(a.slice(3).filter((_, i) => i % 2 === 0).map((x) => x.v), ["bpm", "seed", "cfg"]);
});

test("continue: audio path positional, prompt/start/end as keys", () => {
    const msg = p.buildContinue("c1", "/Users/me/take 1.wav", { start: 0, end: 6.5, prompt: "more", duration: 8 });
    assert.equal(msg[0].v, "/musicgen/continue");
    assert.equal(msg[2].v, "/Users/me/take 1.wav");
    const k = keys(msg, 3);
    assert.deepEqual(k.start, { t: "f", v: 0 });
    assert.deepEqual(k.end, { t: "f", v: 6.5 });
    assert.deepEqual(k.prompt, { t: "s", v: "more" });
    assert.throws(() => p.buildContinue("c1", "", {}), /audio file/);
});

test("bad ids, unknown keys and non-numbers are refused before sending", () => {
    assert.throws(() => p.buildGenerate("has space", "p", {}), /bad job id/);
    assert.throws(() => p.buildGenerate("x".repeat(65), "p", {}), /bad job id/);
    assert.throws(() => p.buildGenerate("ok", "p", { bmp: 120 }), /unknown request key bmp/);
    assert.throws(() => p.buildGenerate("ok", "p", { bpm: "fast" }), /bpm must be a number/);
    assert.throws(() => p.buildGenerate("ok", "p", { seed: NaN }), /seed must be a number/);
});

test("cancel, ping and status", () => {
    assert.deepEqual(p.buildCancel("j9"), [{ t: "s", v: "/musicgen/cancel" }, { t: "s", v: "j9" }]);
    assert.deepEqual(p.buildCancel("j9", { token: "t" }).map((a) => a.v), ["/musicgen/cancel", "j9", "token", "t"]);
    const ping = p.buildPing({ reply_port: 9001, token: "s3cret", seed: 4 });
    assert.deepEqual(ping.map((a) => a.v), ["/musicgen/ping", "reply_port", 9001, "token", "s3cret"]);
    assert.equal(ping[2].t, "i");
    assert.deepEqual(p.buildStatus({}).map((a) => a.v), ["/musicgen/status"]);
});

test("oscSize equals the encoded datagram length (ASCII and UTF-8 text)", () => {
    const msgs = [
        p.buildGenerate("a", "", {}),
        p.buildGenerate("abc", "héllo wörld ♫ 🎹", { bpm: 93.5, seed: 3 }),
        p.buildNotesMessages("n1", [{ pitch: 60, start_beats: 0, length_beats: 1, velocity: 100 }])[0],
    ];
    for (const m of msgs) { assert.equal(p.oscSize(m), encodeOsc(m).length); }
});

test("notesFromLive: skips muted notes, keeps the playing region, beats relative to its start", () => {
    const json = JSON.stringify({ notes: [
        { note_id: 1, pitch: 64, start_time: 5, duration: 1, velocity: 90, mute: 0 },
        { note_id: 2, pitch: 60, start_time: 4, duration: 0.5, velocity: 100, mute: 0 },
        { note_id: 3, pitch: 62, start_time: 4.5, duration: 1, velocity: 80, mute: 1 },
        { note_id: 4, pitch: 67, start_time: 7.5, duration: 2, velocity: 127.4, mute: 0 },
        { note_id: 5, pitch: 48, start_time: 2, duration: 4, velocity: 70, mute: 0 },
        { note_id: 6, pitch: 72, start_time: 8, duration: 1, velocity: 70, mute: 0 },
    ] });
    const notes = p.notesFromLive(json, 4, 8);
    assert.deepEqual(notes, [
        { pitch: 60, start_beats: 0, length_beats: 0.5, velocity: 100 },
        { pitch: 64, start_beats: 1, length_beats: 1, velocity: 90 },
        { pitch: 67, start_beats: 3.5, length_beats: 0.5, velocity: 127 },   // cut at the region end
    ]);
    assert.deepEqual(p.notesFromLive({ notes: [] }, 0, 4), []);
});

test("notes: 4-tuples pitch:i start:f length:f velocity:i, chunked under 8 kB per datagram", () => {
    const notes = [];
    for (let i = 0; i < 2000; i++) {
        notes.push({ pitch: 36 + (i % 48), start_beats: i * 0.25, length_beats: 0.25, velocity: 1 + (i % 127) });
    }
    const msgs = p.buildNotesMessages("mel-1", notes);
    assert.ok(msgs.length > 1);
    let back = [];
    for (const m of msgs) {
        const bytes = encodeOsc(m);
        assert.ok(bytes.length <= 8000, `datagram of ${bytes.length} bytes`);
        const d = decodeOsc(bytes);
        assert.equal(d.address, "/musicgen/notes");
        assert.equal(d.args[0], "mel-1");
        assert.equal(d.types, "s" + "iffi".repeat((d.args.length - 1) / 4));
        assert.ok((d.args.length - 1) / 4 <= p.MAX_NOTES_PER_MESSAGE);
        for (let i = 1; i < d.args.length; i += 4) { back.push(d.args.slice(i, i + 4)); }
    }
    assert.equal(back.length, notes.length);
    assert.deepEqual(back[0], [36, 0, 0.25, 1]);
    assert.deepEqual(back[1999], [36 + (1999 % 48), 1999 * 0.25, 0.25, 1 + (1999 % 127)]);
    // With a token every message ends with "token <t>" and still fits.
    const withToken = p.buildNotesMessages("mel-1", notes, 8000, "s3cret");
    for (const m of withToken) {
        assert.ok(encodeOsc(m).length <= 8000);
        assert.deepEqual(m.slice(-2).map((a) => a.v), ["token", "s3cret"]);
        assert.equal((m.length - 4) % 4, 0);
    }
    // A smaller byte limit makes more, smaller messages.
    const small = p.buildNotesMessages("mel-1", notes.slice(0, 100), 600);
    assert.ok(small.every((m) => encodeOsc(m).length <= 600));
    assert.equal(small.reduce((n, m) => n + (m.length - 2) / 4, 0), 100);
});

test("parseReply understands every reply of the protocol", () => {
    assert.deepEqual(p.parseReply("/musicgen/accepted", ["j", 2]), { type: "accepted", id: "j", queuePosition: 2, preset: "" });
    assert.equal(p.parseReply("/musicgen/accepted", ["midi-1-1", 0, "spark"]).preset, "spark");
    assert.deepEqual(p.parseReply("/musicgen/progress", ["j", 0.25]), { type: "progress", id: "j", fraction: 0.25 });
    assert.equal(p.parseReply("/musicgen/progress", ["j", 7]).fraction, 1);
    assert.deepEqual(p.parseReply("/musicgen/done", ["j", "/a b/1.wav", "/a b/2.wav"]),
        { type: "done", id: "j", paths: ["/a b/1.wav", "/a b/2.wav"] });
    assert.deepEqual(p.parseReply("/musicgen/error", ["j", "bad_audio", "region outside the file"]),
        { type: "error", id: "j", code: "bad_audio", message: "region outside the file" });
    assert.deepEqual(p.parseReply("/musicgen/error", ["", "bad_request", "no id"]).id, "");
    assert.deepEqual(p.parseReply("/musicgen/cancelled", ["j"]), { type: "cancelled", id: "j" });
    assert.deepEqual(p.parseReply("/musicgen/pong", ["0.1.0"]), { type: "pong", version: "0.1.0" });
    assert.deepEqual(p.parseReply("/musicgen/preview", ["j", "/p.wav"]), { type: "preview", id: "j", path: "/p.wav" });
    const st = p.parseReply("/musicgen/status", ["queue", 1, "running", "", "model", "small", "device", "cuda", "clock_bpm", 0]);
    assert.equal(st.type, "status");
    assert.deepEqual(st.fields, { queue: 1, running: "", model: "small", device: "cuda", clock_bpm: 0 });
    assert.equal(p.parseReply("/other", [1]).type, "unknown");
    // Ids that look like numbers arrive from Max as numbers: they still compare as strings.
    assert.equal(p.parseReply("/musicgen/done", [42, "/x.wav"]).id, "42");
});

test("seedFromPath reads the seed out of the daemon's file names", () => {
    assert.equal(p.seedFromPath("/o/warm-rhodes_20261125-101500_s3.wav"), 3);
    assert.equal(p.seedFromPath("/o/warm-rhodes_20261125-101500_s1234_v2.flac"), 1234);
    assert.equal(p.seedFromPath("C:\\o\\x_20261125-101500_s77_1.wav"), 77);
    assert.equal(p.seedFromPath("/o/other.wav"), null);
});

test("stems: the request key is an int 0/1; /musicgen/stems parses into tagged paths", () => {
    const k = keys(p.buildGenerate("j", "x", { stems: true }), 3);
    assert.deepEqual(k.stems, { t: "i", v: 1 });
    assert.ok(!("stems" in keys(p.buildGenerate("j", "x", { stems: undefined }), 3)));
    const r = p.parseReply("/musicgen/stems", ["j", 2, "/o/a_v2.wav", "drums", "/o/a_v2.drums.wav",
        "bass", "/o/a_v2.bass.wav"]);
    assert.deepEqual(r, { type: "stems", id: "j", variation: 2, mix: "/o/a_v2.wav", stems: [
        { name: "drums", path: "/o/a_v2.drums.wav" }, { name: "bass", path: "/o/a_v2.bass.wav" }] });
    assert.equal(p.parseReply("/musicgen/stems", ["j", "x", "/m.wav"]).variation, 1);
    assert.deepEqual(p.parseReply("/musicgen/stems", ["j", 1, "/m.wav", "drums"]).stems, []);
    // an old-style done is unchanged: only the mix paths
    assert.deepEqual(p.parseReply("/musicgen/done", ["j", "/o/a.wav"]).paths, ["/o/a.wav"]);
});

test("jam: start carries request keys; prompt/stop/launched carry token and reply_port; jam replies parse", () => {
    const start = p.buildJamStart("mg-1j", { prompt: "x", bpm: 93.5, bars: 2, beats_per_bar: 3.5, reply_port: 9001 });
    assert.deepEqual(start.slice(0, 3).map((a) => a.v), ["/musicgen/jam", "mg-1j", "start"]);
    const k = keys(start, 3);
    assert.deepEqual(k.bpm, { t: "f", v: 93.5 });
    assert.deepEqual(k.bars, { t: "f", v: 2 });
    assert.deepEqual(k.reply_port, { t: "i", v: 9001 });
    const pr = p.buildJamCommand("mg-1j", "prompt", "new idea", { reply_port: 9001, token: "t", bpm: 1 });
    assert.deepEqual(pr.map((a) => a.v), ["/musicgen/jam", "mg-1j", "prompt", "new idea", "reply_port", 9001, "token", "t"]);
    assert.deepEqual(p.buildJamCommand("mg-1j", "stop", null, {}).map((a) => a.v), ["/musicgen/jam", "mg-1j", "stop"]);
    assert.throws(() => p.buildJamCommand("mg-1j", "prompt", "  ", {}));
    assert.throws(() => p.buildJamCommand("mg-1j", "dance", null, {}));
    assert.deepEqual(p.parseReply("/musicgen/jam_segment", ["j", 2, "j.s2", "/o/a.wav", 4.49, 3.5]),
        { type: "jam_segment", id: "j", index: 2, segmentId: "j.s2", path: "/o/a.wav", length_s: 4.49, leadBars: 3.5 });
    assert.deepEqual(p.parseReply("/musicgen/jam_prompt", ["j", 3]), { type: "jam_prompt", id: "j", fromIndex: 3 });
    assert.deepEqual(p.parseReply("/musicgen/jam_slow", ["j", 0.5, -1]), { type: "jam_slow", id: "j", speed: 0.5, leadBars: -1 });
    assert.deepEqual(p.parseReply("/musicgen/jam_ended", ["j", "stopped", 4]), { type: "jam_ended", id: "j", reason: "stopped", segments: 4 });
});
