-- A tiny test runner for the Lua tests (no dependencies beyond lua5.4).
-- Each test file: local T = dofile(<dir> .. "testlib.lua"); T.test("name", fn) ...; T.run()
-- Exit status 1 when a test fails, so pytest (tests/test_reaper_scripts.py) sees it.

local T = { tests = {} }

--- Folder of the calling test file, and the repository root (two levels up).
function T.dirs()
  local src = debug.getinfo(2, "S").source:match("^@?(.*)$")
  local dir = src:match("^(.*[/\\])") or "./"
  local root = dir .. "../../"
  return dir, root
end

--- Make the MusicGen library and the test helpers loadable.
function T.setup_paths(dir, root)
  package.path = root .. "reaper_scripts/lib/?.lua;" .. dir .. "?.lua;" .. package.path
end

function T.test(name, fn)
  T.tests[#T.tests + 1] = { name = name, fn = fn }
end

local function show(v, depth)
  depth = depth or 0
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" or depth > 3 then return tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. show(v[k], depth + 1) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
T.show = show

local function deep_eq(a, b)
  if rawequal(a, b) then return true end
  if type(a) == "number" and type(b) == "number" then return math.abs(a - b) <= 1e-9 * math.max(1, math.abs(a)) end
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
T.deep_eq = deep_eq

function T.eq(actual, expected, msg)
  if not deep_eq(actual, expected) then
    error(string.format("%s\n  expected: %s\n  actual:   %s", msg or "values differ", show(expected), show(actual)), 2)
  end
end

function T.near(actual, expected, tol, msg)
  if type(actual) ~= "number" or math.abs(actual - expected) > (tol or 1e-6) then
    error(string.format("%s: expected %s (+-%s), got %s", msg or "not near", tostring(expected), tostring(tol or 1e-6), tostring(actual)), 2)
  end
end

function T.ok(v, msg)
  if not v then error(msg or "expected a true value", 2) end
  return v
end

function T.contains(haystack, needle, msg)
  if type(haystack) ~= "string" or not haystack:find(needle, 1, true) then
    error(string.format("%s: %q not found in %q", msg or "missing text", needle, tostring(haystack)), 2)
  end
end

function T.run()
  local failed = 0
  for _, t in ipairs(T.tests) do
    local ok, err = xpcall(t.fn, debug.traceback)
    if ok then
      io.write("ok   ", t.name, "\n")
    else
      failed = failed + 1
      io.write("FAIL ", t.name, "\n", tostring(err), "\n")
    end
  end
  io.write(string.format("%d tests, %d failed\n", #T.tests, failed))
  os.exit(failed == 0 and 0 or 1)
end

return T
