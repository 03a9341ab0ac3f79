// mgb_timing.js - musical time for the MusicGen Bridge device: bars to seconds, the region of
// an audio clip that plays (in seconds of its file), and the song's key as prompt context.
//
// Units are in the names: *_s seconds, *Beats or *_beats Live beats (quarter notes: Live's
// tempo is quarter notes per minute and every LOM time in beats counts quarter notes).
// Plain functions, ES5, no Max or Live dependency (runs under Node and in Max's [js]).

// Limits from the request-key table (bridge/protocol_keys.json, written into mgb_limits.js).
var LIMITS = (typeof __mgb_modules === "object" && __mgb_modules.mgb_limits) ?
    __mgb_modules.mgb_limits.LIMITS : require("./mgb_limits.js").LIMITS;
var MAX_DURATION_S = LIMITS.max_duration_s;
var BPM = LIMITS.keys.bpm;
var BEATS_PER_BAR = LIMITS.keys.beats_per_bar;

// Length of one bar in Live beats (quarter notes) for a time signature num/den.
function beatsPerBarQuarter(numerator, denominator) {
    var num = Number(numerator) || 4;
    var den = Number(denominator) || 4;
    return num * 4 / den;
}

// Seconds of `bars` bars at `tempo` (quarter notes per minute) in num/den.
function barsToSeconds(bars, tempo, numerator, denominator) {
    return Number(bars) * beatsPerBarQuarter(numerator, denominator) * 60 / Number(tempo);
}

// The length keys of a request for `bars` bars of the song (tempo in quarter notes per minute).
// The daemon computes bars * beats_per_bar * 60 / bpm and reads melody notes in beats of bpm,
// so the device keeps one beat = one quarter note: bpm = Live's tempo and beats_per_bar = the
// bar's length in quarter notes (6/8 -> 3, 7/8 -> 3.5: beats_per_bar may be fractional). When
// it is outside the protocol's range, the request carries the exact duration in seconds
// instead. Returns
// {bpm, bars, beats_per_bar} or {duration}, plus lengthBeats and duration_s for the device.
function lengthKeys(bars, tempo, numerator, denominator) {
    var b = Number(bars);
    var t = Number(tempo);
    var perBar = beatsPerBarQuarter(numerator, denominator);
    var duration_s, out;
    if (!(b > 0) || !isFinite(b)) { throw new Error("length must be more than 0 bars"); }
    if (!(t >= BPM.min && t <= BPM.max)) { throw new Error("tempo " + t + " BPM is outside " + BPM.min + "-" + BPM.max); }
    duration_s = b * perBar * 60 / t;
    checkDuration(duration_s, b + " bars at " + round3(t) + " BPM");
    if (perBar >= BEATS_PER_BAR.min && perBar <= BEATS_PER_BAR.max) {
        out = { bpm: t, bars: b, beats_per_bar: perBar };
    } else {
        out = { duration: duration_s };
    }
    out.lengthBeats = b * perBar;
    out.duration_s = duration_s;
    return out;
}

// The length keys of a request of `seconds` seconds; lengthBeats at the song tempo.
function secondsKeys(seconds, tempo) {
    var s = Number(seconds);
    checkDuration(s, s + " s");
    return { duration: s, duration_s: s, lengthBeats: tempo > 0 ? s * Number(tempo) / 60 : null };
}

function checkDuration(duration_s, what) {
    if (!(duration_s > 0) || !isFinite(duration_s)) { throw new Error("length must be more than 0 s"); }
    if (duration_s > MAX_DURATION_S) {
        throw new Error(what + " is " + round3(duration_s) + " s; at most " + MAX_DURATION_S + " s");
    }
}

function round3(x) { return Math.round(x * 1000) / 1000; }

