"""The Python API end to end: create/open, append from every Arrow source, scans,
row-level operations, transactions, history, time travel and maintenance."""

from __future__ import annotations

import datetime as dt
import time

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import floe
from conftest import SCHEMA, rows


def ids(t: pa.Table) -> list[int]:
    return sorted(t.column("id").to_pylist())


def test_create_with_pyarrow_schema_and_open(tmp_path):
    loc = str(tmp_path / "t")
    t = floe.create_table(loc, SCHEMA)
    assert t.version == 1 and t.location.endswith("t")
    assert t.schema.names == ["id", "name"]
    assert t.schema.field("id").metadata[b"PARQUET:field_id"] == b"1"
    assert not t.schema.field("id").nullable
    again = floe.open_table(loc)
    assert again.schema.names == ["id", "name"] and again.scan().count() == 0
    with pytest.raises(floe.TableExists):
        floe.create_table(loc, SCHEMA)
    assert floe.create_table(loc, SCHEMA, exist_ok=True).version == 1


def test_create_with_floe_schema_keeps_field_ids(tmp_path):
    schema = floe.Schema([
        floe.Field(7, "key", "long", required=True),
        {"id": 9, "name": "amount", "type": "decimal(10, 2)", "required": False},
    ])
    t = floe.create_table(str(tmp_path / "t"), schema)
    got = t.iceberg_schema()
    assert [(f.id, f.name, f.type, f.required) for f in got.fields] == [
        (7, "key", "long", True),
        (9, "amount", "decimal(10,2)", False),
    ]
    assert t.schema.field("amount").type == pa.decimal128(10, 2)


def test_append_every_arrow_source(table):
    r = table.append(rows(0, 3))  # pyarrow.Table
    assert isinstance(r, floe.CommitReport) and r.added_records == 3 and r.version == 2
    table.append(pa.record_batch({"id": pa.array([3], pa.int64()), "name": ["n3"]}))
    table.append(pa.RecordBatchReader.from_batches(SCHEMA, rows(4, 2).to_batches()))
    table.append(pd.DataFrame({"id": [6, 7], "name": ["n6", "n7"]}).iloc[[1, 0]])  # non-range index
    table.append(pl.DataFrame({"id": [8], "name": ["n8"]}))

    class Stream:  # any object with __arrow_c_stream__
        def __arrow_c_stream__(self, requested_schema=None):
            return rows(9, 1).__arrow_c_stream__(requested_schema)

    table.append(Stream())
    assert ids(table.scan().to_arrow()) == list(range(10))
    assert table.version == 7 and len(table.snapshots()) == 6


def test_scan_columns_filter_batches_pandas_polars(table):
    table.append(pa.table({"id": pa.array([1, 6, 7, 8], pa.int64()), "name": ["a", "a", "b", None]}))
    got = table.scan(filter="id > 5 and name = 'a'").to_arrow()
    assert got.to_pylist() == [{"id": 6, "name": "a"}]
    assert table.scan(columns=["name"]).to_arrow().column_names == ["name"]
    assert table.scan(filter="name is null").count() == 1
    batches = list(table.scan(batch_size=2).to_batches())
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    assert sum(b.num_rows for b in batches) == 4 and max(b.num_rows for b in batches) <= 2
    reader = table.scan(columns=["id"]).to_reader()
    assert isinstance(reader, pa.RecordBatchReader) and reader.schema.names == ["id"]
    df = table.scan(filter="id >= 7").to_pandas()
    assert isinstance(df, pd.DataFrame) and sorted(df["id"]) == [7, 8]
    pdf = table.scan(filter="id < 7").to_polars()
    assert isinstance(pdf, pl.DataFrame) and sorted(pdf["id"].to_list()) == [1, 6]
    empty = table.scan(filter="id > 100").to_arrow()
    assert empty.num_rows == 0 and empty.column_names == ["id", "name"]


def test_streaming_scan_reads_lazily(table):
    for i in range(3):
        table.append(rows(i * 10, 10))
    it = table.scan(batch_size=5).to_batches()
    first = next(it)
    assert first.num_rows == 5
    assert sum(b.num_rows for b in it) == 25


def test_delete_upsert_insert_if_absent_overwrite(table):
    table.append(rows(0, 10))
    r = table.delete("id >= 8")
    assert r.removed_records >= 2 and table.scan().count() == 8
    r = table.upsert(pa.table({"id": pa.array([1, 100], pa.int64()), "name": ["one", "hundred"]}), on="id")
    assert r.rows_added == 2
    got = {x["id"]: x["name"] for x in table.scan(filter="id in (1, 100)").to_arrow().to_pylist()}
    assert got == {1: "one", 100: "hundred"}
    r = table.insert_if_absent(pa.table({"id": pa.array([1, 101], pa.int64()), "name": ["x", "y"]}), on=["id"])
    assert r.rows_added == 1 and r.keys_skipped == 1
    assert table.scan(filter="id = 1").to_arrow().column("name").to_pylist() == ["one"]
    table.overwrite(pa.table({"id": pa.array([0], pa.int64()), "name": ["zero"]}), filter="id < 5")
    assert ids(table.scan(filter="id < 5").to_arrow()) == [0]
    table.overwrite(rows(50, 2))
    assert ids(table.scan().to_arrow()) == [50, 51]


