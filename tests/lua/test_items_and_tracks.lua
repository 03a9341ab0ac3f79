-- What the scripts read from items and do to tracks, held against the ReaScript docs: looped
-- MIDI items, stretch-marked audio items, the take's replaced source, new tracks below folders,
-- the track list after import, the console's length as REAPER shows it, and the undo points
-- and re-launch of "Import results now".
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
    id = id, status = "done", paths = { ctx.out_dir .. "/pad_s3.wav" }, prompt = "pad", seed = 3,
    duration_s = 1, position = 0, track = "new", daw = "reaper", action = "generate",
    request = { id = id, prompt = "pad", position = 0, track = "new", duration = 1 },
  }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

T.test("a looped MIDI item gives the melody of every pass that plays, not only the first", function()
  with_ctx({ tempo = 120 }, function(ctx)
    local tr = ctx.rs:add_track(ctx.proj, "Lead")
    -- a one-bar source (4 quarter notes = 2 s at 120) looped over three bars
    ctx.rs:add_item(tr, { pos = 2, len = 6, selected = true, loop = true,
                          midi = { ppq = 960, len_qn = 4, notes = {
                            { pitch = 60, s = 0, e = 960, vel = 100 },
                            { pitch = 67, s = 2880, e = 3840, vel = 90 },
                          } } })
    ctx.rs.inputs = { { true, "\n\n\n1" } }
    ctx.run("Melody from selected MIDI item")
    local req = F.requests(ctx.inbox)[1]
    T.eq(req.melody_notes, {
      { 60, 0, 1, 100 }, { 67, 3, 1, 90 },
      { 60, 4, 1, 100 }, { 67, 7, 1, 90 },
      { 60, 8, 1, 100 }, { 67, 11, 1, 90 },
    })
    T.eq({ req.bars, req.bpm }, { 3, 120 })
  end)
end)

T.test("a looped MIDI item cut mid-pass and started inside its source", function()
  with_ctx({ tempo = 120 }, function(ctx)
    local tr = ctx.rs:add_track(ctx.proj, "Lead")
    -- starts 1 quarter note into the source, plays 2.5 passes' worth (10 quarter notes)
    ctx.rs:add_item(tr, { pos = 0, len = 5, selected = true, loop = true, startoffs = 0.5,
                          midi = { ppq = 960, len_qn = 4, notes = {
                            { pitch = 60, s = 0, e = 960, vel = 100 },
                            { pitch = 64, s = 1920, e = 2880, vel = 80 },
                          } } })
    ctx.rs.inputs = { { true, "\n\n\n1" } }
    ctx.run("Melody from selected MIDI item")
    local req = F.requests(ctx.inbox)[1]
    T.eq(req.melody_notes, { { 64, 1, 1, 80 }, { 60, 3, 1, 100 }, { 64, 5, 1, 80 }, { 60, 7, 1, 100 },
                             { 64, 9, 1, 80 } })
  end)
end)

T.test("a MIDI item that does not loop its source keeps one pass", function()
  with_ctx({ tempo = 120 }, function(ctx)
    local tr = ctx.rs:add_track(ctx.proj, "Lead")
    ctx.rs:add_item(tr, { pos = 0, len = 6, selected = true, loop = false,
                          midi = { ppq = 960, len_qn = 4, notes = { { pitch = 60, s = 0, e = 960, vel = 100 } } } })
    ctx.rs.inputs = { { true, "\n\n\n1" } }
    ctx.run("Melody from selected MIDI item")
    T.eq(F.requests(ctx.inbox)[1].melody_notes, { { 60, 0, 1, 100 } })
  end)
end)

