// live_glue.js - the script of the MusicGen Bridge device's [js] object (Max 8 and 9, Live 11
// and 12). It connects the device's controls, the OSC patch ([udpsend]/[udpreceive]) and the
// Live API; everything that can be decided without Live lives in mgb_protocol.js,
// mgb_timing.js and mgb_session.js. The device loads the bundle musicgen_bridge.js that
// max_for_live/build.py makes from these files; under Node the tests load them one by one.
//
// The Live API is touched only after [live.thisdevice] has sent `init` (never in global code),
// and only in message handlers that the patch defers to the low-priority thread.
// ES5 only: Max 8's [js] engine has no let/const, arrow functions or template literals.

autowatch = 0;
inlets = 1;
outlets = 11;

// Outlets, wired in "MusicGen Bridge.maxpat" (the tests check the wiring).
var OUT_ZL = 0;        // "zlclear" / "bang" to [zl.group] that assembles an OSC message
var OUT_INT = 1;       // int atoms -> [t i] -> [zl.group]
var OUT_FLOAT = 2;     // float atoms -> [t f] -> [zl.group] (so 120. stays a float)
var OUT_SYMBOL = 3;    // "symbol <s>" atoms -> [zl.group]
var OUT_STATUS = 4;    // "set <text>" -> the status line
var OUT_PROGRESS = 5;  // 0..100 -> the progress bar
var OUT_LED = 6;       // 1/0 -> the connection indicator
var OUT_SEND = 7;      // "host <h>" / "port <n>" -> [udpsend]
var OUT_RECV = 8;      // "port <n>" -> [udpreceive]
var OUT_STATE = 9;     // "state <json>" -> [pattr] (saved with the Live Set)
var OUT_UI = 10;       // "<control> set <value>" -> [route] -> the controls

function mgbRequire(name) {
    if (typeof __mgb_modules === "object" && __mgb_modules[name]) { return __mgb_modules[name]; }
    return require("./" + name + ".js");
}
mgbRequire.local = 1;

var protocol = mgbRequire("mgb_protocol");
var timing = mgbRequire("mgb_timing");
var session = mgbRequire("mgb_session");

// Items of the Model menu, in order; "auto" sends no model key (the daemon's loaded model).
var MODEL_CHOICES = ["auto", "small", "medium", "large", "melody", "melody-large",
    "stereo-small", "stereo-medium", "stereo-large", "stereo-melody", "stereo-melody-large"];
var PLACE_CHOICES = ["auto", "session", "arrangement"];
// Launch: what happens when a new session clip lands (docs/ableton.md, "Live sets").
var LAUNCH_OFF = 0, LAUNCH_NOW = 1, LAUNCH_FOLLOW = 2;
var LAUNCH_TICK_MS = 50;
var PING_INTERVAL_MS = 2000;
var PING_TIMEOUT_MS = 5000;
var REQUEST_TIMEOUT_MS = 10000;
// Bounded waits for Live (LOM: Clip.warping is applied later when set from the same event as
// other calls; a new arrangement clip may not be listed at once): WAIT_TRIES looks, WAIT_MS apart.
var WAIT_TRIES = 20;
var WAIT_MS = 50;
// Automatic reply ports: REPLY_PORT_BASE .. REPLY_PORT_BASE + REPLY_PORT_SPAN - 1, one per device
// (claimed in a Max Global shared by every [js] of this Max, so two devices never share one).
var REPLY_PORT_BASE = 9001;
var REPLY_PORT_SPAN = 500;
var PORTS_GLOBAL = "musicgen_bridge_reply_ports";

var S = {
    prompt: "",
    lengthMode: 0,        // 0 = bars (from Live's tempo and time signature), 1 = seconds
    bars: 4,
    seconds: 8,
    modelIndex: 0,
    variations: 1,
    temperature: 1.0,
    cfg: 3.0,
    loop: 1,
    place: 0,
    useKey: 1,
    host: "127.0.0.1",
    port: 9000,
    replyPort: 0,         // 0 = auto: 9001 + (this device's id mod 500)
    folder: "",
    token: "",
    stems: 0,             // 1: ask for stems too (drums, bass, ... on adjacent tracks)
    launch: 0,            // LAUNCH_OFF, LAUNCH_NOW (fire the new clip), LAUNCH_FOLLOW (when the playing clip ends)
    listen: ""            // MIDI-triggered jobs this device takes: "" none, "*" all, else preset names
};

var seeds = new session.SeedState();
var jobs = new session.JobBook();
var conn = new session.Connection(PING_TIMEOUT_MS);
var liveVer = null;
var ready = false;
var counter = 0;
var daemonModel = "";
var daemonDevice = "";
var pinger = null;
var waits = [];           // one-shot Tasks waiting for Live (cancelled when the device goes)
var activeReplyPort = 0;
var jamState = null;      // the running jam: {id, trackId, nextSlot, prevClipId, firstClipId, launchedSent, sentPrompt}
var launchQueue = [];     // clips to fire, in order: {slotId, clipId, afterClipId}
var launcher = null;      // the Task that fires them
var lastQueued = {};      // track id -> the clip Launch "follow" queued last there

// ---- messages from the controls ------------------------------------------------------------

function text() { setPrompt(argList(arguments)); }
function prompt() { setPrompt(argList(arguments)); }

// [textedit] sends its text after the word "text" ("text" alone when the box is empty, and
// "text text" when the box holds the word text): that first word is never part of the prompt.
function setPrompt(args) {
    if (args.length >= 1 && args[0] === "text") { args = args.slice(1); }
    S.prompt = args.join(" ");
    saveState();
    if (jamState && ready && trim(S.prompt) && trim(S.prompt) !== jamState.sentPrompt) {
        // the prompt box is live while jamming: the next segment takes the new prompt
        jamState.sentPrompt = trim(S.prompt);
        try {
            sendMessage(protocol.buildJamCommand(jamState.id, "prompt", jamState.sentPrompt, replyOpts()));
        } catch (e) {
            setStatus("Jam prompt: " + e.message);
        }
    }
}
setPrompt.local = 1;

function lengthmode(v) { S.lengthMode = toInt(v) === 1 ? 1 : 0; }
function bars(v) { S.bars = Number(v); }
function seconds(v) { S.seconds = Number(v); }
function model(v) { S.modelIndex = Math.max(0, Math.min(MODEL_CHOICES.length - 1, toInt(v))); }
function variations(v) { S.variations = Math.max(1, Math.min(8, toInt(v))); }
function temperature(v) { S.temperature = Number(v); }
function cfg(v) { S.cfg = Number(v); }
function loop(v) { S.loop = toInt(v) ? 1 : 0; }
function place(v) { S.place = Math.max(0, Math.min(2, toInt(v))); }
function usekey(v) { S.useKey = toInt(v) ? 1 : 0; }
function stems(v) { S.stems = toInt(v) ? 1 : 0; }
function launch(v) { S.launch = Math.max(0, Math.min(2, toInt(v))); }

// [textedit] "Listen": which MIDI-triggered jobs land on this device's track ("" none, "*" all,
// else preset names). The daemon must announce to this device's reply port (config `announce`).
function listen() {
    var args = argList(arguments);
    if (args.length >= 1 && args[0] === "text") { args = args.slice(1); }
    S.listen = trim(args.join(" "));
    saveState();
}

