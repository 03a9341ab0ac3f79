// A stand-in for Live and for Max's [js] environment, for the device's tests under Node.
//
// FakeLive models the part of the Live Object Model the device uses, as the LOM reference
// documents it: live_app (get_major/minor/bugfix_version, view.focused_document_view),
// live_set (tempo, signature_numerator/denominator, current_song_time, start_time,
// is_playing, file_path, root_note/scale_name/scale_mode in Live 12, tracks, view with
// detail_clip and selected_track, create_audio_track(index)), Track (name, has_audio_input, is_frozen, clip_slots,
// arrangement_clips, create_audio_clip(path, position) from 12.0.5), ClipSlot (has_clip,
// clip, create_audio_clip(path) from 12.0.5), Clip (name, file_path, warping, looping,
// start/end markers, loop_start/end, warp_markers, end_time, start_time, is_audio_clip,
// is_midi_clip, get_notes_extended, move_warp_marker) and this_device with its
// canonical_parent chain. LiveAPI objects are addressed by path ("live_set tracks 0") or by
// id ("id 7"); get() answers lists the way Max's LiveAPI does (["id", 3, "id", 4], [120]).
// Launching: ClipSlot.fire() (is_triggered until play() starts it), Clip.is_playing,
// playing_position, launch_quantization, Track.playing_slot_index; play(clip, position) and
// stopClip(clip) stand in for Live's transport moving.
//
// loadDevice() runs the device's script in a vm context with outlet(), post(), Task, Date and
// LiveAPI, and decodes what the patch would send: outlets 0-3 drive [zl.group] through [t i] and
// [t f], so the helper rebuilds each OSC message with its types, exactly as [udpsend] gets it.

"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");

const SRC = path.resolve(__dirname, "..", "..", "src");
const BUNDLE = path.resolve(__dirname, "..", "..", "musicgen_bridge.js");

class FakeLive {
    constructor(opts = {}) {
        this.version = opts.version || [12, 1, 5];
        this.objects = new Map();
        this.nextId = 1;
        this.calls = [];
        this.sets = [];
        this.errors = [];
        this.constructed = 0;
        this.fileSeconds = opts.fileSeconds || {};   // path -> duration of the audio file
        // How many beats Live's auto-warp guesses for a new clip (null: the exact length).
        this.warpGuessBeats = opts.warpGuessBeats === undefined ? null : opts.warpGuessBeats;
        this.autoWarp = opts.autoWarp === undefined ? true : opts.autoWarp;
        // LOM, Clip.warping: "Live will defer the setting of this property" when calls are
        // sequenced from one event: a set is applied at the next flush (between events, see
        // loadDevice's tick), and marker changes made while it is pending are errors.
        this.deferWarping = opts.deferWarping === undefined ? true : opts.deferWarping;
        this.pendingWarping = [];
        // A new arrangement clip shows in Track.arrangement_clips only after this many flushes.
        this.arrangementDelay = opts.arrangementDelay || 0;
        this.pendingArrangement = [];
        // Live refuses Song.create_audio_track (LiveAPI.call does not throw: a console line only).
        this.rejectCreateTrack = !!opts.rejectCreateTrack;
        this.globals = opts.globals || new Map();   // Max's Global objects, shared by every [js] of this Max
        const live12 = this.version[0] >= 12;

        this.app = this.make("Application", {}, null);
        this.appView = this.make("Application.View", { focused_document_view: opts.view || "Session" }, this.app);
        this.app.children.view = this.appView;

        const songProps = {
            tempo: opts.tempo || 120,
            signature_numerator: opts.numerator || 4,
            signature_denominator: opts.denominator || 4,
            current_song_time: opts.songTime || 0,
            start_time: opts.startTime === undefined ? (opts.songTime || 0) : opts.startTime,
            is_playing: opts.playing ? 1 : 0,
        };
        if (live12) {
            songProps.root_note = opts.rootNote === undefined ? 0 : opts.rootNote;
            songProps.scale_name = opts.scaleName || "Major";
            songProps.scale_mode = opts.scaleMode ? 1 : 0;
            if (opts.setPath !== undefined) { songProps.file_path = opts.setPath; }
        }
        this.song = this.make("Song", songProps, this.app);
        this.song.children.tracks = [];
        this.songView = this.make("Song.View", {}, this.song);
        this.song.children.view = this.songView;
        this.songView.children.detail_clip = null;
        this.songView.children.selected_track = null;
        this.device = null;
        const fake = this;

        this.LiveAPI = class LiveAPI {
            constructor(a, b) {
                fake.constructed += 1;
                const p = typeof a === "function" ? b : a;
                this._obj = fake.resolve(Array.isArray(p) ? p.join(" ") : p);
            }
            get id() { return String(this._obj ? this._obj.id : 0); }
            get type() { return this._obj ? this._obj.type : undefined; }
            get unquotedpath() { return this._obj ? fake.pathOf(this._obj) : ""; }
            get path() { return "\"" + this.unquotedpath + "\""; }
            get(prop) { return fake.get(this._obj, prop); }
            set(prop, value) { fake.set(this._obj, prop, value); }
            call(fn, ...args) { return fake.call(this._obj, fn, args); }
            getcount(prop) {
                const c = this._obj && this._obj.children[prop];
                return Array.isArray(c) ? c.length : 0;
            }
            goto(p) { this._obj = fake.resolve(p); }
        };
    }