T.test("an audio item with stretch markers is refused with what to do", function()
  with_ctx({}, function(ctx)
    local tr = ctx.rs:add_track(ctx.proj, "Drums")
    local wav = ctx.tmp .. "/loop.wav"
    Stub.write_wav(wav, 4.0, 32000, 1)
    ctx.rs:add_item(tr, { pos = 0, len = 4, selected = true, file = wav, stretch_markers = 2 })
    ctx.run("Continue selected item")
    T.contains(ctx.rs.messages[1].msg, "stretch markers")
    T.contains(ctx.rs.messages[1].msg, "Glue")
    T.eq(#Stub.list_dir(ctx.inbox), 0)
  end)
end)

T.test("the take's first, empty source is destroyed when the clip's replaces it", function()
  with_ctx({}, function(ctx)
    F.write_result(ctx.out_dir, result(ctx, "rpr-1-1", {
      paths = { ctx.out_dir .. "/a_v1.wav", ctx.out_dir .. "/a_v2.wav" } }), 1.0)
    ctx.run("Import results now")
    T.eq(#ctx.proj.tracks[1].items[1].takes, 2)
    T.eq(#ctx.rs:leaked_sources(), 0, "no source left that nothing plays")
  end)
end)

T.test("new tracks show in the track list (TrackList_AdjustWindows)", function()
  with_ctx({}, function(ctx)
    F.write_result(ctx.out_dir, result(ctx, "rpr-2-1"), 1.0)
    ctx.run("Import results now")
    T.ok(ctx.rs.track_list_adjusted > 0)
  end)
end)

T.test("new-below a folder parent lands after the folder, not inside it", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    local folder = rs:add_track(ctx.proj, "Band")
    folder.depth = 1
    rs:add_track(ctx.proj, "Gtr")
    rs:add_track(ctx.proj, "Bass").depth = -1
    rs:add_track(ctx.proj, "After")
    F.write_result(ctx.out_dir, result(ctx, "rpr-3-1", { track = "new-below:" .. folder.guid }), 1.0)
    ctx.run("Import results now")
    local names, depths = {}, {}
    for i, tr in ipairs(ctx.proj.tracks) do names[i], depths[i] = tr.name, tr.depth end
    T.eq(names, { "Band", "Gtr", "Bass", "pad", "After" })
    T.eq(depths, { 1, 0, -1, 0, 0 }, "the folder still holds only its own children")
  end)
end)

T.test("new-below the last child of a folder stays inside that folder", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    rs:add_track(ctx.proj, "Band").depth = 1
    local last = rs:add_track(ctx.proj, "Bass")
    last.depth = -1
    F.write_result(ctx.out_dir, result(ctx, "rpr-4-1", { track = "new-below:" .. last.guid }), 1.0)
    ctx.run("Import results now")
    local names, depths = {}, {}
    for i, tr in ipairs(ctx.proj.tracks) do names[i], depths[i] = tr.name, tr.depth end
    T.eq(names, { "Band", "Bass", "pad" })
    T.eq(depths, { 1, 0, -1 })
  end)
end)

T.test("the console line gives the length as REAPER shows it (7/8 at 93.5)", function()
  with_ctx({ tempo = 93.5, num = 7, denom = 8 }, function(ctx)
    ctx.rs.inputs = { { true, "odd groove\n2\n\n1" } }
    ctx.run("Generate at time selection")
    local req = F.requests(ctx.inbox)[1]
    T.eq({ req.bpm, req.bars, req.beats_per_bar }, { 187, 2, 7 }, "sent in eighth notes")
    T.contains(ctx.rs:console_text(), "(2 bars of 7/8 at 93.5 bpm)")
  end)
end)

T.test("'Import results now' with nothing to import leaves no automatic undo point", function()
  with_ctx({}, function(ctx)
    ctx.run("Import results now")
    ctx.rs:run_deferred(3, 0.1)
    T.eq(ctx.rs.auto_undo_points, {})
    T.eq(#ctx.rs.undo_points, 0)
  end)
end)

T.test("a second background importer that finds one running leaves no automatic undo point", function()
  with_ctx({}, function(ctx)
    ctx.run("Import results (background)")
    local copy = ctx.tmp .. "/startup copy.lua"
    Stub.write(copy, 'package.path = "' .. F.scripts .. 'lib/?.lua;" .. package.path\n'
               .. 'require("musicgen_poller").start(reaper)\n')
    ctx.rs:run_script(copy)
    T.contains(ctx.rs:console_text(), "already running")
    T.eq(ctx.rs.auto_undo_points, {})
  end)
end)

T.test("'Import results now': bounded in time, and a second nudge restarts it at once", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    rs.api.PCM_Source_BuildPeaks = function(src, mode)  -- peaks that never finish
      rs.calls[#rs.calls + 1] = { name = "PCM_Source_BuildPeaks", args = table.pack(src, mode) }
      return mode == 2 and 0 or 100
    end
    F.write_result(ctx.out_dir, result(ctx, "rpr-5-1"), 1.0)
    ctx.run("Import results now")
    T.eq(#ctx.proj.tracks, 1)
    rs:run_deferred(5, 0.1)
    T.ok(rs:is_running(F.script("Import results now")), "still building peaks")
    -- the daemon nudges again (a new result): the running one ends, the new one imports now
    F.write_result(ctx.out_dir, result(ctx, "rpr-5-2"), 1.0)
    ctx.run("Import results now")
    T.eq(#ctx.proj.tracks, 2, "imported at once")
    T.eq(rs.relaunch_dialogs, 0, "REAPER did not have to ask")
    local owners = 0
    for _, d in ipairs(rs.deferred) do if d.owner == F.script("Import results now") then owners = owners + 1 end end
    T.eq(owners, 1, "one instance")
    rs:run_deferred(150, 0.1) -- 15 s
    T.ok(not rs:is_running(F.script("Import results now")), "stopped after ONCE_MAX_S")
  end)
end)

T.run()
