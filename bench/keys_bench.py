#!/usr/bin/env python3
"""Load driver for bench/credentials.sh and bench/revocation.sh.

Standard library only (it runs with the peers venv's Python or any python3):
keep-alive `http.client` connections, sequential requests, `perf_counter_ns`
around each request (send + full response read).

Subcommands:
  credentials  set up a tenant/user/API key/BYOK key on a running `keyway up`,
               then time three kinds of chat request, interleaved round-robin,
               and write the samples as JSON
  report       print the credential-resolution table from the two JSON files
  revocation   time how long a revoked API key / deleted BYOK key keeps working
  delete-streams  delete JetStream streams (speaks the NATS protocol directly)
"""

import argparse
import http.client
import json
import math
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import uuid


class Client:
    """One keep-alive HTTP/1.1 connection to the stack under test."""

    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.conn = None

    def _connect(self):
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def raw(self, method, path, bearer, body=None):
        """Sends one request; returns (status, body bytes). Reconnects once if
        the server closed the keep-alive connection."""
        headers = {"Authorization": f"Bearer {bearer}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, method, path, bearer, body=None, want=None):
        data = None if body is None else json.dumps(body).encode()
        status, raw = self.raw(method, path, bearer, data)
        if want is not None and status != want:
            die(f"{method} {path} answered {status}, not {want}: {raw[:500]!r}")
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")


def die(message):
    print(f"[bench] error: {message}", file=sys.stderr)
    sys.exit(1)


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def chat_body(model):
    return json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Say hello to the benchmark."}]}
    ).encode()


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def setup_tenant(client, admin, name):
    """A starter tenant, one member user and a user-bound API key for them."""
    _, tenant = client.json(
        "POST", "/api/v1/tenants", admin, {"name": name, "plan": "starter"}, want=201
    )
    tid = tenant["id"]
    _, user = client.json("POST", f"/api/v1/tenants/{tid}/users", admin, {"role": "member"}, want=201)
    _, key = client.json(
        "POST",
        f"/api/v1/tenants/{tid}/api-keys",
        admin,
        {"name": "bench-user", "user_id": user["id"]},
        want=201,
    )
    return tid, user["id"], key["id"], key["key"]


# --- credentials ---------------------------------------------------------------

SCENARIOS = [
    # label, which bearer, model, identity the mock must echo
    ("baseline", "admin", "mock-gpt", "keyway-system"),
    ("verify", "user", "mock-gpt", "keyway-system"),
    ("verify+byok", "user", "mock-gpt-byok", None),
]


def cmd_credentials(args):
    setup = Client(args.base)
    tid, _, _, user_key = setup_tenant(setup, args.admin, f"bench-cred-{args.label}")
    setup.json("PUT", "/api/v1/byok/keys/openai", user_key, {"key": args.byok_secret}, want=200)
    bearer = {"admin": args.admin, "user": user_key}
    # One connection per scenario, so no request pays for another's connection state.
    runs = [
        (label, Client(args.base), bearer[who], chat_body(model), identity or args.identity)
        for label, who, model, identity in SCENARIOS
    ]
    samples = {label: [] for label, *_ in runs}
    path = "/v1/chat/completions"

    def one(label, client, key, body, identity, keep):
        t0 = time.perf_counter_ns()
        status, raw = client.raw("POST", path, key, body)
        t1 = time.perf_counter_ns()
        if status != 200:
            die(f"{label}: status {status}: {raw[:300]!r}")
        if f"[Authenticated as {identity}]".encode() not in raw:
            die(f"{label}: the mock did not see the expected key ({identity}): {raw[:300]!r}")
        if keep:
            samples[label].append((t1 - t0) / 1000)

    # Let the BYOK PUT's own key-change event (which evicts the tenant) pass
    # before warming the cache.
    time.sleep(1.2)
    for i in range(args.warmup + args.n):
        # Rotate the order every round so no scenario always follows another.
        shift = i % len(runs)
        for run in runs[shift:] + runs[:shift]:
            one(*run, keep=i >= args.warmup)
    with open(args.out, "w") as f:
        json.dump({"label": args.label, "ttl_ms": args.ttl_ms, "tenant": tid, "samples": samples}, f)
    log(f"{args.label}: {args.n} measured requests per scenario written to {args.out}")


