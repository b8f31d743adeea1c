#!/usr/bin/env python3
"""The peers' side of floe's side-by-side benchmark: one workload step per run.

Same commands and flags as the floe bench binary (benches/peers.rs), one JSON object
on stdout, so bench/driver.py runs every system the same way and measures each
process's wall time and peak RSS from outside.

  peers.py append  --system S --dir D --n N [--budget-s B]
  peers.py setup   --system S --dir D
  peers.py contend --system S --dir D --n N --id K --start-file F
  peers.py verify  --system S --dir D --expected N
  peers.py bulk    --system S --dir D --rows N
  peers.py scan    --system S --dir D --mode full|project|filter [--lo A --hi B]
  peers.py compact --system S --dir D

Systems (each used through its documented public API, default settings):
  deltalake  deltalake (delta-rs) write_deltalake / DeltaTable.to_pyarrow_table
  lance      pylance write_dataset / LanceDataset.to_table
  pyiceberg  pyiceberg with a SqlCatalog on SQLite in the table directory
  datashard  datashard append_arrow / to_arrow
  floe-py    floe's Python package: create_table / append / scan(...).to_arrow (optional:
             needs the floe wheel in the venv; not in the driver's default peers)
  floe-py-relaxed  floe-py with durability="relaxed" (no fsync, like deltalake and lance)

Rows: id (int64), name (16 hex digits of splitmix64(id)), value (float64 from the
same hash) - the same bytes the floe binary generates.

Object-store mode: --dir is an s3:// URL; endpoint and credentials come from AWS_ENDPOINT,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION. deltalake commits with S3's
conditional put (object_store's `conditional_put=etag`: If-None-Match on the log entry),
lance with its default S3 commit (a conditional put), pyiceberg through its SQL catalog
(SQLite in a local directory named after the URL) with its S3 FileIO for every file;
datashard's S3 backend needs boto3, which the bench venv does not have.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pyarrow as pa

BATCH_ROWS = 128 * 1024
PROJECTED = "value"

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)


# --------------------------------------------------------------------------- data


def splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)


def make_batch(start: int, n: int) -> pa.RecordBatch:
    ids = np.arange(start, start + n, dtype=np.int64)
    h = splitmix64(ids.astype(np.uint64))
    digits = _HEX[((h[:, None] >> _SHIFTS) & np.uint64(0xF)).astype(np.intp)]
    offsets = np.arange(0, 16 * (n + 1), 16, dtype=np.int32)
    names = pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(digits.tobytes()))
    values = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return pa.RecordBatch.from_arrays([pa.array(ids), names, pa.array(values)], schema=SCHEMA)


def make_table(start: int, n: int) -> pa.Table:
    batches = [make_batch(start + o, min(BATCH_ROWS, n - o)) for o in range(0, n, BATCH_ROWS)]
    return pa.Table.from_batches(batches, schema=SCHEMA)


def cpu_s() -> float:
    """CPU seconds (user + system, every thread) this process has used so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_kib() -> int:
    """VmHWM (peak resident set so far) of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- systems


def is_url(path: Any) -> bool:
    return "://" in str(path)


def s3_env() -> Dict[str, str]:
    return {k: os.environ[k] for k in ("AWS_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
            if k in os.environ}


class System:
    """One peer: open/create, append a pyarrow Table, read."""

    MODULE = ""

    def __init__(self, path: Any):
        # A local directory (Path) or, in object-store mode, an s3:// URL (str).
        self.path = path
        # Imported before any data is generated, so the peak RSS right after
        # generation already includes the library (`bulk` reports the growth after).
        __import__(self.MODULE)

    def create(self) -> None: ...

    def open(self) -> None: ...

    def refresh(self) -> None:
        """Before a contended append: see the newest version (no-op if the append does)."""

    def append(self, table: pa.Table) -> None: ...

    def read(self, columns: List[str] | None, lo: int | None, hi: int | None) -> pa.Table: ...

    def compact(self) -> Dict[str, Any]:
        return {"skipped": "no compaction in this peer's API"}


class Delta(System):
    MODULE = "deltalake"

    def options(self) -> Dict[str, str] | None:
        if not is_url(self.path):
            return None
        e = s3_env()
        return {"AWS_ENDPOINT_URL": e.get("AWS_ENDPOINT", ""), "AWS_ACCESS_KEY_ID": e.get("AWS_ACCESS_KEY_ID", ""),
                "AWS_SECRET_ACCESS_KEY": e.get("AWS_SECRET_ACCESS_KEY", ""),
                "AWS_REGION": e.get("AWS_REGION", "us-east-1"), "AWS_ALLOW_HTTP": "true",
                "conditional_put": "etag"}

    def create(self) -> None:
        from deltalake import DeltaTable

        self.dt = DeltaTable.create(str(self.path), schema=SCHEMA, storage_options=self.options())

    def open(self) -> None:
        from deltalake import DeltaTable

        self.dt = DeltaTable(str(self.path), storage_options=self.options())

    def append(self, table: pa.Table) -> None:
        from deltalake import write_deltalake

        write_deltalake(self.dt, table, mode="append")

    def read(self, columns, lo, hi) -> pa.Table:
        from deltalake import DeltaTable

        dt = DeltaTable(str(self.path), storage_options=self.options())
        filters = [("id", ">=", lo), ("id", "<", hi)] if lo is not None else None
        return dt.to_pyarrow_table(columns=columns, filters=filters)

    def compact(self) -> Dict[str, Any]:
        from deltalake import DeltaTable

        metrics = DeltaTable(str(self.path)).optimize.compact()
        return {"metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}}


class Lance(System):
    MODULE = "lance"

    def options(self) -> Dict[str, str] | None:
        if not is_url(self.path):
            return None
        e = s3_env()
        return {"aws_endpoint": e.get("AWS_ENDPOINT", ""), "aws_access_key_id": e.get("AWS_ACCESS_KEY_ID", ""),
                "aws_secret_access_key": e.get("AWS_SECRET_ACCESS_KEY", ""),
                "aws_region": e.get("AWS_REGION", "us-east-1"), "allow_http": "true"}

    def create(self) -> None:
        import lance

        self.ds = lance.write_dataset(SCHEMA.empty_table(), str(self.path), mode="create",
                                      storage_options=self.options())

    def open(self) -> None:
        import lance

        self.ds = lance.dataset(str(self.path), storage_options=self.options())

    def append(self, table: pa.Table) -> None:
        self.ds.insert(table, mode="append")

    def read(self, columns, lo, hi) -> pa.Table:
        import lance

        flt = f"id >= {lo} AND id < {hi}" if lo is not None else None
        return lance.dataset(str(self.path), storage_options=self.options()).to_table(columns=columns, filter=flt)

    def compact(self) -> Dict[str, Any]:
        import lance

        m = lance.dataset(str(self.path)).optimize.compact_files()
        return {"fragments_removed": m.fragments_removed, "fragments_added": m.fragments_added}


class Iceberg(System):
    MODULE = "pyiceberg.catalog.sql"
    NAME = "bench.t"

    def _catalog(self):
        from pyiceberg.catalog.sql import SqlCatalog

        if is_url(self.path):
            e = s3_env()
            return SqlCatalog(
                "bench", uri=f"sqlite:///{self._local() / 'catalog.db'}", warehouse=f"{self.path}/warehouse",
                **{"s3.endpoint": e.get("AWS_ENDPOINT", ""), "s3.access-key-id": e.get("AWS_ACCESS_KEY_ID", ""),
                   "s3.secret-access-key": e.get("AWS_SECRET_ACCESS_KEY", ""),
                   "s3.region": e.get("AWS_REGION", "us-east-1")})
        return SqlCatalog(
            "bench", uri=f"sqlite:///{self.path / 'catalog.db'}", warehouse=f"file://{self.path / 'warehouse'}"
        )

    def _local(self) -> Path:
        """The catalog's local directory: the same for every process of one URL."""
        import hashlib
        import tempfile

        return Path(tempfile.gettempdir()) / "floe-bench-pyiceberg" / hashlib.sha1(str(self.path).encode()).hexdigest()

    def create(self) -> None:
        (self._local() if is_url(self.path) else self.path).mkdir(parents=True, exist_ok=True)
        cat = self._catalog()
        cat.create_namespace("bench")
        self.t = cat.create_table(self.NAME, schema=SCHEMA)

    def open(self) -> None:
        self.t = self._catalog().load_table(self.NAME)

    def refresh(self) -> None:
        self.t.refresh()

    def append(self, table: pa.Table) -> None:
        self.t.append(table)

    def read(self, columns, lo, hi) -> pa.Table:
        from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

        t = self._catalog().load_table(self.NAME)
        kw: Dict[str, Any] = {}
        if columns is not None:
            kw["selected_fields"] = tuple(columns)
        if lo is not None:
            kw["row_filter"] = And(GreaterThanOrEqual("id", lo), LessThan("id", hi))
        return t.scan(**kw).to_arrow()


