// mgb_session.js - the device's own state and choices: Live version checks, which clip slots
// receive results, where files go, pending jobs, seeds and the connection to the daemon.
//
// Plain functions and small objects, ES5, no Max or Live dependency (Node tests and Max [js]).

// ClipSlot.create_audio_clip and Track.create_audio_clip exist from Live 12.0.5 on.
var CREATE_AUDIO_CLIP_SINCE = [12, 0, 5];

// {major, minor, bugfix, text, canCreateAudioClip} from the numbers live_app reports.
function liveVersion(major, minor, bugfix) {
    var v = [toInt(major), toInt(minor), toInt(bugfix)];
    return {
        major: v[0],
        minor: v[1],
        bugfix: v[2],
        text: v.join("."),
        canCreateAudioClip: compareVersions(v, CREATE_AUDIO_CLIP_SINCE) >= 0
    };
}

function compareVersions(a, b) {
    var i;
    for (i = 0; i < 3; i++) {
        if ((a[i] || 0) !== (b[i] || 0)) { return (a[i] || 0) < (b[i] || 0) ? -1 : 1; }
    }
    return 0;
}

function toInt(x) {
    if (Array.isArray(x)) { x = x[0]; }
    var n = parseInt(x, 10);
    return isFinite(n) ? n : 0;
}

// The status line for a result that cannot become a clip by itself (Live older than 12.0.5):
// the version and the file to drag in.
function dragMessage(version, paths) {
    var what = paths.length === 1 ? "the file" : "the files";
    return "Live " + version.text + " cannot import clips from a device (needs 12.0.5+): drag " +
        what + " in: " + paths.join("  |  ");
}

// Slots for `count` new clips: the first `count` empty slots at or after `startIndex`, in
// order (filled slots are skipped, so variations land one under the other), then, if the
// end of the track is reached, empty slots above startIndex. hasClip[i] is truthy when slot i
// holds a clip. Returns {slots: [...], missing: n} where missing counts clips with no slot.
function chooseSlots(hasClip, count, startIndex) {
    var n = hasClip.length;
    var start = Math.max(0, Math.min(toInt(startIndex), n));
    var want = Math.max(1, toInt(count) || 1);
    var slots = [];
    var i;
    for (i = start; i < n && slots.length < want; i++) {
        if (!truthy(hasClip[i])) { slots.push(i); }
    }
    for (i = 0; i < start && slots.length < want; i++) {
        if (!truthy(hasClip[i])) { slots.push(i); }
    }
    return { slots: slots, missing: want - slots.length };
}

function truthy(v) {
    if (Array.isArray(v)) { v = v[0]; }
    return v === true || Number(v) === 1;
}

// --- paths -------------------------------------------------------------------------------

function separatorOf(path) {
    return path.indexOf("/") < 0 && path.indexOf("\\") >= 0 ? "\\" : "/";
}

function dirname(path) {
    var p = String(path).replace(/[\/\\]+$/, "");
    var i = Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\"));
    if (i < 0) { return ""; }
    if (i === 0) { return p.charAt(0); }
    if (i === 2 && /^[A-Za-z]:/.test(p)) { return p.slice(0, 3); }
    return p.slice(0, i);
}

function basename(path) {
    var p = String(path).replace(/[\/\\]+$/, "");
    return p.slice(Math.max(p.lastIndexOf("/"), p.lastIndexOf("\\")) + 1);
}

function joinPath(dir, name) {
    var d = String(dir);
    var sep = separatorOf(d);
    if (/[\/\\]$/.test(d)) { return d + name; }
    return d + sep + name;
}

// A folder path as Max's dialogs give it ("Macintosh HD:/Users/me/Songs", "C:/Songs") made
// into one the daemon's file system understands ("/Volumes/Macintosh HD/Users/me/Songs" is the
// same folder on macOS; "/Users/me/Songs" and Windows paths pass through). No trailing slash.
function nativeFolder(maxPath) {
    var p = String(maxPath === undefined || maxPath === null ? "" : maxPath).replace(/^\s+|\s+$/g, "");
    var m = /^([^\/\\:]{2,}):[\/\\](.*)$/.exec(p);
    if (m) { p = "/Volumes/" + m[1] + "/" + m[2]; }
    if (p.length > 1 && !/^[A-Za-z]:[\/\\]$/.test(p)) { p = p.replace(/[\/\\]+$/, ""); }
    return p;
}

