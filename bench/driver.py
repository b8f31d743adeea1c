#!/usr/bin/env python3
"""floe against its peers, side by side, in one run: the driver behind bench/run.sh.

Runs every workload for floe (the bench binary built from benches/peers.rs), the
physical baseline (same binary, system `raw`) and each peer (bench/peers.py), one
process per measurement, interleaved: repetition r runs the systems in an order
rotated by r (A B C, B C A, ...), so drift of the shared machine hits everyone alike.
Each process's wall time and peak RSS are measured from outside with wait4(2).

Writes bench/results/<stamp>-<mode>.json (every sample), the generated section of
docs/benchmarks.md (between the `peers:begin` / `peers:end` markers) and the plots
docs/bench-commits.png and docs/bench-data.png.

  driver.py --floe-bin PATH [--quick | --tiny] [--only W,W] [--systems S,S]
            [--reps N] [--procs P,P] [--rows N] [--floe-py-python PY]
            [--no-docs] [--results DIR] [--keep] [--object-store s3://BUCKET/PREFIX]

floe-py (floe's Python package) is an optional system: `--systems …,floe-py` runs the
same workloads through `import floe`, with the interpreter of `--floe-py-python` (one
that has the floe wheel installed; default: `--python`). The report then gives its
figures beside the Rust binary's (the Python layer's overhead) and the Python peers'.

--object-store: every table is a fresh prefix under that URL (credentials and endpoint
from AWS_*; bench/run.sh --object-store starts a server of its own), only the latency
and contention workloads run, `raw` is the server's own conditional PUT per commit
(the ratio's baseline), floe reports its requests per commit by kind, and the report
is printed and saved as bench/results/<stamp>-<mode>-object-store.json (docs/ are
not touched; docs/object-stores.md quotes a run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = ["deltalake", "lance", "pyiceberg", "datashard"]
# Systems peers.py runs that are not in the default set: floe-py needs floe's wheel in the
# bench venv (`--systems deltalake,lance,pyiceberg,datashard,floe-py`; docs/python.md).
OPTIONAL_PEERS = ["floe-py"]
# Run with floe-py, never asked for by name: floe-py with durability="relaxed" (no fsync,
# like deltalake and lance), in the commit workloads on a local disk, beside the Rust
# API's floe-relaxed, so each is compared with the peers that do what it does.
PY_RELAXED = "floe-py-relaxed"
PY_SYSTEMS = [*OPTIONAL_PEERS, PY_RELAXED]
WORKLOADS = ["latency", "contention", "history", "bulk", "scan", "smallfiles"]

# Who fsyncs what, by default (checked with `strace -f -e trace=fsync,fdatasync` on a
# few appends of each: deltalake and lance made no sync calls at all; pyiceberg only
# fdatasync'ed the SQLite catalog; datashard and floe fsync data, metadata and dirs).
FSYNC = {
    "floe": "yes: data files, manifests, manifest list, metadata, directories (Durability::Durable, the default)",
    "floe-relaxed": "no (Durability::Relaxed)",
    "raw": "yes: the temp file and the directory (bulk: the parquet file)",
    "deltalake": "no fsync at all (none seen under strace; object_store local writes)",
    "lance": "no fsync at all (none seen under strace)",
    "pyiceberg": "only the SQLite catalog (SQLite's own fdatasync); data and metadata files are not synced",
    "datashard": "yes: data files, metadata, directories",
    "floe-py": "as floe (the same library under the Python package)",
    "floe-py-relaxed": "no (open_table(..., durability=\"relaxed\"): the Python spelling of Durability::Relaxed)",
    "floe-1enc": "as floe",
}

RETRY = {
    "floe": "default RetryPolicy: rebases and retries internally (up to 100 attempts, 60 s), advisory commit lock",
    "floe-noretry": "RetryPolicy::none(): refresh, then one attempt, no rebase",
    "raw": "probes v<N+1> on EEXIST (it has nothing to rebase)",
    "deltalake": "delta-rs rebases and retries a conflicting commit internally (CommitProperties "
                 "max_commit_retries left at its default)",
    "lance": "lance rebases and retries a conflicting commit internally (its default)",
    "pyiceberg": "refresh, then one append; pyiceberg 0.12 retries a CommitFailedException internally "
                 "(commit.retry.num-retries default 4, waits from 100 ms)",
    "datashard": "datashard's commit() retries internally (up to 50 times with backoff)",
    "floe-py": "as floe: the default RetryPolicy, rebasing appends",
    "floe-py-relaxed": "as floe-py",
    "floe-relaxed": "as floe",
}

TARGETS = {
    "latency": "single-row durable append p50 ≤ 3× the bare loop; relaxed p50 ≤ 0.5 ms",
    "contention": "P = 8 and P = 16: ≥ 400 commits/s, p99 ≤ 50 ms, 0 failures",
    "history": "the last append within 1.25× of #10, after the bare loop's drift; metadata/ after 10,000 "
               "appends ≤ 25 MiB",
    "bulk": "bulk write ≥ 1.4× faster than the raw single-threaded writer, faster than every peer, "
            "memory over the data ≤ 1.3× raw's",
    "scan": "full scan and projection ≥ 1.6× faster than the raw single-threaded reader; every scan faster "
            "than every peer",
}


# --------------------------------------------------------------------------- sizes


@dataclass
class Sizes:
    mode: str
    latency_n: int
    latency_reps: int
    procs: List[int]
    contention_n: int
    contention_reps: int
    history_n: int
    history_marks: List[int]
    bulk_rows: int
    bulk_reps: int
    scan_reps: int
    small_n: int
    small_scan_reps: int
    # Per-process time budgets (s) for the append loops: a peer whose appends slow
    # down with history stops there, and the report says how far it got.
    latency_budget: float = 0.0
    history_budget: float = 0.0
    small_budget: float = 0.0
    # floe and the bare loop go on to this many appends after the history workload (the
    # issue's figure: metadata after 10,000 appends, #10,000 against #10); the peers stop
    # at `history_n` (deltalake's 2,000 take ~3 minutes, each later one longer).
    history_long_n: int = 0


def sizes_for(mode: str) -> Sizes:
    if mode == "tiny":
        return Sizes("tiny", 12, 1, [2], 3, 1, 24, [10, 24], 20_000, 1, 1, 8, 1, 20, 20, 20, 40)
    if mode == "quick":
        return Sizes("quick", 200, 1, [1, 8], 25, 1, 300, [10, 100, 300], 1_000_000, 1, 1, 100, 1, 20, 30, 15)
    return Sizes("full", 200, 3, [1, 2, 4, 8, 16], 25, 3, 2000, [10, 500, 1000, 2000], 10_000_000, 3, 5, 1000, 3,
                 120, 600, 300, 10_000)


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    out: Dict[str, Any]
    wall_s: float
    maxrss_kib: int


class Runner:
    def __init__(self, floe_bin: str, python: str, scratch: Path, keep: bool, verbose: bool,
                 floe_py_python: Optional[str] = None):
        self.floe_bin = floe_bin
        self.python = python
        # floe-py runs where the floe wheel is installed, which need not be the peers' venv.
        self.floe_py_python = floe_py_python or python
        self.scratch = scratch
        self.keep = keep
        self.verbose = verbose
        self.counter = 0
        self.object_store: Optional[str] = None

    def fresh(self, what: str) -> Path:
        self.counter += 1
        if self.object_store:
            # A fresh prefix in the bucket (a str: a URL is not a local path).
            return f"{self.object_store}/{what}-{self.counter}"  # type: ignore[return-value]
        p = self.scratch / f"{what}-{self.counter}"
        if p.exists():
            shutil.rmtree(p)
        return p

    def discard(self, p: Path) -> None:
        # Object-store tables stay in the bench's own server, which is deleted with it.
        # A local table is moved aside, not deleted: the scratch directory goes when the
        # run ends. Deleting thousands of files mid-run slows every file the next
        # measurement creates on ext4 without a journal (it skips inodes freed in the last
        # 60 s, 360 s while their block is dirty), a cost of the harness, not of the
        # system measured next (docs/benchmarks.md, "Method").
        if not self.keep and not self.object_store:
            trash = self.scratch / ".trash"
            trash.mkdir(parents=True, exist_ok=True)
            try:
                p.rename(trash / p.name)
            except OSError:
                shutil.rmtree(p, ignore_errors=True)

    def argv(self, system: str, cmd: str, d: Path, *flags: Any) -> List[str]:
        rest = [cmd, "--system", system, "--dir", str(d), *[str(f) for f in flags]]
        if system in PY_SYSTEMS:
            return [self.floe_py_python, str(HERE / "peers.py"), *rest]
        if system in PEERS:
            return [self.python, str(HERE / "peers.py"), *rest]
        return [self.floe_bin, *rest]

    def run(self, system: str, cmd: str, d: Path, *flags: Any, timeout: float = 3600) -> Proc:
        """One measured process: its JSON, wall time and peak RSS (wait4)."""
        argv = self.argv(system, cmd, d, *flags)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.perf_counter()
            p = subprocess.Popen(argv, stdout=out, stderr=err)
            deadline = started + timeout
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    p.kill()
                    pid, status, ru = os.wait4(p.pid, 0)
                    break
                time.sleep(0.002)
            wall = time.perf_counter() - started
            p.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            text, etext = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}:\n{etext[-3000:]}")
        try:
            doc = json.loads(text.strip().splitlines()[-1])
        except (ValueError, IndexError) as e:
            raise RuntimeError(f"{' '.join(argv)} printed no JSON: {text[-500:]!r} {etext[-1000:]}") from e
        if self.verbose:
            print(f"    {system:<13} {cmd:<8} {wall:8.3f} s  {ru.ru_maxrss / 1024:7.1f} MiB", flush=True)
        return Proc(doc, wall, ru.ru_maxrss)


def rotated(systems: Sequence[str], rep: int) -> List[str]:
    k = rep % len(systems)
    return list(systems[k:]) + list(systems[:k])


# --------------------------------------------------------------------------- statistics


def pct(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not xs:
        return float("nan")
    v = sorted(xs)
    rank = min(len(v), max(1, int(-(-p * len(v) // 1))))
    return v[rank - 1]


def med(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def history_at(lat: Sequence[float], m: int) -> Optional[float]:
    """Latency at append #m: the median of the 21 appends around it (one sample is too
    noisy); None if the run stopped before #m."""
    if m > len(lat):
        return None
    lo, hi = max(0, m - 11), min(len(lat), m + 10)
    return med(lat[lo:hi])


