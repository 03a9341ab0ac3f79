-- @noindex

-- musicgen_import: turn a result file (<out_dir>/results/<id>.json, docs/protocol.md) into
-- an item on the timeline, then move the file to results/imported/ so it is imported once.
--
-- What a result becomes:
--   * status "done": one new item at `position` (seconds) on the track `track` names, with
--     one take per clip: variations become takes of that one item (the first is active;
--     switch with "Take: Switch to next take", T). Takes are named after the prompt
--     ("... (v2)" for variations), the item's notes hold prompt, seed, id and model,
--     the item's length is the first clip's length. One undo point per import.
--   * with stems (the result has `stems`, one {name: path} per variation): a new folder track
--     named after the prompt right below the mix's track (after its children when it is a
--     folder itself), holding one track per stem ("drums", "bass", ...), each with one item
--     at the same position and length as the mix (takes = variations, as for the mix). The
--     mix item is muted (B_MUTE) so the stems, which add up to it, play instead of doubling it.
--   * status "error" / "cancelled": one line in the ReaScript console, nothing inserted.
--
-- `track` (echoed back by the daemon, set by the script that made the request):
--   "new" (or missing)       a new track at the bottom, named after the prompt
--   "new-below:{GUID}"       a new track right below the track with that GUID
--   "{GUID}"                 that track (a new one if it was deleted)
--   3 or "3"                 track number 3 as REAPER shows it (1 = first)
--   any other text           the first track with that name (a new one with that name
--                            if there is none)
--
-- plan() and the helpers above it are plain Lua; apply() and process_file() talk to REAPER
-- through `r`.

local json = require("musicgen_json")
local paths = require("musicgen_paths")
local project = require("musicgen_project")
local settings = require("musicgen_settings")
local identity = require("musicgen_identity")

local M = {}