    make(type, props, parent) {
        const obj = { id: this.nextId++, type, props: Object.assign({}, props), children: {}, parent };
        this.objects.set(obj.id, obj);
        return obj;
    }

    // tracks -------------------------------------------------------------------------------

    addTrack({ name = "Audio", kind = "audio", slots = 8, frozen = false, index } = {}) {
        const track = this.make("Track", {
            name,
            has_audio_input: kind === "audio" ? 1 : 0,
            has_midi_input: kind === "midi" ? 1 : 0,
            is_frozen: frozen ? 1 : 0,
            playing_slot_index: -1,
        }, this.song);
        track.kind = kind;
        track.children.clip_slots = [];
        track.children.arrangement_clips = [];
        track.children.devices = [];
        for (let i = 0; i < slots; i++) {
            const slot = this.make("ClipSlot", { has_clip: 0, is_triggered: 0 }, track);
            slot.children.clip = null;
            track.children.clip_slots.push(slot);
        }
        if (index === undefined) { this.song.children.tracks.push(track); }
        else { this.song.children.tracks.splice(index, 0, track); }
        return track;
    }

    // Song.create_audio_track(index): a new empty audio track at index (-1: at the end), with
    // one clip slot per scene, named as Live names it ("<n>-Audio").
    createAudioTrack([index]) {
        const tracks = this.song.children.tracks;
        if (this.rejectCreateTrack) {
            this.errors.push("create_audio_track: refused by Live");
            return undefined;
        }
        const i = Number(index) === -1 ? tracks.length : Number(index);
        if (!Number.isInteger(i) || i < 0 || i > tracks.length) {
            this.errors.push("create_audio_track: index out of range");
            return undefined;
        }
        const scenes = tracks.length ? tracks[0].children.clip_slots.length : 8;
        const track = this.addTrack({ name: (i + 1) + "-Audio", slots: scenes, index: i });
        return ["id", track.id];
    }

    // This device, on `track` (optionally inside a rack: track -> rack -> chain -> device).
    placeDevice(track, { inRack = false } = {}) {
        let parent = track;
        if (inRack) {
            const rack = this.make("RackDevice", { name: "Audio Effect Rack" }, track);
            track.children.devices.push(rack);
            const chain = this.make("Chain", { name: "Chain" }, rack);
            rack.children.chains = [chain];
            chain.children.devices = [];
            parent = chain;
        }
        this.device = this.make("MxDeviceAudioEffect", { name: "MusicGen Bridge" }, parent);
        parent.children.devices.push(this.device);
        return this.device;
    }