function seed(v) {
    seeds.value = Math.max(0, Math.min(session.SEED_MAX, toInt(v)));
}

function dice(v) { seeds.dice = toInt(v) ? true : false; }

function recall() {
    var s = seeds.recall();
    if (s === null) { setStatus("No seed to recall yet: generate something first"); return; }
    outlet(OUT_UI, "seed", "set", s);
    outlet(OUT_UI, "dice", "set", 0);
    setStatus("Seed " + s + " recalled (dice off): Generate makes the same clip again");
    saveState();
}

function host() {
    var args = argList(arguments);
    if (args.length >= 1 && args[0] === "text") { args = args.slice(1); }
    var h = args.join("").replace(/\s+/g, "");
    if (!h) { return; }
    S.host = h;
    applyNetwork();
    saveState();
}

function port(v) {
    var p = toInt(v);
    if (p < 1 || p > 65535) { return; }
    S.port = p;
    applyNetwork();
    saveState();
}

function replyport(v) {
    var p = toInt(v);
    if (p < 0 || p > 65535) { return; }
    S.replyPort = p;
    applyNetwork();
    saveState();
}

function token() {
    var args = argList(arguments);
    if (args.length >= 1 && args[0] === "text") { args = args.slice(1); }
    S.token = args.join("").replace(/\s+/g, "");
    saveState();
}

// The folder the user picked (from [opendialog fold] -> [conformpath slash boot]).
function folder() {
    var f = session.nativeFolder(argList(arguments).join(" "));
    if (!f) { return; }
    S.folder = f;
    outlet(OUT_UI, "folder", "set", f);
    setStatus("Output folder (when the Live Set is not saved yet): " + f);
    saveState();
}

// Saved state coming back from [pattr] (when the Live Set loads, and echoes of our own saves).
function restore() {
    var args = argList(arguments);
    var i, st;
    for (i = 0; i < args.length; i++) {
        if (typeof args[i] === "string" && args[i].charAt(0) === "{") {
            try { st = JSON.parse(args[i]); } catch (e) { st = null; }
        }
    }
    if (!st) { return; }
    if (typeof st.prompt === "string" && st.prompt !== S.prompt) {
        S.prompt = st.prompt;
        outlet(OUT_UI, "prompt", "set", S.prompt);
    }
    if (typeof st.folder === "string" && st.folder !== S.folder) {
        S.folder = st.folder;
        outlet(OUT_UI, "folder", "set", S.folder || "(none)");
    }
    if (typeof st.host === "string" && st.host && st.host !== S.host) {
        S.host = st.host;
        outlet(OUT_UI, "host", "set", S.host);
    }
    if (typeof st.token === "string" && st.token !== S.token) {
        S.token = st.token;
        outlet(OUT_UI, "token", "set", S.token);
    }
    if (typeof st.listen === "string" && st.listen !== S.listen) {
        S.listen = st.listen;
        outlet(OUT_UI, "listen", "set", S.listen);
    }
    if (st.port > 0) { S.port = toInt(st.port); }
    if (st.replyPort >= 0) { S.replyPort = toInt(st.replyPort); }
    if (st.lastSeed !== undefined && st.lastSeed !== null) { seeds.last = toInt(st.lastSeed); }
    if (ready) { applyNetwork(); }
}

// ---- start --------------------------------------------------------------------------------

// From [live.thisdevice] (deferred): the Live API is usable from here on.
function init() {
    var app;
    ready = true;
    try {
        app = new LiveAPI("live_app");
        liveVer = session.liveVersion(app.call("get_major_version"), app.call("get_minor_version"),
            app.call("get_bugfix_version"));
    } catch (e) {
        liveVer = session.liveVersion(0, 0, 0);
    }
    applyNetwork();
    startPinger();
    if (liveVer.canCreateAudioClip) {
        setStatus("Ready (Live " + liveVer.text + "). Type a prompt and press Generate");
    } else {
        setStatus("Live " + liveVer.text + ": clips cannot be created from a device before Live 12.0.5; " +
            "results will be shown here as file paths to drag in");
    }
    ping();
}

function startPinger() {
    if (pinger) { return; }
    pinger = new Task(pingTick, this);
    pinger.interval = PING_INTERVAL_MS;
    pinger.repeat();
}
startPinger.local = 1;

function pingTick() {
    var now = nowMs();
    if (conn.tick(now)) { showConnection(); }
    checkUnanswered(now);
    ping();
}
pingTick.local = 1;

// A request the daemon has not acknowledged (UDP may lose it, or no daemon runs): say so. The job
// stays known, so a late result still lands.
function checkUnanswered(now) {
    var ids = jobs.ids();
    var i, job;
    for (i = 0; i < ids.length; i++) {
        job = jobs.get(ids[i]);
        if (job.state === "sent" && now - job.sentMs >= REQUEST_TIMEOUT_MS) {
            job.state = "unanswered";
            progress(0);
            setStatus("No answer to \"" + shortText(job.label) + "\" from " + S.host + ":" + S.port +
                ": is `musicgen-bridge serve` running? Press the button again once it is");
        }
    }
}
checkUnanswered.local = 1;

function ping() {
    if (!ready) { return; }
    sendMessage(protocol.buildPing(replyOpts()));
    conn.pingSent(nowMs());
}

// [udpsend] gets host and port at once; [udpreceive] (no port in the patch, so nothing is bound
// while the device loads) gets its port only once the device is ready.
function applyNetwork() {
    outlet(OUT_SEND, "host", S.host);
    outlet(OUT_SEND, "port", S.port);
    if (!ready) { return; }
    var rp = replyPortInUse();
    if (rp !== activeReplyPort) {
        releaseReplyPort(activeReplyPort);
        activeReplyPort = rp;
        outlet(OUT_RECV, "port", rp);
    }
    outlet(OUT_UI, "replyport_auto", "set", "reply port " + rp);
}
applyNetwork.local = 1;

// The Reply setting, or (0 = automatic) a port claimed for this device: the first free one from
// 9001 + (device id mod 500) on, in the Global every device of this Max shares.
function replyPortInUse() {
    var ports, dev, devId, i, p;
    if (S.replyPort > 0) { return S.replyPort; }
    if (activeReplyPort > 0 && ownsReplyPort(activeReplyPort)) { return activeReplyPort; }
    try {
        dev = new LiveAPI("this_device");
        devId = toInt(dev.id);
    } catch (e) {
        devId = 0;
    }
    ports = portRegistry();
    for (i = 0; i < REPLY_PORT_SPAN; i++) {
        p = REPLY_PORT_BASE + ((devId + i) % REPLY_PORT_SPAN);
        if (!ports || !ports["p" + p] || ports["p" + p] === devId) {
            if (ports) { ports["p" + p] = devId || -1; }
            return p;
        }
    }
    return REPLY_PORT_BASE + (devId % REPLY_PORT_SPAN);
}
replyPortInUse.local = 1;

function portRegistry() {
    try { return new Global(PORTS_GLOBAL); } catch (e) { return null; }
}
portRegistry.local = 1;

