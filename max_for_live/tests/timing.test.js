// Bars and seconds, clip regions in both warp modes, key context (src/mgb_timing.js).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const t = require("../src/mgb_timing.js");

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test("bars to seconds in quarter-note beats, for any time signature", () => {
    close(t.barsToSeconds(4, 120, 4, 4), 8);
    close(t.barsToSeconds(2, 90, 3, 4), 4);
    close(t.barsToSeconds(1, 120, 6, 8), 1.5);    // 6/8 bar = 3 quarter notes
    close(t.barsToSeconds(1, 120, 7, 8), 1.75);
    assert.equal(t.beatsPerBarQuarter(3, 2), 6);
});

test("lengthKeys: bpm/bars/beats_per_bar the daemon turns into exactly the same seconds", () => {
    const k = t.lengthKeys(4, 124, 4, 4);
    assert.deepEqual([k.bpm, k.bars, k.beats_per_bar], [124, 4, 4]);
    close(k.bars * k.beats_per_bar * 60 / k.bpm, t.barsToSeconds(4, 124, 4, 4));
    close(k.duration_s, 4 * 4 * 60 / 124);
    assert.equal(k.lengthBeats, 16);
    const six8 = t.lengthKeys(2, 120, 6, 8);
    assert.deepEqual([six8.bpm, six8.bars, six8.beats_per_bar], [120, 2, 3]);
    close(six8.duration_s, 3);
    // 7/8: a bar is 3.5 quarter notes; beats_per_bar may be fractional (0.5-32, the protocol table)
    const seven8 = t.lengthKeys(2, 120, 7, 8);
    assert.deepEqual([seven8.bpm, seven8.bars, seven8.beats_per_bar], [120, 2, 3.5]);
    assert.equal(seven8.duration, undefined);
    close(seven8.duration_s, 3.5);
    // 1/8 is 0.5 quarter notes, the smallest bar the protocol takes; 1/16 goes as seconds
    assert.equal(t.lengthKeys(4, 120, 1, 8).beats_per_bar, 0.5);
    const one16 = t.lengthKeys(4, 120, 1, 16);
    assert.equal(one16.bars, undefined);
    close(one16.duration, 0.5);
    assert.equal(seven8.lengthBeats, 7);
});

test("lengths over 300 s, zero bars or odd tempos are refused with a reason", () => {
    assert.throws(() => t.lengthKeys(80, 60, 4, 4), /80 bars at 60 BPM is 320 s; at most 300 s/);
    assert.equal(t.lengthKeys(64, 60, 4, 4).duration_s, 256);
    assert.throws(() => t.lengthKeys(200, 60, 4, 4), /at most 300 s/);
    assert.throws(() => t.lengthKeys(0, 120, 4, 4), /more than 0 bars/);
    assert.throws(() => t.lengthKeys(4, 999, 4, 4), /outside 20-400/);
    assert.throws(() => t.secondsKeys(301, 120), /at most 300 s/);
    const s = t.secondsKeys(6, 120);
    assert.deepEqual([s.duration, s.lengthBeats], [6, 12]);
});

test("unwarped clip: markers are seconds already", () => {
    const r = t.clipRegionSeconds({ warping: 0, looping: 0, start_marker: 1.5, end_marker: 7.25 }, 120);
    assert.deepEqual([r.start_s, r.end_s, r.via], [1.5, 7.25, "seconds"]);
});

test("unwarped looping clip: the loop is the region", () => {
    const r = t.clipRegionSeconds({ warping: 0, looping: 1, start_marker: 0, end_marker: 10, loop_start: 2, loop_end: 6 }, 120);
    assert.deepEqual([r.start_s, r.end_s], [2, 6]);
});

test("warped clip: beats become file seconds through its warp markers, not the song tempo", () => {
    // Audio recorded at 100 BPM (0.6 s per beat), the song at 120 BPM.
    const markers = JSON.stringify({ warp_markers: [
        { beat_time: 0, sample_time: 0 }, { beat_time: 16, sample_time: 9.6 }, { beat_time: 16.03125, sample_time: 9.61875 }] });
    const r = t.clipRegionSeconds({ warping: 1, looping: 0, start_marker: 4, end_marker: 12, warp_markers: markers }, 120);
    close(r.start_s, 2.4);
    close(r.end_s, 7.2);
    assert.equal(r.via, "warp_markers");
    assert.deepEqual([r.startBeats, r.endBeats], [4, 8 + 4]);
});

test("warped clip with a tempo change inside: piecewise through the markers", () => {
    const markers = [{ beat_time: 0, sample_time: 0 }, { beat_time: 4, sample_time: 2 }, { beat_time: 8, sample_time: 6 }];
    const r = t.clipRegionSeconds({ warping: 1, looping: 1, loop_start: 2, loop_end: 6, start_marker: 0, end_marker: 8, warp_markers: markers }, 120);
    close(r.start_s, 1);     // 2 beats at 0.5 s/beat
    close(r.end_s, 4);       // 2 s + 2 beats at 1 s/beat
    // Beyond the last marker the last segment continues; LiveAPI's one-element list is read too.
    close(t.beatsToFileSeconds(10, t.parseWarpMarkers([JSON.stringify({ warp_markers: markers })])), 8);
    // Before the first marker the first segment continues (clamped to the file start).
    close(t.beatsToFileSeconds(-2, markers), -1);
});

test("warped clip without warp markers: the clip tempo if known, else the song tempo", () => {
    const clip = { warping: 1, looping: 0, start_marker: 0, end_marker: 8, warp_markers: null };
    const song = t.clipRegionSeconds(clip, 120);
    assert.deepEqual([song.start_s, song.end_s, song.via], [0, 4, "tempo"]);
    const own = t.clipRegionSeconds(clip, 120, 96);
    close(own.end_s, 5);
    const one = t.clipRegionSeconds(Object.assign({}, clip, { start_marker: 4, warp_markers: [{ beat_time: 2, sample_time: 1.5 }] }), 120);
    close(one.start_s, 2.5);
});

test("empty or reversed regions are refused", () => {
    assert.throws(() => t.clipRegionSeconds({ warping: 0, looping: 0, start_marker: 3, end_marker: 3 }, 120), /region/);
    assert.throws(() => t.midiRegionBeats({ looping: 1, loop_start: 4, loop_end: 2 }), /no region/);
    assert.deepEqual(t.midiRegionBeats({ looping: 0, start_marker: 1, end_marker: 9 }), { startBeats: 1, endBeats: 9, lengthBeats: 8 });
});

test("key phrase from Live 12's root note and scale, added to the prompt once", () => {
    assert.equal(t.keyPhrase(9, "Minor"), "in A minor");
    assert.equal(t.keyPhrase(1, "Dorian"), "in C# dorian");
    assert.equal(t.keyPhrase(undefined, "Major"), "");
    assert.equal(t.keyPhrase(3, ""), "");
    assert.equal(t.promptWithKey("lofi piano ", "in A minor"), "lofi piano, in A minor");
    assert.equal(t.promptWithKey("lofi piano in F major", "in A minor"), "lofi piano in F major");
    assert.equal(t.promptWithKey("drums", ""), "drums");
});