    // An audio clip in slot `index` of `track`. Markers in beats when warped, seconds when not.
    addAudioClip(track, index, props = {}) {
        const slot = track.children.clip_slots[index];
        const clip = this.make("Clip", Object.assign({
            name: "clip", file_path: "/Users/me/Music/take.wav", is_audio_clip: 1, is_midi_clip: 0,
            warping: 0, looping: 0, start_marker: 0, end_marker: 4, loop_start: 0, loop_end: 4,
            is_playing: 0, playing_position: 0, launch_quantization: 0,
        }, props), slot);
        if (props.warp_markers) { clip.warpMarkers = props.warp_markers; delete clip.props.warp_markers; }
        slot.children.clip = clip;
        slot.props.has_clip = 1;
        return clip;
    }

    addArrangementAudioClip(track, props = {}) {
        const clip = this.make("Clip", Object.assign({
            name: "arr clip", file_path: "/Users/me/Music/arr.wav", is_audio_clip: 1, is_midi_clip: 0,
            warping: 1, looping: 0, start_marker: 0, end_marker: 8, loop_start: 0, loop_end: 8,
            start_time: 0, end_time: 8,
        }, props), track);
        if (props.warp_markers) { clip.warpMarkers = props.warp_markers; delete clip.props.warp_markers; }
        track.children.arrangement_clips.push(clip);
        return clip;
    }

    addMidiClip(track, index, notes, props = {}) {
        const slot = track.children.clip_slots[index];
        const clip = this.make("Clip", Object.assign({
            name: "melody", is_audio_clip: 0, is_midi_clip: 1, looping: 1,
            start_marker: 0, end_marker: 8, loop_start: 0, loop_end: 8,
        }, props), slot);
        clip.notes = notes.map((n, i) => Object.assign({ note_id: i + 1, mute: 0, probability: 1,
            velocity_deviation: 0, release_velocity: 64 }, n));
        slot.children.clip = clip;
        slot.props.has_clip = 1;
        return clip;
    }

    fillSlot(track, index) {
        return this.addAudioClip(track, index, { name: "existing" });
    }

    select({ clip, track } = {}) {
        if (clip !== undefined) { this.songView.children.detail_clip = clip; }
        if (track !== undefined) { this.songView.children.selected_track = track; }
    }

    // LOM access ---------------------------------------------------------------------------

    resolve(p) {
        const tokens = String(p || "").trim().split(/\s+/).filter(Boolean);
        if (!tokens.length) { return null; }
        let obj;
        let i = 1;
        if (tokens[0] === "id") {
            obj = this.objects.get(Number(tokens[1])) || null;
            i = 2;
        } else if (tokens[0] === "live_set") {
            obj = this.song;
        } else if (tokens[0] === "live_app") {
            obj = this.app;
        } else if (tokens[0] === "this_device") {
            obj = this.device;
        } else {
            this.errors.push("bad path " + p);
            return null;
        }
        for (; obj && i < tokens.length; i++) {
            const t = tokens[i];
            if (t === "canonical_parent") { obj = obj.parent; continue; }
            const child = obj.children[t];
            if (Array.isArray(child)) {
                obj = child[Number(tokens[++i])] || null;
            } else if (child !== undefined) {
                obj = child;
            } else {
                this.errors.push("no child " + t + " in " + obj.type);
                return null;
            }
        }
        return obj || null;
    }

