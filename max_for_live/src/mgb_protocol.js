// mgb_protocol.js - the OSC side of the MusicGen Bridge device: requests as typed atom lists,
// melody notes chunked into datagrams, and replies parsed into plain objects.
//
// Plain functions, no Max or Live dependency: this file runs under Node (tests) and inside
// Max's [js] object (ES5: no let/const, arrow functions or template literals).
//
// A message is an array of typed atoms {t: "s"|"i"|"f", v: value}; the first atom is the
// OSC address. The device sends ints and floats down separate paths of the patch ([t i] and
// [t f]) so that a float such as 120. leaves [udpsend] as a 32-bit OSC float even though
// JavaScript has a single number type. See docs/protocol.md for the contract.

var ADDRESS = {
    generate: "/musicgen/generate",
    cont: "/musicgen/continue",
    notes: "/musicgen/notes",
    cancel: "/musicgen/cancel",
    status: "/musicgen/status",
    ping: "/musicgen/ping",
    jam: "/musicgen/jam"
};

// The request keys' types and limits (bridge/protocol_keys.json, written into mgb_limits.js).
var LIMITS = (typeof __mgb_modules === "object" && __mgb_modules.mgb_limits) ?
    __mgb_modules.mgb_limits.LIMITS : require("./mgb_limits.js").LIMITS;

// OSC type of every request key ("b" = boolean, sent as int 0/1), from the table: floats go as
// 32-bit floats, ints as ints, everything else as symbols (the device sends melody_notes as the
// id its notes were sent under).
var OSC_TYPE_OF = { "float": "f", "int": "i", "bool": "b", "string": "s", "choice": "s", "notes": "s" };
var KEY_TYPES = (function () {
    var out = {};
    var k;
    for (k in LIMITS.keys) {
        if (LIMITS.keys.hasOwnProperty(k)) { out[k] = OSC_TYPE_OF[LIMITS.keys[k].type]; }
    }
    out.token = "s";
    return out;
})();

// Keys in the order the device writes them (stable order: easy to read in a packet dump).
var KEY_ORDER = [
    "prompt", "model", "preset", "bpm", "bars", "beats_per_bar", "duration", "loop", "seed",
    "top_k", "top_p", "temperature", "cfg", "format", "normalize", "variations", "melody",
    "melody_notes", "start", "end", "keep_prompt", "out_dir", "name", "daw", "position",
    "track", "preview", "stems", "reply_host", "reply_port", "project_id", "token"
];

var ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

// The positional prompt of /musicgen/generate when there is none (melody without words): the
// device never sends an empty symbol, which Max may drop from a list (every key/value after it
// would then shift). The daemon reads "-" as "no prompt" (docs/protocol.md).
var PROMPT_NONE = "-";

// Keep datagrams well under macOS's default 9216-byte UDP limit.
var MAX_DATAGRAM_BYTES = 8000;
// And under the list length the patch's [zl.group] collects (@zlmaxsize 4096).
var MAX_NOTES_PER_MESSAGE = 256;

function atomSym(v) { return { t: "s", v: String(v) }; }
function atomInt(v) { return { t: "i", v: Math.round(Number(v)) }; }
function atomFloat(v) { return { t: "f", v: Number(v) }; }

function checkId(id) {
    if (typeof id !== "string" || !ID_RE.test(id)) {
        throw new Error("bad job id " + JSON.stringify(id) + " (1-64 of A-Z a-z 0-9 . _ -)");
    }
    return id;
}

function typedValue(key, value) {
    var t = KEY_TYPES[key];
    if (!t) { throw new Error("unknown request key " + key); }
    if (t === "s") { return atomSym(value); }
    if (t === "b") { return atomInt(value ? 1 : 0); }
    var n = Number(value);
    if (typeof value === "boolean" || value === "" || value === null || !isFinite(n)) {
        throw new Error(key + " must be a number, got " + JSON.stringify(value));
    }
    return t === "i" ? atomInt(n) : atomFloat(n);
}

