-- @description MusicGen - Generate at time selection
-- @about
--   Asks for a prompt (and optionally length, model, variations) and sends a request to
--   the musicgen-bridge daemon. Length: the time selection, else bars at the project tempo.
--   The clip lands on a new track named after the prompt, at the selection start (or the
--   edit cursor), once the background importer sees the result.
--   Part of musicgen-bridge (docs/reaper.md). Stock REAPER 6/7; no extensions needed.
--   Keep this file next to its lib/ folder.

local here = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or ""
package.path = here .. "lib/?.lua;" .. package.path

require("musicgen_actions").generate(reaper)
reaper.defer(function() end) -- no undo point: nothing in the project changed
