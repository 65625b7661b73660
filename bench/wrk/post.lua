-- One fixed POST, sent again and again: token, introspection and ceiling runs.
-- BENCH_BODY: the form body; BENCH_AUTH: the Authorization header value.
local report = dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")

function done(summary, latency, requests)
   report.line(summary, latency)
end