// The key/value atoms of `opts`, in KEY_ORDER; keys whose value is undefined, null or (for
// symbols) the empty string are left out (the daemon's default applies): no empty symbol is
// ever sent. `skip` names keys carried positionally instead.
function keyValueAtoms(opts, skip) {
    var atoms = [];
    var i, key;
    opts = opts || {};
    for (key in opts) {
        if (opts.hasOwnProperty(key) && !KEY_TYPES[key]) {
            throw new Error("unknown request key " + key);
        }
    }
    for (i = 0; i < KEY_ORDER.length; i++) {
        key = KEY_ORDER[i];
        if (skip && skip[key]) { continue; }
        if (opts[key] === undefined || opts[key] === null) { continue; }
        if (KEY_TYPES[key] === "s" && String(opts[key]) === "") { continue; }
        atoms.push(atomSym(key));
        atoms.push(typedValue(key, opts[key]));
    }
    return atoms;
}

// /musicgen/generate <id> <prompt> [key value]... (an empty prompt goes as PROMPT_NONE)
function buildGenerate(id, prompt, opts) {
    var text = prompt === undefined || prompt === null ? "" : String(prompt);
    if (/^\s*$/.test(text)) { text = PROMPT_NONE; }
    var msg = [atomSym(ADDRESS.generate), atomSym(checkId(id)), atomSym(text)];
    return msg.concat(keyValueAtoms(opts, { prompt: true }));
}

// /musicgen/continue <id> <audio_path> [key value]... (prompt travels as a key here)
function buildContinue(id, audioPath, opts) {
    if (!audioPath) { throw new Error("continue needs the path of an audio file"); }
    var msg = [atomSym(ADDRESS.cont), atomSym(checkId(id)), atomSym(audioPath)];
    return msg.concat(keyValueAtoms(opts));
}

// /musicgen/cancel <id> [token value]
function buildCancel(id, opts) {
    return [atomSym(ADDRESS.cancel), atomSym(checkId(id))].concat(keyValueAtoms(pick(opts, ["token"])));
}

// /musicgen/ping and /musicgen/status take [token value] and, for a client whose sending and
// receiving sockets differ (Max's udpsend/udpreceive), [reply_port value].
function buildPing(opts) {
    return [atomSym(ADDRESS.ping)].concat(keyValueAtoms(pick(opts, ["token", "reply_host", "reply_port"])));
}

function buildStatus(opts) {
    return [atomSym(ADDRESS.status)].concat(keyValueAtoms(pick(opts, ["token", "reply_host", "reply_port"])));
}

// /musicgen/jam <id> start [key value]... (docs/protocol.md, "Jam"): `opts` are request keys
// (prompt, bpm, bars, beats_per_bar, ...); the daemon refuses the ones a jam cannot take.
function buildJamStart(id, opts) {
    return [atomSym(ADDRESS.jam), atomSym(checkId(id)), atomSym("start")].concat(keyValueAtoms(opts));
}

// /musicgen/jam <id> prompt <text> | stop | launched, with [token] and [reply_port].
function buildJamCommand(id, command, text, opts) {
    var msg = [atomSym(ADDRESS.jam), atomSym(checkId(id)), atomSym(command)];
    if (command === "prompt") {
        if (/^\s*$/.test(String(text || ""))) { throw new Error("a jam prompt cannot be empty"); }
        msg.push(atomSym(String(text)));
    } else if (command !== "stop" && command !== "launched") {
        throw new Error("unknown jam command " + command);
    }
    return msg.concat(keyValueAtoms(pick(opts, ["token", "reply_port"])));
}

function pick(obj, keys) {
    var out = {};
    var i;
    obj = obj || {};
    for (i = 0; i < keys.length; i++) {
        if (obj[keys[i]] !== undefined && obj[keys[i]] !== null) { out[keys[i]] = obj[keys[i]]; }
    }
    return out;
}

function pad4(n) { return n + ((4 - (n % 4)) % 4); }

// UTF-8 byte length of a string (OSC strings are NUL-terminated and padded to 4 bytes).
function utf8Length(s) {
    var n = 0;
    var i, c;
    for (i = 0; i < s.length; i++) {
        c = s.charCodeAt(i);
        if (c < 0x80) { n += 1; }
        else if (c < 0x800) { n += 2; }
        else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) { n += 4; i++; }
        else { n += 3; }
    }
    return n;
}

