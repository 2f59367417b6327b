#!/usr/bin/env python3
"""What holds Keyway's front threads off their CPU, from `perf sched timehist`.

Reads the text of `perf sched timehist` (one line per context switch: time,
CPU, task, wait time, scheduling delay, run time; times in ms) and prints:
- the front threads' scheduling delays (woken, not yet running): how many,
  their p50 / p99 / max, and how many passed the threshold;
- for every delay past the threshold, which tasks ran on that CPU between
  the wake-up and the front getting it, summed by process name ("<idle>"
  is a CPU that was idle: in a guest, the time to wake a halted vCPU).

Usage: sched_delay.py <timehist.txt> [threshold ms, default 0.3]
Standard library only.
"""

import collections
import re
import sys

FRONT = "keyway-front"


def parse(path):
    """(end s, task, delay ms, run ms) per line, by CPU, in order."""
    by_cpu = collections.defaultdict(list)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            p = line.split()
            if len(p) < 6:
                continue
            try:
                end, cpu = float(p[0]), int(p[1].strip("[]"))
                delay, run = float(p[-2]), float(p[-1])
            except ValueError:
                continue  # the header lines
            by_cpu[cpu].append((end, " ".join(p[2:-3]), delay, run))
    return by_cpu


def name(task):
    """A process name without its [tid/pid]: threads of one kind sum."""
    return re.sub(r"\[\d+(/\d+)?\]$", "", task)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    threshold = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
    by_cpu = parse(sys.argv[1])
    delays, blame, past = [], collections.Counter(), 0
    for switches in by_cpu.values():
        for i, (end, task, delay, run) in enumerate(switches):
            if FRONT not in task:
                continue
            delays.append(delay)
            if delay <= threshold:
                continue
            past += 1
            start = end - run / 1000
            woken = start - delay / 1000
            # What ran on this CPU between the wake-up and the start.
            j = i - 1
            while j >= 0 and switches[j][0] > woken:
                o_end, o_task, _, o_run = switches[j]
                overlap = min(o_end, start) - max(o_end - o_run / 1000, woken)
                if overlap > 0:
                    blame[name(o_task)] += overlap * 1000
                j -= 1
    if not delays:
        sys.exit("no switches of a keyway-front thread in the trace")
    delays.sort()
    pick = lambda q: delays[min(len(delays) - 1, int(len(delays) * q))]
    print(
        f"front threads: {len(delays)} switches in; scheduling delay p50 {pick(0.5):.3f}"
        f" / p99 {pick(0.99):.3f} / max {delays[-1]:.3f} ms; {past} over {threshold} ms"
    )
    if past:
        print(f"what ran on the front's CPU during those {past} delays (ms, summed):")
        for task, ms in blame.most_common(12):
            print(f"  {ms:9.2f}  {task}")


if __name__ == "__main__":
    main()
