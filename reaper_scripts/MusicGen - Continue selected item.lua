-- @noindex

-- @description MusicGen - Continue selected item
-- @about
--   Continues the selected audio item: the daemon gets the item's source file and the
--   region the item plays, and the continuation lands right after the item (on the same
--   track when that stretch is free, else on a new track below it).
--   Part of musicgen-bridge (docs/reaper.md). Stock REAPER 6/7; no extensions needed.
--   Keep this file next to its lib/ folder.

local here = debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or ""
package.path = here .. "lib/?.lua;" .. package.path

require("musicgen_actions").continue_item(reaper)
reaper.defer(function() end) -- no undo point: nothing in the project changed
