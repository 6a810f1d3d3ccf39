"""The central PostgreSQL store (issue 17): the same answers as SQLite view by view on random
records, exact results under concurrent imports, the write path's change signals, and one
clear line for every way a server can be unusable. Skipped without USAGE_TUI_TEST_PG."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_tui.cli import cli
from usage_tui.model import GROUPINGS, QuerySpec
from usage_tui.query import run_history, run_query
from usage_tui.store import Store, StoreError
from usage_tui.store import sqlite as sqlite_store

from .conftest import DIRECTORY, pg_schema, require_pg, write
from .test_query import D, batches_of_records
from .test_store import fresh_rollups, stored_rollups


@pytest.fixture
def pg():
    """A PostgreSQL store with the small directory, in its own schema."""
    from usage_tui.store.postgres import PostgresStore

    require_pg()
    with pg_schema() as (_, dsn):
        store = PostgresStore(dsn)
        store.load_directory(DIRECTORY)
        yield store
        store.close()


def records_of(store) -> dict:
    """Every record, every column, with its source named by path (source ids are per store)."""
    cur = store.execute("SELECT r.*, s.format, s.path FROM records r LEFT JOIN sources s ON s.id = r.source_id")
    names = [c[0] for c in cur.description]
    return {row[0]: {n: v for n, v in zip(names, row, strict=True) if n != "source_id"} for row in cur}


def rollup_rows(store) -> dict:
    """Every row of every rollup table, emptied slices included."""
    from usage_tui.store import ROLLUP_TABLES

    return {t: sorted(tuple(r) for r in store.execute(f"SELECT * FROM {t}")) for t in ROLLUP_TABLES}


# -- the two engines, view by view ---------------------------------------------------------------
VIEWERS = [("alice", "personal", None), ("bob", "personal", None), ("dave", "personal", None),
           ("alice", "team", "platform"), ("alice", "team", "research"), ("alice", "org", None)]
# A daylight-saving change inside the records' range (Berlin, 2026-10-25) and a half-hour offset.
ZONES = ["Europe/Berlin", "Asia/Kolkata"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches_of_records(), since=st.dates(D("2026-10-18"), D("2026-10-28")), days=st.integers(0, 14),
       reload_between=st.booleans())
def test_both_engines_answer_every_view_alike(tmp_path_factory, pg, batches, since, days, reload_between):
    lite = Store(tmp_path_factory.mktemp("lite") / "s.db")
    lite.load_directory(DIRECTORY)
    pg.clear_records()
    pg.load_directory(DIRECTORY)
    for i, part in enumerate(batches):
        assert vars(write(lite, *part)) == vars(write(pg, *part))  # imported / replaced / unchanged
        if reload_between and i == 0:  # re-attribution moves bob's key to alice on both
            doc = json.loads(json.dumps(DIRECTORY))
            doc["keys"][0]["owner"] = "alice"
            lite.load_directory(doc)
            pg.load_directory(doc)
    assert records_of(pg) == records_of(lite)
    assert stored_rollups(pg) == stored_rollups(lite) == fresh_rollups(lite)
    until = since + timedelta(days=days)
    for viewer, scope, team in VIEWERS:
        for tz in ZONES:
            for group_by in GROUPINGS:
                for granularity in ("daily", "weekly"):
                    spec = QuerySpec(viewer, scope=scope, team=team, group_by=group_by, granularity=granularity,
                                     since=since, until=until, tz=tz)
                    assert run_query(pg, spec).as_json() == run_query(lite, spec).as_json(), spec
            spec = QuerySpec(viewer, scope=scope, team=team, since=since, until=until, tz=tz)
            for search in (None, "A", "é"):
                for order in ("time", "cost"):
                    assert run_history(pg, spec, order=order, search=search, limit=7) == \
                        run_history(lite, spec, order=order, search=search, limit=7)
    lite.close()


def test_the_history_search_lowers_ascii_letters_only_on_both_engines(tmp_path, pg):
    # SQLite's lower() folds A-Z only: a search for "é" does not find "É". PostgreSQL's lower()
    # would; the store's dialect keeps SQLite's meaning so that both return the same records.
    lite = Store(tmp_path / "s.db")
    lite.load_directory(DIRECTORY)
    rows = [{"id": "CAFÉ-1", "ts": "2026-11-02T09:00:00Z", "provider": "p", "model": "m", "user": "alice"},
            {"id": "café-2", "ts": "2026-11-02T10:00:00Z", "provider": "p", "model": "m", "user": "alice"}]
    spec = QuerySpec("alice", since=D("2026-11-02"), until=D("2026-11-02"), tz="UTC")
    for store in (lite, pg):
        write(store, *rows)
        assert [r.id for r in run_history(store, spec, search="é").records] == ["café-2"]
        assert [r.id for r in run_history(store, spec, search="CAF").records] == ["café-2", "CAFÉ-1"]


def test_ids_are_ordered_bytewise_as_in_sqlite(pg):
    # The records' text is in the "C" collation: ties on time are broken by id in byte order,
    # whatever the database's locale (en_US would put "a" before "B").
    rows = [{"id": rid, "ts": "2026-11-02T09:00:00Z", "provider": "p", "model": "m", "user": "alice"}
            for rid in ("a", "B", "_", "Z")]
    write(pg, *rows)
    spec = QuerySpec("alice", since=D("2026-11-02"), until=D("2026-11-02"), tz="UTC")
    assert [r.id for r in run_history(pg, spec).records] == ["a", "_", "Z", "B"]  # descending bytes


# -- concurrency -----------------------------------------------------------------------------------
IMPORTER = textwrap.dedent("""
    import sys, time
    from usage_tui.ingest import import_path
    from usage_tui.store.postgres import PostgresStore
    dsn, path, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    store = PostgresStore(dsn)
    time.sleep(max(0.0, start - time.time()))  # both start together
    print(import_path(store, path, batch_size=200).line())
