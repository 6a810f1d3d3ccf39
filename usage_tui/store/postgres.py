"""The central usage store on PostgreSQL: the SQLite store's schema and answers, for many
machines at once.

Same tables (schema.py: records, the rollups of ROLLUPS/FINE, the directory tables) and the
same schema version, kept in meta (`schema_version`). Every write is one transaction that
first takes the store's advisory lock (pg_advisory_xact_lock): writers from any machine take turns,
as SQLite's one writer does, so replacing a record by id and its rollup upserts stay exact
under concurrency. Each write transaction bumps meta `data_version` and sends
NOTIFY usage_tui_changes (delivered at commit; payload {"schema", "data_version"}) for live
refresh.

Text columns use the "C" collation (byte order, as SQLite's BINARY): history pages ordered
by id, and keyset paging through them, are the same on both engines whatever the
database's locale. PostgreSQL sums bigints as numeric: a numeric with no fraction is read
back as a Python int (as SQLite gives), so every answer is the same exact integers.

Scopes (DESIGN §2.4) are enforced by the database: row-level security on every table, each
person connecting as their own role (a directory user's login is the role's name). Reads are
narrowed to one's scope; writes are for the store's owner role and org admins only; `directory
load` by the owner grants the directory's logins their access (schema.pg_security and
_maintain_grants below, README "Outgrowing one machine").
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from psycopg import errors, sql
from psycopg.adapt import Loader

from ..directory import Directory, parse_directory
from ..model import GROUPINGS, Record, Reject
from ..pricing import Pricer
from . import StorePermissionError, sqlite
from .dialect import POSTGRES, quoted
from .schema import (
    BLOCK_DAYS,
    BLOCK_SUFFIX,
    DAY_QUARTERS,
    DAY_SUFFIX,
    DAY_US,
    DELETE_ALL,
    DIM_COLUMNS,
    FINE,
    MAX_TOTAL,
    PG_MIGRATIONS,
    PG_PINNED,
    PG_READ_POLICIES,
    QUARTER_US,
    RECORD_INPUT_COLUMNS,
    ROLLUP_TABLES,
    ROLLUPS,
    SCHEMA_VERSION,
    STAGE,
    SUM_COLUMNS,
    TOTAL_DIM,
    USAGE_TABLES,
    attribution_sql,
    create_table,
    pg_security,
)
from .sqlite import (
    BatchResult,
    StagedBatch,
    Store,
    StoreError,
    _full_message,
    _priced,
    wait_words,
)

T = TypeVar("T")

NOTIFY_CHANNEL = "usage_tui_changes"
# The channel is the database's, shared by every store (schema) in it: the payload names the
# store's schema and its new data_version, {"schema": "…", "data_version": N}.
_NOTIFY = ("SELECT pg_notify(%s, json_build_object('schema', current_schema(), 'data_version', %s::bigint)::text)")
# The advisory lock every write takes: (this class, the store's schema), one per store.
WRITE_LOCK = 0x75736167  # "usag"
_TAKE_WRITE_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))"
CONNECT_TIMEOUT_S = 10
_CONNECT_KWARGS = {"autocommit": True, "application_name": "usage-tui", "connect_timeout": CONNECT_TIMEOUT_S}
COPY_ROWS = 5_000  # rows per staged chunk (a chunk is a list of rows, written by COPY)

_C = 'COLLATE "C"'
_TEXT = f"TEXT {_C}"


_INPUT_COLS = [quoted(c) for c in RECORD_INPUT_COLUMNS]
_RECORD_COLS = ", ".join([*_INPUT_COLS, '"user"', "team"])
# Constant statements (table names from the schema, never values).
_REPRICE_TABLE = f"CREATE TEMP TABLE reprice (id {_TEXT} PRIMARY KEY, cost BIGINT) ON COMMIT DROP"
_REJECTS = ("SELECT id, source, line, reason, raw FROM rejects WHERE (%s::text IS NULL OR source = %s) "
            "ORDER BY id DESC LIMIT %s")


# -- the write path: the SQLite store's statements in PostgreSQL's spelling -----------------------
_AGG_DIMS = ", ".join(f"r.{quoted(c)} AS {quoted(c)}" for c in ("user", "team", "provider", "model", "agent",
                                                                   "key", "verdict"))
_SIGNED_SUMS = ", ".join(
    f"(%(sign)s * SUM({expr}))::bigint AS {name}" for name, expr in (
        ("requests", "r.requests"), ("prompt_tokens", "r.prompt_tokens"),
        ("completion_tokens", "r.completion_tokens"), ("cached_input_tokens", "r.cached_input_tokens"),
        ("context_tokens", "r.context_tokens"), ("cost_nano", "COALESCE(r.cost_nano, 0)"),
        ("unpriced_requests", "CASE WHEN r.cost_nano IS NULL THEN r.requests ELSE 0 END")))
_AGG_SUMS = ", ".join(f"SUM(r.{c})::bigint" for c in SUM_COLUMNS)
_AGG_SUMS_NAMED = ", ".join(f"SUM(r.{c})::bigint AS {c}" for c in SUM_COLUMNS)


_SUMS_BIGINT = ", ".join(f"{c} BIGINT" for c in SUM_COLUMNS)
# The write path's work tables, created once per connection (not per write: creating and
# dropping tables writes the catalog), emptied at each commit.
_TEMP_TABLES = (
    f'CREATE TEMP TABLE IF NOT EXISTS agg (bucket BIGINT, "user" {_TEXT}, team {_TEXT}, provider {_TEXT}, '
    f"model {_TEXT}, agent {_TEXT}, key {_TEXT}, verdict {_TEXT}, {_SUMS_BIGINT}) ON COMMIT DELETE ROWS; "
    f'CREATE TEMP TABLE IF NOT EXISTS fine (dim SMALLINT, bucket BIGINT, "user" {_TEXT}, team {_TEXT}, '
    f"key {_TEXT}, {_SUMS_BIGINT}) ON COMMIT DELETE ROWS; "
    f'CREATE TEMP TABLE IF NOT EXISTS fine_day (dim SMALLINT, bucket BIGINT, "user" {_TEXT}, team {_TEXT}, '
    f"key {_TEXT}, {_SUMS_BIGINT}) ON COMMIT DELETE ROWS; "
    + create_table(STAGE, "postgres", temp=True, if_not_exists=True, tail=" ON COMMIT DELETE ROWS")
)


def _agg_statement(source: str, where: str) -> str:
    """The records of `source` matching `where` (constant SQL on `r`) summed per quarter-hour
    and every dimension into pg_temp.agg; %(sign)s is +1 (add) or -1 (subtract)."""
    return (f"INSERT INTO pg_temp.agg SELECT r.ts_us / {QUARTER_US} AS bucket, {_AGG_DIMS}, {_SIGNED_SUMS} "
            f"FROM {source} r WHERE {where} GROUP BY {', '.join(str(i) for i in range(1, 9))}")


def _fan_out_script() -> str:
    """pg_temp.agg → every rollup table, added to what is there (sqlite.py's
    _fan_out_statements), as one script: one round trip to the server, not 23."""
    statements = []
    for dim in range(TOTAL_DIM + 1):
        key = f"COALESCE(r.{quoted(DIM_COLUMNS[GROUPINGS[dim]])}, '')" if dim < TOTAL_DIM else "''"
        statements.append(
            f"INSERT INTO pg_temp.fine SELECT {dim}, r.bucket, COALESCE(r.\"user\", ''), COALESCE(r.team, ''), "
            f"{key}, {_AGG_SUMS} FROM pg_temp.agg r GROUP BY 2, 3, 4, 5")
    statements.append(f'INSERT INTO pg_temp.fine_day SELECT r.dim, r.bucket / {DAY_QUARTERS}, r."user", r.team, '
                      f"r.key, {_AGG_SUMS} FROM pg_temp.fine r GROUP BY 1, 2, 3, 4, 5")
    for scope, (table, scope_col) in ROLLUPS.items():
        scope_select = f"r.{quoted(scope_col)}, " if scope_col else ""
        scope_insert = f"{quoted(scope_col)}, " if scope_col else ""
        group = "1, 2, 3, 4" if scope_col else "1, 2, 3"
        grains = []
        if scope in FINE:
            suffix, grain_us = FINE[scope]
            grains.append((suffix, "pg_temp.fine", grain_us // QUARTER_US))
        grains += [(DAY_SUFFIX, "pg_temp.fine_day", 1), (BLOCK_SUFFIX, "pg_temp.fine_day", BLOCK_DAYS)]
        for suffix, source, per in grains:
            target = table + suffix
            bucket = "r.bucket" if per == 1 else f"r.bucket / {per}"
            update = ", ".join(f"{c} = {target}.{c} + excluded.{c}" for c in SUM_COLUMNS)
            statements.append(
                f"INSERT INTO {target} ({scope_insert}dim, bucket, key, {', '.join(SUM_COLUMNS)}) "
                f"SELECT {scope_select}r.dim, {bucket}, r.key, {_AGG_SUMS} FROM {source} r GROUP BY {group} "
                f"ON CONFLICT ({scope_insert}dim, bucket, key) DO UPDATE SET {update}")
    # emptied for a second pass in the same transaction (a replacement subtracts, then adds)
    statements += ["DELETE FROM pg_temp.agg", "DELETE FROM pg_temp.fine", "DELETE FROM pg_temp.fine_day"]
    return "; ".join(statements)


_FAN_OUT = _fan_out_script()
_ORG_DAY_TOTALS = f"SELECT {', '.join(SUM_COLUMNS)} FROM roll_org{DAY_SUFFIX} WHERE dim = %s"
_SPAN = "SELECT MIN(bucket), MAX(bucket) FROM {} WHERE dim = %s"
_STAGE_COPY = f"COPY pg_temp.stage ({', '.join(_INPUT_COLS)}) FROM STDIN"
_STAGE_ATTRIBUTE = 'UPDATE pg_temp.stage SET "user" = {}, team = {}'.format(*attribution_sql("stage"))
_STAGE_TO_RECORDS = (
    f"INSERT INTO records ({_RECORD_COLS}) SELECT {_RECORD_COLS} FROM pg_temp.stage ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in [*_INPUT_COLS[1:], '"user"', "team"]))
_REATTRIBUTE_RECORDS = 'UPDATE records SET "user" = {}, team = {}'.format(*attribution_sql("records"))


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


def display_dsn(dsn: str) -> str:
    """The DSN for messages: without its password."""
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", dsn))


def describe(exc: psycopg.Error, where: str) -> StoreError:
    """A psycopg error as one line: a refused permission is a StorePermissionError (exit 3)."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, errors.InsufficientPrivilege):
        return StorePermissionError(f"{where}: the database refused: {text} (ask the store's owner for access)")
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, errors.QueryCanceled):
        return StoreError(f"{where}: cannot use the PostgreSQL server: {text}")
    return StoreError(f"{where}: {text}")