// Warp markers as the LOM gives them: a JSON string {"warp_markers": [{beat_time,
// sample_time}, ...]} (sample_time in seconds of the file), an object, a list, or the
// one-element array LiveAPI.get returns. Sorted by beat_time; [] when none can be read.
function parseWarpMarkers(raw) {
    var v = raw;
    var list, out, i, m;
    if (Array.isArray(v) && v.length === 1 && typeof v[0] === "string") { v = v[0]; }
    if (typeof v === "string") {
        if (!v) { return []; }
        try { v = JSON.parse(v); } catch (e) { return []; }
    }
    list = (v && v.warp_markers) ? v.warp_markers : (Array.isArray(v) ? v : []);
    out = [];
    for (i = 0; i < list.length; i++) {
        m = list[i];
        if (m && isFinite(Number(m.beat_time)) && isFinite(Number(m.sample_time))) {
            out.push({ beat_time: Number(m.beat_time), sample_time: Number(m.sample_time) });
        }
    }
    out.sort(function (a, b) { return a.beat_time - b.beat_time; });
    return out;
}

// Seconds in the file of clip-local beat `beats` of a warped clip. Between warp markers the
// mapping is linear; before the first and after the last it continues the nearest segment.
// With a single marker (or none) the clip plays at `fallbackTempo` from that marker.
function beatsToFileSeconds(beats, markers, fallbackTempo) {
    var b = Number(beats);
    var n = markers ? markers.length : 0;
    var i, a, z, slope;
    if (n >= 2) {
        i = 0;
        while (i < n - 2 && b > markers[i + 1].beat_time) { i++; }
        a = markers[i];
        z = markers[i + 1];
        if (z.beat_time === a.beat_time) { return a.sample_time; }
        slope = (z.sample_time - a.sample_time) / (z.beat_time - a.beat_time);
        return a.sample_time + (b - a.beat_time) * slope;
    }
    if (!(fallbackTempo > 0)) { throw new Error("no tempo to convert beats to seconds"); }
    if (n === 1) { return markers[0].sample_time + (b - markers[0].beat_time) * 60 / fallbackTempo; }
    return b * 60 / fallbackTempo;
}

// The region of an audio clip that plays, in seconds of its file, for /musicgen/continue.
// clip: {warping, looping, start_marker, end_marker, loop_start, loop_end, warp_markers},
// with markers as the LOM reports them: beats when warped, seconds when not. The region is
// loop_start..loop_end when looping is on, else start_marker..end_marker. A warped clip is
// converted through its warp markers, else at clipTempo (the tempo the clip's audio was
// recorded at, when known) or else songTempo. Returns {start_s, end_s, startBeats, endBeats,
// via} where via says how beats became seconds ("seconds", "warp_markers", "tempo").
function clipRegionSeconds(clip, songTempo, clipTempo) {
    var looping = truthy(clip.looping);
    var warped = truthy(clip.warping);
    var from = Number(looping ? clip.loop_start : clip.start_marker);
    var to = Number(looping ? clip.loop_end : clip.end_marker);
    var markers, tempo, start_s, end_s, via;
    if (!isFinite(from) || !isFinite(to) || !(to > from)) {
        throw new Error("the clip's " + (looping ? "loop" : "start/end markers") + " do not make a region");
    }
    if (!warped) {
        start_s = from;
        end_s = to;
        via = "seconds";
    } else {
        markers = parseWarpMarkers(clip.warp_markers);
        tempo = clipTempo > 0 ? clipTempo : songTempo;
        via = markers.length >= 2 ? "warp_markers" : "tempo";
        start_s = beatsToFileSeconds(from, markers, tempo);
        end_s = beatsToFileSeconds(to, markers, tempo);
    }
    if (start_s < 0) { start_s = 0; }
    if (!(end_s > start_s)) { throw new Error("the clip's region is empty"); }
    return {
        start_s: start_s,
        end_s: end_s,
        startBeats: warped ? from : null,
        endBeats: warped ? to : null,
        via: via
    };
}