function ownsReplyPort(p) {
    var ports = portRegistry();
    var dev;
    if (!ports) { return true; }
    try { dev = toInt(new LiveAPI("this_device").id); } catch (e) { dev = 0; }
    return ports["p" + p] === (dev || -1);
}
ownsReplyPort.local = 1;

function releaseReplyPort(p) {
    var ports = portRegistry();
    if (p > 0 && ports && ports["p" + p] !== undefined && ownsReplyPort(p)) { ports["p" + p] = 0; }
}
releaseReplyPort.local = 1;

// Max calls this when the device is deleted (or its script reloaded): stop every Task and give
// the automatic reply port back.
function notifydeleted() {
    var i;
    if (pinger) { pinger.cancel(); pinger.freepeer(); pinger = null; }
    if (launcher) { launcher.cancel(); launcher.freepeer(); launcher = null; }
    for (i = 0; i < waits.length; i++) { waits[i].cancel(); waits[i].freepeer(); }
    waits = [];
    if (S.replyPort === 0 && ready) { releaseReplyPort(activeReplyPort); }
    ready = false;
}

// Look with `probe` until it returns something (then `done(value)`), at most WAIT_TRIES times
// WAIT_MS apart from a Task, then `done(null)`. `later`: the first look is from the Task too
// (never in the event that made the change, e.g. right after setting Clip.warping).
function waitFor(probe, done, later) {
    var tries = 0;
    var task = null;
    function look() {
        var v = null;
        tries++;
        try { v = probe(); } catch (e) { v = null; }
        if (v || tries >= WAIT_TRIES) {
            if (task) { forgetWait(task); }
            done(v || null);
            return;
        }
        again();
    }
    function again() {
        if (!task) {
            task = new Task(look, this);
            waits.push(task);
        }
        task.schedule(WAIT_MS);
    }
    if (later) { again(); } else { look(); }
}
waitFor.local = 1;

function forgetWait(task) {
    var i = waits.indexOf(task);
    if (i >= 0) { waits.splice(i, 1); }
    task.freepeer();
}
forgetWait.local = 1;

function replyOpts() {
    var o = { reply_port: activeReplyPort || replyPortInUse() };
    if (S.token) { o.token = S.token; }
    return o;
}
replyOpts.local = 1;

// ---- requests -----------------------------------------------------------------------------

function generate() {
    if (!isPress(arguments) || !checkReady()) { return; }
    try {
        if (!trim(S.prompt)) { throw new Error("type a prompt first"); }
        var song = songContext();
        var target = generateTarget(false);
        var len = lengthForRequest(song);
        var id = nextId();
        var req = requestBase(len, song, target);
        sendMessage(protocol.buildGenerate(id, promptFor(song), req.opts));
        jobs.add(id, jobInfo("generate", target, len, req.seed, S.prompt, song));
        setStatus("Sent " + describeLength(len) + " of \"" + shortText(S.prompt) + "\" (seed " + req.seed + ")" +
            outDirNote(req));
        progress(0);
    } catch (e) {
        setStatus("Generate: " + e.message);
    }
}

// Continue the selected audio clip (Live's detail clip) from the end of the region it plays.
function continuation() {
    if (!isPress(arguments) || !checkReady()) { return; }
    try {
        var clip = new LiveAPI("live_set view detail_clip");
        if (!exists(clip)) { throw new Error("select an audio clip first (click it so it shows in the detail view)"); }
        if (getNum(clip, "is_midi_clip") === 1) { throw new Error("the selected clip is a MIDI clip: use Melody for MIDI clips"); }
        var audioPath = getStr(clip, "file_path");
        if (!audioPath) { throw new Error("the selected clip has no audio file"); }
        var warped = getNum(clip, "warping") === 1;
        var song = songContext();
        var region = timing.clipRegionSeconds({
            warping: warped,
            looping: getNum(clip, "looping"),
            start_marker: getNum(clip, "start_marker"),
            end_marker: getNum(clip, "end_marker"),
            loop_start: getNum(clip, "loop_start"),
            loop_end: getNum(clip, "loop_end"),
            warp_markers: warped ? safeGet(clip, "warp_markers") : null
        }, song.tempo);
        var target = continueTarget(clip);
        var len = lengthForRequest(song);
        var id = nextId();
        var req = requestBase(len, song, target);
        var clipLabel = getStr(clip, "name") || session.basename(audioPath);
        req.opts.loop = undefined;
        req.opts.start = region.start_s;
        req.opts.end = region.end_s;
        if (trim(S.prompt)) { req.opts.prompt = promptFor(song); }
        req.opts.name = clipBaseName(clipLabel, "clip");
        sendMessage(protocol.buildContinue(id, audioPath, req.opts));
        jobs.add(id, jobInfo("continue", target, len, req.seed,
            trim(S.prompt) ? S.prompt : clipLabel + " cont", song));
        setStatus("Continuing \"" + shortText(clipLabel) + "\" after " + round2(region.start_s) + "-" +
            round2(region.end_s) + " s of its file" + outDirNote(req));
        progress(0);
    } catch (e) {
        setStatus("Continue: " + e.message);
    }
}

// The selected MIDI clip's notes as a melody for a melody model; the result is as long as the
// part of the clip that plays.
function melody() {
    if (!isPress(arguments) || !checkReady()) { return; }
    try {
        var clip = new LiveAPI("live_set view detail_clip");
        if (!exists(clip) || getNum(clip, "is_midi_clip") !== 1) {
            throw new Error("select a MIDI clip first (click it so it shows in the detail view)");
        }
        if (S.modelIndex === 0 && daemonModel && daemonModel.toLowerCase().indexOf("melody") < 0) {
            throw new Error("the daemon's model (" + daemonModel + ") takes no melody: start it with " +
                "--model melody, or pick a melody model in the menu");
        }
        var song = songContext();
        var region = timing.midiRegionBeats({
            looping: getNum(clip, "looping"),
            start_marker: getNum(clip, "start_marker"),
            end_marker: getNum(clip, "end_marker"),
            loop_start: getNum(clip, "loop_start"),
            loop_end: getNum(clip, "loop_end")
        });
        var json = clip.call("get_notes_extended", 0, 128, region.startBeats, region.lengthBeats);
        var notes = protocol.notesFromLive(json, region.startBeats, region.endBeats);
        if (!notes.length) { throw new Error("the MIDI clip has no unmuted notes in the part that plays"); }
        var target = generateTarget(true);
        var len = timing.lengthKeys(region.lengthBeats / timing.beatsPerBarQuarter(song.numerator, song.denominator),
            song.tempo, song.numerator, song.denominator);
        var id = nextId();
        var chunks = protocol.buildNotesMessages(id, notes, 0, S.token);
        var req = requestBase(len, song, target);
        var i;
        req.opts.bpm = song.tempo;
        req.opts.melody_notes = id;
        req.opts.loop = undefined;
        for (i = 0; i < chunks.length; i++) { sendMessage(chunks[i]); }
        sendMessage(protocol.buildGenerate(id, promptFor(song), req.opts));
        jobs.add(id, jobInfo("melody", target, len, req.seed,
            trim(S.prompt) ? S.prompt : (getStr(clip, "name") || "melody"), song));
        setStatus("Sent a melody of " + notes.length + " note" + (notes.length === 1 ? "" : "s") + " in " + chunks.length + " message" +
            (chunks.length > 1 ? "s" : "") + ", " + describeLength(len) + outDirNote(req));
        progress(0);
    } catch (e) {
        setStatus("Melody: " + e.message);
    }
}

