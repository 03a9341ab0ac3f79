-- The importer (background poller and one-shot), run as REAPER would run the action
-- scripts, against the stand-in REAPER and real result files in a temp project folder.
local T = dofile((debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or "./") .. "testlib.lua")
local dir, root = T.dirs()
T.setup_paths(dir, root)
local F = dofile(dir .. "fixture.lua")
local Stub = F.Stub

local function with_ctx(opts, fn)
  local ctx = F.new(opts)
  local ok, err = xpcall(fn, debug.traceback, ctx)
  ctx.cleanup()
  if not ok then error(err, 0) end
end

local function result(ctx, id, extra)
  local r = {
    id = id, status = "done", paths = { ctx.out_dir .. "/ambient-pad_20261125-101500_s3.wav" },
    prompt = "ambient pad", seed = 3, duration_s = 3, sr = 32000, position = 12.5, track = "new",
    daw = "reaper", action = "generate",
    request = { id = id, prompt = "ambient pad", position = 12.5, track = "new", duration = 3 },
  }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function items_of(track) return track.items end

local function assert_all_changes_in_undo_blocks(rs)
  for _, m in ipairs(rs.mutations) do
    T.ok(m.undo_depth > 0, "project change outside an undo block: " .. m.name)
  end
  T.eq(rs.undo_depth, 0, "undo blocks balanced")
  T.eq(rs.ui_refresh, 0, "PreventUIRefresh balanced")
end