    pathOf(obj) {
        if (obj === this.song) { return "live_set"; }
        if (obj === this.app) { return "live_app"; }
        if (obj.type === "Track") { return "live_set tracks " + this.song.children.tracks.indexOf(obj); }
        if (obj.type === "ClipSlot") {
            return this.pathOf(obj.parent) + " clip_slots " + obj.parent.children.clip_slots.indexOf(obj);
        }
        if (obj.type === "Clip" && obj.parent.type === "ClipSlot") { return this.pathOf(obj.parent) + " clip"; }
        if (obj.type === "Clip") {
            return this.pathOf(obj.parent) + " arrangement_clips " + obj.parent.children.arrangement_clips.indexOf(obj);
        }
        return "id " + obj.id;
    }

    get(obj, prop) {
        if (!obj) { this.errors.push("get " + prop + " on id 0"); return []; }
        if (prop === "canonical_parent") { return ["id", obj.parent ? obj.parent.id : 0]; }
        if (prop === "warp_markers" && obj.type === "Clip") {
            if (!obj.props.is_audio_clip) { this.errors.push("warp_markers on a MIDI clip"); return []; }
            return [JSON.stringify({ warp_markers: obj.warpMarkers || [] })];
        }
        if (Object.prototype.hasOwnProperty.call(obj.children, prop)) {
            const c = obj.children[prop];
            if (Array.isArray(c)) { return [].concat(...c.map((x) => ["id", x.id])); }
            return ["id", c ? c.id : 0];
        }
        if (Object.prototype.hasOwnProperty.call(obj.props, prop)) { return [obj.props[prop]]; }
        this.errors.push("no property " + prop + " in " + obj.type);
        return [];
    }

    set(obj, prop, value) {
        if (!obj) { this.errors.push("set " + prop + " on id 0"); return; }
        this.sets.push({ id: obj.id, type: obj.type, prop, value });
        if (obj.type === "Clip" && (prop === "end_marker" || prop === "loop_end" || prop === "start_marker" ||
            prop === "loop_start") && this.pendingWarping.some((w) => w.clip === obj)) {
            this.errors.push(prop + " set while a change of warping is pending (units unknown)");
        }
        if (obj.type === "Clip" && prop === "warping" && this.deferWarping) {
            this.pendingWarping.push({ clip: obj, value });
            return;
        }
        obj.props[prop] = value;
    }

    // Between two events: deferred warping changes take effect, delayed arrangement clips appear.
    flush() {
        for (const w of this.pendingWarping) { w.clip.props.warping = w.value; }
        this.pendingWarping = [];
        const still = [];
        for (const p of this.pendingArrangement) {
            if (--p.delay <= 0) { p.track.children.arrangement_clips.push(p.clip); }
            else { still.push(p); }
        }
        this.pendingArrangement = still;
    }

    canCreate() {
        const v = this.version;
        return v[0] > 12 || (v[0] === 12 && (v[1] > 0 || v[2] >= 5));
    }

    call(obj, fn, args) {
        if (!obj) { this.errors.push("call " + fn + " on id 0"); return undefined; }
        this.calls.push({ id: obj.id, type: obj.type, fn, args });
        const key = obj.type + "." + fn;
        switch (key) {
        case "Application.get_major_version": return this.version[0];
        case "Application.get_minor_version": return this.version[1];
        case "Application.get_bugfix_version": return this.version[2];
        case "ClipSlot.create_audio_clip": return this.createSessionClip(obj, args);
        case "Track.create_audio_clip": return this.createArrangementClip(obj, args);
        case "Song.create_audio_track": return this.createAudioTrack(args);
        case "Clip.get_notes_extended": return this.notesExtended(obj, args);
        case "Clip.move_warp_marker": return this.moveWarpMarker(obj, args);
        case "ClipSlot.fire":
            if (!obj.props.has_clip) { this.errors.push("fire on an empty slot"); return undefined; }
            obj.props.is_triggered = 1;
            return undefined;
        default:
            // What Max's LiveAPI does for a function Live does not have: an error in the console.
            this.errors.push("no function " + fn + " in " + obj.type);
            return undefined;
        }
    }

