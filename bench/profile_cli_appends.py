#!/usr/bin/env python3
"""Short-lived writers: N one-row appends, each its own `floe append` process.

  python3 bench/profile_cli_appends.py --floe target/release/floe [--dir D] [--n 400]

A writer that lives for one commit (a CLI call, a job per file, a worker per task) never
reuses what a long-lived handle keeps between commits (the decoded manifest list, a
manifest merge built in the background), and its process exits through the handle's last
drop, which waits for the handle's background work (the commit-time cleanup pass every
`floe.commit.cleanup-interval` versions). Prints the wall time of each process as the
median and maximum per window of 50 appends, the overall p50 / p99 / maximum, and the
indices of the slowest appends (a multiple of the cleanup interval stands out if the
pass is what a process waits for). The table is created fresh in D (default: a temporary
directory) with `--schema id:long,name:string`.
"""
import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--floe", required=True, help="the floe CLI binary (cargo build --release -p floe-cli)")
    ap.add_argument("--dir", help="table directory to create (default: a temporary one)")
    ap.add_argument("--n", type=int, default=400)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(a.dir) if a.dir else Path(tmp) / "t"
        csv = Path(tmp) / "one.csv"
        csv.write_text("id,name\n1,a\n")
        subprocess.run([a.floe, "create", str(table), "--schema", "id:long,name:string"], check=True,
                       capture_output=True)
        lat = []
        for _ in range(a.n):
            t = time.perf_counter()
            subprocess.run([a.floe, "append", str(table), str(csv)], check=True, capture_output=True)
            lat.append((time.perf_counter() - t) * 1000)
        for lo in range(0, a.n, 50):
            w = lat[lo:lo + 50]
            print(f"appends {lo:4d}-{lo + len(w) - 1:4d}: p50 {statistics.median(w):6.1f} ms, max {max(w):6.1f} ms")
        s = sorted(lat)
        p99 = s[min(len(s) - 1, int(0.99 * len(s)))]
        print(f"all {a.n}: p50 {statistics.median(lat):.1f} ms, p99 {p99:.1f} ms, max {s[-1]:.1f} ms")
        print("slowest (0-based index):", sorted(range(a.n), key=lambda i: -lat[i])[:8])
        stats = subprocess.run([a.floe, "stats", str(table)], capture_output=True, text=True).stdout
        print(next((line for line in stats.splitlines() if line.startswith("manifests now")), ""))


if __name__ == "__main__":
    main()
