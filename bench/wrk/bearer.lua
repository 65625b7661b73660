-- GETs with "Authorization: Bearer <token>", cycling through the tokens of
-- the file BENCH_TOKENS (one a line). The requests are built once, in init().
local report = dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local requests = {}
local count = 0
local at = 0

function init(args)
   for token in io.lines(os.getenv("BENCH_TOKENS")) do
      count = count + 1
      requests[count] = wrk.format("GET", nil, {Authorization = "Bearer " .. token})
   end
   -- threads start at different places in the list
   at = math.random(count) - 1
end

function request()
   at = at + 1
   if at > count then at = 1 end
   return requests[at]
end

function done(summary, latency, requests)
   report.line(summary, latency)
end
