-- Tests of the plain-Lua parts of the MusicGen ReaScripts (no REAPER needed):
-- JSON, paths, request building/validation, result planning, settings parsing.
local T = dofile((debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or "./") .. "testlib.lua")
local dir, root = T.dirs()
T.setup_paths(dir, root)

local json = require("musicgen_json")
local paths = require("musicgen_paths")
local request = require("musicgen_request")
local import = require("musicgen_import")
local settings = require("musicgen_settings")

-- JSON ------------------------------------------------------------------------------------

T.test("json round-trips a request", function()
  local req = { id = "rpr-1-1", prompt = 'say "hi"\n\tback\\slash', bpm = 120, bars = 2.5,
                position = 12.25, loop = false, melody_notes = { { 60, 0, 1.5, 100 }, { 62, 1.5, 0.5, 90 } } }
  local text = json.encode(req)
  T.eq(json.decode(text), req, "round trip")
  T.contains(text, '"bpm":120', "integral numbers without fraction")
  T.contains(text, '"prompt":"say \\"hi\\"\\n\\tback\\\\slash"', "escapes")
end)

T.test("json encodes deterministically with sorted keys", function()
  T.eq(json.encode({ b = 1, a = { 1, 2 }, c = json.array({}) }), '{"a":[1,2],"b":1,"c":[]}')
end)

T.test("json floats survive exactly", function()
  for _, v in ipairs({ 0.1, 1 / 3, 12.5, -0.000123, 1e-7, 123456.789 }) do
    T.eq(json.decode(json.encode(v)), v, "float " .. v)
    T.ok(json.decode(json.encode(v)) == v, "exact " .. v)
  end
  T.eq(json.encode(3.0), "3")
  T.ok(not pcall(json.encode, 0 / 0), "NaN refused")
end)

T.test("json decodes unicode escapes, nested values, null", function()
  local v = assert(json.decode('{"a":"caf\\u00e9 \\ud83c\\udfb9","b":[1,-2.5e2,true,false,null],"c":{}}'))
  T.eq(v.a, "café 🎹")
  T.eq(v.b[2], -250.0)
  T.eq(v.b[3], true)
  T.ok(v.b[5] == json.null, "null sentinel")
  T.eq(math.type(v.b[1]), "integer")
  T.eq(json.decode('"raw UTF-8 ü"'), "raw UTF-8 ü")
end)

T.test("json rejects malformed text with a message", function()
  for _, bad in ipairs({ "", "{", '{"a":}', "[1,]", '{"a":1} x', '"unterminated', "01", "{'a':1}" }) do
    local v, err = json.decode(bad)
    T.ok(v == nil and type(err) == "string", "should reject " .. bad)
  end
end)

-- Paths -----------------------------------------------------------------------------------

T.test("default inbox per OS", function()
  local env = { HOME = "/home/me", LOCALAPPDATA = "C:\\Users\\me\\AppData\\Local" }
  local function getenv(k) return env[k] end
  T.eq(paths.default_inbox("Other", getenv), "/home/me/.local/state/musicgen-bridge/inbox")
  T.eq(paths.default_inbox("linux-x86_64", getenv), "/home/me/.local/state/musicgen-bridge/inbox")
  env.XDG_STATE_HOME = "/xdg/state"
  T.eq(paths.default_inbox("Other", getenv), "/xdg/state/musicgen-bridge/inbox")
  env.XDG_STATE_HOME = ""
  T.eq(paths.default_inbox("Other", getenv), "/home/me/.local/state/musicgen-bridge/inbox")
  T.eq(paths.default_inbox("OSX64", getenv), "/home/me/Library/Application Support/musicgen-bridge/inbox")
  T.eq(paths.default_inbox("macOS-arm64", getenv), "/home/me/Library/Application Support/musicgen-bridge/inbox")
  T.eq(paths.default_inbox("Win64", getenv), "C:\\Users\\me\\AppData\\Local\\musicgen-bridge\\inbox")
  env.LOCALAPPDATA = nil
  env.USERPROFILE = "C:\\Users\\me"
  T.eq(paths.default_inbox("Win32", getenv), "C:\\Users\\me\\AppData\\Local\\musicgen-bridge\\inbox")
end)