// The Jam toggle: on starts a jam on this device's track (the daemon keeps continuing the music,
// segment after segment, each `bars` long at the song's tempo); off stops it.
function jam(v) {
    if (!checkReady()) { return; }
    if (!toInt(v)) {
        if (!jamState) { return; }
        sendMessage(protocol.buildJamCommand(jamState.id, "stop", null, replyOpts()));
        setStatus("Stopping the jam...");
        return;
    }
    if (jamState) { setStatus("A jam is already running"); return; }
    try {
        if (!trim(S.prompt)) { throw new Error("type a prompt first"); }
        var song = songContext();
        var target = generateTarget(false);
        var bars = timing.jamBars(S.bars);
        var len = timing.lengthKeys(bars, song.tempo, song.numerator, song.denominator);
        var id = nextId() + "j";
        var req = requestBase(len, song, target);
        var o = req.opts;
        sendMessage(protocol.buildJamStart(id, {
            prompt: promptFor(song), bpm: song.tempo, bars: bars,
            beats_per_bar: timing.beatsPerBarQuarter(song.numerator, song.denominator),
            model: o.model, seed: o.seed, temperature: o.temperature, cfg: o.cfg, out_dir: o.out_dir,
            daw: "ableton", track: o.track, reply_port: o.reply_port, token: o.token
        }));
        jamState = { id: id, trackId: target.trackId, nextSlot: 0, prevClipId: 0, firstClipId: 0,
            launchedSent: false, sentPrompt: trim(S.prompt), bars: bars, lengthBeats: len.lengthBeats,
            duration_s: len.duration_s, beatsPerBar: timing.beatsPerBarQuarter(song.numerator, song.denominator),
            label: S.prompt };
        setStatus("Jam: " + bars + " bar" + (bars === 1 ? "" : "s") + " per segment of \"" + shortText(S.prompt) + "\"" +
            outDirNote(req));
    } catch (e) {
        outlet(OUT_UI, "jam", "set", 0);
        setStatus("Jam: " + e.message);
    }
}

function cancel() {
    if (!isPress(arguments) || !checkReady()) { return; }
    var job = jobs.latest();
    if (!job) { setStatus("Nothing to cancel"); return; }
    sendMessage(protocol.buildCancel(job.id, { token: S.token || undefined }));
    setStatus("Cancelling \"" + shortText(job.label) + "\"...");
}

// ---- replies ------------------------------------------------------------------------------

// [udpreceive] -> [prepend reply] -> [deferlow] -> here: reply /musicgen/<what> args...
function reply(address) {
    var r = protocol.parseReply(String(address), Array.prototype.slice.call(arguments, 1));
    var job;
    if (r.type !== "unknown") {
        if (conn.heard(nowMs(), r.type === "pong" ? r.version : undefined)) { showConnection(); }
    }
    switch (r.type) {
    case "pong":
        return;
    case "status":
        daemonModel = r.fields.model === undefined ? "" : String(r.fields.model);
        daemonDevice = r.fields.device === undefined ? "" : String(r.fields.device);
        return;
    case "accepted":
        job = jobs.get(r.id) || adoptJob(r);
        if (!job) { return; }
        job.state = "accepted";
        setStatus(r.queuePosition > 0 ? "Queued (" + r.queuePosition + " ahead): \"" + shortText(job.label) + "\"" :
            "Generating \"" + shortText(job.label) + "\"...");
        return;
    case "progress":
        job = jobs.get(r.id);
        if (!job) { return; }
        job.state = "running";
        job.fraction = r.fraction;
        if (job === jobs.latest()) {
            progress(Math.round(r.fraction * 100));
            setStatus("Generating \"" + shortText(job.label) + "\" " + Math.round(r.fraction * 100) + "%");
        }
        return;
    case "stems":
        jobs.addStems(r);   // kept until done (sent right before it)
        return;
    case "done":
        onDone(r);
        return;
    case "error":
        if (jamState && r.id === jamState.id) {   // the jam itself was refused: it never started
            jamState = null;
            outlet(OUT_UI, "jam", "set", 0);
            setStatus("Jam refused: " + r.code + ": " + r.message);
            return;
        }
        job = r.id ? jobs.remove(r.id) : null;
        if (r.id && !job) { return; }   // another device's job
        progress(0);
        setStatus("Error " + r.code + ": " + r.message);
        return;
    case "cancelled":
        job = jobs.remove(r.id);
        if (!job) { return; }
        progress(0);
        setStatus("Cancelled \"" + shortText(job.label) + "\"");
        return;
    case "jam_segment":
        if (!jamState || r.id !== jamState.id) { return; }
        jamState.lead = r.leadBars;
        setStatus("Jam: segment " + (r.index + 1) + " ready, " + round2(r.leadBars) + " bars ahead of playback");
        return;
    case "jam_slow":
        if (!jamState || r.id !== jamState.id) { return; }
        setStatus("Jam: generation is slower than playback (" + round2(r.speed) + "x real time, " +
            round2(r.leadBars) + " bars ahead): the last segment loops until the next one is ready");
        return;
    case "jam_ended":
        if (!jamState || r.id !== jamState.id) { return; }
        jamState = null;
        outlet(OUT_UI, "jam", "set", 0);
        setStatus("Jam ended (" + r.reason + ") after " + r.segments + " segment" + (r.segments === 1 ? "" : "s"));
        return;
    default:
        return;
    }
}

// A job this device did not send: a segment of its jam, or a MIDI-triggered job (announced by
// the daemon with its preset) that the Listen setting takes. It lands on this device's track.
function adoptJob(r) {
    var track, info;
    if (jamState && r.id.indexOf(jamState.id + ".s") === 0) {
        info = {
            kind: "jam", label: jamState.label, trackId: jamState.trackId, placement: "session", slotStart: 0,
            positionBeats: 0, lengthBeats: jamState.lengthBeats, duration_s: jamState.duration_s,
            beatsPerBar: jamState.beatsPerBar, warpToSong: true, seed: null, sentMs: nowMs()
        };
    } else if (r.id.indexOf("midi-") === 0 && session.listensTo(S.listen, r.preset)) {
        track = deviceTrack();
        if (!isAudioTrack(track)) { return null; }
        info = {
            kind: "midi", label: r.preset || "MIDI", trackId: toInt(track.id), placement: "session", slotStart: 0,
            positionBeats: 0, lengthBeats: 0, duration_s: 0, beatsPerBar: 4, warpToSong: false, seed: null,
            sentMs: nowMs()
        };
    } else {
        return null;
    }
    jobs.add(r.id, info);
    return jobs.get(r.id);
}
adoptJob.local = 1;

