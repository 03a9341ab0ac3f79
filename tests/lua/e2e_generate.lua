-- End-to-end driver (tests/test_reaper_e2e.py): run the real "Generate at time selection"
-- action against the stand-in REAPER so it writes a real request into the daemon's inbox.
-- Environment: MGB_PROJECT_DIR (a folder; the project is <it>/E2E.rpp), MGB_INBOX (the
-- daemon's inbox), MGB_PROMPT. Prints {"id", "out_dir", "position", "request", "project_ext"}
-- as JSON; project_ext is the project's ExtState (what REAPER saves in the .rpp), which
-- e2e_import.lua gives back to the project it opens.
local here = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or "./"
package.path = here .. "../../reaper_scripts/lib/?.lua;" .. here .. "?.lua;" .. package.path
local F = dofile(here .. "fixture.lua")
local json = require("musicgen_json")

local project_dir = assert(os.getenv("MGB_PROJECT_DIR"), "MGB_PROJECT_DIR")
local inbox = assert(os.getenv("MGB_INBOX"), "MGB_INBOX")
local prompt = os.getenv("MGB_PROMPT") or "e2e test tone"

local rs = F.Stub.new({ os = "Other", env = { HOME = project_dir } })
local proj = rs:add_project({ file = project_dir .. "/E2E.rpp", tempo = 120, num = 4, denom = 4,
                 sel_start = 2, sel_end = 4, cursor = 0 })
rs.extstate.MusicGenBridge = { inbox_dir = inbox }
rs.inputs = { { true, prompt .. "\n\n\n1" } }
rs:run_script(F.script("Generate at time selection"))
assert(#rs.messages == 0, "the action complained: " .. (rs.messages[1] and rs.messages[1].msg or ""))
local reqs = F.requests(inbox)
assert(#reqs == 1, "expected one request in the inbox, found " .. #reqs)
local req = reqs[1]
io.write(json.encode({ id = req.id, out_dir = req.out_dir, position = req.position, request = req,
                       project_ext = { ext = proj.ext, order = proj.ext_order } }), "\n")
