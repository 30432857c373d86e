-- wrk script for bench/intake.py (run with -t1): POST every pre-built DiagnosticReport in the
-- bodies file exactly once, then go idle; when the last answer is in, print a marker line so
-- bench/intake.py can stop wrk at once instead of waiting for -d to run out.
--
-- Arguments (after "--"): bodies file (one compact JSON DiagnosticReport per line), bearer token,
-- request path, and optionally a total rate in requests/s: request k is then due at k/rate s after
-- the first (paced, open loop while a connection is free; "behind_ms" says how late the last sends
-- were, so a server that could not keep up shows). Without a rate every connection sends its next
-- report as soon as the answer to the previous one is in (closed loop).
-- done() prints one line "RADLITE_RESULT <json>" with the counts and percentiles.

local ffi_ok, ffi = pcall(require, "ffi")
local clock = nil
if ffi_ok then
  pcall(ffi.cdef, [[
    typedef struct { long tv_sec; long tv_nsec; } radlite_timespec;
    int clock_gettime(int clk_id, radlite_timespec *tp);
  ]])
  local ts = ffi.new("radlite_timespec")
  clock = function()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- per-thread state (wrk gives every thread its own Lua state)
local reqs = {}
total, sent, answered = 0, 0, 0 -- globals: done() reads them with thread:get
local verifying = true -- wrk calls request() once to check the script before connecting
local statuses = {}
t_first, t_last = -1, -1
finished = 0
status_text = ""
behind_ms = 0 -- paced: the largest delay of a send behind its schedule
local rate = 0
local t0 = nil -- paced: the schedule's start
local next_slot = 0

function init(args)
  local bodies, token, path = args[1], args[2], args[3]
  rate = tonumber(args[4] or "0") or 0
  if rate > 0 then
    if not clock then error("pacing needs LuaJIT's ffi (clock_gettime)") end
    -- defined only when pacing: wrk checks for delay() after init
    delay = function() -- called before every send, the first on each connection too
      local now = clock()
      if t0 == nil then t0 = now end
      local due = t0 + next_slot / rate
      next_slot = next_slot + 1
      local ms = (due - now) * 1000
      if ms < 1 then return 0 end
      return math.floor(ms)
    end
  end
  local headers = {
    ["Content-Type"] = "application/fhir+json",
    ["Accept"] = "application/fhir+json",
    ["Authorization"] = "Bearer " .. token,
  }
  for line in io.lines(bodies) do
    if #line > 0 then
      total = total + 1
      reqs[total] = wrk.format("POST", path, headers, line)
    end
  end
end

function request()
  if verifying then
    verifying = false
    return reqs[1]
  end
  if sent >= total then
    return "" -- nothing left: this connection stays idle
  end
  sent = sent + 1
  if clock then
    local now = clock()
    if sent == 1 then t_first = now end
    if rate > 0 and t0 ~= nil then
      local late = (now - (t0 + (sent - 1) / rate)) * 1000
      if late > behind_ms then behind_ms = late end
    end
  end
  return reqs[sent]
end

local function encode_statuses()
  local parts = {}
  for code, n in pairs(statuses) do
    table.insert(parts, string.format('"%d":%d', code, n))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  status_text = encode_statuses()
  if clock then t_last = clock() end
  if answered >= total then
    finished = 1
    io.write("RADLITE_DONE\n")
    io.stdout:flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local t = threads[1]
  local st = t:get("status_text")
  io.write(string.format(
    'RADLITE_RESULT {"total":%d,"sent":%d,"answered":%d,"finished":%d,"behind_ms":%.1f,"t_first":%.6f,"t_last":%.6f,"statuses":%s,'
    .. '"wrk_requests":%d,"wrk_duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d}}\n',
    t:get("total") or 0, t:get("sent") or 0, t:get("answered") or 0,
    t:get("finished") or 0, t:get("behind_ms") or 0, t:get("t_first") or -1, t:get("t_last") or -1,
    (st ~= nil and st ~= "") and st or "{}",
    summary.requests, summary.duration,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99)))
  io.stdout:flush()
end