function onDone(r) {
    var job = jobs.remove(r.id);
    var seedFromFile, place;
    if (!job) { return; }
    if (job.kind === "jam" && jamState) { job.slotStart = jamState.nextSlot; }
    progress(100);
    seedFromFile = protocol.seedFromPath(r.paths[0]);
    seeds.last = job.seed !== undefined && job.seed !== null ? job.seed : seedFromFile;
    saveState();
    if (!r.paths.length) { setStatus("The daemon finished \"" + shortText(job.label) + "\" but sent no file"); return; }
    if (!liveVer || !liveVer.canCreateAudioClip) {
        setStatus(session.dragMessage(liveVer || session.liveVersion(0, 0, 0), r.paths.concat(stemPaths(job))));
        return;
    }
    place = job.placement === "arrangement" ? placeInArrangement : placeInSession;
    guarded(function (cb) { place(job, r.paths, cb); }, function (err, placed) {
        if (err) {
            setStatus("Could not create the clip (" + err.message + "): drag " + r.paths.concat(stemPaths(job)).join("  |  "));
            return;
        }
        afterPlaced(job, placed);
        if (!job.stems) { reportPlaced(job, placed, null); return; }
        guarded(function (cb) { placeStems(job, placed, cb); }, function (err2, stemNote) {
            if (err2) {
                stemNote = { text: "", missing: stemPaths(job), reason: "Could not place the stems (" + err2.message + ")" };
            }
            reportPlaced(job, placed, stemNote);
        });
    });
}
onDone.local = 1;

// Launch what just landed: a jam segment follows the previous one; other session clips per the
// Launch setting (now, or when the track's playing clip ends).
function afterPlaced(job, placed) {
    var track, slotIds, slotId, clipId, playing;
    if (job.placement !== "session" || !placed.slots || !placed.slots.length) { return; }
    track = byId(job.trackId);
    slotIds = childIds(track, "clip_slots");
    slotId = slotIds[placed.slots[0]];
    clipId = childId(byId(slotId), "clip");
    if (job.kind === "jam") {
        if (!jamState) { return; }
        queueLaunch(slotId, clipId, jamState.prevClipId || 0);
        jamState.prevClipId = clipId;
        if (!jamState.firstClipId) { jamState.firstClipId = clipId; }
        jamState.nextSlot = placed.slots[0] + 1;
        return;
    }
    if (S.launch === LAUNCH_NOW) {
        queueLaunch(slotId, clipId, 0);
    } else if (S.launch === LAUNCH_FOLLOW) {
        // after the clip this device queued last on the track while it is still to come or
        // playing (results landing faster than they play), else after the playing clip
        playing = lastQueued[job.trackId] && stillComing(lastQueued[job.trackId]) ? lastQueued[job.trackId] : 0;
        if (!playing) {
            playing = toInt(getNum(track, "playing_slot_index"));
            playing = playing >= 0 && playing < slotIds.length ? childId(byId(slotIds[playing]), "clip") : 0;
        }
        queueLaunch(slotId, clipId, playing);
        lastQueued[job.trackId] = clipId;
    }
}
afterPlaced.local = 1;

function stillComing(clipId) {
    var clip = byId(clipId), i;
    if (!exists(clip)) { return false; }
    for (i = 0; i < launchQueue.length; i++) { if (launchQueue[i].clipId === clipId) { return true; } }
    return getNum(clip, "is_playing") === 1 || getNum(byId(childId(clip, "canonical_parent")), "is_triggered") === 1;
}
stillComing.local = 1;

function queueLaunch(slotId, clipId, afterClipId) {
    launchQueue.push({ slotId: slotId, clipId: clipId, afterClipId: afterClipId });
    if (!launcher) {
        launcher = new Task(launchTick, this);
        launcher.interval = LAUNCH_TICK_MS;
    }
    launcher.repeat();
    launchTick();
}
queueLaunch.local = 1;

// Fire queued clips in order: one that follows another is fired in that clip's last bar, with
// its own launch quantization set to 1 bar, so Live starts it on the bar line where the other
// ends (follow actions are not in the Live API). Also tells the daemon when a jam starts playing.
function launchTick() {
    var item, d, prev, prevSlot, first, song;
    try {
        while (launchQueue.length) {
            item = launchQueue[0];
            if (!exists(byId(item.slotId)) || !exists(byId(item.clipId))) { launchQueue.shift(); continue; }
            prev = item.afterClipId ? byId(item.afterClipId) : null;
            d = "fire";
            if (prev && exists(prev)) {
                song = new LiveAPI("live_set");
                prevSlot = byId(childId(prev, "canonical_parent"));
                d = timing.followDecision({
                    transport: getNum(song, "is_playing") === 1,
                    triggered: exists(prevSlot) && getNum(prevSlot, "is_triggered") === 1,
                    playing: getNum(prev, "is_playing") === 1,
                    position: getNum(prev, "playing_position"),
                    end: getNum(prev, getNum(prev, "looping") === 1 ? "loop_end" : "end_marker")
                }, timing.beatsPerBarQuarter(getNum(song, "signature_numerator") || 4,
                    getNum(song, "signature_denominator") || 4));
                if (d === "fire") { byId(item.clipId).set("launch_quantization", timing.LAUNCH_Q_1_BAR); }
            }
            if (d === "wait") { break; }
            launchQueue.shift();
            byId(item.slotId).call("fire");
        }
        if (jamState && jamState.firstClipId && !jamState.launchedSent) {
            first = byId(jamState.firstClipId);
            if (exists(first) && getNum(first, "is_playing") === 1) {
                jamState.launchedSent = true;
                sendMessage(protocol.buildJamCommand(jamState.id, "launched", null, replyOpts()));
            }
        }
        if (!launchQueue.length && !(jamState && !jamState.launchedSent) && launcher) { launcher.cancel(); }
    } catch (e) {
        post("MusicGen Bridge: launching: " + e.message + "\n");
    }
}
launchTick.local = 1;

function reportPlaced(job, placed, stemNote) {
    if (placed.missing.length) {
        setStatus(placed.reason + ": drag " + placed.missing.join("  |  "));
    } else if (stemNote && stemNote.missing.length) {
        setStatus(stemNote.reason + ": drag " + stemNote.missing.join("  |  "));
    } else {
        setStatus("Done: " + placed.where + (stemNote ? stemNote.text : "") + " (seed " + seeds.last + ")");
    }
}
reportPlaced.local = 1;

// Run step(cb) where cb(err, value) may be called now or later (from a Task); a throw, now or
// in `then`, becomes then(err) once. `then` is called exactly once.
function guarded(step, then) {
    var finished = false;
    function cb(err, value) {
        if (finished) { return; }
        finished = true;
        try {
            then(err || null, value);
        } catch (e) {
            post("MusicGen Bridge: " + e.message + "\n");
            setStatus("Error while placing the result: " + e.message);
        }
    }
    try {
        step(cb);
    } catch (e) {
        cb(e);
    }
}
guarded.local = 1;