T.test("a finished result becomes an item on a new track, then moves to imported/", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    rs:add_track(ctx.proj, "Existing")
    F.write_result(ctx.out_dir, result(ctx, "rpr-1-1"), 3.0)
    ctx.run("Import results (background)")
    -- the first scan runs at once
    T.eq(#ctx.proj.tracks, 2, "a new track")
    local tr = ctx.proj.tracks[2]
    T.eq(tr.name, "ambient pad", "named after the prompt")
    local item = items_of(tr)[1]
    T.ok(item, "an item")
    T.eq(item.pos, 12.5, "at the requested position")
    T.near(item.len, 3.0, 1e-9, "length from GetMediaSourceLength")
    T.eq(#item.takes, 1)
    T.eq(item.active, item.takes[1])
    T.eq(item.takes[1].name, "ambient pad")
    T.eq(item.takes[1].source.file, ctx.out_dir .. "/ambient-pad_20261125-101500_s3.wav")
    T.contains(item.notes, "ambient pad")
    T.contains(item.notes, "seed: 3")
    T.contains(item.notes, "id: rpr-1-1")
    T.eq(#rs.undo_points, 1, "one undo point per import")
    T.contains(rs.undo_points[1].desc, "MusicGen")
    assert_all_changes_in_undo_blocks(rs)
    T.ok(not Stub.exists(ctx.results .. "/rpr-1-1.json"), "result moved away")
    T.ok(Stub.exists(ctx.results .. "/imported/rpr-1-1.json"), "to imported/")
    T.eq(#rs:calls_named("UpdateArrange") > 0, true)

    -- later cycles: peaks get built, nothing is imported twice
    rs:run_deferred(40, 0.1)
    T.eq(#ctx.proj.tracks, 2)
    T.eq(#items_of(tr), 1)
    T.eq(#rs.undo_points, 1)
    T.ok(item.takes[1].source.peaks_built, "peaks built (PCM_Source_BuildPeaks 0/1/2)")
    T.ok(#rs:calls_named("EnumerateFiles") > 8, "keeps polling")
    T.eq(rs.toggles[rs.cmd_id], nil, "no toggle without a command id")
  end)
end)

T.test("polling rate: about every 0.5 s, and no blocking", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    ctx.run("Import results (background)")
    local scans = function()
      local n = 0
      for _, c in ipairs(rs:calls_named("EnumerateFiles")) do if c.args[2] == -1 then n = n + 1 end end
      return n
    end
    T.eq(scans(), 1)
    rs:run_deferred(30, 1 / 30) -- one second of ~30 Hz defer cycles
    T.ok(scans() >= 2 and scans() <= 3, "2-3 scans a second, got " .. scans())
    T.eq(#rs.deferred, 1, "still running: one pending defer")
  end)
end)

T.test("variations become takes of one item", function()
  with_ctx({}, function(ctx)
    local paths = { ctx.out_dir .. "/pad_s3_v1.wav", ctx.out_dir .. "/pad_s3_v2.wav", ctx.out_dir .. "/pad_s3_v3.wav" }
    F.write_result(ctx.out_dir, result(ctx, "rpr-1-2", { paths = paths }), 2.0)
    ctx.run("Import results now")
    local tr = ctx.proj.tracks[1]
    T.eq(#tr.items, 1, "one item")
    local item = tr.items[1]
    T.eq(#item.takes, 3, "three takes")
    T.eq(item.active, item.takes[1], "first take active")
    T.eq({ item.takes[1].name, item.takes[2].name, item.takes[3].name },
         { "ambient pad (v1)", "ambient pad (v2)", "ambient pad (v3)" })
    T.eq(item.takes[3].source.file, paths[3])
    T.eq(#ctx.rs.undo_points, 1)
  end)
end)

T.test("track: existing GUID, new-below GUID, number and name", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    local a = rs:add_track(ctx.proj, "A")
    local b = rs:add_track(ctx.proj, "B")
    F.write_result(ctx.out_dir, result(ctx, "rpr-2-1", { track = a.guid, position = 8 }), 1.0)
    F.write_result(ctx.out_dir, result(ctx, "rpr-2-2", { track = "new-below:" .. a.guid, prompt = "below a",
      paths = { ctx.out_dir .. "/below.wav" } }), 1.0)
    F.write_result(ctx.out_dir, result(ctx, "rpr-2-3", { track = 2, paths = { ctx.out_dir .. "/two.wav" } }), 1.0)
    F.write_result(ctx.out_dir, result(ctx, "rpr-2-4", { track = "Ideas", paths = { ctx.out_dir .. "/ideas.wav" } }), 1.0)
    ctx.run("Import results now")
    local names = {}
    for i, tr in ipairs(ctx.proj.tracks) do names[i] = tr.name end
    T.eq(names, { "A", "below a", "B", "Ideas" })
    T.eq(#a.items, 1)
    T.eq(a.items[1].pos, 8)
    T.eq(#ctx.proj.tracks[2].items, 2, "track number 2 at the time of import: the one just inserted")
    T.eq(#b.items, 0)
    T.eq(#ctx.proj.tracks[4].items, 1)
    T.eq(#rs.undo_points, 4, "one undo point per import")
    assert_all_changes_in_undo_blocks(rs)
    T.eq(#Stub.list_dir(ctx.results .. "/imported"), 4)
  end)
end)

T.test("a deleted target track falls back to a new track", function()
  with_ctx({}, function(ctx)
    F.write_result(ctx.out_dir, result(ctx, "rpr-3-1", { track = "{DELETED-GUID}" }), 1.0)
    ctx.run("Import results now")
    T.eq(#ctx.proj.tracks, 1)
    T.eq(ctx.proj.tracks[1].name, "ambient pad")
  end)
end)

T.test("error and cancelled results: one console line each, nothing inserted", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    F.write_result(ctx.out_dir, { id = "rpr-4-1", status = "error", code = "bad_audio",
                                  message = "region outside the file", request = { id = "rpr-4-1" } })
    F.write_result(ctx.out_dir, { id = "rpr-4-2", status = "cancelled" })
    ctx.run("Import results (background)")
    rs:run_deferred(20, 0.1)
    local text = rs:console_text()
    local _, lines = text:gsub("\n", "")
    T.eq(lines, 2, "exactly two lines: " .. text)
    T.contains(text, "rpr-4-1 failed (bad_audio): region outside the file")
    T.contains(text, "rpr-4-2 was cancelled")
    T.eq(#rs.messages, 0, "no message boxes")
    T.eq(#ctx.proj.tracks, 0)
    T.eq(#rs.undo_points, 0)
    T.ok(Stub.exists(ctx.results .. "/imported/rpr-4-1.json"))
    T.ok(Stub.exists(ctx.results .. "/imported/rpr-4-2.json"))
  end)
end)

T.test("a result that arrives later is seen (folder listing re-read each scan)", function()
  with_ctx({}, function(ctx)
    ctx.run("Import results (background)")
    ctx.rs:run_deferred(5, 0.2)
    F.write_result(ctx.out_dir, result(ctx, "rpr-5-1"), 1.0)
    ctx.rs:run_deferred(5, 0.2)
    T.eq(#ctx.proj.tracks, 1)
  end)
end)

T.test("project closed when the result arrives: imported when it is open again", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    local other_dir = ctx.tmp .. "/Other"
    os.execute("mkdir -p '" .. other_dir .. "'")
    local other = rs:add_project({ file = other_dir .. "/Other.rpp" })
    ctx.run("Import results (background)")
    rs:run_deferred(5, 0.2)
    -- the user closes Song; its result lands while only Other is open
    rs:close_project(ctx.proj)
    T.eq(rs.current, other)
    F.write_result(ctx.out_dir, result(ctx, "rpr-6-1"), 1.0)
    rs:run_deferred(10, 0.2)
    T.ok(Stub.exists(ctx.results .. "/rpr-6-1.json"), "left in place while Song is closed")
    T.eq(#other.tracks, 0, "nothing lands in the other project")
    -- Song is opened again
    local song = rs:add_project({ file = ctx.song_dir .. "/Song.rpp" })
    rs:run_deferred(5, 0.2)
    T.eq(#song.tracks, 1, "imported into Song")
    T.eq(song.tracks[1].items[1].pos, 12.5)
    T.ok(Stub.exists(ctx.results .. "/imported/rpr-6-1.json"))
  end)
end)

T.test("REAPER closed when the result arrives: the startup importer imports it at once", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    ctx.run("Import results (background)")
    rs:run_deferred(3, 0.2)
    rs:restart() -- REAPER quits; the job finishes meanwhile; REAPER starts with the project
    T.eq(#rs.deferred, 0)
    F.write_result(ctx.out_dir, result(ctx, "rpr-7-1"), 1.0)
    T.eq(#ctx.proj.tracks, 0)
    ctx.run("Import results (background)") -- as Scripts/__startup.lua runs it
    T.eq(#ctx.proj.tracks, 1, "imported on the first cycle")
    T.ok(Stub.exists(ctx.results .. "/imported/rpr-7-1.json"))
  end)
end)

T.test("only one background importer; the request actions see it running", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    rs.cmd_id = 55001
    ctx.run("Import results (background)")
    T.eq(rs.toggles[55001], 1, "toolbar button lit")
    rs:run_deferred(2, 0.1)
    -- a copy started another way (e.g. Scripts/__startup.lua and a second copy of the script)
    local copy = ctx.tmp .. "/MusicGen - Import results (background) copy.lua"
    Stub.write(copy, 'package.path = "' .. F.scripts .. 'lib/?.lua;" .. package.path\n'
               .. 'require("musicgen_poller").start(reaper)\n')
    rs:run_script(copy)
    T.contains(rs:console_text(), "already running")
    rs:run_deferred(1, 0.1)
    T.eq(#rs.deferred, 1, "the second one stopped, the first goes on")
    F.write_result(ctx.out_dir, result(ctx, "rpr-8-1"), 1.0)
    rs:run_deferred(10, 0.1)
    T.eq(#ctx.proj.tracks, 1, "imported once")
    T.eq(#ctx.proj.tracks[1].items, 1)
    rs.inputs = { { true, "pad\n1\n\n1" } }
    rs.console = {}
    ctx.run("Generate at time selection")
    T.ok(not rs:console_text():find("not running", 1, true), "no hint when the importer runs")
    rs:stop_scripts()
    T.eq(rs.toggles[55001], 0, "button off at exit")
  end)
end)

T.test("re-launching the background importer stops it (a toggle); no dialog, no undo point", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    rs.cmd_id = 55002
    ctx.run("Import results (background)")
    rs:run_deferred(2, 0.1)
    T.eq(rs.toggles[55002], 1)
    ctx.run("Import results (background)")
    T.eq(#rs.deferred, 0, "stopped")
    T.eq(rs.toggles[55002], 0, "button off")
    T.eq(rs.relaunch_dialogs, 0, "REAPER did not have to ask")
    ctx.run("Import results (background)")
    T.eq(#rs.deferred, 1, "started again")
    T.eq(rs.auto_undo_points, {})
  end)
end)

T.test("a broken result file is reported once and left in place", function()
  with_ctx({}, function(ctx)
    os.execute("mkdir -p '" .. ctx.results .. "'")
    Stub.write(ctx.results .. "/rpr-9-1.json", '{"id": "rpr-9-1", "status": ')
    Stub.write(ctx.results .. "/notes.txt", "not a result")
    Stub.write(ctx.results .. "/.rpr-9-2.json.partial", "{")
    ctx.run("Import results (background)")
    ctx.rs:run_deferred(20, 0.2)
    local _, lines = ctx.rs:console_text():gsub("\n", "")
    T.eq(lines, 1, ctx.rs:console_text())
    T.contains(ctx.rs:console_text(), "rpr-9-1.json is not a valid result")
    T.ok(Stub.exists(ctx.results .. "/rpr-9-1.json"))
  end)
end)

T.test("a missing clip is reported, nothing half-made", function()
  with_ctx({}, function(ctx)
    F.write_result(ctx.out_dir, result(ctx, "rpr-10-1")) -- no clip written
    ctx.run("Import results now")
    T.contains(ctx.rs:console_text(), "clip not found")
    T.eq(#ctx.proj.tracks, 0)
    T.eq(#ctx.rs.undo_points, 0)
    T.eq(#ctx.rs.mutations, 0)
  end)
end)

T.test("a clip REAPER cannot open: nothing inserted, the other sources are freed", function()
  with_ctx({}, function(ctx)
    local paths = { ctx.out_dir .. "/ok_v1.wav", ctx.out_dir .. "/bad_v2.wav" }
    F.write_result(ctx.out_dir, result(ctx, "rpr-10-2", { paths = paths }), 1.0)
    ctx.rs.unopenable = { [paths[2]] = true }
    ctx.run("Import results now")
    T.contains(ctx.rs:console_text(), "REAPER cannot open")
    T.eq(#ctx.proj.tracks, 0)
    T.eq(#ctx.rs:calls_named("PCM_Source_Destroy"), 1)
    T.ok(Stub.exists(ctx.results .. "/imported/rpr-10-2.json"))
  end)
end)

T.test("an error inside the import still closes the undo block; the importer goes on", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    local real = rs.api.AddTakeToMediaItem
    rs.api.AddTakeToMediaItem = function() error("boom") end
    F.write_result(ctx.out_dir, result(ctx, "rpr-10-3"), 1.0)
    ctx.run("Import results (background)")
    T.contains(rs:console_text(), "import failed")
    T.eq(rs.undo_depth, 0)
    T.eq(rs.ui_refresh, 0)
    rs.api.AddTakeToMediaItem = real
    F.write_result(ctx.out_dir, result(ctx, "rpr-10-4"), 1.0)
    rs:run_deferred(10, 0.1)
    T.eq(#rs.deferred, 1, "still running")
    T.ok(Stub.exists(ctx.results .. "/imported/rpr-10-4.json"))
  end)
end)

T.test("no import while recording; it happens when recording stops", function()
  with_ctx({}, function(ctx)
    ctx.proj.play_state = 5 -- playing + recording
    F.write_result(ctx.out_dir, result(ctx, "rpr-11-1"), 1.0)
    ctx.run("Import results (background)")
    ctx.rs:run_deferred(5, 0.2)
    T.eq(#ctx.proj.tracks, 0)
    ctx.proj.play_state = 0
    ctx.rs:run_deferred(5, 0.2)
    T.eq(#ctx.proj.tracks, 1)
  end)
end)

T.test("unsaved project with a fallback folder imports from it", function()
  with_ctx({ saved = false }, function(ctx)
    local fb = ctx.tmp .. "/fallback"
    ctx.rs.extstate.MusicGenBridge.fallback_dir = fb
    F.write_result(fb, result(ctx, "rpr-12-1", { paths = { fb .. "/clip.wav" } }), 1.0)
    ctx.run("Import results now")
    T.eq(#ctx.proj.tracks, 1)
    T.ok(Stub.exists(fb .. "/results/imported/rpr-12-1.json"))
  end)
end)

T.test("without PCM_Source_BuildPeaks: 'Build any missing peaks' (40047)", function()
  with_ctx({}, function(ctx)
    ctx.rs.api.PCM_Source_BuildPeaks = nil
    F.write_result(ctx.out_dir, result(ctx, "rpr-13-1"), 1.0)
    ctx.run("Import results now")
    ctx.rs:run_deferred(3, 0.1)
    T.eq(ctx.rs.commands, { { cmd = 40047, flag = 0 } })
  end)
end)

T.test("one-shot import ends after the peaks are built", function()
  with_ctx({}, function(ctx)
    F.write_result(ctx.out_dir, result(ctx, "rpr-14-1"), 1.0)
    ctx.run("Import results now")
    ctx.rs:run_deferred(10, 0.05)
    T.eq(#ctx.rs.deferred, 0, "no defer left")
    T.ok(ctx.proj.tracks[1].items[1].takes[1].source.peaks_built)
  end)
end)

T.test("a take deleted before its peaks are built is dropped safely", function()
  with_ctx({}, function(ctx)
    F.write_result(ctx.out_dir, result(ctx, "rpr-15-1"), 1.0)
    ctx.run("Import results now")
    local take = ctx.proj.tracks[1].items[1].takes[1]
    ctx.rs.valid[take] = nil -- the user deleted the item
    ctx.rs:run_deferred(5, 0.05)
    T.eq(#ctx.rs.deferred, 0)
    T.ok(not take.source.peaks_built)
  end)
end)

-- Stems --------------------------------------------------------------------------------------

local import = require("musicgen_import")
local STEMS = { "drums", "bass", "other", "vocals" }
local DASH = " \u{2013} "

--- A done result with stems (the daemon's `stems`: one {name: path} per variation), files written.
local function stems_result(ctx, id, n, seconds, extra)
  local r = result(ctx, id, extra)
  r.paths, r.stems = {}, {}
  for v = 1, n do
    local base = string.format("%s/ambient-pad_20261125-101500_s3%s", ctx.out_dir, n > 1 and ("_v" .. v) or "")
    r.paths[v] = base .. ".wav"
    r.stems[v] = {}
    for _, name in ipairs(STEMS) do
      r.stems[v][name] = base .. "." .. name .. ".wav"
      os.execute("mkdir -p '" .. ctx.out_dir .. "'")
      Stub.write_wav(r.stems[v][name], seconds, 32000, 1)
    end
  end
  return r
end

T.test("plan: stems in track order (drums, bass, other, vocals, then others), takes per variation", function()
  local r = { id = "p1", status = "done", paths = { "/o/a_v1.wav", "/o/a_v2.wav" }, prompt = "ambient pad",
              stems = { { vocals = "/o/a_v1.vocals.wav", zither = "a_v1.zither.wav", drums = "/o/a_v1.drums.wav" },
                        { drums = "/o/a_v2.drums.wav", vocals = "/o/a_v2.vocals.wav", zither = "a_v2.zither.wav" } } }
  local p = import.plan(r, "/o")
  T.eq(#p.stems, 3)
  T.eq({ p.stems[1].name, p.stems[2].name, p.stems[3].name }, { "drums", "vocals", "zither" })
  T.eq(p.stems[1].clips, { "/o/a_v1.drums.wav", "/o/a_v2.drums.wav" })
  T.eq(p.stems[3].clips, { "/o/a_v1.zither.wav", "/o/a_v2.zither.wav" }, "relative paths resolved")
  T.eq(p.stems[1].take_names, { "ambient pad" .. DASH .. "drums (v1)", "ambient pad" .. DASH .. "drums (v2)" })
  T.contains(p.notes, "stems: drums, vocals, zither")
  T.eq(import.plan(result({ out_dir = "/o" }, "p2"), "/o").stems, nil, "no stems: none planned")
end)

T.test("stems land in a folder track named after the prompt, aligned with the (muted) mix", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    rs:add_track(ctx.proj, "Existing")
    F.write_result(ctx.out_dir, stems_result(ctx, "rpr-20-1", 2, 3.0), 3.0)
    ctx.run("Import results (background)")
    local names, depths = {}, {}
    for i, tr in ipairs(ctx.proj.tracks) do names[i], depths[i] = tr.name, tr.depth end
    T.eq(names, { "Existing", "ambient pad", "ambient pad", "drums", "bass", "other", "vocals" })
    T.eq(depths, { 0, 0, 1, 0, 0, 0, -1 }, "a folder holding the four stem tracks")
    local mix = ctx.proj.tracks[2].items[1]
    T.eq(mix.mute, 1, "the mix is muted: the stems play instead")
    T.eq(#mix.takes, 2)
    T.contains(mix.notes, "stems: drums, bass, other, vocals")
    T.eq(#ctx.proj.tracks[3].items, 0, "nothing on the folder track itself")
    for i, name in ipairs(STEMS) do
      local tr = ctx.proj.tracks[3 + i]
      T.eq(#tr.items, 1)
      local item = tr.items[1]
      T.eq({ item.pos, item.mute }, { 12.5, 0 })
      T.near(item.len, mix.len, 1e-9, "same length as the mix")
      T.eq(#item.takes, 2, "one take per variation")
      T.eq(item.takes[1].name, "ambient pad" .. DASH .. name .. " (v1)")
      T.eq(item.takes[2].source.file, ctx.out_dir .. "/ambient-pad_20261125-101500_s3_v2." .. name .. ".wav")
      T.eq(item.active, item.takes[1])
      T.contains(item.notes, "MusicGen stem: " .. name)
    end
    T.eq(#rs.undo_points, 1, "mix and stems are one undo point")
    assert_all_changes_in_undo_blocks(rs)
    T.ok(Stub.exists(ctx.results .. "/imported/rpr-20-1.json"))
  end)
end)

T.test("stems of a result for a folder track go after that folder's children", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    local bus = rs:add_track(ctx.proj, "Bus")
    bus.depth = 1
    rs:add_track(ctx.proj, "Child").depth = -1
    rs:add_track(ctx.proj, "After")
    F.write_result(ctx.out_dir, stems_result(ctx, "rpr-21-1", 1, 2.0, { track = "Bus" }), 2.0)
    ctx.run("Import results now")
    local names, depths = {}, {}
    for i, tr in ipairs(ctx.proj.tracks) do names[i], depths[i] = tr.name, tr.depth end
    T.eq(names, { "Bus", "Child", "ambient pad", "drums", "bass", "other", "vocals", "After" })
    T.eq(depths, { 1, -1, 1, 0, 0, 0, -1, 0 })
    T.eq(bus.items[1].mute, 1)
    T.eq(ctx.proj.tracks[4].items[1].takes[1].name, "ambient pad" .. DASH .. "drums")
  end)
end)

T.test("a missing stem file: nothing is inserted, the console says which", function()
  with_ctx({}, function(ctx)
    local r = stems_result(ctx, "rpr-22-1", 1, 1.0)
    F.write_result(ctx.out_dir, r, 1.0)
    os.remove(r.stems[1].bass)
    ctx.run("Import results now")
    T.eq(#ctx.proj.tracks, 0)
    T.contains(ctx.rs:console_text(), "clip not found")
    T.contains(ctx.rs:console_text(), ".bass.wav")
  end)
end)

T.test("round trip: generate request -> daemon-like result -> clip at the selection start", function()
  with_ctx({ sel_start = 4, sel_end = 8, tempo = 120 }, function(ctx)
    local rs = ctx.rs
    rs.inputs = { { true, "house groove\n\n\n2" } }
    ctx.run("Generate at time selection")
    local req = F.requests(ctx.inbox)[1]
    F.write_result(req.out_dir, F.done_for(req, 2, 11), 4.0)
    ctx.run("Import results (background)")
    local tr = ctx.proj.tracks[1]
    T.eq(tr.name, "house groove")
    T.eq(tr.items[1].pos, 4)
    T.near(tr.items[1].len, 4.0, 1e-9)
    T.eq(#tr.items[1].takes, 2)
    T.contains(tr.items[1].notes, "seed: 11")
    T.ok(Stub.exists(ctx.results .. "/imported/" .. req.id .. ".json"))
  end)
end)

T.run()