M.TRACK_NAME_MAX = 40
M.TAKE_NAME_MAX = 80
--- Stem tracks are ordered like this (demucs's order); other stems follow alphabetically.
M.STEM_ORDER = { "drums", "bass", "other", "vocals", "guitar", "piano" }
M.STEM_SEP = " \u{2013} " -- an en dash: "ambient pad – drums"

local function str(v)
  v = json.value(v)
  if v == nil then return nil end
  return tostring(v)
end

--- Shorten to at most n characters (UTF-8 aware), adding "..." when cut.
function M.shorten(s, n)
  if utf8.len(s) == nil or utf8.len(s) <= n then return s end
  local cut = utf8.offset(s, n - 2)
  return s:sub(1, cut - 1) .. "..."
end

--- Parse a `track` value into {kind="new"|"new_below"|"guid"|"index"|"name", ...}.
function M.parse_track(track)
  track = json.value(track)
  if track == nil then return { kind = "new" } end
  if type(track) == "number" then
    local n = math.tointeger(track)
    if n and n >= 1 then return { kind = "index", index = n } end
    return { kind = "new" }
  end
  track = tostring(track):gsub("^%s+", ""):gsub("%s+$", "")
  if track == "" or track:lower() == "new" then return { kind = "new" } end
  local below = track:match("^new%-below:(%b{})$")
  if below then return { kind = "new_below", guid = below } end
  if track:match("^%b{}$") then return { kind = "guid", guid = track } end
  if track:match("^%d+$") then
    local n = math.tointeger(tonumber(track))
    if n and n >= 1 then return { kind = "index", index = n } end
  end
  return { kind = "name", name = track }
end

local function request_of(result)
  local req = json.value(result.request)
  if type(req) ~= "table" then return {} end
  return req
end

--- The text a result is named after: its prompt, else what kind of job it was.
function M.label(result)
  local req = request_of(result)
  local prompt = str(result.prompt) or str(req.prompt) or ""
  prompt = prompt:gsub("[\r\n\t]+", " "):gsub("^%s+", ""):gsub("%s+$", "")
  if prompt ~= "" then return prompt end
  local action = str(result.action) or str(req.action) or "generate"
  if action == "continue" then return "MusicGen continuation" end
  if json.value(req.melody_notes) ~= nil or json.value(req.melody) ~= nil then
    return "MusicGen melody"
  end
  return "MusicGen"
end

function M.track_name(result)
  return M.shorten(M.label(result), M.TRACK_NAME_MAX)
end

--- n take names from base: the base alone, or "<base> (v1)".."<base> (vn)" for variations.
local function numbered(base, n)
  local names = {}
  for i = 1, n do
    names[i] = n > 1 and string.format("%s (v%d)", base, i) or base
  end
  return names
end

function M.take_names(result, n)
  return numbered(M.shorten(M.label(result), M.TAKE_NAME_MAX), n)
end

--- The item notes: prompt, seed, id, model, source region for continuations, clip files.
function M.item_notes(result, clip_paths)
  local req = request_of(result)
  local lines = {}
  local prompt = str(result.prompt) or str(req.prompt) or ""
  lines[#lines + 1] = "MusicGen: " .. (prompt ~= "" and prompt or "(no prompt)")
  local seed = str(result.seed)
  lines[#lines + 1] = "seed: " .. (seed or "unknown")
  lines[#lines + 1] = "id: " .. (str(result.id) or "?")
  local model = str(result.model) or str(req.model)
  if model then lines[#lines + 1] = "model: " .. model end
  local action = str(result.action) or str(req.action)
  if action == "continue" and str(req.audio_path) then
    lines[#lines + 1] = string.format("continues: %s (%s-%s s)", paths.basename(str(req.audio_path)),
                                      str(req.start) or "0", str(req["end"]) or "end")
  end
  if json.value(req.melody_notes) ~= nil then
    lines[#lines + 1] = string.format("melody: %d notes", #req.melody_notes)
  end
  for i, p in ipairs(clip_paths) do
    lines[#lines + 1] = string.format("%s: %s", #clip_paths > 1 and ("v" .. i) or "file", paths.basename(p))
  end
  return table.concat(lines, "\n")
end

--- The stems of a result in track order: {{name=, clips={path per variation}}}, or nil when the
--- result has none. Relative paths are resolved against out_dir.
function M.stems_of(result, out_dir)
  local list = json.value(result.stems)
  if type(list) ~= "table" or #list == 0 then return nil end
  local by_name, names = {}, {}
  for v, group in ipairs(list) do
    group = json.value(group)
    if type(group) == "table" then
      for name, p in pairs(group) do
        p = str(p)
        if type(name) == "string" and name ~= "" and p and p ~= "" then
          if not paths.is_absolute(p) and out_dir then p = paths.join(out_dir, p) end
          if not by_name[name] then
            by_name[name] = {}
            names[#names + 1] = name
          end
          by_name[name][v] = p
        end
      end
    end
  end
  if #names == 0 then return nil end
  local rank = {}
  for i, n in ipairs(M.STEM_ORDER) do rank[n] = i end
  table.sort(names, function(a, b)
    local ra, rb = rank[a] or math.huge, rank[b] or math.huge
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  local out = {}
  for _, name in ipairs(names) do
    local clips = {}
    for v = 1, #list do
      if by_name[name][v] then clips[#clips + 1] = by_name[name][v] end
    end
    out[#out + 1] = { name = name, clips = clips }
  end
  return out
end

--- Take names of one stem: "<prompt> – drums" ("... (v2)" for variations).
function M.stem_take_names(result, stem, n)
  return numbered(M.shorten(M.label(result), M.TAKE_NAME_MAX) .. M.STEM_SEP .. stem, n)
end

--- Decide what a decoded result means. Pure: no REAPER calls.
--- out_dir resolves relative clip paths. Returns a plan:
---   {kind="insert", id, position_s (nil = edit cursor), track (parsed), track_name,
---    clips = {abs paths}, take_names, notes, duration_s,
---    stems = nil | {{name, clips, take_names}} (see stems_of)}
---   {kind="message", id, message}     error / cancelled / unusable result
function M.plan(result, out_dir, fallback_id)
  if type(result) ~= "table" then
    return { kind = "message", id = fallback_id, message = "result is not a JSON object" }
  end
  local req = request_of(result)
  local id = str(result.id) or fallback_id
  local status = str(result.status)
  if status == "error" then
    local code = str(result.code) or "error"
    local msg = str(result.message) or ""
    return { kind = "message", id = id,
             message = string.format("job %s failed (%s): %s", id, code, msg) }
  end
  if status == "cancelled" then
    return { kind = "message", id = id, message = string.format("job %s was cancelled", id) }
  end
  if status ~= "done" then
    return { kind = "message", id = id, keep = true,
             message = string.format("job %s: unknown status %q, left in place", id, tostring(status)) }
  end
  local list = json.value(result.paths)
  if type(list) ~= "table" or #list == 0 then
    return { kind = "message", id = id, message = string.format("job %s finished without clips", id) }
  end
  local clips = {}
  for i, p in ipairs(list) do
    p = tostring(p)
    if not paths.is_absolute(p) and out_dir then p = paths.join(out_dir, p) end
    clips[i] = p
  end
  local position = json.value(result.position)
  if position == nil then position = json.value(req.position) end
  position = tonumber(position)
  local track = json.value(result.track)
  if track == nil then track = json.value(req.track) end
  local stems = M.stems_of(result, out_dir)
  local notes = M.item_notes(result, clips)
  if stems then
    local names = {}
    for i, st in ipairs(stems) do
      names[i] = st.name
      st.take_names = M.stem_take_names(result, st.name, #st.clips)
    end
    notes = notes .. "\nstems: " .. table.concat(names, ", ") .. " (folder below; this mix is muted)"
  end
  return {
    kind = "insert",
    id = id,
    position_s = position,
    track = M.parse_track(track),
    track_name = M.track_name(result),
    clips = clips,
    take_names = M.take_names(result, #clips),
    notes = notes,
    duration_s = tonumber(json.value(result.duration_s)),
    stems = stems,
  }
end

--- The track a plan asks for, creating it when needed.
function M.resolve_track(r, proj, spec, new_name)
  if spec.kind == "index" then
    if spec.index <= r.CountTracks(proj) then return r.GetTrack(proj, spec.index - 1) end
    return project.insert_track(r, proj, nil, new_name)
  elseif spec.kind == "guid" then
    local _, tr = project.track_index_by_guid(r, proj, spec.guid)
    if tr then return tr end
    return project.insert_track(r, proj, nil, new_name)
  elseif spec.kind == "new_below" then
    return project.insert_track_below(r, proj, project.track_index_by_guid(r, proj, spec.guid), new_name)
  elseif spec.kind == "name" then
    local tr = project.track_by_name(r, proj, spec.name)
    if tr then return tr end
    return project.insert_track(r, proj, nil, spec.name)
  end
  return project.insert_track(r, proj, nil, new_name)
end

--- One item on `track` with a take per source. Returns the item and its takes.
local function add_item(r, track, sources, take_names, position_s, length_s, notes)
  local item = r.AddMediaItemToTrack(track)
  local takes = {}
  for i, src in ipairs(sources) do
    local take = r.AddTakeToMediaItem(item)
    -- SetMediaItemTake_Source does not destroy the source it replaces (ReaScript docs)
    local old = r.GetMediaItemTake_Source(take)
    r.SetMediaItemTake_Source(take, src)
    if old and old ~= src then r.PCM_Source_Destroy(old) end
    r.GetSetMediaItemTakeInfo_String(take, "P_NAME", take_names[i], true)
    takes[i] = take
  end
  r.SetActiveTake(takes[1])
  r.SetMediaItemInfo_Value(item, "D_POSITION", position_s)
  r.SetMediaItemInfo_Value(item, "D_LENGTH", length_s)
  r.GetSetMediaItemInfo_String(item, "P_NOTES", notes, true)
  return item, takes
end

--- The stems of a plan: a folder track named after the prompt right after `track` (after
--- all of its children when it is a folder), one child track per stem, each with an item
--- aligned with the mix. Appends the stem takes to `takes`.
local function add_stems(r, proj, plan, track, stem_sources, position_s, length_s, takes)
  local at = project.folder_end(r, proj, project.track_index(r, proj, track))
  local folder = project.insert_track(r, proj, at, plan.track_name)
  r.SetMediaTrackInfo_Value(folder, "I_FOLDERDEPTH", 1)
  for i, st in ipairs(plan.stems) do
    local tr = project.insert_track(r, proj, at + i, st.name)
    r.SetMediaTrackInfo_Value(tr, "I_FOLDERDEPTH", i == #plan.stems and -1 or 0)
    local _, stem_takes = add_item(r, tr, stem_sources[i], st.take_names, position_s, length_s,
                                   string.format("MusicGen stem: %s\n%s", st.name, plan.notes))
    for _, t in ipairs(stem_takes) do takes[#takes + 1] = t end
  end
end

--- Insert a plan's clips as one item (and its stems, see add_stems). Returns item, takes or
--- nil, message. Sources are made before anything in the project changes, so a missing file
--- leaves no half-made item; the changes themselves are one undo point.
function M.apply(r, proj, plan)
  local wanted = {}
  for _, p in ipairs(plan.clips) do wanted[#wanted + 1] = p end
  for _, st in ipairs(plan.stems or {}) do
    for _, p in ipairs(st.clips) do wanted[#wanted + 1] = p end
  end
  for _, p in ipairs(wanted) do
    if not paths.file_exists(p) then
      return nil, string.format("job %s: clip not found: %s", plan.id, p)
    end
  end
  local made = {}
  for i, p in ipairs(wanted) do
    local src = r.PCM_Source_CreateFromFile(p)
    if not src then
      for _, m in ipairs(made) do r.PCM_Source_Destroy(m) end
      return nil, string.format("job %s: REAPER cannot open %s", plan.id, p)
    end
    made[i] = src
  end
  local sources, stem_sources = {}, {}
  for i = 1, #plan.clips do sources[i] = made[i] end
  local n = #plan.clips
  for s_i, st in ipairs(plan.stems or {}) do
    stem_sources[s_i] = {}
    for c = 1, #st.clips do
      n = n + 1
      stem_sources[s_i][c] = made[n]
    end
  end
  local length_s, is_qn = r.GetMediaSourceLength(sources[1])
  if not length_s or length_s <= 0 or is_qn then length_s = plan.duration_s or 1 end
  local position_s = plan.position_s or r.GetCursorPosition()

  local item, takes
  r.Undo_BeginBlock()
  r.PreventUIRefresh(1)
  -- whatever happens inside, the undo block and the UI refresh are closed again
  local ok, err = pcall(function()
    local track = M.resolve_track(r, proj, plan.track, plan.track_name)
    item, takes = add_item(r, track, sources, plan.take_names, position_s, length_s, plan.notes)
    if plan.stems then
      add_stems(r, proj, plan, track, stem_sources, position_s, length_s, takes)
      r.SetMediaItemInfo_Value(item, "B_MUTE", 1) -- the stems play instead (they add up to it)
    end
  end)
  r.PreventUIRefresh(-1)
  r.Undo_EndBlock("MusicGen: import \"" .. M.shorten(plan.track_name, 30) .. "\"", -1)
  r.TrackList_AdjustWindows(false) -- new tracks show in the track list and the mixer
  r.UpdateArrange()
  if not ok then return nil, string.format("job %s: import failed: %s", plan.id, tostring(err)) end
  return item, takes
end

local function say(r, line)
  r.ShowConsoleMsg("MusicGen: " .. line .. "\n")
end
M.say = say

--- Move a handled result from results_dir to results_dir/imported/<name>.
local function move_done(r, results_dir, name, state)
  local imported = paths.join(results_dir, "imported")
  paths.ensure_dir(r, imported)
  local ok, err = paths.move(paths.join(results_dir, name), paths.join(imported, name))
  if not ok and not state.move_warned[name] then
    state.move_warned[name] = true
    say(r, string.format("could not move results/%s to results/imported/ (%s); "
        .. "it will not be imported again while REAPER runs", name, tostring(err)))
  end
  return ok
end

--- A fresh per-script state for process_file / scan.
function M.new_state()
  return { bad = {}, move_warned = {}, takes = {}, other = {} }
end

--- Handle one result file. Returns "imported", "message", "skipped", "bad", "failed" or
--- "other_project" (the result names another project's identity: left for that project).
--- Inserted takes are added to state.takes (for building peaks).
--- opts (all optional): results_dir (default <out_dir>/results), id (default the name less
--- ".json"), pid (the open project's identity), rejected (the file is in the daemon's
--- inbox/rejected/ folder: a file there without a status is the refused request itself,
--- and nothing there is moved, the folder is the daemon's).
function M.process_file(r, proj, out_dir, name, state, opts)
  opts = opts or {}
  if name:sub(1, 1) == "." or not name:match("%.json$") then return "skipped" end
  local results_dir = opts.results_dir or paths.results_dir(out_dir)
  local id = opts.id or name:gsub("%.json$", "")
  local function done()
    settings.mark_imported(r, id)
    identity.forget(r, proj, id)
    if not opts.rejected then move_done(r, results_dir, name, state) end
  end
  if settings.was_imported(r, id) then
    if not opts.rejected then move_done(r, results_dir, name, state) end -- a previous move failed; try again quietly
    return "skipped"
  end
  local other_key = tostring(opts.pid) .. "|" .. paths.join(results_dir, name)
  if state.other[other_key] then return "other_project" end -- known; not read again
  local text = paths.read_file(paths.join(results_dir, name))
  if not text then return "skipped" end -- vanished or unreadable for now; next poll
  local result, err = json.decode(text)
  if opts.rejected and (type(result) ~= "table" or json.value(result.status) == nil) then
    return "skipped" -- the refused request file, not a result
  end
  if type(result) ~= "table" then
    if not state.bad[name] then
      state.bad[name] = true
      say(r, string.format("results/%s is not a valid result (%s); left in place", name,
                           tostring(err or "not an object")))
    end
    return "bad"
  end
  if not identity.belongs(identity.of_result(result, json), opts.pid) then
    state.other[other_key] = true
    return "other_project"
  end
  local plan = M.plan(result, out_dir, id)
  if plan.kind == "message" then
    if plan.keep then
      if not state.bad[name] then
        state.bad[name] = true
        say(r, plan.message)
      end
      return "bad"
    end
    say(r, plan.message)
    done()
    return "message"
  end
  local item, takes = M.apply(r, proj, plan)
  if not item then
    say(r, takes .. " (result moved to results/imported/)")
    done()
    return "failed"
  end
  done()
  for _, take in ipairs(takes) do state.takes[#state.takes + 1] = { proj = proj, take = take } end
  return "imported"
end

--- Where a result of a pending request may be, in order: where the request said
--- (<its out_dir>/results/<id>.json), then, for a request the daemon refused, the inbox's
--- rejected/ folder (<inbox>/rejected/<id>.result.json, then <inbox>/rejected/<id>.json).
function M.pending_places(p, inbox)
  local places = { { results_dir = paths.results_dir(p.out_dir), name = p.id .. ".json" } }
  if inbox then
    local rejected = paths.join(inbox, "rejected")
    places[#places + 1] = { results_dir = rejected, name = p.id .. ".result.json", rejected = true }
    places[#places + 1] = { results_dir = rejected, name = p.id .. ".json", rejected = true }
  end
  return places
end

local TERMINAL = { imported = true, message = true, failed = true }

--- Import every finished result of the open project. Returns a list of {name, outcome}.
--- Nothing happens while the project is recording. Looked at: the project's own results
--- folder (when it has an output folder), and for each request the project is still
--- waiting for, where that request said its result would go (see pending_places).
--- Results naming another project's identity are left in place for that project.
function M.scan(r, state)
  local proj, file = project.current(r)
  if project.is_recording(r) then return {} end
  local s = settings.load(r)
  local out_dir = paths.out_dir(file, s)
  local pid = identity.project_id(r, proj, false)
  local outcomes = {}
  if out_dir then
    local results_dir = paths.results_dir(out_dir)
    r.EnumerateFiles(results_dir, -1) -- REAPER caches listings; -1 re-reads the folder
    local names = {}
    local i = 0
    while true do
      local name = r.EnumerateFiles(results_dir, i)
      if not name or name == "" then break end
      names[#names + 1] = name
      i = i + 1
    end
    table.sort(names)
    for _, name in ipairs(names) do
      outcomes[#outcomes + 1] = { name = name,
                                  outcome = M.process_file(r, proj, out_dir, name, state, { pid = pid }) }
    end
  end
  local inbox = settings.inbox(r, s)
  for _, p in ipairs(identity.pending(r, proj)) do
    if settings.was_imported(r, p.id) then
      identity.forget(r, proj, p.id)
    else
      for _, place in ipairs(M.pending_places(p, inbox)) do
        if paths.file_exists(paths.join(place.results_dir, place.name)) then
          local outcome = M.process_file(r, proj, p.out_dir, place.name, state, {
            results_dir = place.results_dir, id = p.id, pid = pid, rejected = place.rejected })
          outcomes[#outcomes + 1] = { name = paths.join(place.results_dir, place.name), outcome = outcome }
          if TERMINAL[outcome] then break end
        end
      end
    end
  end
  return outcomes
end

return M
