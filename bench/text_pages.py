#!/usr/bin/env python3
"""Which crates' code is resident in a running Keyway process.

Usage: bench/text_pages.py <pid> [top]

Reads the executable mappings of the process's own binary from
/proc/<pid>/maps, asks /proc/<pid>/pagemap which of their pages are present
(needs root or CAP_SYS_ADMIN, else every page reads as absent), and charges
each resident page to the crates whose symbols (`nm -n -S -C` of the binary)
overlap it. A page shared by two crates counts for both, so the per-crate
figures can add up to more than the total. Prints the resident total, the
mapped total, and the `top` crates (default 25) by resident bytes.

Why it exists: with 1,000 open streams, the binary's own pages are a fifth
of Keyway's RSS (docs/benchmarks.md), and this shows which code start-up
left resident.
"""

import bisect
import collections
import os
import re
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def exe_mappings(pid):
    exe = os.readlink(f"/proc/{pid}/exe")
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 6 or parts[5] != exe or "x" not in parts[1]:
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            maps.append((start, end, int(parts[2], 16)))
    return exe, maps


def resident_pages(pid, start, end):
    present = []
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        data = f.read((end - start) // PAGE * 8)
    for i, (entry,) in enumerate(struct.iter_unpack("<Q", data)):
        if entry >> 63 & 1:
            present.append(start + i * PAGE)
    return present


CRATE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def crate_of(name):
    # `<aws_smithy_http::X as core::fmt::Debug>::fmt` belongs to aws_smithy_http;
    # `<T as tokio::...>::poll`, whose self type is a generic parameter, to tokio.
    if name.startswith("<") and " as " in name:
        self_type, trait = name[1:].split(" as ", 1)
        name = self_type if "::" in self_type else trait
    name = name.lstrip("<&*")
    if name.startswith("dyn "):
        name = name[4:]
    m = CRATE.match(name)
    if not m:
        return "?"
    crate = m.group(0)
    return crate if "::" in name else "(C or runtime) " + crate[:20]


def symbols(exe):
    out = subprocess.run(
        ["nm", "-n", "-S", "-C", "--defined-only", exe],
        check=True, capture_output=True, text=True,
    ).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in "tTwW":
            syms.append((int(parts[0], 16), int(parts[1], 16), crate_of(parts[3])))
    return syms


def main():
    pid = int(sys.argv[1])
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    exe, maps = exe_mappings(pid)
    syms = symbols(exe)
    starts = [s[0] for s in syms]
    # nm gives link-time addresses; a PIE is loaded at (mapping start - file
    # offset) minus the segment's link-time address of that offset. The
    # executable segment's link-time address equals its file offset in the
    # binaries rustc and lld produce, so the bias is start - offset.
    resident = collections.Counter()
    mapped = collections.Counter()
    for addr, size, crate in syms:
        mapped[crate] += size
    total = mapped_total = 0
    for start, end, offset in maps:
        bias = start - offset
        pages = resident_pages(pid, start, end)
        total += len(pages) * PAGE
        mapped_total += end - start
        for page in pages:
            lo, hi = page - bias, page - bias + PAGE
            i = max(bisect.bisect_right(starts, lo) - 1, 0)
            seen = set()
            while i < len(syms) and syms[i][0] < hi:
                addr, size, crate = syms[i]
                if addr + max(size, 1) > lo and crate not in seen:
                    seen.add(crate)
                    resident[crate] += PAGE
                i += 1
    mib = 1024 * 1024
    print(f"resident code: {total / mib:.1f} MiB of {mapped_total / mib:.1f} MiB mapped")
    print(f"{'crate':40} {'resident MiB':>12} {'code MiB':>9}")
    for crate, size in resident.most_common(top):
        print(f"{crate[:40]:40} {size / mib:12.2f} {mapped[crate] / mib:9.2f}")


if __name__ == "__main__":
    main()
