-- @description MusicGen Bridge: generate, continue and melody actions for the musicgen-bridge daemon
-- @version 0.1.0
-- @author musicgen-bridge
-- @link https://github.com/musicgen-bridge/musicgen-bridge
-- @changelog
--   Results go to the project that asked for them (project identity); looped MIDI items give
--   every pass; "Import results now" is bounded and restarts on a second nudge.
-- @provides
--   [main] MusicGen - Continue selected item.lua
--   [main] MusicGen - Melody from selected MIDI item.lua
--   [main] MusicGen - Import results (background).lua
--   [main] MusicGen - Import results now.lua
--   [main] MusicGen - Settings.lua
--   lib/*.lua
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
