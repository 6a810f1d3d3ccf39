"""Live refresh without polling the central store: the store's change watch (store/changes.py)
and the TUI following an import made by another connection.

The small store: tests/test_tui.py's records over tests/conftest.py's directory. The org view's
requests (30 days to Tue 2026-11-24) count by hand: r1 1, r2 1, r3 1, r4 3, r6 1, r7 1, r8 1 = 9
(r5 is in September, outside the range). One more record on 2026-11-24 makes 10.
"""

from __future__ import annotations

import time

import pytest

from usage_tui.app import create_app
from usage_tui.ingest.native import to_record
from usage_tui.store import Store
from usage_tui.store.changes import NotifiedChanges, PolledChanges, watch_changes
from usage_tui.view_state import Filters
from usage_tui.widgets.breakdown_table import BreakdownTable

from . import test_postgres_rls as rls
from .conftest import DIRECTORY, pg_schema, require_pg
from .test_tui import NOW, RECORDS, settle

ORG_REQUESTS = 9
HUGE = 3600.0  # a poll interval no test waits for: only a notification can refresh in time
NEW = {"id": "live-1", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "brand-new", "user": "alice"}


@pytest.fixture
def pg_dsn(monkeypatch):
    """A small PostgreSQL store in its own schema (dropped after): its DSN."""
    from usage_tui.store.postgres import PostgresStore

    require_pg()
    monkeypatch.setenv("USAGE_TUI_NOW", NOW.isoformat())
    with pg_schema("live") as (_, dsn):
        store = PostgresStore(dsn)
        store.load_directory(DIRECTORY)
        store.write_batch([to_record(r) for r in RECORDS], None)
        store.close()
        yield dsn


def write_elsewhere(dsn: str, record: dict) -> None:
    """A write by another connection (as another process's import would be)."""
    from usage_tui.store.postgres import PostgresStore

    writer = PostgresStore(dsn)
    writer.write_batch([to_record(record)], None)
    writer.close()


def test_the_watch_wakes_on_a_commit_in_its_store_only(pg_dsn):
    from usage_tui.store.postgres import PostgresStore

    store = PostgresStore(pg_dsn)
    watch = watch_changes(store)
    assert isinstance(watch, NotifiedChanges)
    try:
        assert watch.wait(0.2) is False  # nothing happened
        with pg_schema("other") as (_, other_dsn):  # another store in the same database writes
            other = PostgresStore(other_dsn)
            other.load_directory(DIRECTORY)
            other.close()
            assert watch.wait(0.5) is False
        write_elsewhere(pg_dsn, NEW)
        started = time.monotonic()
        assert watch.wait(HUGE) is True  # returns on the notification, not at the timeout
        assert time.monotonic() - started < 30
        assert watch.wait(0.2) is False  # one commit, one change
    finally:
        watch.close()
        store.close()


def test_wake_ends_a_wait_at_once(pg_dsn):
    import threading

    from usage_tui.store.postgres import PostgresStore

    store = PostgresStore(pg_dsn)
    watch = watch_changes(store)
    threading.Timer(0.2, watch.wake).start()
    started = time.monotonic()
    assert watch.wait(HUGE) is False
    assert time.monotonic() - started < 30
    watch.close()
    store.close()


def test_sqlite_keeps_polling_its_data_version(tmp_path):
    store = Store(tmp_path / "usage.db")
    store.load_directory(DIRECTORY)
    watch = watch_changes(store)
    assert isinstance(watch, PolledChanges)
    assert watch.wait(0.01) is False
    writer = Store(tmp_path / "usage.db")
    writer.write_batch([to_record(NEW)], None)
    writer.close()
    assert watch.wait(0.01) is True
    assert watch.wait(0.01) is False
    watch.close()
    store.close()


async def test_an_import_elsewhere_repaints_the_tui_without_polling(pg_dsn, monkeypatch):
    from usage_tui.store.postgres import PostgresStore

    reads = []
    real = PostgresStore.data_version
    monkeypatch.setattr(PostgresStore, "data_version", lambda self: reads.append(1) or real(self))
    app = create_app(pg_dsn, "alice", poll_interval=HUGE)
    async with app.run_test(size=(80, 24)) as pilot:
        app.request(Filters(scope="org", group_by="model"))
        await settle(pilot)
        assert app.result.totals.requests == ORG_REQUESTS
        assert "brand-new" not in app.query_one(BreakdownTable).keys
        write_elsewhere(pg_dsn, NEW)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (app.result.totals.requests == ORG_REQUESTS + 1 and app.settled):
            await pilot.pause(0.02)
        assert app.result.totals.requests == ORG_REQUESTS + 1
        assert "brand-new" in app.query_one(BreakdownTable).keys
        closing = time.monotonic()
    assert time.monotonic() - closing < 10  # the watching thread was woken, not waited for
    assert reads == []  # nothing read the store's change counter: the notification did it


# -- a notification is a hint (issue 27, failure 8) ----------------------------------------------------
central, raw, RLS_RECORDS = rls.central, rls.raw, rls.RECORDS  # a store with real roles (its fixture)


def forge(dsn: str, schema: str, times: int = 1) -> None:
    """What any role may send: the store's own notification, with a data_version of its choice."""
    import json

    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in range(times):
            conn.execute("SELECT pg_notify('usage_tui_changes', %s)",
                         (json.dumps({"schema": schema, "data_version": 1000 + n}),))


def test_a_forged_notification_is_not_a_change(central):
    """bob, a member, notifies the store's channel with its schema: alice's watch hears it,
    reads the store's data_version, finds it unchanged and keeps waiting; a real commit after
    it is a change, once."""
    from usage_tui.store.postgres import PostgresStore

    owner, dsns, _, _ = central
    schema = raw(owner, "SELECT current_schema()")[0][0]
    store = PostgresStore(dsns["alice"])
    watch = watch_changes(store)
    try:
        forge(dsns["bob"], schema, times=3)
        assert watch.wait(1.0) is False
        write_elsewhere(owner, {**NEW, "ts": "2026-11-23T10:00:00Z"})
        assert watch.wait(HUGE) is True
        forge(dsns["bob"], schema)
        assert watch.wait(1.0) is False
    finally:
        watch.close()
        store.close()


async def test_a_forged_notification_makes_no_tui_query_again(central, monkeypatch):
    """alice's TUI on the central store: bob's forged notifications cost it no query (counted
    at run_query, the one query function), a real import one refresh."""
    from usage_tui import app as app_module

    owner, dsns, _, _ = central
    schema = raw(owner, "SELECT current_schema()")[0][0]
    queries = []
    real = app_module.run_query
    monkeypatch.setattr(app_module, "run_query", lambda *a, **k: queries.append(1) or real(*a, **k))
    app = create_app(dsns["alice"], None, poll_interval=HUGE)
    async with app.run_test(size=(80, 24)) as pilot:
        app.request(Filters(scope="org", group_by="model"))
        await settle(pilot)
        assert app.result.totals.requests == len(RLS_RECORDS)
        settled = len(queries)
        forge(dsns["bob"], schema, times=5)
        await pilot.pause(1.5)
        await settle(pilot)
        assert len(queries) == settled  # no re-query
        write_elsewhere(owner, {**NEW, "ts": "2026-11-23T10:00:00Z"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and app.result.totals.requests != len(RLS_RECORDS) + 1:
            await pilot.pause(0.05)
        assert app.result.totals.requests == len(RLS_RECORDS) + 1
        assert len(queries) > settled
