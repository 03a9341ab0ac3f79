-- @noindex

-- musicgen_settings: the MusicGen ReaScripts' settings, kept in REAPER's ExtState
-- (section "MusicGenBridge", persisted in reaper-extstate.ini).
--
--   inbox_dir      the daemon's inbox folder ("" = the daemon's default for this OS)
--   default_bars   default length in bars when there is no time selection
--   model          model sent with requests ("" = whatever the daemon has loaded); a name
--                  from the daemon's models list (<inbox>/models.txt, shown by the Settings
--                  action); other than the loaded model only when the daemon runs with
--                  switch_models (then it loads when the job's turn comes), else unknown_model
--   fallback_dir   output folder for unsaved projects ("" = ask the user to save first)
--   variations     default number of variations (1-8)
--   stems          1 = ask for stems too: each result also lands as a folder of drums, bass,
--                  other, vocals tracks (the daemon needs its [stems] extra; docs/stems.md)
--
-- Also process-wide state shared by the scripts: the request-id counter (persisted), the
-- importer's heartbeat and the ids imported this session (not persisted).

local paths = require("musicgen_paths")
local request = require("musicgen_request")

local M = {}

M.SECTION = "MusicGenBridge"

M.DEFAULTS = {
  inbox_dir = "",
  default_bars = 4,
  model = "",
  fallback_dir = "",
  variations = 1,
  stems = 0,
}

local NUMERIC = { default_bars = true, variations = true, stems = true }

--- Read the settings (defaults for what was never set).
function M.load(r)
  local s = {}
  for key, default in pairs(M.DEFAULTS) do
    local raw = r.GetExtState(M.SECTION, key)
    if raw == nil or raw == "" then
      s[key] = default
    elseif NUMERIC[key] then
      s[key] = tonumber(raw) or default
    else
      s[key] = raw
    end
  end
  return s
end

--- Store the settings (persisted across REAPER restarts).
function M.save(r, s)
  for key in pairs(M.DEFAULTS) do
    local v = s[key]
    if v == nil then v = M.DEFAULTS[key] end
    r.SetExtState(M.SECTION, key, tostring(v), true)
  end
end

--- The inbox folder requests are written to: the setting, else the daemon's default.
function M.inbox(r, s)
  if s.inbox_dir and s.inbox_dir ~= "" then return s.inbox_dir end
  return paths.default_inbox(r.GetOS())
end

--- The daemon's models list (<inbox>/models.txt: "name<TAB>melody<TAB>stereo<TAB>size_mb<TAB>loaded"
--- lines, # comments). Returns a list of {name, melody, stereo, size_mb, loaded}; {} when absent.
function M.read_models(path)
  local data = paths.read_file(path)
  local out = {}
  if not data then return out end
  for line in (data .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local name, melody, stereo, size, loaded = line:match("^([^\t]+)\t(%d)\t(%d)\t([^\t]*)\t(%d)$")
      if name then
        out[#out + 1] = { name = name, melody = melody == "1", stereo = stereo == "1",
                          size_mb = tonumber(size) or 0, loaded = loaded == "1" }
      end
    end
  end
  return out
end

--- The models list as console lines, shown before the settings dialog.
function M.models_text(models)
  local lines = { "MusicGen: models the daemon can load (type one into the Model field; blank = the loaded one):" }
  for _, m in ipairs(models) do
    local tags = {}
    if m.melody then tags[#tags + 1] = "melody" end
    if m.stereo then tags[#tags + 1] = "stereo" end
    if m.size_mb > 0 then tags[#tags + 1] = string.format("%.0f MB", m.size_mb) end
    if m.loaded then tags[#tags + 1] = "loaded now" end
    lines[#lines + 1] = "  " .. m.name .. (#tags > 0 and ("  (" .. table.concat(tags, ", ") .. ")") or "")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- The settings dialog (GetUserInputs; fields separated by newlines so paths may hold commas).

M.FORM_CAPTIONS = table.concat({
  "Daemon inbox folder (blank = default)",
  "Default length in bars",
  "Model (blank = daemon's; see console list)",
  "Output folder for unsaved projects",
  "Variations (1-8)",
  "Stems: 1 = also drums/bass/... tracks",
  "separator=\n",
  "extrawidth=320",
}, ",")

M.FORM_FIELDS = 6

function M.form_defaults(s)
  return table.concat({
    s.inbox_dir, tostring(s.default_bars), s.model, s.fallback_dir, tostring(s.variations),
    tostring(s.stems or 0),
  }, "\n")
end

local function trim(v)
  return (tostring(v or ""):gsub("^%s+", ""):gsub("%s+$", ""))
end
M.trim = trim

--- Split a GetUserInputs answer (newline separated) into exactly n fields.
function M.split_fields(answer, n)
  local fields = {}
  for field in (tostring(answer or "") .. "\n"):gmatch("([^\n]*)\n") do
    fields[#fields + 1] = field
  end
  for i = #fields + 1, n do fields[i] = "" end
  return fields
end

--- Parse the settings dialog's answer. Returns a settings table or nil, message.
function M.parse_form(answer)
  local f = M.split_fields(answer, M.FORM_FIELDS)
  local s = {
    inbox_dir = trim(f[1]),
    model = trim(f[3]),
    fallback_dir = trim(f[4]),
  }
  local bars = tonumber(trim(f[2]))
  if not bars or bars <= 0 or bars > 256 then
    return nil, "Default length must be a number of bars greater than 0 (for example 4)."
  end
  s.default_bars = bars
  local variations = request.parse_variations(f[5])
  if not variations then return nil, request.variations_message() end
  s.variations = variations
  local stems = trim(f[6])
  if stems == "" then stems = "0" end
  if stems ~= "0" and stems ~= "1" then
    return nil, "Stems must be 0 (off) or 1 (also import drums, bass, other and vocals tracks)."
  end
  s.stems = tonumber(stems)
  if s.inbox_dir ~= "" and not paths.is_absolute(s.inbox_dir) then
    return nil, "The inbox folder must be a full path (or blank for the default)."
  end
  if s.fallback_dir ~= "" and not paths.is_absolute(s.fallback_dir) then
    return nil, "The output folder must be a full path (or blank)."
  end
  return s
end

-- Process-wide state ------------------------------------------------------------------

function M.get(r, key)
  local v = r.GetExtState(M.SECTION, key)
  if v == nil or v == "" then return nil end
  return v
end

function M.set(r, key, value, persist)
  r.SetExtState(M.SECTION, key, tostring(value), persist and true or false)
end

--- A new request id, "rpr-<unix time>-<counter>" (counter persisted, so ids stay unique
--- across restarts and across scripts).
function M.next_id(r, now)
  local counter = (tonumber(M.get(r, "id_counter")) or 0) + 1
  M.set(r, "id_counter", counter, true)
  return string.format("rpr-%d-%d", math.floor(now or os.time()), counter)
end

--- Remember that a result was imported (this REAPER session), so it is never imported
--- twice even if moving its file away failed.
function M.mark_imported(r, id)
  M.set(r, "imported:" .. id, "1", false)
end

function M.was_imported(r, id)
  return M.get(r, "imported:" .. id) ~= nil
end

return M
