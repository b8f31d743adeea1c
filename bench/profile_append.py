#!/usr/bin/env python3
"""Where the time of a single-row append goes: syscalls, fsyncs, threads, CPU.

  python3 bench/profile_append.py --bin PEERS_BIN [--dir D] [--n 200] [--reps 3] [--perf]

PEERS_BIN is the release build of benches/peers.rs (`cargo bench --bench peers --no-run`
prints it; bench/run.sh builds the same binary). For `floe` (durable), `floe-relaxed`
and `raw` (the bare create+fsync+link+fsync-dir loop) it runs N single-row appends
into a fresh table under D:

1. `reps` times without tracing, interleaved: median p50 latency and CPU time (user +
   system, all threads) per append, from the binary's own report;
2. once under `strace -f -c`: system calls per append by kind, and the time strace
   attributes to each (strace slows every call, so read counts, not times);
3. with `--perf`, once under `perf record --call-graph dwarf`: the share of samples in
   floe's main steps (inclusive), for floe and floe-relaxed.

Prints markdown. Run it with D on the disk you care about and on a tmpfs (/dev/shm) to
separate floe's CPU from the file system's cost. This is the measurement behind
docs/benchmarks.md, "Where a single-row append's time goes".
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

SYSTEMS = ["floe", "floe-relaxed", "raw"]
# Inclusive shares reported from perf: (label, symbol as perf prints it).
STEPS = [
    ("whole commit on the caller (`Transaction::commit`)", "floe::txn::Transaction::commit"),
    ("building the new metadata (`build_metadata`)", "floe::txn::Transaction::build_metadata"),
    ("serializing the metadata JSON", "floe::spec::metadata::TableMetadata::to_json_bytes"),
    ("writing the one-row data file (`StagedWriter::write`)", "floe::data::partition::StagedWriter::write"),
    ("Parquet codec set-up (`create_codec`)", "parquet::compression::create_codec"),
    ("commit-time cleanup pass (background)", "floe::txn::cleanup::pass"),
    ("work on threads floe started (fsyncs, writes, cleanup: `start_thread`)", "start_thread"),
    ("starting those threads (the `clone3` system call in the kernel)", "__do_sys_clone3"),
    ("file creation in the kernel (`ext4_create`)", "ext4_create"),
    ("of which ext4 skipping recently freed inodes (`recently_deleted`)", "recently_deleted"),
    ("malloc", "_int_malloc"),
]


def append(bin_: str, system: str, table: Path, n: int, prefix=()) -> dict:
    shutil.rmtree(table, ignore_errors=True)
    out = subprocess.run([*prefix, bin_, "append", "--system", system, "--dir", str(table), "--n", str(n)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def p50_ms(lat_ns) -> float:
    s = sorted(lat_ns)
    return s[len(s) // 2] / 1e6


def strace_counts(bin_: str, system: str, table: Path, n: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".strace") as f:
        append(bin_, system, table, n, prefix=("strace", "-f", "-c", "-o", f.name))
        rows = {}
        for line in Path(f.name).read_text().splitlines():
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) >= 5 and parts[0].replace(".", "").isdigit() and parts[-1] != "total":
                calls = int(parts[3])
                rows[parts[-1]] = (calls / n, float(parts[1]))
        return rows


def perf_shares(bin_: str, system: str, table: Path, n: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".perf") as f:
        append(bin_, system, table, n, prefix=("perf", "record", "-q", "-F", "2999", "--call-graph", "dwarf,16384",
                                               "-o", f.name))
        rep = subprocess.run(["perf", "report", "-i", f.name, "--children", "--sort", "sym", "--stdio", "-g", "none"],
                             check=True, capture_output=True, text=True).stdout
    shares = {}
    for line in rep.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].endswith("%") and parts[2] in ("[.]", "[k]"):
            sym = " ".join(parts[3:])
            shares.setdefault(sym, float(parts[0].rstrip("%")))
    return shares


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dir", default=None, help="where the tables go (default: a temp dir under target/)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--perf", action="store_true")
    a = ap.parse_args()
    root = Path(a.dir) if a.dir else Path(__file__).resolve().parent.parent / "target" / "profile-append"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    try:
        fs = subprocess.run(["df", "-T", str(work)], capture_output=True, text=True).stdout.splitlines()[-1].split()
        print(f"Tables under `{work}` ({fs[1]} on {fs[0]}); {a.n} single-row appends per run.\n")
        lat = {s: [] for s in SYSTEMS}
        cpu = {s: [] for s in SYSTEMS}
        for _ in range(a.reps):
            for s in SYSTEMS:
                r = append(a.bin, s, work / s, a.n)
                lat[s].append(p50_ms(r["lat_ns"]))
                cpu[s].append(r["cpu_s"] * 1000 / len(r["lat_ns"]))
        print(f"| system | p50 (median of {a.reps}) | CPU per append (user + sys, all threads) |")
        print("|---|---:|---:|")
        for s in SYSTEMS:
            print(f"| `{s}` | {statistics.median(lat[s]):.3f} ms | {statistics.median(cpu[s]):.3f} ms |")
        print()
        counts = {s: strace_counts(a.bin, s, work / s, a.n) for s in SYSTEMS}
        names = sorted({k for c in counts.values() for k in c}, key=lambda k: -counts["floe"].get(k, (0, 0))[0])
        print("System calls per append (`strace -f -c`; counts are exact, strace's times are inflated):\n")
        print("| syscall | " + " | ".join(f"`{s}`" for s in SYSTEMS) + " |")
        print("|---|" + "---:|" * len(SYSTEMS))
        for k in names:
            if max(counts[s].get(k, (0, 0))[0] for s in SYSTEMS) < 0.5:
                continue
            print(f"| {k} | " + " | ".join(f"{counts[s].get(k, (0, 0))[0]:.1f}" for s in SYSTEMS) + " |")
        print()
        if a.perf:
            print("Share of CPU samples (`perf record --call-graph dwarf`, inclusive of callees):\n")
            got = {s: perf_shares(a.bin, s, work / s, a.n) for s in ("floe", "floe-relaxed")}
            print("| step | `floe` | `floe-relaxed` |")
            print("|---|---:|---:|")
            for label, sym in STEPS:
                print(f"| {label} | " + " | ".join(f"{got[s].get(sym, 0.0):.1f} %" for s in got) + " |")
            print()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
