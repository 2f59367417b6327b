#!/usr/bin/env python3
"""Writes services/keyway/code-order.txt from callgrind runs of keyway.

Usage: scripts/code_order.py <binary> <out> <gateway runs>... -- <other runs>...

Every function callgrind saw execute, and that the binary defines, becomes
one line: its symbol name without the parts that change from build to build
(the legacy mangling's `17h<hash>E`, LLVM's `.llvm.<n>` suffixes), which
services/keyway/build.rs turns into a linker-script glob. Functions the
gateway alone ran come under `[gateway]`, the rest (the key service, the
projector, the mock) under `[others]`, so that a gateway process touches
only the first group.

Without its hash, a generic function's name stands for all its instances
(`<&T as Debug>::fmt` has hundreds): where a name's instances add up to more
than three times the code that ran (and more than 16 KiB), the instances
that ran are listed by their full names instead, hash included. Those go
stale when a dependency changes (every hash does); they then match nothing
until the list is regenerated. Sorted, so that a regenerated list diffs
cleanly. See scripts/code-order.sh.
"""

import bisect
import re
import subprocess
import sys

HASH = re.compile(r"17h[0-9a-f]{16}E.*$")  # legacy: ...17h<16 hex>E
SUFFIX = re.compile(r"(\.llvm\.\d+|\.cold|\.\d+)+$")
# A linker-script glob must not hold what the script's lexer splits on.
SAFE = re.compile(r"[A-Za-z0-9_$.]+")


def stable(name):
    return HASH.sub("17h", SUFFIX.sub("", name))


def executed(runs, sizes):
    names = set()
    for run in runs:
        with open(run, errors="replace") as f:
            for line in f:
                m = re.match(r"c?fn=\(\d+\) (\S+)", line)
                if m:
                    name = re.sub(r"'\d+$", "", m.group(1))
                    if name in sizes:
                        names.add(name)
    return names


def group(ran, sizes, names, taken):
    instances = {}
    for name in ran:
        instances.setdefault(stable(name), []).append(name)
    kept = set()
    for key, ran_names in instances.items():
        i, matched = bisect.bisect_left(names, key), 0
        while i < len(names) and names[i].startswith(key):
            matched += sizes[names[i]]
            i += 1
        size = sum(sizes[n] for n in ran_names)
        if matched <= max(3 * size, 16384):
            kept.add(key)
        else:
            kept.update(SUFFIX.sub("", n) for n in ran_names)
    kept = {k for k in kept - taken if SAFE.fullmatch(k)}
    taken.update(kept)
    return sorted(kept)


def main():
    binary, out, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    cut = rest.index("--")
    sizes = {}
    nm = subprocess.run(["nm", "-S", "--defined-only", binary], check=True,
                        capture_output=True, text=True).stdout
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tTwW":
            sizes[parts[3]] = int(parts[1], 16)
    names, taken = sorted(sizes), set()
    gateway = group(executed(rest[:cut], sizes), sizes, names, taken)
    others = group(executed(rest[cut + 1:], sizes), sizes, names, taken)
    with open(out, "w") as f:
        f.write("# Functions that start-up and serving run, laid out first by\n"
                "# services/keyway/build.rs; written by scripts/code-order.sh.\n")
        for title, keys in (("gateway", gateway), ("others", others)):
            f.write(f"[{title}]\n" + "".join(k + "\n" for k in keys))
    print(f"{len(gateway)} + {len(others)} functions written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
