-- Project identity (musicgen_identity): results go to the project that asked for them, even
-- when two projects share a folder, when the project was unsaved or saved elsewhere since
-- the request, and when the daemon refused the request. Real action scripts and importer
-- against the stand-in REAPER, real files.
local T = dofile((debug.getinfo(1, "S").source:match("^@?(.*[/\\])") or "./") .. "testlib.lua")
local dir, root = T.dirs()
T.setup_paths(dir, root)
local F = dofile(dir .. "fixture.lua")
local Stub = F.Stub
local json = require("musicgen_json")

local function with_ctx(opts, fn)
  local ctx = F.new(opts)
  local ok, err = xpcall(fn, debug.traceback, ctx)
  ctx.cleanup()
  if not ok then error(err, 0) end
end

--- Run "Generate at time selection" with a prompt; return the request it wrote.
local function generate(ctx, prompt)
  local before = {}
  for _, q in ipairs(F.requests(ctx.inbox)) do before[q.id] = true end
  ctx.rs.inputs = { { true, prompt .. "\n2s\n\n1" } }
  ctx.run("Generate at time selection")
  T.eq(#ctx.rs.messages, 0, "no complaint")
  ctx.rs.console = {} -- only what the importer says is checked below
  for _, q in ipairs(F.requests(ctx.inbox)) do
    if not before[q.id] then return q end
  end
  error("no new request")
end

--- The daemon's side: take a request out of the inbox (it removes handled requests).
local function consume(ctx, req)
  os.remove(ctx.inbox .. "/" .. req.id .. ".json")
end

local function track_names(proj)
  local out = {}
  for i, tr in ipairs(proj.tracks) do out[i] = tr.name end
  return out
end

T.test("a request carries the project's identity, kept in the project (saved in the .rpp)", function()
  with_ctx({}, function(ctx)
    local a = generate(ctx, "first")
    local b = generate(ctx, "second")
    T.ok(type(a.project_id) == "string" and a.project_id:match("^{.+}$"), "a GUID: " .. tostring(a.project_id))
    T.eq(b.project_id, a.project_id, "one identity per project")
    local _, stored = ctx.rs.api.GetProjExtState(ctx.proj, "MusicGenBridge", "project_id")
    T.eq(stored, a.project_id, "in the project's ExtState")
    -- another project gets its own
    local other = ctx.rs:add_project({ file = ctx.tmp .. "/Other/Other.rpp" })
    os.execute("mkdir -p '" .. ctx.tmp .. "/Other'")
    local c = generate(ctx, "third")
    T.ok(c.project_id ~= a.project_id, "a different project, a different identity")
    T.eq(ctx.rs.current, other)
  end)
end)

T.test("two projects saved in one folder: each imports only its own results", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    local proj_a = ctx.proj
    local req_a = generate(ctx, "song a pad")
    local proj_b = rs:add_project({ file = ctx.song_dir .. "/B.rpp" })
    local req_b = generate(ctx, "song b drums")
    T.eq(req_a.out_dir, req_b.out_dir, "same folder, same MusicGen/ folder")
    consume(ctx, req_a) consume(ctx, req_b)
    F.write_result(req_a.out_dir, F.done_for(req_a, 1, 1), 2.0)
    F.write_result(req_b.out_dir, F.done_for(req_b, 1, 2), 2.0)

    rs:set_current(proj_a)
    ctx.run("Import results now")
    T.eq(track_names(proj_a), { "song a pad" }, "A gets only its own clip")
    T.eq(#proj_b.tracks, 0)
    T.ok(Stub.exists(ctx.results .. "/" .. req_b.id .. ".json"), "B's result is left for B")
    T.eq(rs:console_text(), "", "nothing to say about another project's result")

    rs:set_current(proj_b)
    ctx.run("Import results now")
    T.eq(track_names(proj_b), { "song b drums" })
    T.eq(track_names(proj_a), { "song a pad" }, "A unchanged")
    T.ok(Stub.exists(ctx.results .. "/imported/" .. req_b.id .. ".json"))
  end)
end)

T.test("one background importer, two projects of one folder in two tabs", function()
  with_ctx({}, function(ctx)
    local rs = ctx.rs
    local proj_a = ctx.proj
    local req_a = generate(ctx, "tab a")
    local proj_b = rs:add_project({ file = ctx.song_dir .. "/B.rpp" })
    local req_b = generate(ctx, "tab b")
    consume(ctx, req_a) consume(ctx, req_b)
    rs:set_current(proj_a)
    ctx.run("Import results (background)")
    F.write_result(req_b.out_dir, F.done_for(req_b, 1, 2), 2.0)
    F.write_result(req_a.out_dir, F.done_for(req_a, 1, 1), 2.0)
    rs:run_deferred(10, 0.1)
    T.eq(track_names(proj_a), { "tab a" })
    T.eq(#proj_b.tracks, 0, "B's result waits for B's tab")
    rs:set_current(proj_b)
    rs:run_deferred(10, 0.1)
    T.eq(track_names(proj_b), { "tab b" })
    T.eq(track_names(proj_a), { "tab a" })
  end)
end)

T.test("a result without an identity (older clients) is imported as before", function()
  with_ctx({}, function(ctx)
    local r = { id = "cli-1", status = "done", paths = { ctx.out_dir .. "/x.wav" }, prompt = "old",
                seed = 1, duration_s = 1, position = 0, track = "new" }
    F.write_result(ctx.out_dir, r, 1.0)
    ctx.run("Import results now")
    T.eq(track_names(ctx.proj), { "old" })
  end)
end)

T.test("unsaved project (fallback folder), saved before the result arrives: still imported", function()
  with_ctx({ saved = false }, function(ctx)
    local fb = ctx.tmp .. "/fallback"
    ctx.rs.extstate.MusicGenBridge.fallback_dir = fb
    local req = generate(ctx, "late pad")
    T.eq(req.out_dir, fb)
    consume(ctx, req)
    -- the user saves the project into Song/ (the ExtState goes into the .rpp with it)
    ctx.proj.file = ctx.song_dir .. "/Song.rpp"
    ctx.run("Import results (background)")
    T.eq(#ctx.proj.tracks, 0, "nothing yet")
    F.write_result(fb, F.done_for(req, 1, 4), 2.0)
    ctx.rs:run_deferred(8, 0.1)
    T.eq(track_names(ctx.proj), { "late pad" }, "found where the request said it would be")
    T.ok(Stub.exists(fb .. "/results/imported/" .. req.id .. ".json"), "moved to that folder's imported/")
    local _, pending = ctx.rs.api.GetProjExtState(ctx.proj, "MusicGenBridge", "pending:" .. req.id)
    T.eq(pending, "", "no longer waiting for it")
    ctx.rs:run_deferred(8, 0.1)
    T.eq(#ctx.proj.tracks, 1, "imported once")
  end)
end)

T.test("'Save as' into another folder before the result arrives: still imported", function()
  with_ctx({}, function(ctx)
    local req = generate(ctx, "moved song")
    consume(ctx, req)
    os.execute("mkdir -p '" .. ctx.tmp .. "/Elsewhere'")
    ctx.proj.file = ctx.tmp .. "/Elsewhere/Song v2.rpp"
    F.write_result(req.out_dir, F.done_for(req, 1, 5), 2.0)
    ctx.run("Import results now")
    T.eq(track_names(ctx.proj), { "moved song" })
    T.ok(Stub.exists(ctx.results .. "/imported/" .. req.id .. ".json"))
  end)
end)

T.test("the pending list survives a REAPER restart (it is in the project)", function()
  with_ctx({ saved = false }, function(ctx)
    local fb = ctx.tmp .. "/fallback"
    ctx.rs.extstate.MusicGenBridge.fallback_dir = fb
    ctx.rs.extstate_saved.MusicGenBridge = { inbox_dir = ctx.inbox, fallback_dir = fb }
    local req = generate(ctx, "after restart")
    consume(ctx, req)
    ctx.proj.file = ctx.song_dir .. "/Song.rpp"
    ctx.rs:restart()
    F.write_result(fb, F.done_for(req, 1, 6), 2.0)
    ctx.run("Import results now")
    T.eq(track_names(ctx.proj), { "after restart" })
  end)
end)

T.test("a request the daemon refused: its error result in <inbox>/rejected/ is reported once", function()
  for _, result_name in ipairs({ "%s.result.json", "%s.json" }) do
    with_ctx({}, function(ctx)
      local req = generate(ctx, "refused")
      -- the daemon moves the request to rejected/ and writes its error result there
      local rejected = ctx.inbox .. "/rejected"
      os.execute("mkdir -p '" .. rejected .. "'")
      local name = string.format(result_name, req.id)
      if name ~= req.id .. ".json" then
        assert(os.rename(ctx.inbox .. "/" .. req.id .. ".json", rejected .. "/" .. req.id .. ".json"))
      else
        consume(ctx, req)
      end
      Stub.write(rejected .. "/" .. name, json.encode({
        id = req.id, status = "error", code = "bad_request", message = "unknown key 'x'", request = req }))
      ctx.run("Import results (background)")
      ctx.rs:run_deferred(10, 0.2)
      local text = ctx.rs:console_text()
      T.contains(text, "job " .. req.id .. " failed (bad_request): unknown key 'x'")
      local _, n = text:gsub("failed %(bad_request%)", "")
      T.eq(n, 1, "reported once")
      T.eq(#ctx.proj.tracks, 0)
      T.ok(Stub.exists(rejected .. "/" .. name), "the daemon's rejected/ folder is left as it is")
    end)
  end
end)

T.test("the refused request file alone in rejected/ is not taken for a result", function()
  with_ctx({}, function(ctx)
    local req = generate(ctx, "refused quietly")
    local rejected = ctx.inbox .. "/rejected"
    os.execute("mkdir -p '" .. rejected .. "'")
    assert(os.rename(ctx.inbox .. "/" .. req.id .. ".json", rejected .. "/" .. req.id .. ".json"))
    ctx.run("Import results now")
    T.eq(ctx.rs:console_text(), "")
    T.eq(#ctx.proj.tracks, 0)
  end)
end)

T.run()
