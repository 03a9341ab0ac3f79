-- @noindex

-- @description MusicGen - Import results now
-- @about
--   Imports the open project's finished results once and stops. Meant for the daemon's
--   [reaper] import_action (run through REAPER's OSC control surface), or a toolbar button;
--   the background importer does the same every 0.5 s.
--   Part of musicgen-bridge (docs/reaper.md). Stock REAPER 6/7; no extensions needed.
--   Keep this file next to its lib/ folder.

local here = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or ""
package.path = here .. "lib/?.lua;" .. package.path

require("musicgen_poller").run_once(reaper)
