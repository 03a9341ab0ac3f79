-- @noindex

-- musicgen_project: what the MusicGen scripts read from (and add to) the REAPER project,
-- through the stock ReaScript API only (no SWS, no js_ReaScriptAPI). Every function takes
-- `r` (the `reaper` table) first, so the logic runs against a stand-in in the tests.
--
-- Units: seconds on the project timeline, seconds inside source files, REAPER's tempo in
-- quarter notes per minute.

local M = {}

--- The open project and its .rpp path ("" when never saved).
function M.current(r)
  local proj, file = r.EnumProjects(-1)
  return proj, file or ""
end

--- REAPER's tempo (quarter notes per minute) and time signature at a time.
function M.tempo_at(r, proj, time_s)
  local num, denom, tempo = r.TimeMap_GetTimeSigAtTime(proj, time_s)
  if not tempo or tempo <= 0 then tempo = r.Master_GetTempo() end
  if not num or num < 1 then num = 4 end
  if not denom or denom < 1 then denom = 4 end
  return tempo, math.tointeger(num) or 4, math.tointeger(denom) or 4
end

--- The time selection, or nil when there is none.
function M.time_selection(r)
  local s, e = r.GetSet_LoopTimeRange(false, false, 0, 0, false)
  if s and e and e - s > 1e-9 then return s, e end
  return nil
end

--- The first selected item, or nil.
function M.selected_item(r, proj)
  if r.CountSelectedMediaItems(proj) < 1 then return nil end
  return r.GetSelectedMediaItem(proj, 0)
end

function M.item_bounds(r, item)
  local pos = r.GetMediaItemInfo_Value(item, "D_POSITION")
  local len = r.GetMediaItemInfo_Value(item, "D_LENGTH")
  return pos, len
end

function M.track_guid(r, track)
  return r.GetTrackGUID(track)
end

function M.track_name(r, track)
  local _, name = r.GetSetMediaTrackInfo_String(track, "P_NAME", "", false)
  return name or ""
end

--- The file and region an audio item plays, for a continuation.
--- region: take D_STARTOFFS .. + item D_LENGTH * take D_PLAYRATE (seconds in the source).
--- Items with stretch markers (GetTakeNumStretchMarkers) are refused: offset and play rate do
--- not describe what they play.
--- Section sources (e.g. after "Item properties: section") are followed to their parent
--- file, adding the section offset; reversed sources, MIDI takes, empty items and sources
--- without a file are refused with a message that says what to do instead.
--- Returns {audio_path=, start_s=, end_s=, take=} or nil, message.
function M.audio_region(r, item)
  local take = r.GetActiveTake(item)
  if not take then
    return nil, "The selected item is empty (it has no take). Select an audio item."
  end
  if r.TakeIsMIDI(take) then
    return nil, "The selected item is MIDI. Use \"MusicGen - Melody from selected MIDI item\" "
             .. "for MIDI, or select an audio item to continue."
  end
  local length = r.GetMediaItemInfo_Value(item, "D_LENGTH")
  local startoffs = r.GetMediaItemTakeInfo_Value(take, "D_STARTOFFS")
  local playrate = r.GetMediaItemTakeInfo_Value(take, "D_PLAYRATE")
  if not playrate or playrate <= 0 then playrate = 1 end

  if r.GetTakeNumStretchMarkers(take) > 0 then
    return nil, "The selected item has stretch markers, so the audio it plays is not one stretch of "
             .. "its file. Glue the item first (Item: Glue items), then continue the glued item."
  end
  local src = r.GetMediaItemTake_Source(take)
  if not src then return nil, "The selected item has no source." end
  local offset_s = 0
  local section_len_s = nil
  local parent = r.GetMediaSourceParent(src)
  while parent do
    local ok, offs, len, rev = r.PCM_Source_GetSectionInfo(src)
    if ok and rev then
      return nil, "The selected item plays its source reversed, which cannot be continued. "
               .. "Glue the item first (Item: Glue items), then continue the glued item."
    end
    if ok then
      -- offsets of nested sections add up; the take's own (outermost) section limits
      -- how far the item may play
      if section_len_s == nil and len and len > 0 then section_len_s = len end
      offset_s = offset_s + (offs or 0)
    end
    src = parent
    parent = r.GetMediaSourceParent(src)
  end

  local file = r.GetMediaSourceFileName(src, "")
  if not file or file == "" then
    return nil, "The selected item's source has no file (in-project MIDI, a generator or "
             .. "an empty source). Glue or render it to audio first."
  end

  local start_s = startoffs
  local end_s = startoffs + length * playrate
  if section_len_s and end_s > section_len_s + 1e-6 then
    return nil, "The selected item loops a section of its source. Glue the item first "
             .. "(Item: Glue items), then continue the glued item."
  end
  start_s, end_s = start_s + offset_s, end_s + offset_s

  local src_len, is_qn = r.GetMediaSourceLength(src)
  if src_len and src_len > 0 and not is_qn then
    if start_s >= src_len then
      return nil, "The selected item starts after the end of its source file."
    end
    if end_s > src_len then end_s = src_len end -- looped or extended past the file's end
  end
  if start_s < 0 then start_s = 0 end
  if end_s - start_s < 0.05 then
    return nil, "The selected item is too short to continue."
  end
  return { audio_path = file, start_s = start_s, end_s = end_s, take = take }