// New clips in the first empty slots of the job's track at or after job.slotStart.
// cb(null, {slots, where, missing, reason}).
function placeInSession(job, paths, cb) {
    var track = byId(job.trackId);
    var slotIds, hasClip, choice, i, slot, made;
    if (!exists(track)) { throw new Error("the target track is gone"); }
    slotIds = childIds(track, "clip_slots");
    hasClip = [];
    for (i = 0; i < slotIds.length; i++) { hasClip.push(getNum(byId(slotIds[i]), "has_clip")); }
    choice = session.chooseSlots(hasClip, paths.length, job.slotStart);
    made = [];
    for (i = 0; i < choice.slots.length; i++) {
        slot = byId(slotIds[choice.slots[i]]);
        slot.call("create_audio_clip", paths[i]);
        if (getNum(slot, "has_clip") !== 1) {
            throw new Error("Live made no clip from " + paths[i]);
        }
        finishClip(byId(childId(slot, "clip")), job, i, paths.length);
        made.push(choice.slots[i] + 1);
    }
    cb(null, {
        slots: choice.slots.slice(0, made.length),
        where: "track \"" + getStr(track, "name") + "\", slot" + (made.length > 1 ? "s " : " ") + made.join(", "),
        missing: paths.slice(choice.slots.length),
        reason: "No empty clip slot left on track \"" + getStr(track, "name") + "\""
    });
}
placeInSession.local = 1;

// New clips on the job's track in the arrangement, one after the other from job.positionBeats.
// Track.create_audio_clip's clip may not be listed in arrangement_clips at once: each is looked
// for again from a Task (waitFor) before Live is said to have made none.
// cb(null, {positions, where, missing, reason}) or cb(error).
function placeInArrangement(job, paths, cb) {
    var track = byId(job.trackId);
    var step = job.lengthBeats > 0 ? job.lengthBeats : 0;
    var positions = [];
    if (!exists(track)) { throw new Error("the target track is gone"); }
    function next(i) {
        var pos;
        if (i >= paths.length) {
            cb(null, {
                positions: positions,
                where: "track \"" + getStr(track, "name") + "\" at beat " + round2(job.positionBeats) + " (bar " +
                    round2(job.positionBeats / job.beatsPerBar + 1) + ")",
                missing: [],
                reason: ""
            });
            return;
        }
        pos = job.positionBeats + i * step;
        track.call("create_audio_clip", paths[i], pos);
        waitFor(function () { return arrangementClipAt(track, pos); }, function (clip) {
            try {
                if (!clip) { throw new Error("Live made no arrangement clip from " + paths[i]); }
                finishClip(clip, job, i, paths.length);
                positions.push(pos);
            } catch (e) {
                cb(e);
                return;
            }
            next(i + 1);
        });
    }
    next(0);
}
placeInArrangement.local = 1;

// Stems (sent as /musicgen/stems before done): each stem on its own audio track right after the
// job's track ("<track> \u2013 drums", created with live_set.create_audio_track when missing),
// in the same scene as its mix (session) or at the same position (arrangement). `placed` is what
// placeInSession/placeInArrangement gave. cb(null, {text, missing, reason}) or cb(error).
function placeStems(job, placed, cb) {
    var song = new LiveAPI("live_set");
    var names = session.stemNames(job.stems);
    var trackIds = childIds(song, "tracks");
    var mainIndex = trackIds.indexOf(toInt(job.trackId));
    var tracks = [];
    var byStem = {};
    var missing = [];
    var count = job.stems.length;
    var todo = [];
    var landed = [];
    var i, v, plan, t, group, before, after;
    if (mainIndex < 0) { throw new Error("the target track is gone"); }
    for (i = 0; i < trackIds.length; i++) {
        t = byId(trackIds[i]);
        tracks.push({ name: getStr(t, "name"), audio: getNum(t, "has_audio_input") === 1 });
    }
    plan = session.planStemTracks(tracks, mainIndex, names);
    for (i = 0; i < plan.length; i++) {
        if (plan[i].create) {
            // LiveAPI.call does not throw when Live refuses: a new track is one more track
            before = childIds(song, "tracks").length;
            song.call("create_audio_track", plan[i].index);
            after = childIds(song, "tracks");
            if (after.length !== before + 1) { throw new Error("Live made no track for the " + plan[i].stem + " stem"); }
            t = byId(after[plan[i].index]);
            if (!exists(t)) { throw new Error("Live made no track for the " + plan[i].stem + " stem"); }
            t.set("name", plan[i].name);
        } else {
            t = byId(childIds(song, "tracks")[plan[i].index]);
        }
        byStem[plan[i].stem] = t;
    }
    for (v = 0; v < count; v++) {
        landed.push(0);
        group = job.stems[v];
        if (!group) { continue; }
        for (i = 0; i < group.stems.length; i++) {
            todo.push({ v: v, stem: group.stems[i], size: group.stems.length });
        }
    }
    function finishAll() {
        var made = 0;
        var mix;
        for (v = 0; v < count; v++) {
            made += landed[v];
            if (landed[v] && job.stems[v] && landed[v] === job.stems[v].stems.length) {
                // every stem of this variation landed: the mix is deactivated so that they, which
                // add up to it, do not play on top of it (its Clip Activator turns it back on)
                mix = job.placement === "arrangement" ? arrangementClipAt(byId(job.trackId), placed.positions[v]) :
                    byId(childId(byId(childIds(byId(job.trackId), "clip_slots")[placed.slots[v]]), "clip"));
                if (mix && exists(mix)) { mix.set("muted", 1); }
            }
        }
        cb(null, {
            text: made ? ", " + names.length + " stem" + (names.length === 1 ? "" : "s") + " on the tracks below " +
                (job.placement === "arrangement" ? "at the same position" : "in the same scene") : "",
            missing: missing,
            reason: "Some stems found no place (slot taken or track frozen)"
        });
    }
    function landedClip(item, clip) {
        if (!clip) { missing.push(item.stem.path); return; }
        finishClip(clip, job, item.v, count, session.stemClipName(job.label, item.stem.name, item.v, count));
        landed[item.v]++;
    }
    function next(k) {
        var item, slotIds, slot, pos, track;
        if (k >= todo.length) { finishAll(); return; }
        item = todo[k];
        track = byStem[item.stem.name];
        if (!track || toInt(getNum(track, "is_frozen")) === 1) { missing.push(item.stem.path); next(k + 1); return; }
        if (job.placement === "arrangement") {
            if (item.v >= placed.positions.length) { missing.push(item.stem.path); next(k + 1); return; }
            pos = placed.positions[item.v];
            track.call("create_audio_clip", item.stem.path, pos);
            waitFor(function () { return arrangementClipAt(track, pos); }, function (clip) {
                try { landedClip(item, clip); } catch (e) { cb(e); return; }
                next(k + 1);
            });
            return;
        }
        slotIds = childIds(track, "clip_slots");
        if (item.v >= placed.slots.length || placed.slots[item.v] >= slotIds.length) {
            missing.push(item.stem.path);
            next(k + 1);
            return;
        }
        slot = byId(slotIds[placed.slots[item.v]]);
        if (getNum(slot, "has_clip") === 1) { missing.push(item.stem.path); next(k + 1); return; }
        slot.call("create_audio_clip", item.stem.path);
        landedClip(item, getNum(slot, "has_clip") === 1 ? byId(childId(slot, "clip")) : null);
        next(k + 1);
    }
    next(0);
}
placeStems.local = 1;

function stemPaths(job) {
    var out = [];
    var v, i;
    for (v = 0; job.stems && v < job.stems.length; v++) {
        if (!job.stems[v]) { continue; }
        for (i = 0; i < job.stems[v].stems.length; i++) { out.push(job.stems[v].stems[i].path); }
    }
    return out;
}
stemPaths.local = 1;

