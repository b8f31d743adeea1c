"""The 22 TPC-H queries in DuckDB over floe tables read with `iceberg_scan`: the
reference reader of the TPC-H test (results) and the third engine of the TPC-H bench
(timings).

Usage: python duckdb_tpch.py INTEROP_DIR TABLES_JSON QUERIES_JSON RUNS THREADS
  INTEROP_DIR   the repository's interop/ directory (floe_interop finds the avro and
                iceberg extension binaries the venv's pip packages ship: offline)
  TABLES_JSON   {"lineitem": "/…/lineitem/metadata/v3.metadata.json", …}
  QUERIES_JSON  [[1, "select …"], …]
  RUNS          timed runs per query (the first result is kept)
Prints one JSON line: {"duckdb": VERSION, "results": {"1": [[cell, …], …]},
"times_ms": {"1": [ms, …]}}; cells are null, numbers (decimals as floats), or text
(dates as YYYY-MM-DD).
"""

import datetime
import decimal
import json
import shutil
import sys
import tempfile
import time

sys.path.insert(0, sys.argv[1])

import duckdb  # noqa: E402
import floe_interop  # noqa: E402


def cell(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return str(v)


def main():
    tables = json.loads(sys.argv[2])
    queries = json.loads(sys.argv[3])
    runs = max(1, int(sys.argv[4]))
    threads = max(1, int(sys.argv[5]))
    ext_dir = tempfile.mkdtemp(prefix="floe-duckdb-ext-")
    try:
        con = duckdb.connect(
            database=":memory:",
            config={
                "extension_directory": ext_dir,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "threads": threads,
            },
        )
        con.execute("SET enable_progress_bar = false")
        for package, name in (("duckdb_extension_avro", "avro"), ("duckdb_extension_iceberg", "iceberg")):
            con.execute(f"LOAD '{floe_interop._duckdb_extension(package, name)}'")
        for name, metadata in tables.items():
            path = metadata.replace("'", "''")
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM iceberg_scan('{path}')")
        results, times = {}, {}
        for n, sql in queries:
            key = str(n)
            times[key] = []
            for r in range(runs):
                start = time.perf_counter()
                rows = con.execute(sql).fetchall()
                times[key].append((time.perf_counter() - start) * 1000.0)
                if r == 0:
                    results[key] = [[cell(v) for v in row] for row in rows]
        print(json.dumps({"duckdb": duckdb.__version__, "results": results, "times_ms": times}))
    finally:
        shutil.rmtree(ext_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
