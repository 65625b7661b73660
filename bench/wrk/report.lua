-- Shared by every bench script: done() prints one line the driver parses.
-- Loaded with dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua").
local report = {}

function report.line(summary, latency, extra)
   local e = summary.errors
   local fields = {
      string.format('"requests":%d', summary.requests),
      string.format('"duration_us":%d', summary.duration),
      string.format('"bytes":%d', summary.bytes),
      string.format('"connect_errors":%d', e.connect),
      string.format('"read_errors":%d', e.read),
      string.format('"write_errors":%d', e.write),
      string.format('"status_errors":%d', e.status),
      string.format('"timeouts":%d', e.timeout),
      string.format('"latency_p50_us":%d', latency:percentile(50)),
      string.format('"latency_p99_us":%d', latency:percentile(99)),
   }
   for k, v in pairs(extra or {}) do
      fields[#fields + 1] = string.format('"%s":%d', k, v)
   end
   io.write("BENCH {" .. table.concat(fields, ",") .. "}\n")
end

return report
