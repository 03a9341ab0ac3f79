// The patcher's wiring matches what the script expects of it (MusicGen Bridge.maxpat).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const { FakeLive, loadDevice } = require("./helpers/fake_live.js");

const DIR = path.resolve(__dirname, "..");
const patcher = JSON.parse(fs.readFileSync(path.join(DIR, "MusicGen Bridge.maxpat"), "utf8")).patcher;
const glueSrc = fs.readFileSync(path.join(DIR, "src", "live_glue.js"), "utf8");

const boxes = new Map(patcher.boxes.map((b) => [b.box.id, b.box]));
const lines = patcher.lines.map((l) => l.patchline);
const textOf = (b) => b.text || "";
const cordsFrom = (id, outlet) => lines.filter((l) => l.source[0] === id && (outlet === undefined || l.source[1] === outlet));
const targetsOf = (id, outlet) => cordsFrom(id, outlet).map((l) => boxes.get(l.destination[0]));
const byText = (t) => [...boxes.values()].filter((b) => textOf(b) === t);
const jsBox = byText("js musicgen_bridge.js")[0];
const OUT = {};
for (const m of glueSrc.matchAll(/^var (OUT_\w+) = (\d+);/gm)) { OUT[m[1]] = Number(m[2]); }

test("one [js] box loads the bundle, with as many outlets as the script declares", () => {
    assert.ok(jsBox, "a box 'js musicgen_bridge.js'");
    const declared = Number(/^outlets = (\d+);/m.exec(glueSrc)[1]);
    assert.equal(jsBox.numoutlets, declared);
    assert.equal(jsBox.numinlets, Number(/^inlets = (\d+);/m.exec(glueSrc)[1]));
    assert.equal(Object.keys(OUT).length, declared);
    assert.deepEqual(Object.values(OUT).sort((a, b) => a - b), [...Array(declared).keys()]);
    assert.ok(patcher.dependency_cache.some((d) => d.name === "musicgen_bridge.js" && d.patcherrelativepath === "."));
});

test("the OSC path: [js] -> [t i]/[t f]/[zl.group] -> [udpsend]", () => {
    const zl = targetsOf(jsBox.id, OUT.OUT_ZL);
    assert.deepEqual(zl.map(textOf), ["zl.group 4096 @zlmaxsize 4096"]);
    const zlBox = zl[0];
    assert.deepEqual(targetsOf(jsBox.id, OUT.OUT_SYMBOL), [zlBox]);
    const ti = targetsOf(jsBox.id, OUT.OUT_INT);
    assert.deepEqual(ti.map(textOf), ["t i"]);
    assert.deepEqual(targetsOf(ti[0].id), [zlBox]);
    const tf = targetsOf(jsBox.id, OUT.OUT_FLOAT);
    assert.deepEqual(tf.map(textOf), ["t f"]);
    assert.deepEqual(targetsOf(tf[0].id), [zlBox]);
    for (const l of lines.filter((x) => x.destination[0] === zlBox.id)) { assert.equal(l.destination[1], 0); }
    const send = targetsOf(zlBox.id, 0);
    assert.equal(send.length, 1);
    assert.match(textOf(send[0]), /^udpsend 127\.0\.0\.1 9000$/);
    assert.deepEqual(targetsOf(jsBox.id, OUT.OUT_SEND), send);
});

test("replies: [udpreceive] -> [prepend reply] -> [deferlow] -> [js]", () => {
    const recv = targetsOf(jsBox.id, OUT.OUT_RECV);
    assert.equal(recv.length, 1);
    // no port in the box: nothing is bound while the device loads; the script sends "port <n>" once ready
    assert.match(textOf(recv[0]), /^udpreceive$/);
    const pre = targetsOf(recv[0].id, 0);
    assert.deepEqual(pre.map(textOf), ["prepend reply"]);
    const defer = targetsOf(pre[0].id, 0);
    assert.deepEqual(defer.map(textOf), ["deferlow"]);
    assert.deepEqual(targetsOf(defer[0].id, 0), [jsBox]);
});

test("start: [live.thisdevice] -> [deferlow] -> (init) -> [js]", () => {
    const dev = byText("live.thisdevice");
    assert.equal(dev.length, 1);
    const defer = targetsOf(dev[0].id, 0);
    assert.deepEqual(defer.map(textOf), ["deferlow"]);
    const msg = targetsOf(defer[0].id, 0);
    assert.deepEqual(msg.map((b) => [b.maxclass, b.text]), [["message", "init"]]);
    assert.deepEqual(targetsOf(msg[0].id, 0), [jsBox]);
});

