-- GETs with "Authorization: Bearer <token>", each request the next token of
-- the file BENCH_TOKENS (one a line) from byte BENCH_OFFSET on, read as it
-- goes: every token is sent once, so the gate has never seen it. Reports
-- where it stopped (next_offset), so the driver starts the next run there,
-- and whether it ran off the end of the file (wrapped: the driver then
-- discards the sample, since the file's first tokens were seen before).
local report = dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local file
next_offset = 0
wrapped = 0

local threads = {}
function setup(thread)
   threads[#threads + 1] = thread
end

function init(args)
   file = io.open(os.getenv("BENCH_TOKENS"))
   next_offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
   file:seek("set", next_offset)
end

function request()
   local token = file:read("*l")
   if token == nil then
      wrapped = 1
      file:seek("set", 0)
      token = file:read("*l")
   end
   next_offset = file:seek()
   return wrk.format("GET", nil, {Authorization = "Bearer " .. token})
end

function done(summary, latency, requests)
   local totals = {next_offset = 0, wrapped = 0}
   for _, thread in ipairs(threads) do
      for k in pairs(totals) do
         totals[k] = math.max(totals[k], thread:get(k) or 0)
      end
   end
   report.line(summary, latency, totals)
end
