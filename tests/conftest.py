"""Shared fixtures: a small directory, temporary stores, and the demo stores the TUI tests share."""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import uuid
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from usage_tui.ingest.native import to_record
from usage_tui.sample import demo_directory, generate
from usage_tui.store import Batch, Store

# The PostgreSQL tests run against the server this names (a libpq URI whose user may create
# schemas and roles), e.g. postgresql:///test; without it they are skipped (one line says so).
PG_ENV = "USAGE_TUI_TEST_PG"
PG_BASE = os.environ.get(PG_ENV) or None
PG_HOW = (f"PostgreSQL tests skipped: set {PG_ENV}=postgresql:///test (a server on which this user may "
          "create schemas and roles) to run them")
ENGINES = ("sqlite", "postgres")

DIRECTORY = {
    "org": {"id": "acme", "name": "Acme", "timezone": "Europe/Berlin"},
    "teams": [
        {"id": "platform", "name": "Platform", "admins": ["carol"]},
        {"id": "research", "name": "Research", "admins": []},
    ],
    "users": [
        {"id": "alice", "login": "alice", "role": "org_admin", "teams": ["platform"]},
        {"id": "bob", "login": "bob", "role": "member", "teams": ["platform"]},
        {"id": "carol", "login": "carol", "role": "member", "teams": ["research", "platform"]},
        {"id": "dave", "login": "dave", "role": "member", "teams": []},
    ],
    "keys": [
        {"id": "k_bob", "owner": "bob"},
        {"id": "k_team", "owner": "carol", "team": "research"},
        {"id": "k_orphan", "team": "platform"},
    ],
    "agents": [{"id": "bot", "manager": "dave"}, {"id": "stray"}],
    "budgets": [{"user": "bob", "limit_usd": 10.0, "window": "weekly"}],
    "prices": [{"provider": "internal", "model": "llama", "input_per_mtok": 2.0, "output_per_mtok": 4.0,
                "cached_input_per_mtok": 1.0}],
}


@pytest.fixture
def directory_doc():
    return copy.deepcopy(DIRECTORY)


@pytest.fixture
def store(tmp_path, directory_doc):
    s = Store(tmp_path / "usage.db")
    s.load_directory(directory_doc)
    yield s
    s.close()


def pytest_terminal_summary(terminalreporter):
    if PG_BASE is None:
        terminalreporter.write_line(PG_HOW)


def require_pg() -> str:
    if PG_BASE is None:
        pytest.skip(PG_HOW)
    return PG_BASE


def schema_dsn(base: str, schema: str) -> str:
    """`base` with its search_path set to `schema` (libpq's options parameter). Tests do not
    wait for each commit to reach the disk (synchronous_commit=off: a crash of the server may
    lose the last commits, it never changes what a committed transaction saw or wrote); a
    test's many small writes are otherwise mostly fsync."""
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"


@contextmanager
def pg_schema(prefix: str = "t"):
    """A new, uniquely named schema on the test server: (name, DSN using it), dropped after."""
    import psycopg
    from psycopg import sql

    base = require_pg()
    name = f"usage_tui_{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield name, schema_dsn(base, name)
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def new_store(engine, tmp_path):
    """A factory of empty stores of the engine the test is parametrized with (`engine`):
    SQLite files under tmp_path, or PostgreSQL stores each in its own schema, dropped after."""
    opened = []
    with ExitStack() as stack:
        def make():
            if engine == "sqlite":
                s = Store(tmp_path / f"usage{len(opened)}.db")
            else:
                from usage_tui.store.postgres import PostgresStore

                _, dsn = stack.enter_context(pg_schema())
                s = PostgresStore(dsn)
            opened.append(s)
            return s

        yield make
        for s in opened:
            s.close()


@pytest.fixture
def emptied_store(engine, new_store):
    """For property tests: a function giving an empty store of the engine for each example. A
    new SQLite file each time; on PostgreSQL one schema, emptied (creating and dropping a
    schema per example would be most of the test's time)."""
    kept = []

    def empty():
        if engine == "sqlite" or not kept:
            kept[:] = [new_store()]
        else:
            kept[0].clear_records()
        return kept[0]

    return empty


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    if request.param == "postgres":
        require_pg()
    return request.param


@pytest.fixture
def engine_store(new_store, directory_doc):
    """The small directory's store on each engine (tests using it run once per engine)."""
    s = new_store()
    s.load_directory(directory_doc)
    return s