def summarize(values):
    s = sorted(values)
    return {
        "n": len(s),
        "p50": percentile(s, 50),
        "p99": percentile(s, 99),
        "mean": statistics.fmean(s),
        "sd": statistics.stdev(s) if len(s) > 1 else 0.0,
    }


def bootstrap_delta(a, b, p, rounds=1000, seed=7):
    """95% interval of percentile(b, p) - percentile(a, p) by resampling both
    sample sets with replacement (fixed seed: the report is reproducible)."""
    rng = random.Random(seed)
    deltas = sorted(
        percentile(sorted(rng.choices(b, k=len(b))), p) - percentile(sorted(rng.choices(a, k=len(a))), p)
        for _ in range(rounds)
    )
    return deltas[int(0.025 * rounds)], deltas[int(0.975 * rounds) - 1]


def cmd_report(args):
    targets = {"cached": args.cached_target_us, "cold": args.cold_target_us}
    results = []
    for path in args.files:
        with open(path) as f:
            data = json.load(f)
        results.append((data, {k: summarize(v) for k, v in data["samples"].items()}))

    print("absolute round trips (client-side, sequential, keep-alive; µs):")
    print(f"| {'run':<7} | {'request':<54} | {'n':>5} | {'p50':>8} | {'p99':>8} | {'mean':>8} |")
    print(f"|{'-' * 9}|{'-' * 56}|{'-' * 7}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    names = {
        "baseline": "baseline: admin key, mock-gpt (no key-service lookup)",
        "verify": "user API key, mock-gpt (API-key verification)",
        "verify+byok": "user API key, mock-gpt-byok (verification + BYOK)",
    }
    for data, summary in results:
        for label in ("baseline", "verify", "verify+byok"):
            s = summary[label]
            print(
                f"| {data['label']:<7} | {names[label]:<54} | {s['n']:>5} | {s['p50']:>8.1f} |"
                f" {s['p99']:>8.1f} | {s['mean']:>8.1f} |"
            )
    print()
    print("credential resolution = (user API key + BYOK) minus baseline, same run (µs):")
    print(
        f"| {'run':<7} | {'TTL ms':>7} | {'Δp50':>7} | {'Δmean ± 2se':>15} | {'Δp99':>7} |"
        f" {'Δp99 95% CI':>18} | {'API-key part Δp50/Δmean':>23} |"
    )
    print(f"|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 17}|{'-' * 9}|{'-' * 20}|{'-' * 25}|")
    verdicts = []
    for data, summary in results:
        base, full, verify = summary["baseline"], summary["verify+byok"], summary["verify"]
        d50, d99 = full["p50"] - base["p50"], full["p99"] - base["p99"]
        dmean = full["mean"] - base["mean"]
        se = math.sqrt(full["sd"] ** 2 / full["n"] + base["sd"] ** 2 / base["n"])
        lo, hi = bootstrap_delta(data["samples"]["baseline"], data["samples"]["verify+byok"], 99)
        part = f"{verify['p50'] - base['p50']:.1f} / {verify['mean'] - base['mean']:.1f}"
        print(
            f"| {data['label']:<7} | {data['ttl_ms']:>7} | {d50:>7.1f} | {dmean:>6.1f} ± {2 * se:>6.1f} |"
            f" {d99:>7.1f} | {f'[{lo:.0f}, {hi:.0f}]':>18} | {part:>23} |"
        )
        verdicts.append((data["label"], targets[data["label"]], d50, d99, lo, hi))
    print()
    for label, target, d50, d99, lo, hi in verdicts:
        verdict = "PASS" if d99 <= target else "FAIL"
        if hi <= target or lo > target:
            certainty = "conclusive for this run: its whole 95% bootstrap interval is on that side"
        else:
            certainty = f"NOT conclusive: this run's 95% bootstrap interval [{lo:.0f}, {hi:.0f}] µs straddles the target"
        print(
            f"target {label:<6}: credential resolution p99 ≤ {target:g} µs: {verdict} "
            f"(Δp99 {d99:.1f} µs, Δp50 {d50:.1f} µs; {certainty})"
        )


# --- revocation ------------------------------------------------------------------


def outbox_empty(db):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtAc", "SELECT count(*) FROM key_outbox"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip() == "0"