    newAudioClip(parent, filePath, extra) {
        const seconds = this.fileSeconds[filePath] || 8;
        const tempo = this.song.props.tempo;
        const exactBeats = seconds * tempo / 60;
        const beats = this.warpGuessBeats === null ? exactBeats : this.warpGuessBeats;
        const warped = this.autoWarp;
        const clip = this.make("Clip", Object.assign({
            name: path.basename(filePath).replace(/\.[^.]+$/, ""), file_path: filePath,
            is_audio_clip: 1, is_midi_clip: 0, warping: warped ? 1 : 0, looping: warped ? 1 : 0,
            start_marker: 0, end_marker: warped ? beats : seconds,
            loop_start: 0, loop_end: warped ? beats : seconds,
            is_playing: 0, playing_position: 0, launch_quantization: 0,
        }, extra), parent);
        clip.warpMarkers = [{ beat_time: 0, sample_time: 0 }, { beat_time: beats, sample_time: seconds },
            { beat_time: beats + 1 / 32, sample_time: seconds + (seconds / beats) / 32 }];
        return clip;
    }

    createSessionClip(slot, [filePath]) {
        const track = slot.parent;
        if (!this.canCreate()) { this.errors.push("no function create_audio_clip in ClipSlot"); return undefined; }
        if (slot.props.has_clip) { this.errors.push("create_audio_clip: slot not empty"); return undefined; }
        if (track.kind !== "audio" || track.props.is_frozen) {
            this.errors.push("create_audio_clip: not an audio track or frozen");
            return undefined;
        }
        if (typeof filePath !== "string" || !path.isAbsolute(filePath)) {
            this.errors.push("create_audio_clip: path must be absolute");
            return undefined;
        }
        const clip = this.newAudioClip(slot, filePath, {});
        slot.children.clip = clip;
        slot.props.has_clip = 1;
        return ["id", clip.id];
    }

    createArrangementClip(track, [filePath, position]) {
        if (!this.canCreate()) { this.errors.push("no function create_audio_clip in Track"); return undefined; }
        if (track.kind !== "audio" || track.props.is_frozen) {
            this.errors.push("create_audio_clip: not an audio track or frozen");
            return undefined;
        }
        if (!(position >= 0 && position <= 1576800)) { this.errors.push("create_audio_clip: bad start time"); return undefined; }
        const clip = this.newAudioClip(track, filePath, { start_time: position });
        clip.props.end_time = position + clip.props.end_marker;
        if (this.arrangementDelay > 0) {
            this.pendingArrangement.push({ track, clip, delay: this.arrangementDelay });
        } else {
            track.children.arrangement_clips.push(clip);
        }
        return ["id", clip.id];
    }

    notesExtended(clip, [fromPitch, pitchSpan, fromTime, timeSpan]) {
        const notes = (clip.notes || []).filter((n) => n.pitch >= fromPitch && n.pitch < fromPitch + pitchSpan &&
            n.start_time >= fromTime && n.start_time < fromTime + timeSpan);
        return JSON.stringify({ notes });
    }

    moveWarpMarker(clip, [beatTime, distance]) {
        if (this.pendingWarping.some((w) => w.clip === clip)) {
            this.errors.push("move_warp_marker while a change of warping is pending");
        }
        const m = (clip.warpMarkers || []).find((w) => Math.abs(w.beat_time - beatTime) < 1e-9);
        if (!m) { this.errors.push("move_warp_marker: no marker at " + beatTime); return undefined; }
        m.beat_time += distance;
        return undefined;
    }

    // Live's transport: `clip` (in a session slot) starts playing at `position` beats; the clip
    // that played on its track stops (one clip per track).
    play(clip, position = 0) {
        const slot = clip.parent;
        const track = slot.parent;
        for (const other of track.children.clip_slots) {
            if (other.children.clip && other.children.clip !== clip) { other.children.clip.props.is_playing = 0; }
        }
        slot.props.is_triggered = 0;
        this.song.props.is_playing = 1;
        clip.props.is_playing = 1;
        clip.props.playing_position = position;
        track.props.playing_slot_index = track.children.clip_slots.indexOf(slot);
    }

