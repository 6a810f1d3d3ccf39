"""The SQLite usage store: connections, migrating a file, and the write path's SQL.

The schema and its migrations are schema.py's. An import's batches append records (one
transaction each, WAL) and `refresh_rollups` adds them to the pre-aggregated rollups when it
ends (schema 7); a mark in `meta` says through which rowid the rollups hold the records, so a
view reads whatever is above it from the records and stays exact meanwhile, even after a crash.
A replaced record leaves the rollups (or the pending sums) in its batch's transaction.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

from ..directory import Directory
from ..model import GROUPINGS
from . import schema
from .base import BaseStore, StagedBatch, StoreError, full_message
from .dialect import SQLITE, quoted
from .schema import (
    BLOCK_DAYS,
    BLOCK_SUFFIX,
    COPY_RECORDS_AT,
    DAY_SUFFIX,
    DAY_US,
    DELETE_ALL,
    DIM_COLUMNS,
    FINE,
    INDEX_ONLY_AT,
    PENDING_SUMS,
    QUARTER_US,
    REBUILD_ROLLUPS_AT,
    RECORD_COLUMNS,
    RECORD_INPUT_COLUMNS,
    ROLLED_UP_THROUGH,
    ROLLUP_TABLES,
    ROLLUPS,
    SCHEMA_VERSION,
    SUM_COLUMNS,
    TOTAL_DIM,
    attribution_sql,
)

BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another one before giving up
CACHE_KIB = -32768  # 32 MiB of page cache a connection: keeps an import under 200 MB RSS
# A roll-up's cache (its sorts spill to temp files past it): it runs beside the import's writer.
ROLLUP_CACHE_KIB = -8192
# PRAGMA takes no parameters: the statements, from the int constants above, built once.
_CACHE_PRAGMA = f"PRAGMA cache_size={int(CACHE_KIB)}"
_ROLLUP_CACHE_PRAGMA = f"PRAGMA cache_size={int(ROLLUP_CACHE_KIB)}"


STAGE_ROWS = 2_000  # rows per multi-row INSERT into the stage


# The signed sums of a set of records `r`, named as the rollup columns.
_SUM_SELECT = (
    "? * SUM(r.requests) AS requests, ? * SUM(r.prompt_tokens) AS prompt_tokens, "
    "? * SUM(r.completion_tokens) AS completion_tokens, ? * SUM(r.cached_input_tokens) AS cached_input_tokens, "
    "? * SUM(r.context_tokens) AS context_tokens, ? * SUM(COALESCE(r.cost_nano, 0)) AS cost_nano, "
    "? * SUM(CASE WHEN r.cost_nano IS NULL THEN r.requests ELSE 0 END) AS unpriced_requests"
)
_SUM_UPDATE = ", ".join(f"{c} = {c} + excluded.{c}" for c in SUM_COLUMNS)
_AGG_DIMS = ", ".join(f"r.{c} AS {c}" for c in ("user", "team", "provider", "model", "agent", "key", "verdict"))
_AGG_SUMS = ", ".join(f"SUM(r.{c})" for c in SUM_COLUMNS)
_AGG_SUMS_NAMED = ", ".join(f"SUM(r.{c}) AS {c}" for c in SUM_COLUMNS)


# Which days hold any record (data_span).
_ORG_DAY_SPAN = f"SELECT MIN(bucket), MAX(bucket) FROM roll_org{DAY_SUFFIX} WHERE dim = ?"
_PENDING_SPAN = "SELECT MIN(ts_us), MAX(ts_us) FROM records WHERE rowid > ?"
_TOP_ROWID = "SELECT COALESCE(MAX(rowid), 0) FROM records"  # 0 for no record
# How many records match a condition on `r`, and their 7 sums (the sums kept of pending records).
_RECORD_SUMS = ("SELECT count(*), SUM(r.requests), SUM(r.prompt_tokens), SUM(r.completion_tokens), "
                "SUM(r.cached_input_tokens), SUM(r.context_tokens), SUM(COALESCE(r.cost_nano, 0)), "
                "SUM(CASE WHEN r.cost_nano IS NULL THEN r.requests ELSE 0 END) FROM {} r WHERE {}")
# Records summed per roll-up step (one short transaction each): a bound on the temp tables' size.
REFRESH_ROWS = 1_000_000

# Constant statements (column lists and attribution SQL, no values), built once.
_RECORD_COLS = ", ".join(quoted(c) for c in RECORD_COLUMNS)
_STAGE_CREATE = (f"CREATE TEMP TABLE IF NOT EXISTS stage (id TEXT PRIMARY KEY, "
                 f"{', '.join(RECORD_INPUT_COLUMNS[1:])}, user, team) WITHOUT ROWID")
_STAGE_ROW = f"({', '.join('?' * len(RECORD_INPUT_COLUMNS))})"


@functools.cache
def _stage_insert(rows: int) -> str:
    """INSERT of `rows` rows into the stage in one statement (placeholders only, built once per
    row count). The writer thread takes the GIL back after each SQLite call, and while the
    parsing thread holds it each such wait can last up to the switch interval: executemany
    (one call per row) made that most of a batch's time. 200k records: executemany 8.8 s;
    500 rows per INSERT 7.4 s, 1,000 7.2 s, 2,000 7.0 s, a whole batch in one 7.6 s (its
    statement costs more CPU than it saves)."""
    return f"INSERT INTO stage ({', '.join(RECORD_INPUT_COLUMNS)}) VALUES {', '.join([_STAGE_ROW] * rows)}"


_STAGE_ATTRIBUTE = "UPDATE stage SET user = {}, team = {}".format(*attribution_sql("stage"))
# Appended above every rowid in use and above the rollups' mark (`?`): a replaced record's
# rowid is never reused by a record that is not rolled up yet. In time order within the batch.
_STAGE_TO_RECORDS = (f"INSERT OR REPLACE INTO records (rowid, {_RECORD_COLS}) "
                     f"SELECT ? + row_number() OVER (ORDER BY ts_us), {_RECORD_COLS} FROM stage")


def _agg_statement(source: str, where: str) -> str:
    """The records of `source` matching `where` (constant SQL on `r`), summed per quarter-hour
    and every dimension into temp.agg; the 7 `?` are the sign (+1 adds, -1 subtracts)."""
    return (f"CREATE TEMP TABLE agg AS SELECT r.ts_us / {QUARTER_US} AS bucket, {_AGG_DIMS}, {_SUM_SELECT} "
            f"FROM {source} r WHERE {where} GROUP BY {', '.join(str(i) for i in range(1, 9))}")


def _fan_out_statements() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """temp.agg → every rollup table, added to what is there, in three parts: summing the
    deltas (temp tables only: a reader may run them, beside the writer), adding them to the
    rollup tables (the write), and dropping the temp tables.

    Each scope's finest delta (the users' days, the teams' hours, the org's quarter-hours) is
    summed from temp.agg once per grouping; its totals from its verdict grouping (every record
    has one verdict key, '' when none) and a scope's own grouping (a user's rows by user, a
    team's by team) from its totals, whose only key is the scope's: those re-read a delta, not
    every record. Its day delta is summed from the finest, its 32-day block from its day.
    (Schema 6 crossed temp.agg with the 8 groupings into one table of ~8 rows per record, then
    re-sorted it for each scope: 1M shuffled realistic records took 38 s of fan-out, see
    bench/RESULTS.md.) A GROUP BY yields its rows in key order, which the temp table keeps
    (rowid order), so each upsert walks its table's B-tree in order without sorting again."""
    statements: list[str] = []  # the deltas' sums
    adds: list[str] = []
    deltas = []
    verdict_dim = GROUPINGS.index("verdict")
    for scope, (table, scope_col) in ROLLUPS.items():
        suffix, grain_us = FINE.get(scope, (DAY_SUFFIX, DAY_US))
        per = grain_us // QUARTER_US
        scope_insert = f"{scope_col}, " if scope_col else ""
        scope_select = f"COALESCE(r.{scope_col}, ''), " if scope_col else ""
        bucket = "r.bucket" if per == 1 else f"r.bucket / {per}"
        finest = f"d{table}{suffix}"
        deltas.append(finest)
        statements += [f"DROP TABLE IF EXISTS temp.{finest}",
                       f"CREATE TEMP TABLE {finest} ({scope_insert}dim, bucket, key, {', '.join(SUM_COLUMNS)})"]
        own = GROUPINGS.index(scope_col) if scope_col else None
        for dim in range(TOTAL_DIM):
            if dim == own:
                continue
            statements.append(
                f"INSERT INTO temp.{finest} SELECT {scope_select}{dim}, {bucket}, "
                f"COALESCE(r.{DIM_COLUMNS[GROUPINGS[dim]]}, ''), {_AGG_SUMS} FROM temp.agg r "
                f"GROUP BY {'1, ' if scope_col else ''}{3 if scope_col else 2}, {4 if scope_col else 3}")
        statements.append(
            f"INSERT INTO temp.{finest} SELECT {scope_insert}{TOTAL_DIM}, bucket, '', {_AGG_SUMS} "
            f"FROM temp.{finest} r WHERE dim = {verdict_dim} GROUP BY {scope_insert}bucket")
        if scope_col:
            statements.append(
                f"INSERT INTO temp.{finest} SELECT {scope_col}, {own}, bucket, {scope_col}, "
                f"{', '.join(SUM_COLUMNS)} FROM temp.{finest} WHERE dim = {TOTAL_DIM}")
        group = "1, 2, 3, 4" if scope_col else "1, 2, 3"
        chain_ = [(DAY_SUFFIX, f"temp.{finest}", DAY_US // grain_us)] if scope in FINE else []
        chain_.append((BLOCK_SUFFIX, f"temp.d{table}{DAY_SUFFIX}", BLOCK_DAYS))
        for level, source, coarser in chain_:
            delta = f"d{table}{level}"
            deltas.append(delta)
            statements += [
                f"DROP TABLE IF EXISTS temp.{delta}",
                f"CREATE TEMP TABLE {delta} AS SELECT {'r.' + scope_col + ' AS ' + scope_col + ', ' if scope_col else ''}"
                f"r.dim AS dim, r.bucket / {coarser} AS bucket, r.key AS key, {_AGG_SUMS_NAMED} FROM {source} r "
                f"GROUP BY {group}",
            ]
        adds += [f"INSERT INTO {table}{level} ({scope_insert}dim, bucket, key, {', '.join(SUM_COLUMNS)}) "
                 f"SELECT {scope_insert}dim, bucket, key, {', '.join(SUM_COLUMNS)} FROM temp.d{table}{level} "
                 f"WHERE true ON CONFLICT DO UPDATE SET {_SUM_UPDATE}"
                 for level in (suffix, *(level for level, _, _ in chain_))]
    return tuple(statements), tuple(adds), tuple(f"DROP TABLE IF EXISTS temp.{d}" for d in deltas)


_FAN_OUT_DELTAS, _FAN_OUT_APPLY, _FAN_OUT_DROP = _fan_out_statements()
_FAN_OUT = (*_FAN_OUT_DELTAS, *_FAN_OUT_APPLY, *_FAN_OUT_DROP)
# The rollup rebuild as one SQL script (no parameters: sign 1), for migrations.
_REBUILD_SCRIPT = "; ".join([*(DELETE_ALL[t] for t in ROLLUP_TABLES), _agg_statement("records", "1")
                             .replace("?", "1"), *_FAN_OUT, "DROP TABLE temp.agg"])


_USAGE_TABLES = frozenset(("meta", "records", "rejects", "sources"))


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse an SQLite file that is not a usage store (another application's database), before
    anything is written to it: an empty database becomes a store, any other is left alone."""
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:  # a newer usage-tui's store (its tables may differ): _migrate says so
        ours = not tables or "meta" in tables
    else:
        ours = (not tables and not version) or _USAGE_TABLES <= tables
    if not ours:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        conn.close()
        raise StoreError(f"{path}: an SQLite database that is not a usage store "
                         f"({'tables: ' + shown if tables else f'user_version {version}'}); "
                         "it was not modified. Name another file with --db")


def write_access_problem(path: Path) -> str | None:
    """Why this user cannot write the store at `path` (SQLite also writes its -wal and -shm files
    next to it), naming the missing permission; None when it can."""
    folder = path.resolve().parent
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path}: no write permission on the file (it can only be read: ask its owner, or use --db)"
    if not folder.exists():
        return None  # created with the store
    if not os.access(folder, os.W_OK | os.X_OK):
        return (f"{path}: no write permission on its folder {folder} (SQLite writes its journal "
                "files there): ask its owner, or use --db")
    return None


@contextmanager
def _overflow_refused(what: str) -> Iterator[None]:
    """SQLite's SUM raises on a 64-bit overflow: the same refusal as _check_totals."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "integer overflow" in str(exc):
            raise StoreError(full_message(what)) from None
        raise


def _create_owner_only(path: Path) -> None:
    """Create the store file readable by its owner only (§2.4: the file is the wall). SQLite
    gives the -wal and -shm files the mode of the database file, so they are owner-only too.
    A file that appeared meanwhile is left as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def file_stamp(path: Path) -> tuple | None:
    """What changes when a writer touches the store: the time and size of the main file and of
    its -wal file (None when absent; a commit appends to it). None: the store file is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        wal = os.stat(f"{path}-wal")
    except OSError:
        return st.st_mtime_ns, st.st_size, None
    return st.st_mtime_ns, st.st_size, (wal.st_mtime_ns, wal.st_size)


def _same_files(before: tuple, now: tuple | None) -> bool:
    """Whether an immutable reader opened at `before` may go on: the main file is unchanged and
    still no writer is connected (no -wal file)."""
    return now is not None and now[:2] == before[:2] and now[2] is None


def _connect_readonly(path: Path) -> tuple[sqlite3.Connection, tuple | None]:
    """A read-only connection, and for an immutable one the file stamp it was opened at.

    A reader without write access to the store's folder (a group given read access, README
    "Who sees what") cannot create the -wal and -shm files, which exist only while someone is
    connected; SQLite then refuses (SQLITE_READONLY_DIRECTORY). With nobody connected the whole
    store is in the main file, so it is read as immutable (no locks, no shared memory), and
    reopened as soon as the stamp changes (Store.conn): a writer's -wal file then exists, so the
    reopened connection reads through the WAL and keeps the files there while it is open."""
    uri = path.resolve().as_uri()
    stamp = file_stamp(path)  # before connecting: a change after this reopens
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_READONLY_DIRECTORY":
            raise
        conn.close()
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False)
        return conn, stamp
    return conn, None


T = TypeVar("T")


def _torn_read(exc: sqlite3.DatabaseError) -> bool:
    """Whether an error is what a page changed under an immutable reader looks like."""
    return (getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB")
            or "malformed" in str(exc))


class Store(BaseStore):
    """A usage store at `path`. One connection per thread (the TUI queries from workers)."""

    dialect = SQLITE
    _MATCH_STAGE = "SELECT s.id, s.fingerprint = r.fingerprint FROM stage s JOIN records r ON r.id = s.id"
    _DROP_UNCHANGED = ("DELETE FROM stage WHERE id IN (SELECT s.id FROM stage s "
                       "JOIN records r ON r.id = s.id AND r.fingerprint = s.fingerprint)")
    _overflow_refused = staticmethod(_overflow_refused)

    def __init__(self, path: str | Path, *, create: bool = True, readonly: bool = False,
                 on_upgrade: Callable[[str], None] | None = None, busy_timeout_ms: int | None = None) -> None:
        """`on_upgrade` is told, in one line, before an existing store's schema is upgraded
        (a copy of the records: seconds per million). `busy_timeout_ms`: how long a write waits
        for another writer (default BUSY_TIMEOUT_MS, read now, not when the module loaded)."""
        super().__init__(readonly=readonly, on_upgrade=on_upgrade,
                         busy_timeout_ms=BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms)
        self.path = Path(path)
        # This object's threads (an import's writer and its roll-up) take turns here, not in
        # SQLite's busy handler: a long roll-up step must not time out the writer's next batch
        # (10M records over three years: one step's upserts took over the 10 s busy timeout).
        self._writing = threading.RLock()
        if not self.path.exists():
            if not create or readonly:
                raise StoreError(f"{self.path}: no usage store here (run `usage-tui sample` or `usage-tui import`)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _create_owner_only(self.path)
        self._migrate()

    @classmethod
    def for_reading(cls, path: str | Path, *, on_upgrade: Callable[[str], None] | None = None) -> Store:
        """A store for the read paths (reports, budgets, rejects, the TUI): opened as usual when
        this user may write it (so it can be upgraded), else read-only, so that a store in a
        read-only folder or mount, or another user's file, can still be read."""
        readonly = Path(path).exists() and write_access_problem(Path(path)) is not None
        return cls(path, create=False, readonly=readonly, on_upgrade=on_upgrade)

    # -- connections ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            if self.readonly:
                conn, self._local.immutable_at = _connect_readonly(self.path)
                _refuse_foreign(conn, self.path)
            else:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                _refuse_foreign(conn, self.path)  # before the first PRAGMA that writes
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                # Checkpoint every 64 MiB of WAL, not 4 MiB: an import batch rewrites the same
                # rollup pages, so fewer checkpoints copy each page fewer times (~7% of an import).
                conn.execute("PRAGMA wal_autocheckpoint=16384")
            conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")  # an int: PRAGMA takes no parameters
            conn.execute(_CACHE_PRAGMA)
            conn.execute("PRAGMA temp_store=MEMORY")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable usage store ({exc})") from None
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        stamp = getattr(self._local, "immutable_at", None)
        # (never inside a read snapshot: its statements must all see the same store)
        if (conn is not None and stamp is not None and not conn.in_transaction
                and not _same_files(stamp, file_stamp(self.path))):
            conn.close()  # an immutable reader whose file changed: reopen, through the WAL if any
            conn = self._local.conn = self._local.immutable_at = None
            self._local.reopened = getattr(self._local, "reopened", 0) + 1
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def identity_facts(self) -> dict[str, Any]:
        """What identity.resolve_identity reads from the store itself: nothing for a file (the
        viewer is the process's OS login, its owner the file's owner)."""
        return {}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def sees_everything(self) -> bool:
        """Whoever can read the file reads all of it (§2.4: its permissions are the wall)."""
        return True

    def use_pool(self, max_size: int) -> None:
        """Nothing to pool: an SQLite connection is a file handle, one per thread (the
        PostgreSQL store's pool bounds its server connections)."""

    @contextmanager
    def borrowed(self) -> Iterator[None]:
        yield

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        with self._writing:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every statement inside sees the store as of its first read
        (WAL keeps that snapshot while other processes commit)."""
        conn = self.conn
        if conn.in_transaction:  # already inside one (a write, or an outer snapshot)
            yield conn
            return
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")  # nothing was written: ends the read transaction

    def reading(self, read: Callable[[], T]) -> T:
        """`read()` in one read snapshot. An immutable reader (README "Who sees what": nobody was
        connected when it opened) reads the main file without locks: if the owner connects and
        checkpoints meanwhile, a page may be read half old, half new, and SQLite calls the file
        corrupt. Then the connection is reopened (through the writer's WAL, with locks) and
        `read` runs once more; a second failure is real and raised."""
        outer = self.conn.in_transaction  # inside an outer snapshot: that one's to retry, not ours
        try:
            with self.snapshot():
                return read()
        except sqlite3.DatabaseError as exc:
            if outer or getattr(self._local, "immutable_at", None) is None or not _torn_read(exc):
                raise
        self.close()
        self._local.immutable_at = None
        self._local.reopened = getattr(self._local, "reopened", 0) + 1
        with self.snapshot():
            return read()

    def data_span(self) -> tuple[int, int] | None:
        """[first, end) in µs of the UTC days that hold any record (from the org's day
        rollup, and the records not rolled up yet), or None for an empty store."""
        days = [d for d in self.conn.execute(_ORG_DAY_SPAN, (TOTAL_DIM,)).fetchone() if d is not None]
        through = self.pending_rollups()
        if through is not None:
            days += [ts // DAY_US for ts in self.conn.execute(_PENDING_SPAN, (through,)).fetchone() if ts is not None]
        if not days:
            return None
        return min(days) * DAY_US, (max(days) + 1) * DAY_US

    def pending_rollups(self) -> int | None:
        """None when the rollups hold every record (always, outside an import); else the rowid
        through which they do: the records above it (the batches of an import still running, or
        of one that was killed) are read from the records table, so every answer stays exact."""
        through = self._rolled_up_through(self.conn)
        return through if self.conn.execute(_TOP_ROWID).fetchone()[0] > through else None

    def data_version(self) -> tuple[int, int]:
        """Changes when another connection commits: cheap to poll for live refresh. Compare
        values read on the same thread only. (An immutable reader reopened because its file
        changed counts as a change: data_version starts again on a new connection.)"""
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        return getattr(self._local, "reopened", 0), version

    # -- schema ----------------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: written by a newer usage-tui (schema {version}, "
                             f"this one knows {SCHEMA_VERSION}); upgrade usage-tui")
        if version == SCHEMA_VERSION:
            return
        if self.readonly:
            raise StoreError(f"{self.path}: store needs an upgrade; open it once without read-only")
        if version and self._on_upgrade is not None:
            # Only the schema-3 step copies the records; the schema-5 and -6 steps index them.
            cost = ("about 30 s per million records" if version < COPY_RECORDS_AT else
                    "about 20 s per million records" if version < INDEX_ONLY_AT else "a few seconds per million records")
            self._on_upgrade(f"upgrading {self.path} from schema {version} to {SCHEMA_VERSION} (once; {cost})")
        # One script, one transaction: a crash mid-migration leaves the old version intact.
        script = "".join(schema.SQLITE_MIGRATIONS[step] for step in range(version, SCHEMA_VERSION))
        rebuild = "" if version == 0 or version >= REBUILD_ROLLUPS_AT else _REBUILD_SCRIPT
        # The index builds and GROUP BYs sort every record: in temp files, not in memory (1M
        # records: peak RSS 311 MB with temp_store=MEMORY).
        self.conn.execute("PRAGMA temp_store=FILE")
        try:
            self.conn.executescript(f"BEGIN IMMEDIATE; {script}; {rebuild}; "
                                    f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        except sqlite3.Error as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise StoreError(f"{self.path}: could not upgrade the store from schema {version} ({exc})") from None
        finally:
            self.conn.execute("PRAGMA temp_store=MEMORY")

    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    # -- the directory ------------------------------------------------------------------------------
    def _write_users(self, conn: sqlite3.Connection, directory: Directory) -> None:
        for table in ("dir_users", "dir_keys", "dir_agents"):
            conn.execute(DELETE_ALL[table])
        conn.executemany("INSERT INTO dir_users VALUES (?, ?, ?, ?, ?)",
                         [(u.id, u.name, u.login, u.role, u.primary_team) for u in directory.users.values()])

    def _set_costs(self, conn: sqlite3.Connection, costs: list[tuple[str, int | None]]) -> None:
        conn.executemany("UPDATE records SET cost_nano = ? WHERE id = ?", [(cost, rid) for rid, cost in costs])

    # -- rollups ---------------------------------------------------------------------------------
    def _rolled_up_through(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (ROLLED_UP_THROUGH,)).fetchone()
        return int(row[0]) if row else 0

    def _pending_sums(self, conn: sqlite3.Connection) -> list[int]:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (PENDING_SUMS,)).fetchone()
        return json.loads(row[0]) if row else [0] * len(SUM_COLUMNS)

    def _set_rolled_up(self, conn: sqlite3.Connection, through: int, pending: Sequence[int]) -> None:
        self._set_meta(conn, ROLLED_UP_THROUGH, str(through))
        if any(pending):
            self._set_meta(conn, PENDING_SUMS, json.dumps(list(pending)))
        else:
            conn.execute("DELETE FROM meta WHERE key = ?", (PENDING_SUMS,))

    def _apply_rollups(self, conn: sqlite3.Connection, sign: int, where: str, source: str = "records",
                       params: Sequence = ()) -> None:
        """Add (sign=1) or subtract (sign=-1) the records matching `where` (a constant SQL
        condition on `r`, its values bound from `params`) to every rollup table. `source` is
        the table holding them: the records, or the attributed stage of a batch.

        The records are first summed once per (bucket, every dimension) into a small temp
        table, then once per (grouping, bucket, user, team, row key) into another; the 3 scopes
        × 2 granularities are read from that, not from the records."""
        conn.execute("DROP TABLE IF EXISTS temp.agg")
        conn.execute(_agg_statement(source, where), ((sign,) * len(SUM_COLUMNS)) + tuple(params))
        for statement in _FAN_OUT:
            conn.execute(statement)
        conn.execute("DROP TABLE temp.agg")

    def _rebuild_rollups(self, conn: sqlite3.Connection) -> None:
        for table in ROLLUP_TABLES:
            conn.execute(DELETE_ALL[table])
        self._apply_rollups(conn, 1, "1")
        self._set_rolled_up(conn, conn.execute(_TOP_ROWID).fetchone()[0], ())

    # -- the write path ------------------------------------------------------------------------------
    # A batch appends its records without rolling them up (`refresh_rollups` does, as an import
    # goes and when it ends). Rolling up each batch upserted ~24 rollup rows a record at places
    # all over the tables on a real organization's data (high cardinality, any order): 1M
    # shuffled realistic records took 856 s, 24× a plain load. Reads stay exact meanwhile:
    # whatever is above the rollups' mark is read from the records (`pending_rollups`).
    def _chunks(self, rows: Sequence[tuple]) -> list[tuple]:
        """Staged rows as the parameters of multi-row INSERTs."""
        per_chunk = min(STAGE_ROWS, self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(RECORD_INPUT_COLUMNS))
        return [tuple(chain.from_iterable(rows[i:i + per_chunk])) for i in range(0, len(rows), per_chunk)]

    def _fill_stage(self, conn: sqlite3.Connection, batch: StagedBatch) -> None:
        conn.execute(_STAGE_CREATE)
        conn.execute("DELETE FROM stage")
        for chunk in batch.chunks:
            conn.execute(_stage_insert(len(chunk) // len(RECORD_INPUT_COLUMNS)), chunk)

    def _retract_replaced(self, conn: sqlite3.Connection, what: str) -> None:
        """The replaced records leave the rollups, or the pending sums."""
        through = self._rolled_up_through(conn)
        replaced = "r.id IN (SELECT id FROM temp.stage) AND r.rowid {} ?"
        self._apply_rollups(conn, -1, replaced.format("<="), params=(through,))
        _, *old = conn.execute(_RECORD_SUMS.format("records", replaced.format(">")), (through,)).fetchone()
        self._set_rolled_up(conn, through, [p - (o or 0) for p, o in zip(self._pending_sums(conn), old, strict=True)])

    def _add_stage(self, conn: sqlite3.Connection, what: str) -> None:
        conn.execute(_STAGE_ATTRIBUTE)
        through = self._rolled_up_through(conn)
        top = conn.execute(_TOP_ROWID).fetchone()[0]
        conn.execute(_STAGE_TO_RECORDS, (max(top, through),))
        with _overflow_refused(what):
            _, *added = conn.execute(_RECORD_SUMS.format("temp.stage", "true")).fetchone()
        self._set_rolled_up(conn, through, [p + (a or 0) for p, a in zip(self._pending_sums(conn), added, strict=True)])

    def refresh_rollups(self) -> int:
        """Roll up the records appended before this call (an import's, or what a killed import
        committed), REFRESH_ROWS at a time: each step sums its records in a read snapshot, then
        adds the sums to the rollups in one short transaction that moves the mark, so a crash
        loses no step already done, and an import's writer may append meanwhile (its batches
        wait only for the short part). Returns how many records were rolled up. The records of a
        step are summed once, sorted, so the rollups are written in key order whatever order the
        records came in."""
        done = 0
        # The step's GROUP BYs sort up to REFRESH_ROWS records: in temp files, not in memory
        # (changing temp_store drops temp tables: the stage is created again when needed).
        self.conn.execute("PRAGMA temp_store=FILE")
        self.conn.execute(_ROLLUP_CACHE_PRAGMA)
        try:
            target = self.conn.execute(_TOP_ROWID).fetchone()[0]
            while True:
                step = self._sum_pending(target)
                if step is None:
                    return done
                done += step[2] if self._add_pending(*step) else 0
        finally:
            self.conn.execute("PRAGMA temp_store=MEMORY")
            self.conn.execute(_CACHE_PRAGMA)

    def _sum_pending(self, target: int) -> tuple[int, int, int, list[int]] | None:
        """In one read snapshot: the deltas of the records above the mark, up to REFRESH_ROWS of
        them and not past rowid `target`, into this connection's temp tables. Returns (mark,
        end rowid, how many records, their sums), or None when none is left."""
        with self.snapshot() as conn:
            through = self._rolled_up_through(conn)
            end = min(target, through + REFRESH_ROWS)
            if end <= through:
                return None
            step = "r.rowid > ? AND r.rowid <= ?"
            count, *sums = conn.execute(_RECORD_SUMS.format("records", step), (through, end)).fetchone()
            conn.execute("DROP TABLE IF EXISTS temp.agg")
            with _overflow_refused("rolling up the imported records"):
                conn.execute(_agg_statement("records", step), (1,) * len(SUM_COLUMNS) + (through, end))
                for statement in _FAN_OUT_DELTAS:
                    conn.execute(statement)
        return through, end, count, [v or 0 for v in sums]

    def _add_pending(self, through: int, end: int, count: int, sums: list[int]) -> bool:
        """Add the deltas `_sum_pending` left in the temp tables to the rollups and move the
        mark, unless the records they were summed from changed meanwhile (another refresh moved
        the mark, or a batch replaced one of them: a new version is appended above): then
        nothing is written and False is returned (the next step sums them again)."""
        try:
            with self.transaction() as conn:
                now = conn.execute("SELECT count(*) FROM records WHERE rowid > ? AND rowid <= ?",
                                   (through, end)).fetchone()[0]
                if self._rolled_up_through(conn) != through or now != count:
                    return False
                with _overflow_refused("rolling up the imported records"):
                    for statement in _FAN_OUT_APPLY:
                        conn.execute(statement)
                pending = [p - v for p, v in zip(self._pending_sums(conn), sums, strict=True)]
                self._set_rolled_up(conn, end, pending)
                return True
        finally:
            for statement in (*_FAN_OUT_DROP, "DROP TABLE IF EXISTS temp.agg"):
                self.conn.execute(statement)

    def stored_versions(self, ids: Sequence[str]) -> dict[str, tuple[str | None, int]]:
        """(attributed user, fingerprint) of each of `ids` already in the store."""
        found: dict[str, tuple[str | None, int]] = {}
        per_query = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        for i in range(0, len(ids), per_query):
            chunk = ids[i:i + per_query]
            found.update((rid, (user, fp)) for rid, user, fp in self.conn.execute(
                f"SELECT id, user, fingerprint FROM records WHERE id IN ({', '.join('?' * len(chunk))})", chunk))
        return found

    def _cleared(self, conn: sqlite3.Connection) -> None:
        self._set_rolled_up(conn, 0, ())
