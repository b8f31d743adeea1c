#!/usr/bin/env python3
"""Where a contended commit's time goes: P processes appending to one table.

  python3 bench/profile_contention.py --bin PEERS_BIN [--dir D] [--procs 8] [--n 25]
                                      [--reps 3] [--strace]

PEERS_BIN is the release build of benches/peers.rs (`cargo bench --bench peers --no-run`
prints it). Like workload 3 of bench/driver.py, it starts P `peers contend` children for
`floe` (durable, advisory commit lock), releases them at a start file and lets each make
N single-row appends, then reports:

1. `reps` runs without tracing: commits/s (start file to the last commit), p50 and p99
   commit latency, failures, and the median of the runs; per run, the median latency
   of every child's k-th commit for each k (the children run in step, so a stall all
   of them felt, such as every writer building the same manifest merge, stands out);
2. with `--strace`, one run under `strace -f --seccomp-bpf` tracing only `flock`,
   `openat`, `linkat` and `fsync` (the other calls run untraced), which splits each
   hold of the commit lock by the holder's own calls into the steps of `STEPS` below
   (from opening the newest version to linking the next). With the lock contended, the
   next acquisition is the release to within a wake-up. strace slows the traced calls,
   so read the split, not the totals.

Finished tables are moved to D/.trash and deleted when the script ends, not between
runs: on ext4 without a journal, deleting a table's files makes every file created in the
next minutes skip the freed inodes (docs/benchmarks.md, "Method"). This is the
measurement behind docs/benchmarks.md, "Where a contended commit's time goes".
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def run_once(bin_: str, root: Path, procs: int, n: int, prefix=lambda k: ()) -> dict:
    table = root / f"t-{uuid.uuid4().hex[:8]}"
    subprocess.run([bin_, "setup", "--system", "floe", "--dir", str(table)], check=True, capture_output=True)
    start = root / f"{table.name}.start"
    children = [
        subprocess.Popen([*prefix(k), bin_, "contend", "--system", "floe", "--dir", str(table), "--n", str(n),
                          "--id", str(k), "--start-file", str(start)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(procs)
    ]
    try:
        for c in children:
            line = c.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"child did not get ready: {line!r} {c.stderr.read()[-2000:]}")
        t0 = time.time_ns()
        start.touch()
        outs = []
        for c in children:
            text, err = c.communicate(timeout=1800)
            if c.returncode != 0:
                raise RuntimeError(f"child exited {c.returncode}: {err[-2000:]}")
            outs.append(json.loads(text.strip().splitlines()[-1]))
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
    start.unlink()
    trash = root / ".trash"
    trash.mkdir(exist_ok=True)
    table.rename(trash / table.name)
    lat = sorted(x / 1e6 for o in outs for x in o["lat_ns"])
    end = max(int(o["end_ns"]) for o in outs)
    # The k-th commit of every child runs at about the same moment: a k whose median is
    # far above the others' is a stall every writer felt (a merge point, a cleanup pass).
    rounds = min(len(o["lat_ns"]) for o in outs)
    by_index = [statistics.median(o["lat_ns"][k] / 1e6 for o in outs) for k in range(rounds)]
    return {
        "commits_per_s": len(lat) / max(1e-9, (end - t0) / 1e9),
        "p50": lat[len(lat) // 2],
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "failures": sum(len(o["errors"]) for o in outs),
        "by_index": by_index,
    }


# The steps of a hold, as the holder's system calls mark them (floe's local storage).
STEPS = [
    "acquired -> newest version opened (probing for it)",
    "-> parent's manifest list opened (reading and decoding the newest metadata)",
    "-> metadata temp created (rebasing: manifests, manifest list and metadata built)",
    "-> version linked (the attempt's files written and fsynced)",
    "-> next writer holds the lock (checks after the link, hand-over)",
]


def lock_holds(traces: list) -> list:
    """Per hold of the commit lock, the milliseconds of each of STEPS, from every
    child's trace (one file per child, so each event is known to be the holder's or
    not; absolute timestamps, merged). Holds where a marker is missing (a commit that
    did not have to rebase reads no manifest list) are skipped."""
    events = []
    for child, trace in enumerate(traces):
        for line in trace.read_text().splitlines():
            parts = line.split(None, 2)
            if len(parts) < 3:
                continue
            t, call = float(parts[1]), parts[2]
            if "flock resumed>) = 0" in call or (call.startswith("flock(") and "LOCK_EX" in call and ") = 0 " in call):
                kind = "acquired"
            elif call.startswith("openat(") and "O_CREAT" not in call and re.search(r"/v\d+\.metadata\.json\"", call):
                kind = "version"
            elif call.startswith("openat(") and "O_CREAT" not in call and "/snap-" in call:
                kind = "list"
            elif call.startswith("openat(") and ".metadata.json." in call and "O_CREAT" in call:
                kind = "created"
            elif call.startswith("linkat(") and "metadata.json" in call:
                kind = "linked"
            else:
                continue
            events.append((t, kind, child))
    events.sort()
    holds = []
    acquired = [i for i, (_, kind, _) in enumerate(events) if kind == "acquired"]
    for a, b in zip(acquired, acquired[1:]):
        t0, _, holder = events[a]
        mine = [(t, kind) for t, kind, child in events[a:b] if child == holder]

        def first(kind: str, after: float):
            return next((t for t, k in mine if k == kind and t >= after), None)

        version = first("version", t0)
        listed = first("list", version) if version is not None else None
        created = first("created", listed) if listed is not None else None
        linked = first("linked", created) if created is not None else None
        if linked is None:
            continue
        marks = [t0, version, listed, created, linked, events[b][0]]
        holds.append([(y - x) * 1e3 for x, y in zip(marks, marks[1:])])
    return holds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="release build of benches/peers.rs")
    ap.add_argument("--dir", help="where the tables go (default: a temporary directory)")
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--n", type=int, default=25, help="appends per process")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--strace", action="store_true", help="also split the lock holds under strace")
    a = ap.parse_args()
    root = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix="floe-contention-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        runs = [run_once(a.bin, root, a.procs, a.n) for _ in range(a.reps)]
        print(f"P = {a.procs}, {a.n} durable single-row appends each, {a.reps} runs (median):\n")
        print("| commits/s | p50 ms | p99 ms | failures |\n|---:|---:|---:|---:|")
        med = {k: statistics.median(r[k] for r in runs) for k in ("commits_per_s", "p50", "p99", "failures")}
        print(f"| {med['commits_per_s']:.0f} | {med['p50']:.1f} | {med['p99']:.1f} | {med['failures']:.0f} |")
        print("\nruns: " + ", ".join(f"{r['commits_per_s']:.0f}/s" for r in runs))
        print("\nmedian ms of each child's k-th commit, per run (a stall every writer felt stands out):")
        for r in runs:
            print("  " + " ".join(f"{x:.0f}" for x in r["by_index"]))
        if a.strace:
            if not shutil.which("strace"):
                raise SystemExit("--strace needs strace on PATH")
            # One trace per child (strace instances must not share an output file).
            traces = [root / f"strace.{k}.txt" for k in range(a.procs)]

            def prefix(k: int) -> tuple:
                return ("strace", "-f", "--seccomp-bpf", "-ttt", "-e", "trace=flock,openat,linkat,fsync", "-o",
                        str(traces[k]))

            traced = run_once(a.bin, root, a.procs, a.n, prefix)
            holds = lock_holds(traces)
            for t in traces:
                t.unlink()
            if not holds:
                raise SystemExit("no lock holds found in the trace")
            parts = [statistics.median(h[i] for h in holds) for i in range(len(STEPS))]
            print(f"\nUnder strace ({traced['commits_per_s']:.0f} commits/s), {len(holds)} holds of the "
                  "commit lock that rebased, median ms:\n")
            print("| step | ms |\n|---|---:|")
            for step, ms in zip(STEPS, parts):
                print(f"| {step} | {ms:.2f} |")
            print(f"| whole hold (median of the sums) | {statistics.median(sum(h) for h in holds):.2f} |")
    finally:
        shutil.rmtree(root / ".trash", ignore_errors=True)
        if not a.dir:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
