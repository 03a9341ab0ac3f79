-- @noindex

-- musicgen_identity: which project a request belongs to, and where its result will appear.
--
-- Each project gets a persistent identity: a GUID kept in the project's own ExtState
-- (SetProjExtState, section "MusicGenBridge", key "project_id"; REAPER saves it in the .rpp,
-- so it survives "Save as", moving the project and restarts, and an unsaved project keeps
-- its identity when it is saved). Every request carries it as `project_id`; the daemon echoes
-- the request in the result (result.request.project_id), and the importer only imports
-- results of the open project (or results without an identity, from older clients).
--
-- The project also remembers each request it sent until its result is handled (key
-- "pending:<id>", value "<id>|<out_dir the request named>": ExtState keys are
-- case-insensitive, so the id is read back from the value, never from the key), so a result is found even when the
-- project's own folder changed since (unsaved project with a fallback folder, "Save as" into
-- another folder), and a request the daemon refused is reported from the inbox's rejected/
-- folder.
--
-- Plain Lua; REAPER is reached only through `r`.

local M = {}

M.SECTION = "MusicGenBridge"
M.KEY = "project_id"
M.PENDING = "pending:"

--- The project's identity; with `create`, a new GUID is made and stored when it has none.
--- Returns the GUID or nil.
function M.project_id(r, proj, create)
  local _, id = r.GetProjExtState(proj, M.SECTION, M.KEY)
  if id and id ~= "" then return id end
  if not create then return nil end
  id = r.genGuid("")
  r.SetProjExtState(proj, M.SECTION, M.KEY, id)
  return id
end

--- The identity a result names: result.project_id, else the echoed request's, else nil.
function M.of_result(result, json)
  local v = json.value(result.project_id)
  if v == nil and type(json.value(result.request)) == "table" then
    v = json.value(result.request.project_id)
  end
  if v == nil or v == "" then return nil end
  return tostring(v)
end

--- Does a result belong to the project with identity `pid`? Results without an identity
--- (older clients, the command line) belong to whichever project finds them.
function M.belongs(result_pid, pid)
  return result_pid == nil or result_pid == pid
end

--- Remember a sent request until its result is handled.
function M.remember(r, proj, id, out_dir)
  r.SetProjExtState(proj, M.SECTION, M.PENDING .. id, id .. "|" .. out_dir)
end

--- Forget a request (its result was handled). An empty value deletes the key.
--- Only an existing key is touched (setting project ExtState marks the project changed).
function M.forget(r, proj, id)
  local _, v = r.GetProjExtState(proj, M.SECTION, M.PENDING .. id)
  if v and v ~= "" then r.SetProjExtState(proj, M.SECTION, M.PENDING .. id, "") end
end

--- The requests of the project still waiting for a result: { {id=, out_dir=} }, by id.
function M.pending(r, proj)
  local out = {}
  local i = 0
  while true do
    local ok, key, val = r.EnumProjExtState(proj, M.SECTION, i)
    if not ok then break end
    if key and key:sub(1, #M.PENDING):lower() == M.PENDING and val then
      local id, out_dir = val:match("^([A-Za-z0-9._-]+)|(.+)$")
      if id then out[#out + 1] = { id = id, out_dir = out_dir } end
    end
    i = i + 1
  end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

return M
