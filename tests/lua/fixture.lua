-- Shared set-up for the REAPER-facing Lua tests: a stand-in REAPER, a temp folder with a
-- saved project (<tmp>/Song/Song.rpp), the daemon's inbox (<tmp>/state/inbox) set in the
-- settings, and helpers to read requests and write results like the daemon would.
local Stub = dofile((debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or "./") .. "reaper_stub.lua")
local json = require("musicgen_json")

local F = {}
F.Stub = Stub

local here = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or "./"
F.scripts = here .. "../../reaper_scripts/"

function F.script(name)
  return F.scripts .. "MusicGen - " .. name .. ".lua"
end

--- opts: tempo, num, denom, sel_start, sel_end, cursor, saved (default true), inbox (default
--- set), os, env.
function F.new(opts)
  opts = opts or {}
  local ctx = {}
  ctx.tmp = Stub.mkdtemp()
  ctx.rs = Stub.new({ os = opts.os or "Other", env = opts.env or { HOME = ctx.tmp .. "/home" } })
  ctx.song_dir = ctx.tmp .. "/Song"
  os.execute("mkdir -p '" .. ctx.song_dir .. "'")
  ctx.proj = ctx.rs:add_project({
    file = opts.saved == false and "" or (ctx.song_dir .. "/Song.rpp"),
    tempo = opts.tempo, num = opts.num, denom = opts.denom,
    sel_start = opts.sel_start, sel_end = opts.sel_end, cursor = opts.cursor,
  })
  ctx.out_dir = ctx.song_dir .. "/MusicGen"
  ctx.results = ctx.out_dir .. "/results"
  ctx.inbox = ctx.tmp .. "/state/inbox"
  if opts.inbox ~= false then
    ctx.rs.extstate.MusicGenBridge = { inbox_dir = ctx.inbox }
  end
  function ctx.run(name) return ctx.rs:run_script(F.script(name)) end
  function ctx.cleanup() Stub.rmtree(ctx.tmp) end
  return ctx
end

--- The requests in an inbox, decoded, in file-name order; also checks no .tmp is left.
--- (models.txt is the daemon's models list, written there for the Settings action.)
function F.requests(inbox)
  local out = {}
  for _, name in ipairs(Stub.list_dir(inbox)) do
    if name == "models.txt" then goto continue end
    assert(not name:match("%.tmp$"), "a .tmp file was left in the inbox: " .. name)
    assert(name:match("^rpr%-%d+%-%d+%.json$"), "unexpected inbox file " .. name)
    local req = assert(json.decode(Stub.read(inbox .. "/" .. name)))
    assert(req.id .. ".json" == name, "file name is <id>.json")
    out[#out + 1] = req
    ::continue::
  end
  return out
end

--- Write a finished result like the daemon: clips first (silent WAVs of `seconds`), then
--- <out_dir>/results/<id>.json via a temporary name and a rename.
function F.write_result(out_dir, result, seconds)
  os.execute("mkdir -p '" .. out_dir .. "/results'")
  if result.status == "done" and seconds then
    for _, p in ipairs(result.paths) do Stub.write_wav(p, seconds, 32000, 1) end
  end
  local final = out_dir .. "/results/" .. result.id .. ".json"
  local tmp = out_dir .. "/results/." .. result.id .. ".json.partial"
  Stub.write(tmp, json.encode(result))
  assert(os.rename(tmp, final))
  return final
end

--- The daemon's answer to a request: a done result echoing position/track/prompt.
function F.done_for(req, n, seed)
  local paths = {}
  for i = 1, n or 1 do
    paths[i] = string.format("%s/%s_20261125-101500_s%d%s.wav", req.out_dir,
                             (req.prompt ~= "" and req.prompt or "clip"):gsub("[^%w]+", "-"):lower(),
                             seed or 3, (n or 1) > 1 and ("_v" .. i) or "")
  end
  return {
    id = req.id, status = "done", paths = paths, prompt = req.prompt, seed = seed or 3,
    duration_s = req.duration or 2, sr = 32000, position = req.position, track = req.track,
    daw = "reaper", action = req.action, request = req,
  }
end

return F