function arrangementClipAt(track, posBeats) {
    var ids = childIds(track, "arrangement_clips");
    var i, c;
    for (i = ids.length - 1; i >= 0; i--) {
        c = byId(ids[i]);
        if (Math.abs(getNum(c, "start_time") - posBeats) < 1e-4) { return c; }
    }
    return null;
}
arrangementClipAt.local = 1;

// Name the new clip after the prompt (or `name`); clips made to the song's bars play warped at its
// tempo. Live applies a change of Clip.warping later when it comes with other calls from one
// event (LOM), and an unwarped clip's markers are seconds: so the markers (alignWarp) are set
// from a Task once warping reads back 1, never in the event that turned warping on.
function finishClip(clip, job, index, count, name) {
    if (!exists(clip)) { return; }
    clip.set("name", name || session.clipName(job.label, index, count));
    if (!job.warpToSong) { return; }
    if (getNum(clip, "warping") === 1) {
        alignWarpSafely(clip, job);
        return;
    }
    clip.set("warping", 1);
    waitFor(function () { return exists(clip) && getNum(clip, "warping") === 1; }, function (warped) {
        if (!warped) {
            post("MusicGen Bridge: Live did not warp the clip \"" + getStr(clip, "name") + "\"; its length is left as it is\n");
            return;
        }
        alignWarpSafely(clip, job);
    }, true);
}
finishClip.local = 1;

function alignWarpSafely(clip, job) {
    try {
        alignWarp(clip, job.lengthBeats, job.duration_s);
    } catch (e) {
        post("MusicGen Bridge: could not warp the clip: " + e.message + "\n");
    }
}
alignWarpSafely.local = 1;

// When Live guessed another length for the new clip than the bars it was made for, move its end
// warp marker so the clip spans exactly lengthBeats (the file is exactly duration_s long).
function alignWarp(clip, lengthBeats, duration_s) {
    var markers = timing.parseWarpMarkers(safeGet(clip, "warp_markers"));
    var i, best = null;
    if (!(lengthBeats > 0) || markers.length < 2) { return; }
    for (i = 0; i < markers.length; i++) {
        if (best === null || Math.abs(markers[i].sample_time - duration_s) < Math.abs(best.sample_time - duration_s)) {
            best = markers[i];
        }
    }
    if (best && Math.abs(best.sample_time - duration_s) < 0.05 && Math.abs(best.beat_time - lengthBeats) > 1e-3) {
        clip.call("move_warp_marker", best.beat_time, lengthBeats - best.beat_time);
        clip.set("end_marker", lengthBeats);
        clip.set("loop_end", lengthBeats);
    }
}
alignWarp.local = 1;

// ---- Live context -------------------------------------------------------------------------

function songContext() {
    var song = new LiveAPI("live_set");
    var ctx = {
        tempo: getNum(song, "tempo"),
        numerator: getNum(song, "signature_numerator") || 4,
        denominator: getNum(song, "signature_denominator") || 4,
        keyPhrase: "",
        setPath: ""
    };
    if (S.useKey && liveVer && liveVer.major >= 12) {
        try {
            if (getNum(song, "scale_mode") === 1) {
                ctx.keyPhrase = timing.keyPhrase(getNum(song, "root_note"), getStr(song, "scale_name"));
            }
        } catch (e) { ctx.keyPhrase = ""; }
    }
    if (liveVer && liveVer.major >= 12) {
        try { ctx.setPath = getStr(song, "file_path"); } catch (e2) { ctx.setPath = ""; }
    }
    if (!(ctx.tempo > 0)) { throw new Error("cannot read the song tempo"); }
    return ctx;
}
songContext.local = 1;

function promptFor(song) {
    return timing.promptWithKey(S.prompt, song.keyPhrase);
}
promptFor.local = 1;

function lengthForRequest(song) {
    if (S.lengthMode === 1) { return timing.secondsKeys(S.seconds, song.tempo); }
    return timing.lengthKeys(S.bars, song.tempo, song.numerator, song.denominator);
}
lengthForRequest.local = 1;

// Keys every request carries: length, sampling, seed, variations, files, replies. Returns
// {opts, outSource, seed}; outSource says where the files go ("set", "user" or "daemon").
function requestBase(len, song, target) {
    var out = session.chooseOutDir(song.setPath, S.folder);
    var seedValue = seeds.next();
    var o = {
        bpm: len.bpm,
        bars: len.bars,
        beats_per_bar: len.beats_per_bar,
        duration: len.duration,
        loop: S.lengthMode === 0 && S.loop ? 1 : undefined,
        model: S.modelIndex > 0 ? MODEL_CHOICES[S.modelIndex] : undefined,
        seed: seedValue,
        temperature: S.temperature,
        cfg: S.cfg,
        variations: S.variations > 1 ? S.variations : undefined,
        out_dir: out.outDir || undefined,
        daw: "ableton",
        position: target.placement === "arrangement" ? target.positionBeats : undefined,
        track: target.trackName || undefined,
        stems: S.stems ? 1 : undefined,
        reply_port: activeReplyPort || replyPortInUse(),
        token: S.token || undefined
    };
    outlet(OUT_UI, "seed", "set", seedValue);
    return { opts: o, outSource: out.source, seed: seedValue };
}
requestBase.local = 1;

function jobInfo(kind, target, len, seedValue, label, song) {
    return {
        kind: kind,
        label: label,
        trackId: target.trackId,
        placement: target.placement,
        slotStart: target.slotStart,
        positionBeats: target.positionBeats,
        lengthBeats: len.lengthBeats,
        duration_s: len.duration_s,
        beatsPerBar: timing.beatsPerBarQuarter(song.numerator, song.denominator),
        warpToSong: S.lengthMode === 0 && kind !== "continue",
        seed: seedValue,
        sentMs: nowMs()
    };
}
jobInfo.local = 1;

// Where a generate/melody result goes: this device's track when it is an audio track, else the
// selected track (melody: this device's track only, since the selected track holds the MIDI).
function generateTarget(deviceTrackOnly) {
    var track = deviceTrack();
    if (!isAudioTrack(track)) {
        if (deviceTrackOnly) {
            throw new Error("put MusicGen Bridge on an audio track: the result lands on the device's track");
        }
        track = new LiveAPI("live_set view selected_track");
        if (!isAudioTrack(track)) {
            throw new Error("select an audio track (or put the device on one): clips land on audio tracks");
        }
    }
    return targetOnTrack(track, choosePlacement(), 0, songPositionBeats());
}
generateTarget.local = 1;

// A continuation goes to the next slot after the clip (session) or right after it (arrangement).
function continueTarget(clip) {
    var parent = byId(childId(clip, "canonical_parent"));
    var track, slotIndex;
    if (exists(parent) && String(parent.type) === "ClipSlot") {
        track = byId(childId(parent, "canonical_parent"));
        slotIndex = childIds(track, "clip_slots").indexOf(toInt(parent.id));
        return targetOnTrack(track, "session", slotIndex + 1, 0);
    }
    if (exists(parent) && String(parent.type) === "Track") {
        return targetOnTrack(parent, "arrangement", 0, getNum(clip, "end_time"));
    }
    throw new Error("cannot tell where the selected clip lives");
}
continueTarget.local = 1;

