-- @noindex

-- musicgen_paths: folders and files for the MusicGen ReaScripts.
--
-- Where things live (docs/protocol.md, "Files"):
--   * requests: <inbox>/<id>.json, written as <id>.json.tmp and renamed (atomic);
--     <inbox> is set in "MusicGen - Settings", default <daemon state dir>/inbox per OS;
--   * clips and results: out_dir = <project folder>/MusicGen, results in <out_dir>/results,
--     imported results moved to <out_dir>/results/imported.
-- Plain Lua; the only REAPER call is RecursiveCreateDirectory, through the `r` argument.

local M = {}

--- "windows", "macos" or "linux" from reaper.GetOS() ("Win32", "Win64", "OSX32", "OSX64",
--- "macOS-arm64", "Other", "linux-x86_64", ...).
function M.os_family(os_name)
  os_name = tostring(os_name or "")
  if os_name:match("^Win") then return "windows" end
  if os_name:match("^OSX") or os_name:match("^macOS") then return "macos" end
  return "linux"
end

--- The separator a path already uses ("\\" for a Windows-only path, else "/").
function M.sep_of(path)
  if path:find("\\", 1, true) and not path:find("/", 1, true) then return "\\" end
  return "/"
end

--- Join a folder and names with the folder's own separator.
function M.join(base, ...)
  local out = base
  for _, name in ipairs({ ... }) do
    local sep = M.sep_of(out)
    if out == "" then
      out = name
    elseif out:sub(-1) == "/" or out:sub(-1) == "\\" then
      out = out .. name
    else
      out = out .. sep .. name
    end
  end
  return out
end

--- Folder part of a path ("" when there is none).
function M.dirname(path)
  local dir = path:match("^(.*)[/\\][^/\\]*$")
  if dir == nil then return "" end
  if dir == "" then return path:sub(1, 1) end -- "/song.rpp" -> "/"
  return dir
end

--- Last component of a path.
function M.basename(path)
  return path:match("([^/\\]*)$")
end

function M.is_absolute(path)
  return path:match("^[/\\]") ~= nil or path:match("^%a:[/\\]") ~= nil
end

--- The daemon's default inbox for an OS family (its default state dir + "/inbox"):
---   linux   $XDG_STATE_HOME/musicgen-bridge/inbox or ~/.local/state/musicgen-bridge/inbox
---   macos   ~/Library/Application Support/musicgen-bridge/inbox
---   windows %LOCALAPPDATA%\musicgen-bridge\inbox
--- getenv defaults to os.getenv. Returns nil when the needed variables are missing.
function M.default_inbox(os_name, getenv)
  getenv = getenv or os.getenv
  local family = M.os_family(os_name)
  local function env(name)
    local v = getenv(name)
    if v == nil or v == "" then return nil end
    return v
  end
  if family == "windows" then
    local base = env("LOCALAPPDATA")
    if not base then
      local profile = env("USERPROFILE")
      if not profile then return nil end
      base = profile .. "\\AppData\\Local"
    end
    return base .. "\\musicgen-bridge\\inbox"
  end
  if family == "macos" then
    local home = env("HOME")
    if not home then return nil end
    return home .. "/Library/Application Support/musicgen-bridge/inbox"
  end
  local state = env("XDG_STATE_HOME") -- used as the daemon uses it (bridge/config.py)
  if state then
    return M.join(state, "musicgen-bridge", "inbox")
  end
  local home = env("HOME")
  if not home then return nil end
  return M.join(home, ".local", "state", "musicgen-bridge", "inbox")
end

--- The project's folder from the .rpp path EnumProjects(-1) gives; nil when unsaved.
function M.project_dir(project_file)
  if project_file == nil or project_file == "" then return nil end
  local dir = M.dirname(project_file)
  if dir == "" then return nil end
  return dir
end

--- Where clips and results of this project go.
--- Saved project: <project folder>/MusicGen ("project"). Unsaved project: the settings'
--- fallback folder when one is set ("fallback"), else nil (the caller asks the user to save).
function M.out_dir(project_file, settings)
  local dir = M.project_dir(project_file)
  if dir then return M.join(dir, "MusicGen"), "project" end
  local fallback = settings and settings.fallback_dir or ""
  if fallback ~= "" then return fallback, "fallback" end
  return nil
end

function M.results_dir(out_dir)
  return M.join(out_dir, "results")
end

function M.imported_dir(out_dir)
  return M.join(out_dir, "results", "imported")
end

--- Create a folder and its parents (REAPER's RecursiveCreateDirectory).
function M.ensure_dir(r, path)
  r.RecursiveCreateDirectory(path, 0)
end

function M.file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function M.read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local data = f:read("a")
  f:close()
  return data
end

--- Rename src to dst; where the OS refuses to replace an existing dst (Windows), remove
--- dst first. Returns true or nil, message.
function M.move(src, dst)
  local ok, err = os.rename(src, dst)
  if ok then return true end
  if M.file_exists(dst) and M.file_exists(src) then
    os.remove(dst)
    ok, err = os.rename(src, dst)
    if ok then return true end
  end
  return nil, err
end

--- Write content to path.tmp, then rename it to path, so a reader never sees half a file.
--- Returns true or nil, message.
function M.write_atomic(path, content)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(content)
  f:close()
  if not ok then
    os.remove(tmp)
    return nil, werr
  end
  local moved, merr = M.move(tmp, path)
  if not moved then
    os.remove(tmp)
    return nil, merr
  end
  return true
end

return M