// The region of a MIDI clip that plays, in clip beats: the loop when looping, else the markers.
function midiRegionBeats(clip) {
    var looping = truthy(clip.looping);
    var from = Number(looping ? clip.loop_start : clip.start_marker);
    var to = Number(looping ? clip.loop_end : clip.end_marker);
    if (!isFinite(from) || !isFinite(to) || !(to > from)) {
        throw new Error("the MIDI clip has no region to play");
    }
    return { startBeats: from, endBeats: to, lengthBeats: to - from };
}

function truthy(v) {
    if (Array.isArray(v)) { v = v[0]; }
    return v === true || Number(v) === 1;
}

var NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

// "in A minor" from Song.root_note (0 = C) and Song.scale_name; "" when either is missing.
function keyPhrase(rootNote, scaleName) {
    var r = Number(rootNote);
    var name = scaleName === undefined || scaleName === null ? "" : String(scaleName);
    if (!(r >= 0 && r <= 11) || r !== Math.round(r) || !name) { return ""; }
    return "in " + NOTE_NAMES[r] + " " + name.toLowerCase();
}

// The prompt with the key appended as context ("warm rhodes, in A minor"), unless the user
// already named a key or the phrase is empty.
function promptWithKey(prompt, phrase) {
    var p = prompt === undefined || prompt === null ? "" : String(prompt).replace(/^\s+|\s+$/g, "");
    if (!phrase) { return p; }
    if (/\b(major|minor|dorian|phrygian|lydian|mixolydian|locrian|key)\b/i.test(p)) { return p; }
    return p ? p + ", " + phrase : phrase;
}

// Launch Clip.launch_quantization value "1 Bar" (LOM: 0 Global, 1 None, 2 8 Bars, 3 4 Bars,
// 4 2 Bars, 5 1 Bar, 6 1/2, ...).
var LAUNCH_Q_1_BAR = 5;

// Whether to fire the next clip now so that it starts when `prev` (the clip it follows) ends.
// The next clip launches with 1-bar quantization, so firing it during prev's last bar starts it
// on the bar line where prev ends. prev: {transport, triggered, playing, position, end} in beats
// (transport: Live's transport runs), barBeats the bar in quarter notes. "fire" now, or "wait"
// (the transport is stopped: firing would start it; prev waits to start or is not in its last bar).
function followDecision(prev, barBeats) {
    var remaining;
    if (!prev) { return "fire"; }
    if (prev.transport === false || prev.triggered) { return "wait"; }
    if (!prev.playing) { return "fire"; }
    remaining = Number(prev.end) - Number(prev.position);
    if (!isFinite(remaining)) { return "fire"; }
    return remaining <= Number(barBeats) + 1e-6 ? "fire" : "wait";
}

// Whole bars for a jam segment (the device fires each segment on a bar line): at least 1.
function jamBars(bars) {
    var b = Math.round(Number(bars));
    return b >= 1 && isFinite(b) ? b : 1;
}

var api = {
    LAUNCH_Q_1_BAR: LAUNCH_Q_1_BAR,
    followDecision: followDecision,
    jamBars: jamBars,
    MAX_DURATION_S: MAX_DURATION_S,
    NOTE_NAMES: NOTE_NAMES,
    beatsPerBarQuarter: beatsPerBarQuarter,
    barsToSeconds: barsToSeconds,
    lengthKeys: lengthKeys,
    secondsKeys: secondsKeys,
    parseWarpMarkers: parseWarpMarkers,
    beatsToFileSeconds: beatsToFileSeconds,
    clipRegionSeconds: clipRegionSeconds,
    midiRegionBeats: midiRegionBeats,
    keyPhrase: keyPhrase,
    promptWithKey: promptWithKey
};

if (typeof exports === "object" && exports !== null) {
    (function (target) {
        var k;
        for (k in api) { if (api.hasOwnProperty(k)) { target[k] = api[k]; } }
    })(exports);
}