@dataclass
class Fig:
    """A figure: its value per repetition; reported as the median with min–max."""

    samples: List[float] = field(default_factory=list)

    def add(self, x: float) -> None:
        self.samples.append(x)

    @property
    def median(self) -> float:
        return med(self.samples)

    def to_json(self) -> Dict[str, Any]:
        return {"median": self.median, "min": min(self.samples, default=None),
                "max": max(self.samples, default=None), "samples": self.samples}


# --------------------------------------------------------------------------- disk


def tree_bytes(d: Path) -> Tuple[int, int, int]:
    """(total, data, metadata) bytes of files under d. Data = .parquet/.lance files
    outside _delta_log; everything else (logs, checkpoints, manifests, catalogs,
    version hints, locks) is metadata."""
    total = data = 0
    files = 0
    for root, _, names in os.walk(d):
        for n in names:
            p = Path(root) / n
            try:
                size = p.stat().st_size
            except OSError:
                continue
            files += 1
            total += size
            if (n.endswith(".parquet") or n.endswith(".lance")) and "_delta_log" not in p.parts:
                data += size
    return total, data, total - data


# --------------------------------------------------------------------------- workloads


class Bench:
    def __init__(self, runner: Runner, sizes: Sizes, peers: List[str]):
        self.r = runner
        self.s = sizes
        self.peers = peers
        self.results: Dict[str, Any] = {}

    def log(self, msg: str) -> None:
        print(msg, flush=True)

    def relaxed(self) -> List[str]:
        """The no-fsync systems of the commit workloads: floe-relaxed (Rust) always on a
        local disk, floe-py-relaxed too when floe-py runs (on an object store there is no
        fsync to skip)."""
        if self.r.object_store:
            return []
        return ["floe-relaxed", PY_RELAXED] if "floe-py" in self.peers else ["floe-relaxed"]

    # 1 ------------------------------------------------------------------
    def latency(self) -> None:
        # On an object store Durability::Relaxed changes nothing (no fsync to skip).
        systems = ["floe", "raw", *self.peers, *self.relaxed()]
        n = self.s.latency_n
        res: Dict[str, Dict[str, Fig]] = {s: {} for s in systems}
        for rep in range(self.s.latency_reps):
            self.log(f"  latency rep {rep + 1}/{self.s.latency_reps}")
            for system in rotated(systems, rep):
                d = self.r.fresh(f"lat-{system}")
                p = self.r.run(system, "append", d, "--n", n, "--budget-s", self.s.latency_budget)
                lat = [x / 1e6 for x in p.out["lat_ns"]]
                figs = res[system]
                for key, val in (("p50", pct(lat, 0.5)), ("p90", pct(lat, 0.9)), ("p99", pct(lat, 0.99)),
                                 ("first10", med(lat[:10])), ("last10", med(lat[-10:])), ("appends", len(lat))):
                    figs.setdefault(key, Fig()).add(val)
                if "cpu_s" in p.out and lat:
                    figs.setdefault("cpu_ms", Fig()).add(p.out["cpu_s"] * 1e3 / len(lat))
                # floe on an object store: its requests per commit, by kind.
                for kind, count in p.out.get("requests", {}).items():
                    figs.setdefault(f"requests {kind}", Fig()).add(count / max(1, len(lat)))
                if "requests" in p.out:
                    figs.setdefault("requests", Fig()).add(sum(p.out["requests"].values()) / max(1, len(lat)))
                self.r.discard(d)
        self.results["latency"] = {"n": n, "reps": self.s.latency_reps, "budget_s": self.s.latency_budget,
                                   "systems": {s: {k: f.to_json() for k, f in v.items()} for s, v in res.items()}}

    # 2 ------------------------------------------------------------------
    def contention_one(self, system: str, procs: int, n: int) -> Dict[str, Any]:
        d = self.r.fresh(f"cont-{system}-{procs}")
        setup = "raw" if system == "raw" else ("floe" if system.startswith("floe") else system)
        self.r.run(setup, "setup", d)
        start_file = (self.r.scratch / f"{Path(d).name}.start") if self.r.object_store else d.parent / f"{d.name}.start"
        children: List[subprocess.Popen] = []
        try:
            for k in range(procs):
                argv = self.r.argv(system, "contend", d, "--n", n, "--id", k, "--start-file", start_file)
                children.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for c in children:
                line = c.stdout.readline().strip()
                if line != "ready":
                    err = c.stderr.read()
                    raise RuntimeError(f"{system} child did not get ready: {line!r} {err[-2000:]}")
            t0 = time.time_ns()
            start_file.touch()
            outs = []
            for c in children:
                text, err = c.communicate(timeout=1800)
                if c.returncode != 0:
                    raise RuntimeError(f"{system} child exited {c.returncode}: {err[-2000:]}")
                outs.append(json.loads(text.strip().splitlines()[-1]))
        finally:
            # Never leave children polling for a start file that will not come.
            for c in children:
                if c.poll() is None:
                    c.kill()
                    c.wait()
        start_file.unlink()
        end = max(int(o["end_ns"]) for o in outs)
        lat = [x / 1e6 for o in outs for x in o["lat_ns"]]
        errors = [e for o in outs for e in o["errors"]]
        verify = self.r.run(setup, "verify", d, "--expected", procs * n).out
        ok_ids = {i for o in outs for i in o["ok_ids"]}
        if system == "raw":
            # The bare loop keeps no rows: a commit is a v<N> file; compare counts.
            lost_acked = max(0, len(ok_ids) - verify["rows"])
            phantom = max(0, verify["rows"] - len(ok_ids))
        else:
            missing = set(verify["missing_ids"])
            # Lost: acknowledged, not there. Phantom: reported failed, but there.
            lost_acked = len(ok_ids & missing)
            phantom = procs * n - len(missing) - len(ok_ids)
        wall = max(1e-9, (end - t0) / 1e9)
        self.r.discard(d)
        # floe on an object store: every request of every child (lost races included),
        # per acknowledged commit.
        total_requests = sum(sum(o.get("requests", {}).values()) for o in outs)
        requests = total_requests / max(1, len(lat)) if total_requests else None
        return {"ok": len(lat), "requests": requests, "failures": len(errors), "commits_per_s": len(lat) / wall, "wall_s": wall,
                "rows": verify["rows"], "lost_acked": lost_acked, "phantom": phantom, "dup": verify["dup"],
                "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "errors_sample": sorted(set(errors))[:3],
                # Races lost inside the system, where it reports them (floe, raw).
                "retries": (sum(a - 1 for o in outs for a in o["attempts"])
                            if all("attempts" in o for o in outs) else None)}

    def contention(self) -> None:
        noretry = [] if self.r.object_store else ["floe-noretry"]
        # floe-relaxed in contention only beside floe-py-relaxed (its Python overhead).
        relaxed = self.relaxed() if PY_RELAXED in self.relaxed() else []
        systems = ["floe", *noretry, "raw", *self.peers, *relaxed]
        n = self.s.contention_n
        out: Dict[str, Any] = {"n": n, "reps": self.s.contention_reps, "procs": {}}
        for procs in self.s.procs:
            res: Dict[str, Dict[str, Fig]] = {s: {} for s in systems}
            samples: Dict[str, List[Dict[str, Any]]] = {s: [] for s in systems}
            for rep in range(self.s.contention_reps):
                self.log(f"  contention P={procs} rep {rep + 1}/{self.s.contention_reps}")
                for system in rotated(systems, rep):
                    r = self.contention_one(system, procs, n)
                    if self.r.verbose:
                        print(f"    {system:<13} P={procs:<3} {r['commits_per_s']:8.1f} commits/s  "
                              f"{r['failures']} failures  rows {r['rows']}", flush=True)
                    samples[system].append(r)
                    for k in ("commits_per_s", "failures", "rows", "lost_acked", "phantom", "dup", "p50", "p99",
                              "retries", "requests"):
                        if r[k] is not None:
                            res[system].setdefault(k, Fig()).add(r[k])
            out["procs"][str(procs)] = {
                s: {**{k: f.to_json() for k, f in v.items()},
                    "errors_sample": sorted({e for x in samples[s] for e in x["errors_sample"]})[:3]}
                for s, v in res.items()}
        self.results["contention"] = out

    # 3 ------------------------------------------------------------------
    def history(self) -> None:
        systems = ["floe", "raw", *self.peers]
        n = self.s.history_n
        out: Dict[str, Any] = {"n": n, "marks": self.s.history_marks, "budget_s": self.s.history_budget,
                               "systems": {}}
        for system in rotated(systems, 0):
            self.log(f"  history {system} ({n} appends)")
            d = self.r.fresh(f"hist-{system}")
            p = self.r.run(system, "append", d, "--n", n, "--budget-s", self.s.history_budget)
            lat = [x / 1e6 for x in p.out["lat_ns"]]
            total, data, meta = tree_bytes(d)
            at = {str(m): history_at(lat, m) for m in self.s.history_marks}
            out["systems"][system] = {"at": at, "appends": len(lat), "total_s": sum(lat) / 1e3, "bytes": total,
                                      "data_bytes": data,
                                      "metadata_bytes": meta, "p99": pct(lat, 0.99), "lat_ms": lat}
            self.r.discard(d)
        long_n = self.s.history_long_n
        if long_n > n:
            marks = [self.s.history_marks[0], n, long_n]
            long: Dict[str, Any] = {"n": long_n, "marks": marks, "window": 500, "systems": {}}
            for system in ["floe", "raw"]:
                self.log(f"  history {system} ({long_n} appends)")
                d = self.r.fresh(f"hist-long-{system}")
                p = self.r.run(system, "append", d, "--n", long_n, "--budget-s", self.s.history_budget)
                lat = [x / 1e6 for x in p.out["lat_ns"]]
                total, data, meta = tree_bytes(d)
                long["systems"][system] = {
                    "at": {str(m): history_at(lat, m) for m in marks}, "appends": len(lat),
                    "total_s": sum(lat) / 1e3, "metadata_bytes": meta, "p99": pct(lat, 0.99),
                    # The median of each window of 500 appends: flat means no drift.
                    "windows_ms": [med(lat[i:i + 500]) for i in range(0, len(lat), 500)]}
                self.r.discard(d)
            out["long"] = long
        self.results["history"] = out

    # 4 + 5 ----------------------------------------------------------------
    def bulk_and_scan(self, do_bulk: bool, do_scan: bool) -> None:
        # floe-1enc: floe encoding columns on one thread (WriteOptions::encode_threads(1)).
        systems = ["floe", "floe-1enc", "raw", *self.peers] if do_bulk else ["floe", "raw", *self.peers]
        rows = self.s.bulk_rows
        lo = rows // 2
        hi = lo + max(1, rows // 1000)
        bulk: Dict[str, Dict[str, Fig]] = {s: {} for s in systems}
        tables: Dict[str, Path] = {}
        for rep in range(self.s.bulk_reps):
            self.log(f"  bulk rep {rep + 1}/{self.s.bulk_reps} ({rows} rows)")
            for system in rotated(systems, rep):
                d = self.r.fresh(f"bulk-{system}")
                p = self.r.run(system, "bulk", d, "--rows", rows)
                total, data, meta = tree_bytes(d)
                f = bulk[system]
                cpu = [("write_cpu_s", p.out["write_cpu_s"])] if "write_cpu_s" in p.out else []
                for k, v in (("write_s", p.out["write_s"]), *cpu, ("process_s", p.wall_s),
                             ("peak_rss_mib", p.maxrss_kib / 1024),
                             ("rss_over_data_mib", (p.out["hwm_end_kib"] - p.out["hwm_after_gen_kib"]) / 1024),
                             ("data_mib", p.out["hwm_after_gen_kib"] / 1024), ("bytes", total)):
                    f.setdefault(k, Fig()).add(v)
                if system in tables:
                    self.r.discard(tables[system])
                tables[system] = d
        if do_bulk:
            self.results["bulk"] = {"rows": rows, "reps": self.s.bulk_reps,
                                    "systems": {s: {k: f.to_json() for k, f in v.items()} for s, v in bulk.items()}}
        if do_scan:
            scan_systems = ["floe", "floe-1t", "raw", *self.peers]
            modes = [("full", []), ("project", []), ("filter", ["--lo", lo, "--hi", hi])]
            scans: Dict[str, Dict[str, Dict[str, Fig]]] = {m: {s: {} for s in scan_systems} for m, _ in modes}
            skipped: Dict[str, Dict[str, str]] = {m: {} for m, _ in modes}
            expect = {"full": rows, "project": rows, "filter": hi - lo}
            for rep in range(self.s.scan_reps):
                self.log(f"  scans rep {rep + 1}/{self.s.scan_reps}")
                for mode, flags in modes:
                    for system in rotated(scan_systems, rep):
                        d = tables["floe" if system == "floe-1t" else system]
                        p = self.r.run(system, "scan", d, "--mode", mode, *flags)
                        if "skipped" in p.out:
                            skipped[mode][system] = p.out["skipped"]
                            continue
                        if p.out["rows"] != expect[mode]:
                            raise RuntimeError(f"{system} {mode} scan returned {p.out['rows']} rows, "
                                               f"expected {expect[mode]}")
                        f = scans[mode][system]
                        for k, v in (("scan_s", p.out["scan_s"]), ("process_s", p.wall_s),
                                     ("peak_rss_mib", p.maxrss_kib / 1024)):
                            f.setdefault(k, Fig()).add(v)
            self.results["scan"] = {
                "rows": rows, "reps": self.s.scan_reps, "filter": f"{lo} <= id < {hi}",
                "modes": {m: {s: {k: f.to_json() for k, f in v.items()} for s, v in per.items() if v}
                          for m, per in scans.items()},
                "skipped": skipped}
        for d in tables.values():
            self.r.discard(d)

    # 6 ------------------------------------------------------------------
    def smallfiles(self) -> None:
        systems = ["floe", "raw", *self.peers]
        n = self.s.small_n
        out: Dict[str, Any] = {"n": n, "budget_s": self.s.small_budget, "systems": {}, "skipped": {}}
        tables: Dict[str, Path] = {}
        for system in rotated(systems, 0):
            self.log(f"  small files: {system} {n} single-row appends")
            d = self.r.fresh(f"small-{system}")
            p = self.r.run("raw-files" if system == "raw" else system, "append", d, "--n", n,
                           "--budget-s", self.s.small_budget)
            tables[system] = d
            out["systems"][system] = {"files_bytes": tree_bytes(d)[0], "appends": len(p.out["lat_ns"])}
        for phase in ("before", "after"):
            if phase == "after":
                for system in systems:
                    c = self.r.run(system, "compact", tables[system]).out
                    if "skipped" in c:
                        out["skipped"][system] = c["skipped"]
                    else:
                        out["systems"][system]["compact_s"] = c.get("compact_s")
            for rep in range(self.s.small_scan_reps):
                for system in rotated(systems, rep):
                    if phase == "after" and system in out["skipped"]:
                        continue
                    p = self.r.run(system, "scan", tables[system], "--mode", "full")
                    want = out["systems"][system]["appends"]
                    if p.out["rows"] != want:
                        raise RuntimeError(f"{system} small-files scan returned {p.out['rows']} rows, expected {want}")
                    f = out["systems"][system].setdefault(phase, {})
                    f.setdefault("scan_s", Fig()).add(p.out["scan_s"])
                    f.setdefault("process_s", Fig()).add(p.wall_s)
                    f.setdefault("peak_rss_mib", Fig()).add(p.maxrss_kib / 1024)
        for s, v in out["systems"].items():
            for phase in ("before", "after"):
                if phase in v:
                    v[phase] = {k: f.to_json() for k, f in v[phase].items()}
        for d in tables.values():
            self.r.discard(d)
        self.results["smallfiles"] = out


# --------------------------------------------------------------------------- environment


def sh(argv: List[str], cwd: Optional[Path] = None) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=False).stdout.strip()
    except OSError:
        return ""