    // views of the set for assertions --------------------------------------------------------

    slotClips(track) {
        return track.children.clip_slots.map((s) => (s.children.clip ? s.children.clip.props : null));
    }

    callsOf(fn) { return this.calls.filter((c) => c.fn === fn); }
}

// ---- OSC: the datagram [udpsend] would make from a typed message ------------------------------

function pad4(buf) {
    const extra = (4 - (buf.length % 4)) % 4;
    return Buffer.concat([buf, Buffer.alloc(extra)]);
}

function oscString(s) { return pad4(Buffer.concat([Buffer.from(s, "utf8"), Buffer.alloc(1)])); }

function encodeOsc(msg) {
    const parts = [oscString(msg[0].v), oscString("," + msg.slice(1).map((a) => a.t).join(""))];
    for (const a of msg.slice(1)) {
        if (a.t === "s") { parts.push(oscString(a.v)); }
        else if (a.t === "i") { const b = Buffer.alloc(4); b.writeInt32BE(a.v); parts.push(b); }
        else if (a.t === "f") { const b = Buffer.alloc(4); b.writeFloatBE(a.v); parts.push(b); }
        else { throw new Error("type " + a.t); }
    }
    return Buffer.concat(parts);
}

function readOscString(buf, pos) {
    const end = buf.indexOf(0, pos);
    const s = buf.toString("utf8", pos, end);
    return [s, end + 1 + ((4 - ((end + 1) % 4)) % 4)];
}

function decodeOsc(buf) {
    let [address, pos] = readOscString(buf, 0);
    let tags;
    [tags, pos] = readOscString(buf, pos);
    const args = [];
    for (const t of tags.slice(1)) {
        if (t === "s") { let s; [s, pos] = readOscString(buf, pos); args.push(s); }
        else if (t === "i") { args.push(buf.readInt32BE(pos)); pos += 4; }
        else if (t === "f") { args.push(buf.readFloatBE(pos)); pos += 4; }
        else { throw new Error("tag " + t); }
    }
    return { address, types: tags.slice(1), args };
}

// ---- Max's [js] environment ------------------------------------------------------------------