test("display outlets reach the status line, progress bar, indicator, saved state and controls", () => {
    assert.deepEqual(targetsOf(jsBox.id, OUT.OUT_STATUS).map((b) => b.maxclass), ["comment"]);
    assert.deepEqual(targetsOf(jsBox.id, OUT.OUT_PROGRESS).map((b) => b.maxclass), ["slider"]);
    assert.deepEqual(targetsOf(jsBox.id, OUT.OUT_LED).map((b) => b.maxclass), ["led"]);
    const pattr = targetsOf(jsBox.id, OUT.OUT_STATE);
    assert.equal(pattr.length, 1);
    assert.match(textOf(pattr[0]), /^pattr /);
    assert.equal(pattr[0].saved_object_attributes.parameter_enable, 1);
    const back = targetsOf(pattr[0].id, 0);
    assert.deepEqual(back.map(textOf), ["deferlow"]);
    assert.deepEqual(targetsOf(back[0].id, 0).map(textOf), ["prepend restore"]);
    assert.deepEqual(targetsOf(targetsOf(back[0].id, 0)[0].id, 0), [jsBox]);

    const route = targetsOf(jsBox.id, OUT.OUT_UI);
    assert.equal(route.length, 1);
    const names = textOf(route[0]).split(" ");
    assert.equal(names[0], "route");
    const emitted = new Set([...glueSrc.matchAll(/outlet\(OUT_UI, "(\w+)"/g)].map((m) => m[1]));
    assert.deepEqual(new Set(names.slice(1)), emitted);
    assert.equal(route[0].numoutlets, names.length);
    for (let i = 0; i < names.length - 1; i++) {
        assert.equal(targetsOf(route[0].id, i).length, 1, `route outlet ${names[i + 1]}`);
    }
});

test("every message the patch sends to [js] has a handler in the script", () => {
    const live = new FakeLive();
    live.placeDevice(live.addTrack());
    const env = loadDevice(live);
    const handlers = [];
    const into = lines.filter((x) => x.destination[0] === jsBox.id).map((l) => boxes.get(l.source[0]));
    const sources = [];
    for (const b of into) {   // look through [deferlow] to what feeds it
        if (textOf(b) === "deferlow") {
            for (const l of lines.filter((x) => x.destination[0] === b.id)) { sources.push(boxes.get(l.source[0])); }
        } else { sources.push(b); }
    }
    for (const src of sources) {
        if (src.maxclass === "message") { handlers.push(src.text.split(" ")[0]); }
        else if (/^prepend /.test(textOf(src))) { handlers.push(textOf(src).split(" ")[1]); }
        else { assert.fail(`unexpected source of a cord into [js]: ${src.maxclass} ${textOf(src)}`); }
    }
    assert.ok(handlers.length >= 20);
    for (const h of handlers) {
        assert.equal(typeof env.ctx[h], "function", `no function ${h}() in the script`);
        assert.ok(!env.ctx[h].local, `${h}() is marked local`);
    }
    for (const h of ["generate", "continuation", "melody", "cancel", "recall", "init", "reply", "restore",
        "prompt", "bars", "seconds", "model", "variations", "seed", "dice", "temperature", "cfg", "host", "port",
        "replyport", "folder", "token", "place", "lengthmode", "loop", "usekey"]) {
        assert.ok(handlers.includes(h), `the patch sends no ${h}`);
    }
});

test("buttons flush the prompt text before the request", () => {
    for (const [label, msg] of [["Generate", "generate"], ["Continue", "continuation"], ["Melody", "melody"]]) {
        const btn = [...boxes.values()].find((b) => b.maxclass === "live.text" && b.text === label);
        assert.ok(btn, label);
        const trig = targetsOf(btn.id, 0);
        assert.deepEqual(trig.map(textOf), ["t b b"]);
        assert.deepEqual(targetsOf(trig[0].id, 1).map((b) => b.maxclass), ["textedit"]);   // right fires first
        assert.deepEqual(targetsOf(trig[0].id, 0).map((b) => b.text), [msg]);
    }
});

test("controls: presentation mode, unique parameter names, audio passes through", () => {
    assert.equal(patcher.openinpresentation, 1);
    const params = [...boxes.values()].filter((b) => b.saved_attribute_attributes && b.saved_attribute_attributes.valueof);
    const longnames = params.map((b) => b.saved_attribute_attributes.valueof.parameter_longname);
    assert.equal(new Set(longnames).size, longnames.length);
    for (const b of params.filter((x) => x.maxclass.startsWith("live."))) {
        assert.equal(b.presentation, 1, `${b.varname} is visible in the device`);
        const [x, y, w, h] = b.presentation_rect;
        assert.ok(x >= 0 && y >= 0 && x + w <= patcher.devicewidth && y + h <= 169, `${b.varname} inside the device`);
    }
    for (const label of ["Generate", "Continue", "Melody", "Cancel", "Recall", "Dice", "Folder"]) {
        assert.ok(params.some((b) => b.text === label), `a ${label} control`);
    }
    const plugin = byText("plugin~")[0];
    const plugout = byText("plugout~")[0];
    assert.deepEqual(cordsFrom(plugin.id).map((l) => [l.source[1], l.destination[0], l.destination[1]]).sort(),
        [[0, plugout.id, 0], [1, plugout.id, 1]]);
});
