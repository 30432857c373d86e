-- wrk script for bench/intake.py (run with -t1): POST every pre-built DiagnosticReport in the
-- bodies file exactly once, then go idle; when the last answer is in, print a marker line so
-- bench/intake.py can stop wrk at once instead of waiting for -d to run out.
--
-- Arguments (after "--"): bodies file (one compact JSON DiagnosticReport per line), bearer token,
-- request path. done() prints one line "RADLITE_RESULT <json>" with the counts and percentiles.

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

function init(args)
  local bodies, token, path = args[1], args[2], args[3]
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
  if sent == 1 and clock then t_first = clock() end
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
    'RADLITE_RESULT {"total":%d,"sent":%d,"answered":%d,"finished":%d,"t_first":%.6f,"t_last":%.6f,"statuses":%s,'
    .. '"wrk_requests":%d,"wrk_duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d}}\n',
    t:get("total") or 0, t:get("sent") or 0, t:get("answered") or 0,
    t:get("finished") or 0, t:get("t_first") or -1, t:get("t_last") or -1,
    (st ~= nil and st ~= "") and st or "{}",
    summary.requests, summary.duration,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99)))
  io.stdout:flush()
end