def settle(db):
    """Waits until every key-change event has left the outbox, then a little
    longer for its eviction to land, so the next warm-up is not undone by an
    eviction that belongs to an earlier change."""
    deadline = time.monotonic() + 10
    while not outbox_empty(db):
        if time.monotonic() > deadline:
            die("the key outbox did not drain within 10 s")
        time.sleep(0.02)
    time.sleep(0.25)


def time_until(client, bearer, model, refused, poll_s, limit_s, t0):
    """Polls a chat call until `refused(status, body)`. Returns (seconds from
    t0 to the first refusal's answer, number of 200s before it, seconds from
    t0 to when the last of those 200s was sent): the eviction landed between
    the last two figures."""
    body = chat_body(model)
    stale, last_ok_sent = 0, 0.0
    while True:
        sent = time.perf_counter()
        status, raw = client.raw("POST", "/v1/chat/completions", bearer, body)
        now = time.perf_counter()
        if refused(status, raw):
            return now - t0, stale, last_ok_sent
        if status != 200:
            die(f"unexpected {status} while polling: {raw[:300]!r}")
        stale += 1
        last_ok_sent = sent - t0
        if now - t0 > limit_s:
            return math.inf, stale, last_ok_sent
        time.sleep(poll_s)


def cmd_revocation(args):
    client = Client(args.base)
    poller = Client(args.base)
    tid, uid, _, user_key = setup_tenant(client, args.admin, "bench-revocation")
    keys_path = f"/api/v1/tenants/{tid}/api-keys"
    chat_path = "/v1/chat/completions"
    poll_s = args.poll_ms / 1000
    results = {"api": [], "byok": []}
    stale = {"api": [], "byok": []}
    lower = {"api": [], "byok": []}

    def warm(bearer, model):
        for _ in range(3):
            status, raw = poller.raw("POST", chat_path, bearer, chat_body(model))
            if status != 200:
                die(f"warm-up with {model} answered {status}: {raw[:300]!r}")

    log(f"API keys: {args.n} × create, use, revoke, poll every {args.poll_ms} ms until 401")
    for i in range(args.n):
        _, issued = client.json(
            "POST", keys_path, args.admin, {"name": f"revoke-{i}", "user_id": uid}, want=201
        )
        settle(args.db)
        warm(issued["key"], "mock-gpt")
        status, raw = client.raw("DELETE", f"{keys_path}/{issued['id']}", args.admin)
        t0 = time.perf_counter()
        if status != 204:
            die(f"revoke answered {status}: {raw[:300]!r}")
        delay, n200, last_ok = time_until(
            poller, issued["key"], "mock-gpt", lambda s, _: s == 401, poll_s, args.limit_s, t0
        )
        results["api"].append(delay)
        stale["api"].append(n200)
        lower["api"].append(last_ok)

    log(f"BYOK keys: {args.n} × set, use, delete, poll every {args.poll_ms} ms until 400 key_required")

    def key_required(status, raw):
        if status != 400:
            return False
        try:
            return json.loads(raw)["error"]["code"] == "key_required"
        except (ValueError, KeyError, TypeError):
            return False

    for i in range(args.n):
        secret = f"sk-bench-revoke-{i}-{uuid.uuid4().hex}"
        client.json("PUT", "/api/v1/byok/keys/openai", user_key, {"key": secret}, want=200)
        settle(args.db)
        warm(user_key, "mock-gpt-byok")
        status, raw = client.raw("DELETE", "/api/v1/byok/keys/openai", user_key)
        t0 = time.perf_counter()
        if status != 204:
            die(f"BYOK delete answered {status}: {raw[:300]!r}")
        delay, n200, last_ok = time_until(
            poller, user_key, "mock-gpt-byok", key_required, poll_s, args.limit_s, t0
        )
        results["byok"].append(delay)
        stale["byok"].append(n200)
        lower["byok"].append(last_ok)

    target_ms = args.target_ms
    print(f"revocation latency: from the REST call's answer to the first refusal on /v1 ({args.n} runs each, ms):")
    print(
        f"| {'what':<36} | {'p50':>7} | {'p99':>7} | {'max':>7} | {'min':>7} |"
        f" {'runs with stale 200s':>20} | {'last 200 sent, max':>18} | {'target':>8} | {'verdict':<7} |"
    )
    print(f"|{'-' * 38}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 22}|{'-' * 20}|{'-' * 10}|{'-' * 9}|")
    for kind, name in (("api", "revoked API key -> 401"), ("byok", "deleted BYOK key -> 400 key_required")):
        d = sorted(x * 1000 for x in results[kind])
        p50, p99, mx, mn = percentile(d, 50), percentile(d, 99), d[-1], d[0]
        verdict = "PASS" if mx <= target_ms else "FAIL"
        with_stale = sum(1 for s in stale[kind] if s > 0)
        print(
            f"| {name:<36} | {p50:>7.1f} | {p99:>7.1f} | {mx:>7.1f} | {mn:>7.1f} |"
            f" {f'{with_stale}/{args.n} (max {max(stale[kind])})':>20} | {max(lower[kind]) * 1000:>18.1f} |"
            f" {f'≤ {target_ms:g}':>8} | {verdict:<7} |"
        )
    print()
    print("raw delays (ms): first refusal answered at / last stale 200 sent at (the eviction landed in between)")
    for kind in ("api", "byok"):
        print(f"  {kind:<4}: " + " ".join(f"{x * 1000:.1f}" for x in results[kind]))
        print(f"  {'':<4}  " + " ".join(f"{x * 1000:.1f}" for x in lower[kind]))
    print()
    for kind, name in (("api", "revoked API key"), ("byok", "deleted BYOK key")):
        mx = max(results[kind]) * 1000
        print(f"target: a {name} stops working within {target_ms:g} ms: {'PASS' if mx <= target_ms else 'FAIL'} (max {mx:.1f} ms)")
    return 0