def environment(scratch: Path, python: str) -> Dict[str, Any]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    df = sh(["df", "-T", str(scratch)]).splitlines()
    cols = df[1].split() if len(df) > 1 else []
    fs = f"{cols[1]} ({cols[0]} on {cols[-1]})" if len(cols) >= 3 else "unknown"
    if cols and cols[1] == "ext4":
        dev = Path(cols[0]).name
        try:
            if Path(f"/sys/fs/ext4/{dev}/journal_task").read_text().strip() == "<none>":
                fs = "ext4 without a journal " + fs[len("ext4 "):]
        except OSError:
            pass
    versions = json.loads(sh([python, "-c", (
        "import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in "
        "['datashard','deltalake','pylance','pyiceberg','pyarrow','SQLAlchemy','numpy','matplotlib']}))")]) or "{}")
    head = sh(["git", "rev-parse", "--short", "HEAD"], cwd=REPO) or "unknown"
    dirty = sh(["git", "status", "--porcelain", "--", "src", "Cargo.toml", "benches"], cwd=REPO)
    return {
        "cpus": os.cpu_count(), "cpu": first("/proc/cpuinfo", "model name"), "ram": first("/proc/meminfo", "MemTotal"),
        "kernel": platform.release(), "filesystem": fs, "scratch": str(scratch),
        "python": sh([python, "-c", "import sys; print(sys.version.split()[0])"]),
        "floe": head + (" + uncommitted changes" if dirty else ""), "versions": versions,
        "rustc": sh(["rustc", "--version"]),
        "load_start": Path("/proc/loadavg").read_text().split()[:3],
    }


