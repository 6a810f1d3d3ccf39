"""Shared fixtures: a small directory, temporary stores, and the demo stores the TUI tests share."""

from __future__ import annotations

import copy
import dataclasses
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from usage_tui.ingest.native import to_record
from usage_tui.sample import demo_directory, generate
from usage_tui.store import Store

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


def write(store: Store, *dicts: dict):
    """Validate dicts as native records and write them in one batch."""
    return store.write_batch([to_record(d) for d in dicts], None)


V4_COLUMNS = ("cache_write_1h_tokens", "service_tier", "batch", "source_line")


_V4_SUMS = ("requests", "prompt_tokens", "completion_tokens", "cached_input_tokens", "context_tokens",
            "cost_nano", "unpriced_requests")


def make_schema_4(store: Store, close: bool = True) -> None:
    """Turn `store` into what schema 4 wrote: quarter-hour rollups per scope (written here from
    the records, in Python), no team hour table, no time indexes."""
    from collections import defaultdict

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
    script = ["DROP INDEX records_user_ts", "DROP INDEX records_team_ts", "DROP TABLE roll_team_hour",
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

    from .os_user import build_libs, why_not

    if (why := why_not()) is not None:
        pytest.skip(f"second-OS-user test: {why}")
    base = Path(tempfile.mkdtemp(prefix="usage-tui-nobody-libs-"))
    yield build_libs(base / "libs")
    shutil.rmtree(base)
