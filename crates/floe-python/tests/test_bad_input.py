"""Bad input from Python: a clear exception, and nothing written to the table."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow as pa
import pytest

import floe
from conftest import data_files, rows


@pytest.fixture
def loaded(table):
    table.append(rows(0, 3))
    return table


def unchanged(table, version, files):
    fresh = floe.open_table(table.location)
    assert fresh.version == version, "a failed call committed"
    assert data_files(table.location) == files, "a failed call left data files behind"
    assert fresh.scan().count() == 3


BAD_CALLS = [
    # (call, exception, message fragment)
    (lambda t: t.append(42), TypeError, "expected Arrow data"),
    (lambda t: t.append("id,name\n1,a"), TypeError, "expected Arrow data"),
    (lambda t: t.append([{"id": 1}]), TypeError, "expected Arrow data"),
    (lambda t: t.append(pa.table({"name": ["x"]})), floe.SchemaMismatch, "required column is missing"),
    (
        lambda t: t.append(pa.table({"id": pa.array([None, 5], pa.int64()), "name": ["x", "y"]})),
        floe.NullInRequiredField,
        "null",
    ),
    (lambda t: t.append(pd.DataFrame({"id": [None], "name": ["x"]})), floe.SchemaMismatch, "id"),
    (
        lambda t: t.append(pa.table({"id": pa.array([1], pa.int64()), "name": ["x"], "extra": [1]})),
        floe.SchemaMismatch,
        "extra",
    ),
    (lambda t: t.append(pa.table({"id": ["not a number"], "name": ["x"]})), floe.SchemaMismatch, "id"),
    (lambda t: t.delete("id >"), floe.InvalidFilter, "syntax"),
    (lambda t: t.delete("nope = 1"), floe.InvalidFilter, "nope"),
    (lambda t: t.delete(5), TypeError, "filter must be a str"),
    (lambda t: t.upsert(rows(0, 1), on="nope"), floe.FloeError, "nope"),
    (lambda t: t.upsert(rows(0, 1), on=[]), floe.InvalidArgument, "key"),
    (lambda t: t.scan(filter="id > 'x' and").to_arrow(), floe.InvalidFilter, ""),
    (lambda t: t.scan(columns=["nope"]).to_arrow(), floe.FloeError, "nope"),
    (lambda t: t.scan(as_of="yesterday"), TypeError, "datetime"),
    (lambda t: t.scan(version=99).to_arrow(), floe.FloeError, "99"),
    (lambda t: t.expire_snapshots(older_than="1d"), TypeError, "older_than"),
    (lambda t: t.expire_snapshots(older_than=-1.0), ValueError, "older_than"),
    (lambda t: t.rollback_to(1), floe.FloeError, ""),
]


@pytest.mark.parametrize("call,exc,fragment", BAD_CALLS, ids=[f"case{i}" for i in range(len(BAD_CALLS))])
def test_bad_call_raises_and_writes_nothing(loaded, call, exc, fragment):
    version, files = loaded.version, data_files(loaded.location)
    with pytest.raises(exc) as info:
        call(loaded)
    assert fragment.lower() in str(info.value).lower()
    unchanged(loaded, version, files)


def test_bad_rows_in_a_transaction_abort_it(loaded):
    version, files = loaded.version, data_files(loaded.location)
    with pytest.raises(floe.NullInRequiredField) as info:
        with loaded.transaction() as tx:
            tx.append(rows(10, 2))
            tx.append(pa.table({"id": pa.array([None], pa.int64()), "name": ["x"]}))
    assert info.value.field == "id" and info.value.null_count == 1
    assert floe.open_table(loaded.location).version == version
    assert floe.open_table(loaded.location).scan().count() == 3
    # Files staged by the aborted transaction are removed or left to remove_orphans;
    # the table never references them.
    assert set(files) <= set(data_files(loaded.location))


def test_bad_schema_and_locations(tmp_path):
    with pytest.raises(TypeError, match="schema"):
        floe.create_table(str(tmp_path / "a"), {"id": "long"})
    with pytest.raises(floe.InvalidArgument):
        floe.Schema([{"id": 1, "name": "x"}])
    with pytest.raises(floe.InvalidArgument):
        floe.Field(0, "x", "long")
    with pytest.raises(floe.FloeError):
        floe.create_table(str(tmp_path / "b"), floe.Schema([floe.Field(1, "x", "not-a-type")]))
    with pytest.raises(floe.FloeError):
        floe.create_table(str(tmp_path / "c"), pa.schema([("x", pa.int64())]), partition_by=[("y", "identity")])
    with pytest.raises(TypeError, match="location"):
        floe.open_table(42)
    with pytest.raises(floe.TableNotFound) as info:
        floe.open_table(str(tmp_path / "missing"))
    assert isinstance(info.value, FileNotFoundError) and info.value.path.endswith("missing")
    for name in ("a", "b", "c"):
        assert not os.path.exists(tmp_path / name / "metadata") or not os.listdir(tmp_path / name / "metadata")
