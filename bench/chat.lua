-- wrk script for bench/proxy.sh: POSTs one short chat completion per request.
--
-- Settings come from the environment (bench/proxy.sh sets them):
--   BENCH_MODEL   model name in the body ("mock-model" direct, "bench-gpt" proxied)
--   BENCH_STREAM  "true" adds "stream": true (SSE), anything else is non-stream
--   BENCH_BODY_KB about this many KiB of earlier conversation before the
--                 question, as an agent's long context (default 0), the same
--                 turns as bench/drive.py sends
--   BENCH_PORTKEY_HOST  when set (Portkey rows only): the upstream base URL
--                 Portkey's gateway forwards to, sent with x-portkey-provider: openai
-- The Authorization header is passed with wrk -H.
--
-- done() prints one machine-readable line that proxy.sh parses; wrk's own
-- --latency report is kept in the log for humans.

local model = os.getenv("BENCH_MODEL") or "mock-model"
local stream = os.getenv("BENCH_STREAM") == "true"

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- Portkey's open-source gateway keeps no model catalog: each request names
-- the provider and the upstream it goes to.
local portkey_host = os.getenv("BENCH_PORTKEY_HOST") or ""
if portkey_host ~= "" then
  wrk.headers["x-portkey-provider"] = "openai"
  wrk.headers["x-portkey-custom-host"] = portkey_host
end
-- Each turn is about 1 KiB with the quotes, tabs and line breaks real text
-- has (escapes in JSON).
local history = {}
for i = 0, (tonumber(os.getenv("BENCH_BODY_KB") or "0") or 0) - 1 do
  local line = string.format('Line %d: the \\"quoted\\" part, then a tab\\tand more words to read.\\n', i)
  history[#history + 1] = string.format('{"role":"%s","content":"%s"},',
    i % 2 == 0 and "user" or "assistant", string.rep(line, 16))
end
wrk.body = string.format(
  '{"model":"%s","messages":[%s{"role":"user","content":"Say hello to the benchmark."}]%s}',
  model,
  table.concat(history),
  stream and ',"stream":true' or ''
)

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_s=%.3f rps=%.2f p50_us=%d p99_us=%d mean_us=%.1f max_us=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
