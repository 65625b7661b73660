-- Token requests that fill a zone. Stops once BENCH_FILL_TARGET tokens were
-- issued (0: no target), or once BENCH_FILL_STOP_503 answers were 503 (the
-- zone is full: every request answered before the first 503 was counted by
-- then). Writes every BENCH_SAMPLE_EVERY-th token to BENCH_SAMPLE_FILE.
-- A stopped thread does not end wrk before its -d: the script creates the
-- file BENCH_STOP_FILE, and the driver then ends wrk with SIGINT.
local report = dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")

local target = tonumber(os.getenv("BENCH_FILL_TARGET") or "0")
local stop_503 = tonumber(os.getenv("BENCH_FILL_STOP_503") or "0")
local every = tonumber(os.getenv("BENCH_SAMPLE_EVERY") or "0")
local sample_path = os.getenv("BENCH_SAMPLE_FILE")
local stop_path = os.getenv("BENCH_STOP_FILE")

issued = 0
full = 0
other = 0
local sample

local threads = {}
function setup(thread)
   threads[#threads + 1] = thread
end

function init(args)
   if every > 0 and sample_path then
      sample = io.open(sample_path, "a")
   end
end

function finish()
   if stop_path then
      io.open(stop_path, "w"):close()
   end
   wrk.thread:stop()
end

function response(status, headers, body)
   if status == 200 then
      issued = issued + 1
      if sample and issued % every == 0 then
         sample:write(body:match('"access_token":"([^"]+)"'), "\n")
         sample:flush()
      end
      if target > 0 and issued >= target then
         finish()
      end
   elseif status == 503 then
      full = full + 1
      if stop_503 > 0 and full >= stop_503 then
         finish()
      end
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local totals = {issued = 0, full = 0, other = 0}
   for _, thread in ipairs(threads) do
      for k in pairs(totals) do
         totals[k] = totals[k] + (thread:get(k) or 0)
      end
   end
   report.line(summary, latency, totals)
end
