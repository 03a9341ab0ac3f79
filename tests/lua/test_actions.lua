-- The request actions (generate, continue, melody, settings), run as REAPER would run the
-- action scripts, against the stand-in REAPER: checks the request JSON each one writes.
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

local function no_project_changes(ctx)
  T.eq(#ctx.rs.mutations, 0, "a request action must not change the project")
  T.eq(#ctx.rs.undo_points, 0, "no undo point")
end

-- Generate at time selection ------------------------------------------------------------

T.test("generate: time selection of whole bars -> bpm/bars, new track at selection start", function()
  with_ctx({ sel_start = 2, sel_end = 6, cursor = 9, tempo = 120 }, function(ctx)
    ctx.rs.inputs = { { true, "warm pad, lofi\n\n\n1" } }
    ctx.run("Generate at time selection")
    local reqs = F.requests(ctx.inbox)
    T.eq(#reqs, 1, "one request written")
    local req = reqs[1]
    T.ok(req.id:match("^rpr%-%d+%-1$"), "id rpr-<time>-<counter>: " .. req.id)
    T.eq(req.action, "generate")
    T.eq(req.prompt, "warm pad, lofi")
    T.eq({ req.bpm, req.bars, req.beats_per_bar, req.duration }, { 120, 2, 4, nil })
    T.eq(req.position, 2)
    T.eq(req.track, "new")
    T.eq(req.daw, "reaper")
    T.eq(req.out_dir, ctx.song_dir .. "/MusicGen")
    T.eq({ req.model, req.variations }, { nil, nil }, "defaults left to the daemon")
    local dialog = ctx.rs.dialogs[1]
    T.eq(dialog.n, 4)
    T.eq(dialog.defaults, "\n\n\n1", "length blank = time selection")
    T.contains(ctx.rs:console_text(), req.id)
    T.contains(ctx.rs:console_text(), "importer is not running")
    T.eq(#ctx.rs.messages, 0, "no message box")
    no_project_changes(ctx)
  end)
end)

T.test("generate: odd selection length -> duration in seconds", function()
  with_ctx({ sel_start = 1.5, sel_end = 4.8 }, function(ctx)
    ctx.rs.inputs = { { true, "glitchy texture\n\n\n" } }
    ctx.run("Generate at time selection")
    local req = F.requests(ctx.inbox)[1]
    T.eq({ req.duration, req.bpm, req.bars }, { 3.3, nil, nil })
    T.eq(req.position, 1.5)
  end)
end)

T.test("generate: no selection -> bars at tempo and time signature, at the edit cursor", function()
  with_ctx({ cursor = 7.25, tempo = 90, num = 6, denom = 8 }, function(ctx)
    ctx.rs.extstate.MusicGenBridge.default_bars = "8"
    ctx.rs.inputs = { { true, "drum groove\n2\nsmall\n3" } }
    ctx.run("Generate at time selection")
    T.eq(ctx.rs.dialogs[1].defaults, "\n8\n\n1", "default bars offered")
    local req = F.requests(ctx.inbox)[1]
    -- 6/8 at 90 quarter notes a minute: 180 eighths a minute, 6 a bar
    T.eq({ req.bpm, req.bars, req.beats_per_bar }, { 180, 2, 6 })
    T.eq(req.position, 7.25)
    T.eq(req.model, "small")
    T.eq(req.variations, 3)
  end)
end)

T.test("generate: length in seconds", function()
  with_ctx({}, function(ctx)
    ctx.rs.inputs = { { true, "rain\n8s\n\n1" } }
    ctx.run("Generate at time selection")
    local req = F.requests(ctx.inbox)[1]
    T.eq({ req.duration, req.bars }, { 8, nil })
  end)
end)

T.test("generate: remembers the prompt for the next dialog; ids count up", function()
  with_ctx({}, function(ctx)
    ctx.rs.inputs = { { true, "first idea\n1\n\n1" }, { true, "second\n1\n\n1" } }
    ctx.run("Generate at time selection")
    ctx.run("Generate at time selection")
    T.eq(ctx.rs.dialogs[2].defaults:match("^[^\n]*"), "first idea")
    local reqs = F.requests(ctx.inbox)
    T.eq(#reqs, 2)
    T.ok(reqs[1].id ~= reqs[2].id, "unique ids")
    T.eq(ctx.rs.extstate_saved.MusicGenBridge.id_counter, "2", "counter persisted")
  end)
end)

T.test("generate: unsaved project asks to save, writes nothing", function()
  with_ctx({ saved = false }, function(ctx)
    ctx.run("Generate at time selection")
    T.eq(#ctx.rs.dialogs, 0, "no prompt dialog")
    T.eq(#ctx.rs.messages, 1)
    T.contains(ctx.rs.messages[1].msg, "save the project")
    T.eq(#Stub.list_dir(ctx.inbox), 0)
  end)
end)

T.test("generate: unsaved project with a fallback folder uses it", function()
  with_ctx({ saved = false }, function(ctx)
    ctx.rs.extstate.MusicGenBridge.fallback_dir = ctx.tmp .. "/fallback"
    ctx.rs.inputs = { { true, "pad\n1\n\n1" } }
    ctx.run("Generate at time selection")
    T.eq(F.requests(ctx.inbox)[1].out_dir, ctx.tmp .. "/fallback")
  end)
end)

T.test("generate: cancel and bad input write nothing", function()
  with_ctx({}, function(ctx)
    ctx.rs.inputs = { { false, "" }, { true, "\n1\n\n1" }, { true, "x\n1\n\n12" }, { true, "x\nlots\n\n1" },
                      { true, "x\n200\n\n1" } }
    for _ = 1, 5 do ctx.run("Generate at time selection") end
    T.eq(#Stub.list_dir(ctx.inbox), 0)
    T.eq(#ctx.rs.messages, 4, "cancel is silent; empty prompt, variations, length and too long each say why")
    T.contains(ctx.rs.messages[1].msg, "prompt")
    T.contains(ctx.rs.messages[2].msg, "Variations")
    T.contains(ctx.rs.messages[4].msg, "300")
  end)
end)

T.test("generate: default inbox per OS when none is set", function()
  with_ctx({ inbox = false }, function(ctx)
    ctx.rs.env = { HOME = ctx.tmp .. "/home", XDG_STATE_HOME = ctx.tmp .. "/xdg" }
    ctx.rs.inputs = { { true, "pad\n1\n\n1" } }
    ctx.run("Generate at time selection")
    T.eq(#F.requests(ctx.tmp .. "/xdg/musicgen-bridge/inbox"), 1)
    ctx.rs.env = { HOME = ctx.tmp .. "/home" }
    ctx.rs.inputs = { { true, "pad\n1\n\n1" } }
    ctx.run("Generate at time selection")
    T.eq(#F.requests(ctx.tmp .. "/home/.local/state/musicgen-bridge/inbox"), 1)
    ctx.rs.os_name = "OSX64"
    ctx.rs.inputs = { { true, "pad\n1\n\n1" } }
    ctx.run("Generate at time selection")
    T.eq(#F.requests(ctx.tmp .. "/home/Library/Application Support/musicgen-bridge/inbox"), 1)
  end)
end)

T.test("generate: an unwritable inbox gives one clear message", function()
  with_ctx({}, function(ctx)
    Stub.write(ctx.tmp .. "/afile", "x")
    ctx.rs.extstate.MusicGenBridge.inbox_dir = ctx.tmp .. "/afile/inbox"
    ctx.rs.inputs = { { true, "pad\n1\n\n1" } }
    ctx.run("Generate at time selection")
    T.eq(#ctx.rs.messages, 1)
    T.contains(ctx.rs.messages[1].msg, "Could not write the request")
  end)
end)

-- Continue selected item -------------------------------------------------------------------

local function audio_item(ctx, t)
  local wav = ctx.tmp .. "/take.wav"
  Stub.write_wav(wav, t.src_seconds or 20)
  local tr = ctx.rs:add_track(ctx.proj, "Guitar")
  local item, take = ctx.rs:add_item(tr, { pos = t.pos or 4, len = t.len or 4, selected = true, file = wav,
                                           startoffs = t.startoffs or 1.5, playrate = t.playrate })
  return tr, item, take, wav
end

T.test("continue: source file and region, placed after the item on the same track", function()
  with_ctx({ tempo = 120 }, function(ctx)
    local tr, _, _, wav = audio_item(ctx, {})
    ctx.rs.inputs = { { true, "\n2\n\n1" } }
    ctx.run("Continue selected item")
    local req = F.requests(ctx.inbox)[1]
    T.eq(req.action, "continue")
    T.eq(req.audio_path, wav)
    T.eq({ req.start, req["end"] }, { 1.5, 5.5 })
    T.eq(req.prompt, "")
    T.eq({ req.bpm, req.bars, req.beats_per_bar }, { 120, 2, 4 })
    T.eq(req.position, 8)
    T.eq(req.track, tr.guid, "free after the item: same track")
    T.eq(req.out_dir, ctx.out_dir)
    no_project_changes(ctx)
  end)
end)

T.test("continue: occupied after the item -> new track below; play rate scales the region", function()
  with_ctx({}, function(ctx)
    local tr = audio_item(ctx, { playrate = 2 })
    ctx.rs:add_item(tr, { pos = 10, len = 2, file = ctx.tmp .. "/take.wav" })
    ctx.rs.inputs = { { true, "more of this\n2\n\n1" } }
    ctx.run("Continue selected item")
    local req = F.requests(ctx.inbox)[1]
    T.eq({ req.start, req["end"] }, { 1.5, 9.5 }, "4 s at rate 2 plays 8 s of source")
    T.eq(req.track, "new-below:" .. tr.guid)
    T.eq(req.prompt, "more of this")
  end)
end)

T.test("continue: section source adds its offset; reversed and looped sections refused", function()
  with_ctx({}, function(ctx)
    local wav = ctx.tmp .. "/long.wav"
    Stub.write_wav(wav, 30)
    local parent = ctx.rs:new_source(wav)
    local section = ctx.rs:new_source("", { type = "SECTION", length = 10, parent = parent,
                                            section = { offs = 3, len = 10, rev = false } })
    local tr = ctx.rs:add_track(ctx.proj, "Vox")
    local item = ctx.rs:add_item(tr, { pos = 0, len = 4, selected = true, source = section, startoffs = 1 })
    ctx.rs.inputs = { { true, "\n1\n\n1" } }
    ctx.run("Continue selected item")
    local req = F.requests(ctx.inbox)[1]
    T.eq(req.audio_path, wav)
    T.eq({ req.start, req["end"] }, { 4, 8 })

    section.section.rev = true
    ctx.run("Continue selected item")
    T.contains(ctx.rs.messages[#ctx.rs.messages].msg, "reversed")

    section.section.rev = false
    item.len = 12 -- plays past the 10 s section: REAPER loops it
    ctx.run("Continue selected item")
    T.contains(ctx.rs.messages[#ctx.rs.messages].msg, "loops")
    T.eq(#F.requests(ctx.inbox), 1, "refusals write nothing")
  end)
end)

T.test("continue: region past the end of the file is clamped", function()
  with_ctx({}, function(ctx)
    audio_item(ctx, { src_seconds = 5, startoffs = 2, len = 6 })
    ctx.rs.inputs = { { true, "\n1\n\n1" } }
    ctx.run("Continue selected item")
    local req = F.requests(ctx.inbox)[1]
    T.eq({ req.start, req["end"] }, { 2, 5 })
  end)
end)

T.test("continue: MIDI, empty or no selection are refused clearly", function()
  with_ctx({}, function(ctx)
    ctx.run("Continue selected item")
    T.contains(ctx.rs.messages[1].msg, "Select the audio item")
    local tr = ctx.rs:add_track(ctx.proj, "Keys")
    local midi_item = ctx.rs:add_item(tr, { pos = 0, len = 2, selected = true, midi = { ppq = 960, notes = {} } })
    ctx.run("Continue selected item")
    T.contains(ctx.rs.messages[2].msg, "MIDI")
    midi_item.selected = false
    ctx.rs:add_item(tr, { pos = 4, len = 2, selected = true, empty = true })
    ctx.run("Continue selected item")
    T.contains(ctx.rs.messages[3].msg, "empty")
    T.eq(#ctx.rs.dialogs, 0, "refused before asking anything")
    T.eq(#Stub.list_dir(ctx.inbox), 0)
  end)
end)

-- Melody from selected MIDI item -----------------------------------------------------------

local function midi_item(ctx, notes, t)
  local tr = ctx.rs:add_track(ctx.proj, "Lead")
  local item = ctx.rs:add_item(tr, { pos = t and t.pos or 2, len = t and t.len or 2, selected = true,
                                     midi = { ppq = 960, notes = notes } })
  return tr, item
end

T.test("melody: notes in beats relative to the item, bpm, position and track", function()
  with_ctx({ tempo = 120 }, function(ctx)
    local tr = midi_item(ctx, {
      { pitch = 60, s = 0, e = 960, vel = 100 },
      { pitch = 64, s = 960, e = 1920, vel = 90 },
      { pitch = 65, s = 1920, e = 2400, vel = 80, muted = true },
      { pitch = 67, s = 2880, e = 3840, vel = 110 },
    })
    ctx.rs.inputs = { { true, "\n\n\n1" } }
    ctx.run("Melody from selected MIDI item")
    local req = F.requests(ctx.inbox)[1]
    T.eq(req.action, "generate")
    T.eq(req.prompt, "")
    T.eq(req.melody_notes, { { 60, 0, 1, 100 }, { 64, 1, 1, 90 }, { 67, 3, 1, 110 } })
    T.eq({ req.bpm, req.bars, req.beats_per_bar }, { 120, 1, 4 }, "the 2 s item is one bar")
    T.eq(req.position, 2)
    T.eq(req.track, "new-below:" .. tr.guid)
    no_project_changes(ctx)
  end)
end)

T.test("melody: beats follow the bpm sent (6/8), odd item length -> duration", function()
  with_ctx({ tempo = 90, num = 6, denom = 8 }, function(ctx)
    midi_item(ctx, { { pitch = 72, s = 960, e = 1440, vel = 64 } }, { pos = 0, len = 2.5 })
    ctx.rs.inputs = { { true, "flute\n\nmelody\n2" } }
    ctx.run("Melody from selected MIDI item")
    local req = F.requests(ctx.inbox)[1]
    -- one quarter note at 90/min = 2/3 s = 2 eighths at 180/min
    T.eq(req.melody_notes, { { 72, 2, 1, 64 } })
    T.eq({ req.bpm, req.duration, req.bars }, { 180, 2.5, nil })
    T.eq({ req.model, req.variations, req.prompt }, { "melody", 2, "flute" })
  end)
end)

T.test("melody: audio item or no notes refused", function()
  with_ctx({}, function(ctx)
    local tr = ctx.rs:add_track(ctx.proj, "Audio")
    local item = ctx.rs:add_item(tr, { pos = 0, len = 2, selected = true, file = "/nonexistent.wav", src_length = 5 })
    ctx.run("Melody from selected MIDI item")
    T.contains(ctx.rs.messages[1].msg, "not MIDI")
    item.selected = false
    midi_item(ctx, { { pitch = 60, s = 0, e = 960, vel = 100, muted = true } })
    ctx.rs.inputs = { { true, "\n\n\n1" } }
    ctx.run("Melody from selected MIDI item")
    T.contains(ctx.rs.messages[2].msg, "no (unmuted) notes")
    T.eq(#Stub.list_dir(ctx.inbox), 0)
  end)
end)

-- Settings ---------------------------------------------------------------------------------

T.test("settings: saved to ExtState, persisted across a restart, offered as defaults", function()
  with_ctx({ inbox = false }, function(ctx)
    ctx.rs.inputs = { { true, ctx.tmp .. "/in\n8\nsmall\n" .. ctx.tmp .. "/fb\n2" } }
    ctx.run("Settings")
    local saved = ctx.rs.extstate_saved.MusicGenBridge
    T.eq({ saved.inbox_dir, saved.default_bars, saved.model, saved.fallback_dir, saved.variations },
         { ctx.tmp .. "/in", "8", "small", ctx.tmp .. "/fb", "2" })
    ctx.rs:restart()
    ctx.rs.inputs = { { false, "" } }
    ctx.run("Settings")
    T.eq(ctx.rs.dialogs[2].defaults, ctx.tmp .. "/in\n8\nsmall\n" .. ctx.tmp .. "/fb\n2\n0")
    T.eq(ctx.rs.dialogs[2].n, 6)
    -- and the generate action uses them
    ctx.rs.inputs = { { true, "pad\n\nsmall\n2" } }
    ctx.run("Generate at time selection")
    local req = F.requests(ctx.tmp .. "/in")[1]
    T.eq({ req.bars, req.variations, req.model, req.stems }, { 8, 2, "small", nil })
  end)
end)

T.test("settings: stems 1 makes every request ask for stems", function()
  with_ctx({ inbox = false }, function(ctx)
    ctx.rs.inputs = { { true, ctx.tmp .. "/in\n4\n\n\n1\n1" } }
    ctx.run("Settings")
    T.eq(ctx.rs.extstate_saved.MusicGenBridge.stems, "1")
    ctx.rs.inputs = { { true, "drum loop\n2\n\n1" } }
    ctx.run("Generate at time selection")
    T.eq(F.requests(ctx.tmp .. "/in")[1].stems, true)
  end)
end)

T.test("settings: the daemon's models list (<inbox>/models.txt) is shown before the dialog", function()
  with_ctx({}, function(ctx)
    os.execute("mkdir -p '" .. ctx.inbox .. "'")
    local f = assert(io.open(ctx.inbox .. "/models.txt", "wb"))
    f:write("# name\tmelody\tstereo\tsize_mb\tloaded\nsmall\t0\t0\t0\t1\nmy fine-tüne\t1\t0\t2400.5\t0\r\nbroken line\n")
    f:close()
    ctx.rs.inputs = { { true, ctx.inbox .. "\n4\nmy fine-tüne\n\n1" } }
    ctx.run("Settings")
    local text = ctx.rs:console_text()
    T.contains(text, "  small  (loaded now)")
    T.contains(text, "  my fine-tüne  (melody, 2400 MB)")
    T.ok(not text:find("broken line", 1, true), "malformed lines are skipped")
    T.eq(ctx.rs.extstate_saved.MusicGenBridge.model, "my fine-tüne")
  end)
end)

T.test("settings: bad values are explained and not saved", function()
  with_ctx({ inbox = false }, function(ctx)
    ctx.rs.inputs = { { true, "\nzero\n\n\n1" } }
    ctx.run("Settings")
    T.contains(ctx.rs.messages[1].msg, "bars")
    T.eq(ctx.rs.extstate_saved.MusicGenBridge, nil)
  end)
end)

T.run()
