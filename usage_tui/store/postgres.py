"""The central usage store on PostgreSQL: the SQLite store's schema and answers, for many
machines at once.

Same tables (schema.py: records, the rollups of ROLLUPS/FINE, the directory tables) and the
same schema version, kept in meta (`schema_version`). Every write is one transaction that
first takes the store's write lock (a row lock on meta's schema_version row, see WRITE_LOCK):
writers from any machine take turns, as SQLite's one writer does, so replacing a record by id
and its rollup upserts stay exact under concurrency. Each write transaction bumps meta `data_version` and sends
NOTIFY usage_tui_changes (delivered at commit; payload {"schema", "data_version"}) for live
refresh.

Text columns use the "C" collation (byte order, as SQLite's BINARY): history pages ordered
by id, and keyset paging through them, are the same on both engines whatever the
database's locale. PostgreSQL sums bigints as numeric: a numeric with no fraction is read
back as a Python int (as SQLite gives), so every answer is the same exact integers.

Scopes (architecture §2.4) are enforced by the database: row-level security on every table, each
person connecting as their own role (a directory user's login is the role's name). Reads are
narrowed to one's scope; writes are for the store's owner role and org admins only; `directory
load` by the owner grants the directory's logins their access (schema.pg_security and
_maintain_grants below, docs/central-store.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from psycopg import errors, sql
from psycopg.adapt import Loader

from ..directory import Directory
from . import sqlite
from .base import BaseStore, StagedBatch, StoreError, StorePermissionError, full_message, wait_words
from .dialect import POSTGRES, quoted
from .postgres_access import RowSecurity, describe, display_dsn, write_refused
from .postgres_rollups import FAN_OUT, TEMP_TABLES, agg_statement
from .schema import (
    DAY_SUFFIX,
    DAY_US,
    DELETE_ALL,
    PG_MIGRATIONS,
    PG_PINNED,
    PG_READ_POLICIES,
    RECORD_INPUT_COLUMNS,
    ROLLUP_TABLES,
    SCHEMA_VERSION,
    TOTAL_DIM,
    attribution_sql,
    pg_security,
)

T = TypeVar("T")

NOTIFY_CHANNEL = "usage_tui_changes"
# The channel is the database's, shared by every store (schema) in it: the payload names the
# store's schema and its new data_version, {"schema": "…", "data_version": N}.
_NOTIFY = ("SELECT pg_notify(%s, json_build_object('schema', current_schema(), 'data_version', %s::bigint)::text)")
# The lock every write takes: meta's schema_version row, FOR UPDATE. Only a role that may write
# the store can take it (FOR UPDATE needs the UPDATE privilege on meta, and row-level security
# shows the row to the owner and org admins only for writing), and a row lock is taken by the
# executor, after the privilege checks. An advisory lock needs no privilege at all: any member
# held it and stopped every write (issue 27). A table lock in a mode that makes writers take
# turns would conflict with ROW EXCLUSIVE, which a role with SELECT alone holds while its INSERT
# is planned (before its privileges are checked): a member's INSERT whose plan folds a slow
# IMMUTABLE function of its own held it for as long as it liked.
WRITE_LOCK = "SELECT 1 FROM meta WHERE key = 'schema_version' FOR UPDATE"
# Before the store exists there is no meta row to lock: its creators take turns on an advisory
# lock (this class, the schema), then the second finds the schema there.
CREATE_LOCK = 0x75736167  # "usag"
_TAKE_CREATE_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))"
CONNECT_TIMEOUT_S = 10
_CONNECT_KWARGS = {"autocommit": True, "application_name": "usage-tui", "connect_timeout": CONNECT_TIMEOUT_S}
COPY_ROWS = 5_000  # rows per staged chunk (a chunk is a list of rows, written by COPY)

_INPUT_COLS = [quoted(c) for c in RECORD_INPUT_COLUMNS]
_RECORD_COLS = ", ".join([*_INPUT_COLS, '"user"', "team"])
# Constant statements (table names from the schema, never values).
_REPRICE_TABLE = 'CREATE TEMP TABLE reprice (id TEXT COLLATE "C" PRIMARY KEY, cost BIGINT) ON COMMIT DROP'


_SPAN = "SELECT MIN(bucket), MAX(bucket) FROM {} WHERE dim = %s"
_STAGE_COPY = f"COPY pg_temp.stage ({', '.join(_INPUT_COLS)}) FROM STDIN"
_STAGE_ATTRIBUTE = 'UPDATE pg_temp.stage SET "user" = {}, team = {}'.format(*attribution_sql("stage"))
_STAGE_TO_RECORDS = (
    f"INSERT INTO records ({_RECORD_COLS}) SELECT {_RECORD_COLS} FROM pg_temp.stage ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in [*_INPUT_COLS[1:], '"user"', "team"]))


def _present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class _IntegralNumeric(Loader):
    """numeric → int when it has no fraction (SUM of bigints), else Decimal: the same exact
    integers SQLite returns, never a Decimal that json and the formatters do not take."""

    def load(self, data) -> int | Decimal:
        text = bytes(data)
        if text.lstrip(b"-").isdigit():
            return int(text)
        return Decimal(text.decode())


@contextmanager
def _overflow_refused(what: str) -> Iterator[None]:
    """A bigint overflow (a sum past 2^63-1 cast or stored): the same refusal as SQLite's."""
    try:
        yield
    except errors.NumericValueOutOfRange:
        raise StoreError(full_message(what)) from None