// Runs the device script (the bundle Max loads, or src/live_glue.js with its modules) against
// `live`. Returns an object to send Max messages to it and to read what it sent.
function loadDevice(live, { bundle = true } = {}) {
    const env = {
        live,
        now: 1700000000000,
        outlets: [],       // every outlet call: {n, args}
        sent: [],          // OSC messages as typed atom lists (what [udpsend] gets)
        datagrams: [],     // their encoded bytes
        posts: [],
        tasks: [],
        created: [],
        pending: null,
    };
    function FakeDate() { return { getTime: () => env.now }; }
    // Max's Task: repeat() runs it at every tick (interval), schedule(ms) once when ms have
    // passed; cancel() stops it; freepeer() frees it (a freed Task must not be used again).
    function Task(fn, thisArg) {
        this.fn = fn;
        this.thisArg = thisArg;
        this.interval = 0;
        this.running = false;
        this.once = false;
        this.freed = false;
        env.created.push(this);
    }
    Task.prototype.repeat = function () {
        if (this.freed) { throw new Error("Task used after freepeer"); }
        this.running = true;
        this.once = false;
        if (env.tasks.indexOf(this) < 0) { env.tasks.push(this); }
    };
    Task.prototype.schedule = function (ms) {
        if (this.freed) { throw new Error("Task used after freepeer"); }
        this.running = true;
        this.once = true;
        this.due = env.now + (ms || 0);
        if (env.tasks.indexOf(this) < 0) { env.tasks.push(this); }
    };
    Task.prototype.cancel = function () { this.running = false; };
    Task.prototype.freepeer = function () { this.running = false; this.freed = true; };
    // Max's Global: one object per name, shared by every [js] of this Max (here: of this FakeLive).
    function Global(name) {
        if (!live.globals.has(name)) { live.globals.set(name, {}); }
        return live.globals.get(name);
    }

    const sandbox = {
        post: (...args) => { env.posts.push(args.join(" ")); },
        outlet: (n, ...args) => {
            const flat = [].concat(...args);
            env.outlets.push({ n, args: flat });
            // The patch: outlet 0 -> [zl.group]; 1 -> [t i] -> [zl.group]; 2 -> [t f] ->
            // [zl.group]; 3 -> [zl.group]; [zl.group] -> [udpsend].
            if (n === 0 && flat[0] === "zlclear") { env.pending = []; }
            else if (n === 0 && flat[0] === "bang") {
                env.sent.push(env.pending);
                env.datagrams.push(encodeOsc(env.pending));
                env.pending = null;
            } else if (n === 1) { env.pending.push({ t: "i", v: Math.trunc(Number(flat[0])) }); }
            else if (n === 2) { env.pending.push({ t: "f", v: Math.fround(Number(flat[0])) }); }
            else if (n === 3) {
                if (flat[0] !== "symbol" || flat.length !== 2) { throw new Error("outlet 3 wants 'symbol <s>'"); }
                env.pending.push({ t: "s", v: String(flat[1]) });
            }
        },
        LiveAPI: live.LiveAPI,
        Task,
        Global,
        Date: FakeDate,
        messagename: undefined,
        require: (p) => require(path.resolve(SRC, p)),
    };
    vm.createContext(sandbox);
    const file = bundle ? BUNDLE : path.join(SRC, "live_glue.js");
    vm.runInContext(fs.readFileSync(file, "utf8"), sandbox, { filename: file });
    env.ctx = sandbox;

    // A Max message to the [js] object: its function of that name, or anything().
    env.send = (name, ...args) => {
        const fn = sandbox[name];
        if (typeof fn === "function" && !fn.local) { return fn.apply(sandbox, args); }
        sandbox.messagename = name;
        return sandbox.anything.apply(sandbox, args);
    };
    // A reply as [udpreceive] -> [prepend reply] delivers it.
    env.reply = (address, ...args) => env.send("reply", address, ...args);
    // Time passes by ms: Live finishes what it deferred, then due Tasks run (repeating ones at
    // every tick, scheduled ones once their time has come).
    env.tick = (ms) => {
        env.now += ms;
        live.flush();
        for (const t of env.tasks.slice()) {
            if (!t.running) { continue; }
            if (t.once) {
                if (t.due > env.now) { continue; }
                t.running = false;
            }
            t.fn.call(t.thisArg);
        }
        env.tasks = env.tasks.filter((t) => t.running || !t.freed);
    };
    // Let Live and the Tasks run for a while (steps of 50 ms).
    env.settle = (ms = 2000) => { for (let t = 0; t < ms; t += 50) { env.tick(50); } };
    env.outletValues = (n) => env.outlets.filter((o) => o.n === n).map((o) => o.args);
    env.status = () => {
        const s = env.outletValues(4);
        return s.length ? s[s.length - 1].slice(1).join(" ") : "";
    };
    env.ui = (control) => env.outletValues(10).filter((a) => a[0] === control).map((a) => a.slice(1));
    // Sent messages as {address, args, types} (decoded from the datagram bytes).
    env.messages = (address) => env.datagrams.map(decodeOsc).filter((m) => !address || m.address === address);
    env.keys = (m, from) => {
        const out = {};
        for (let i = from; i + 1 < m.args.length; i += 2) { out[m.args[i]] = { value: m.args[i + 1], type: m.types[i + 1] }; }
        return out;
    };
    return env;
}

module.exports = { FakeLive, loadDevice, encodeOsc, decodeOsc, SRC, BUNDLE };
