"""``floe.datashard``: datashard's table API on floe, for moving datashard code over.

Code written against datashard's concurrency API runs with only its import line
changed (``from datashard import …`` → ``from floe.datashard import …``):
``create_table(path, schema)``, ``load_table(path)``, ``Schema(schema_id=…, fields=[…])``,
``table.new_transaction()`` as a context manager, ``tx.append_data(records=…, schema=…,
partition_values=…)``, ``tx.commit()``, ``table.append_records(records, schema)``,
``table.current_snapshot()`` and ``ConcurrentModificationException``. The tables are
floe (Apache Iceberg v2) tables that datashard itself, pyiceberg and DuckDB read.

Where floe behaves differently (``docs/python.md``, "Migrating from datashard"):

* Concurrent appends never fail: floe rebases an append over commits that landed
  since its transaction began, so ``ConcurrentModificationException`` is raised only
  for real conflicts (and only after floe's own retries), not for two appends racing.
* ``commit()`` returns ``True`` or raises; it never returns ``False``.
* ``partition_values`` are checked against the records (every record must carry those
  values) rather than used to lay out files: a table created here is unpartitioned
  unless created with floe's ``partition_by``.
* Tables created here set ``floe.write.deleted-entries=false`` (datashard 0.11.2
  reads removed files as live otherwise); floe also does this by itself for tables
  datashard has written to.
* Records are converted to the table's schema exactly (``long`` values must be ints,
  a required field may not be missing or ``None``): bad records raise
  :class:`floe.SchemaMismatch` and write nothing.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import pyarrow as pa

from . import Schema as _FloeSchema
from . import Table as _FloeTable
from . import _floe
from ._errors import ConcurrentModificationException, FloeError, InvalidArgument, SchemaMismatch

__all__ = [
    "ConcurrentModificationException",
    "Schema",
    "Table",
    "Transaction",
    "create_table",
    "load_table",
]

# datashard 0.11.2 reads DELETED manifest entries as live files: tables made here keep
# removed files out of manifests instead, so datashard reads them after deletes too.
_DATASHARD_PROPERTIES = {"floe.write.deleted-entries": "false"}

_VALID_TYPES = {
    "boolean", "int", "long", "float", "double", "date", "time", "timestamp",
    "timestamptz", "string", "uuid", "fixed", "binary",
}


class Schema:
    """datashard's schema: ``Schema(schema_id=1, fields=[{"id", "name", "type", "required"}])``."""

    def __init__(self, schema_id: int, fields: List[Dict[str, Any]], schema_string: str = ""):
        seen_ids, seen_names = set(), set()
        for f in fields:
            for key in ("id", "name", "type"):
                if key not in f:
                    raise ValueError(f"Invalid schema: Field missing required property '{key}': {f}")
            t = f["type"]
            if not (t in _VALID_TYPES or (isinstance(t, str) and t.startswith("decimal("))):
                raise ValueError(f"Invalid schema: unsupported type {t!r} for field {f['name']!r}")
            if f["id"] in seen_ids or f["name"] in seen_names:
                raise ValueError(f"Invalid schema: duplicate field id or name in {f}")
            seen_ids.add(f["id"])
            seen_names.add(f["name"])
        self.schema_id = schema_id
        self.fields = [dict(f) for f in fields]
        self.schema_string = schema_string or json.dumps(self.fields)

    def _floe(self) -> _FloeSchema:
        return _FloeSchema(
            [{"id": f["id"], "name": f["name"], "type": f["type"], "required": bool(f.get("required", False))}
             for f in self.fields],
            schema_id=self.schema_id,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.schema_id == other.schema_id and self.fields == other.fields

    def __repr__(self) -> str:
        return f"Schema(schema_id={self.schema_id}, fields={self.fields!r})"


def _records_to_arrow(table: _FloeTable, records: List[Dict[str, Any]], schema: Optional[Schema],
                      partition_values: Optional[Dict[str, Any]]) -> pa.Table:
    arrow_schema = table.schema
    names = set(arrow_schema.names)
    if schema is not None:
        if not isinstance(schema, Schema):
            raise TypeError(f"schema must be a floe.datashard.Schema, got {type(schema).__name__}")
        given = [f["name"] for f in schema.fields]
        if set(given) != names:
            raise SchemaMismatch(f"schema fields {given} do not match the table's columns {arrow_schema.names}")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise TypeError("records must be a list of dicts")
    for i, r in enumerate(records):
        extra = set(r) - names
        if extra:
            raise SchemaMismatch(f"record {i} has columns the table does not have: {sorted(extra)}")
    if partition_values:
        for key, value in partition_values.items():
            if key not in names:
                raise SchemaMismatch(f"partition value for unknown column {key!r}")
            for i, r in enumerate(records):
                if r.get(key) != value:
                    raise ValueError(f"record {i} has {key}={r.get(key)!r}, not the partition value {value!r}")
    # Nullable in Arrow so that a missing required value reaches floe, which names it.
    loose = pa.schema([f.with_nullable(True) for f in arrow_schema])
    try:
        return pa.Table.from_pylist(records, schema=loose)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
        raise SchemaMismatch(f"records do not fit the table's schema: {e}") from e


class Transaction:
    """datashard's transaction: ``append_data`` stages records, ``commit()`` commits them."""

    def __init__(self, table: "Table"):
        self._table = table
        self._tx = table._floe_table.transaction()
        self._active = True

    def begin(self) -> "Transaction":
        return self

    def is_active(self) -> bool:
        return self._active

    def append_data(self, records: List[Dict[str, Any]], schema: Optional[Schema] = None,
                    partition_values: Optional[Dict[str, Any]] = None) -> "Transaction":
        if not self._active:
            raise RuntimeError("Transaction is not active")
        if records:
            self._tx.append(_records_to_arrow(self._table._floe_table, records, schema, partition_values))
        return self

    def commit(self) -> bool:
        """Commits; returns ``True`` (floe raises instead of returning ``False``)."""
        if not self._active:
            raise RuntimeError("Transaction is not active")
        self._active = False
        self._tx.commit()
        self._table._floe_table.refresh()
        return True

    def rollback(self) -> None:
        if self._active:
            self._active = False
            self._tx.abort()

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        if exc_type is not None:
            self.rollback()
        elif self._active:
            self.commit()


class Table:
    """datashard's table on a floe table (``floe_table`` is the full floe API)."""

    def __init__(self, floe_table: _FloeTable):
        self._floe_table = floe_table
        self.table_path = floe_table.location

    @property
    def floe_table(self) -> _FloeTable:
        return self._floe_table

    def __reduce__(self):
        return (load_table, (self.table_path,))

    def location(self) -> str:
        return self.table_path

    def new_transaction(self) -> Transaction:
        return Transaction(self)

    def append_records(self, records: List[Dict[str, Any]], schema: Optional[Schema] = None,
                       partition_values: Optional[Dict[str, Any]] = None) -> bool:
        with self.new_transaction() as tx:
            tx.append_data(records=records, schema=schema, partition_values=partition_values)
            return bool(tx.commit())

    def append_arrow(self, table: Any, schema: Optional[Schema] = None) -> bool:
        self._floe_table.append(table)
        return True

    def append_pandas(self, df: Any, schema: Optional[Schema] = None) -> bool:
        self._floe_table.append(df)
        return True

    def current_snapshot(self):
        self._floe_table.refresh()
        return self._floe_table.current_snapshot()

    def snapshot_by_id(self, snapshot_id: int):
        return next((s for s in self._floe_table.snapshots() if s.snapshot_id == snapshot_id), None)

    def snapshots(self) -> list:
        self._floe_table.refresh()
        return self._floe_table.snapshots()

    def refresh(self) -> bool:
        self._floe_table.refresh()
        return True

    def row_count(self, snapshot_id: Optional[int] = None) -> int:
        self._floe_table.refresh()
        return self._floe_table.scan(snapshot_id=snapshot_id).count()

    def to_arrow(self, snapshot_id: Optional[int] = None) -> pa.Table:
        self._floe_table.refresh()
        return self._floe_table.scan(snapshot_id=snapshot_id).to_arrow()

    def to_pandas(self, snapshot_id: Optional[int] = None):
        return self.to_arrow(snapshot_id).to_pandas()

    def properties(self) -> Dict[str, str]:
        return self._floe_table.properties()


def create_table(table_path: str, schema: Optional[Schema] = None, partition_spec: Any = None,
                 if_exists: str = "error") -> Table:
    """Creates the table at ``table_path``, or opens the one there (as datashard does).

    An existing table with a different schema raises :class:`floe.SchemaMismatch`
    unless ``if_exists="ignore"``.
    """
    if partition_spec is not None:
        raise InvalidArgument("partition_spec is not supported by floe.datashard; use floe.create_table(partition_by=…)")
    path = os.fspath(table_path)
    if schema is None:
        return load_table(path)
    if not isinstance(schema, Schema):
        raise TypeError(f"schema must be a floe.datashard.Schema, got {type(schema).__name__}")
    try:
        inner = _floe.Table.create(path, json.dumps(schema._floe().to_json()), None, _DATASHARD_PROPERTIES, False)
        return Table(_FloeTable(inner))
    except FloeError as e:
        if type(e).__name__ != "TableExists":
            raise
    table = load_table(path)
    def norm(t: str) -> str:  # "decimal(10, 2)" and "decimal(10,2)" are one type
        return t.replace(" ", "")

    existing = [(f.name, norm(f.type), f.required) for f in table._floe_table.iceberg_schema().fields]
    wanted = [(f["name"], norm(f["type"]), bool(f.get("required", False))) for f in schema.fields]
    if existing != wanted and if_exists != "ignore":
        raise SchemaMismatch(f"table at {path} has schema {existing}, not {wanted}")
    return table


def load_table(table_path: str) -> Table:
    """Opens the table at ``table_path`` (:class:`floe.TableNotFound` if there is none)."""
    return Table(_FloeTable(_floe.Table.open(os.fspath(table_path))))