# --------------------------------------------------------------------------- object-store report


def object_store_markdown(doc: Dict[str, Any]) -> str:
    """The object-store run as markdown: latency (with the ratio to the server's own
    conditional PUT, `raw`, measured in the same run), requests per commit, contention."""
    res = doc["results"]
    lines = [f"Object-store run {doc['stamp']} ({doc['mode']}), server: {doc['object_store']['server']}, "
             f"{doc['env']['cpus']} CPUs, load {' '.join(doc['env']['load_start'])}", ""]

    def m(figs: Dict[str, Any], k: str) -> float:
        return figs.get(k, {}).get("median", float("nan"))

    if "latency" in res:
        lat = res["latency"]
        raw = m(lat["systems"].get("raw", {}), "p50")
        lines += [f"Single-row append latency ({lat['n']} appends per system, median of {lat['reps']} run(s)); "
                  "`raw` = one conditional PUT of a 2 KB object per commit:", "",
                  "| system | p50 ms | p99 ms | p50 / raw p50 | requests per commit |", "|---|---|---|---|---|"]
        for system, figs in lat["systems"].items():
            kinds = ", ".join(f"{k[len('requests '):]} {m(figs, k):.2f}" for k in sorted(figs)
                              if k.startswith("requests "))
            req = f"{m(figs, 'requests'):.2f} ({kinds})" if "requests" in figs else ""
            lines.append(f"| {system} | {m(figs, 'p50'):.2f} | {m(figs, 'p99'):.2f} | {m(figs, 'p50') / raw:.2f} "
                         f"| {req} |")
        lines.append("")
    if "contention" in res:
        con = res["contention"]
        for procs, per in con["procs"].items():
            lines += [f"P = {procs} processes × {con['n']} single-row appends to one table "
                      f"(median of {con['reps']} run(s)):", "",
                      "| system | commits/s | failures | lost acked | duplicated | p50 ms | p99 ms | races lost | "
                      "requests per commit |",
                      "|---|---|---|---|---|---|---|---|---|"]
            for system, figs in per.items():
                lost = f"{m(figs, 'retries'):.0f}" if "retries" in figs else ""
                req = f"{m(figs, 'requests'):.2f}" if "requests" in figs else ""
                lines.append(f"| {system} | {m(figs, 'commits_per_s'):.1f} | {m(figs, 'failures'):.0f} | "
                             f"{m(figs, 'lost_acked'):.0f} | {m(figs, 'dup'):.0f} | {m(figs, 'p50'):.1f} | "
                             f"{m(figs, 'p99'):.1f} | {lost} | {req} |")
                if figs.get("errors_sample"):
                    lines.append(f"|  | errors: {'; '.join(figs['errors_sample'])[:200]} | | | | | | | |")
            lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--floe-bin", required=True)
    ap.add_argument("--python", default=sys.executable)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true")
    g.add_argument("--tiny", action="store_true", help="smallest sizes: checks that the harness runs")
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--systems", default=",".join(PEERS), help="peers to run (comma-separated; empty for none)")
    ap.add_argument("--reps", type=int, help="repetitions of latency, contention, bulk and scans (overrides the mode's)")
    ap.add_argument("--procs", help="process counts of the contention workload, e.g. 1,8 (overrides the mode's)")
    ap.add_argument("--rows", type=int, help="rows of the bulk write and scans (overrides the mode's)")
    ap.add_argument("--floe-py-python", help="interpreter with the floe wheel, for the floe-py system (default: --python)")
    ap.add_argument("--results", default=str(HERE / "results"))
    ap.add_argument("--scratch", default=str(REPO / "target" / "bench-peers"))
    ap.add_argument("--no-docs", action="store_true", help="do not touch docs/")
    ap.add_argument("--keep", action="store_true", help="keep the scratch tables")
    ap.add_argument("-q", "--quiet", action="store_true")
    ap.add_argument("--object-store", default=None, metavar="URL",
                    help="run latency and contention on tables under this URL (s3://bucket/prefix)")
    a = ap.parse_args()
    if a.object_store:
        a.no_docs = True
        if a.only == ",".join(WORKLOADS):
            a.only = "latency,contention"

    mode = "tiny" if a.tiny else "quick" if a.quick else "full"
    sizes = sizes_for(mode)
    if a.reps:
        sizes.latency_reps = sizes.contention_reps = sizes.bulk_reps = sizes.scan_reps = a.reps
    if a.procs:
        sizes.procs = [int(p) for p in a.procs.split(",") if p]
    if a.rows:
        sizes.bulk_rows = a.rows
    only = [w for w in a.only.split(",") if w]
    for w in only:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}; one of {WORKLOADS}")
        if a.object_store and w not in ("latency", "contention"):
            ap.error(f"--object-store runs latency and contention only, not {w!r}")
    peers = [p for p in a.systems.split(",") if p]
    for p in peers:
        if p not in PEERS + OPTIONAL_PEERS:
            ap.error(f"unknown peer {p!r}; one of {PEERS + OPTIONAL_PEERS}")

    if a.object_store and "datashard" in peers:
        # Its S3 backend needs boto3 (datashard[s3]), which bench/requirements.txt does
        # not install; docs/object-stores.md says what was found.
        print("bench: datashard skipped in object-store mode (its S3 backend needs boto3)", flush=True)
        peers.remove("datashard")
    scratch = Path(a.scratch) / f"run-{os.getpid()}"
    scratch.mkdir(parents=True, exist_ok=True)
    runner = Runner(a.floe_bin, a.python, scratch, a.keep, not a.quiet, a.floe_py_python)
    if a.object_store:
        runner.object_store = f"{a.object_store.rstrip('/')}/run-{os.getpid()}-{int(time.time())}"
    bench = Bench(runner, sizes, peers)
    env = environment(scratch, a.python)
    if "floe-py" in peers:
        fpy = a.floe_py_python or a.python
        env["floe_py"] = {"python": fpy, "module": sh([fpy, "-c", "import floe, floe._floe as m; "
                                                                    "print(floe.__version__, m.__file__)"])}
    started = time.time()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    print(f"bench: mode {mode}, workloads {only}, peers {peers}, scratch {scratch}", flush=True)
    try:
        for w in WORKLOADS:
            if w not in only or (w == "scan" and "bulk" in only):
                continue
            print(f"== {w}", flush=True)
            if w in ("bulk", "scan"):
                bench.bulk_and_scan("bulk" in only, "scan" in only)
            else:
                getattr(bench, w)()
    finally:
        if not a.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    env["load_end"] = Path("/proc/loadavg").read_text().split()[:3]
    env["duration_s"] = round(time.time() - started, 1)
    doc = {"stamp": stamp, "mode": mode, "workloads": only, "peers": peers, "env": env,
           "fsync": FSYNC, "retry": RETRY, "targets": TARGETS, "results": bench.results}
    out_dir = Path(a.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    if a.object_store:
        doc["object_store"] = {"url": runner.object_store, "server": os.environ.get("FLOE_BENCH_S3_SERVER", "?")}
        out_json = out_dir / f"{stamp}-{mode}-object-store.json"
        out_json.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"raw results: {out_json}")
        print(object_store_markdown(doc))
        print(f"done in {env['duration_s']} s")
        return 0
    out_json = out_dir / f"{stamp}-{mode}.json"
    out_json.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"raw results: {out_json}")

    import report  # bench/report.py (matplotlib is imported there)

    md = report.markdown(doc, out_json.relative_to(REPO) if out_json.is_relative_to(REPO) else out_json)
    print(md)
    if not a.no_docs:
        report.write_docs(doc, md, REPO / "docs")
    print(f"done in {env['duration_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