# --- NATS ------------------------------------------------------------------------


def cmd_delete_streams(args):
    """Deletes JetStream streams over the plain NATS protocol (no client library)."""
    sock = socket.create_connection((args.host, args.port), timeout=5)
    reader = sock.makefile("rb")
    reader.readline()  # INFO
    sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.kwbench.del 1\r\n')
    for name in args.streams:
        sock.sendall(f"PUB $JS.API.STREAM.DELETE.{name} _INBOX.kwbench.del 0\r\n\r\n".encode())
        while True:
            line = reader.readline()
            if not line:
                die("NATS closed the connection")
            if line.startswith(b"PING"):
                sock.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                die(f"NATS: {line.decode().strip()}")
            elif line.startswith(b"MSG"):
                size = int(line.split()[-1])
                payload = reader.read(size + 2)[:size]
                answer = json.loads(payload or b"{}")
                if not answer.get("success") and answer.get("error", {}).get("code") != 404:
                    log(f"could not delete stream {name}: {answer}")
                break
    sock.close()
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("credentials")
    c.add_argument("--base", required=True)
    c.add_argument("--admin", required=True)
    c.add_argument("--byok-secret", required=True)
    c.add_argument("--identity", required=True, help="what the mock echoes for the BYOK secret")
    c.add_argument("--label", required=True)
    c.add_argument("--ttl-ms", type=int, required=True)
    c.add_argument("--warmup", type=int, default=200)
    c.add_argument("--n", type=int, default=2000)
    c.add_argument("--out", required=True)

    r = sub.add_parser("report")
    r.add_argument("files", nargs="+")
    r.add_argument("--cached-target-us", type=float, default=50)
    r.add_argument("--cold-target-us", type=float, default=5000)

    v = sub.add_parser("revocation")
    v.add_argument("--base", required=True)
    v.add_argument("--admin", required=True)
    v.add_argument("--db", required=True)
    v.add_argument("--n", type=int, default=20)
    v.add_argument("--poll-ms", type=float, default=5)
    v.add_argument("--limit-s", type=float, default=15)
    v.add_argument("--target-ms", type=float, default=1000)

    d = sub.add_parser("delete-streams")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=4222)
    d.add_argument("streams", nargs="+")

    args = parser.parse_args()
    handler = {
        "credentials": cmd_credentials,
        "report": cmd_report,
        "revocation": cmd_revocation,
        "delete-streams": cmd_delete_streams,
    }[args.cmd]
    sys.exit(handler(args) or 0)


if __name__ == "__main__":
    main()