T.test("project folder and out_dir", function()
  T.eq(paths.out_dir("/home/me/Songs/A/A.rpp", {}), "/home/me/Songs/A/MusicGen")
  T.eq(paths.out_dir("C:\\Songs\\A\\A.rpp", {}), "C:\\Songs\\A\\MusicGen")
  T.eq(paths.out_dir("", { fallback_dir = "" }), nil)
  local d, origin = paths.out_dir("", { fallback_dir = "/tmp/fallback" })
  T.eq({ d, origin }, { "/tmp/fallback", "fallback" })
  T.eq(paths.results_dir("/p/MusicGen"), "/p/MusicGen/results")
  T.eq(paths.join("/a/", "b", "c.json"), "/a/b/c.json")
  T.eq(paths.dirname("/song.rpp"), "/")
  T.eq(paths.basename("C:\\x\\y.wav"), "y.wav")
end)

-- Requests --------------------------------------------------------------------------------

T.test("length field parsing", function()
  T.eq(request.parse_length(""), false)
  T.eq(request.parse_length(" 4 "), { bars = 4 })
  T.eq(request.parse_length("2.5 bars"), { bars = 2.5 })
  T.eq(request.parse_length("8s"), { seconds = 8 })
  T.eq(request.parse_length("12 sec"), { seconds = 12 })
  T.eq(request.parse_length("-1"), nil)
  T.eq(request.parse_length("four"), nil)
end)

T.test("bars at the tempo: 4/4, 6/8, and out-of-range fallback", function()
  local keys, d = request.timing_for_bars(4, 120, 4, 4)
  T.eq(keys, { bpm = 120, bars = 4, beats_per_bar = 4 })
  T.near(d, 8, 1e-9)
  keys, d = request.timing_for_bars(2, 90, 6, 8) -- 6/8 at 90 qn/min: a bar is 3 qn = 2 s
  T.eq(keys, { bpm = 180, bars = 2, beats_per_bar = 6 })
  T.near(d, 4, 1e-9)
  T.near(keys.bars * keys.beats_per_bar * 60 / keys.bpm, d, 1e-9, "daemon's formula gives REAPER's bar length")
  keys, d = request.timing_for_bars(1, 120, 7, 16) -- bpm would be 480; a bar is 1.75 qn
  T.eq(keys, { duration = 0.875 })
  T.near(d, 0.875, 1e-9)
end)

T.test("seconds: whole bars become bars, others duration", function()
  T.eq((request.timing_for_seconds(4.0, 120, 4, 4)), { bpm = 120, bars = 2, beats_per_bar = 4 })
  T.eq((request.timing_for_seconds(3.3, 120, 4, 4)), { duration = 3.3 })
  T.eq((request.timing_for_seconds(0.5, 120, 4, 4)), { duration = 0.5 })
end)

T.test("notes to beats: relative, clipped, muted dropped, sorted", function()
  local notes = {
    { pitch = 64, start_s = 11.0, end_s = 11.5, velocity = 90 },
    { pitch = 60, start_s = 10.0, end_s = 10.5, velocity = 100 },
    { pitch = 62, start_s = 10.5, end_s = 11.0, velocity = 0, muted = true },
    { pitch = 67, start_s = 9.5, end_s = 10.25, velocity = 80 },  -- starts before the item
    { pitch = 72, start_s = 13.5, end_s = 15.0, velocity = 127 }, -- runs past the end
    { pitch = 50, start_s = 20.0, end_s = 21.0, velocity = 127 }, -- outside
  }
  T.eq(request.notes_to_beats(notes, 10, 14, 120), {
    { 60, 0, 1, 100 }, { 67, 0, 0.5, 80 }, { 64, 2, 1, 90 }, { 72, 7, 1, 127 },
  })
end)

T.test("validate catches what the daemon would refuse", function()
  local base = { id = "rpr-1-1", action = "generate", prompt = "pad", out_dir = "/o", position = 0, duration = 8 }
  T.ok(request.validate(base))
  local function with(k, v)
    local r = {}
    for a, b in pairs(base) do r[a] = b end
    r[k] = v
    return r
  end
  T.ok(not request.validate(with("prompt", "  ")), "empty prompt")
  T.ok(not request.validate(with("duration", 301)), "too long")
  T.ok(not request.validate(with("variations", 9)), "variations")
  T.ok(not request.validate(with("id", "bad id")), "id chars")
  T.ok(not request.validate(with("prompt", string.rep("x", 2001))), "prompt length")
  local bars = with("duration", nil)
  bars.bpm, bars.bars, bars.beats_per_bar = 60, 100, 4
  T.ok(not request.validate(bars), "bars too long")
  local melody = with("prompt", "")
  melody.melody_notes = { { 60, 0, 1, 100 } }
  T.ok(request.validate(melody), "melody may have no prompt")
  local cont = with("action", "continue")
  cont.prompt, cont.audio_path, cont.start, cont["end"] = "", "/a.wav", 2, 1
  T.ok(not request.validate(cont), "empty region")
  cont["end"] = 6
  T.ok(request.validate(cont), "continue without prompt is fine")
end)