// Size in bytes of the OSC datagram `msg` encodes to.
function oscSize(msg) {
    var size = pad4(utf8Length(msg[0].v) + 1) + pad4(msg.length - 1 + 2);
    var i;
    for (i = 1; i < msg.length; i++) {
        size += msg[i].t === "s" ? pad4(utf8Length(msg[i].v) + 1) : 4;
    }
    return size;
}

// Melody notes from the JSON that Clip.get_notes_extended returns ({"notes": [{pitch,
// start_time, duration, velocity, mute, ...}]}; a string or an already parsed object).
// Keeps the notes that start inside [regionStartBeats, regionEndBeats), skips muted ones,
// makes times relative to the region start (beat 0 = the start of the new audio), cuts notes
// at the region end and sorts them by start. Returns [{pitch, start_beats, length_beats,
// velocity}].
function notesFromLive(notesJson, regionStartBeats, regionEndBeats) {
    var parsed = typeof notesJson === "string" ? JSON.parse(notesJson) : notesJson;
    var list = (parsed && parsed.notes) ? parsed.notes : (Array.isArray(parsed) ? parsed : []);
    var start = Number(regionStartBeats) || 0;
    var end = (regionEndBeats === undefined || regionEndBeats === null) ? Infinity : Number(regionEndBeats);
    var out = [];
    var i, n, s, len, vel, pitch;
    for (i = 0; i < list.length; i++) {
        n = list[i];
        if (!n || n.mute) { continue; }
        s = Number(n.start_time);
        len = Number(n.duration);
        if (!isFinite(s) || !isFinite(len) || s < start || s >= end) { continue; }
        if (s + len > end) { len = end - s; }
        if (len <= 0) { continue; }
        pitch = Math.round(Number(n.pitch));
        if (!(pitch >= 0 && pitch <= 127)) { continue; }
        vel = Math.round(Number(n.velocity));
        if (!isFinite(vel)) { vel = 100; }
        vel = Math.max(1, Math.min(127, vel));
        out.push({ pitch: pitch, start_beats: s - start, length_beats: len, velocity: vel });
    }
    out.sort(function (a, b) { return a.start_beats - b.start_beats || a.pitch - b.pitch; });
    return out;
}

// /musicgen/notes <id:s> <pitch:i> <start_beats:f> <length_beats:f> <velocity:i> ... [token value]
// split into as many messages as it takes to keep each datagram under maxBytes and
// MAX_NOTES_PER_MESSAGE notes. With a token, each message ends with the pair "token <t>".
function buildNotesMessages(id, notes, maxBytes, token) {
    var limit = maxBytes || MAX_DATAGRAM_BYTES;
    var head = [atomSym(ADDRESS.notes), atomSym(checkId(id))];
    var tail = token ? [atomSym("token"), atomSym(token)] : [];
    var messages = [];
    var current = head.slice();
    var count = 0;
    var i, n, quad;
    for (i = 0; i < notes.length; i++) {
        n = notes[i];
        quad = [atomInt(n.pitch), atomFloat(n.start_beats), atomFloat(n.length_beats), atomInt(n.velocity)];
        if (count > 0 && (count >= MAX_NOTES_PER_MESSAGE || oscSize(current.concat(quad, tail)) > limit)) {
            messages.push(current.concat(tail));
            current = head.slice();
            count = 0;
        }
        current = current.concat(quad);
        count++;
    }
    if (count > 0) { messages.push(current.concat(tail)); }
    if (messages.length && oscSize(messages[0]) > limit) {
        throw new Error("a /musicgen/notes datagram would exceed " + limit + " bytes");
    }
    return messages;
}

function str(v) { return (v === undefined || v === null) ? "" : String(v); }