class Datashard(System):
    MODULE = "datashard"
    FIELDS = [
        {"id": 1, "name": "id", "type": "long", "required": True},
        {"id": 2, "name": "name", "type": "string", "required": True},
        {"id": 3, "name": "value", "type": "double", "required": True},
    ]

    def create(self) -> None:
        import datashard

        self.t = datashard.create_table(str(self.path), schema=datashard.Schema(schema_id=0, fields=self.FIELDS))

    def open(self) -> None:
        import datashard

        self.t = datashard.load_table(str(self.path))

    def append(self, table: pa.Table) -> None:
        self.t.append_arrow(table)

    def read(self, columns, lo, hi) -> pa.Table:
        import datashard

        t = datashard.load_table(str(self.path))
        flt = {"id": ("between", (lo, hi - 1))} if lo is not None else None
        return t.to_arrow(columns=columns, filter=flt)

    def compact(self) -> Dict[str, Any]:
        import datashard

        report = datashard.load_table(str(self.path)).rewrite_data_files()
        return {"report": {k: v for k, v in report.items() if isinstance(v, (int, float, str))}}


class FloePy(System):
    """floe from Python (the `floe` package of crates/floe-python), as a Python user calls
    it; install a release wheel into the bench venv first (docs/python.md)."""

    MODULE = "floe"
    DURABILITY = "durable"

    def create(self) -> None:
        import floe

        self.t = floe.create_table(str(self.path), SCHEMA, durability=self.DURABILITY)

    def open(self) -> None:
        import floe

        self.t = floe.open_table(str(self.path), durability=self.DURABILITY)

    def append(self, table: pa.Table) -> None:
        self.t.append(table)

    def read(self, columns, lo, hi) -> pa.Table:
        import floe

        flt = f"id >= {lo} and id < {hi}" if lo is not None else None
        return floe.open_table(str(self.path)).scan(columns=columns, filter=flt).to_arrow()

    def compact(self) -> Dict[str, Any]:
        import floe

        r = floe.open_table(str(self.path)).compact()
        return {"data_files_removed": r.data_files_removed, "data_files_added": r.data_files_added}


