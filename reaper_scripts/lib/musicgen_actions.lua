-- @noindex

-- musicgen_actions: what each MusicGen action does. The action scripts only find this
-- library and call one function; everything they do is here, against `r` (the `reaper`
-- table), so the tests run the real action scripts against a stand-in.
--
-- A request action asks the user with one GetUserInputs dialog, builds a request
-- (musicgen_request), writes it to the daemon's inbox as <id>.json.tmp renamed to
-- <id>.json, and prints one console line. It never waits for the daemon: the background
-- importer (musicgen_poller) places the result when its file appears in the project's
-- MusicGen/results/ folder.

local json = require("musicgen_json")
local paths = require("musicgen_paths")
local settings = require("musicgen_settings")
local request = require("musicgen_request")
local project = require("musicgen_project")
local poller = require("musicgen_poller")
local identity = require("musicgen_identity")

local M = {}

local TITLE = "MusicGen"
local trim = request.trim

local function fail(r, message)
  r.ShowMessageBox(message, TITLE, 0)
  return nil, message
end

--- The open project, settings and output folder, or nil, message (unsaved project without
--- a fallback folder).
function M.context(r)
  local proj, file = project.current(r)
  local s = settings.load(r)
  local out_dir = paths.out_dir(file, s)
  if not out_dir then
    return nil, "Please save the project first.\n\nMusicGen writes its clips to the project's "
             .. "folder (<project>/MusicGen). To use unsaved projects, set an output folder "
             .. "in \"MusicGen - Settings\"."
  end
  return { proj = proj, file = file, settings = s, out_dir = out_dir }
end

-- GetUserInputs misreads default values with unbalanced quotes or brackets; such a
-- remembered prompt is not offered again.
local function safe_default(text)
  local _, q1 = text:gsub('"', "")
  local _, q2 = text:gsub("'", "")
  local _, o = text:gsub("%(", "")
  local _, c = text:gsub("%)", "")
  if q1 % 2 ~= 0 or q2 % 2 ~= 0 or o ~= c or text:find("\n") then return "" end
  return text
end

