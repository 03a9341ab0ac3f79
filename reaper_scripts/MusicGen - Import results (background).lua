-- @noindex

-- @description MusicGen - Import results (background)
-- @about
--   Runs in the background (reaper.defer, a scan every 0.5 s) and imports every finished
--   result of the open project (<project>/MusicGen/results/*.json): the clip(s) at the
--   requested position and track, peaks built, one undo point per import; then moves the
--   result to results/imported/. Add it to Scripts/__startup.lua to start it with REAPER,
--   so results that finished while REAPER was closed are imported when the project opens.
--   Part of musicgen-bridge (docs/reaper.md). Stock REAPER 6/7; no extensions needed.
--   Keep this file next to its lib/ folder.

local here = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or ""
package.path = here .. "lib/?.lua;" .. package.path

require("musicgen_poller").start(reaper)
