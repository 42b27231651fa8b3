-- Rotates through the lines of a file, one per request: Bearer tokens for GET, JSON bodies for POST.
-- Usage: wrk -s bench/wrk.lua URL -- <bearer|json> <file> <path>
-- Requests are formatted once in init, so that per request wrk only picks the next one: a Lua
-- wrk.format() per request would make the load generator the bottleneck.
local requests = {}
local i = 0

function init(args)
  local kind, path = args[1], args[3]
  for line in io.lines(args[2]) do
    if kind == "bearer" then
      requests[#requests + 1] = wrk.format("GET", path, { ["Authorization"] = "Bearer " .. line })
    else
      requests[#requests + 1] = wrk.format("POST", path, { ["Content-Type"] = "application/json" }, line)
    end
  end
  i = math.random(#requests)
end

function request()
  i = i % #requests + 1
  return requests[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"non2xx":%d,"errors":%d,"p50Us":%d,"p99Us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
