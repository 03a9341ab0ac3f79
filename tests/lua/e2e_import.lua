-- End-to-end driver (tests/test_reaper_e2e.py): run the real background importer against
-- the stand-in REAPER with the project <MGB_PROJECT_DIR>/E2E.rpp open, so it imports the
-- daemon's real result file. MGB_PROJECT_EXT: the project's ExtState as e2e_generate.lua
-- printed it (as if saved in and loaded from the .rpp). Prints what ended up in the project
-- as JSON.
local here = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or "./"
package.path = here .. "../../reaper_scripts/lib/?.lua;" .. here .. "?.lua;" .. package.path
local F = dofile(here .. "fixture.lua")
local json = require("musicgen_json")

local project_dir = assert(os.getenv("MGB_PROJECT_DIR"), "MGB_PROJECT_DIR")
local rs = F.Stub.new({ os = "Other", env = { HOME = project_dir } })
local proj = rs:add_project({ file = project_dir .. "/E2E.rpp", tempo = 120 })
local saved = os.getenv("MGB_PROJECT_EXT")
if saved and saved ~= "" then
  local ext = assert(json.decode(saved))
  for section, keys in pairs(ext.ext) do
    proj.ext[section] = {}
    for k, v in pairs(keys) do proj.ext[section][k] = v end
  end
  for section, order in pairs(ext.order) do
    proj.ext_order[section] = {}
    for i, k in ipairs(order) do proj.ext_order[section][i] = k end
  end
end
rs:run_script(F.script("Import results (background)"))
rs:run_deferred(20, 0.1)
rs:stop_scripts()

local tracks = json.array({})
for _, tr in ipairs(proj.tracks) do
  local items = json.array({})
  for _, it in ipairs(tr.items) do
    local takes = json.array({})
    for _, tk in ipairs(it.takes) do
      takes[#takes + 1] = { name = tk.name, file = tk.source.file, peaks_built = tk.source.peaks_built or false }
    end
    items[#items + 1] = { position = it.pos, length = it.len, notes = it.notes, takes = takes }
  end
  tracks[#tracks + 1] = { name = tr.name, items = items }
end
local undo = json.array({})
for i, u in ipairs(rs.undo_points) do undo[i] = u.desc end
local pending = json.array({})
for _, k in ipairs(proj.ext_order.MUSICGENBRIDGE or {}) do
  if k:match("^PENDING:") then pending[#pending + 1] = k end
end
io.write(json.encode({ tracks = tracks, console = rs:console_text(), undo_points = undo, pending = pending }), "\n")
