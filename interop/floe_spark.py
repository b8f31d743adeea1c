#!/usr/bin/env python3
"""Spark 3.5 + Iceberg 1.10 behind a line protocol: the Spark side of floe's Spark interop tests.

The Rust tests (crates/floe-cli/tests/spark.rs) start ONE of these per test binary with the
python of the venv ``interop/spark-setup.sh`` builds, and send it SQL: one JVM start serves
every Spark write and read of the run (starting Spark costs ~20 s, a statement ~1-5 s).

  floe_spark.py serve --warehouse DIR [--remove-at-exit PATH]

Starts a local Spark session (one executor thread, no UI, UTC session time zone, bound to
127.0.0.1) with Iceberg's SQL extensions and one Iceberg catalog named ``x`` of type
``hadoop`` whose warehouse is DIR: table ``x.NS.T`` is the plain directory DIR/NS/T holding
an Iceberg table (``metadata/v<N>.metadata.json`` + ``metadata/version-hint.text``), the
layout floe reads and writes. The catalog cache is off, so every statement sees the newest
commit, also when another process (floe) made it.

Protocol: after the session is up the script prints one JSON line
``{"ready": true, "spark": "3.5.9", "iceberg": "1.10.2"}``; then it reads requests, one
JSON object per line on stdin, and answers each with one JSON line on stdout:

  {"sql": "SELECT ..."}  ->  {"ok": true, "columns": [name, ...], "rows": [[v, ...], ...]}
                        or  {"ok": false, "error": "<exception text>"}

Rows are arrays in column order, in Spark's order (compare them as multisets). Values:
int / str / bool / null as-is; finite floats as numbers, NaN and infinities as the strings
"NaN", "Infinity", "-Infinity"; decimal -> str(Decimal) ("12.30", scale kept); date ->
"YYYY-MM-DD"; timestamp -> "YYYY-MM-DDTHH:MM:SS.ffffff" (UTC); binary -> lowercase hex;
array -> JSON array; struct -> object; map -> [key, value] pairs sorted by key.

End of stdin stops Spark and exits 0, after deleting PATH (``--remove-at-exit``: the
test's scratch directory, which the test process, ending first, cannot remove itself). Spark's and the JVM's own output goes to stderr
(stdout is the protocol only).
"""

from __future__ import annotations

import argparse
import atexit
import datetime as _dt
import decimal
import json
import math
import os
import pathlib
import shutil
import sys
import tempfile
import time

RUNTIME_JAR = "iceberg-spark-runtime-3.5_2.12-1.10.2.jar"
SHADED_JACKSON_JAR = "iceberg-shaded-jackson-2.15.2.jar"


def _value(v):
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
    if isinstance(v, _dt.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return sorted(([_value(k), _value(x)] for k, x in v.items()), key=lambda kv: json.dumps(kv[0]))
    if hasattr(v, "asDict"):
        return {k: _value(x) for k, x in v.asDict(recursive=False).items()}
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v]
    return str(v)


def _jars() -> list[str]:
    import snowpark_connect_deps_iceberg

    runtime = pathlib.Path(snowpark_connect_deps_iceberg.__file__).parent / "jars" / RUNTIME_JAR
    shaded = pathlib.Path(sys.prefix) / "floe-jars" / SHADED_JACKSON_JAR
    for jar in (runtime, shaded):
        if not jar.is_file():
            raise SystemExit(f"floe_spark.py: {jar} is missing; run interop/spark-setup.sh")
    return [str(runtime), str(shaded)]


def _session(warehouse: pathlib.Path):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # pyspark turns timestamps into naive datetimes in the *Python process's* local zone
    # (not Spark's session zone): pin both to UTC so the JSON forms are UTC.
    os.environ["TZ"] = "UTC"
    time.tzset()
    from pyspark.sql import SparkSession

    # Spark's own scratch (the unused session catalog's warehouse), outside the Iceberg one.
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="floe-spark-"))
    atexit.register(shutil.rmtree, scratch, True)
    builder = (
        SparkSession.builder.master("local[1]")
        .appName("floe-spark-interop")
        .config("spark.jars", ",".join(_jars()))
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.catalog.x", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.x.type", "hadoop")
        .config("spark.sql.catalog.x.warehouse", str(warehouse))
        .config("spark.sql.catalog.x.cache-enabled", "false")
        .config("spark.sql.warehouse.dir", str(scratch / "spark-warehouse"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
    )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def serve(warehouse: pathlib.Path, remove_at_exit: pathlib.Path | None) -> int:
    # The protocol owns the real stdout; everything else printing to fd 1 (the JVM the
    # session starts inherits it) lands on stderr.
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    warehouse.mkdir(parents=True, exist_ok=True)
    spark = _session(warehouse)
    iceberg = RUNTIME_JAR.rsplit("-", 1)[1].removesuffix(".jar")
    out.write(json.dumps({"ready": True, "spark": spark.version, "iceberg": iceberg}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            df = spark.sql(request["sql"])
            rows = [[_value(v) for v in row] for row in df.collect()]
            answer = {"ok": True, "columns": df.columns, "rows": rows}
        except Exception as e:  # noqa: BLE001 - every failure is an answer, not a crash
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        out.write(json.dumps(answer) + "\n")
    spark.stop()
    if remove_at_exit is not None:
        shutil.rmtree(remove_at_exit, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="start Spark and answer SQL requests (one JSON line each)")
    p.add_argument("--warehouse", required=True, type=pathlib.Path)
    p.add_argument("--remove-at-exit", type=pathlib.Path, help="a directory to delete once Spark stopped")
    args = parser.parse_args()
    return serve(args.warehouse.resolve(), args.remove_at_exit)


if __name__ == "__main__":
    sys.exit(main())
