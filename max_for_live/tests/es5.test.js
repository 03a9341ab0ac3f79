// The files Max's [js] object runs must be ES5 (Max 8's engine): no let/const, arrow functions,
// template literals, classes, spread, for-of, nor ES2015+ library calls. (String's repeat() is
// not checked: Max's Task object has a repeat() of its own.)
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const DIR = path.resolve(__dirname, "..");
const FILES = fs.readdirSync(path.join(DIR, "src")).filter((f) => f.endsWith(".js")).map((f) => path.join(DIR, "src", f))
    .concat([path.join(DIR, "musicgen_bridge.js")]);

// The code with comments, strings and regular expression literals blanked out.
function codeOnly(src) {
    let out = "";
    let i = 0;
    let lastSignificant = "";
    while (i < src.length) {
        const c = src[i];
        const n = src[i + 1];
        if (c === "/" && n === "/") { while (i < src.length && src[i] !== "\n") { i++; } continue; }
        if (c === "/" && n === "*") { i = src.indexOf("*/", i + 2) + 2; out += " "; continue; }
        if (c === "\"" || c === "'" || c === "`") {
            let j = i + 1;
            while (j < src.length && src[j] !== c) { if (src[j] === "\\") { j++; } j++; }
            out += c === "`" ? "`" : "\"\"";
            i = j + 1;
            lastSignificant = "\"";
            continue;
        }
        if (c === "/" && (lastSignificant === "" || "(,=:[!&|?{};+-*%<>~^".includes(lastSignificant))) {
            let j = i + 1;
            let inClass = false;
            while (j < src.length && (src[j] !== "/" || inClass)) {
                if (src[j] === "\\") { j++; } else if (src[j] === "[") { inClass = true; } else if (src[j] === "]") { inClass = false; }
                j++;
            }
            j++;
            while (/[a-z]/.test(src[j] || "")) { j++; }
            out += "/re/";
            i = j;
            lastSignificant = "/";
            continue;
        }
        out += c;
        if (!/\s/.test(c)) { lastSignificant = c; }
        i++;
    }
    return out;
}

const FORBIDDEN = [
    [/\blet\s/, "let"], [/\bconst\s/, "const"], [/=>/, "arrow function"], [/`/, "template literal"],
    [/\bclass\s/, "class"], [/\.\.\./, "spread/rest"], [/\bfor\s*\([^)]*\bof\b/, "for-of"],
    [/\basync\b|\bawait\b/, "async/await"], [/\byield\b/, "generator"],
    [/\.(includes|startsWith|endsWith|padStart|padEnd|find|findIndex|fill|entries|values|flat|flatMap)\(/, "ES2015+ method"],
    [/\b(Object\.assign|Array\.from|Array\.of|Number\.isFinite|Number\.isInteger|Number\.isNaN|Object\.entries|Object\.values)\b/, "ES2015+ function"],
    [/\b(Promise|Symbol|WeakMap|WeakSet|Proxy|Reflect)\b/, "ES2015+ global"], [/\bnew\s+(Map|Set)\b/, "Map/Set"],
];

for (const file of FILES) {
    test(`ES5 only: ${path.relative(DIR, file)}`, () => {
        const src = fs.readFileSync(file, "utf8");
        new vm.Script(src, { filename: file });        // parses
        const code = codeOnly(src);
        const lines = code.split("\n");
        for (const [re, what] of FORBIDDEN) {
            const at = lines.findIndex((l) => re.test(l));
            assert.equal(at, -1, `${what} at ${path.basename(file)}:${at + 1}: ${lines[at] && lines[at].trim()}`);
        }
    });
}

test("the checker itself catches what it should", () => {
    assert.ok(/=>/.test(codeOnly("var f = (a) => a;")));
    assert.ok(!/=>/.test(codeOnly("var s = \"a => b\"; // x => y")));
    assert.ok(!/`/.test(codeOnly("var r = /`/g;")));
    assert.ok(/\blet\s/.test(codeOnly("let x = 1;")));
});