--- Show a dialog of newline-separated fields. Returns the list of answers or nil (cancel).
function M.ask(r, title, captions, defaults)
  local caption_csv = table.concat(captions, ",") .. ",separator=\n,extrawidth=300"
  local ok, answer = r.GetUserInputs(title, #captions, caption_csv, table.concat(defaults, "\n"))
  if not ok then return nil end
  return settings.split_fields(answer, #captions)
end

local function parse_variations(text, default)
  if trim(text) == "" then return default end
  return request.parse_variations(text)
end

--- The length as REAPER shows it: bars of the project's time signature at its tempo in
--- quarter notes per minute (the request's bpm counts the denominator's note: 7/8 at 93.5 is
--- sent as bpm 187), or seconds.
function M.describe_timing(req, tempo_qn, num, denom)
  if req.bars and req.bpm then
    return string.format("%g bar%s of %d/%d at %g bpm", req.bars, req.bars == 1 and "" or "s",
                         num or req.beats_per_bar or 4, denom or 4,
                         request.round(tempo_qn or req.bpm, 3))
  end
  return string.format("%.2f s", req.duration or 0)
end

local function describe_track(track)
  if track == "new" then return "a new track" end
  if tostring(track):match("^new%-below:") then return "a new track below the source" end
  return "the same track"
end

--- Validate and write a request into the inbox, then print one line (`shown`: the length as
--- the user sees it, see describe_timing). The project remembers the request until its
--- result is handled (musicgen_identity). Returns the request and the file written, or nil,
--- message.
function M.submit(r, s, req, proj, shown)
  local ok, err = request.validate(req)
  if not ok then return fail(r, err) end
  local inbox = settings.inbox(r, s)
  if not inbox then
    return fail(r, "Cannot tell where the daemon's inbox is. Set it in \"MusicGen - Settings\" "
                .. "(see `musicgen-bridge paths`).")
  end
  paths.ensure_dir(r, inbox)
  local file = paths.join(inbox, req.id .. ".json")
  local written, werr = paths.write_atomic(file, json.encode(req))
  if not written then
    return fail(r, "Could not write the request to the daemon's inbox:\n" .. inbox .. "\n\n"
                .. tostring(werr) .. "\n\nCheck the inbox folder in \"MusicGen - Settings\".")
  end
  local line = string.format("MusicGen: queued %s \"%s\" (%s) -> %s at %.2f s\n", req.id,
                             req.prompt ~= "" and req.prompt or req.action, shown or M.describe_timing(req),
                             describe_track(req.track), req.position)
  if not poller.importer_running(r) then
    line = line .. "MusicGen: the background importer is not running; run \"MusicGen - Import "
           .. "results (background)\" (or add it to Scripts/__startup.lua) to place results "
           .. "automatically.\n"
  end
  r.ShowConsoleMsg(line)
  identity.remember(r, proj, req.id, req.out_dir)
  return req, file
end

--- Timing keys from a parsed length field: bars at the tempo, seconds, or the fallback
--- (a length in seconds, e.g. the time selection, or the default bars).
local function timing_from(len, fallback_s, default_bars, tempo, num, denom)
  if len and len.bars then return request.timing_for_bars(len.bars, tempo, num, denom) end
  if len and len.seconds then return { duration = request.round(len.seconds, 6) }, len.seconds end
  if fallback_s then return request.timing_for_seconds(fallback_s, tempo, num, denom) end
  return request.timing_for_bars(default_bars, tempo, num, denom)
end

--- The length and variations fields every action's form has (fields 2 and 4):
--- { timing = keys, duration_s = length, variations = n }, or nil and a message for the user.
local function read_form(fields, s, fallback_s, tempo, num, denom)
  local len, lerr = request.parse_length(fields[2])
  if len == nil then return nil, lerr end
  local variations = parse_variations(fields[4], s.variations)
  if not variations then return nil, request.variations_message() end
  local timing, duration_s = timing_from(len, fallback_s, s.default_bars, tempo, num, denom)
  return { timing = timing, duration_s = duration_s, variations = variations,
           shown = M.describe_timing(timing, tempo, num, denom) }
end

--- An action's request keys: those every action sends (from the form: prompt, model,
--- variations, length; from the settings: stems, output folder; a new id) added to its own.
local function request_keys(r, ctx, fields, form, keys)
  keys.id = settings.next_id(r)
  keys.project_id = identity.project_id(r, ctx.proj, true)
  keys.prompt = fields[1]
  keys.model = fields[3]
  keys.variations = form.variations
  keys.stems = ctx.settings.stems == 1
  keys.timing = form.timing
  keys.out_dir = ctx.out_dir
  return keys
end

-- Generate at time selection ----------------------------------------------------------

--- Text-to-music: length = time selection (or bars at the project tempo), result on a new
--- track named after the prompt, at the selection start or the edit cursor.
function M.generate(r)
  local ctx, err = M.context(r)
  if not ctx then return fail(r, err) end
  local s = ctx.settings
  local sel_start, sel_end = project.time_selection(r)
  local position = sel_start or r.GetCursorPosition()
  local tempo, num, denom = project.tempo_at(r, ctx.proj, position)

  local fields = M.ask(r, "MusicGen: generate", {
    "Prompt",
    sel_start and "Length: bars or 8s (blank = time sel.)" or "Length: bars or 8s",
    "Model (blank = daemon default)",
    "Variations (1-8)",
  }, {
    safe_default(settings.get(r, "last_prompt") or ""),
    sel_start and "" or tostring(s.default_bars),
    s.model,
    tostring(s.variations),
  })
  if not fields then return nil, "cancelled" end

  local form, ferr = read_form(fields, s, sel_start and (sel_end - sel_start), tempo, num, denom)
  if not form then return fail(r, ferr) end

  local req = request.generate(request_keys(r, ctx, fields, form, { position_s = position, track = "new" }))
  local ok, file = M.submit(r, s, req, ctx.proj, form.shown)
  if ok then settings.set(r, "last_prompt", req.prompt, true) end
  return ok, file
end

-- Continue selected item ---------------------------------------------------------------

--- Continuation of the selected audio item's region; result right after the item, on the
--- same track when that stretch is free, else on a new track right below it.
function M.continue_item(r)
  local ctx, err = M.context(r)
  if not ctx then return fail(r, err) end
  local s = ctx.settings
  local item = project.selected_item(r, ctx.proj)
  if not item then return fail(r, "Select the audio item to continue first.") end
  local region, rerr = project.audio_region(r, item)
  if not region then return fail(r, rerr) end
  local item_pos, item_len = project.item_bounds(r, item)
  local position = item_pos + item_len
  local tempo, num, denom = project.tempo_at(r, ctx.proj, position)

  local fields = M.ask(r, "MusicGen: continue selected item", {
    "Prompt (optional)",
    "Length: bars or 8s",
    "Model (blank = daemon default)",
    "Variations (1-8)",
  }, { "", tostring(s.default_bars), s.model, tostring(s.variations) })
  if not fields then return nil, "cancelled" end

  local form, ferr = read_form(fields, s, nil, tempo, num, denom)
  if not form then return fail(r, ferr) end

  local track = r.GetMediaItem_Track(item)
  local guid = project.track_guid(r, track)
  local free = project.is_free(r, track, position, position + form.duration_s, item)
  local req = request.continuation(request_keys(r, ctx, fields, form, {
    position_s = position,
    track = free and guid or ("new-below:" .. guid),
    audio_path = region.audio_path,
    start_s = region.start_s,
    end_s = region.end_s,
  }))
  return M.submit(r, s, req, ctx.proj, form.shown)
end

-- Melody from selected MIDI item ---------------------------------------------------------

--- Melody-conditioned generation from the selected MIDI item's notes (in beats of the
--- bpm sent along); result at the item's position on a new track below the MIDI track.
function M.melody(r)
  local ctx, err = M.context(r)
  if not ctx then return fail(r, err) end
  local s = ctx.settings
  local item = project.selected_item(r, ctx.proj)
  if not item then return fail(r, "Select a MIDI item first.") end
  local take = r.GetActiveTake(item)
  if not take or not r.TakeIsMIDI(take) then
    return fail(r, "The selected item is not MIDI. Select a MIDI item (its notes become the melody).")
  end
  local item_pos, item_len = project.item_bounds(r, item)
  local tempo, num, denom = project.tempo_at(r, ctx.proj, item_pos)

  local fields = M.ask(r, "MusicGen: melody from MIDI item", {
    "Prompt (optional)",
    "Length: bars or 8s (blank = item)",
    "Model (blank = daemon default)",
    "Variations (1-8)",
  }, { "", "", s.model, tostring(s.variations) })
  if not fields then return nil, "cancelled" end

  local form, ferr = read_form(fields, s, item_len, tempo, num, denom)
  if not form then return fail(r, ferr) end

  -- beats are counted in the bpm the request carries (see musicgen_request.timing_for_bars)
  local bpm = request.bpm_for(tempo, denom)
  if bpm < request.MIN_BPM or bpm > request.MAX_BPM then bpm = tempo end
  if form.timing.bpm then bpm = form.timing.bpm end
  local notes = request.notes_to_beats(project.midi_notes(r, take, item), item_pos, item_pos + item_len, bpm)
  if #notes == 0 then return fail(r, "The selected MIDI item has no (unmuted) notes.") end

  local track = r.GetMediaItem_Track(item)
  local req = request.melody(request_keys(r, ctx, fields, form, {
    position_s = item_pos,
    track = "new-below:" .. project.track_guid(r, track),
    notes = notes,
    bpm = bpm,
  }))
  return M.submit(r, s, req, ctx.proj, form.shown)
end

-- Settings -------------------------------------------------------------------------------

function M.settings_dialog(r)
  local s = settings.load(r)
  local inbox = settings.inbox(r, s)
  local models = inbox and settings.read_models(paths.join(inbox, "models.txt")) or {}
  if #models > 0 then r.ShowConsoleMsg(settings.models_text(models)) end
  local ok, answer = r.GetUserInputs("MusicGen: settings", settings.FORM_FIELDS,
                                     settings.FORM_CAPTIONS, settings.form_defaults(s))
  if not ok then return nil, "cancelled" end
  local new, err = settings.parse_form(answer)
  if not new then return fail(r, err) end
  settings.save(r, new)
  r.ShowConsoleMsg(string.format("MusicGen: settings saved; requests go to %s\n",
                                 settings.inbox(r, new) or "(unknown inbox: set one)"))
  return new
end

return M
