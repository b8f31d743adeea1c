"""floe: transactional Apache Iceberg v2 tables in a plain directory, from Python.

Many processes append to, read and maintain one table at once with no server. Data
crosses into and out of floe through the Arrow C stream interface: pass a pyarrow
``Table``/``RecordBatch``/``RecordBatchReader``, a pandas or polars ``DataFrame``, or
anything with ``__arrow_c_stream__``; read back pyarrow, pandas or polars.

>>> import pyarrow as pa, floe
>>> t = floe.create_table("/tmp/events", pa.schema([("id", pa.int64()), ("name", pa.string())]))
>>> t.append(pa.table({"id": [1, 2], "name": ["a", "b"]}))
>>> t.scan(filter="id > 1").to_arrow()

Every commit, scan and maintenance call releases the GIL; a ``Table`` may be shared by
threads and re-opened (or pickled) into worker processes. Errors are the exceptions of
:mod:`floe._errors`, all subclasses of :class:`FloeError`. See ``docs/python.md``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pyarrow as _pa

from . import _floe
from ._errors import (
    CommitFilesMissing,
    CommitStateUnknown,
    CommittedNotDurable,
    ConcurrentModificationException,
    CorruptTable,
    FloeError,
    InvalidArgument,
    InvalidFilter,
    NotFound,
    NullInRequiredField,
    SchemaMismatch,
    StorageError,
    TableExists,
    TableNotFound,
    TransactionTooOld,
    Unsupported,
)

CommitReport = _floe.CommitReport
MaintenanceReport = _floe.MaintenanceReport
Snapshot = _floe.Snapshot
HistoryEntry = _floe.HistoryEntry

__version__ = _floe.FLOE_VERSION

__all__ = [
    "Field",
    "Schema",
    "Table",
    "Transaction",
    "Scan",
    "create_table",
    "open_table",
    "CommitReport",
    "MaintenanceReport",
    "Snapshot",
    "HistoryEntry",
    "FloeError",
    "ConcurrentModificationException",
    "CommitStateUnknown",
    "CommittedNotDurable",
    "CommitFilesMissing",
    "TransactionTooOld",
    "SchemaMismatch",
    "NullInRequiredField",
    "TableNotFound",
    "TableExists",
    "NotFound",
    "InvalidArgument",
    "InvalidFilter",
    "Unsupported",
    "CorruptTable",
    "StorageError",
]

_PRIMITIVES = {
    "boolean",
    "int",
    "long",
    "float",
    "double",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "string",
    "uuid",
    "binary",
}


class Field:
    """One column of a :class:`Schema`: an Iceberg field id, a name, an Iceberg type
    (``"long"``, ``"string"``, ``"decimal(10, 2)"``, …) and whether it is required."""

    __slots__ = ("id", "name", "type", "required", "doc")

    def __init__(self, id: int, name: str, type: str, required: bool = False, doc: str | None = None):
        if not isinstance(id, int) or isinstance(id, bool) or id <= 0:
            raise InvalidArgument(f"field id must be a positive int, got {id!r}")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"field name must be a non-empty str, got {name!r}")
        if not isinstance(type, str):
            raise InvalidArgument(f"field type must be an Iceberg type name such as 'long', got {type!r}")
        self.id, self.name, self.type, self.required, self.doc = id, name, type, bool(required), doc

    def to_json(self) -> dict:
        d = {"id": self.id, "name": self.name, "type": self.type, "required": self.required}
        if self.doc is not None:
            d["doc"] = self.doc
        return d

    def __repr__(self) -> str:
        return f"Field(id={self.id}, name={self.name!r}, type={self.type!r}, required={self.required})"


class Schema:
    """A table schema with explicit Iceberg field ids.

    ``fields`` are :class:`Field` objects or dicts ``{"id", "name", "type", "required"}``.
    A ``pyarrow.Schema`` may be used instead wherever a schema is taken (floe then
    numbers the fields 1, 2, 3 …).
    """

    def __init__(self, fields: Sequence[Field | Mapping[str, Any]], schema_id: int = 0):
        if isinstance(fields, (str, bytes)) or not isinstance(fields, Iterable):
            raise InvalidArgument(f"fields must be a list of Field or dict, got {type(fields).__name__}")
        out = []
        for f in fields:
            if isinstance(f, Field):
                out.append(f)
            elif isinstance(f, Mapping):
                missing = {"id", "name", "type"} - set(f)
                if missing:
                    raise InvalidArgument(f"field {dict(f)!r} is missing {sorted(missing)}")
                out.append(Field(f["id"], f["name"], f["type"], f.get("required", False), f.get("doc")))
            else:
                raise InvalidArgument(f"a field must be a Field or a dict, got {type(f).__name__}")
        self.fields = out
        self.schema_id = int(schema_id)

    def to_json(self) -> dict:
        """The Iceberg schema JSON object."""
        return {"type": "struct", "schema-id": self.schema_id, "fields": [f.to_json() for f in self.fields]}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> "Schema":
        return cls(value.get("fields", []), value.get("schema-id", 0))

    def __repr__(self) -> str:
        return f"Schema(fields={self.fields!r})"


def _schema_arg(schema: Any) -> Any:
    import json

    if isinstance(schema, Schema):
        return json.dumps(schema.to_json())
    if isinstance(schema, _pa.Schema):
        return schema
    if hasattr(schema, "__arrow_c_schema__"):
        return _pa.schema(schema)
    raise TypeError(f"schema must be a pyarrow.Schema or a floe.Schema, got {type(schema).__name__}")


def _arrow_data(data: Any) -> Any:
    """``data`` as something with ``__arrow_c_stream__`` (no copy for Arrow data)."""
    module = type(data).__module__ or ""
    if module.startswith("pandas"):
        # The index is not a column of the table.
        return _pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, _pa.RecordBatch):
        return _pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__") or isinstance(data, _pa.RecordBatchReader):
        return data
    if hasattr(data, "__arrow_c_array__"):
        return _pa.Table.from_batches([_pa.record_batch(data)])
    raise TypeError(
        "expected Arrow data (a pyarrow Table, RecordBatch or RecordBatchReader, a pandas or polars "
        f"DataFrame, or any object with __arrow_c_stream__), got {type(data).__name__}"
    )


def _keys(on: str | Sequence[str]) -> list[str]:
    if isinstance(on, str):
        return [on]
    keys = list(on)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise InvalidArgument(f"on must name one or more key columns, got {on!r}")
    return keys


def _filter(filter: str | None) -> str | None:
    if filter is not None and not isinstance(filter, str):
        raise TypeError(f"filter must be a str such as \"id > 5 and name = 'a'\", got {type(filter).__name__}")
    return filter


def _seconds(value: float | _dt.timedelta | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"{name} must be a datetime.timedelta or seconds, got {type(value).__name__}")


class Scan:
    """A read of a table: columns, a filter and a snapshot, read on demand.

    ``to_arrow()`` reads everything (files in parallel); ``to_batches()`` streams
    ``pyarrow.RecordBatch`` objects, reading files as they are pulled.
    """

    def __init__(self, table: "Table", columns, filter, snapshot_id, version, as_of, batch_size):
        chosen = [n for n, v in (("snapshot_id", snapshot_id), ("version", version), ("as_of", as_of)) if v is not None]
        if len(chosen) > 1:
            raise InvalidArgument(f"choose one of snapshot_id, version, as_of; got {', '.join(chosen)}")
        if columns is not None:
            if isinstance(columns, str):
                columns = [columns]
            columns = list(columns)
            if not all(isinstance(c, str) for c in columns):
                raise TypeError("columns must be a list of column names")
        as_of_ms = None
        if as_of is not None:
            if not isinstance(as_of, _dt.datetime):
                raise TypeError(f"as_of must be a datetime.datetime, got {type(as_of).__name__}")
            # A naive datetime is local time, as datetime.timestamp() reads it.
            as_of_ms = int(as_of.timestamp() * 1000)
        self._table = table
        self._kwargs = dict(
            columns=columns,
            filter=_filter(filter),
            snapshot_id=snapshot_id,
            version=version,
            as_of_ms=as_of_ms,
            batch_size=batch_size,
        )

    def to_arrow(self) -> _pa.Table:
        """The whole result as a ``pyarrow.Table``."""
        return self._table._inner.scan_table(**self._kwargs)

    def to_reader(self) -> _pa.RecordBatchReader:
        """The result as a streaming ``pyarrow.RecordBatchReader``."""
        return self._table._inner.scan_reader(**self._kwargs)

    def to_batches(self) -> Iterator[_pa.RecordBatch]:
        """The result as ``pyarrow.RecordBatch`` objects, read as they are pulled."""
        yield from self.to_reader()

    def to_pandas(self, **kwargs: Any):
        """The whole result as a ``pandas.DataFrame`` (``kwargs`` go to ``pyarrow.Table.to_pandas``)."""
        return self.to_arrow().to_pandas(**kwargs)

    def to_polars(self):
        """The whole result as a ``polars.DataFrame``."""
        import polars as pl

        return pl.from_arrow(self.to_arrow())

    def count(self) -> int:
        """The number of rows the scan returns."""
        kw = {k: v for k, v in self._kwargs.items() if k not in ("columns", "batch_size")}
        return self._table._inner.count(**kw)


class Transaction:
    """Changes staged against one table version and committed together.

    Use as a context manager: the block's changes commit when it ends normally and are
    dropped when it raises. ``report`` holds the :class:`CommitReport` once committed.
    """

    def __init__(self, inner: Any):
        self._inner = inner

    def append(self, data: Any) -> None:
        """Stages Arrow data to append."""
        self._inner.append(_arrow_data(data))

    def delete(self, filter: str) -> int:
        """Stages deleting the rows matching ``filter``; returns the rows removed."""
        return self._inner.delete(_filter(filter))

    def overwrite(self, data: Any, filter: str | None = None) -> int:
        """Stages replacing the rows matching ``filter`` (all rows if ``None``) with ``data``."""
        return self._inner.overwrite(_arrow_data(data), _filter(filter))

    def upsert(self, data: Any, on: str | Sequence[str]) -> int:
        """Stages an upsert keyed on ``on``; returns the rows added."""
        return self._inner.upsert(_arrow_data(data), _keys(on))

    def insert_if_absent(self, data: Any, on: str | Sequence[str]) -> int:
        """Stages inserting the rows of ``data`` whose key is not in the table."""
        return self._inner.insert_if_absent(_arrow_data(data), _keys(on))

    def set_property(self, key: str, value: str) -> None:
        """Records ``key=value`` in the commit's snapshot summary."""
        self._inner.set_property(key, value)

    def commit(self) -> CommitReport:
        """Commits the staged changes."""
        return self._inner.commit()

    def abort(self) -> None:
        """Drops the staged changes."""
        self._inner.abort()

    @property
    def base_version(self) -> int:
        return self._inner.base_version

    @property
    def report(self) -> CommitReport | None:
        return self._inner.report

    @property
    def is_open(self) -> bool:
        return self._inner.is_open

    def __enter__(self) -> "Transaction":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        return self._inner.__exit__(exc_type, exc, tb)