class PostgresStore(RowSecurity, BaseStore):
    """A usage store in the current schema of a PostgreSQL database (the DSN's search_path).
    One connection per thread, in autocommit: every read snapshot and every write is an
    explicit transaction."""

    dialect = POSTGRES
    row_security = True  # what a role reads is narrowed to its scope (cli.require_full_view)
    _MATCH_STAGE = "SELECT s.id, s.fingerprint = r.fingerprint FROM pg_temp.stage s JOIN records r ON r.id = s.id"
    _DROP_UNCHANGED = "DELETE FROM pg_temp.stage s USING records r WHERE r.id = s.id AND r.fingerprint = s.fingerprint"
    _overflow_refused = staticmethod(_overflow_refused)

    def __init__(self, dsn: str, *, create: bool = True, readonly: bool = False,
                 on_upgrade: Callable[[str], None] | None = None, busy_timeout_ms: int | None = None) -> None:
        # (SQLite's busy timeout, read at open: a writer waits as long on either engine)
        super().__init__(readonly=readonly, on_upgrade=on_upgrade,
                         busy_timeout_ms=sqlite.BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms)
        self.dsn = dsn
        self.path = display_dsn(dsn)
        self._pool = None  # psycopg_pool.ConnectionPool, after use_pool()
        self.created = False  # this opening created the schema
        self.notices: list[str] = []  # what the last directory load has to tell (grants)
        with self._errors():
            version = self.schema_version()
            if version == 0:
                self._refuse_hidden_schema()
                if not create or readonly:
                    raise StoreError(f"{self.path}: no usage store in this database (schema) yet: "
                                     "create it with `usage-tui store init --db …` as its owner role")
                try:
                    self.created = self.init_schema()
                except StorePermissionError as refused:  # said for the owner-to-be
                    raise self._creation_refused(refused) from None
            elif version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: written by a newer usage-tui (schema {version}, "
                                 f"this one knows {SCHEMA_VERSION}); upgrade usage-tui")
            elif version < SCHEMA_VERSION:
                # Only the owner role upgrades, and never on a read-only opening (serve): a
                # migration takes the write lock and builds indexes, not a budget decision's job.
                if readonly or not self.identity_facts()["owner"]:
                    raise StoreError(f"{self.path}: the store is at schema {version} and this usage-tui needs "
                                     f"{SCHEMA_VERSION}: run `usage-tui store init` as its owner role")
                self.init_schema()

    # -- connections ---------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        try:
            conn = psycopg.connect(self.dsn, **_CONNECT_KWARGS)
        except psycopg.Error as exc:
            raise describe(exc, self.path) from None
        self._configure(conn)
        return conn

    def _configure(self, conn: psycopg.Connection) -> None:
        conn.adapters.register_loader("numeric", _IntegralNumeric)
        if self.readonly:
            conn.execute("SET default_transaction_read_only = on")

    @property
    def conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:  # (a server restart breaks it: reconnect)
            conn = self._local.conn = self._connect()
        return conn

    def use_pool(self, max_size: int) -> None:
        """Connections from a bounded pool (psycopg_pool), each borrowed for one `borrowed()`
        block, instead of one per thread for the thread's life: `serve` answers on up to 40
        threads per worker, so 4 workers could hold 160 connections, past the server's default
        max_connections of 100 (every answer past it a 503)."""
        from psycopg_pool import ConnectionPool

        self._pool = ConnectionPool(self.dsn, min_size=1, max_size=max_size, kwargs=_CONNECT_KWARGS,
                                    configure=self._configure, timeout=self.busy_timeout_ms / 1000,
                                    name="usage-tui", open=True)

    @contextmanager
    def borrowed(self) -> Iterator[None]:
        """Inside: this thread's statements run on a connection of the pool (when there is
        one), given back at the end. A pool that has none free within the busy timeout
        raises StoreError (serve answers 503: a refusal)."""
        if self._pool is None:
            yield
            return
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None
        except PoolTimeout:
            raise StoreError(f"{self.path}: no free database connection within "
                             f"{wait_words(self.busy_timeout_ms)} (all {self._pool.max_size} busy)") from None

    def close(self) -> None:
        """This thread's connection; with a pool, outside a borrowed block, the whole pool."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if self._pool is None:
            if conn is not None:
                conn.close()
        elif conn is None:  # (inside a borrowed block the connection goes back to the pool)
            self._pool.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise describe(exc, self.path) from None

    def _in_transaction(self) -> bool:
        return self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One write: the write lock first (writers take turns, as in SQLite), then the change
        counter and the notification, both delivered at commit."""
        conn = self.conn
        with self._errors():
            if getattr(self._local, "temp_for", None) is not conn:
                # outside the transaction, so that a rolled-back write does not take them along
                conn.execute(TEMP_TABLES)
                self._local.temp_for = conn
            conn.execute("BEGIN")
            try:
                # Waiting for another writer as long as an SQLite writer would (busy timeout).
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{self.busy_timeout_ms}ms",))
                try:
                    self._take_write_lock(conn)
                except errors.LockNotAvailable:
                    raise StoreError(
                        f"the store is busy: another process has been writing to it for over "
                        f"{wait_words(self.busy_timeout_ms)}; batches already committed are kept, "
                        "try again when it is done") from None
                yield conn
                (version,) = conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('data_version', '1') ON CONFLICT (key) DO UPDATE "
                    "SET value = (meta.value::bigint + 1)::text RETURNING value").fetchone()
                conn.execute(_NOTIFY, (NOTIFY_CHANNEL, int(version)))
            except BaseException:
                if not conn.closed:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _take_write_lock(self, conn: psycopg.Connection) -> None:
        if getattr(self._local, "meta_for", None) is not conn:  # (a store, once created, stays)
            if conn.execute("SELECT to_regclass('meta') IS NULL").fetchone()[0]:
                conn.execute(_TAKE_CREATE_LOCK, (CREATE_LOCK,))
                return
            self._local.meta_for = conn
        try:
            locked = conn.execute(WRITE_LOCK).fetchone() is not None
        except errors.InsufficientPrivilege:  # (a role granted SELECT only: FOR UPDATE needs more)
            locked = False
        if not locked:  # (fail closed: never a write without it)
            raise write_refused(self.path, conn.info.user)

    @contextmanager
    def snapshot(self) -> Iterator[psycopg.Connection]:
        """One read transaction: every statement inside sees the store as of its first read."""
        conn = self.conn
        if self._in_transaction():
            yield conn
            return
        with self._errors():
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield conn
            finally:
                if not conn.closed:
                    conn.execute("ROLLBACK" if conn.info.transaction_status
                                 == psycopg.pq.TransactionStatus.INERROR else "COMMIT")

    def reading(self, read: Callable[[], T]) -> T:
        with self.snapshot():
            return read()

    # -- schema ----------------------------------------------------------------------------------
    def schema_version(self) -> int:
        with self._errors():
            (exists,) = self.conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
            if not exists:
                return 0
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def init_schema(self) -> bool:
        """Create (or upgrade) the schema in one transaction; True when something was done.
        Two processes initializing at once: the second waits for the first's lock, then finds
        the schema there."""
        with self.transaction() as conn:
            version = self.schema_version()
            if version >= SCHEMA_VERSION:
                return False
            if version and self._on_upgrade is not None:
                self._on_upgrade(f"upgrading {self.path} from schema {version} to {SCHEMA_VERSION}")
            created = version == 0
            while version < SCHEMA_VERSION:
                version, script = PG_MIGRATIONS[version]
                conn.execute(script)
            if created:
                schema = conn.execute("SELECT current_schema()").fetchone()[0]
                for function in PG_PINNED:
                    conn.execute(sql.SQL("ALTER FUNCTION {} SET search_path = {}, pg_temp").format(
                        sql.SQL(function), sql.Identifier(schema)))
                conn.execute(pg_security(list(PG_READ_POLICIES)))
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', %s) ON CONFLICT (key) "
                         "DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))
        return True

    def data_span(self) -> tuple[int, int] | None:
        """[first, end) in µs of the UTC days holding any record this role may see: the org's
        day rollup, else (a role that may not read it) the team and user ones, which row-level
        security narrows to its own rows (a wider span only means more zero buckets read)."""
        with self._errors():
            for table in ("roll_org", "roll_team", "roll_user"):
                first, last = self.conn.execute(_SPAN.format(table + DAY_SUFFIX), (TOTAL_DIM,)).fetchone()
                if first is not None:
                    return first * DAY_US, (last + 1) * DAY_US
        return None

    def pending_rollups(self) -> int | None:
        """Never any: each batch is rolled up in its own transaction."""
        return None

    def refresh_rollups(self) -> int:
        return 0

    def data_version(self) -> tuple[int, int]:
        """Changes when any connection commits a write (meta data_version, bumped by each)."""
        value = self.get_meta("data_version")
        return 0, int(value) if value else 0

    # -- meta and directory ---------------------------------------------------------------------
    def directory(self) -> Directory:
        """The loaded directory (an empty one with UTC when none was loaded). A role that may
        not read the whole of it (row-level security: org admins only) gets its public part
        with the keys, agents and budgets it may see: its own."""
        with self.snapshot() as conn:
            raw = self.get_meta("directory")
            if raw is None and (public := self.get_meta("directory_public")) is not None:
                doc = json.loads(public)
                doc["keys"] = [_present(id=i, owner=o, team=t) for i, o, t in conn.execute(
                    "SELECT id, owner, team FROM dir_keys ORDER BY id")]
                doc["agents"] = [_present(id=i, manager=m) for i, m in conn.execute(
                    "SELECT id, manager FROM dir_agents ORDER BY id")]
                doc["budgets"] = [{"user": u, "limit_usd": limit, "window": w} for u, limit, w in conn.execute(
                    'SELECT "user", limit_usd, "window" FROM dir_budgets ORDER BY "user"')]
                raw = json.dumps(doc, sort_keys=True)
        return self._parsed_directory(raw or "{}")

    def _write_users(self, conn: psycopg.Connection, directory: Directory) -> None:
        for table in ("dir_keys", "dir_agents", "dir_team_admins", "dir_budgets"):
            conn.execute(DELETE_ALL[table])
        with conn.cursor() as cur:
            # Users in place (an org admin loading stays one in every statement), then the
            # ones no longer listed go.
            cur.executemany("INSERT INTO dir_users VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                            "name = excluded.name, login = excluded.login, role = excluded.role, "
                            "primary_team = excluded.primary_team",
                            [(u.id, u.name, u.login, u.role, u.primary_team) for u in directory.users.values()])
            cur.execute("DELETE FROM dir_users WHERE NOT (id = ANY(%s))", (list(directory.users),))

    def _write_directory(self, conn: psycopg.Connection, directory: Directory, doc: dict[str, Any]) -> None:
        """Also what only row-level security reads: the directory's public part, the team
        admins and the budgets as rows."""
        super()._write_directory(conn, directory, doc)
        public = {k: v for k, v in doc.items() if k not in ("keys", "agents", "budgets")}
        self._set_meta(conn, "directory_public", json.dumps(public, sort_keys=True, default=str))
        self._many(conn, "INSERT INTO dir_team_admins VALUES (?, ?)",
                   [(t.id, u) for t in directory.teams.values() for u in t.admins])
        self._many(conn, "INSERT INTO dir_budgets VALUES (?, ?, ?)",
                   [(b.user, b.limit_usd, b.window) for b in directory.budgets.values()])

    def _set_costs(self, conn: psycopg.Connection, costs: list[tuple[str, int | None]]) -> None:
        """The new costs copied into a temp table and set in one UPDATE."""
        conn.execute(_REPRICE_TABLE)
        with conn.cursor().copy("COPY pg_temp.reprice (id, cost) FROM STDIN") as copy:
            for row in costs:
                copy.write_row(row)
        conn.execute("UPDATE records r SET cost_nano = p.cost FROM pg_temp.reprice p WHERE r.id = p.id")

    # -- rollups ---------------------------------------------------------------------------------
    def _apply_rollups(self, conn: psycopg.Connection, sign: int, where: str, source: str = "records") -> None:
        conn.execute(agg_statement(source, where), {"sign": sign})
        conn.execute(FAN_OUT)

    def _rebuild_rollups(self, conn: psycopg.Connection) -> None:
        for table in ROLLUP_TABLES:
            conn.execute(DELETE_ALL[table])
        self._apply_rollups(conn, 1, "true")

    def rebuild_rollups(self) -> None:
        with self.transaction() as conn, _overflow_refused("rebuilding the rollups"):
            self._rebuild_rollups(conn)

    # -- the write path ------------------------------------------------------------------------------
    # Every batch rolls itself up in its own transaction, under the write lock: writers on many
    # machines, each seeing only what row-level security lets it (no deferred mark to agree on).
    def _chunks(self, rows: Sequence[tuple]) -> list[tuple]:
        """Staged rows as chunks of rows for COPY."""
        return [tuple(rows[i:i + COPY_ROWS]) for i in range(0, len(rows), COPY_ROWS)]

    def _fill_stage(self, conn: psycopg.Connection, batch: StagedBatch) -> None:
        """The batch copied (COPY) into the temp stage, keyed by id (emptied first: a transaction
        may write several batches)."""
        conn.execute("DELETE FROM pg_temp.stage")
        with conn.cursor().copy(_STAGE_COPY) as copy:
            for chunk in batch.chunks:
                for row in chunk:
                    copy.write_row(row)

    def _retract_replaced(self, conn: psycopg.Connection, what: str) -> None:
        with _overflow_refused(what):
            self._apply_rollups(conn, -1, "r.id IN (SELECT id FROM pg_temp.stage)")

    def _add_stage(self, conn: psycopg.Connection, what: str) -> None:
        conn.execute(_STAGE_ATTRIBUTE)
        conn.execute(_STAGE_TO_RECORDS)
        with _overflow_refused(what):
            self._apply_rollups(conn, 1, "true", source="pg_temp.stage")

    def stored_versions(self, ids: Sequence[str]) -> dict[str, tuple[str | None, int]]:
        """(attributed user, fingerprint) of each of `ids` already in the store."""
        with self._errors():
            return {rid: (user, fp) for rid, user, fp in self.conn.execute(
                'SELECT id, "user", fingerprint FROM records WHERE id = ANY(%s)', (list(ids),))}
