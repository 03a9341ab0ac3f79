-- @noindex

-- musicgen_json: a small JSON encoder/decoder for the MusicGen ReaScripts.
--
-- Plain Lua 5.3/5.4 (REAPER embeds Lua 5.4); no REAPER calls. Enough JSON for the
-- request and result files of docs/protocol.md:
--   * decode: objects, arrays, strings (with \uXXXX escapes and surrogate pairs, as UTF-8),
--     numbers, true/false; null decodes to json.null (a unique sentinel) so a key that is
--     present but null can be told from a missing key.
--   * encode: tables with keys 1..n are arrays, other tables are objects (keys sorted, so
--     output is deterministic); json.array({}) marks an empty or explicit array; integers
--     are written without a fraction, floats with up to 17 significant digits (the shortest
--     of %.14g / %.17g that reads back to the same value). NaN and infinities are refused.

local M = {}

M.null = setmetatable({}, { __tostring = function() return "null" end })

local ARRAY_MT = { __musicgen_json_array = true }

--- Mark a table as a JSON array (needed for empty arrays).
function M.array(t)
  return setmetatable(t or {}, ARRAY_MT)
end

local function is_array(t)
  if getmetatable(t) == ARRAY_MT then return true end
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  if n == 0 then return false end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return true
end

local ESCAPES = {
  ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function encode_number(v)
  if v ~= v or v == math.huge or v == -math.huge then
    error("musicgen_json: cannot encode NaN or infinity", 0)
  end
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v == math.floor(v) and math.abs(v) < 2^53 then
    return string.format("%d", math.tointeger(v))
  end
  local s = string.format("%.14g", v)
  if tonumber(s) ~= v then s = string.format("%.17g", v) end
  return s
end

local encode_value

local function encode_table(t, seen)
  if seen[t] then error("musicgen_json: cannot encode a table that contains itself", 0) end
  seen[t] = true
  local out = {}
  if is_array(t) then
    for i = 1, #t do out[i] = encode_value(t[i], seen) end
    seen[t] = nil
    return "[" .. table.concat(out, ",") .. "]"
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then
      error("musicgen_json: object keys must be strings (got " .. type(k) .. ")", 0)
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do
    out[i] = encode_string(k) .. ":" .. encode_value(t[k], seen)
  end
  seen[t] = nil
  return "{" .. table.concat(out, ",") .. "}"
end

encode_value = function(v, seen)
  local ty = type(v)
  if v == nil or v == M.null then return "null"
  elseif ty == "boolean" then return v and "true" or "false"
  elseif ty == "number" then return encode_number(v)
  elseif ty == "string" then return encode_string(v)
  elseif ty == "table" then return encode_table(v, seen)
  end
  error("musicgen_json: cannot encode a " .. ty, 0)
end

--- Encode a Lua value as a JSON text.
function M.encode(v)
  return encode_value(v, {})
end

-- Decoding ---------------------------------------------------------------------------

local function decode_error(str, pos, msg)
  local line, col = 1, 1
  for i = 1, pos - 1 do
    if str:sub(i, i) == "\n" then line, col = line + 1, 1 else col = col + 1 end
  end
  error(string.format("musicgen_json: %s at line %d column %d", msg, line, col), 0)
end

local function skip_ws(str, pos)
  return str:find("[^ \t\r\n]", pos) or #str + 1
end

local function utf8_char(cp)
  return utf8.char(cp)
end

local decode_value

local function decode_string(str, pos)
  -- pos is at the opening quote
  local out, i = {}, pos + 1
  while true do
    local c = str:sub(i, i)
    if c == "" then decode_error(str, pos, "unterminated string") end
    if c == '"' then return table.concat(out), i + 1 end
    if c == "\\" then
      local e = str:sub(i + 1, i + 1)
      local simple = ({ ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f',
                        n = '\n', r = '\r', t = '\t' })[e]
      if simple then
        out[#out + 1] = simple
        i = i + 2
      elseif e == "u" then
        local hex = str:sub(i + 2, i + 5)
        if not hex:match("^%x%x%x%x$") then decode_error(str, i, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        i = i + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = str:match("^\\u(%x%x%x%x)", i)
          local lo_cp = lo and tonumber(lo, 16)
          if lo_cp and lo_cp >= 0xDC00 and lo_cp <= 0xDFFF then
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo_cp - 0xDC00)
            i = i + 6
          else
            cp = 0xFFFD
          end
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          cp = 0xFFFD
        end
        out[#out + 1] = utf8_char(cp)
      else
        decode_error(str, i, "bad escape")
      end
    elseif c:byte() < 0x20 then
      decode_error(str, i, "control character in string")
    else
      local j = str:find('["\\%c]', i)
      if not j then decode_error(str, pos, "unterminated string") end
      out[#out + 1] = str:sub(i, j - 1)
      i = j
    end
  end
end

local function decode_number(str, pos)
  local int = str:match("^-?%d+", pos)
  if not int then decode_error(str, pos, "bad number") end
  if int:match("^-?0%d") then decode_error(str, pos, "bad number (leading zero)") end
  local i = pos + #int
  local frac = str:match("^%.%d+", i) or ""
  i = i + #frac
  local exp = str:match("^[eE][-+]?%d+", i) or ""
  i = i + #exp
  local text = int .. frac .. exp
  local v
  if frac == "" and exp == "" then v = math.tointeger(tonumber(text)) end
  v = v or tonumber(text)
  if v == nil then decode_error(str, pos, "bad number") end
  return v, i
end

local function decode_array(str, pos)
  local arr, n = M.array({}), 0
  pos = skip_ws(str, pos + 1)
  if str:sub(pos, pos) == "]" then return arr, pos + 1 end
  while true do
    local v
    v, pos = decode_value(str, pos)
    n = n + 1
    arr[n] = v
    pos = skip_ws(str, pos)
    local c = str:sub(pos, pos)
    if c == "]" then return arr, pos + 1 end
    if c ~= "," then decode_error(str, pos, "expected ',' or ']'") end
    pos = skip_ws(str, pos + 1)
  end
end

local function decode_object(str, pos)
  local obj = {}
  pos = skip_ws(str, pos + 1)
  if str:sub(pos, pos) == "}" then return obj, pos + 1 end
  while true do
    if str:sub(pos, pos) ~= '"' then decode_error(str, pos, "expected a string key") end
    local k
    k, pos = decode_string(str, pos)
    pos = skip_ws(str, pos)
    if str:sub(pos, pos) ~= ":" then decode_error(str, pos, "expected ':'") end
    pos = skip_ws(str, pos + 1)
    local v
    v, pos = decode_value(str, pos)
    obj[k] = v
    pos = skip_ws(str, pos)
    local c = str:sub(pos, pos)
    if c == "}" then return obj, pos + 1 end
    if c ~= "," then decode_error(str, pos, "expected ',' or '}'") end
    pos = skip_ws(str, pos + 1)
  end
end

decode_value = function(str, pos)
  pos = skip_ws(str, pos)
  local c = str:sub(pos, pos)
  if c == "{" then return decode_object(str, pos)
  elseif c == "[" then return decode_array(str, pos)
  elseif c == '"' then return decode_string(str, pos)
  elseif c == "-" or c:match("%d") then return decode_number(str, pos)
  elseif str:sub(pos, pos + 3) == "true" then return true, pos + 4
  elseif str:sub(pos, pos + 4) == "false" then return false, pos + 5
  elseif str:sub(pos, pos + 3) == "null" then return M.null, pos + 4
  end
  decode_error(str, pos, c == "" and "unexpected end of input" or "unexpected character")
end

--- Decode a JSON text. Returns the value, or nil and an error message.
function M.decode(str)
  if type(str) ~= "string" then return nil, "musicgen_json: expected a string" end
  local ok, v, pos = pcall(decode_value, str, 1)
  if not ok then return nil, v end
  pos = skip_ws(str, pos)
  if pos <= #str then
    local ok2, err = pcall(decode_error, str, pos, "trailing characters")
    return nil, (not ok2) and err or "musicgen_json: trailing characters"
  end
  return v
end

--- A decoded value with json.null replaced by nil (a convenience for reading results).
function M.value(v)
  if v == M.null then return nil end
  return v
end

return M
