"""The usage store: one interface, two engines.

    schema.py      the tables, the rollups' definitions, the version and the migrations of both
    base.py        what both engines do alike (staging, counting, the directory, totals, cursors)
    sqlite.py      the embedded store (a file, the default); sqlite_rollups.py its deferred rollups
    postgres.py    the central store on a PostgreSQL server (`--db postgresql://…`), scopes
                   enforced by row-level security; postgres_access.py its roles and grants,
                   postgres_rollups.py its rollup statements
    bulk.py        the file import's fast path (store.bulk_import)
    dialect.py     the few pieces of the shared SQL each engine spells differently
    changes.py     waiting for another process's commit (live refresh)

Both engines keep the same schema and answer the same SQL from query.py. `open_store` picks the
engine from what `--db` / $USAGE_TUI_DB names. The interface the rest of the program uses is
`UsageStore`; the schema's names and the SQLite store's helpers are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ..directory import Directory
from ..model import Record, Reject
from ..pricing import Pricer
from .base import (
    Batch,
    BatchResult,
    StagedBatch,
    StoreError,
    StorePermissionError,
    fingerprint,
    record_fingerprint,
    record_values,
    wait_words,
)
from .bulk import BulkImport, Written
from .dialect import POSTGRES, SQLITE, Dialect, quoted
from .schema import (
    BLOCK_DAYS,
    BLOCK_SUFFIX,
    DAY_SUFFIX,
    DAY_US,
    DIM_COLUMNS,
    FINE,
    MAX_TOTAL,
    QUARTER_US,
    ROLLUP_TABLES,
    ROLLUPS,
    SCHEMA_VERSION,
    SUM_COLUMNS,
    TOTAL_DIM,
)
from .sqlite import BUSY_TIMEOUT_MS, STAGE_ROWS, Store, file_stamp, write_access_problem

T = TypeVar("T")

__all__ = [
    "BLOCK_DAYS", "BLOCK_SUFFIX", "BUSY_TIMEOUT_MS", "DAY_SUFFIX", "DAY_US", "DIM_COLUMNS", "FINE", "MAX_TOTAL",
    "POSTGRES", "QUARTER_US", "ROLLUPS", "ROLLUP_TABLES", "SCHEMA_VERSION", "SQLITE", "STAGE_ROWS", "SUM_COLUMNS",
    "TOTAL_DIM", "Batch", "BatchResult", "BulkImport", "Dialect", "StagedBatch", "Store", "StoreError", "StorePermissionError",
    "UsageStore", "file_stamp", "fingerprint", "is_dsn", "open_store", "quoted", "record_fingerprint",
    "record_values", "wait_words", "write_access_problem",
]

DSN_PREFIXES = ("postgresql://", "postgres://")


def is_dsn(db: str | Path | None) -> bool:
    """Whether `--db` names a PostgreSQL server (a libpq URI) rather than an SQLite file."""
    return isinstance(db, str) and db.startswith(DSN_PREFIXES)


class UsageStore(Protocol):
    """What the CLI, the TUI, the server, ingest, query and budget use of a store: reading
    through the shared SQL, the directory, and writing usage (no staging: that is the store's)."""

    dialect: Dialect
    path: Any  # the SQLite file, or the server as a DSN without its password (for messages)
    readonly: bool

    # -- connections and reading
    def execute(self, sql: str, params: Sequence = ()) -> Any: ...  # shared SQL, `?` placeholders
    def reading(self, read: Callable[[], T]) -> T: ...  # `read()` in one read snapshot
    def close(self) -> None: ...
    def use_pool(self, max_size: int) -> None: ...  # connections from a bounded pool (serve)
    def borrowed(self) -> AbstractContextManager[None]: ...  # one pooled connection, inside
    def schema_version(self) -> int: ...
    def data_span(self) -> tuple[int, int] | None: ...
    def pending_rollups(self) -> int | None: ...  # see query.Plan.rolled_through
    def data_version(self) -> tuple[int, int]: ...  # changes when another connection commits
    def record_count(self) -> int: ...
    def rejects(self, source: str | None = None, limit: int | None = None) -> list[dict]: ...
    def clear_rejects(self, source: str | None, *, by: Any) -> int: ...  # admins and the owner only
    def stored_versions(self, ids: Sequence[str]) -> dict[str, tuple[str | None, int]]: ...
    # -- who is connected
    def identity_facts(self) -> dict[str, Any]: ...
    def sees_everything(self) -> bool: ...  # no row of anyone's usage is hidden from this connection
    # -- meta, the directory and its prices
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...
    def directory(self) -> Directory: ...
    def pricer(self, directory: Directory | None = None) -> Pricer: ...
    def load_directory(self, doc: dict[str, Any], progress=None) -> int: ...
    # -- writing usage (docs in base.py)
    def source_id(self, fmt: str, path: str) -> int: ...
    def write_batches(self, batches: Sequence[Batch], *,
                      cursors: Mapping[str, str] | None = None) -> list[BatchResult]: ...  # one transaction
    def write_batch(self, records: Sequence[Record], source_id: int | None, rejects: Iterable[Reject] = (), *,
                    cursors: Mapping[str, str] | None = None) -> BatchResult: ...
    def bulk_import(self, *, batch_size: int = ..., on_written: Written | None = None) -> BulkImport: ...
    def refresh_rollups(self) -> int: ...  # roll up what was appended
    def cursor(self, name: str) -> str | None: ...  # a writer's saved position (None: never saved)
    def cursors(self, prefix: str) -> dict[str, str]: ...  # every position whose name starts so
    def clear_records(self) -> None: ...
    # -- budgets set from the CLI
    def set_budget_override(self, user: str, limit_usd: float, window: str, set_by: str, set_at: str) -> None: ...
    def budget_overrides(self) -> dict[str, tuple[float, str]]: ...


def open_store(db: str | Path, *, create: bool = True, readonly: bool = False, for_reading: bool = False,
               on_upgrade: Callable[[str], None] | None = None) -> UsageStore:
    """The store `db` names: a PostgreSQL DSN (`postgresql://…`, `postgres://…`; libpq's PG*
    variables fill in what it leaves out) or an SQLite file. `for_reading`: the read paths'
    opening (Store.for_reading): read-only when this user cannot write the file."""
    if is_dsn(db):
        from .postgres import PostgresStore  # psycopg is loaded only for a central store

        return PostgresStore(str(db), create=create and not readonly and not for_reading, readonly=readonly,
                             on_upgrade=on_upgrade)
    if for_reading:
        return Store.for_reading(db, on_upgrade=on_upgrade)
    return Store(db, create=create, readonly=readonly, on_upgrade=on_upgrade)
