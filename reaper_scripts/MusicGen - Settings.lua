-- @noindex

-- @description MusicGen - Settings
-- @about
--   Daemon inbox folder, default length in bars, model, output folder for unsaved
--   projects and default variations, kept in REAPER's ExtState (section MusicGenBridge).
--   Part of musicgen-bridge (docs/reaper.md). Stock REAPER 6/7; no extensions needed.
--   Keep this file next to its lib/ folder.

local here = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or ""
package.path = here .. "lib/?.lua;" .. package.path

require("musicgen_actions").settings_dialog(reaper)
reaper.defer(function() end) -- no undo point: nothing in the project changed
