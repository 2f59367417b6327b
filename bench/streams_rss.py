#!/usr/bin/env python3
"""Holds N concurrent slow SSE streams through Keyway and samples its RSS.

Used by bench/streams-rss.sh. Opens N HTTP/1.1 connections at once (stdlib
asyncio, no dependencies), each a streamed chat completion that the mock
paces, reads every stream to its end, and samples /proc/<pid>/status of
Keyway every 100 ms. Prints one JSON object with the figures.
"""

import asyncio
import json
import sys
import time


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit(f"no {field} for pid {pid}")


async def one_stream(host, port, key, body, state):
    reader, writer = await asyncio.open_connection(host, port)
    payload = json.dumps(body).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Authorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    writer.write(head + payload)
    await writer.drain()
    state["open"] += 1
    state["max_open"] = max(state["max_open"], state["open"])
    data = bytearray()
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            data += chunk
    finally:
        state["open"] -= 1
        writer.close()
    status_ok = data.startswith(b"HTTP/1.1 200")
    done = b"data: [DONE]" in data
    state["ok" if status_ok and done else "failed"] += 1


def split_kib(pid):
    """RSS in its parts: anonymous (heap, stacks) and file-backed (mostly
    the binary's own pages), to tell what the streams cost from the code."""
    return {part: rss_kib(pid, "Rss" + part) for part in ("Anon", "File")}


async def sample(pid, state, stop, started, n):
    while not stop.is_set():
        rss = rss_kib(pid)
        if rss > state["peak_kib"]:
            state["peak_kib"], state["peak_split"] = rss, split_kib(pid)
            # When the peak came, and how many streams were open then: a
            # peak while streams open or close is per-request work, one with
            # all of them open is what holding them costs.
            state["peak_at_s"] = round(time.monotonic() - started, 1)
            state["open_at_peak"] = state["open"]
        if state["open"] == n:
            state["all_open_kib"] = max(state.get("all_open_kib", 0), rss)
        await asyncio.sleep(0.1)


async def main():
    pid, base, key, n, chunks, delay_ms = sys.argv[1:7]
    pid, n = int(pid), int(n)
    host, port = base.removeprefix("http://").split(":")
    body = {
        "model": "bench-gpt",
        "stream": True,
        "messages": [{"role": "user", "content": "hold this stream open for the memory benchmark"}],
        "mock": {"chunks": int(chunks), "chunk_delay_ms": int(delay_ms)},
    }
    state = {"open": 0, "max_open": 0, "ok": 0, "failed": 0, "peak_kib": 0, "peak_split": {}}
    idle, idle_split = rss_kib(pid), split_kib(pid)
    stop = asyncio.Event()
    started = time.monotonic()
    sampler = asyncio.create_task(sample(pid, state, stop, started, n))
    results = await asyncio.gather(
        *(one_stream(host, port, key, body, state) for _ in range(n)), return_exceptions=True
    )
    elapsed = time.monotonic() - started
    stop.set()
    await sampler
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    await asyncio.sleep(2)
    print(json.dumps({
        "idle_kib": idle,
        "idle_split": idle_split,
        "peak_kib": state["peak_kib"],
        "peak_split": state["peak_split"],
        "peak_at_s": state.get("peak_at_s"),
        "open_at_peak": state.get("open_at_peak"),
        "all_open_kib": state.get("all_open_kib", 0),
        "hwm_kib": rss_kib(pid, "VmHWM"),
        "after_kib": rss_kib(pid),
        "max_open": state["max_open"],
        "ok": state["ok"],
        "failed": state["failed"] + len(errors),
        "errors": errors[:3],
        "seconds": round(elapsed, 1),
    }))


asyncio.run(main())
