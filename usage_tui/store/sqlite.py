"""The SQLite usage store: connections, migrating a file, and the write path's SQL.

The schema and its migrations are schema.py's; the rollups, deferred to a roll-up step after
the batches that append records (schema 7), are sqlite_rollups.py's. A replaced record leaves
the rollups (or the pending sums) in its batch's transaction.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

from ..directory import Directory
from . import schema
from .base import BaseStore, StagedBatch, StoreError
from .dialect import SQLITE, quoted
from .schema import (
    COPY_AGAIN_AT,
    COPY_RECORDS_AT,
    DAY_SUFFIX,
    DAY_US,
    DELETE_ALL,
    ID_HASH_FUNCTION,
    REBUILD_ROLLUPS_AT,
    RECORD_COLUMNS,
    RECORD_INPUT_COLUMNS,
    SCHEMA_VERSION,
    TIME_INDEXES,
    TOTAL_DIM,
    attribution_sql,
    id_hash,
)
from .sqlite_files import not_yours, untrusted
from .sqlite_rollups import (
    _REBUILD_SCRIPT,
    _RECORD_SUMS,
    _TOP_ROWID,
    DeferredRollups,
    _overflow_refused,
)

BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another one before giving up
CACHE_KIB = -32768  # 32 MiB of page cache a connection: keeps an import under 200 MB RSS
# PRAGMA takes no parameters: the statements, from the int constants above, built once.
_CACHE_PRAGMA = f"PRAGMA cache_size={int(CACHE_KIB)}"
STAGE_ROWS = 2_000  # rows per multi-row INSERT into the stage
# An import drops the records' time indexes once it has appended this many records and at least
# as many as the store held before it, and builds them again at its end (one sort each): taking
# its inserts at random places in three trees far larger than the page cache made a shuffled
# import slow (see bench/RESULTS.md, issue 28). A smaller import into a large store keeps them:
# building them anew would sort more records than it adds.
DEFER_INDEXES_MIN = 100_000
_TIME_INDEXES_PRESENT = (f"SELECT name FROM sqlite_master WHERE type = 'index' AND name IN "
                         f"({', '.join('?' * len(TIME_INDEXES))})")

# Which days hold any record (data_span).
_ORG_DAY_SPAN = f"SELECT MIN(bucket), MAX(bucket) FROM roll_org{DAY_SUFFIX} WHERE dim = ?"
_PENDING_SPAN = "SELECT MIN(ts_us), MAX(ts_us) FROM records WHERE rowid > ?"
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
# (A replaced record's old version was deleted first: `_REPLACED_ROWIDS`.)
_STAGE_TO_RECORDS = (f"INSERT INTO records (rowid, {_RECORD_COLS}) "
                     f"SELECT ? + row_number() OVER (ORDER BY ts_us), {_RECORD_COLS} FROM stage")
# A staged id's stored record: found by the id's hash, then the id itself (schema 9). CROSS JOIN
# keeps the stage the outer loop: without statistics SQLite chose to scan the records instead.
_STORED = "records r ON r.id_hash = s.id_hash AND r.id = s.id"
_REPLACED_ROWIDS = f"SELECT r.rowid FROM temp.stage s CROSS JOIN {_STORED}"

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
    return not_yours(path)  # another user's file is read-only for the read paths (sqlite_files.py)

def _create_owner_only(path: Path) -> None:
    """Create the store file readable by its owner only (§2.4: the file is the wall). SQLite
    gives the -wal and -shm files the mode of the database file, so they are owner-only too.
    A file that appeared meanwhile is left as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
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
    if stamp is not None and stamp[2] is None and not_yours(path) is not None:
        # Another user's store with nobody connected: immutable, as from a folder this user may
        # not write, even when it may: no -wal or -shm file of this user's is left next to it
        # (its owner would refuse them: sqlite_files.py).
        return _immutable(uri), stamp
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_READONLY_DIRECTORY":
            raise
        conn.close()
        return _immutable(uri), stamp
    return conn, None

def _immutable(uri: str) -> sqlite3.Connection:
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False)

T = TypeVar("T")

def _torn_read(exc: sqlite3.DatabaseError) -> bool:
    """Whether an error is what a page changed under an immutable reader looks like."""
    return (getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB")
            or "malformed" in str(exc))

