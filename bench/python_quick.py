#!/usr/bin/env python3
"""A quick side-by-side of the Python systems only (no floe bench binary needed):
single-row append latency (p50, p99), P = 8 contended commits/s (failed appends
counted) and bulk write, each run of bench/peers.py in its own process, systems
interleaved (order rotated per repetition).

  python bench/python_quick.py [--systems floe-py,deltalake,lance,pyiceberg,datashard]
                               [--reps 3] [--appends 100] [--contend 25] [--rows 1000000]

Run it with a python that has the systems installed (for floe-py: the floe wheel,
docs/python.md). Prints one JSON document: per system, the median over repetitions of
each figure. The harness (bench/driver.py --systems …,floe-py, docs/python.md) measures
the same workloads with the Rust floe binary and the raw-Parquet baseline beside them,
and reports the Python layer's overhead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers.py"


def peers(*args: str) -> dict:
    out = subprocess.run([sys.executable, str(PEERS), *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def contend(system: str, d: Path, procs: int, n: int) -> tuple[float, int]:
    peers("setup", "--system", system, "--dir", str(d))
    start = d.parent / f"{d.name}.start"
    ps = [subprocess.Popen([sys.executable, str(PEERS), "contend", "--system", system, "--dir", str(d), "--n", str(n),
                            "--id", str(k), "--start-file", str(start)], stdout=subprocess.PIPE, text=True)
          for k in range(procs)]
    for p in ps:  # each prints "ready" once its rows are generated
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    start.touch()
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in ps]
    ok = sum(len(o["ok_ids"]) for o in outs)
    span = (max(int(o["end_ns"]) for o in outs) - min(int(o["start_ns"]) for o in outs)) / 1e9
    return ok / span, sum(len(o["errors"]) for o in outs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--systems", default="floe-py,deltalake,lance,pyiceberg,datashard")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--appends", type=int, default=100)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--contend", type=int, default=25)
    ap.add_argument("--rows", type=int, default=1_000_000)
    a = ap.parse_args()
    systems = [s for s in a.systems.split(",") if s]
    res: dict = {s: {"append_p50_ms": [], "append_p99_ms": [], "commits_per_s": [], "failed": [], "bulk_write_s": []} for s in systems}
    scratch = Path(tempfile.mkdtemp(prefix="floe-pyquick-", dir=HERE.parent / "target"))
    try:
        for rep in range(a.reps):
            order = systems[rep % len(systems):] + systems[: rep % len(systems)]
            for s in order:
                d = scratch / f"{s}-{rep}"
                lat = peers("append", "--system", s, "--dir", str(d / "a"), "--n", str(a.appends))["lat_ns"]
                res[s]["append_p50_ms"].append(statistics.median(lat) / 1e6)
                res[s]["append_p99_ms"].append(sorted(lat)[max(0, -(-99 * len(lat) // 100) - 1)] / 1e6)
                rate, failed = contend(s, d / "c", a.procs, a.contend)
                res[s]["commits_per_s"].append(rate)
                res[s]["failed"].append(failed)
                res[s]["bulk_write_s"].append(peers("bulk", "--system", s, "--dir", str(d / "b"),
                                                   "--rows", str(a.rows))["write_s"])
                shutil.rmtree(d, ignore_errors=True)
        summary = {s: {k: round(statistics.median(v), 4) for k, v in f.items()} for s, f in res.items()}
        print(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reps": a.reps,
                          "appends": a.appends, "procs": a.procs, "per_proc": a.contend, "rows": a.rows,
                          "median": summary, "samples": res}, indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
