// Version checks, slot choice, output folder, jobs, seeds, connection (src/mgb_session.js).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const s = require("../src/mgb_session.js");

test("create_audio_clip needs Live 12.0.5 or newer", () => {
    assert.equal(s.liveVersion(12, 0, 5).canCreateAudioClip, true);
    assert.equal(s.liveVersion(12, 0, 4).canCreateAudioClip, false);
    assert.equal(s.liveVersion(12, 1, 0).canCreateAudioClip, true);
    assert.equal(s.liveVersion(11, 3, 25).canCreateAudioClip, false);
    assert.equal(s.liveVersion(13, 0, 0).canCreateAudioClip, true);
    assert.equal(s.liveVersion([12], ["2"], [1]).text, "12.2.1");
    const msg = s.dragMessage(s.liveVersion(11, 3, 25), ["/o/a.wav"]);
    assert.match(msg, /Live 11\.3\.25/);
    assert.match(msg, /12\.0\.5/);
    assert.match(msg, /\/o\/a\.wav/);
});

test("slots: the first empty ones from the start index, skipping filled slots", () => {
    assert.deepEqual(s.chooseSlots([0, 0, 0], 1, 0), { slots: [0], missing: 0 });
    assert.deepEqual(s.chooseSlots([1, 0, 1, 0, 0, 0], 3, 0), { slots: [1, 3, 4], missing: 0 });
    assert.deepEqual(s.chooseSlots([0, 1, 0, 0], 2, 2), { slots: [2, 3], missing: 0 });
    // Past the end, empty slots above the start are used, then what is left over is reported.
    assert.deepEqual(s.chooseSlots([0, 1, 1, 0], 2, 3), { slots: [3, 0], missing: 0 });
    assert.deepEqual(s.chooseSlots([1, 1, 0], 3, 0), { slots: [2], missing: 2 });
    assert.deepEqual(s.chooseSlots([1, 1], 1, 0), { slots: [], missing: 1 });
    assert.deepEqual(s.chooseSlots([[0], [1], [0]], 2, 0).slots, [0, 2]);   // LiveAPI-style [value]
});

test("output folder: the Live Set's folder, else the saved user folder, else the daemon's", () => {
    assert.deepEqual(s.chooseOutDir("/Users/me/Songs/Demo Project/Demo.als", "/Users/me/Gen"),
        { outDir: "/Users/me/Songs/Demo Project/MusicGen", source: "set" });
    assert.deepEqual(s.chooseOutDir("C:\\Users\\me\\Demo Project\\Demo.als", ""),
        { outDir: "C:\\Users\\me\\Demo Project\\MusicGen", source: "set" });
    assert.deepEqual(s.chooseOutDir("", "Macintosh HD:/Users/me/Gen/"),
        { outDir: "/Volumes/Macintosh HD/Users/me/Gen", source: "user" });
    assert.deepEqual(s.chooseOutDir(undefined, "/Users/me/Gen"), { outDir: "/Users/me/Gen", source: "user" });
    assert.deepEqual(s.chooseOutDir("", ""), { outDir: null, source: "daemon" });
});

test("folder paths from Max dialogs become native paths", () => {
    assert.equal(s.nativeFolder("/Users/me/Music/"), "/Users/me/Music");
    assert.equal(s.nativeFolder("C:/Users/me/Music/"), "C:/Users/me/Music");
    assert.equal(s.nativeFolder("C:/"), "C:/");
    assert.equal(s.nativeFolder("Data:/Samples"), "/Volumes/Data/Samples");
    assert.equal(s.nativeFolder(""), "");
    assert.equal(s.dirname("/a/b/c.als"), "/a/b");
    assert.equal(s.dirname("C:\\a\\c.als"), "C:\\a");
    assert.equal(s.basename("/a/b/c.wav"), "c.wav");
    assert.equal(s.joinPath("/a/", "x"), "/a/x");
});

test("clip names and job ids", () => {
    assert.equal(s.clipName("  warm   rhodes\nchords ", 0, 1), "warm rhodes chords");
    assert.equal(s.clipName("drums", 1, 3), "drums v2");
    assert.equal(s.clipName("", 0, 1, "melody"), "melody");
    assert.equal(s.clipName("x".repeat(80), 0, 1).length, 48);
    const id = s.makeJobId(1700000000000, 12);
    assert.match(id, /^[A-Za-z0-9._-]{1,64}$/);
    assert.notEqual(id, s.makeJobId(1700000000000, 13));
});

