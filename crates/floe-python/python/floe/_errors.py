"""The exceptions floe raises, all under :class:`FloeError`.

The compiled module raises these with the fields of floe's Rust error as attributes
(e.g. ``ConcurrentModificationException.base_version``). Every exception has
``committed``: ``True`` when the change is known to be on the table despite the error.
"""

from __future__ import annotations


class FloeError(Exception):
    """Base class of every floe error."""

    committed: bool = False


class ConcurrentModificationException(FloeError):
    """Another writer's commit conflicts with this one (and retries did not resolve it).

    Attributes: ``base_version`` (the version the change was based on),
    ``attempted_version`` (the version it tried to create), ``conflict_kinds``
    (e.g. ``["matching_file_added"]``), ``conflicts`` (one dict per conflict:
    ``version``, ``operation``, ``kind``, ``detail``) and ``retries_exhausted``.
    Nothing was committed: retry the whole change.
    """

    base_version: int = 0
    attempted_version: int = 0
    conflict_kinds: list = []
    conflicts: list = []
    retries_exhausted: bool = False


class CommitStateUnknown(FloeError):
    """The commit's outcome could not be determined (``version``, ``commit_id``).

    Re-open the table and look for ``commit_id`` in the snapshots before retrying.
    """


class CommittedNotDurable(FloeError):
    """The commit is on the table but was not confirmed durable (``version``, ``commit_id``)."""


class CommitFilesMissing(FloeError):
    """A commit names files that are not there (``version``, ``commit_id``)."""


class TransactionTooOld(FloeError):
    """The transaction stayed open longer than the table allows."""


class SchemaMismatch(FloeError, ValueError):
    """Data does not fit the table's schema (``field``, ``reason``). Nothing was written."""


class NullInRequiredField(SchemaMismatch):
    """Nulls in a required field (``field``, ``null_count``). Nothing was written."""


class TableNotFound(FloeError, FileNotFoundError):
    """No table at the location (``path``)."""


class TableExists(FloeError, FileExistsError):
    """A table already exists at the location (``path``)."""


class NotFound(FloeError, LookupError):
    """A snapshot, version, tag or file that does not exist."""


class InvalidArgument(FloeError, ValueError):
    """An argument floe cannot use."""


class InvalidFilter(InvalidArgument):
    """A filter that does not parse or names a column the table does not have."""


class Unsupported(FloeError):
    """Something floe does not support (a type, a transform, a location scheme)."""


class CorruptTable(FloeError):
    """Table metadata that cannot be read as it is."""


class StorageError(FloeError, OSError):
    """An I/O error from the storage holding the table."""


__all__ = [name for name, value in globals().items() if isinstance(value, type) and issubclass(value, FloeError)]
