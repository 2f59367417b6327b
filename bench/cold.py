#!/usr/bin/env python3
"""Cold-credential latency client for bench/cold.sh (standard library only).

A key used less often than the gateway's credential cache TTL pays for a
fetch from the key service on each request. This client makes that happen
on purpose: it waits `gap` ms (longer than the TTL the script gives Keyway),
times one request (cold: its credentials expired meanwhile), then at once
times a second one (warm: cached by the first), on one keep-alive
connection, `samples` times.

Usage: cold.py <base url> <bearer key> <model> <samples> <gap ms>
Prints one JSON object: cold and warm p50/p90/max in ms, and failures.
"""

import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    base, key, model, samples, gap_ms = sys.argv[1:6]
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "cold"}]})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def timed():
        start = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body, headers)
        response = conn.getresponse()
        response_body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise SystemExit(f"answered {response.status}: {response_body[:200]!r}")
        return elapsed

    timed()  # the connection and the first fetch
    cold, warm = [], []
    for _ in range(int(samples)):
        time.sleep(int(gap_ms) / 1000)
        cold.append(timed())
        warm.append(timed())
    summary = lambda xs: {"p50": round(percentile(xs, 50), 3), "p90": round(percentile(xs, 90), 3),
                          "max": round(max(xs), 3)}
    print(json.dumps({"samples": len(cold), "gap_ms": int(gap_ms), "cold": summary(cold), "warm": summary(warm)}))


if __name__ == "__main__":
    main()