def location(store) -> str:
    """What --db names for `store`: its file, or its DSN."""
    return getattr(store, "dsn", None) or str(store.path)


def write(store: Store, *dicts: dict):
    """Validate dicts as native records and write them in one batch."""
    return store.write_batch([to_record(d) for d in dicts], None)


def append(store: Store, *dicts: dict):
    """Write dicts in one batch as an import does: appended, not rolled up until the import
    ends (store.refresh_rollups)."""
    (result,) = store.write_batches([Batch([to_record(d) for d in dicts])])
    return result


V4_COLUMNS = ("cache_write_1h_tokens", "service_tier", "batch", "source_line")


_V4_SUMS = ("requests", "prompt_tokens", "completion_tokens", "cached_input_tokens", "context_tokens",
            "cost_nano", "unpriced_requests")


def make_schema_8(store: Store, close: bool = False) -> None:
    """Turn `store` into what schema 8 wrote: the records' id unique by a UNIQUE index of its text,
    no id hash column or index (schema 9). Rowids, values and the time indexes are kept."""
    from usage_tui.store.schema import RECORDS, TIME_INDEXES, Column, Table, create_table

    old = [c for c in RECORDS.columns if c.name != "id_hash"]
    v8 = Table("records8", (Column("id", "name", required=True, unique=True), *old[1:]))
    cols = ", ".join(f'"{c.name}"' for c in old)
    store.conn.executescript(
        f"BEGIN; {create_table(v8, 'sqlite')} INSERT INTO records8 (rowid, {cols}) SELECT rowid, {cols} FROM records; "
        "DROP TABLE records; ALTER TABLE records8 RENAME TO records; "
        + "".join(f"{sql}; " for sql in TIME_INDEXES.values()) + "PRAGMA user_version = 8; COMMIT;")
    if close:
        store.close()


def make_schema_4(store: Store, close: bool = True) -> None:
    """Turn `store` into what schema 4 wrote: quarter-hour rollups per scope (written here from
    the records, in Python), no team hour table, no time indexes, no cursors (schema 8)."""
    from collections import defaultdict

    make_schema_8(store)
    conn = store.conn
    dims = ("provider", "model", "user", "team", "agent", "key", "verdict")  # GROUPINGS' order, then totals
    acc: dict = defaultdict(lambda: [0] * 7)
    for ts_us, *values in conn.execute(
            f"SELECT ts_us, {', '.join(dims)}, requests, prompt_tokens, completion_tokens, cached_input_tokens, "
            "context_tokens, cost_nano FROM records"):
        dim_values, (req, p, c, cached, ctx, cost) = values[:7], values[7:]
        sums = (req, p, c, cached, ctx, cost or 0, req if cost is None else 0)
        user, team = dim_values[2] or "", dim_values[3] or ""
        for dim in range(8):
            key = (dim_values[dim] or "") if dim < 7 else ""
            for target in (("roll_user", user), ("roll_team", team), ("roll_org",)):
                row = acc[(*target, dim, ts_us // 900_000_000, key)]
                for i, v in enumerate(sums):
                    row[i] += v
    script = ["DROP TABLE cursors", "DROP INDEX records_ts", "DROP INDEX records_user_ts", "DROP INDEX records_team_ts", "DROP TABLE roll_team_hour",
              "DROP TABLE roll_org_quarter", "DROP TABLE roll_user_block", "DROP TABLE roll_team_block",
              "DROP TABLE roll_org_block"]
    sums_ddl = ", ".join(f"{c} INTEGER NOT NULL" for c in _V4_SUMS)
    for table, scope in (("roll_user", "user"), ("roll_team", "team"), ("roll_org", None)):
        scope_def = f"{scope} TEXT NOT NULL, " if scope else ""
        script.append(f"CREATE TABLE {table} ({scope_def}dim INTEGER NOT NULL, bucket INTEGER NOT NULL, "
                      f"key TEXT NOT NULL, {sums_ddl}, PRIMARY KEY ({scope + ', ' if scope else ''}dim, bucket, key)) "
                      "WITHOUT ROWID")
    conn.executescript("; ".join(script) + ";")
    for (table, *keys), sums in acc.items():
        conn.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * (len(keys) + 7))})", (*keys, *sums))
    conn.execute("PRAGMA user_version = 4")
    if close:
        store.close()