class FloePyRelaxed(FloePy):
    """floe-py with ``durability="relaxed"``: commits without fsync, like deltalake and lance."""

    DURABILITY = "relaxed"


SYSTEMS = {"deltalake": Delta, "lance": Lance, "pyiceberg": Iceberg, "datashard": Datashard, "floe-py": FloePy,
           "floe-py-relaxed": FloePyRelaxed}


# --------------------------------------------------------------------------- commands


def cmd_setup(s: System, a) -> Dict[str, Any]:
    s.create()
    return {}


def cmd_append(s: System, a) -> Dict[str, Any]:
    s.create()
    rows = [make_table(i, 1) for i in range(a.n)]
    lat = []
    cpu_before = cpu_s()
    started_all = time.perf_counter()
    for t in rows:
        started = time.perf_counter_ns()
        s.append(t)
        lat.append(time.perf_counter_ns() - started)
        if a.budget_s and time.perf_counter() - started_all > a.budget_s:
            break  # out of time: the driver reports how far it got
    # CPU time of the loop (all threads): what the appends cost, unstretched by load.
    return {"lat_ns": lat, "cpu_s": cpu_s() - cpu_before}


def cmd_contend(s: System, a) -> Dict[str, Any]:
    s.open()
    first = a.id * a.n
    rows = [make_table(i, 1) for i in range(first, first + a.n)]
    print("ready", flush=True)
    start_file = Path(a.start_file)
    while not start_file.exists():
        time.sleep(0.0002)
    start_ns = time.time_ns()
    lat, ok_ids, errors = [], [], []
    for i, t in zip(range(first, first + a.n), rows):
        started = time.perf_counter_ns()
        try:
            s.refresh()
            s.append(t)  # no application retry: whatever the peer does inside is all
            lat.append(time.perf_counter_ns() - started)
            ok_ids.append(i)
        except Exception as e:  # noqa: BLE001 - every failure is a counted outcome
            errors.append(f"{type(e).__name__}: {e}"[:300])
    end_ns = time.time_ns()
    return {"start_ns": str(start_ns), "end_ns": str(end_ns), "lat_ns": lat, "ok_ids": ok_ids, "errors": errors}