-- Results ---------------------------------------------------------------------------------

T.test("track values", function()
  T.eq(import.parse_track(nil), { kind = "new" })
  T.eq(import.parse_track("new"), { kind = "new" })
  T.eq(import.parse_track(json.null), { kind = "new" })
  T.eq(import.parse_track(3), { kind = "index", index = 3 })
  T.eq(import.parse_track("2"), { kind = "index", index = 2 })
  T.eq(import.parse_track("{AB-12}"), { kind = "guid", guid = "{AB-12}" })
  T.eq(import.parse_track("new-below:{AB-12}"), { kind = "new_below", guid = "{AB-12}" })
  T.eq(import.parse_track("Drums"), { kind = "name", name = "Drums" })
end)

T.test("plan of a finished result with variations", function()
  local result = assert(json.decode([[{"id":"rpr-5-2","status":"done",
    "paths":["/p/MusicGen/a_s3_v1.wav","a_s3_v2.wav"],"prompt":"ambient pad","seed":3,
    "duration_s":9.6,"sr":32000,"position":12.5,"track":"new","daw":"reaper","action":"generate",
    "request":{"id":"rpr-5-2","prompt":"ambient pad","model":"small","variations":2}}]]))
  local plan = import.plan(result, "/p/MusicGen")
  T.eq(plan.kind, "insert")
  T.eq(plan.position_s, 12.5)
  T.eq(plan.track, { kind = "new" })
  T.eq(plan.clips, { "/p/MusicGen/a_s3_v1.wav", "/p/MusicGen/a_s3_v2.wav" })
  T.eq(plan.take_names, { "ambient pad (v1)", "ambient pad (v2)" })
  T.eq(plan.track_name, "ambient pad")
  T.contains(plan.notes, "MusicGen: ambient pad")
  T.contains(plan.notes, "seed: 3")
  T.contains(plan.notes, "model: small")
  T.contains(plan.notes, "v2: a_s3_v2.wav")
end)

T.test("plan: position/track from the echoed request, long prompts shortened", function()
  local long = string.rep("very long prompt ", 10)
  local plan = import.plan({ id = "x", status = "done", paths = { "/a.wav" },
                             request = { prompt = long, position = 4, track = "{G}" } }, "/o")
  T.eq(plan.position_s, 4)
  T.eq(plan.track, { kind = "guid", guid = "{G}" })
  T.ok(utf8.len(plan.track_name) <= import.TRACK_NAME_MAX, "track name shortened")
  T.ok(plan.track_name:sub(-3) == "...", "ellipsis")
  T.eq(import.plan({ id = "c", status = "done", paths = { "/a.wav" }, action = "continue" }, "/o").take_names,
       { "MusicGen continuation" })
end)

T.test("plan of error, cancelled and odd results", function()
  local p = import.plan({ id = "e1", status = "error", code = "bad_audio", message = "region outside the file" }, "/o")
  T.eq(p.kind, "message")
  T.contains(p.message, "e1")
  T.contains(p.message, "bad_audio")
  T.contains(p.message, "region outside the file")
  T.eq(import.plan({ id = "c1", status = "cancelled" }, "/o").kind, "message")
  T.ok(import.plan({ id = "u1", status = "running" }, "/o").keep, "unknown status is kept")
  T.eq(import.plan({ id = "d1", status = "done", paths = {} }, "/o").kind, "message")
end)

-- Settings --------------------------------------------------------------------------------

T.test("settings dialog parsing", function()
  local s = assert(settings.parse_form("/srv/inbox\n8\nsmall\n/tmp/out\n2"))
  T.eq(s, { inbox_dir = "/srv/inbox", default_bars = 8, model = "small", fallback_dir = "/tmp/out", variations = 2,
            stems = 0 })
  T.eq(assert(settings.parse_form("\n4\n\n\n1\n1")).stems, 1, "stems on")
  T.ok(not settings.parse_form("\n4\n\n\n1\nyes"), "stems is 0 or 1")
  T.eq(assert(settings.parse_form("\n4\n\n\n1")).inbox_dir, "")
  T.ok(not settings.parse_form("\n0\n\n\n1"), "bars > 0")
  T.ok(not settings.parse_form("\n4\n\n\n9"), "variations <= 8")
  T.ok(not settings.parse_form("relative/inbox\n4\n\n\n1"), "absolute inbox")
  local _, n = settings.FORM_CAPTIONS:gsub(",", "")
  T.eq(n + 1 - 2, settings.FORM_FIELDS, "captions match the field count")
end)

T.run()
