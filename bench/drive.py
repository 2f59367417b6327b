"""Sends a fixed number of chat completions to Keyway for bench/instructions.sh.

Usage: drive.py <host> <port> <api key> <requests> <connections> [true|false]

Each connection is one keep-alive HTTP/1.1 connection on its own thread;
the last argument "true" asks for streamed answers. Standard library only.
Exits non-zero if any answer is not a 200. BENCH_BODY_KB=<n> puts about n
KiB of earlier conversation before the question, as an agent's long
context would (default 0: the one short question).
"""

import http.client
import json
import os
import sys
import threading


def history(kib):
    """About `kib` KiB of alternating turns, with the quotes and line breaks
    that real text has (each is an escape in JSON)."""
    turn = 'Line {i}: the "quoted" part, then a tab\tand more words to read.\n' * 16
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": turn.format(i=i)}
        for i in range(kib)
    ]


def main():
    host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    total, connections = int(sys.argv[4]), int(sys.argv[5])
    stream = len(sys.argv) > 6 and sys.argv[6] == "true"
    body = json.dumps(
        {
            "model": "bench-gpt",
            "messages": history(int(os.environ.get("BENCH_BODY_KB", "0")))
            + [{"role": "user", "content": "Say hello to the benchmark."}],
            **({"stream": True} if stream else {}),
        }
    )
    headers = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    failures = []

    def worker(count):
        conn = http.client.HTTPConnection(host, port, timeout=120)
        for _ in range(count):
            conn.request("POST", "/v1/chat/completions", body, headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                failures.append(answer.status)

    threads = [threading.Thread(target=worker, args=(total // connections,)) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit(f"{len(failures)} answers were not 200: {sorted(set(failures))}")


if __name__ == "__main__":
    main()