class Store(DeferredRollups, BaseStore):
    """A usage store at `path`. One connection per thread (the TUI queries from workers)."""

    dialect = SQLITE
    _MATCH_STAGE = f"SELECT s.id, s.fingerprint = r.fingerprint FROM stage s CROSS JOIN {_STORED}"
    _DROP_UNCHANGED = (f"DELETE FROM stage WHERE id IN (SELECT s.id FROM stage s "
                       f"CROSS JOIN {_STORED} AND r.fingerprint = s.fingerprint)")
    _overflow_refused = staticmethod(_overflow_refused)
    _CACHE_PRAGMA = _CACHE_PRAGMA

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
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _create_owner_only(self.path)
            except OSError as exc:  # a folder this user may not write, or not create
                raise StoreError(f"{self.path}: cannot create the store ({exc.strerror}: {exc.filename})") from None
        self._migrate()

    @classmethod
    def for_reading(cls, path: str | Path, *, on_upgrade: Callable[[str], None] | None = None) -> Store:
        """A store for the read paths (reports, budgets, rejects, the TUI): opened as usual when
        this user may write it (so it can be upgraded), else read-only, so that a store in a
        read-only folder or mount, or another user's file, can still be read."""
        readonly = Path(path).exists() and write_access_problem(Path(path)) is not None
        return cls(path, create=False, readonly=readonly, on_upgrade=on_upgrade)

    # -- connections ---------------------------------------------------------------------------
    def _refuse_untrusted(self, conn: sqlite3.Connection | None = None) -> None:
        """Refuse a store whose files someone else could have put there (sqlite_files.py)."""
        problem = untrusted(self.path, readonly=self.readonly)
        if problem is not None:
            if conn is not None:
                conn.close()
            raise StoreError(problem)

    def _connect(self) -> sqlite3.Connection:
        # Checked before SQLite opens the files, and again once it has: a -wal file created
        # in between is refused before any record is written through it.
        self._refuse_untrusted()
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
            # the id's hash in SQL, for the schema-9 migration's copy (writes bind it from Python)
            conn.create_function(ID_HASH_FUNCTION, 1, id_hash, deterministic=True)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable usage store ({exc})") from None
        self._refuse_untrusted(conn)
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
        """`read()` in one read snapshot. An immutable reader (docs/who-sees-what.md: nobody was
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
            # The schema-3 and -9 steps copy the records; the schema-5 and -6 steps index them.
            cost = ("about 30 s per million records" if version < COPY_RECORDS_AT else
                    "about 20 s per million records" if version < COPY_AGAIN_AT else "a few seconds per million records")
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
        conn.executemany("UPDATE records SET cost_nano = ? WHERE id_hash = ? AND id = ?",
                         [(cost, id_hash(rid), rid) for rid, cost in costs])

    # -- the time indexes during a large import ----------------------------------------------------
    def _missing_time_indexes(self, conn: sqlite3.Connection) -> list[str]:
        present = {name for (name,) in conn.execute(_TIME_INDEXES_PRESENT, tuple(TIME_INDEXES))}
        return [name for name in TIME_INDEXES if name not in present]

    def _defer_time_indexes(self, appended: int) -> bool:
        """On the import's writer thread, between two batches (see DEFER_INDEXES_MIN). While
        they are dropped every answer stays the same: the views' and history's record pieces
        scan instead of walking an index (slower, for the import's duration)."""
        if appended < DEFER_INDEXES_MIN:
            return False
        with self.transaction() as conn:
            missing = self._missing_time_indexes(conn)
            if len(missing) == len(TIME_INDEXES):
                return True
            if appended * 2 < conn.execute(_TOP_ROWID).fetchone()[0]:  # the store held more before
                return False
            for name in TIME_INDEXES:
                conn.execute(f"DROP INDEX IF EXISTS {quoted(name)}")  # a constant name (schema.py)
        return True

    def _restore_time_indexes(self) -> None:
        if self.readonly or not self._missing_time_indexes(self.conn):
            return
        # A build sorts every record: in temp files, not in memory (as the migrations do).
        self.conn.execute("PRAGMA temp_store=FILE")
        try:
            with self.transaction() as conn:
                for name in self._missing_time_indexes(conn):
                    conn.execute(TIME_INDEXES[name])
        finally:
            self.conn.execute("PRAGMA temp_store=MEMORY")

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
        """The replaced records leave the rollups, or the pending sums, and the records (their new
        versions are appended by _add_stage)."""
        through = self._rolled_up_through(conn)
        replaced = f"r.rowid IN ({_REPLACED_ROWIDS}) AND r.rowid {{}} ?"
        self._apply_rollups(conn, -1, replaced.format("<="), params=(through,))
        _, *old = conn.execute(_RECORD_SUMS.format("records", replaced.format(">")), (through,)).fetchone()
        self._set_rolled_up(conn, through, [p - (o or 0) for p, o in zip(self._pending_sums(conn), old, strict=True)])
        conn.execute(f"DELETE FROM records WHERE rowid IN ({_REPLACED_ROWIDS})")

    def _add_stage(self, conn: sqlite3.Connection, what: str) -> None:
        conn.execute(_STAGE_ATTRIBUTE)
        through = self._rolled_up_through(conn)
        top = conn.execute(_TOP_ROWID).fetchone()[0]
        conn.execute(_STAGE_TO_RECORDS, (max(top, through),))
        with _overflow_refused(what):
            _, *added = conn.execute(_RECORD_SUMS.format("temp.stage", "true")).fetchone()
        self._set_rolled_up(conn, through, [p + (a or 0) for p, a in zip(self._pending_sums(conn), added, strict=True)])

    def stored_versions(self, ids: Sequence[str]) -> dict[str, tuple[str | None, int]]:
        """(attributed user, fingerprint) of each of `ids` already in the store."""
        found: dict[str, tuple[str | None, int]] = {}
        wanted = set(ids)
        per_query = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        for i in range(0, len(ids), per_query):
            chunk = [id_hash(rid) for rid in ids[i:i + per_query]]
            # by the id's hash (indexed), then the id itself: another id with the same hash is not it
            found.update((rid, (user, fp)) for rid, user, fp in self.conn.execute(
                f"SELECT id, user, fingerprint FROM records WHERE id_hash IN ({', '.join('?' * len(chunk))})", chunk)
                if rid in wanted)
        return found

    def _cleared(self, conn: sqlite3.Connection) -> None:
        self._set_rolled_up(conn, 0, ())
