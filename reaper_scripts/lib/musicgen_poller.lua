-- @noindex

-- musicgen_poller: the background importer. A reaper.defer loop that, every 0.5 s
-- (reaper.time_precise), scans the open project's <out_dir>/results/ and imports what
-- it finds (musicgen_import), and between scans builds the peaks of imported clips a
-- little at a time. Nothing here blocks: each defer cycle does a bounded amount of work.
--
-- Only one importer runs per REAPER: each one writes a heartbeat into the (non-persisted)
-- ExtState; a second one that finds a fresh heartbeat from another importer says so and
-- stops. The heartbeat also lets the request scripts tell the user when no importer runs.
--
-- Re-launch (REAPER 7.03+, set_action_options; older REAPERs ask the user what to do):
--   "Import results (background)" run again while it runs: it stops (a toggle, its toolbar
--     button goes dark);
--   "Import results now" run again while it still builds peaks (e.g. a second OSC nudge):
--     the running one ends and a new one imports at once. Either way it stops by itself
--     after ONCE_MAX_S of peak building (REAPER builds what is left when it draws them).
-- Neither leaves an automatic "ReaScript: Run" undo point: every path ends in a defer.

local import = require("musicgen_import")
local settings = require("musicgen_settings")

local M = {}

M.INTERVAL_S = 0.5      -- between scans of the results folder
M.HEARTBEAT_STALE_S = 3 -- an importer silent this long is considered gone
M.PEAK_STEPS_PER_CYCLE = 4
M.ONCE_MAX_S = 10       -- "Import results now" stops building peaks after this long

-- set_action_options flags (REAPER 7.03+): 1 = re-launch ends the running instance, 2 = and
-- then starts the new one.
M.RELAUNCH_STOPS = 1
M.RELAUNCH_RESTARTS = 1 | 2

local function set_relaunch(r, flags)
  if r.set_action_options then r.set_action_options(flags) end
end

--- A script that ends without a defer and without an undo block gets an automatic undo point
--- ("ReaScript: Run") although it changed nothing: one empty defer cycle avoids it.
function M.end_quietly(r)
  r.defer(function() end)
end

--- Build the peaks of imported takes a step at a time (PCM_Source_BuildPeaks: 0 = begin,
--- 1 = run, returns what is left, 2 = finish). REAPERs without it get "Peaks: Build any
--- missing peaks" (action 40047) once. Takes deleted or in a closed project are dropped.
function M.build_peaks_step(r, state)
  if #state.takes == 0 then return end
  if not r.PCM_Source_BuildPeaks then
    state.takes = {}
    r.Main_OnCommand(40047, 0)
    return
  end
  local budget = M.PEAK_STEPS_PER_CYCLE
  local keep = {}
  for _, entry in ipairs(state.takes) do
    local alive = r.ValidatePtr(entry.proj, "ReaProject*")
                  and r.ValidatePtr2(entry.proj, entry.take, "MediaItem_Take*")
    if alive then
      local src = r.GetMediaItemTake_Source(entry.take)
      if not entry.started then
        entry.started = true
        if r.PCM_Source_BuildPeaks(src, 0) ~= 0 then keep[#keep + 1] = entry end
      elseif budget > 0 then
        budget = budget - 1
        if r.PCM_Source_BuildPeaks(src, 1) == 0 then
          r.PCM_Source_BuildPeaks(src, 2)
          state.peaks_finished = true
        else
          keep[#keep + 1] = entry
        end
      else
        keep[#keep + 1] = entry
      end
    end
  end
  state.takes = keep
  if state.peaks_finished then
    state.peaks_finished = false
    r.UpdateArrange()
  end
end

function M.new_state(r)
  local state = import.new_state()
  state.owner = string.format("%.3f-%d", r.time_precise(), math.random(1, 1000000000))
  state.last_scan = nil
  return state
end

local function heartbeat(r, state)
  settings.set(r, "importer", string.format("%s|%.3f", state.owner, r.time_precise()), false)
end

--- Is another importer alive (fresh heartbeat that is not ours)?
function M.other_importer(r, state)
  local v = settings.get(r, "importer")
  if not v then return false end
  local owner, t = v:match("^(.-)|([%d%.]+)$")
  if not owner or owner == (state and state.owner) then return false end
  return r.time_precise() - tonumber(t) < M.HEARTBEAT_STALE_S
end

--- Is any importer alive? (for the request scripts' hint)
function M.importer_running(r)
  local v = settings.get(r, "importer")
  if not v then return false end
  local t = tonumber(v:match("|([%d%.]+)$"))
  return t ~= nil and r.time_precise() - t < M.HEARTBEAT_STALE_S
end

--- One defer cycle: scan when INTERVAL_S has passed (at once on the first cycle), else
--- build peaks. Returns false when this importer should stop (another one took over).
function M.tick(r, state)
  local now = r.time_precise()
  if state.last_scan == nil or now - state.last_scan >= M.INTERVAL_S then
    if M.other_importer(r, state) then return false end
    state.last_scan = now
    heartbeat(r, state)
    -- an unexpected error is reported once and the importer keeps running
    local ok, err = pcall(import.scan, r, state)
    if not ok and not state.bad[tostring(err)] then
      state.bad[tostring(err)] = true
      import.say(r, "import error: " .. tostring(err))
    end
  end
  M.build_peaks_step(r, state)
  return true
end

local function set_toggle(r, on)
  local _, _, section, cmd = r.get_action_context()
  if cmd and cmd > 0 then
    r.SetToggleCommandState(section, cmd, on and 1 or 0)
    r.RefreshToolbar2(section, cmd)
  end
end

--- Start the background importer (the "Import results (background)" action and
--- Scripts/__startup.lua). Lights its toolbar button while it runs.
function M.start(r)
  set_relaunch(r, M.RELAUNCH_STOPS)
  local state = M.new_state(r)
  if M.other_importer(r, state) then
    import.say(r, "the background importer is already running")
    M.end_quietly(r)
    return nil
  end
  set_toggle(r, true)
  r.atexit(function()
    set_toggle(r, false)
    if settings.get(r, "importer") and settings.get(r, "importer"):match("^(.-)|") == state.owner then
      settings.set(r, "importer", "", false)
    end
  end)
  local function loop()
    if M.tick(r, state) then r.defer(loop) end
  end
  loop()
  return state
end

--- Import what is there now, once (the "Import results now" action, e.g. run by the
--- daemon through REAPER's OSC control surface), then build peaks in the background for at
--- most ONCE_MAX_S and stop.
function M.run_once(r)
  set_relaunch(r, M.RELAUNCH_RESTARTS)
  local state = import.new_state()
  local outcomes = import.scan(r, state)
  local until_s = r.time_precise() + M.ONCE_MAX_S
  local function peaks()
    M.build_peaks_step(r, state)
    if #state.takes > 0 and r.time_precise() < until_s then r.defer(peaks) end
  end
  peaks()
  if #state.takes == 0 then M.end_quietly(r) end
  return outcomes
end

return M
