#!/usr/bin/env python3
"""floe interoperability driver: third-party Iceberg readers/writers behind one CLI.

This script owns the *Python side* of floe's interop tests. The Rust integration
tests create the virtual environment with ``interop/setup.sh`` (pinned pyiceberg,
datashard, DuckDB + its iceberg/avro extensions) and run this script as a
subprocess with that venv's python. Every subcommand prints exactly ONE JSON
document on stdout and exits 0; on error it exits non-zero with a message on
stderr (and nothing on stdout). Library chatter (logging, warnings, C-level
prints) is diverted to stderr so stdout stays parseable.

Subcommands (TABLE_DIR is a plain directory holding an Iceberg v2 table):

  pyiceberg-read TABLE_DIR [--metadata FILE]
      pyiceberg ``StaticTable.from_metadata`` on the newest metadata file (or
      FILE), full scan to Arrow.
      -> {"reader", "metadata_file", "snapshot_id", "schema", "rows", "count"}
  duckdb-read TABLE_DIR [--metadata FILE]
      DuckDB 1.5.5, offline, ``SELECT * FROM iceberg_scan(<metadata file>)``.
      Runs in a child process so a DuckDB abort is reported, not fatal.
      -> {"reader", "metadata_file", "snapshot_id", "columns", "rows", "count"}
  datashard-create TABLE_DIR [--start K] [--count N]
      datashard ``create_table`` with (1 id long required, 2 name string,
      3 value double), then one append of N rows (default ids 1..5).
      -> {"created", "committed", "metadata_file", "snapshot_id", "schema"}
  datashard-append TABLE_DIR --start K --count N [--batches B]
      B commits (default 1) of N rows each, ids K.. continuing, with datashard,
      to an EXISTING table (possibly written by floe).
      -> {"committed": [ids...]}
  datashard-read TABLE_DIR
      datashard's own reader (``Table.to_arrow``).
      -> {"reader", "metadata_file", "snapshot_id", "schema", "rows", "count"}
  datashard-concurrent TABLE_DIR --start K --count N [--max-attempts A]
      N single-row commits, each retried (new transaction) on datashard's
      ConcurrentModificationException up to A times.
      -> {"committed": [ids...], "failed": [ids...], "ambiguous": [ids...],
          "retries": R}

Rows written by datashard-* commands: id=i, name="ds-<i>", value=i*1.5.

JSON value forms (stable across readers, so outputs can be compared):
  * rows are objects {column: value} in table column order, and the row list is
    sorted by all columns in column order (nulls last; see ``_sort_key``);
  * int / str / bool / null as-is; finite floats as JSON numbers, NaN and
    infinities as the strings "NaN", "Infinity", "-Infinity";
  * date -> "YYYY-MM-DD"; time -> "HH:MM:SS.ffffff" (always 6 fraction digits);
  * timestamp (no zone) -> "YYYY-MM-DDTHH:MM:SS.ffffff";
    timestamptz -> converted to UTC, "YYYY-MM-DDTHH:MM:SS.ffffff+00:00";
  * decimal -> str(Decimal) (e.g. "12.30", scale kept);
  * binary / fixed -> lowercase hex; uuid -> canonical "8-4-4-4-12" lowercase
    (also when a reader hands a uuid column back as 16 raw bytes);
  * list -> JSON array; struct -> object; map -> array of [key, value] pairs
    sorted by key; anything else (e.g. a DuckDB interval) -> str(value).
  "snapshot_id" is the current snapshot id (null for a table without one); for
  duckdb-read it is the one the scanned metadata file names as current.
  "schema" entries are [field_id, name, type_string, required] for the current
  schema's top-level fields; type_string is the Iceberg JSON primitive ("long",
  "decimal(10, 2)", "fixed[3]", ...) or list<E> / map<K, V> /
  struct<name: T, ...> with " not null" marking required nested members.
  duckdb-read gives "columns": [[name, duckdb_type], ...] instead (DuckDB does
  not expose field ids).

Exit status: 0 = success (one JSON document on stdout), 1 = failure (message on
stderr, stdout empty), 2 = bad command line.

Newest metadata file (when --metadata is not given): read
metadata/version-hint.text if it names an existing v<N>.metadata.json, then
probe v<N+1>, v<N+2>, ... until one is missing (the hint may lag); without a
usable hint, list metadata/ and take the highest v<N>.metadata.json (or, for
pyiceberg SQL-catalog style names, the highest <NNNNN>-<uuid>.metadata.json).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import decimal
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import traceback
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

# --------------------------------------------------------------------------- output plumbing

# The real stdout, saved before anything else can write to it. ``main`` points
# file descriptor 1 (and sys.stdout) at stderr while a subcommand runs, so that
# only ``_emit`` can reach the caller's stdout.
_REAL_STDOUT_FD: Optional[int] = None


def _divert_stdout() -> None:
    """Send everything written to fd 1 / sys.stdout to stderr until _emit."""
    global _REAL_STDOUT_FD
    sys.stdout.flush()
    _REAL_STDOUT_FD = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def _emit(doc: Any) -> None:
    """Write the one JSON document to the real stdout."""
    text = json.dumps(doc, sort_keys=False, allow_nan=False) + "\n"
    if _REAL_STDOUT_FD is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    data = text.encode("utf-8")
    while data:
        data = data[os.write(_REAL_STDOUT_FD, data):]


class CliError(Exception):
    """An expected failure: message to stderr, exit code 1, no traceback."""


# --------------------------------------------------------------------------- JSON-safe values


def _json_value(v: Any, iceberg_type: Optional[str] = None) -> Any:
    """Convert one value from Arrow/DuckDB/datashard into the documented JSON form.

    `iceberg_type` (when known) lets a uuid column delivered as 16 raw bytes be
    printed as a uuid string rather than hex.
    """
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        if iceberg_type == "uuid" and len(b) == 16:
            return str(uuid.UUID(bytes=b))
        return b.hex()
    # datetime must be tested before date (it is a subclass)
    if isinstance(v, _dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(_dt.timezone.utc)
        return v.isoformat(timespec="microseconds")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, _dt.time):
        return v.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(v, _dt.timedelta):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        items = [_json_value(x) for x in v]
        # pyarrow turns a map into a list of (key, value) tuples: make it a
        # key-sorted list of pairs so the form does not depend on file order.
        if v and all(isinstance(x, tuple) and len(x) == 2 for x in v):
            return sorted(items, key=lambda kv: _cell_key(kv[0]))
        return items
    # Fallback: anything else (e.g. numpy scalars) via str, never a crash.
    return str(v)


def _cell_key(v: Any) -> Tuple[int, Any]:
    """Total order over JSON-safe cell values: numbers < strings < other < null."""
    if v is None:
        return (3, "")
    if isinstance(v, bool):
        return (0, int(v))
    if isinstance(v, (int, float)):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    return (2, json.dumps(v, sort_keys=True))


def _sort_key(columns: Sequence[str]) -> Callable[[Dict[str, Any]], Tuple[Any, ...]]:
    return lambda row: tuple(_cell_key(row.get(c)) for c in columns)


def _rows_doc(columns: Sequence[str], raw_rows: List[Dict[str, Any]],
              types: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """{"rows": sorted JSON-safe rows, "count": n} from reader rows."""
    types = types or {}
    rows = [{c: _json_value(r.get(c), types.get(c)) for c in columns} for r in raw_rows]
    rows.sort(key=_sort_key(columns))
    return {"rows": rows, "count": len(rows)}


def _type_str(t: Any) -> str:
    """Type string for a type in Iceberg's metadata-JSON form (as both pyiceberg
    and datashard can give it): primitives verbatim ("long", "decimal(10, 2)",
    "fixed[3]"), nested types as list<E>, map<K, V>, struct<name: T, ...> with
    " not null" after a required struct field / list element / map value."""
    if isinstance(t, str):
        return t
    if not isinstance(t, dict):
        return str(t)
    nn = lambda req: " not null" if req else ""  # noqa: E731
    kind = t.get("type")
    if kind == "list":
        return f"list<{_type_str(t.get('element'))}{nn(t.get('element-required'))}>"
    if kind == "map":
        return f"map<{_type_str(t.get('key'))}, {_type_str(t.get('value'))}{nn(t.get('value-required'))}>"
    if kind == "struct":
        inner = ", ".join(f"{f.get('name')}: {_type_str(f.get('type'))}{nn(f.get('required'))}"
                          for f in t.get("fields", []))
        return f"struct<{inner}>"
    return json.dumps(t, sort_keys=True)


def _schema_doc(fields: Sequence[Dict[str, Any]]) -> List[List[Any]]:
    """[[field_id, name, type_str, required], ...] from Iceberg-JSON schema fields."""
    return [[int(f["id"]), str(f["name"]), _type_str(f["type"]), bool(f.get("required", False))]
            for f in fields]


# --------------------------------------------------------------------------- metadata discovery

_V_RE = re.compile(r"^v(\d+)\.metadata\.json$")
_SQL_RE = re.compile(r"^(\d+)-[0-9a-fA-F-]+\.metadata\.json$")


def newest_metadata_file(table_dir: str) -> Path:
    """Absolute path of the newest metadata JSON of the table in `table_dir`."""
    meta = Path(table_dir).resolve() / "metadata"
    if not meta.is_dir():
        raise CliError(f"no metadata directory at {meta}")

    def v(n: int) -> Path:
        return meta / f"v{n}.metadata.json"

    hint_path = meta / "version-hint.text"
    n: Optional[int] = None
    try:
        text = hint_path.read_text(encoding="utf-8").strip()
        if text.isdigit() and v(int(text)).is_file():
            n = int(text)
    except (OSError, UnicodeDecodeError):
        n = None
    if n is not None:
        while v(n + 1).is_file():  # the hint may lag behind committed versions
            n += 1
        return v(n)

    names = [p.name for p in meta.iterdir()]
    versions = [int(m.group(1)) for m in map(_V_RE.match, names) if m]
    if versions:
        top = max(versions)
        while v(top + 1).is_file():  # a commit that landed while we listed
            top += 1
        return v(top)
    sql = sorted((int(m.group(1)), m.group(0)) for m in map(_SQL_RE.match, names) if m)
    if sql:
        if len(sql) > 1 and sql[-1][0] == sql[-2][0]:
            raise CliError(f"ambiguous newest metadata in {meta}: {sql[-2][1]}, {sql[-1][1]}")
        return meta / sql[-1][1]
    raise CliError(f"no *.metadata.json in {meta}")


def _metadata_arg(table_dir: str, metadata: Optional[str]) -> Path:
    if metadata:
        p = Path(metadata)
        if not p.is_absolute():
            # Relative names are taken against <table>/metadata/ first, then the cwd.
            cand = Path(table_dir).resolve() / "metadata" / p
            p = cand if cand.is_file() else p.resolve()
        if not p.is_file():
            raise CliError(f"metadata file not found: {p}")
        return p
    return newest_metadata_file(table_dir)


def _current_snapshot_from_json(metadata_file: Path) -> Optional[int]:
    doc = json.loads(metadata_file.read_text(encoding="utf-8"))
    sid = doc.get("current-snapshot-id")
    return None if sid in (None, -1) else int(sid)


# --------------------------------------------------------------------------- pyiceberg


def cmd_pyiceberg_read(args: argparse.Namespace) -> Dict[str, Any]:
    from pyiceberg.table import StaticTable

    mfile = _metadata_arg(args.table_dir, args.metadata)
    table = StaticTable.from_metadata(str(mfile))
    # The schema in Iceberg's JSON form, so its type strings match datashard-read's.
    schema_json = json.loads(table.schema().model_dump_json(by_alias=True))
    fields = _schema_doc(schema_json["fields"])
    types = {f[1]: f[2] for f in fields}
    arrow = table.scan().to_arrow()
    columns = [f[1] for f in fields]
    snap = table.current_snapshot()
    doc: Dict[str, Any] = {
        "reader": "pyiceberg",
        "metadata_file": str(mfile),
        "snapshot_id": snap.snapshot_id if snap is not None else None,
        "schema": fields,
    }
    doc.update(_rows_doc(columns, arrow.to_pylist(), types))
    return doc


# --------------------------------------------------------------------------- DuckDB

DUCKDB_VERSION = "v1.5.5"


def _duckdb_extension(package: str, name: str) -> Path:
    """Path of an extension binary shipped inside a pip package."""
    import importlib

    mod = importlib.import_module(package)
    root = Path(mod.__file__).resolve().parent
    path = root / "extensions" / DUCKDB_VERSION / f"{name}.duckdb_extension"
    if not path.is_file():
        found = sorted(root.rglob(f"{name}.duckdb_extension"))
        if not found:
            raise CliError(f"{name}.duckdb_extension not found under {root}")
        path = found[0]
    return path


def _duckdb_scan(metadata_file: Path) -> Dict[str, Any]:
    """The DuckDB work proper; runs inside the child process."""
    import duckdb

    avro = _duckdb_extension("duckdb_extension_avro", "avro")
    iceberg = _duckdb_extension("duckdb_extension_iceberg", "iceberg")
    with tempfile.TemporaryDirectory(prefix="floe-duckdb-ext-") as ext_dir:
        con = duckdb.connect(
            database=":memory:",
            config={
                "extension_directory": ext_dir,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "threads": 2,
            },
        )
        try:
            con.execute("SET enable_progress_bar = false")
            # avro first: the iceberg extension reads manifests through it.
            con.execute(f"LOAD '{avro}'")
            con.execute(f"LOAD '{iceberg}'")
            # Session time zone UTC: TIMESTAMPTZ values come back in UTC (and the
            # Arrow path below needs no pytz, which fetchall() would).
            con.execute("SET TimeZone = 'UTC'")
            rel = con.sql("SELECT * FROM iceberg_scan(?)", params=[str(metadata_file)])
            columns = list(rel.columns)
            col_types = [str(t) for t in rel.types]
            # Through Arrow, like the pyiceberg path, so both convert values alike.
            raw = rel.to_arrow_table().to_pylist()
        finally:
            con.close()
    types = {c: ("uuid" if t.upper() == "UUID" else t) for c, t in zip(columns, col_types)}
    doc: Dict[str, Any] = {
        "reader": "duckdb",
        "metadata_file": str(metadata_file),
        # iceberg_scan on a metadata file reads its current snapshot; this is that
        # id as the file states it (DuckDB does not report which one it read).
        "snapshot_id": _current_snapshot_from_json(metadata_file),
        "columns": [[c, t] for c, t in zip(columns, col_types)],
    }
    doc.update(_rows_doc(columns, raw, types))
    return doc


def cmd_duckdb_read(args: argparse.Namespace) -> Dict[str, Any]:
    """Run _duckdb_scan in a child python so an abort()/segfault is reported."""
    mfile = _metadata_arg(args.table_dir, args.metadata)
    cmd = [sys.executable, os.path.abspath(__file__), "_duckdb-scan-child", str(mfile)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=args.timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise CliError(f"duckdb child timed out after {args.timeout}s on {mfile}") from e
    sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
    if proc.returncode != 0:
        how = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exit code {proc.returncode}")
        raise CliError(f"duckdb child failed ({how}) reading {mfile}")
    try:
        return json.loads(proc.stdout.decode("utf-8"))
    except ValueError as e:
        raise CliError(f"duckdb child printed no JSON: {proc.stdout[:500]!r}") from e


def cmd_duckdb_scan_child(args: argparse.Namespace) -> Dict[str, Any]:
    return _duckdb_scan(Path(args.metadata_file))


# --------------------------------------------------------------------------- datashard

# The interop table schema: field ids 1, 2, 3 (floe creates the same one).
DS_FIELDS = [
    {"id": 1, "name": "id", "type": "long", "required": True},
    {"id": 2, "name": "name", "type": "string", "required": False},
    {"id": 3, "name": "value", "type": "double", "required": False},
]


def _ds_record(i: int) -> Dict[str, Any]:
    return {"id": i, "name": f"ds-{i}", "value": i * 1.5}


def _ds_quiet() -> None:
    """datashard logs INFO lines to stderr; keep warnings and errors only."""
    import logging

    logging.getLogger("datashard").setLevel(logging.WARNING)


def _ds_load(table_dir: str) -> Any:
    import datashard

    _ds_quiet()
    try:
        return datashard.load_table(str(Path(table_dir).resolve()))
    except ValueError as e:
        raise CliError(str(e)) from e


def _ds_check_schema(table: Any) -> None:
    """The table must have the interop schema's ids, names and types (nullability
    is not checked: datashard writes files with the TABLE's persisted schema)."""
    schema = table._get_current_schema()  # no public accessor in datashard 0.11.2
    got = [(int(f["id"]), f["name"], f["type"]) for f in (schema.fields if schema else [])]
    want = [(f["id"], f["name"], f["type"]) for f in DS_FIELDS]
    if got != want:
        raise CliError(f"table schema {got} is not the interop schema {want}")


