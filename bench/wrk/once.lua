-- Requests each sent once: request i is built from line i of the file
-- BENCH_LINES (bench/peer/jws_mint.mjs made it just before the sample), read
-- as it goes. BENCH_KIND says what a line is:
--   form: a POST body (private_key_jwt: the assertion is in it);
--   dpop: "TOKEN PROOF", a GET with "Authorization: DPoP TOKEN" and
--         "DPoP: PROOF".
-- Reports whether it ran off the end of the file (wrapped: the driver then
-- discards the sample, since the file's first lines were sent before), unless
-- BENCH_CYCLE is set (a location that checks nothing: the lines go round), and
-- how many answers were not 200 (non200: a 429 is a full replay cache; wrk's
-- own count of errors leaves out 1xx-3xx), with the last of them on a line
-- "BENCH_REFUSAL STATUS CHALLENGE-OR-BODY" for the driver's error message.
local report = dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

local kind = os.getenv("BENCH_KIND")
local cycle = os.getenv("BENCH_CYCLE") ~= nil
local file
wrapped = 0
non200 = 0

local threads = {}
function setup(thread)
   threads[#threads + 1] = thread
end

function init(args)
   file = io.open(os.getenv("BENCH_LINES"))
end

local function next_line()
   local line = file:read("*l")
   if line == nil then
      if not cycle then
         wrapped = 1
      end
      file:seek("set", 0)
      line = file:read("*l")
   end
   return line
end

local form = {["Content-Type"] = "application/x-www-form-urlencoded"}

function request()
   local line = next_line()
   if kind == "form" then
      return wrk.format("POST", nil, form, line)
   end
   local token, proof = line:match("^(%S+) (%S+)$")
   return wrk.format("GET", nil, {Authorization = "DPoP " .. token, DPoP = proof})
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      refusal = status .. " " .. (headers["WWW-Authenticate"] or body or ""):sub(1, 300)
   end
end

function done(summary, latency, requests)
   local totals = {wrapped = 0, non200 = 0}
   for _, thread in ipairs(threads) do
      totals.wrapped = math.max(totals.wrapped, thread:get("wrapped") or 0)
      totals.non200 = totals.non200 + (thread:get("non200") or 0)
      if thread:get("refusal") then
         io.write("BENCH_REFUSAL " .. thread:get("refusal"):gsub("\n", " ") .. "\n")
      end
   end
   report.line(summary, latency, totals)
end