@contextmanager
def _overflow_refused(what: str) -> Iterator[None]:
    """A bigint overflow (a sum past 2^63-1 cast or stored): the same refusal as SQLite's."""
    try:
        yield
    except errors.NumericValueOutOfRange:
        raise StoreError(_full_message(what)) from None


class PostgresStore:
    """A usage store in the current schema of a PostgreSQL database (the DSN's search_path).
    One connection per thread, in autocommit: every read snapshot and every write is an
    explicit transaction."""

    dialect = POSTGRES
    row_security = True  # what a role reads is narrowed to its scope (cli.require_full_view)
    # The engine-independent halves of a write (values, fingerprints, prices, duplicates within
    # a batch) are the SQLite store's own code.
    stage_rows = Store.stage_rows
    pricer = Store.pricer
    stage_batch = Store.stage_batch
    write_batch = Store.write_batch

    def __init__(self, dsn: str, *, create: bool = True, readonly: bool = False,
                 on_upgrade: Callable[[str], None] | None = None, busy_timeout_ms: int | None = None) -> None:
        self.dsn = dsn
        self.busy_timeout_ms = int(sqlite.BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms)
        self.path = display_dsn(dsn)
        self.readonly = readonly
        self._on_upgrade = on_upgrade
        self._local = threading.local()
        self._pool = None  # psycopg_pool.ConnectionPool, after use_pool()
        self._pricer: Pricer | None = None
        self._directory: tuple[str, Directory] | None = None
        self.created = False  # this opening created the schema
        self.notices: list[str] = []  # what the last directory load has to tell (grants)
        with self._errors():
            version = self.schema_version()
            if version == 0:
                self._refuse_hidden_schema()
                if not create or readonly:
                    raise StoreError(f"{self.path}: no usage store in this database (schema) yet: "
                                     "create it with `usage-tui store init --db …` as its owner role")
                self.created = self.init_schema()
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

    def execute(self, sql: str, params: Sequence = ()) -> psycopg.Cursor:
        """A statement of the SQL both engines share (query.py: `?` placeholders)."""
        with self._errors():
            return self.conn.execute(self.dialect.sql(sql), params)

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
                conn.execute(_TEMP_TABLES)
                self._local.temp_for = conn
            conn.execute("BEGIN")
            try:
                # Waiting for another writer as long as an SQLite writer would (busy timeout).
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{self.busy_timeout_ms}ms",))
                try:
                    conn.execute(_TAKE_WRITE_LOCK, (WRITE_LOCK,))
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

    def identity_facts(self) -> dict[str, Any]:
        """Who is connected: the database role is the login (the server authenticated it), and
        the store's owner is the role owning its tables (or a superuser: both bypass row-level
        security and may read everything)."""
        with self._errors():
            login, owner = self.conn.execute(
                "SELECT current_user::text, pg_get_userbyid(c.relowner) = current_user "
                "OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
                "FROM pg_class c WHERE c.oid = 'records'::regclass").fetchone()
        return {"login": login, "owner": bool(owner)}

    def sees_everything(self) -> bool:
        """Whether row-level security hides nothing from the connected role: the owner, a
        superuser or a BYPASSRLS role, or an org admin by the directory as it is now. A decision
        about someone else made by a role that does not would read "no spend, no budget" and
        allow (serve checks this in each answer's snapshot: a role demoted while serve runs
        gets 503s, never 200s)."""
        with self._errors():
            (yes,) = self.conn.execute(
                "SELECT pg_get_userbyid(c.relowner) = current_user OR r.rolsuper OR r.rolbypassrls "
                "OR usage_tui_is_org_admin(current_user::text) FROM pg_class c, pg_roles r "
                "WHERE c.oid = 'records'::regclass AND r.rolname = current_user").fetchone()
        return bool(yes)

    # -- schema ----------------------------------------------------------------------------------
    def schema_version(self) -> int:
        with self._errors():
            (exists,) = self.conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
            if not exists:
                return 0
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _refuse_hidden_schema(self) -> None:
        """A schema on the search_path that exists but this role may not use looks like no
        store at all (PostgreSQL hides it): say what it is, a missing permission (exit 3)."""
        role, hidden = self.conn.execute(
            "SELECT current_user::text, array_agg(nspname::text ORDER BY nspname) FILTER "
            "(WHERE NOT has_schema_privilege(oid, 'USAGE')) FROM pg_namespace "
            "WHERE nspname = ANY(string_to_array(replace(current_setting('search_path'), ' ', ''), ','))"
        ).fetchone()
        if hidden:
            raise StorePermissionError(
                f"{self.path}: role {role} may not use schema {', '.join(hidden)} (no USAGE privilege): the "
                "store's owner grants it to the directory's logins with `usage-tui directory load`")

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
    def get_meta(self, key: str) -> str | None:
        with self._errors():
            row = self.conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            self._set_meta(conn, key, value)

    def _set_meta(self, conn: psycopg.Connection, key: str, value: str) -> None:
        conn.execute("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                     "SET value = excluded.value", (key, value))

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
        raw = raw or "{}"
        if self._directory is None or self._directory[0] != raw:
            self._directory = (raw, parse_directory(json.loads(raw)))
        return self._directory[1]

    def load_directory(self, doc: dict[str, Any], progress=None) -> int:
        """Replace the directory with `doc` (already validated), re-price and re-attribute every
        record and rebuild the rollups, all in one transaction. Returns the number of records."""
        directory = parse_directory(doc)
        facts = self.identity_facts()
        if not facts["owner"]:
            # An org admin's load goes through the policies, which read dir_users as it is being
            # written: it must leave them an org admin (else its later rows would be refused).
            me = directory.user_by_login(facts["login"])
            if me is None or not directory.is_org_admin(me.id):
                raise StorePermissionError(f"{self.path}: role {facts['login']} would not be an org admin in this "
                                           "directory: only the store's owner role may load it")
        pricer = Pricer(directory.prices)
        self.notices = []
        with self.transaction() as conn:
            # the prices being replaced, read under the write lock: a load that committed while
            # this one waited for it is what these prices replace
            old_prices = self.directory().prices
            self._set_meta(conn, "directory", json.dumps(doc, sort_keys=True, default=str))
            public = {k: v for k, v in doc.items() if k not in ("keys", "agents", "budgets")}
            self._set_meta(conn, "directory_public", json.dumps(public, sort_keys=True, default=str))
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
                cur.executemany("INSERT INTO dir_keys VALUES (%s, %s, %s)",
                                [(k.id, k.owner, k.team) for k in directory.keys.values()])
                cur.executemany("INSERT INTO dir_agents VALUES (%s, %s)",
                                [(a.id, a.manager) for a in directory.agents.values()])
                cur.executemany("INSERT INTO dir_team_admins VALUES (%s, %s)",
                                [(t.id, u) for t in directory.teams.values() for u in t.admins])
                cur.executemany("INSERT INTO dir_budgets VALUES (%s, %s, %s)",
                                [(b.user, b.limit_usd, b.window) for b in directory.budgets.values()])
                # A budget the directory names replaces one set with `budget set`.
                cur.executemany('DELETE FROM budget_overrides WHERE "user" = %s', [(u,) for u in directory.budgets])
            if old_prices != directory.prices:
                self._reprice(conn, pricer)
            conn.execute(_REATTRIBUTE_RECORDS)
            with _overflow_refused("re-pricing with these prices"):
                self._rebuild_rollups(conn)
            self._check_totals(conn, "re-pricing with these prices")
            (count,) = conn.execute("SELECT count(*) FROM records").fetchone()
            self.notices = self._maintain_grants(conn, directory)
        self._directory = None
        self._pricer = None
        return count

    def _maintain_grants(self, conn: psycopg.Connection, directory: Directory) -> list[str]:
        """Give each directory login's role what the policies let it see: USAGE on the schema
        and SELECT on its tables (row-level security narrows the rows); org admins' roles also
        write. Roles granted before and no longer listed (or no longer admins) lose it. Only
        the owner may grant: anyone else's load says so. Returns lines for the user."""
        if not self.identity_facts()["owner"]:
            return ["grants unchanged: only the store's owner role maintains them (run `usage-tui "
                    "directory load` as that role to give new logins access)"]
        schema = sql.Identifier(conn.execute("SELECT current_schema()").fetchone()[0])
        wanted = {u.login: directory.is_org_admin(u.id) for u in directory.users.values() if u.login}
        me = conn.execute("SELECT current_user::text").fetchone()[0]
        wanted.pop(me, None)
        roles = {r for (r,) in conn.execute("SELECT rolname::text FROM pg_roles WHERE rolname = ANY(%s)",
                                            (list(wanted),))}
        granted = dict(conn.execute("SELECT role, org_admin FROM granted_roles").fetchall())
        writes = sql.SQL("GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}; "
                         "GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r}")
        unwrites = sql.SQL("REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} FROM {r}; "
                           "REVOKE USAGE ON ALL SEQUENCES IN SCHEMA {s} FROM {r}")
        for role in granted:
            if role not in roles and conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}; REVOKE ALL ON ALL "
                                     "SEQUENCES IN SCHEMA {s} FROM {r}; REVOKE USAGE ON SCHEMA {s} FROM {r}")
                             .format(s=schema, r=sql.Identifier(role)))
        for role in sorted(roles):
            r = sql.Identifier(role)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {s} TO {r}; GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r}")
                         .format(s=schema, r=r))
            conn.execute((writes if wanted[role] else unwrites).format(s=schema, r=r))
        conn.execute("DELETE FROM granted_roles")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO granted_roles VALUES (%s, %s)", [(r, wanted[r]) for r in sorted(roles)])
        missing = sorted(set(wanted) - roles)
        if not missing:
            return []
        return [f"no database role for the login{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                "create it (CREATE ROLE … LOGIN) and load the directory again to grant it access"]

    def _reprice(self, conn: psycopg.Connection, pricer: Pricer) -> None:
        """Recompute the cost of every record without a logged cost (prices changed): the new
        costs are copied into a temp table and set in one UPDATE."""
        rows = conn.execute(
            "SELECT id, ts_us, provider, model, prompt_tokens, completion_tokens, cached_input_tokens, "
            "cache_write_tokens, cache_write_1h_tokens, service_tier, batch FROM records "
            "WHERE cost_logged_nano IS NULL").fetchall()
        conn.execute(_REPRICE_TABLE)
        with conn.cursor().copy("COPY pg_temp.reprice (id, cost) FROM STDIN") as copy:
            for rid, ts_us, provider, model, p, c, cached, cw, cw_1h, tier, batch in rows:
                rec = Record(rid, ts_us, provider, model, prompt_tokens=p, completion_tokens=c,
                             cached_input_tokens=cached, cache_write_tokens=cw, cache_write_1h_tokens=cw_1h,
                             service_tier=tier, batch=bool(batch))
                copy.write_row((rid, _priced(pricer, rec, "the directory was not loaded")))
        conn.execute("UPDATE records r SET cost_nano = p.cost FROM pg_temp.reprice p WHERE r.id = p.id")

    # -- rollups ---------------------------------------------------------------------------------
    def totals(self, conn: psycopg.Connection | None = None) -> dict[str, int | float]:
        """The org's grand totals per summed column, added up in Python from the day rollup's
        totals rows (as the SQLite store does)."""
        conn = conn or self.conn
        sums: dict[str, int | float] = dict.fromkeys(SUM_COLUMNS, 0)
        with self._errors():
            for row in conn.execute(_ORG_DAY_TOTALS, (TOTAL_DIM,)):
                for name, value in zip(SUM_COLUMNS, row, strict=True):
                    sums[name] += value
        return sums

    def _check_totals(self, conn: psycopg.Connection, what: str) -> None:
        for name, total in self.totals(conn).items():
            if total > MAX_TOTAL:
                raise StoreError(_full_message(what, name))

    def _apply_rollups(self, conn: psycopg.Connection, sign: int, where: str, source: str = "records") -> None:
        conn.execute(_agg_statement(source, where), {"sign": sign})
        conn.execute(_FAN_OUT)

    def _rebuild_rollups(self, conn: psycopg.Connection) -> None:
        for table in ROLLUP_TABLES:
            conn.execute(DELETE_ALL[table])
        self._apply_rollups(conn, 1, "true")

    def rebuild_rollups(self) -> None:
        with self.transaction() as conn, _overflow_refused("rebuilding the rollups"):
            self._rebuild_rollups(conn)

    # -- records ---------------------------------------------------------------------------------
    def source_id(self, fmt: str, path: str) -> int:
        with self.transaction() as conn:
            conn.execute("INSERT INTO sources (format, path) VALUES (%s, %s) ON CONFLICT DO NOTHING", (fmt, path))
            return conn.execute("SELECT id FROM sources WHERE format = %s AND path = %s", (fmt, path)).fetchone()[0]

    def staged_batch(self, rows: Sequence[tuple]) -> StagedBatch:
        """Staged rows (one per id) as one batch: chunks of rows for COPY."""
        chunks = [tuple(rows[i:i + COPY_ROWS]) for i in range(0, len(rows), COPY_ROWS)]
        return StagedBatch(chunks, BatchResult(imported=len(rows)))

    def write_staged(self, batch: StagedBatch, rejects: Iterable[Reject] = ()) -> BatchResult:
        """The SQL half of `write_batch`: one transaction, under the write lock. The batch is
        copied (COPY) into a temp stage keyed by id and matched against the records there."""
        result = batch.result
        with self.transaction() as conn:
            with conn.cursor().copy(_STAGE_COPY) as copy:
                for chunk in batch.chunks:
                    for row in chunk:
                        copy.write_row(row)
            existing = conn.execute(
                "SELECT s.id, s.fingerprint = r.fingerprint FROM pg_temp.stage s JOIN records r ON r.id = s.id"
            ).fetchall()
            if existing:
                same = sum(1 for _, eq in existing if eq)
                result.unchanged += same
                result.replaced += len(existing) - same
                result.imported -= len(existing)
                if same:
                    conn.execute("DELETE FROM pg_temp.stage s USING records r "
                                 "WHERE r.id = s.id AND r.fingerprint = s.fingerprint")
                if same < len(existing):
                    with _overflow_refused("this batch"):
                        self._apply_rollups(conn, -1, "r.id IN (SELECT id FROM pg_temp.stage)")
            conn.execute(_STAGE_ATTRIBUTE)
            conn.execute(_STAGE_TO_RECORDS)
            with _overflow_refused("this batch"):
                self._apply_rollups(conn, 1, "true", source="pg_temp.stage")
            self._check_totals(conn, "this batch")
            self._write_rejects(conn, rejects)
        return result

    def _write_rejects(self, conn: psycopg.Connection, rejects: Iterable[Reject]) -> None:
        rows = [(j.source, j.line, j.reason, j.raw) for j in rejects]
        if rows:
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO rejects (source, line, reason, raw) VALUES (%s, %s, %s, %s) "
                                "ON CONFLICT DO NOTHING", rows)

    def write_rejects(self, rejects: Iterable[Reject]) -> None:
        with self.transaction() as conn:
            self._write_rejects(conn, rejects)

    def rejects(self, source: str | None = None, limit: int | None = None) -> list[dict]:
        """Rejected lines, newest first."""
        with self._errors():  # (LIMIT NULL is no limit)
            cur = self.conn.execute(_REJECTS, (source or None, source or None, limit))
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur]

    def stored_versions(self, ids: Sequence[str]) -> dict[str, tuple[str | None, int]]:
        """(attributed user, fingerprint) of each of `ids` already in the store."""
        with self._errors():
            return {rid: (user, fp) for rid, user, fp in self.conn.execute(
                'SELECT id, "user", fingerprint FROM records WHERE id = ANY(%s)', (list(ids),))}

    def record_count(self) -> int:
        with self._errors():
            return self.conn.execute("SELECT count(*) FROM records").fetchone()[0]

    def clear_records(self) -> None:
        with self.transaction() as conn:
            for table in USAGE_TABLES:
                conn.execute(DELETE_ALL[table])

    # -- budgets set from the CLI --------------------------------------------------------------------
    def set_budget_override(self, user: str, limit_usd: float, window: str, set_by: str, set_at: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                'INSERT INTO budget_overrides VALUES (%s, %s, %s, %s, %s) ON CONFLICT ("user") DO UPDATE SET '
                'limit_usd = excluded.limit_usd, "window" = excluded."window", set_by = excluded.set_by, '
                "set_at = excluded.set_at", (user, limit_usd, window, set_by, set_at))

    def budget_overrides(self) -> dict[str, tuple[float, str]]:
        with self._errors():
            return {u: (lim, w) for u, lim, w in
                    self.conn.execute('SELECT "user", limit_usd, "window" FROM budget_overrides')}
