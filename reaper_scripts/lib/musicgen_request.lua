-- @noindex

-- musicgen_request: build and check the request tables the REAPER scripts write to the
-- daemon's inbox (docs/protocol.md, "Request keys" and "Files"). Plain Lua, no REAPER calls.
--
-- Units: seconds on the project timeline (position_s, start_s, end_s, duration_s);
-- tempo_qn = REAPER's tempo in quarter notes per minute; beats = the unit of the `bpm`
-- sent with the request (see timing_for_bars: the time signature's denominator note).

local limits = require("musicgen_limits") -- generated from bridge/protocol_keys.json

local M = {}

M.LIMITS = limits
M.MAX_DURATION_S = limits.max_duration_s
M.MIN_BPM, M.MAX_BPM = limits.keys.bpm.min, limits.keys.bpm.max
M.MAX_PROMPT = limits.keys.prompt.max_chars
M.MIN_BEATS_PER_BAR, M.MAX_BEATS_PER_BAR = limits.keys.beats_per_bar.min, limits.keys.beats_per_bar.max
M.MIN_VARIATIONS, M.MAX_VARIATIONS = limits.keys.variations.min, limits.keys.variations.max

local function trim(s)
  return (tostring(s or ""):gsub("^%s+", ""):gsub("%s+$", ""))
end
M.trim = trim

--- Round to a fixed number of decimals (keeps the JSON readable: 12.5, not 12.499999999).
function M.round(x, decimals)
  local m = 10 ^ (decimals or 6)
  local v = math.floor(x * m + 0.5) / m
  if v == math.floor(v) and math.abs(v) < 2^53 then return math.tointeger(v) or v end
  return v
end

--- Parse the length field of a dialog: "4" or "2.5" = bars, "8s" / "8 s" / "8 sec" =
--- seconds, "" = not given. Returns {bars=} or {seconds=} or false (blank), or nil, message.
function M.parse_length(text)
  text = trim(text):lower()
  if text == "" then return false end
  local num, unit = text:match("^([%d%.]+)%s*(%a*)$")
  local v = tonumber(num or "")
  if not v or v <= 0 then
    return nil, "Length must be a number of bars (4) or seconds (8s)."
  end
  if unit == "" or unit == "bar" or unit == "bars" then return { bars = v } end
  if unit == "s" or unit == "sec" or unit == "secs" or unit == "seconds" then
    return { seconds = v }
  end
  return nil, "Length must be a number of bars (4) or seconds (8s)."
end

--- Tempo keys for `bars` bars at REAPER's tempo and time signature.
--- REAPER's tempo counts quarter notes; the protocol counts `beats_per_bar` beats of the
--- bpm. We send the time signature's numerator as beats_per_bar and the tempo of its
--- denominator note as bpm (6/8 at 120 qn/min -> bpm 240, 6 beats a bar), so that the
--- daemon's bars * beats_per_bar * 60 / bpm is the bar length REAPER shows. When that bpm
--- falls outside 20-400, only `duration` is sent.
--- Returns keys (to merge into a request) and duration_s (the audio length in seconds).
function M.timing_for_bars(bars, tempo_qn, num, denom)
  num = math.tointeger(num) or 4
  denom = math.tointeger(denom) or 4
  local qn_per_bar = num * 4 / denom
  local duration_s = bars * qn_per_bar * 60 / tempo_qn
  local bpm = tempo_qn * denom / 4
  if bpm >= M.MIN_BPM and bpm <= M.MAX_BPM and num >= M.MIN_BEATS_PER_BAR and num <= M.MAX_BEATS_PER_BAR then
    return { bpm = M.round(bpm, 6), bars = M.round(bars, 6), beats_per_bar = num }, duration_s
  end
  return { duration = M.round(duration_s, 6) }, duration_s
end

--- Tempo keys for a length in seconds (time selection, MIDI item): a whole number of bars
--- (within 1 ms) is sent as bars, anything else as `duration`.
function M.timing_for_seconds(seconds, tempo_qn, num, denom)
  num = math.tointeger(num) or 4
  denom = math.tointeger(denom) or 4
  local bar_s = num * 4 / denom * 60 / tempo_qn
  local bars = math.floor(seconds / bar_s + 0.5)
  if bars >= 1 and math.abs(bars * bar_s - seconds) < 0.001 then
    local keys, duration_s = M.timing_for_bars(bars, tempo_qn, num, denom)
    return keys, duration_s
  end
  return { duration = M.round(seconds, 6) }, seconds
end

--- The beats-per-minute matching timing_for_bars (denominator note per minute).
function M.bpm_for(tempo_qn, denom)
  return tempo_qn * (math.tointeger(denom) or 4) / 4
end

--- MIDI notes (seconds) -> protocol melody notes [pitch, start_beats, length_beats, velocity],
--- relative to the item start, clipped to the item, muted notes left out, sorted by time.
--- notes: list of {pitch=, start_s=, end_s=, velocity=, muted=}.
function M.notes_to_beats(notes, item_start_s, item_end_s, bpm)
  local out = {}
  local beats_per_s = bpm / 60
  for _, n in ipairs(notes) do
    local s = math.max(n.start_s, item_start_s)
    local e = math.min(n.end_s, item_end_s)
    if not n.muted and e - s > 1e-6 then
      out[#out + 1] = {
        math.tointeger(n.pitch) or math.floor(n.pitch),
        M.round((s - item_start_s) * beats_per_s, 4),
        M.round((e - s) * beats_per_s, 4),
        math.max(1, math.min(127, math.tointeger(n.velocity) or math.floor(n.velocity))),
      }
    end
  end
  table.sort(out, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  return out
end

local function merge(dst, src)
  for k, v in pairs(src or {}) do dst[k] = v end
  return dst
end

--- Keys every REAPER request carries. opts: id, project_id (the project's identity,
--- musicgen_identity), out_dir, position_s, track, prompt, model, variations, stems (true:
--- also separate into stems), timing (keys from timing_for_*).
local function base(opts)
  local req = {
    id = opts.id,
    daw = "reaper",
    out_dir = opts.out_dir,
    position = M.round(opts.position_s or 0, 6),
    track = opts.track or "new",
    prompt = trim(opts.prompt),
    project_id = opts.project_id,
  }
  if opts.model and trim(opts.model) ~= "" then req.model = trim(opts.model) end
  if opts.variations and opts.variations ~= 1 then req.variations = opts.variations end
  if opts.seed then req.seed = opts.seed end
  if opts.stems then req.stems = true end
  return merge(req, opts.timing)
end

--- A text-to-music request.
function M.generate(opts)
  local req = base(opts)
  req.action = "generate"
  return req
end

--- A continuation of audio_path from start_s to end_s (seconds in the file).
function M.continuation(opts)
  local req = base(opts)
  req.action = "continue"
  req.audio_path = opts.audio_path
  req.start = M.round(opts.start_s, 6)
  req["end"] = M.round(opts.end_s, 6)
  return req
end

--- A melody-conditioned generation: notes inline plus the bpm they are counted in.
function M.melody(opts)
  local req = base(opts)
  req.action = "generate"
  req.melody_notes = opts.notes
  req.bpm = req.bpm or M.round(opts.bpm, 6)
  return req
end

--- "Variations must be a whole number from 1 to 8." (the table's range)
function M.variations_message()
  return string.format("Variations must be a whole number from %d to %d.", M.MIN_VARIATIONS, M.MAX_VARIATIONS)
end

--- A variations count typed by the user: a whole number in the table's range, or nil.
function M.parse_variations(text)
  local n = math.tointeger(tonumber(trim(text)))
  if not n or n < M.MIN_VARIATIONS or n > M.MAX_VARIATIONS then return nil end
  return n
end

local function is_int(v) return math.type(v) == "integer" or (type(v) == "number" and v == math.floor(v)) end

--- Check a request against the protocol's ranges before it is written, so the user gets a
--- message now rather than an error result later. Returns true or nil, message.
function M.validate(req)
  if type(req.id) ~= "string" or not req.id:match("^[A-Za-z0-9._-]+$") or #req.id > 64 then
    return nil, "internal error: bad request id"
  end
  if req.project_id ~= nil and (type(req.project_id) ~= "string" or #req.project_id > 64
                                or not req.project_id:match("^[%w{}%-]+$")) then
    return nil, "internal error: bad project identity"
  end
  local prompt = trim(req.prompt)
  if #prompt > M.MAX_PROMPT then
    return nil, string.format("The prompt is too long (%d characters, at most %d).", #prompt, M.MAX_PROMPT)
  end
  if prompt == "" and req.action == "generate" and not req.melody_notes then
    return nil, "Please type a prompt (for example: warm rhodes chords, lofi)."
  end
  if req.duration ~= nil and not (req.duration > 0 and req.duration <= M.MAX_DURATION_S) then
    return nil, string.format("The length must be more than 0 and at most %d seconds (got %.1f s).",
                              M.MAX_DURATION_S, req.duration)
  end
  if req.bpm ~= nil and not (req.bpm >= M.MIN_BPM and req.bpm <= M.MAX_BPM) then
    return nil, string.format("The tempo must be %d-%d bpm (got %.2f).", M.MIN_BPM, M.MAX_BPM, req.bpm)
  end
  if req.bars ~= nil then
    if not (req.bars > 0) then return nil, "The number of bars must be greater than 0." end
    local bpb = req.beats_per_bar or limits.keys.beats_per_bar.default
    if not (type(bpb) == "number" and bpb >= M.MIN_BEATS_PER_BAR and bpb <= M.MAX_BEATS_PER_BAR) then
      return nil, string.format("The time signature needs %g-%g beats per bar.", M.MIN_BEATS_PER_BAR,
                                M.MAX_BEATS_PER_BAR)
    end
    if req.bpm then
      local d = req.bars * bpb * 60 / req.bpm
      if d > M.MAX_DURATION_S then
        return nil, string.format("%g bars at %g bpm is %.1f s; at most %d s can be generated.",
                                  req.bars, req.bpm, d, M.MAX_DURATION_S)
      end
    end
  end
  if req.variations ~= nil and not (is_int(req.variations) and req.variations >= M.MIN_VARIATIONS
                                    and req.variations <= M.MAX_VARIATIONS) then
    return nil, M.variations_message()
  end
  if not req.out_dir or req.out_dir == "" then return nil, "internal error: no output folder" end
  if req.position ~= nil and req.position < 0 then return nil, "internal error: negative position" end
  if req.action == "continue" then
    if not req.audio_path or req.audio_path == "" then return nil, "The item has no source file." end
    if not (req.start >= 0 and req["end"] > req.start) then
      return nil, "The item's region in its source file is empty."
    end
  elseif req.action ~= "generate" then
    return nil, "internal error: unknown action " .. tostring(req.action)
  end
  if req.melody_notes then
    if #req.melody_notes == 0 then return nil, "The MIDI item has no notes to use as a melody." end
    for _, n in ipairs(req.melody_notes) do
      if not (n[1] >= 0 and n[1] <= 127) then return nil, "A note's pitch is outside 0-127." end
    end
  end
  return true
end

return M
