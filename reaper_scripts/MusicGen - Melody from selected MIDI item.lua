-- @noindex

-- @description MusicGen - Melody from selected MIDI item
-- @about
--   Sends the selected MIDI item's notes (in beats, with the tempo) as the melody of a
--   melody-model generation. The clip lands at the item's position on a new track below
--   the MIDI track. Needs the daemon to run a melody model.
--   Part of musicgen-bridge (docs/reaper.md). Stock REAPER 6/7; no extensions needed.
--   Keep this file next to its lib/ folder.

local here = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or ""
package.path = here .. "lib/?.lua;" .. package.path

require("musicgen_actions").melody(reaper)
reaper.defer(function() end) -- no undo point: nothing in the project changed