class Table:
    """A floe table. Create with :func:`create_table`, open with :func:`open_table`.

    A handle may be shared by threads; pickling it (e.g. to a ``multiprocessing``
    worker) re-opens the table by location, with the same durability, in the
    receiving process.
    """

    def __init__(self, inner: Any):
        self._inner = inner

    def __reduce__(self):
        return (_reopen, (self.location, self.durability))

    def __repr__(self) -> str:
        return repr(self._inner)

    # -- properties
    @property
    def location(self) -> str:
        """The table's directory."""
        return self._inner.location

    @property
    def version(self) -> int:
        """The table version this handle last saw."""
        return self._inner.version

    @property
    def durability(self) -> str:
        """``"durable"`` or ``"relaxed"``: whether this handle's commits fsync (see
        :func:`open_table`)."""
        return self._inner.durability

    @property
    def schema(self) -> _pa.Schema:
        """The current schema as a ``pyarrow.Schema`` (field ids in the field metadata)."""
        return self._inner.arrow_schema()

    def iceberg_schema(self) -> Schema:
        """The current schema with its Iceberg field ids."""
        import json

        return Schema.from_json(json.loads(self._inner.schema_json()))

    def properties(self) -> dict[str, str]:
        return dict(self._inner.properties())

    def refresh(self) -> None:
        """Loads the latest table metadata."""
        self._inner.refresh()

    # -- writes (one commit each)
    def append(self, data: Any) -> CommitReport:
        """Appends ``data`` in one commit; concurrent appends are rebased, never lost."""
        return self._inner.append(_arrow_data(data))

    def delete(self, filter: str) -> CommitReport:
        """Deletes the rows matching ``filter`` (e.g. ``"id > 5"``)."""
        return self._inner.delete(_filter(filter))

    def overwrite(self, data: Any, filter: str | None = None) -> CommitReport:
        """Replaces the rows matching ``filter`` (every row when ``None``) with ``data``."""
        return self._inner.overwrite(_arrow_data(data), _filter(filter))

    def upsert(self, data: Any, on: str | Sequence[str]) -> CommitReport:
        """Inserts ``data``, replacing rows with the same key (``on``)."""
        return self._inner.upsert(_arrow_data(data), _keys(on))

    def insert_if_absent(self, data: Any, on: str | Sequence[str]) -> CommitReport:
        """Inserts the rows of ``data`` whose key (``on``) is not in the table yet."""
        return self._inner.insert_if_absent(_arrow_data(data), _keys(on))

    def transaction(self) -> Transaction:
        """A transaction on the current version (a context manager committing on exit)."""
        return Transaction(self._inner.transaction())

    # -- reads
    def scan(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        snapshot_id: int | None = None,
        version: int | None = None,
        as_of: _dt.datetime | None = None,
        batch_size: int | None = None,
    ) -> Scan:
        """A scan: ``columns`` to read, a ``filter`` such as ``"id > 5 and name = 'a'"``,
        and at most one of ``snapshot_id``, ``version`` (a table version) or ``as_of``
        (the snapshot current at that time)."""
        return Scan(self, columns, filter, snapshot_id, version, as_of, batch_size)

    def to_arrow(self) -> _pa.Table:
        """Every row of the current snapshot."""
        return self.scan().to_arrow()

    def count(self, filter: str | None = None) -> int:
        return self.scan(filter=filter).count()

    def history(self) -> list[HistoryEntry]:
        """The snapshots that were current, oldest first."""
        return self._inner.history()

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot in the table metadata."""
        return self._inner.snapshots()

    def current_snapshot(self) -> Snapshot | None:
        return self._inner.current_snapshot()

    def commit_stats(self) -> dict[str, Any]:
        """Commit counters and latency percentiles of this handle."""
        return self._inner.commit_stats()

    # -- maintenance
    def compact(
        self,
        target_file_size: int | None = None,
        min_input_files: int | None = None,
        filter: str | None = None,
        dry_run: bool = False,
    ) -> MaintenanceReport:
        """Rewrites small data files into files of about ``target_file_size`` bytes."""
        return self._inner.compact(target_file_size, min_input_files, _filter(filter), dry_run)

    def expire_snapshots(
        self,
        older_than: float | _dt.timedelta | None = None,
        retain_last: int | None = None,
        dry_run: bool = False,
    ) -> MaintenanceReport:
        """Expires old snapshots and deletes files only they referenced."""
        return self._inner.expire_snapshots(_seconds(older_than, "older_than"), retain_last, dry_run)

    def remove_orphans(
        self,
        older_than: float | _dt.timedelta | None = None,
        dry_run: bool = False,
        allow_short_grace: bool = False,
    ) -> MaintenanceReport:
        """Deletes unreferenced files older than ``older_than`` (default: floe's grace period)."""
        return self._inner.remove_orphans(_seconds(older_than, "older_than"), dry_run, allow_short_grace)

    def rollback_to(self, snapshot_id: int) -> MaintenanceReport:
        """Makes an ancestor snapshot current again."""
        return self._inner.rollback_to(snapshot_id)

    def create_tag(self, name: str, snapshot_id: int | None = None) -> MaintenanceReport:
        """Tags a snapshot (the current one by default); read it with ``scan(snapshot_id=tags()[name])``."""
        return self._inner.create_tag(name, snapshot_id)

    def remove_tag(self, name: str) -> MaintenanceReport:
        return self._inner.remove_tag(name)

    def tags(self) -> dict[str, int]:
        return dict(self._inner.tags())


_DURABILITY = ("durable", "relaxed")


def _durability(durability: str) -> str:
    if durability not in _DURABILITY:
        raise InvalidArgument(f'durability must be "durable" or "relaxed", got {durability!r}')
    return durability


def create_table(
    location: str,
    schema: Any,
    *,
    partition_by: Sequence[tuple[str, str]] | None = None,
    properties: Mapping[str, str] | None = None,
    exist_ok: bool = False,
    durability: str = "durable",
) -> Table:
    """Creates a table at ``location`` with ``schema`` (a ``pyarrow.Schema`` or a
    :class:`Schema` with field ids). ``partition_by`` is ``[(column, transform)]`` with
    Iceberg transforms (``"identity"``, ``"day"``, ``"bucket[16]"``, …). With
    ``exist_ok`` an existing table with the same schema is opened instead.
    ``durability`` is that of the returned handle's commits (see :func:`open_table`)."""
    import os

    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"location must be a path, got {type(location).__name__}")
    durability = _durability(durability)
    parts = None
    if partition_by is not None:
        parts = [(str(c), str(t)) for c, t in partition_by]
    props = None if properties is None else {str(k): str(v) for k, v in properties.items()}
    return Table(_floe.Table.create(os.fspath(location), _schema_arg(schema), parts, props, exist_ok, durability))


def open_table(location: str, *, durability: str = "durable") -> Table:
    """Opens the table at ``location``.

    ``durability`` says what an acknowledged commit of this handle survives:

    * ``"durable"`` (the default): every data file, manifest, manifest list and
      metadata file is fsynced, and the metadata directory after the commit point, before
      the call returns. A commit that returned survives a power cut or kernel crash.
    * ``"relaxed"``: nothing is fsynced. Commits are just as atomic and as safe
      against concurrent writers, and a commit that returned survives this process
      crashing or being killed (the kernel holds the bytes); a power cut or kernel crash
      may lose the last seconds of commits (never half of one: the table stays readable at
      an earlier version). For scratch tables, tests, caches and data that can be
      rebuilt; it is what deltalake and Lance do by default.

    The choice belongs to the handle, not the table: other handles and processes on the
    same table choose their own.
    """
    import os

    if not isinstance(location, (str, os.PathLike)):
        raise TypeError(f"location must be a path, got {type(location).__name__}")
    return Table(_floe.Table.open(os.fspath(location), _durability(durability)))


def _reopen(location: str, durability: str) -> Table:
    """Unpickles a :class:`Table`: the same location, the same durability."""
    return open_table(location, durability=durability)