def make_schema_3(store: Store, close: bool = True) -> None:
    """Turn `store` into what schema 3 wrote: the records without the columns v4 added."""
    make_schema_4(store, close=False)
    drops = " ".join(f"ALTER TABLE records DROP COLUMN {c};" for c in V4_COLUMNS)
    store.conn.executescript(f"BEGIN; {drops} PRAGMA user_version = 3; COMMIT;")
    if close:
        store.close()


def make_schema_2(store: Store) -> None:
    """Turn `store` into what schema 2 wrote: records in a table keyed by id, WITHOUT ROWID."""
    make_schema_3(store, close=False)
    columns = [row[1] for row in store.conn.execute("PRAGMA table_info(records)")]
    store.conn.executescript(
        "BEGIN; ALTER TABLE records RENAME TO old; "
        f"CREATE TABLE records ({', '.join(c + (' TEXT PRIMARY KEY' if c == 'id' else '') for c in columns)}) "
        "WITHOUT ROWID; INSERT INTO records SELECT * FROM old; DROP TABLE old; PRAGMA user_version = 2; COMMIT;")
    store.close()


# -- the demo store, built once per session ------------------------------------------------------
DEMO_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # Tuesday; Berlin's today is 2026-11-24

# Test-owned prices (USD per million tokens: input, cached input, output) for the snapshot store's
# logged costs, so a new genai-prices release cannot change a snapshot. acme-finetune-v2 keeps no
# cost at all: it stays unpriced, as in the demo.
LOGGED_RATES = {
    "gpt-4o": (2.0, 1.0, 8.0), "gpt-4o-mini": (0.2, 0.1, 0.8), "o3": (2.0, 0.5, 8.0),
    "claude-sonnet-4-5": (3.0, 0.3, 15.0), "claude-3-5-haiku-latest": (0.8, 0.08, 4.0),
    "gemini-2.5-flash": (0.3, 0.075, 2.5), "llama-70b": (0.5, 0.5, 1.0),
}


def logged_cost(record) -> float | None:
    rates = LOGGED_RATES.get(record.model)
    if rates is None:
        return None
    inp, cached, out = rates
    return (record.prompt_tokens * inp + record.cached_input_tokens * cached + record.completion_tokens * out) / 1e6


def _build_demo(path: Path, *, logged_costs: bool) -> Path:
    store = Store(path)
    store.load_directory(demo_directory(login="alice"))
    records = list(generate(events=3000, seed=3, now=DEMO_NOW))
    if logged_costs:
        records = [r if r.cost_usd is not None or logged_cost(r) is None
                   else dataclasses.replace(r, cost_usd=logged_cost(r)) for r in records]
    store.write_batch(records, None)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the .db file alone is the whole store
    store.close()
    return path


def copy_store(template: Path, dest: Path) -> Path:
    shutil.copyfile(template, dest)
    return dest


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """The demo store (3000 events, seed 3, priced as the demo is), built once: copy it, never open it."""
    return _build_demo(tmp_path_factory.mktemp("demo") / "demo.db", logged_costs=False)


@pytest.fixture(scope="session")
def logged_demo_template(tmp_path_factory) -> Path:
    """The same demo store with every priced record carrying a logged cost from LOGGED_RATES."""
    return _build_demo(tmp_path_factory.mktemp("demo-logged") / "demo.db", logged_costs=True)


@pytest.fixture
def demo_db(demo_template, tmp_path, monkeypatch) -> Path:
    """A private copy of the demo store, with the clock pinned to DEMO_NOW."""
    monkeypatch.setenv("USAGE_TUI_NOW", DEMO_NOW.isoformat())
    return copy_store(demo_template, tmp_path / "demo.db")


@pytest.fixture
def logged_demo_db(logged_demo_template, tmp_path, monkeypatch) -> Path:
    """A private copy of the logged-cost demo store, with the clock pinned to DEMO_NOW."""
    monkeypatch.setenv("USAGE_TUI_NOW", DEMO_NOW.isoformat())
    return copy_store(logged_demo_template, tmp_path / "demo.db")


@pytest.fixture(scope="session")
def nobody_libs(tmp_path_factory) -> Path:
    """A copy of usage_tui and what it imports that the OS user nobody can read (tests/os_user.py)."""
    import tempfile

    from .os_user import build_libs, skip_or_fail

    skip_or_fail()  # in CI (USAGE_TUI_TEST_REQUIRE_OS_USER) a failure instead of a skip
    base = Path(tempfile.mkdtemp(prefix="usage-tui-nobody-libs-"))
    yield build_libs(base / "libs")
    shutil.rmtree(base)