// A reply from the daemon (address and the list of arguments [udpreceive] produced) as a plain
// object: {type, id, ...}. Unknown addresses give {type: "unknown"}.
function parseReply(address, args) {
    var a = args || [];
    var i, fields, key;
    switch (address) {
    case "/musicgen/accepted":
        // MIDI-triggered jobs (announced) carry their preset as a third argument
        return { type: "accepted", id: str(a[0]), queuePosition: Number(a[1]) || 0, preset: str(a[2]) };
    case "/musicgen/progress":
        return { type: "progress", id: str(a[0]), fraction: clamp01(Number(a[1])) };
    case "/musicgen/preview":
        return { type: "preview", id: str(a[0]), path: str(a[1]) };
    case "/musicgen/done":
        return { type: "done", id: str(a[0]), paths: a.slice(1).map(str).filter(function (p) { return p !== ""; }) };
    case "/musicgen/stems":
        // <id> <variation:i> <mix:s> <stem:s> <path:s> ... (sent right before done, one per variation)
        fields = [];
        for (i = 3; i + 1 < a.length; i += 2) {
            key = str(a[i]);
            if (key !== "" && str(a[i + 1]) !== "") { fields.push({ name: key, path: str(a[i + 1]) }); }
        }
        return { type: "stems", id: str(a[0]), variation: Math.max(1, Math.round(Number(a[1])) || 1),
            mix: str(a[2]), stems: fields };
    case "/musicgen/error":
        return { type: "error", id: str(a[0]), code: str(a[1]) || "error", message: a.slice(2).map(str).join(" ") };
    case "/musicgen/cancelled":
        return { type: "cancelled", id: str(a[0]) };
    case "/musicgen/jam_segment":
        return { type: "jam_segment", id: str(a[0]), index: Math.round(Number(a[1])) || 0, segmentId: str(a[2]),
            path: str(a[3]), length_s: Number(a[4]) || 0, leadBars: Number(a[5]) || 0 };
    case "/musicgen/jam_prompt":
        return { type: "jam_prompt", id: str(a[0]), fromIndex: Math.round(Number(a[1])) || 0 };
    case "/musicgen/jam_slow":
        return { type: "jam_slow", id: str(a[0]), speed: Number(a[1]) || 0, leadBars: Number(a[2]) || 0 };
    case "/musicgen/jam_ended":
        return { type: "jam_ended", id: str(a[0]), reason: str(a[1]), segments: Math.round(Number(a[2])) || 0 };
    case "/musicgen/pong":
        return { type: "pong", version: str(a[0]) };
    case "/musicgen/status":
        fields = {};
        for (i = 0; i + 1 < a.length; i += 2) {
            key = str(a[i]);
            fields[key] = a[i + 1];
        }
        return { type: "status", fields: fields };
    default:
        return { type: "unknown", address: str(address), args: a };
    }
}

function clamp01(x) {
    if (!isFinite(x)) { return 0; }
    return Math.max(0, Math.min(1, x));
}

// The seed the daemon used, read back from a clip's file name
// (<name>_<YYYYmmdd-HHMMSS>_s<seed>[_v<n>].<ext>); null when the name does not say.
function seedFromPath(path) {
    var m = /_s(\d+)(?:_v\d+)?(?:_\d+)?\.[A-Za-z0-9]+$/.exec(str(path));
    return m ? Number(m[1]) : null;
}

var api = {
    ADDRESS: ADDRESS,
    KEY_TYPES: KEY_TYPES,
    KEY_ORDER: KEY_ORDER,
    MAX_DATAGRAM_BYTES: MAX_DATAGRAM_BYTES,
    MAX_NOTES_PER_MESSAGE: MAX_NOTES_PER_MESSAGE,
    PROMPT_NONE: PROMPT_NONE,
    KEY_TYPES: KEY_TYPES,
    KEY_ORDER: KEY_ORDER,
    atomSym: atomSym,
    buildJamStart: buildJamStart,
    buildJamCommand: buildJamCommand,
    atomInt: atomInt,
    atomFloat: atomFloat,
    checkId: checkId,
    keyValueAtoms: keyValueAtoms,
    buildGenerate: buildGenerate,
    buildContinue: buildContinue,
    buildCancel: buildCancel,
    buildPing: buildPing,
    buildStatus: buildStatus,
    oscSize: oscSize,
    utf8Length: utf8Length,
    notesFromLive: notesFromLive,
    buildNotesMessages: buildNotesMessages,
    parseReply: parseReply,
    seedFromPath: seedFromPath
};

// CommonJS export, guarded: Node's require and the device's bundle both provide `exports`.
if (typeof exports === "object" && exports !== null) {
    (function (target) {
        var k;
        for (k in api) { if (api.hasOwnProperty(k)) { target[k] = api[k]; } }
    })(exports);
}
