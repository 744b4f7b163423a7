-- wrk script for POST /api/v1/commands: every request is one `receive_payment` with a receipt
-- number no other request uses (RUN_TAG, the wrk thread's number and the thread's own counter),
-- for an account read from ACCOUNTS_FILE (one account number a line). The `response` hook
-- checks every status and counts the answers that say the event was appended; `done` prints
-- the totals over all threads on one line.
--
-- Arguments (after --): ACCOUNTS_FILE RUN_TAG PAID_ON [LABEL]
--
--   wrk -t2 -c16 -d15s --latency -H 'Authorization: Bearer TOKEN' \
--       -s scripts/load/payments.lua http://127.0.0.1:PORT/api/v1/commands \
--       -- accounts.txt LC1c16 2026-10-06 payments-c16

local threads = {}
local next_thread = 0

function setup(thread)
   thread:set("thread_no", next_thread)
   next_thread = next_thread + 1
   table.insert(threads, thread)
end

function init(args)
   local file = args[1]
   tag = args[2]
   paid_on = args[3]
   label = args[4] or tag
   assert(file and tag and paid_on, "arguments: ACCOUNTS_FILE RUN_TAG PAID_ON [LABEL]")
   accounts = {}
   for line in io.lines(file) do
      if line ~= "" then
         accounts[#accounts + 1] = line
      end
   end
   assert(#accounts > 0, "no account numbers in " .. file)
   sent = 0
   ok = 0
   appended = 0
   non2xx = 0
   first_error = ""
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   sent = sent + 1
   local n = sent
   -- Threads walk the accounts from different starting points.
   local account = accounts[(n * 7 + thread_no * 7919) % #accounts + 1]
   local body = string.format(
      '{"type":"receive_payment","receipt_no":"%s-%d-%d","account_no":"%s",'
         .. '"amount":"%d.%02d","paid_on":"%s","channel":"upi"}',
      tag, thread_no, n, account, 100 + n % 4900, n % 100, paid_on)
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
      if body:find('"appended":1,', 1, true) then
         appended = appended + 1
      end
   else
      non2xx = non2xx + 1
      if first_error == "" then
         first_error = status .. " " .. body:sub(1, 300):gsub("%s", " ")
      end
   end
end

function done(summary, latency, requests)
   local t = { sent = 0, ok = 0, appended = 0, non2xx = 0 }
   local first = ""
   for _, thread in ipairs(threads) do
      for k in pairs(t) do
         t[k] = t[k] + thread:get(k)
      end
      if first == "" then
         first = thread:get("first_error")
      end
   end
   -- `done` runs in wrk's main Lua state, where `init` never ran: ask a thread.
   local label = threads[1]:get("label")
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT label=%s requests=%d seconds=%.2f rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d sent=%d ok=%d appended=%d\n",
      label, summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      t.non2xx, e.connect + e.read + e.write + e.timeout, t.sent, t.ok, t.appended))
   if first ~= "" then
      io.write("first non-2xx answer: " .. first .. "\n")
   end
end