// Where generated files go: <Live Set folder>/MusicGen when the set is saved (liveSetPath is
// its .als file), else the folder the user picked, else nothing (the daemon's --output-dir).
// Returns {outDir, source: "set"|"user"|"daemon"}.
function chooseOutDir(liveSetPath, userFolder) {
    var set = liveSetPath === undefined || liveSetPath === null ? "" : String(liveSetPath);
    var user = nativeFolder(userFolder);
    if (set && /\.als$/i.test(set) && dirname(set)) {
        return { outDir: joinPath(dirname(set), "MusicGen"), source: "set" };
    }
    if (user) { return { outDir: user, source: "user" }; }
    return { outDir: null, source: "daemon" };
}

// --- names -------------------------------------------------------------------------------

// A clip name from the prompt: trimmed, one line, at most 48 characters, "v2".. suffixes when
// a request made several variations.
function clipName(prompt, variation, variations, fallback) {
    var p = String(prompt === undefined || prompt === null ? "" : prompt).replace(/\s+/g, " ").replace(/^ | $/g, "");
    if (!p) { p = fallback || "MusicGen"; }
    if (p.length > 48) { p = p.slice(0, 47) + "\u2026"; }
    if (variations > 1) { p += " v" + (variation + 1); }
    return p;
}

// --- stems -------------------------------------------------------------------------------

// Between a name and its stem: "warm rhodes \u2013 drums" (an en dash, as Live shows it).
var STEM_SEP = " \u2013 ";

// The clip name of one stem: "<prompt> \u2013 drums" ("<prompt> v2 \u2013 drums" for variations).
function stemClipName(prompt, stem, variation, variations, fallback) {
    return clipName(prompt, variation, variations, fallback) + STEM_SEP + String(stem);
}

// The audio track that holds one stem of the results of track `mainName`: "<track> \u2013 drums".
// The name marks the track as the device's own, so it is found (and reused) next time.
function stemTrackName(mainName, stem) {
    return String(mainName) + STEM_SEP + String(stem);
}

// Which track each stem goes to. tracks: [{name, audio}] for live_set's tracks in order;
// mainIndex: the job's track. The stem tracks sit right after the main track: the run of audio
// tracks named "<main> \u2013 <stem>" that follows it is reused, a missing stem gets a new track
// at the end of that run (so they stay adjacent, in stem order). Returns [{stem, name, index,
// create}] in `stems` order; apply them in order: creating at `index` never moves an earlier one.
function planStemTracks(tracks, mainIndex, stems) {
    var mainName = tracks[mainIndex] ? String(tracks[mainIndex].name) : "";
    var prefix = mainName + STEM_SEP;
    var found = {};
    var j = mainIndex + 1;
    var out = [];
    var i, name;
    while (j < tracks.length && tracks[j].audio && String(tracks[j].name).indexOf(prefix) === 0) {
        if (!found.hasOwnProperty(tracks[j].name)) { found[tracks[j].name] = j; }
        j++;
    }
    for (i = 0; i < stems.length; i++) {
        name = stemTrackName(mainName, stems[i]);
        if (found.hasOwnProperty(name)) {
            out.push({ stem: stems[i], name: name, index: found[name], create: false });
        } else {
            out.push({ stem: stems[i], name: name, index: j, create: true });
            found[name] = j;
            j++;
        }
    }
    return out;
}

// Stem names of a job, in the order the daemon sent them (first variation first).
function stemNames(groups) {
    var names = [];
    var seen = {};
    var v, i, n;
    for (v = 0; v < (groups || []).length; v++) {
        if (!groups[v]) { continue; }
        for (i = 0; i < groups[v].stems.length; i++) {
            n = groups[v].stems[i].name;
            if (!seen.hasOwnProperty(n)) { seen[n] = true; names.push(n); }
        }
    }
    return names;
}

// A request id the daemon accepts ([A-Za-z0-9._-], 1-64): "mg-<time base 36>-<counter>".
function makeJobId(nowMs, counter) {
    return "mg-" + Math.floor(Number(nowMs) || 0).toString(36) + "-" + toInt(counter);
}

// --- jobs --------------------------------------------------------------------------------

// Pending jobs by id: what each one needs when its reply comes (kind, prompt, target track,
// where the clips go, how many variations).
function JobBook() {
    this.jobs = {};
    this.order = [];
}

JobBook.prototype.add = function (id, info) {
    var job = {};
    var k;
    for (k in info) { if (info.hasOwnProperty(k)) { job[k] = info[k]; } }
    job.id = id;
    job.state = "sent";
    job.fraction = 0;
    this.jobs[id] = job;
    this.order.push(id);
    return job;
};

JobBook.prototype.get = function (id) {
    return this.jobs.hasOwnProperty(id) ? this.jobs[id] : null;
};

JobBook.prototype.remove = function (id) {
    var job = this.get(id);
    var i = this.order.indexOf(id);
    if (i >= 0) { this.order.splice(i, 1); }
    delete this.jobs[id];
    return job;
};

