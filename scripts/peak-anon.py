#!/usr/bin/env python3
"""Run a command and report its peak anonymous memory (heap, not the mapped
file): polls /proc/PID/status RssAnon every 2 ms.

    python3 scripts/peak-anon.py target/release/rdbkit verify bench-data/mixed.rdb
"""
import subprocess
import sys
import time

p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
peak = 0
while p.poll() is None:
    try:
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.002)
print(f"peak RssAnon {peak / 1024:.1f} MiB (exit {p.returncode})")
sys.exit(p.returncode)
