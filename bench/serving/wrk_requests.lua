-- wrk script for the serving benchmark (bench/serving/load.py runs it):
--   wrk -s wrk_requests.lua URL -- BODIES_FILE
-- Each request is a POST of the next JSON body from BODIES_FILE (one body per line), each
-- thread starting at another offset; at the end one line "WRK_JSON {...}" gives the summary
-- (durations and latencies in microseconds), which load.py parses.
-- wrk's scripting API: https://github.com/wg/wrk/blob/master/SCRIPTING

local bodies = {}
local next_body = 0
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  next_body = (thread_index or 0) * 7919
end

function request()
  next_body = next_body + 1
  local body = bodies[(next_body % #bodies) + 1]
  return wrk.format("POST", wrk.path, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