def cmd_verify(s: System, a) -> Dict[str, Any]:
    ids = s.read(["id"], None, None).column("id").to_numpy()
    counts = np.bincount(ids[(ids >= 0) & (ids < a.expected)], minlength=a.expected) if a.expected else np.zeros(0)
    extra = int(((ids < 0) | (ids >= a.expected)).sum())
    lost = int((counts == 0).sum())
    dup = int(np.maximum(counts - 1, 0).sum()) + extra
    missing = np.flatnonzero(counts == 0).tolist()
    return {"rows": int(len(ids)), "lost": lost, "dup": dup, "missing_ids": missing}


def cmd_bulk(s: System, a) -> Dict[str, Any]:
    started = time.perf_counter()
    data = make_table(0, a.rows)
    gen_s = time.perf_counter() - started
    hwm_after_gen = peak_rss_kib()
    cpu_before = cpu_s()
    started = time.perf_counter()
    s.create()
    s.append(data)
    write_s = time.perf_counter() - started
    return {"gen_s": gen_s, "write_s": write_s, "write_cpu_s": cpu_s() - cpu_before,
            "hwm_after_gen_kib": hwm_after_gen, "hwm_end_kib": peak_rss_kib()}


def cmd_scan(s: System, a) -> Dict[str, Any]:
    import pyarrow.compute as pc

    columns = [PROJECTED] if a.mode == "project" else None
    lo, hi = (a.lo, a.hi) if a.mode == "filter" else (None, None)
    started = time.perf_counter()
    t = s.read(columns, lo, hi)
    scan_s = time.perf_counter() - started
    id_sum = int(pc.sum(t.column("id")).as_py() or 0) if "id" in t.column_names else 0
    return {"scan_s": scan_s, "rows": t.num_rows, "id_sum": id_sum, "hwm_end_kib": peak_rss_kib()}


def cmd_compact(s: System, a) -> Dict[str, Any]:
    started = time.perf_counter()
    out = s.compact()
    if "skipped" not in out:
        out["compact_s"] = time.perf_counter() - started
    return out


COMMANDS = {
    "setup": cmd_setup,
    "append": cmd_append,
    "contend": cmd_contend,
    "verify": cmd_verify,
    "bulk": cmd_bulk,
    "scan": cmd_scan,
    "compact": cmd_compact,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=sorted(COMMANDS))
    p.add_argument("--system", required=True, choices=sorted(SYSTEMS))
    p.add_argument("--dir", required=True)
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--budget-s", type=float, default=0.0)
    p.add_argument("--id", type=int, default=0)
    p.add_argument("--start-file")
    p.add_argument("--expected", type=int, default=0)
    p.add_argument("--rows", type=int, default=0)
    p.add_argument("--mode", default="full", choices=["full", "project", "filter"])
    p.add_argument("--lo", type=int)
    p.add_argument("--hi", type=int)
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("datashard", "pyiceberg", "deltalake", "lance", "floe"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    system = SYSTEMS[a.system](a.dir if is_url(a.dir) else Path(a.dir).resolve())
    out = COMMANDS[a.command](system, a)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown (not part of any workload)


if __name__ == "__main__":
    main()