end

--- The length of one pass of a MIDI take's source in PPQ, or nil when it cannot be told.
--- GetMediaSourceLength gives a MIDI source's length in quarter notes (lengthIsQN); the take's
--- PPQ per quarter note comes from MIDI_GetPPQPosFromProjQN one quarter note apart.
function M.midi_loop_ppq(r, take)
  local src = r.GetMediaItemTake_Source(take)
  if not src then return nil end
  local len, is_qn = r.GetMediaSourceLength(src)
  if not len or len <= 0 or not is_qn then return nil end
  local ppq_per_qn = r.MIDI_GetPPQPosFromProjQN(take, 1) - r.MIDI_GetPPQPosFromProjQN(take, 0)
  if not ppq_per_qn or ppq_per_qn <= 0 then return nil end
  return len * ppq_per_qn
end

--- The notes of a MIDI take in project seconds: {pitch, start_s, end_s, velocity, muted}.
--- PPQ positions are converted with MIDI_GetProjTimeFromPPQPos (tempo map aware). When the
--- item loops its source (B_LOOPSRC) and plays past one pass, the notes of every pass that
--- sounds inside the item are given (notes_to_beats clips them to the item).
function M.midi_notes(r, take, item)
  local _, note_count = r.MIDI_CountEvts(take)
  local raw = {}
  for i = 0, (note_count or 0) - 1 do
    local ok, _, muted, start_ppq, end_ppq, _, pitch, vel = r.MIDI_GetNote(take, i)
    if ok then raw[#raw + 1] = { pitch, start_ppq, end_ppq, vel, muted } end
  end
  local passes_from, passes_to, loop_ppq = 0, 0, nil
  if item and r.GetMediaItemInfo_Value(item, "B_LOOPSRC") == 1 then
    loop_ppq = M.midi_loop_ppq(r, take)
    if loop_ppq then
      local pos, len = M.item_bounds(r, item)
      -- passes before 0 sound when the take starts inside its source (start offset)
      local first_ppq = r.MIDI_GetPPQPosFromProjTime(take, pos)
      local last_ppq = r.MIDI_GetPPQPosFromProjTime(take, pos + len)
      passes_from = math.min(0, math.floor(first_ppq / loop_ppq))
      passes_to = math.max(0, math.ceil(last_ppq / loop_ppq) - 1)
    end
  end
  local notes = {}
  for pass = passes_from, passes_to do
    local shift = loop_ppq and pass * loop_ppq or 0
    for _, n in ipairs(raw) do
      notes[#notes + 1] = {
        pitch = n[1],
        start_s = r.MIDI_GetProjTimeFromPPQPos(take, n[2] + shift),
        end_s = r.MIDI_GetProjTimeFromPPQPos(take, n[3] + shift),
        velocity = n[4],
        muted = n[5],
      }
    end
  end
  return notes
end

--- True when no item on the track overlaps [start_s, end_s) (the item `except` aside).
function M.is_free(r, track, start_s, end_s, except)
  for i = 0, r.CountTrackMediaItems(track) - 1 do
    local it = r.GetTrackMediaItem(track, i)
    if it ~= except then
      local pos = r.GetMediaItemInfo_Value(it, "D_POSITION")
      local len = r.GetMediaItemInfo_Value(it, "D_LENGTH")
      if pos < end_s - 1e-6 and pos + len > start_s + 1e-6 then return false end
    end
  end
  return true
end

--- Index (0-based) of the track with this GUID, or nil.
function M.track_index_by_guid(r, proj, guid)
  for i = 0, r.CountTracks(proj) - 1 do
    local tr = r.GetTrack(proj, i)
    if r.GetTrackGUID(tr) == guid then return i, tr end
  end
  return nil
end

function M.track_by_name(r, proj, name)
  for i = 0, r.CountTracks(proj) - 1 do
    local tr = r.GetTrack(proj, i)
    if M.track_name(r, tr) == name then return tr end
  end
  return nil
end

--- Index (0-based) of a track of the project, or nil.
function M.track_index(r, proj, track)
  for i = 0, r.CountTracks(proj) - 1 do
    if r.GetTrack(proj, i) == track then return i end
  end
  return nil
end

--- The index right after the track at `index` and, when it is a folder, after all tracks
--- inside it (I_FOLDERDEPTH: 1 opens a folder, -n closes n levels). nil index: the end.
function M.folder_end(r, proj, index)
  local count = r.CountTracks(proj)
  if index == nil then return count end
  local level = r.GetMediaTrackInfo_Value(r.GetTrack(proj, index), "I_FOLDERDEPTH")
  local i = index + 1
  while level > 0 and i < count do
    level = level + r.GetMediaTrackInfo_Value(r.GetTrack(proj, i), "I_FOLDERDEPTH")
    i = i + 1
  end
  return i
end

--- Insert a track at a 0-based index (clamped), name it and return it.
function M.insert_track(r, proj, index, name)
  local count = r.CountTracks(proj)
  if index == nil or index > count then index = count end
  if index < 0 then index = 0 end
  r.InsertTrackAtIndex(index, true)
  local tr = r.GetTrack(proj, index)
  if name and name ~= "" then
    r.GetSetMediaTrackInfo_String(tr, "P_NAME", name, true)
  end
  return tr
end

--- A new track right below the track at `index` (0-based; nil: at the end), at that track's
--- level: below a folder parent it goes after the folder's last child (not inside it); below
--- the last child of a folder it stays inside that folder (it takes over the closing depth).
function M.insert_track_below(r, proj, index, name)
  if index == nil then return M.insert_track(r, proj, nil, name) end
  local src = r.GetTrack(proj, index)
  local depth = r.GetMediaTrackInfo_Value(src, "I_FOLDERDEPTH")
  if depth > 0 then return M.insert_track(r, proj, M.folder_end(r, proj, index), name) end
  local tr = M.insert_track(r, proj, index + 1, name)
  if depth < 0 then
    r.SetMediaTrackInfo_Value(tr, "I_FOLDERDEPTH", depth)
    r.SetMediaTrackInfo_Value(src, "I_FOLDERDEPTH", 0)
  end
  return tr
end

--- Is the project being recorded right now? (Imports wait until recording stops.)
function M.is_recording(r)
  local state = r.GetPlayState()
  return state ~= nil and (state & 4) ~= 0
end

return M