def test_transaction_commits_on_exit_and_aborts_on_error(table):
    table.append(rows(0, 10))
    with table.transaction() as tx:
        assert tx.base_version == 2
        assert tx.delete("id > 5") == 4
        tx.append(rows(100, 2))
    assert tx.report is not None and tx.report.version == 3 and not tx.is_open
    assert ids(table.scan().to_arrow()) == [0, 1, 2, 3, 4, 5, 100, 101]

    with pytest.raises(RuntimeError, match="boom"):
        with table.transaction() as tx2:
            tx2.append(rows(200, 5))
            raise RuntimeError("boom")
    assert table.version == 3 and table.scan(filter="id >= 200").count() == 0

    tx3 = table.transaction()
    tx3.append(rows(300, 1))
    report = tx3.commit()
    assert report.version == 4
    with pytest.raises(RuntimeError, match="already committed"):
        tx3.commit()


def test_conflict_is_a_concurrent_modification_exception_with_fields(table):
    table.append(rows(0, 10))
    a, b = table.transaction(), table.transaction()
    a.delete("id < 5")
    b.delete("id < 3")
    a.commit()
    with pytest.raises(floe.ConcurrentModificationException) as info:
        b.commit()
    e = info.value
    assert isinstance(e, floe.FloeError)
    assert e.base_version == 2 and e.attempted_version >= 3
    assert e.conflict_kinds and all(isinstance(k, str) for k in e.conflict_kinds)
    assert e.conflicts[0]["kind"] == e.conflict_kinds[0] and e.committed is False
    assert table.scan().count() == 5


def test_history_snapshots_commit_stats(table):
    table.append(rows(0, 1))
    table.append(rows(1, 1))
    h = table.history()
    assert [e.operation for e in h] == ["append", "append"]
    assert h[1].parent_snapshot_id == h[0].snapshot_id
    assert h[0].timestamp.tzinfo is not None
    snaps = table.snapshots()
    assert [s.snapshot_id for s in snaps] == [e.snapshot_id for e in h]
    assert snaps[1].summary["added-records"] == "1"
    assert table.current_snapshot().snapshot_id == h[1].snapshot_id
    stats = table.commit_stats()
    assert stats["commits"] == 2 and stats["conflicts"] == 0
    assert isinstance(stats["latency_p50"], dt.timedelta)


def test_time_travel_by_snapshot_version_and_time(table):
    table.append(rows(0, 2))
    first = table.current_snapshot().snapshot_id
    time.sleep(0.05)
    between = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.05)
    table.append(rows(2, 3))
    assert table.scan(snapshot_id=first).count() == 2
    assert table.scan(version=2).count() == 2
    assert table.scan(version=3).count() == 5
    assert table.scan(as_of=between).count() == 2
    assert table.scan(as_of=dt.datetime.now()).count() == 5  # naive = local time
    with pytest.raises(floe.InvalidArgument):
        table.scan(version=2, snapshot_id=first)
    with pytest.raises(floe.FloeError):
        table.scan(snapshot_id=12345).to_arrow()


def test_maintenance_compact_expire_orphans_rollback_tags(table):
    for i in range(5):
        table.append(rows(i, 1))
    before = table.current_snapshot().snapshot_id
    rep = table.compact(min_input_files=2)
    assert isinstance(rep, floe.MaintenanceReport) and rep.operation == "compact"
    assert rep.data_files_removed == 5 and rep.data_files_added == 1
    assert table.scan().count() == 5

    table.create_tag("v1")
    assert table.tags() == {"v1": table.current_snapshot().snapshot_id}
    table.append(rows(10, 1))
    assert table.scan(snapshot_id=table.tags()["v1"]).count() == 5
    table.remove_tag("v1")
    assert table.tags() == {}

    table.rollback_to(before)
    assert table.current_snapshot().snapshot_id == before and table.scan().count() == 5

    dry = table.expire_snapshots(older_than=0, retain_last=1, dry_run=True)
    assert dry.dry_run and dry.snapshots_expired > 0
    rep = table.expire_snapshots(older_than=dt.timedelta(0), retain_last=1)
    assert rep.snapshots_expired == dry.snapshots_expired
    assert table.scan().count() == 5
    orphans = table.remove_orphans(older_than=0, allow_short_grace=True, dry_run=True)
    assert orphans.dry_run and orphans.operation == "remove-orphans"


def test_table_handle_pickles_by_location(table):
    import pickle

    table.append(rows(0, 3))
    again = pickle.loads(pickle.dumps(table))
    assert again.location == table.location and again.scan().count() == 3
