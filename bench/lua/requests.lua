-- Replays a requests file round-robin: one "METHOD<TAB>PATH<TAB>END_USER<TAB>BODY" per line
-- (the same file bench/loadgen.py reads). Every request is formatted once, in init().
--
--   wrk -c16 -d5s -s bench/lua/requests.lua http://127.0.0.1:PORT -- FILE KEY MAX_PER_THREAD
--
-- done() prints one JSON line, prefixed with "BENCH_JSON ", that bench/run.py reads.
-- MAX_PER_THREAD bounds the run in count as well as in time (-d): a thread stops after that
-- many responses.

local requests = {}
local count = 0
local next_index = 1
local seen = 0
local limit = 0

local thread_index = 0
function setup(thread)
  thread:set("thread_index", thread_index)
  thread_index = thread_index + 1
end

function init(args)
  local file, key = args[1], args[2]
  limit = tonumber(args[3]) or 1000000
  for line in io.lines(file) do
    local method, path, user, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method then
      local headers = {
        ["Authorization"] = "Bearer " .. key,
        ["X-On-Behalf-Of"] = user,
      }
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      count = count + 1
      requests[count] = wrk.format(method, path, headers, body)
    end
  end
  if count == 0 then
    error("no requests in " .. file)
  end
  -- Threads start at different places of the cycle.
  next_index = ((thread_index or 0) * 7919) % count + 1
end

function request()
  local r = requests[next_index]
  next_index = next_index % count + 1
  return r
end

function response(status, headers, body)
  seen = seen + 1
  if seen >= limit then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_s":%.6f,"latency_us":{"p50":%.1f,"p90":%.1f,' ..
    '"p99":%.1f,"max":%.1f,"mean":%.1f},"errors":{"status":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.status, e.connect, e.read, e.write,
    e.timeout))
end
