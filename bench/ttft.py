#!/usr/bin/env python3
"""Paced time-to-first-token client for bench/latency.sh (standard library only).

Why our own: oha and wrk time whole responses; neither says when the first
byte of a streamed body arrived. This client sends streamed chat completions
at evenly spaced arrival times (open loop: request i is due at t0 + i/rate,
whatever happened to earlier ones) over a pool of keep-alive HTTP/1.1
connections, and for each one records

    ttft  = arrival of the first non-empty body chunk - its scheduled start
    total = end of the body (the terminating zero-size chunk) - its scheduled start

Measuring from the scheduled start, not from the moment the request was
written, counts any wait for a free connection or for this client's own event
loop: the figures do not hide coordinated omission.

Limits: one Python process on one core. Its own scheduling jitter (tens to
hundreds of microseconds, more when the box is busy) is in every figure, on
the direct and the gateway path alike, so only the difference between the two
paths means anything, and only at modest rates (a few hundred per second).
"Token" is the first body chunk: the mock's first SSE event carries the first
delta, and the gateway writes what it received, so first chunk == first token.

Usage: ttft.py <base url> <bearer key> <model> <rate/s> <seconds> [connections]
Prints one JSON object: ok, failed, errors, rate, and ttft/total percentiles in ms.
"""

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return status, headers


async def read_body(reader, headers):
    """Reads the whole body; returns the monotonic time its first bytes arrived."""
    first = None
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # the end of the (empty) trailers
                return first
            await reader.readexactly(size + 2)
            if first is None:
                first = time.monotonic()
    length = int(headers.get("content-length", "0"))
    if length:
        await reader.readexactly(length)
        first = time.monotonic()
    return first


class Client:
    def __init__(self, base, key, model):
        u = urlsplit(base)
        self.host, self.port = u.hostname, u.port or 80
        body = json.dumps({
            "model": model,
            "stream": True,
            "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
        }).encode()
        self.request = (
            f"POST {u.path.rstrip('/')}/v1/chat/completions HTTP/1.1\r\n"
            f"Host: {u.netloc}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.idle = asyncio.Queue()
        self.ttft, self.total, self.errors = [], [], {}

    async def connection(self):
        if not self.idle.empty():
            return self.idle.get_nowait()
        return await asyncio.open_connection(self.host, self.port)

    async def one(self, due):
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        try:
            reader, writer = await self.connection()
            writer.write(self.request)
            status, headers = await read_head(reader)
            first = await read_body(reader, headers)
            end = time.monotonic()
            if status != 200 or first is None:
                raise RuntimeError(f"status {status}")
            self.ttft.append(first - due)
            self.total.append(end - due)
            if headers.get("connection", "").lower() == "close":
                writer.close()
            else:
                self.idle.put_nowait((reader, writer))
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            name = str(e) if isinstance(e, RuntimeError) else type(e).__name__
            self.errors[name] = self.errors.get(name, 0) + 1


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000, 3)


async def main():
    base, key, model = sys.argv[1], sys.argv[2], sys.argv[3]
    rate, seconds = float(sys.argv[4]), float(sys.argv[5])
    conns = int(sys.argv[6]) if len(sys.argv) > 6 else 16
    client = Client(base, key, model)
    for _ in range(conns):  # open the pool up front: no connect in the figures
        client.idle.put_nowait(await asyncio.open_connection(client.host, client.port))
    n = int(rate * seconds)
    t0 = time.monotonic() + 0.2
    tasks = [asyncio.create_task(client.one(t0 + i / rate)) for i in range(n)]
    await asyncio.gather(*tasks)
    out = {
        "ok": len(client.ttft),
        "failed": sum(client.errors.values()),
        "errors": client.errors,
        "rate": rate,
        "seconds": seconds,
    }
    for name, xs in (("ttft", client.ttft), ("total", client.total)):
        out[name] = {f"p{p}": pct(xs, p) for p in (50, 99, 99.9)}
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