// The newest job still waiting for its result (what Cancel cancels).
JobBook.prototype.latest = function () {
    return this.order.length ? this.jobs[this.order[this.order.length - 1]] : null;
};

JobBook.prototype.count = function () { return this.order.length; };

// A /musicgen/stems reply (parsed): kept on its job until done, as job.stems[variation - 1] =
// {mix, stems: [{name, path}]}. Returns the job, or null when the id is not ours.
JobBook.prototype.addStems = function (reply) {
    var job = this.get(reply.id);
    if (!job) { return null; }
    if (!job.stems) { job.stems = []; }
    job.stems[Math.max(1, toInt(reply.variation)) - 1] = { mix: reply.mix, stems: reply.stems.slice() };
    return job;
};

JobBook.prototype.ids = function () { return this.order.slice(); };

// --- seeds -------------------------------------------------------------------------------

// Seeds the UI can show exactly (a Live number box holds a 32-bit float).
var SEED_MAX = 16777215;

// Seed state: a fixed value, or "dice" (a new random seed for each request); `last` is the
// seed of the latest request, so Recall can bring back a result the user liked.
function SeedState() {
    this.value = 0;
    this.dice = true;
    this.last = null;
}

// The seed for the next request; random() returns [0, 1) (Math.random in the device).
SeedState.prototype.next = function (random) {
    var s = this.dice ? Math.floor((random || Math.random)() * (SEED_MAX + 1)) : this.value;
    s = Math.max(0, Math.min(SEED_MAX, toInt(s)));
    this.last = s;
    return s;
};

// Recall: the last seed becomes the fixed seed (dice off). Returns it, or null if none yet.
SeedState.prototype.recall = function () {
    if (this.last === null) { return null; }
    this.value = this.last;
    this.dice = false;
    return this.value;
};

// --- connection --------------------------------------------------------------------------

// Whether the daemon answers: "unknown" until the first ping, "connected" after a pong (or any
// reply), "lost" when a ping stays unanswered for timeoutMs.
function Connection(timeoutMs) {
    this.timeoutMs = timeoutMs || 3000;
    this.state = "unknown";
    this.pingSentMs = null;
    this.lastReplyMs = null;
    this.version = "";
}

Connection.prototype.pingSent = function (nowMs) {
    if (this.pingSentMs === null) { this.pingSentMs = nowMs; }
};

// Any reply from the daemon proves it is there; a pong also carries its version.
Connection.prototype.heard = function (nowMs, version) {
    this.lastReplyMs = nowMs;
    this.pingSentMs = null;
    if (version !== undefined) { this.version = String(version); }
    return this.set("connected");
};

// Call periodically; returns true when the state changed.
Connection.prototype.tick = function (nowMs) {
    if (this.pingSentMs !== null && nowMs - this.pingSentMs >= this.timeoutMs) {
        return this.set("lost");
    }
    return false;
};

Connection.prototype.set = function (state) {
    var changed = this.state !== state;
    this.state = state;
    return changed;
};

Connection.prototype.isUp = function () { return this.state === "connected"; };

// Whether a device whose Listen setting is `listen` takes a MIDI-triggered job of `preset`:
// "" = off, "*" or "all" = every job, else preset names separated by spaces or commas.
function listensTo(listen, preset) {
    var names = String(listen || "").split(/[\s,]+/);
    var i;
    for (i = 0; i < names.length; i++) {
        if (names[i] === "*" || names[i].toLowerCase() === "all") { return true; }
        if (names[i] !== "" && names[i] === String(preset || "")) { return true; }
    }
    return false;
}

var api = {
    listensTo: listensTo,
    CREATE_AUDIO_CLIP_SINCE: CREATE_AUDIO_CLIP_SINCE,
    SEED_MAX: SEED_MAX,
    liveVersion: liveVersion,
    compareVersions: compareVersions,
    dragMessage: dragMessage,
    chooseSlots: chooseSlots,
    dirname: dirname,
    basename: basename,
    joinPath: joinPath,
    nativeFolder: nativeFolder,
    chooseOutDir: chooseOutDir,
    clipName: clipName,
    STEM_SEP: STEM_SEP,
    stemClipName: stemClipName,
    stemTrackName: stemTrackName,
    planStemTracks: planStemTracks,
    stemNames: stemNames,
    makeJobId: makeJobId,
    JobBook: JobBook,
    SeedState: SeedState,
    Connection: Connection
};

if (typeof exports === "object" && exports !== null) {
    (function (target) {
        var k;
        for (k in api) { if (api.hasOwnProperty(k)) { target[k] = api[k]; } }
    })(exports);
}