def _ds_current(table: Any) -> Tuple[Optional[str], Optional[int]]:
    """(current metadata file, current snapshot id) as datashard sees them."""
    mm = table.metadata_manager
    mm.refresh()
    mfile = Path(table.table_path).resolve() / "metadata" / f"v{mm.current_version}.metadata.json"
    snap = table.current_snapshot()
    return str(mfile), (snap.snapshot_id if snap is not None else None)


def _ds_schema_doc(table: Any) -> List[List[Any]]:
    schema = table._get_current_schema()
    return _schema_doc(schema.fields if schema else [])


def _ds_commit_records(table: Any, records: List[Dict[str, Any]]) -> None:
    """One datashard transaction appending `records` (its commit() already retries
    ConcurrentModificationException internally, up to 50 times with backoff)."""
    with table.new_transaction() as tx:
        tx.append_data(records)
        tx.commit()


def cmd_datashard_create(args: argparse.Namespace) -> Dict[str, Any]:
    import datashard

    _ds_quiet()
    path = str(Path(args.table_dir).resolve())
    table = datashard.create_table(path, schema=datashard.Schema(schema_id=0, fields=[dict(f) for f in DS_FIELDS]))
    ids = list(range(args.start, args.start + args.count))
    if ids:
        _ds_commit_records(table, [_ds_record(i) for i in ids])
    mfile, sid = _ds_current(table)
    return {"created": bool(table.created), "committed": ids, "metadata_file": mfile,
            "snapshot_id": sid, "schema": _ds_schema_doc(table)}


