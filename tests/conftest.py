"""Shared fixtures: a small directory and temporary stores."""

from __future__ import annotations

import copy

import pytest

from usage_tui.ingest.native import to_record
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


def make_schema_3(store: Store, close: bool = True) -> None:
    """Turn `store` into what schema 3 wrote: the records without the columns v4 added."""
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
