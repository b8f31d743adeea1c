"""Type stubs of the floe Python package (see ``docs/python.md``)."""

import datetime as _dt
from typing import Any, Iterator, Literal, Mapping, Sequence

import pyarrow as pa

from ._errors import (
    CommitFilesMissing as CommitFilesMissing,
    CommitStateUnknown as CommitStateUnknown,
    CommittedNotDurable as CommittedNotDurable,
    ConcurrentModificationException as ConcurrentModificationException,
    CorruptTable as CorruptTable,
    FloeError as FloeError,
    InvalidArgument as InvalidArgument,
    InvalidFilter as InvalidFilter,
    NotFound as NotFound,
    NullInRequiredField as NullInRequiredField,
    SchemaMismatch as SchemaMismatch,
    StorageError as StorageError,
    TableExists as TableExists,
    TableNotFound as TableNotFound,
    TransactionTooOld as TransactionTooOld,
    Unsupported as Unsupported,
)

__version__: str

ArrowData = Any
Durability = Literal["durable", "relaxed"]
"""What a handle's acknowledged commits survive: ``"durable"`` (fsynced: a power cut)
or ``"relaxed"`` (no fsync: a process crash, not a power cut)."""
"""A pyarrow Table / RecordBatch / RecordBatchReader, a pandas or polars DataFrame, or
any object with ``__arrow_c_stream__``."""

class CommitReport:
    """What one commit did."""

    version: int
    snapshot_id: int
    sequence_number: int
    commit_id: str
    added_files: int
    added_records: int
    removed_files: int
    removed_records: int
    attempts: int
    conflicts: int
    rebased_over: int
    elapsed: _dt.timedelta
    rows_added: int | None
    rows_removed: int | None
    rows_copied: int | None
    files_rewritten: int | None
    keys_skipped: int | None

class MaintenanceReport:
    """What one maintenance run did."""

    operation: str
    dry_run: bool
    commits: list[CommitReport]
    data_files_added: int
    data_files_removed: int
    rows_rewritten: int
    snapshots_expired: int
    metadata_files_removed: int
    other_files_removed: int
    bytes_added: int
    bytes_removed: int
    deleted_paths: list[str]
    skipped: list[str]
    elapsed: _dt.timedelta

class Snapshot:
    """One Iceberg snapshot."""

    snapshot_id: int
    parent_snapshot_id: int | None
    sequence_number: int
    timestamp: _dt.datetime
    operation: str
    schema_id: int | None
    summary: dict[str, str]
    manifest_list: str

class HistoryEntry:
    """A snapshot that was current."""

    snapshot_id: int
    parent_snapshot_id: int | None
    timestamp: _dt.datetime
    operation: str | None
    summary: dict[str, str]

class Field:
    """A column with an explicit Iceberg field id."""

    id: int
    name: str
    type: str
    required: bool
    doc: str | None
    def __init__(self, id: int, name: str, type: str, required: bool = False, doc: str | None = None) -> None: ...
    def to_json(self) -> dict[str, Any]: ...

class Schema:
    """A table schema with explicit Iceberg field ids."""

    fields: list[Field]
    schema_id: int
    def __init__(self, fields: Sequence[Field | Mapping[str, Any]], schema_id: int = 0) -> None: ...
    def to_json(self) -> dict[str, Any]: ...
    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Schema: ...

class Scan:
    """A read of a table; nothing is read until one of the ``to_*`` methods."""

    def to_arrow(self) -> pa.Table: ...
    def to_reader(self) -> pa.RecordBatchReader: ...
    def to_batches(self) -> Iterator[pa.RecordBatch]: ...
    def to_pandas(self, **kwargs: Any) -> Any: ...
    def to_polars(self) -> Any: ...
    def count(self) -> int: ...

class Transaction:
    """Changes committed together; a context manager committing on exit."""

    def append(self, data: ArrowData) -> None: ...
    def delete(self, filter: str) -> int: ...
    def overwrite(self, data: ArrowData, filter: str | None = None) -> int: ...
    def upsert(self, data: ArrowData, on: str | Sequence[str]) -> int: ...
    def insert_if_absent(self, data: ArrowData, on: str | Sequence[str]) -> int: ...
    def set_property(self, key: str, value: str) -> None: ...
    def commit(self) -> CommitReport: ...
    def abort(self) -> None: ...
    @property
    def base_version(self) -> int: ...
    @property
    def report(self) -> CommitReport | None: ...
    @property
    def is_open(self) -> bool: ...
    def __enter__(self) -> Transaction: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...

class Table:
    """A floe table; share it between threads, pickle it to processes."""

    @property
    def location(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def durability(self) -> Durability: ...
    @property
    def schema(self) -> pa.Schema: ...
    def iceberg_schema(self) -> Schema: ...
    def properties(self) -> dict[str, str]: ...
    def refresh(self) -> None: ...
    def append(self, data: ArrowData) -> CommitReport: ...
    def delete(self, filter: str) -> CommitReport: ...
    def overwrite(self, data: ArrowData, filter: str | None = None) -> CommitReport: ...
    def upsert(self, data: ArrowData, on: str | Sequence[str]) -> CommitReport: ...
    def insert_if_absent(self, data: ArrowData, on: str | Sequence[str]) -> CommitReport: ...
    def transaction(self) -> Transaction: ...
    def scan(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        snapshot_id: int | None = None,
        version: int | None = None,
        as_of: _dt.datetime | None = None,
        batch_size: int | None = None,
    ) -> Scan: ...
    def to_arrow(self) -> pa.Table: ...
    def count(self, filter: str | None = None) -> int: ...
    def history(self) -> list[HistoryEntry]: ...
    def snapshots(self) -> list[Snapshot]: ...
    def current_snapshot(self) -> Snapshot | None: ...
    def commit_stats(self) -> dict[str, Any]: ...
    def compact(
        self,
        target_file_size: int | None = None,
        min_input_files: int | None = None,
        filter: str | None = None,
        dry_run: bool = False,
    ) -> MaintenanceReport: ...
    def expire_snapshots(
        self,
        older_than: float | _dt.timedelta | None = None,
        retain_last: int | None = None,
        dry_run: bool = False,
    ) -> MaintenanceReport: ...
    def remove_orphans(
        self,
        older_than: float | _dt.timedelta | None = None,
        dry_run: bool = False,
        allow_short_grace: bool = False,
    ) -> MaintenanceReport: ...
    def rollback_to(self, snapshot_id: int) -> MaintenanceReport: ...
    def create_tag(self, name: str, snapshot_id: int | None = None) -> MaintenanceReport: ...
    def remove_tag(self, name: str) -> MaintenanceReport: ...
    def tags(self) -> dict[str, int]: ...

def create_table(
    location: str,
    schema: pa.Schema | Schema,
    *,
    partition_by: Sequence[tuple[str, str]] | None = None,
    properties: Mapping[str, str] | None = None,
    exist_ok: bool = False,
    durability: Durability = "durable",
) -> Table: ...
def open_table(location: str, *, durability: Durability = "durable") -> Table: ...