def cmd_datashard_append(args: argparse.Namespace) -> Dict[str, Any]:
    table = _ds_load(args.table_dir)
    _ds_check_schema(table)
    committed: List[int] = []
    next_id = args.start
    for _ in range(args.batches):
        ids = list(range(next_id, next_id + args.count))
        next_id += args.count
        if ids:
            _ds_commit_records(table, [_ds_record(i) for i in ids])
        committed.extend(ids)
    return {"committed": committed}


def cmd_datashard_read(args: argparse.Namespace) -> Dict[str, Any]:
    table = _ds_load(args.table_dir)
    mfile, sid = _ds_current(table)
    arrow = table.to_arrow()
    schema = _ds_schema_doc(table)
    columns = [f[1] for f in schema] or list(arrow.column_names)
    types = {f[1]: f[2] for f in schema}
    doc: Dict[str, Any] = {"reader": "datashard", "metadata_file": mfile, "snapshot_id": sid, "schema": schema}
    doc.update(_rows_doc(columns, arrow.to_pylist(), types))
    return doc


def cmd_datashard_concurrent(args: argparse.Namespace) -> Dict[str, Any]:
    """One commit per row; a commit that still loses after datashard's own 50
    internal retries raises ConcurrentModificationException, and datashard users
    then retry the whole transaction - which is what this does, up to
    --max-attempts times per row. A lock wait that times out (TimeoutError from
    the .locks/metadata.lock flock, 30 s) is retried the same way. An
    AmbiguousCommitError is never retried (the row may have landed)."""
    import datashard

    table = _ds_load(args.table_dir)
    _ds_check_schema(table)
    committed: List[int] = []
    failed: List[int] = []
    ambiguous: List[int] = []
    retries = 0
    for i in range(args.start, args.start + args.count):
        for attempt in range(1, args.max_attempts + 1):
            try:
                _ds_commit_records(table, [_ds_record(i)])
                committed.append(i)
                break
            except datashard.AmbiguousCommitError as e:
                print(f"datashard-concurrent: id {i}: ambiguous commit: {e}", file=sys.stderr)
                ambiguous.append(i)
                break
            except (datashard.ConcurrentModificationException, TimeoutError) as e:
                print(f"datashard-concurrent: id {i}: attempt {attempt} lost: {type(e).__name__}: {e}",
                      file=sys.stderr)
                if attempt == args.max_attempts:
                    failed.append(i)
                else:
                    retries += 1
    return {"committed": committed, "failed": failed, "ambiguous": ambiguous, "retries": retries}


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="floe_interop.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("pyiceberg-read", help="read a table with pyiceberg StaticTable")
    s.add_argument("table_dir")
    s.add_argument("--metadata", help="metadata JSON to load (default: newest v<N>.metadata.json)")
    s.set_defaults(func=cmd_pyiceberg_read)

    s = sub.add_parser("duckdb-read", help="read a table with DuckDB iceberg_scan (offline)")
    s.add_argument("table_dir")
    s.add_argument("--metadata", help="metadata JSON to scan (default: newest v<N>.metadata.json)")
    s.add_argument("--timeout", type=float, default=300.0, help="seconds before the DuckDB child is killed")
    s.set_defaults(func=cmd_duckdb_read)

    s = sub.add_parser("_duckdb-scan-child", help=argparse.SUPPRESS)
    s.add_argument("metadata_file")
    s.set_defaults(func=cmd_duckdb_scan_child)

    s = sub.add_parser("datashard-create", help="create the interop table with datashard and append rows")
    s.add_argument("table_dir")
    s.add_argument("--start", type=int, default=1)
    s.add_argument("--count", type=int, default=5)
    s.set_defaults(func=cmd_datashard_create)

    s = sub.add_parser("datashard-append", help="append rows with datashard to an existing table")
    s.add_argument("table_dir")
    s.add_argument("--start", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--batches", type=int, default=1)
    s.set_defaults(func=cmd_datashard_append)

    s = sub.add_parser("datashard-read", help="read a table with datashard's reader")
    s.add_argument("table_dir")
    s.set_defaults(func=cmd_datashard_read)

    s = sub.add_parser("datashard-concurrent", help="single-row datashard commits with retry")
    s.add_argument("table_dir")
    s.add_argument("--start", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--max-attempts", type=int, default=5)
    s.set_defaults(func=cmd_datashard_concurrent)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("count", "batches", "max_attempts"):
        if getattr(args, name, 1) < (0 if name == "count" else 1):
            print(f"floe_interop.py: --{name.replace('_', '-')} is out of range", file=sys.stderr)
            return 2
    _divert_stdout()
    try:
        doc = args.func(args)
    except CliError as e:
        print(f"floe_interop.py {args.command}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - any library failure is a reported error
        traceback.print_exc(file=sys.stderr)
        print(f"floe_interop.py {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    _emit(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
