-- wrk script for GET /api/v1/offices/{code}/defaulters (the URL and the Authorization header
-- come from the wrk command line). It adds no per-request work, so wrk stays as light as it
-- can be on a machine it shares with the server; wrk itself counts statuses >= 400 and
-- socket errors, and `done` prints them with the figures on one line.
--
-- Arguments (after --): [LABEL]
--
--   wrk -t2 -c16 -d15s --latency -H 'Authorization: Bearer TOKEN' \
--       -s scripts/load/defaulters.lua http://127.0.0.1:PORT/api/v1/offices/CODE/defaulters -- list

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   label = args[1] or "defaulters"
end

function done(summary, latency, requests)
   -- `done` runs in wrk's main Lua state, where `init` never ran: ask a thread.
   local label = threads[1]:get("label")
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT label=%s requests=%d seconds=%.2f rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d bytes=%d\n",
      label, summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      e.status, e.connect + e.read + e.write + e.timeout, summary.bytes))
end