function targetOnTrack(track, placement, slotStart, positionBeats) {
    if (!isAudioTrack(track)) { throw new Error("the target track is not an audio track"); }
    if (toInt(getNum(track, "is_frozen")) === 1) { throw new Error("track \"" + getStr(track, "name") + "\" is frozen"); }
    return {
        trackId: toInt(track.id),
        trackName: getStr(track, "name"),
        placement: placement,
        slotStart: slotStart,
        positionBeats: positionBeats
    };
}
targetOnTrack.local = 1;

function choosePlacement() {
    var view;
    if (S.place === 1) { return "session"; }
    if (S.place === 2) { return "arrangement"; }
    try {
        view = new LiveAPI("live_app view");
        return getStr(view, "focused_document_view") === "Arranger" ? "arrangement" : "session";
    } catch (e) {
        return "session";
    }
}
choosePlacement.local = 1;

// The insert marker: where playback starts (the playing position while stopped).
function songPositionBeats() {
    var song = new LiveAPI("live_set");
    var playing = getNum(song, "is_playing") === 1;
    var pos = playing ? getNum(song, "start_time") : getNum(song, "current_song_time");
    if (!isFinite(pos)) { pos = getNum(song, "current_song_time"); }
    return isFinite(pos) && pos > 0 ? pos : 0;
}
songPositionBeats.local = 1;

// The track this device sits on (through racks: device -> chain -> rack -> ... -> track).
function deviceTrack() {
    var obj = new LiveAPI("this_device");
    var i;
    for (i = 0; i < 12 && exists(obj); i++) {
        obj = byId(childId(obj, "canonical_parent"));
        if (exists(obj) && String(obj.type) === "Track") { return obj; }
    }
    return null;
}
deviceTrack.local = 1;

function isAudioTrack(track) {
    if (!exists(track) || String(track.type) !== "Track") { return false; }
    if (getNum(track, "has_audio_input") !== 1) { return false; }
    return childIds(new LiveAPI("live_set"), "tracks").indexOf(toInt(track.id)) >= 0;
}
isAudioTrack.local = 1;

// ---- sending ------------------------------------------------------------------------------

// A typed message out through the patch: [zl.group] collects the atoms, [udpsend] sends them.
function sendMessage(msg) {
    var i, a;
    outlet(OUT_ZL, "zlclear");
    for (i = 0; i < msg.length; i++) {
        a = msg[i];
        if (a.t === "i") { outlet(OUT_INT, a.v); }
        else if (a.t === "f") { outlet(OUT_FLOAT, a.v); }
        else { outlet(OUT_SYMBOL, "symbol", String(a.v)); }
    }
    outlet(OUT_ZL, "bang");
}
sendMessage.local = 1;

function showConnection() {
    outlet(OUT_LED, conn.isUp() ? 1 : 0);
    if (conn.state === "connected") {
        if (!jobs.count()) {
            setStatus("Connected to musicgen-bridge" + (conn.version ? " " + conn.version : "") + " at " +
                S.host + ":" + S.port);
        }
        sendMessage(protocol.buildStatus(replyOpts()));
    } else if (conn.state === "lost") {
        setStatus("No answer from " + S.host + ":" + S.port + " (replies to port " + activeReplyPort +
            "): is `musicgen-bridge serve` running? Check host, port, firewall" + (S.token ? " and token" : ""));
    }
}
showConnection.local = 1;

// ---- helpers ------------------------------------------------------------------------------

function saveState() {
    if (!ready) { return; }
    outlet(OUT_STATE, "state", JSON.stringify({
        v: 1, prompt: S.prompt, folder: S.folder, host: S.host, port: S.port,
        replyPort: S.replyPort, token: S.token, lastSeed: seeds.last, listen: S.listen
    }));
}
saveState.local = 1;

function checkReady() {
    if (!ready) { setStatus("Not ready: the device is still loading"); }
    return ready;
}
checkReady.local = 1;

// Buttons send a bang, or 1 on press; a 0 (release, or a toggle turned off) is no press.
function isPress(args) {
    return !(args.length > 0 && Number(args[0]) === 0);
}
isPress.local = 1;

function nextId() {
    counter += 1;
    return session.makeJobId(nowMs(), counter);
}
nextId.local = 1;

function setStatus(textLine) {
    outlet(OUT_STATUS, "set", String(textLine));
}
setStatus.local = 1;

function progress(percent) {
    outlet(OUT_PROGRESS, Math.max(0, Math.min(100, toInt(percent))));
}
progress.local = 1;

function outDirNote(req) {
    if (req.outSource === "daemon") {
        return " - files go to the daemon's output folder (save the Live Set or pick a folder)";
    }
    return "";
}
outDirNote.local = 1;

function describeLength(len) {
    if (len.bars !== undefined) { return round2(len.bars) + " bar" + (len.bars === 1 ? "" : "s"); }
    return round2(len.duration_s) + " s";
}
describeLength.local = 1;

function clipBaseName(name, fallback) {
    var n = trim(name).replace(/[^A-Za-z0-9 ._-]+/g, " ").replace(/\s+/g, "-");
    return (n ? n.slice(0, 40) : fallback) + "-cont";
}
clipBaseName.local = 1;

function shortText(s) {
    var t = trim(s);
    return t.length > 40 ? t.slice(0, 39) + "\u2026" : t;
}
shortText.local = 1;

function byId(id) { return new LiveAPI("id " + toInt(id)); }
byId.local = 1;

function exists(obj) { return !!obj && toInt(obj.id) !== 0; }
exists.local = 1;

function safeGet(obj, prop) {
    try { return obj.get(prop); } catch (e) { return null; }
}
safeGet.local = 1;

function getNum(obj, prop) {
    var v = obj.get(prop);
    if (Array.isArray(v)) { v = v[0]; }
    return v === undefined || v === null || v === "" ? NaN : Number(v);
}
getNum.local = 1;

function getStr(obj, prop) {
    var v = obj.get(prop);
    if (Array.isArray(v)) { v = v.join(" "); }
    return v === undefined || v === null ? "" : String(v);
}
getStr.local = 1;

// Ids of a list child (["id", 3, "id", 4] -> [3, 4]).
function childIds(obj, prop) {
    var v = obj.get(prop);
    var out = [];
    var i;
    if (!(Array.isArray(v))) { return out; }
    for (i = 0; i + 1 < v.length; i++) {
        if (v[i] === "id") { out.push(toInt(v[i + 1])); i++; }
    }
    return out;
}
childIds.local = 1;

function childId(obj, prop) {
    var ids = childIds(obj, prop);
    return ids.length ? ids[0] : 0;
}
childId.local = 1;

function argList(args) {
    var out = [];
    var i;
    for (i = 0; i < args.length; i++) { out.push(args[i]); }
    return out;
}
argList.local = 1;

function toInt(x) {
    var n = Math.round(Number(x));
    return isFinite(n) ? n : 0;
}
toInt.local = 1;

function trim(s) { return String(s === undefined || s === null ? "" : s).replace(/^\s+|\s+$/g, ""); }
trim.local = 1;

function round2(x) { return Math.round(Number(x) * 100) / 100; }
round2.local = 1;

function nowMs() { return new Date().getTime(); }
nowMs.local = 1;

function anything() {
    post("MusicGen Bridge: unknown message " + messagename + "\n");
}