test("job book: pending ids with what their results need", () => {
    const b = new s.JobBook();
    b.add("a", { kind: "generate", trackId: 3, slotStart: 0 });
    b.add("b", { kind: "continue", trackId: 4, placement: "arrangement", positionBeats: 16 });
    assert.equal(b.count(), 2);
    assert.equal(b.latest().id, "b");
    assert.equal(b.get("a").trackId, 3);
    assert.equal(b.get("a").state, "sent");
    assert.equal(b.remove("b").positionBeats, 16);
    assert.equal(b.get("b"), null);
    assert.equal(b.latest().id, "a");
    assert.equal(b.remove("zzz"), null);
    assert.equal(b.get("hasOwnProperty"), null);
});

test("seeds: dice draws a new one each time, recall fixes the last one", () => {
    const seeds = new s.SeedState();
    let r = 0.25;
    assert.equal(seeds.next(() => r), Math.floor(0.25 * (s.SEED_MAX + 1)));
    r = 0.5;
    const second = seeds.next(() => r);
    assert.notEqual(second, Math.floor(0.25 * (s.SEED_MAX + 1)));
    assert.equal(seeds.recall(), second);
    assert.equal(seeds.dice, false);
    assert.equal(seeds.next(() => 0.9), second);
    assert.equal(new s.SeedState().recall(), null);
    assert.ok(seeds.next(() => 0.999999999) <= s.SEED_MAX);
});

test("connection: lost when a ping stays unanswered, back on any reply", () => {
    const c = new s.Connection(3000);
    assert.equal(c.state, "unknown");
    c.pingSent(0);
    assert.equal(c.tick(1000), false);
    c.pingSent(2000);                     // still waiting since t=0
    assert.equal(c.tick(3000), true);
    assert.equal(c.state, "lost");
    assert.equal(c.isUp(), false);
    assert.equal(c.heard(3500, "0.1.0"), true);
    assert.equal(c.state, "connected");
    assert.equal(c.version, "0.1.0");
    assert.equal(c.heard(3600), false);
    c.pingSent(4000);
    assert.equal(c.tick(6999), false);
    assert.equal(c.tick(7000), true);
});

test("stems: names, and the adjacent tracks each stem goes to", () => {
    assert.equal(s.stemClipName("warm rhodes", "drums", 0, 1), "warm rhodes \u2013 drums");
    assert.equal(s.stemClipName("warm rhodes", "bass", 1, 3), "warm rhodes v2 \u2013 bass");
    assert.equal(s.stemTrackName("Gen", "vocals"), "Gen \u2013 vocals");
    const T = (name, audio = true) => ({ name, audio });
    // nothing there yet: new tracks right after the main track, in stem order
    assert.deepEqual(s.planStemTracks([T("Gen"), T("Keys")], 0, ["drums", "bass"]), [
        { stem: "drums", name: "Gen \u2013 drums", index: 1, create: true },
        { stem: "bass", name: "Gen \u2013 bass", index: 2, create: true }]);
    // the run after the main track is reused; a missing stem is added at its end
    const tracks = [T("Pad"), T("Gen"), T("Gen \u2013 drums"), T("Gen \u2013 other"), T("Gen \u2013 drums x"), T("Keys")];
    assert.deepEqual(s.planStemTracks(tracks, 1, ["drums", "bass", "other"]).map((x) => [x.stem, x.index, x.create]),
        [["drums", 2, false], ["bass", 5, true], ["other", 3, false]]);
    // a MIDI track or a foreign name ends the run; tracks further down are not taken
    const split = [T("Gen"), T("Gen \u2013 drums", false), T("Gen \u2013 bass")];
    assert.deepEqual(s.planStemTracks(split, 0, ["bass"]).map((x) => [x.index, x.create]), [[1, true]]);
    // groups of replies: stem names in the order the daemon sent them, over all variations
    assert.deepEqual(s.stemNames([{ stems: [{ name: "drums" }, { name: "bass" }] }, undefined,
        { stems: [{ name: "bass" }, { name: "guitar" }] }]), ["drums", "bass", "guitar"]);
    const book = new s.JobBook();
    book.add("j", { label: "x" });
    assert.equal(book.addStems({ id: "other", variation: 1, mix: "/m", stems: [] }), null);
    const job = book.addStems({ id: "j", variation: 2, mix: "/m2", stems: [{ name: "drums", path: "/d" }] });
    assert.equal(job.stems.length, 2);
    assert.deepEqual(job.stems[1], { mix: "/m2", stems: [{ name: "drums", path: "/d" }] });
});
