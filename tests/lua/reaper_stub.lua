-- A stand-in for REAPER's `reaper` table, for running the MusicGen ReaScripts under plain
-- lua5.4. It implements only the documented ReaScript calls the scripts use, with the
-- documented Lua signatures (https://www.reaper.fm/sdk/reascript/reascripthelp.html), holds
-- a small project model (projects, tracks, items, takes, sources, MIDI notes with PPQ,
-- time selection, tempo/time signature, ExtState), records every call, and talks to the
-- real file system for files and folders (EnumerateFiles lists a real folder, with
-- REAPER's listing cache, re-read only after fileindex -1).
--
-- Anything the scripts call that is not here fails with "attempt to call a nil value", so a
-- misspelled or undocumented API call is caught.
--
-- Usage:
--   local Stub = dofile("tests/lua/reaper_stub.lua")
--   local rs = Stub.new({ os = "Other", env = { HOME = "/tmp/h" } })
--   local proj = rs:add_project({ file = "/tmp/song/song.rpp", tempo = 120 })
--   local tr = rs:add_track(proj, "Drums")
--   rs:add_item(tr, { pos = 2, len = 4, selected = true, file = "/tmp/a.wav" })
--   rs.inputs = { { true, "ambient pad\n\n\n1" } }   -- GetUserInputs answers, in order
--   rs:run_script("reaper_scripts/MusicGen - Generate at time selection.lua")
--   rs:run_deferred(10, 0.1)                          -- ten defer cycles, 0.1 s apart

local Stub = {}
Stub.__index = Stub

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Length in seconds of a WAV file (RIFF/WAVE: fmt byte rate, data size), or 0.
function Stub.wav_length(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local head = f:read(12)
  if not head or #head < 12 or head:sub(1, 4) ~= "RIFF" or head:sub(9, 12) ~= "WAVE" then
    f:close()
    return 0
  end
  local byte_rate, data_size
  while true do
    local ch = f:read(8)
    if not ch or #ch < 8 then break end
    local id, size = ch:sub(1, 4), string.unpack("<I4", ch, 5)
    if id == "fmt " then
      local fmt = f:read(size)
      byte_rate = string.unpack("<I4", fmt, 9)
      if size % 2 == 1 then f:read(1) end
    elseif id == "data" then
      data_size = size
      break
    else
      f:seek("cur", size + (size % 2))
    end
  end
  f:close()
  if not byte_rate or not data_size or byte_rate == 0 then return 0 end
  return data_size / byte_rate
end

--- Write a silent 16-bit PCM WAV of `seconds` (a real file REAPER-like code can open).
function Stub.write_wav(path, seconds, sr, channels)
  sr = sr or 32000
  channels = channels or 1
  local frames = math.floor(seconds * sr + 0.5)
  local data_size = frames * channels * 2
  local f = assert(io.open(path, "wb"))
  f:write("RIFF", string.pack("<I4", 36 + data_size), "WAVE")
  f:write("fmt ", string.pack("<I4I2I2I4I4I2I2", 16, 1, channels, sr, sr * channels * 2, channels * 2, 16))
  f:write("data", string.pack("<I4", data_size))
  f:write(string.rep("\0", data_size))
  f:close()
end

function Stub.mkdtemp()
  local p = io.popen("mktemp -d /tmp/musicgen-lua-XXXXXX")
  local dir = p:read("l")
  p:close()
  return dir
end

function Stub.rmtree(dir)
  if dir and dir:match("^/tmp/musicgen%-lua%-") then os.execute("rm -rf " .. shell_quote(dir)) end
end

function Stub.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function Stub.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

function Stub.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

function Stub.list_dir(dir)
  local names = {}
  local p = io.popen("find " .. shell_quote(dir) .. " -mindepth 1 -maxdepth 1 -type f -printf '%f\\n' 2>/dev/null | sort")
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  return names
end

-- The model ------------------------------------------------------------------------------

function Stub.new(opts)
  opts = opts or {}
  local self = setmetatable({}, Stub)
  self.os_name = opts.os or "Other"
  self.env = opts.env or {}
  self.clock = opts.clock or 1000.0
  self.calls = {}
  self.console = {}
  self.messages = {}
  self.inputs = {}
  self.dialogs = {}
  self.extstate = {}          -- [section][key] = value (this session)
  self.extstate_saved = {}    -- [section][key] = value (reaper-extstate.ini)
  self.projects = {}
  self.valid = setmetatable({}, { __mode = "k" })
  self.deferred = {}
  self.atexit_fns = {}
  self.action_options = {}    -- [script path] = set_action_options flags
  self.relaunch_dialogs = 0
  self.auto_undo_points = {}  -- scripts that ended without defer or undo block
  self.track_list_adjusted = 0
  self.undo_depth = 0
  self.undo_points = {}
  self.ui_refresh = 0
  self.mutations = {}         -- {name, undo_depth}
  self.toggles = {}
  self.commands = {}
  self.dir_cache = {}
  self.guid_counter = 0
  self.script_path = ""
  self.cmd_id = opts.cmd_id or 0
  self.api = self:make_api()
  self.current = self:add_project({ file = "" })
  return self
end

function Stub:add_project(p)
  p = p or {}
  local proj = {
    kind = "ReaProject",
    file = p.file or "",
    tempo = p.tempo or 120,
    num = p.num or 4,
    denom = p.denom or 4,
    sel_start = p.sel_start or 0,
    sel_end = p.sel_end or 0,
    cursor = p.cursor or 0,
    play_state = p.play_state or 0,
    tracks = {},
    ext = {},                 -- project ExtState: [SECTION][KEY] = value (saved in the .rpp)
    ext_order = {},           -- [SECTION] = {KEY, ...} in the order first set
    dirty = false,
  }
  self.projects[#self.projects + 1] = proj
  self.valid[proj] = true
  if p.make_current ~= false then self.current = proj end
  return proj
end

function Stub:set_current(proj) self.current = proj end

--- Close a project tab: its objects become invalid; a new empty unsaved project is opened
--- when it was the only one.
function Stub:close_project(proj)
  for i, p in ipairs(self.projects) do
    if p == proj then table.remove(self.projects, i) break end
  end
  self.valid[proj] = nil
  for _, tr in ipairs(proj.tracks) do
    self.valid[tr] = nil
    for _, it in ipairs(tr.items) do
      self.valid[it] = nil
      for _, tk in ipairs(it.takes) do self.valid[tk] = nil end
    end
  end
  if self.current == proj then
    self.current = self.projects[1] or self:add_project({ file = "" })
  end
end

function Stub:new_guid()
  self.guid_counter = self.guid_counter + 1
  return string.format("{0000AAAA-0000-0000-0000-%012d}", self.guid_counter)
end

function Stub:add_track(proj, name, index)
  local tr = { kind = "MediaTrack", proj = proj, name = name or "", guid = self:new_guid(), items = {},
               depth = 0, mute = 0 }
  self.valid[tr] = true
  if index then table.insert(proj.tracks, index + 1, tr) else proj.tracks[#proj.tracks + 1] = tr end
  return tr
end

function Stub:new_source(file, opts)
  opts = opts or {}
  local src = { kind = "PCM_source", file = file or "", type = opts.type or "WAVE",
                length = opts.length, parent = opts.parent, section = opts.section }
  if src.length == nil then src.length = Stub.wav_length(file or "") end
  self.valid[src] = true
  return src
end

--- Add an item with one take. t: pos, len, selected, file (audio) or midi = {ppq=960,
--- notes={{pitch=, s=ppq, e=ppq, vel=, muted=}}}, startoffs, playrate, source (a ready
--- source), loop.
function Stub:add_item(track, t)
  local item = { kind = "MediaItem", track = track, pos = t.pos or 0, len = t.len or 1,
                 selected = t.selected or false, takes = {}, notes = "", loop = t.loop and 1 or 0, mute = 0 }
  self.valid[item] = true
  track.items[#track.items + 1] = item
  if t.empty then return item end
  local src = t.source
  if not src then
    if t.midi then
      -- a MIDI source's length is in quarter notes (GetMediaSourceLength's lengthIsQN);
      -- midi.len_qn = one pass of the source (default: the item's length at the tempo)
      src = self:new_source("", { type = "MIDI",
                                  length = t.midi.len_qn or t.len * track.proj.tempo / 60 })
    else
      src = self:new_source(t.file or "", { length = t.src_length })
    end
  end
  local take = { kind = "MediaItem_Take", item = item, name = t.take_name or "", source = src,
                 startoffs = t.startoffs or 0, playrate = t.playrate or 1, midi = t.midi,
                 stretch_markers = t.stretch_markers or 0 }
  self.valid[take] = true
  item.takes[1] = take
  item.active = take
  return item, take
end

function Stub:proj_of(p)
  if p == nil or p == 0 then return self.current end
  return p
end

function Stub:all_items(proj)
  local out = {}
  for _, tr in ipairs(proj.tracks) do
    for _, it in ipairs(tr.items) do out[#out + 1] = it end
  end
  return out
end

function Stub:tempo_at(proj, _time)
  return proj.tempo, proj.num, proj.denom
end

--- Run a script file the way REAPER does: a fresh set of modules (each ReaScript has its
--- own Lua state), `reaper` as a global, `debug.getinfo` pointing at the file.
---
--- Re-launch: when an instance of the same script still runs (has a pending defer), what
--- set_action_options asked for happens (flag 1: the running one ends, its atexit runs; with
--- flag 2 the new one then starts, else nothing more). Without flags REAPER asks the user; the
--- stub counts that in self.relaunch_dialogs and starts a new instance.
--- A script that ends with no pending defer and no undo block of its own gets REAPER's
--- automatic undo point, recorded in self.auto_undo_points (its path).
function Stub:run_script(path)
  if self:is_running(path) then
    local flags = self.action_options[path] or 0
    if flags & 1 ~= 0 then
      self:terminate(path)
      if flags & 2 == 0 then return nil end
    else
      self.relaunch_dialogs = self.relaunch_dialogs + 1
    end
  end
  self:install_env()
  for name in pairs(package.loaded) do
    if name:match("^musicgen_") then package.loaded[name] = nil end
  end
  self.script_path = path
  self.running_script = path
  _G.reaper = self.api
  local undo_before = #self.undo_points
  local chunk = assert(loadfile(path))
  local results = table.pack(chunk())
  self.running_script = nil
  if not self:is_running(path) then
    if #self.undo_points == undo_before then
      self.auto_undo_points[#self.auto_undo_points + 1] = path
    end
    self:terminate(path) -- it ended: its atexit functions run
  end
  return table.unpack(results, 1, results.n)
end

function Stub:is_running(path)
  for _, d in ipairs(self.deferred) do
    if d.owner == path then return true end
  end
  return false
end

--- End a running script: its pending defers are dropped and its atexit functions run.
function Stub:terminate(path)
  local keep = {}
  for _, d in ipairs(self.deferred) do
    if d.owner ~= path then keep[#keep + 1] = d end
  end
  self.deferred = keep
  local fns = {}
  local rest = {}
  for _, a in ipairs(self.atexit_fns) do
    if a.owner == path then fns[#fns + 1] = a else rest[#rest + 1] = a end
  end
  self.atexit_fns = rest
  for _, a in ipairs(fns) do a.fn() end
end

--- os.getenv as the scripts see it: only the stub's env (so no test reads or writes the
--- real home folder).
function Stub:install_env()
  local env = self.env
  os.getenv = function(name) return env[name] end
end

--- Run n defer cycles, advancing time_precise by dt before each.
function Stub:run_deferred(n, dt)
  for _ = 1, n do
    self.clock = self.clock + (dt or 0.05)
    local fns = self.deferred
    self.deferred = {}
    for _, d in ipairs(fns) do
      self.running_script = d.owner
      d.fn()
      self.running_script = nil
      if not self:is_running(d.owner) then
        -- the script ended: its atexit functions run
        local rest = {}
        local mine = {}
        for _, a in ipairs(self.atexit_fns) do
          if a.owner == d.owner then mine[#mine + 1] = a else rest[#rest + 1] = a end
        end
        self.atexit_fns = rest
        for _, a in ipairs(mine) do a.fn() end
      end
    end
  end
end

--- REAPER quits (or the user terminates the scripts): deferred work is dropped, atexit runs.
function Stub:stop_scripts()
  self.deferred = {}
  local fns = self.atexit_fns
  self.atexit_fns = {}
  for _, a in ipairs(fns) do a.fn() end
  -- non-persisted ExtState lives until REAPER quits
end

--- REAPER restarts: session ExtState is replaced by what was persisted.
function Stub:restart()
  self:stop_scripts()
  local fresh = {}
  for section, keys in pairs(self.extstate_saved) do
    fresh[section] = {}
    for k, v in pairs(keys) do fresh[section][k] = v end
  end
  self.extstate = fresh
  self.dir_cache = {}
end

--- Sources still alive that no take of any project plays (leaked).
function Stub:leaked_sources()
  local used = {}
  for _, p in ipairs(self.projects) do
    for _, tr in ipairs(p.tracks) do
      for _, it in ipairs(tr.items) do
        for _, tk in ipairs(it.takes) do
          local src = tk.source
          while src do used[src] = true src = src.parent end
        end
      end
    end
  end
  local out = {}
  for obj in pairs(self.valid) do
    if type(obj) == "table" and obj.kind == "PCM_source" and not used[obj] then
      out[#out + 1] = obj
    end
  end
  return out
end

function Stub:calls_named(name)
  local out = {}
  for _, c in ipairs(self.calls) do
    if c.name == name then out[#out + 1] = c end
  end
  return out
end

function Stub:console_text()
  return table.concat(self.console)
end

-- The API ----------------------------------------------------------------------------------

function Stub:make_api()
  local S = self
  local api = {}
  local impl = {}

  local function mutate(name)
    S.mutations[#S.mutations + 1] = { name = name, undo_depth = S.undo_depth }
  end

  local function ext(section, key, store)
    store = store or S.extstate
    store[section] = store[section] or {}
    return store[section]
  end

  -- projects, time, tempo
  function impl.EnumProjects(idx)
    if idx == -1 then return S.current, S.current.file end
    local p = S.projects[idx + 1]
    if not p then return nil end
    return p, p.file
  end
  function impl.GetOS() return S.os_name end
  function impl.time_precise() return S.clock end
  function impl.GetCursorPosition() return S.current.cursor end
  function impl.GetSet_LoopTimeRange(isSet, _isLoop, start, stop, _seek)
    if isSet then S.current.sel_start, S.current.sel_end = start, stop end
    return S.current.sel_start, S.current.sel_end
  end
  function impl.Master_GetTempo() return S.current.tempo end
  function impl.TimeMap_GetTimeSigAtTime(proj, time)
    local p = S:proj_of(proj)
    local tempo, num, denom = S:tempo_at(p, time)
    return num, denom, tempo
  end
  function impl.GetPlayState() return S.current.play_state end

  -- ExtState
  function impl.GetExtState(section, key)
    return ext(section)[key] or ""
  end
  function impl.SetExtState(section, key, value, persist)
    assert(type(value) == "string", "SetExtState value must be a string")
    ext(section)[key] = value
    if persist then ext(section, key, S.extstate_saved)[key] = value end
  end
  function impl.HasExtState(section, key) return ext(section)[key] ~= nil end

  -- project ExtState: section and key are case-insensitive (kept upper-cased here, so code
  -- that reads a key back from EnumProjExtState must not rely on its case); an empty value
  -- deletes the key; setting marks the project dirty (it is saved in the .rpp).
  function impl.GetProjExtState(proj, extname, key)
    local p = S:proj_of(proj)
    local sec = p.ext[extname:upper()] or {}
    local v = sec[key:upper()] or ""
    return #v, v
  end
  function impl.SetProjExtState(proj, extname, key, value)
    assert(type(value) == "string", "SetProjExtState value must be a string")
    local p = S:proj_of(proj)
    local sname, kname = extname:upper(), key:upper()
    p.ext[sname] = p.ext[sname] or {}
    p.ext_order[sname] = p.ext_order[sname] or {}
    local sec, order = p.ext[sname], p.ext_order[sname]
    if value == "" then
      sec[kname] = nil
      for i, k in ipairs(order) do if k == kname then table.remove(order, i) break end end
    else
      if sec[kname] == nil then order[#order + 1] = kname end
      sec[kname] = value
    end
    p.dirty = true
    return 1
  end
  function impl.EnumProjExtState(proj, extname, idx)
    local p = S:proj_of(proj)
    local order = p.ext_order[extname:upper()] or {}
    local k = order[idx + 1]
    if not k then return false, "", "" end
    return true, k, p.ext[extname:upper()][k]
  end
  function impl.genGuid(_buf)
    return S:new_guid():gsub("AAAA", "BBBB")
  end
  function impl.DeleteExtState(section, key, persist)
    ext(section)[key] = nil
    if persist then ext(section, key, S.extstate_saved)[key] = nil end
  end

  -- UI
  function impl.ShowConsoleMsg(msg) S.console[#S.console + 1] = msg end
  function impl.ShowMessageBox(msg, title, kind)
    S.messages[#S.messages + 1] = { msg = msg, title = title, kind = kind }
    return 1
  end
  function impl.GetUserInputs(title, num_inputs, captions_csv, retvals_csv)
    assert(num_inputs >= 1 and num_inputs <= 16, "GetUserInputs: 1-16 fields")
    local captions = {}
    for c in (captions_csv .. ","):gmatch("([^,]*),") do
      if not c:match("^separator=") and not c:match("^extrawidth=") then captions[#captions + 1] = c end
    end
    assert(#captions == num_inputs, "GetUserInputs: " .. #captions .. " captions for " .. num_inputs .. " fields")
    S.dialogs[#S.dialogs + 1] = { title = title, n = num_inputs, captions = captions, defaults = retvals_csv }
    local answer = table.remove(S.inputs, 1)
    assert(answer, "unexpected dialog: " .. title)
    if type(answer) == "function" then return answer(title, num_inputs, captions_csv, retvals_csv) end
    return answer[1], answer[2]
  end
  function impl.UpdateArrange() end
  function impl.PreventUIRefresh(n) S.ui_refresh = S.ui_refresh + n end
  function impl.Main_OnCommand(cmd, flag) S.commands[#S.commands + 1] = { cmd = cmd, flag = flag } end
  function impl.SetToggleCommandState(section, cmd, state) S.toggles[cmd] = state return true end
  function impl.RefreshToolbar2(_section, _cmd) end
  function impl.get_action_context()
    return false, S.script_path, 0, S.cmd_id, -1, -1, -1, ""
  end
  function impl.defer(fn) S.deferred[#S.deferred + 1] = { fn = fn, owner = S.running_script } end
  function impl.atexit(fn) S.atexit_fns[#S.atexit_fns + 1] = { fn = fn, owner = S.running_script } end
  function impl.set_action_options(flag)
    assert(math.type(flag) == "integer", "set_action_options takes an integer")
    S.action_options[S.running_script or ""] = flag
  end
  function impl.TrackList_AdjustWindows(_isMinor) S.track_list_adjusted = S.track_list_adjusted + 1 end

  -- undo
  function impl.Undo_BeginBlock() S.undo_depth = S.undo_depth + 1 end
  function impl.Undo_EndBlock(desc, flags)
    assert(S.undo_depth > 0, "Undo_EndBlock without Undo_BeginBlock")
    S.undo_depth = S.undo_depth - 1
    S.undo_points[#S.undo_points + 1] = { desc = desc, flags = flags }
  end

  -- files
  function impl.RecursiveCreateDirectory(path, _ignored)
    local ok = os.execute("mkdir -p " .. shell_quote(path) .. " 2>/dev/null")
    return ok and 1 or 0
  end
  function impl.EnumerateFiles(path, fileindex)
    if fileindex == -1 then
      S.dir_cache[path] = nil
      return nil
    end
    local list = S.dir_cache[path]
    if not list then
      list = Stub.list_dir(path)
      S.dir_cache[path] = list
    end
    return list[fileindex + 1]
  end
  function impl.file_exists(path) return Stub.exists(path) end

  -- tracks
  function impl.CountTracks(proj) return #S:proj_of(proj).tracks end
  function impl.GetTrack(proj, idx) return S:proj_of(proj).tracks[idx + 1] end
  function impl.InsertTrackAtIndex(idx, _wantDefaults)
    mutate("InsertTrackAtIndex")
    local p = S.current
    if idx > #p.tracks then idx = #p.tracks end
    if idx < 0 then idx = 0 end
    S:add_track(p, "", idx)
  end
  function impl.GetTrackGUID(tr) return tr.guid end
  function impl.GetSetMediaTrackInfo_String(tr, parm, value, set)
    if parm == "P_NAME" then
      if set then mutate("track P_NAME") tr.name = value end
      return true, tr.name
    elseif parm == "GUID" then
      return true, tr.guid
    end
    error("GetSetMediaTrackInfo_String: unsupported " .. parm)
  end
  local TRACK_KEYS = { I_FOLDERDEPTH = "depth", B_MUTE = "mute" }
  function impl.GetMediaTrackInfo_Value(tr, key)
    local f = assert(TRACK_KEYS[key], "GetMediaTrackInfo_Value: unsupported " .. key)
    return tr[f]
  end
  function impl.SetMediaTrackInfo_Value(tr, key, value)
    local f = assert(TRACK_KEYS[key], "SetMediaTrackInfo_Value: unsupported " .. key)
    mutate("track " .. key)
    tr[f] = value
    return true
  end
  function impl.CountTrackMediaItems(tr) return #tr.items end
  function impl.GetTrackMediaItem(tr, idx) return tr.items[idx + 1] end

  -- items and takes
  function impl.CountSelectedMediaItems(proj)
    local n = 0
    for _, it in ipairs(S:all_items(S:proj_of(proj))) do if it.selected then n = n + 1 end end
    return n
  end
  function impl.GetSelectedMediaItem(proj, idx)
    local n = 0
    for _, it in ipairs(S:all_items(S:proj_of(proj))) do
      if it.selected then
        if n == idx then return it end
        n = n + 1
      end
    end
    return nil
  end
  function impl.GetMediaItem_Track(item) return item.track end
  local ITEM_KEYS = { D_POSITION = "pos", D_LENGTH = "len", B_LOOPSRC = "loop", B_MUTE = "mute" }
  function impl.GetMediaItemInfo_Value(item, key)
    local f = assert(ITEM_KEYS[key], "GetMediaItemInfo_Value: unsupported " .. key)
    return item[f]
  end
  function impl.SetMediaItemInfo_Value(item, key, value)
    local f = assert(ITEM_KEYS[key], "SetMediaItemInfo_Value: unsupported " .. key)
    mutate("item " .. key)
    item[f] = value
    return true
  end
  function impl.GetSetMediaItemInfo_String(item, parm, value, set)
    assert(parm == "P_NOTES", "GetSetMediaItemInfo_String: unsupported " .. parm)
    if set then mutate("item P_NOTES") item.notes = value end
    return true, item.notes
  end
  function impl.CountTakes(item) return #item.takes end
  function impl.GetTake(item, idx) return item.takes[idx + 1] end
  function impl.GetActiveTake(item) return item.active end
  function impl.SetActiveTake(take) mutate("SetActiveTake") take.item.active = take end
  function impl.TakeIsMIDI(take) return take.midi ~= nil end
  local TAKE_KEYS = { D_STARTOFFS = "startoffs", D_PLAYRATE = "playrate" }
  function impl.GetMediaItemTakeInfo_Value(take, key)
    local f = assert(TAKE_KEYS[key], "GetMediaItemTakeInfo_Value: unsupported " .. key)
    return take[f]
  end
  function impl.GetSetMediaItemTakeInfo_String(take, parm, value, set)
    assert(parm == "P_NAME", "GetSetMediaItemTakeInfo_String: unsupported " .. parm)
    if set then mutate("take P_NAME") take.name = value end
    return true, take.name
  end
  function impl.AddMediaItemToTrack(tr)
    mutate("AddMediaItemToTrack")
    local item = { kind = "MediaItem", track = tr, pos = 0, len = 0, selected = false, takes = {}, notes = "", loop = 0,
                   mute = 0 }
    S.valid[item] = true
    tr.items[#tr.items + 1] = item
    return item
  end
  function impl.AddTakeToMediaItem(item)
    mutate("AddTakeToMediaItem")
    -- a new take has an empty source of its own (SetMediaItemTake_Source does not free it)
    local take = { kind = "MediaItem_Take", item = item, name = "", startoffs = 0, playrate = 1,
                   source = S:new_source("", { type = "EMPTY", length = 0 }) }
    S.valid[take] = true
    item.takes[#item.takes + 1] = take
    if not item.active then item.active = take end
    return take
  end
  function impl.GetMediaItemTake_Source(take) return take.source end
  function impl.SetMediaItemTake_Source(take, src)
    mutate("SetMediaItemTake_Source")
    take.source = src
    return true
  end

  -- sources
  function impl.PCM_Source_CreateFromFile(filename)
    if S.unopenable and S.unopenable[filename] then return nil end
    return S:new_source(filename)
  end
  function impl.PCM_Source_Destroy(src)
    assert(S.valid[src], "PCM_Source_Destroy of an invalid source")
    S.valid[src] = nil
  end
  function impl.GetMediaSourceFileName(src, _buf) return src.file or "" end
  function impl.GetMediaSourceType(src, _buf) return src.type end
  function impl.GetMediaSourceParent(src) return src.parent end
  function impl.GetMediaSourceLength(src) return src.length or 0, src.type == "MIDI" end
  function impl.PCM_Source_GetSectionInfo(src)
    if src.section then return true, src.section.offs or 0, src.section.len or 0, src.section.rev or false end
    return false, 0, 0, false
  end
  function impl.PCM_Source_BuildPeaks(src, mode)
    if mode == 0 then
      if src.peaks_built then return 0 end
      src.peak_steps = 2
      return 1
    elseif mode == 1 then
      src.peak_steps = (src.peak_steps or 1) - 1
      return src.peak_steps > 0 and 50 or 0
    elseif mode == 2 then
      src.peaks_built = true
      return 0
    end
    error("PCM_Source_BuildPeaks: bad mode")
  end
  function impl.ValidatePtr(ptr, typename)
    return S.valid[ptr] == true and (typename:gsub("%*$", "")) == ptr.kind
  end
  function impl.ValidatePtr2(proj, ptr, typename)
    if not impl.ValidatePtr(ptr, typename) then return false end
    local p = S:proj_of(proj)
    if ptr.kind == "MediaItem_Take" then return ptr.item.track.proj == p end
    if ptr.kind == "MediaItem" then return ptr.track.proj == p end
    if ptr.kind == "MediaTrack" then return ptr.proj == p end
    return true
  end

  -- MIDI
  function impl.MIDI_CountEvts(take)
    local n = take.midi and #take.midi.notes or 0
    return n, n, 0, 0
  end
  function impl.MIDI_GetNote(take, idx)
    local n = take.midi and take.midi.notes[idx + 1]
    if not n then return false, false, false, 0, 0, 0, 0, 0 end
    return true, n.selected or false, n.muted or false, n.s, n.e, n.chan or 0, n.pitch, n.vel
  end
  -- PPQ 0 is the start of the take's source (item position less the start offset); the
  -- conversion is linear (it does not wrap at the end of a looped source).
  local function ppq_origin_s(take)
    return take.item.pos - (take.startoffs or 0)
  end
  function impl.MIDI_GetProjTimeFromPPQPos(take, ppq)
    local item = take.item
    local tempo = S:tempo_at(item.track.proj, item.pos)
    return ppq_origin_s(take) + (ppq / take.midi.ppq) * 60 / tempo
  end
  function impl.MIDI_GetPPQPosFromProjTime(take, time)
    local tempo = S:tempo_at(take.item.track.proj, take.item.pos)
    return (time - ppq_origin_s(take)) * tempo / 60 * take.midi.ppq
  end
  function impl.MIDI_GetPPQPosFromProjQN(take, qn)
    local tempo = S:tempo_at(take.item.track.proj, take.item.pos)
    return impl.MIDI_GetPPQPosFromProjTime(take, qn * 60 / tempo)
  end
  function impl.GetTakeNumStretchMarkers(take) return take.stretch_markers or 0 end

  for name, fn in pairs(impl) do
    api[name] = function(...)
      S.calls[#S.calls + 1] = { name = name, args = table.pack(...) }
      return fn(...)
    end
  end
  return api
end

return Stub