""")


def _records(ids, seed: int) -> list[str]:
    return [json.dumps({"id": f"c{i}", "ts": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                        "provider": "p", "model": f"m{i % 5}", "user": ["alice", "bob", "carol"][i % 3],
                        "key": "k_team" if i % 7 == 0 else None, "prompt_tokens": i % 1000,
                        "cost_usd": (i * seed % 97) / 100}) + "\n" for i in ids]


def test_two_processes_importing_overlapping_files_equal_one_sequential_import(tmp_path):
    from usage_tui.ingest import import_path
    from usage_tui.store.postgres import PostgresStore

    require_pg()
    # The overlap comes first in both files, so both processes write the same ids at the same time.
    overlap, only_a, only_b = range(0, 3000), range(3000, 4500), range(4500, 6000)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(_records([*overlap, *only_a], 3)))
    b.write_text("".join(_records([*overlap, *only_b], 3)))
    with pg_schema("conc") as (_, concurrent_dsn), pg_schema("seq") as (_, sequential_dsn):
        concurrent, sequential = PostgresStore(concurrent_dsn), PostgresStore(sequential_dsn)
        for store in (concurrent, sequential):
            store.load_directory(DIRECTORY)
        start = time.time() + 2
        procs = [subprocess.Popen([sys.executable, "-c", IMPORTER, concurrent_dsn, str(path), str(start)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for path in (a, b)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        lines = sorted(out for out, _ in outs)
        # Between them every overlapping record was imported once and found unchanged once.
        counts = [[int(w) for w in line.replace(",", "").split() if w.isdigit()] for line in lines]
        assert [sum(c[i] for c in counts) for i in range(4)] == [6000, 0, 3000, 0]
        for path in (a, b):
            import_path(sequential, str(path), batch_size=200)
        assert concurrent.record_count() == sequential.record_count() == 6000
        # Equal but for where each overlapping record was read from: whichever process stored it
        # first (the later one found it unchanged), as a sequential import in that order would.
        got, expected = records_of(concurrent), records_of(sequential)
        where = ("format", "path", "source_line")
        assert {rid: {k: v for k, v in r.items() if k not in where} for rid, r in got.items()} == \
            {rid: {k: v for k, v in r.items() if k not in where} for rid, r in expected.items()}
        lines = {str(a): {f"c{i}": n for n, i in enumerate([*overlap, *only_a], 1)},
                 str(b): {f"c{i}": n for n, i in enumerate([*overlap, *only_b], 1)}}
        assert all(lines[r["path"]][rid] == r["source_line"] for rid, r in got.items())
        assert rollup_rows(concurrent) == rollup_rows(sequential)
        assert stored_rollups(concurrent) == fresh_rollups(concurrent)
        concurrent.close()
        sequential.close()


# -- what a write tells others ---------------------------------------------------------------------
def ours(listener, store, timeout: float) -> list[int]:
    """The data versions notified for `store` within `timeout` (the channel is the database's:
    other stores, other tests, notify on it too)."""
    schema = store.execute("SELECT current_schema()").fetchone()[0]
    found, deadline = [], time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        for note in listener.notifies(timeout=left, stop_after=1):
            payload = json.loads(note.payload)
            if payload["schema"] == schema:
                found.append(payload["data_version"])
                return found
    return found


def test_every_write_bumps_the_data_version_and_notifies_at_commit(pg):
    from usage_tui.store.postgres import NOTIFY_CHANNEL

    listener = psycopg.connect(pg.dsn, autocommit=True)
    listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
    before = pg.data_version()
    write(pg, {"id": "n1", "ts": "2026-11-02T09:00:00Z", "provider": "p", "model": "m", "user": "alice"})
    after = pg.data_version()
    assert after[1] == before[1] + 1
    assert ours(listener, pg, 5) == [after[1]]
    pg.set_budget_override("bob", 1.0, "daily", "alice", "now")  # any write, not only imports
    assert pg.data_version()[1] == after[1] + 1
    assert ours(listener, pg, 5) == [after[1] + 1]
    listener.close()


def at(i: int, cost: float) -> dict:
    return {"id": f"m{i}", "ts": f"2026-11-{1 + i % 28:02d}T10:00:00Z", "provider": "openai",
            "model": "gpt-4o", "user": "alice", "cost_usd": cost}


def test_totals_past_64_bits_are_refused_as_on_sqlite_and_a_refused_write_tells_nobody(tmp_path, pg):
    """As tests/test_bad_input.py on SQLite: 9,223 records at $1,000,000 and one of
    $372,036.854775807 are exactly 2**63 - 1 nano-dollars, one nano-dollar more is refused with
    the same message, and nothing of it is written, counted or announced."""
    from usage_tui.store.postgres import NOTIFY_CHANNEL

    lite = Store(tmp_path / "s.db")
    lite.load_directory(DIRECTORY)
    messages = []
    for store in (lite, pg):
        write(store, *[at(i, 1e6) for i in range(9_223)], at(9_223, 372_036.854775807))
        assert store.totals()["cost_nano"] == 2**63 - 1
        version = store.data_version()
        if store is pg:
            listener = psycopg.connect(pg.dsn, autocommit=True)
            listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with pytest.raises(StoreError) as refused:
            write(store, at(9_224, 1e-9))
        messages.append(str(refused.value))
        assert store.record_count() == 9_224 and store.totals()["cost_nano"] == 2**63 - 1
        assert stored_rollups(store) == fresh_rollups(store)
        if store is pg:
            assert store.data_version() == version
            assert ours(listener, store, 0.5) == []
            listener.close()
    assert messages[0] == messages[1]
    assert messages[0].startswith("this batch would take the store's total cost past what it can add up exactly")


# -- one line for an unusable server ----------------------------------------------------------------
def run(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("dsn, words", [
    ("postgresql://nobody@127.0.0.1:1/test", "cannot use the PostgreSQL server: connection failed"),
    ("postgresql://127.0.0.1/test?bogus=1", 'invalid URI query parameter: "bogus"'),
])
def test_an_unusable_server_is_one_line_exit_2(dsn, words):
    result = run("spend", "summary", "--db", dsn)
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("usage-tui: error: ") and words in result.output


def test_a_password_is_never_printed():
    result = run("spend", "summary", "--db", "postgresql://someone:s3cret@127.0.0.1:1/test")
    assert result.exit_code == 2 and "s3cret" not in result.output and "someone:***@" in result.output


def test_a_database_without_a_store_says_how_to_create_one():
    from usage_tui.store import SCHEMA_VERSION

    require_pg()
    with pg_schema("empty") as (_, dsn):
        result = run("spend", "summary", "--db", dsn)
        assert result.exit_code == 2 and "no usage store" in result.output and "store init" in result.output
        assert run("store", "init", "--db", dsn).output == f"Created {dsn} (schema {SCHEMA_VERSION}).\n"
        assert run("store", "init", "--db", dsn).output == f"Store is current: {dsn} (schema {SCHEMA_VERSION}).\n"


def test_usage_tui_db_names_the_server(pg, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_DB", pg.dsn)
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    write(pg, {"id": "e1", "ts": "2026-11-23T09:00:00Z", "provider": "p", "model": "m", "user": "bob",
               "cost_usd": 11.0})
    result = run("budget", "check", "bob")
    assert (result.exit_code, result.output.splitlines()[0]) == (75, "429 Too Many Requests")


def test_a_writer_waits_for_another_as_long_as_sqlite_would_then_says_so(pg, monkeypatch, tmp_path):
    from usage_tui.store.postgres import WRITE_LOCK

    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 200)  # read when the store opens
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "n1", "ts": "2026-11-22T10:00:00Z", "provider": "p", "model": "m"}\n')
    other = psycopg.connect(pg.dsn)
    assert other.execute(WRITE_LOCK).fetchone() == (1,)  # a writer, mid-write (the owner's role)
    try:
        result = run("import", str(good), "--db", pg.dsn)
    finally:
        other.rollback()
        other.close()
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("usage-tui: error: the store is busy: another process has been writing "
                                    "to it for over 200 ms")
    assert run("import", str(good), "--db", pg.dsn).exit_code == 0


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_nul_character_in_a_name_is_a_bad_line_on_both_engines(engine, new_store, tmp_path):
    # JSON's \u0000 decodes to a NUL, which PostgreSQL's text cannot hold: a reject on both
    # engines, the good line imported, rather than a failed batch on one of them.
    store = new_store()
    path = tmp_path / "nul.jsonl"
    path.write_text('{"id": "z1", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "a\\u0000b"}\n'
                    '{"id": "z2", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "ok"}\n')
    result = run("import", str(path), "--db", getattr(store, "dsn", None) or str(store.path))
    assert result.exit_code == 1
    assert result.stderr == f"{path}:1: NUL character in `model` (not text)\n"
    assert [r for (r,) in store.execute("SELECT id FROM records")] == ["z2"]


def test_every_schema_version_reaches_the_current_one_on_postgresql():
    # schema.py's SCHEMA_VERSION is both engines': a new version there needs its PostgreSQL
    # migration here too, else a central store at the old version could not be opened.
    from usage_tui.store import SCHEMA_VERSION
    from usage_tui.store.schema import PG_MIGRATIONS as MIGRATIONS

    targets = {target for target, _ in MIGRATIONS.values()}
    assert SCHEMA_VERSION in targets and max(targets) == SCHEMA_VERSION
    assert all(t in MIGRATIONS for t in targets if t < SCHEMA_VERSION)


def test_libpq_variables_fill_in_what_the_dsn_leaves_out(monkeypatch):
    # PGOPTIONS names the schema here, as PGHOST, PGUSER, PGDATABASE… may name the rest.
    from usage_tui.store import open_store
    from usage_tui.store.postgres import PostgresStore

    base = require_pg()
    with pg_schema("env") as (schema, dsn):
        PostgresStore(dsn).set_meta("marker", schema)
        monkeypatch.setenv("PGOPTIONS", f"-csearch_path={schema}")
        assert open_store(base, create=False).get_meta("marker") == schema
