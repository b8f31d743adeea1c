"""Tables written from Python read back by third-party readers (pyiceberg, DuckDB and
datashard, each in a child process through interop/floe_interop.py), and a table
datashard created, written to by floe."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa

import floe
from conftest import INTEROP, read_with


def by_id(doc):
    return sorted(doc["rows"], key=lambda r: r["id"])


def test_third_party_readers_see_python_writes(tmp_path):
    loc = str(tmp_path / "t")
    schema = floe.Schema([
        floe.Field(1, "id", "long", required=True),
        floe.Field(2, "name", "string"),
        floe.Field(3, "value", "double"),
    ])
    # datashard 0.11.2 reads DELETED manifest entries as live: tables it reads after a
    # delete keep removed files out of the manifests (docs/python.md).
    t = floe.create_table(loc, schema, properties={"floe.write.deleted-entries": "false"})
    t.append(pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", None], "value": [0.5, 1.5, 2.5]}))
    with t.transaction() as tx:
        tx.delete("id = 2")
        tx.append(pa.table({"id": pa.array([4], pa.int64()), "name": ["d"], "value": [4.0]}))
    t.upsert(pa.table({"id": pa.array([1], pa.int64()), "name": ["A"], "value": [9.0]}), on="id")
    want = sorted(t.scan().to_arrow().to_pylist(), key=lambda r: r["id"])
    assert [r["id"] for r in want] == [1, 3, 4]
    for reader in ("pyiceberg", "duckdb", "datashard"):
        doc = read_with(reader, loc)
        assert doc["count"] == 3, reader
        assert by_id(doc) == want, reader
        assert doc["snapshot_id"] == t.current_snapshot().snapshot_id, reader


def test_floe_appends_to_a_datashard_table(tmp_path):
    loc = str(tmp_path / "ds")
    out = subprocess.run([sys.executable, str(INTEROP), "datashard-create", loc, "--count", "3"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    t = floe.open_table(loc)
    assert t.scan().count() == 3
    t.append(pa.table({"id": pa.array([10, 11], pa.int64()), "name": ["f10", "f11"], "value": [1.0, 2.0]}))
    for reader in ("datashard", "pyiceberg", "duckdb"):
        doc = read_with(reader, loc)
        assert sorted(r["id"] for r in doc["rows"]) == [1, 2, 3, 10, 11], reader
