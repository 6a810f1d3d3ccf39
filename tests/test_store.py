"""Store: schema and migrations, replacement by id, re-attribution, rollups consistent with records."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_tui.directory import parse_directory
from usage_tui.ingest import BATCH_SIZE
from usage_tui.ingest.native import to_record
from usage_tui.model import GROUPINGS, QuerySpec
from usage_tui.query import run_query
from usage_tui.store import (
    SCHEMA_VERSION,
    STAGE_ROWS,
    Batch,
    BatchResult,
    Store,
    StoreError,
    schema,
    wait_words,
)
from usage_tui.store import sqlite as store_module
from usage_tui.store.schema import RECORDS, id_hash

from .conftest import (
    DIRECTORY,
    V4_COLUMNS,
    append,
    make_schema_2,
    make_schema_3,
    make_schema_4,
    make_schema_8,
    write,
)

BASE = {"ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-x-unpriced"}


# The records' columns through schema 8 (schema 9 adds id_hash at the end): what a migration keeps.
V8_COLUMNS = ", ".join(f'"{c.name}"' for c in RECORDS.columns if c.name != "id_hash")


def fresh_rollups(conn) -> dict:
    """Aggregate the records table from scratch, in Python, the way the rollups should be:
    every scope by UTC day, the teams also by UTC hour, the org also by quarter-hour."""
    out: dict = defaultdict(lambda: [0] * 7)
    cols = ("provider", "model", "user", "team", "agent", "key", "verdict")
    for row in conn.execute(
            'SELECT ts_us, provider, model, "user", team, agent, key, verdict, requests, prompt_tokens, '
            "completion_tokens, cached_input_tokens, context_tokens, cost_nano FROM records"):
        ts_us, *dims = row[:8]
        req, p, c, cached, ctx, cost = row[8:]
        values = dict(zip(cols, dims, strict=True))
        sums = (req, p, c, cached, ctx, cost or 0, req if cost is None else 0)
        for level, bucket in (("_quarter", ts_us // 900_000_000), ("_hour", ts_us // 3_600_000_000),
                              ("_day", ts_us // 86_400_000_000), ("_block", ts_us // (32 * 86_400_000_000))):
            for dim_index, g in enumerate((*GROUPINGS, "total")):
                key = values.get(g) or ""  # the total pseudo-grouping has the one key ''
                for target in (("user", values["user"] or ""), ("team", values["team"] or ""), ("org",)):
                    if level not in ("_day", "_block") and (target[0], level) not in (("team", "_hour"),
                                                                                     ("org", "_quarter")):
                        continue  # personal views read a user's records for partial days
                    acc = out[(level, *target, dim_index, bucket, key)]
                    for i, v in enumerate(sums):
                        acc[i] += v
    return {k: v for k, v in out.items() if v[0]}


def stored_rollups(conn) -> dict:
    """Every non-empty rollup row; `conn` is a store (either engine) or an SQLite connection."""
    out = {}
    sums = "requests, prompt_tokens, completion_tokens, cached_input_tokens, context_tokens, cost_nano, unpriced_requests"
    for table, prefix, level in (("roll_user", "user", "_day"), ("roll_team", "team", "_day"),
                                 ("roll_team", "team", "_hour"), ("roll_user", "user", "_block"),
                                 ("roll_team", "team", "_block")):
        for row in conn.execute(f'SELECT "{prefix}", dim, bucket, key, {sums} FROM {table}{level} '
                                "WHERE requests != 0"):
            out[(level, prefix, row[0], *row[1:4])] = list(row[4:])
    for level in ("_quarter", "_day", "_block"):
        for row in conn.execute(f"SELECT dim, bucket, key, {sums} FROM roll_org{level} WHERE requests != 0"):
            out[(level, "org", *row[:3])] = list(row[3:])
    return out


def test_new_store_has_schema_version_and_wal(tmp_path):
    s = Store(tmp_path / "a.db")
    assert s.schema_version() == SCHEMA_VERSION
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"records", "rejects", "roll_user_day", "roll_team_hour", "roll_team_day", "roll_org_quarter",
            "roll_org_day", "dir_users", "budget_overrides"} <= tables
    assert not {"roll_user", "roll_team", "roll_org"} & tables  # schema 4's quarter-hours


def test_migrates_an_empty_version_zero_file(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # an empty SQLite file: schema version 0
    assert Store(path).schema_version() == SCHEMA_VERSION


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer usage-tui"):
        Store(path)


def test_corrupt_file_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a usable usage store"):
        Store(path)


def test_missing_store_without_create(tmp_path):
    with pytest.raises(StoreError, match="no usage store"):
        Store(tmp_path / "none.db", create=False)


@pytest.fixture
def store(engine_store):
    """The tests here that take `store` run on SQLite and on PostgreSQL, with the same answers;
    the others are about SQLite files (migrations, WAL, locks) and open their own."""
    return engine_store


def test_same_id_identical_is_unchanged_and_different_replaces(store):
    rec = {**BASE, "id": "r1", "user": "bob", "prompt_tokens": 10, "cost_usd": 0.5}
    assert vars(write(store, rec)) == {"imported": 1, "replaced": 0, "unchanged": 0}
    assert vars(write(store, rec)) == {"imported": 0, "replaced": 0, "unchanged": 1}
    changed = {**rec, "prompt_tokens": 20, "cost_usd": 0.25}
    assert vars(write(store, changed)) == {"imported": 0, "replaced": 1, "unchanged": 0}
    assert store.record_count() == 1
    # the rollups hold the new values only: 20 tokens and $0.25 = 250,000,000 nano-dollars
    assert store.execute("SELECT SUM(prompt_tokens), SUM(cost_nano) FROM roll_org_quarter WHERE dim = 0").fetchone() \
        == (20, 250_000_000)


def test_same_id_twice_in_one_batch_last_wins(store):
    # The counts are of records (issue 12): three lines of one id are one imported record.
    a = {**BASE, "id": "dup", "prompt_tokens": 1}
    b = {**BASE, "id": "dup", "prompt_tokens": 2}
    assert vars(write(store, a, b, b)) == {"imported": 1, "replaced": 0, "unchanged": 0}
    assert store.execute("SELECT prompt_tokens FROM records").fetchall() == [(2,)]


def test_unknown_fields_are_kept_as_metadata(store):
    write(store, {**BASE, "id": "m", "route": "/v1/chat", "trace": {"span": 3}})
    meta = store.execute("SELECT metadata FROM records").fetchone()[0]
    assert json.loads(meta) == {"route": "/v1/chat", "trace": {"span": 3}}


def test_reloading_the_directory_reattributes_records_and_rollups(store, directory_doc):
    write(store, {**BASE, "id": "x", "key": "k_orphan", "cost_usd": 1.0})
    assert store.execute('SELECT "user", team FROM records').fetchone() == (None, "platform")
    directory_doc["keys"][2]["owner"] = "alice"
    directory_doc["keys"][2].pop("team")
    store.load_directory(directory_doc)
    # now owned by alice, and her primary team applies
    assert store.execute('SELECT "user", team FROM records').fetchone() == ("alice", "platform")
    assert store.execute('SELECT "user" FROM roll_user_day WHERE requests > 0').fetchall() == [("alice",)] * 8
    assert stored_rollups(store) == fresh_rollups(store)


def test_directory_price_change_reprices_unlogged_records_only(store, directory_doc):
    write(store, {**BASE, "id": "p", "provider": "internal", "model": "llama", "prompt_tokens": 1_000_000},
          {**BASE, "id": "q", "provider": "internal", "model": "llama", "prompt_tokens": 1_000_000,
           "cost_usd": 9.0})
    costs = dict(store.execute("SELECT id, cost_nano FROM records"))
    assert costs == {"p": 2_000_000_000, "q": 9_000_000_000}  # 1M tokens × $2/Mtok; logged $9 wins
    directory_doc["prices"][0]["input_per_mtok"] = 3.0
    store.load_directory(directory_doc)
    costs = dict(store.execute("SELECT id, cost_nano FROM records"))
    assert costs == {"p": 3_000_000_000, "q": 9_000_000_000}
    assert store.execute("SELECT SUM(cost_nano) FROM roll_org_day WHERE dim = 1").fetchone()[0] == 12_000_000_000


def test_budget_override_survives_reload_unless_directory_names_it(store, directory_doc):
    store.set_budget_override("dave", 5.0, "daily", "alice", "2026-11-25T00:00:00Z")
    store.set_budget_override("bob", 99.0, "monthly", "alice", "2026-11-25T00:00:00Z")
    store.load_directory(directory_doc)  # names bob's budget, not dave's
    assert store.budget_overrides() == {"dave": (5.0, "daily")}


record_strategy = st.fixed_dictionaries(
    {
        "id": st.sampled_from([f"r{i}" for i in range(12)]),
        "ts": st.sampled_from(["2026-10-24T22:10:00Z", "2026-10-25T00:59:59Z", "2026-10-25T23:00:00Z",
                               "2026-11-01T12:00:00+05:30", "2026-11-03T08:00:00"]),
        "provider": st.sampled_from(["internal", "acme"]),
        "model": st.sampled_from(["llama", "mystery"]),
    },
    optional={
        "user": st.sampled_from(["alice", "bob", "zed"]),
        "key": st.sampled_from(["k_bob", "k_team", "k_orphan", "k_unknown"]),
        "agent": st.sampled_from(["bot", "stray"]),
        "team": st.sampled_from(["platform", "research", "other"]),
        "verdict": st.sampled_from(["allow", "block"]),
        "prompt_tokens": st.integers(0, 5000),
        "completion_tokens": st.integers(0, 5000),
        "cached_input_tokens": st.integers(0, 5000),
        "requests": st.integers(1, 5),
        "cost_usd": st.sampled_from([0.0, 0.01, 1.25, 3.5]),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(record_strategy, max_size=8), min_size=1, max_size=4),
       reload_between=st.booleans())
def test_rollups_equal_a_fresh_aggregation(emptied_store, batches, reload_between):
    store = emptied_store()
    store.load_directory(DIRECTORY)
    for i, batch in enumerate(batches):
        write(store, *batch)
        if reload_between and i == 0:
            doc = json.loads(json.dumps(DIRECTORY))
            doc["keys"][0]["owner"] = "alice"  # re-attribution moves bob's key to alice
            store.load_directory(doc)
    assert stored_rollups(store) == fresh_rollups(store)
    store.close()


# Many identities, several years, any order (issue 15's realistic shape, small): ids from a
# pool so that later batches replace earlier records.
many_record_strategy = st.fixed_dictionaries(
    {
        "id": st.integers(0, 80).map(lambda i: f"r{i}"),
        "ts": st.integers(0, 3 * 365 * 86_400 - 1).map(
            lambda s: f"2024-{1 + s // (31 * 86_400) % 12:02d}-01T00:00:00Z" if s % 7 == 0 else
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + s))),
        "provider": st.sampled_from(["openai", "internal", "acme"]),
        "model": st.sampled_from(["llama", "gpt-x-unpriced", *(f"m{i}" for i in range(10))]),
    },
    optional={
        "user": st.sampled_from(["alice", "bob", "carol", *(f"u{i}" for i in range(30))]),
        "key": st.sampled_from(["k_bob", "k_team", "k_orphan", *(f"k{i}" for i in range(10))]),
        "agent": st.sampled_from(["bot", "stray", "a3"]),
        "team": st.sampled_from(["platform", "research", "t3", "t4"]),
        "verdict": st.sampled_from(["allow", "block", "redact"]),
        "prompt_tokens": st.integers(0, 5000),
        "requests": st.integers(1, 5),
        "cost_usd": st.sampled_from([0.0, 0.01, 1.25]),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(many_record_strategy, min_size=1, max_size=60), data=st.data())
def test_rollups_equal_a_fresh_aggregation_on_shuffled_many_identity_years(emptied_store, records, data):
    store = emptied_store()
    store.load_directory(DIRECTORY)
    shuffled = data.draw(st.permutations(records))
    size = data.draw(st.integers(1, 20))
    # Batches from `deferred` on are appended as an import writes them (rolled up at its end),
    # replacing records rolled up before and records still pending alike.
    deferred = data.draw(st.integers(0, len(shuffled)))
    for i in range(0, len(shuffled), size):
        (append if i >= deferred else write)(store, *shuffled[i:i + size])
    store.refresh_rollups()
    assert store.pending_rollups() is None
    assert stored_rollups(store) == fresh_rollups(store)
    store.close()


def test_kill_9_during_import_leaves_a_consistent_store(tmp_path):
    data = tmp_path / "big.jsonl"
    with data.open("w") as f:
        for i in range(300_000):
            f.write(json.dumps({**BASE, "id": f"k{i}", "ts": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                                "user": ["alice", "bob"][i % 2], "prompt_tokens": i % 100}) + "\n")
    db = tmp_path / "k.db"
    Store(db).load_directory(DIRECTORY)
    proc = subprocess.Popen([sys.executable, "-m", "usage_tui", "import", str(data), "--db", str(db)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = Store(db, readonly=True)
    deadline = time.monotonic() + 120
    while watcher.record_count() == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    watcher.close()
    after = Store(db)
    count = after.record_count()
    assert 0 < count < 300_000, "killed between batches: some but not all records committed"
    assert count % BATCH_SIZE == 0, "only whole batches are committed"
    assert after.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # The import was killed before rolling its batches up: the views read them from the records
    # and answer exactly what the records say, until the next import rolls them up.
    assert after.pending_rollups() is not None
    rows = after.conn.execute('SELECT "user", count(*) FROM records GROUP BY 1 ORDER BY 2 DESC, 1').fetchall()
    assert [u for u, _ in rows] in (["alice", "bob"], ["bob", "alice"]) and sum(n for _, n in rows) == count
    spec = QuerySpec(viewer="alice", scope="org", group_by="user", since=date(2026, 11, 1),
                     until=date(2026, 11, 30), tz="Asia/Kathmandu")
    assert [(r.key, r.totals.requests) for r in run_query(after, spec).rows] == rows
    assert run_query(after, spec).as_json() == run_query(after, spec, force_records=True).as_json()
    above = after.conn.execute("SELECT count(*) FROM records WHERE rowid > ?",
                                (after.pending_rollups(),)).fetchone()[0]
    assert above > 0
    before = stored_rollups(after.conn)
    assert after.refresh_rollups() == above
    assert before != stored_rollups(after.conn) == fresh_rollups(after.conn)
    assert after.pending_rollups() is None


def test_streamed_duplicates_reimported_change_nothing(store):
    v1 = {**BASE, "id": "s", "completion_tokens": 1}
    v2 = {**BASE, "id": "s", "completion_tokens": 250}
    assert vars(write(store, v1, v2, v2)) == {"imported": 1, "replaced": 0, "unchanged": 0}
    assert vars(write(store, v1, v2, v2)) == {"imported": 0, "replaced": 0, "unchanged": 1}
    # A changed final version replaces the one record; a changed earlier line alone changes nothing.
    v3 = {**BASE, "id": "s", "completion_tokens": 300}
    assert vars(write(store, v1, v3)) == {"imported": 0, "replaced": 1, "unchanged": 0}
    assert vars(write(store, v2, v3)) == {"imported": 0, "replaced": 0, "unchanged": 1}


def make_version_1_store(path):
    """A store as version 1 wrote it, holding alice's $1 and a record of bob's key: no day
    tables, no totals pseudo-grouping."""
    s = Store(path)
    s.load_directory(DIRECTORY)
    write(s, {**BASE, "id": "a", "user": "alice", "cost_usd": 1.0}, {**BASE, "id": "b", "key": "k_bob"})
    make_schema_4(s, close=False)
    for table in ("roll_user", "roll_team", "roll_org"):
        s.conn.execute(f"DROP TABLE {table}_day")
        s.conn.execute(f"DELETE FROM {table} WHERE dim = 7")
    s.conn.execute("PRAGMA user_version = 1")
    s.close()


def test_migrating_a_version_1_store_rebuilds_the_rollups(tmp_path):
    path = tmp_path / "v1.db"
    make_version_1_store(path)
    migrated = Store(path)
    assert migrated.schema_version() == SCHEMA_VERSION
    assert stored_rollups(migrated.conn) == fresh_rollups(migrated.conn)


def test_migrating_a_version_2_store_moves_the_records_to_a_rowid_table(tmp_path):
    path = tmp_path / "v2.db"
    s = Store(path)
    s.load_directory(DIRECTORY)
    write(s, {**BASE, "id": "a", "user": "alice", "cost_usd": 1.0}, {**BASE, "id": "b", "key": "k_bob"},
          {**BASE, "id": "c", "ts": "2026-11-19T23:59:59Z", "agent": "bot"})
    before = s.conn.execute("SELECT * FROM records ORDER BY id").fetchall()
    make_schema_2(s)
    told: list[str] = []
    migrated = Store(path, on_upgrade=told.append)
    assert told == [f"upgrading {path} from schema 2 to {SCHEMA_VERSION} (once; about 30 s per million records)"]
    assert migrated.schema_version() == SCHEMA_VERSION
    sql = migrated.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'records'").fetchone()[0]
    # (schema 9: the id unique through the index of its hash, not a UNIQUE text index)
    assert "WITHOUT ROWID" not in sql and "id TEXT NOT NULL," in sql and "id_hash INTEGER NOT NULL" in sql
    assert migrated.conn.execute("SELECT * FROM records ORDER BY id").fetchall() == before
    # The index keeps ids unique: a changed record replaces the stored one.
    assert vars(write(migrated, {**BASE, "id": "b", "key": "k_bob", "prompt_tokens": 7})) == {
        "imported": 0, "replaced": 1, "unchanged": 0}
    assert migrated.record_count() == 3
    assert stored_rollups(migrated.conn) == fresh_rollups(migrated.conn)
    # Opening it again upgrades nothing.
    Store(path, on_upgrade=told.append)
    assert len(told) == 1


def test_migrating_a_version_3_store_adds_the_billing_and_source_line_columns_in_place(tmp_path):
    path = tmp_path / "v3.db"
    s = Store(path)
    s.load_directory(DIRECTORY)
    write(s, {**BASE, "id": "a", "user": "alice", "cost_usd": 1.0}, {**BASE, "id": "b", "key": "k_bob"},
          {**BASE, "model": "gpt-4o", "id": "c", "agent": "bot", "prompt_tokens": 1000})
    make_schema_3(s)
    v3 = sqlite3.connect(path)
    v3_columns = [row[1] for row in v3.execute("PRAGMA table_info(records)")]
    assert not set(V4_COLUMNS) & set(v3_columns)
    before = v3.execute("SELECT * FROM records ORDER BY id").fetchall()
    rowids = v3.execute("SELECT id, rowid FROM records ORDER BY id").fetchall()
    v3.close()
    told: list[str] = []
    migrated = Store(path, on_upgrade=told.append)
    assert told == [f"upgrading {path} from schema 3 to {SCHEMA_VERSION} (once; about 20 s per million records)"]
    assert migrated.schema_version() == SCHEMA_VERSION
    columns = [row[1] for row in migrated.conn.execute("PRAGMA table_info(records)")]
    assert columns == [*v3_columns, *V4_COLUMNS, "id_hash"]  # (schema 9 adds id_hash)
    # Every old value is where it was (no copy: same rowids); the new columns hold what the
    # records were priced as: no 1-hour cache writes, the standard tier, no batch, line unknown.
    after = migrated.conn.execute(f"SELECT {V8_COLUMNS} FROM records ORDER BY id").fetchall()
    assert [row[:len(v3_columns)] for row in after] == before
    assert {row[len(v3_columns):] for row in after} == {(0, None, 0, None)}
    assert migrated.conn.execute("SELECT id, rowid FROM records ORDER BY id").fetchall() == rowids
    assert stored_rollups(migrated.conn) == fresh_rollups(migrated.conn)
    # The new columns take writes.
    rec = to_record({**BASE, "id": "d", "user": "alice", "cost_usd": 0.5})
    rec.service_tier, rec.batch, rec.source_line = "flex", True, 7
    migrated.write_batch([rec], None)
    assert migrated.conn.execute("SELECT service_tier, batch, source_line FROM records WHERE id = 'd'") \
        .fetchone() == ("flex", 1, 7)


def test_a_failed_version_4_migration_leaves_the_version_3_store_whole(tmp_path):
    # One transaction: a v3 store that somehow has a `batch` column already makes the third
    # ALTER fail; the first two are rolled back with it and the store stays at version 3.
    path = tmp_path / "v3.db"
    s = Store(path)
    write(s, {**BASE, "id": "a", "cost_usd": 1.0})
    make_schema_3(s, close=False)
    s.conn.execute("ALTER TABLE records ADD COLUMN batch TEXT")
    s.close()
    with pytest.raises(StoreError, match="could not upgrade the store from schema 3 .*duplicate column name: batch"):
        Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
    assert "cache_write_1h_tokens" not in columns and "service_tier" not in columns
    assert conn.execute("SELECT id FROM records").fetchall() == [("a",)]
    conn.close()


def test_a_batch_larger_than_one_stage_insert_is_written_whole(store):
    # STAGE_ROWS rows go into the stage per INSERT: 2 * STAGE_ROWS + 1 records need three, and
    # the id repeated across two of them is one record (counted once), its later version kept.
    n = 2 * STAGE_ROWS + 1
    dicts = [{**BASE, "id": f"r{i}", "ts": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
              "user": f"u{i % 7}", "prompt_tokens": i} for i in range(n)]
    dicts.append({**dicts[3], "prompt_tokens": 1_000_000})
    assert vars(write(store, *dicts)) == {"imported": n, "replaced": 0, "unchanged": 0}
    assert store.record_count() == n
    expected = sum(range(n)) - 3 + 1_000_000
    assert store.execute("SELECT SUM(prompt_tokens) FROM records").fetchone()[0] == expected
    assert store.execute("SELECT prompt_tokens FROM records WHERE id = 'r3'").fetchone()[0] == 1_000_000
    assert stored_rollups(store) == fresh_rollups(store)


def test_the_busy_timeout_is_chosen_when_the_store_opens(tmp_path, monkeypatch):
    def pragma(store: Store) -> int:
        return store.conn.execute("PRAGMA busy_timeout").fetchone()[0]

    assert pragma(Store(tmp_path / "a.db")) == 10_000
    assert pragma(Store(tmp_path / "b.db", busy_timeout_ms=100)) == 100
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 250)  # read at open, not baked in at import
    assert pragma(Store(tmp_path / "c.db")) == 250


def test_a_writer_gives_up_after_the_busy_timeout(tmp_path):
    store = Store(tmp_path / "s.db", busy_timeout_ms=100)
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.write_batch([to_record({"id": "x", "ts": "2026-11-22T10:00:00Z", "provider": "p",
                                          "model": "m"})], None)
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.parametrize("ms, words", [(10_000, "10 s"), (1500, "1.5 s"), (1000, "1 s"), (100, "100 ms")])
def test_wait_words(ms, words):
    assert wait_words(ms) == words


def test_a_migration_that_fails_half_way_leaves_the_store_as_it_was(tmp_path, monkeypatch):
    """Upgrading from schema 1 runs the later scripts and a rollup rebuild in one transaction:
    the v3 script is cut after it dropped the old records table and made to fail there, and
    the file must read exactly as before (same dump, still schema 1), then upgrade cleanly."""
    path = tmp_path / "v1.db"
    make_version_1_store(path)

    def dump() -> tuple[int, list[str]]:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("PRAGMA user_version").fetchone()[0], list(conn.iterdump())
        finally:
            conn.close()

    before = dump()
    v3 = schema.SQLITE_MIGRATIONS[2]
    half = v3[:v3.index("ALTER TABLE records_v3")]  # records copied, the old table dropped: then a failure
    assert "DROP TABLE records;" in half
    migrations = list(schema.SQLITE_MIGRATIONS)
    migrations[2] = half + "INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(schema, "SQLITE_MIGRATIONS", migrations)
    with pytest.raises(StoreError, match=r"could not upgrade the store from schema 1 \(no such table: no_such_table\)"):
        Store(path)
    assert dump() == before
    monkeypatch.undo()
    migrated = Store(path)
    assert migrated.schema_version() == SCHEMA_VERSION and migrated.record_count() == 2
    assert stored_rollups(migrated.conn) == fresh_rollups(migrated.conn)


V4_STORE = Path(__file__).parent / "data" / "store-v4.db"  # written by schema 4's code: data/make_store_v4.py


def test_a_store_written_by_schema_4_migrates_in_place(tmp_path):
    path = tmp_path / "v4.db"
    shutil.copyfile(V4_STORE, path)
    old = sqlite3.connect(path)
    records = old.execute("SELECT * FROM records ORDER BY id").fetchall()
    # What schema 4's quarter-hour team totals said, summed by hour (60 records, r7 replaced).
    hourly = old.execute("SELECT team, bucket / 4, SUM(requests), SUM(prompt_tokens), SUM(cost_nano) FROM roll_team "
                         "WHERE dim = 7 GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    org = old.execute("SELECT * FROM roll_org ORDER BY dim, bucket, key").fetchall()
    old.close()
    told: list[str] = []
    migrated = Store(path, on_upgrade=told.append)
    assert told == [f"upgrading {path} from schema 4 to {SCHEMA_VERSION} (once; about 20 s per million records)"]
    assert migrated.schema_version() == SCHEMA_VERSION == 9
    conn = migrated.conn
    assert conn.execute(f"SELECT {V8_COLUMNS} FROM records ORDER BY id").fetchall() == records
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"roll_team_hour", "roll_org_quarter", "roll_user_block", "roll_team_block", "roll_org_block",
            "records_user_ts", "records_team_ts"} <= tables
    assert not {"roll_user", "roll_team", "roll_org"} & tables
    assert stored_rollups(conn) == fresh_rollups(conn)
    assert conn.execute("SELECT team, bucket, requests, prompt_tokens, cost_nano FROM roll_team_hour WHERE dim = 7 "
                        "ORDER BY 1, 2").fetchall() == hourly
    assert sum(r[2] for r in hourly) == 60 and len(records) == 60
    assert conn.execute("SELECT * FROM roll_org_quarter ORDER BY dim, bucket, key").fetchall() == org
    # It takes writes and answers views like a new store.
    write(migrated, {**BASE, "id": "new", "user": "alice", "cost_usd": 1.0})
    assert stored_rollups(conn) == fresh_rollups(conn)


def test_a_store_written_by_schema_5_gets_its_time_index_in_place(tmp_path):
    path = tmp_path / "v5.db"
    s = Store(path)
    s.load_directory(DIRECTORY)
    write(s, {**BASE, "id": "a", "user": "alice"}, {**BASE, "id": "b", "ts": "2026-11-02T10:00:00Z"})
    make_schema_8(s)
    s.conn.execute("DROP INDEX records_ts")  # as schema 5 left it
    s.conn.execute("DROP TABLE cursors")
    s.conn.execute("PRAGMA user_version = 5")
    records = s.conn.execute("SELECT * FROM records ORDER BY id").fetchall()
    s.close()
    told: list[str] = []
    migrated = Store(path, on_upgrade=told.append)
    assert told == [f"upgrading {path} from schema 5 to 9 (once; about 20 s per million records)"]
    assert migrated.schema_version() == 9
    conn = migrated.conn
    assert conn.execute("SELECT sql FROM sqlite_master WHERE name = 'records_ts'").fetchone() == (
        "CREATE INDEX records_ts ON records (ts_us)",)
    assert conn.execute(f"SELECT {V8_COLUMNS} FROM records ORDER BY id").fetchall() == records
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert stored_rollups(conn) == fresh_rollups(conn)


def test_a_store_written_by_schema_6_marks_its_rollups_complete_in_place(tmp_path):
    path = tmp_path / "v6.db"
    s = Store(path)
    s.load_directory(DIRECTORY)
    write(s, {**BASE, "id": "a", "user": "alice", "cost_usd": 1.0}, {**BASE, "id": "b", "key": "k_bob"})
    make_schema_8(s)
    s.conn.execute("DELETE FROM meta WHERE key = 'rolled_up_through'")  # schema 6 had no mark
    s.conn.execute("DROP TABLE cursors")
    s.conn.execute("PRAGMA user_version = 6")
    records = s.conn.execute("SELECT rowid, * FROM records ORDER BY id").fetchall()
    rollups = stored_rollups(s.conn)
    s.close()
    told: list[str] = []
    migrated = Store(path, on_upgrade=told.append)
    assert told == [f"upgrading {path} from schema 6 to 9 (once; about 20 s per million records)"]
    assert migrated.schema_version() == 9
    conn = migrated.conn
    # Its rollups held every record: all are rolled up (rowids 1 and 2), nothing is pending.
    assert conn.execute("SELECT value FROM meta WHERE key = 'rolled_up_through'").fetchone() == ("2",)
    assert migrated.pending_rollups() is None
    assert conn.execute(f"SELECT rowid, {V8_COLUMNS} FROM records ORDER BY id").fetchall() == records
    assert stored_rollups(conn) == rollups == fresh_rollups(conn)
    # An import appends above the mark; its end rolls the new records up.
    append(migrated, {**BASE, "id": "c", "user": "bob", "cost_usd": 2.0})
    assert migrated.pending_rollups() == 2 and stored_rollups(conn) == rollups
    assert migrated.totals()["cost_nano"] == 3 * 10**9  # $1 rolled up + $2 pending
    assert migrated.refresh_rollups() == 1
    assert migrated.pending_rollups() is None and stored_rollups(conn) == fresh_rollups(conn)


def test_replacing_the_newest_rolled_up_record_never_reuses_its_rowid(tmp_path):
    """SQLite gives a new row max(rowid) + 1: replacing the record with the highest rowid would
    give the new version that same rowid, at or below the mark, as if it were rolled up."""
    store = Store(tmp_path / "s.db")
    store.load_directory(DIRECTORY)
    write(store, {**BASE, "id": "a", "user": "alice", "prompt_tokens": 1},
          {**BASE, "id": "b", "user": "bob", "prompt_tokens": 10})
    top = store.conn.execute("SELECT MAX(rowid) FROM records").fetchone()[0]
    assert store.pending_rollups() is None
    assert vars(append(store, {**BASE, "id": "b", "user": "bob", "prompt_tokens": 500})) == {
        "imported": 0, "replaced": 1, "unchanged": 0}
    assert store.conn.execute("SELECT rowid FROM records WHERE id = 'b'").fetchone()[0] == top + 1
    assert store.pending_rollups() == top
    spec = QuerySpec(viewer="alice", scope="org", group_by="user", since=date(2026, 11, 20), until=date(2026, 11, 20),
                     tz="UTC")
    assert {r.key: r.totals.prompt_tokens for r in run_query(store, spec).rows} == {"bob": 500, "alice": 1}
    # Replaced again while pending: the pending sums drop the old version, the rollups are untouched.
    append(store, {**BASE, "id": "b", "user": "bob", "prompt_tokens": 7})
    assert store.totals()["prompt_tokens"] == 8
    assert {r.key: r.totals.prompt_tokens for r in run_query(store, spec).rows} == {"bob": 7, "alice": 1}
    store.refresh_rollups()
    assert stored_rollups(store) == fresh_rollups(store)
    assert {r.key: r.totals.prompt_tokens for r in run_query(store, spec).rows} == {"bob": 7, "alice": 1}


def test_a_roll_up_summed_before_a_batch_replaced_one_of_its_records_is_not_added(tmp_path):
    """The import's roll-up thread sums pending records in a read snapshot while the writer
    appends; a batch that replaces one of them meanwhile (its new version goes above) makes the
    sums stale: they are dropped, and the next step sums the records again."""
    db = tmp_path / "s.db"
    writer = Store(db)
    writer.load_directory(DIRECTORY)
    append(writer, *[{**BASE, "id": f"r{i}", "user": "alice", "prompt_tokens": 1} for i in range(5)])
    roller = Store(db)
    step = roller._sum_pending(target=5)
    assert step is not None and step[:3] == (0, 5, 5) and step[3][1] == 5  # 5 records, 5 prompt tokens
    append(writer, {**BASE, "id": "r2", "user": "bob", "prompt_tokens": 100})  # r2 moves to rowid 6
    assert roller._add_pending(*step) is False
    assert stored_rollups(roller.conn) == {} and roller.pending_rollups() == 0
    assert roller.refresh_rollups() == 5  # rowids 1-6, of which 5 remain
    assert roller.pending_rollups() is None and stored_rollups(roller.conn) == fresh_rollups(roller.conn)
    assert roller.totals()["prompt_tokens"] == 104


def test_an_imports_threads_take_turns_without_the_busy_timeout(tmp_path):
    """The writer's next batch waits for the import's own roll-up step however long it takes;
    the busy timeout is for other processes. With a timeout of 0, the batch would fail at once."""
    import threading

    store = Store(tmp_path / "s.db", busy_timeout_ms=0)
    store.load_directory(DIRECTORY)
    holding, release = threading.Event(), threading.Event()

    def long_roll_up_step() -> None:
        with store.transaction():
            holding.set()
            release.wait(5)

    other = threading.Thread(target=long_roll_up_step)
    other.start()
    holding.wait(5)
    threading.Timer(0.3, release.set).start()
    assert append(store, {**BASE, "id": "a", "user": "alice"}).imported == 1  # waited ~0.3 s
    other.join()
    assert store.record_count() == 1


def test_a_store_written_by_schema_7_gets_its_cursors_table_in_place(tmp_path):
    path = tmp_path / "v7.db"
    s = Store(path)
    s.load_directory(DIRECTORY)
    write(s, {**BASE, "id": "a", "user": "alice", "cost_usd": 1.0}, {**BASE, "id": "b", "key": "k_bob"})
    make_schema_8(s)
    s.conn.execute("DROP TABLE cursors")  # as schema 7 left it
    s.conn.execute("PRAGMA user_version = 7")
    records = s.conn.execute("SELECT rowid, * FROM records ORDER BY id").fetchall()
    rollups = stored_rollups(s.conn)
    s.close()
    told: list[str] = []
    migrated = Store(path, on_upgrade=told.append)
    assert told == [f"upgrading {path} from schema 7 to 9 (once; about 20 s per million records)"]
    assert migrated.schema_version() == 9
    conn = migrated.conn
    assert conn.execute(f"SELECT rowid, {V8_COLUMNS} FROM records ORDER BY id").fetchall() == records
    assert stored_rollups(conn) == rollups == fresh_rollups(conn)
    assert conn.execute("PRAGMA table_info(cursors)").fetchall() == [
        (0, "name", "TEXT", 0, None, 1), (1, "value", "TEXT", 1, None, 0)]
    assert migrated.cursor("follow:x") is None
    migrated.write_batch([to_record({**BASE, "id": "c", "user": "bob"})], None, cursors={"follow:x": "1"})
    assert migrated.cursor("follow:x") == "1" and migrated.record_count() == 3


def test_an_import_rolls_up_as_it_goes_and_ends_with_every_record_rolled_up(tmp_path, monkeypatch):
    """Small roll-ups every few batches on their own thread, with ids replaced across batches
    (rolled up or not yet): the rollups end equal to a fresh aggregation of the records."""
    import random

    from usage_tui import ingest
    from usage_tui.store import bulk, sqlite_rollups

    monkeypatch.setattr(bulk, "ROLLUP_EVERY", 250)
    monkeypatch.setattr(sqlite_rollups, "REFRESH_ROWS", 120)
    rng = random.Random(5)
    lines = [{**BASE, "id": f"r{rng.randrange(1500)}", "ts": f"2026-11-{1 + rng.randrange(28):02d}T"
              f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z", "user": rng.choice(["alice", "bob", "zed"]),
              "prompt_tokens": rng.randrange(1000), "team": rng.choice(["platform", "research"])}
             for _ in range(3000)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in lines))
    store = Store(tmp_path / "s.db")
    store.load_directory(DIRECTORY)
    summary = ingest.import_path(store, str(path), batch_size=50)
    latest = {d["id"]: d for d in lines}
    assert summary.imported == len(latest) and store.record_count() == len(latest)
    assert store.pending_rollups() is None
    assert stored_rollups(store.conn) == fresh_rollups(store.conn)
    assert store.totals()["prompt_tokens"] == sum(d["prompt_tokens"] for d in latest.values())


def test_a_failed_version_5_migration_leaves_the_version_4_store_as_it_was(tmp_path):
    # A v4 store that already has an index named records_team_ts (a user's own, say) makes the
    # migration's last CREATE INDEX fail after the hour table was filled, the org's renamed and
    # the other quarter-hour tables dropped: all of it is rolled back.
    path = tmp_path / "v4.db"
    shutil.copyfile(V4_STORE, path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE INDEX records_team_ts ON records (id)")
    conn.commit()
    before = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4").fetchall()
              for t in ("records", "roll_user", "roll_team_day", "roll_org")}
    conn.close()
    with pytest.raises(StoreError, match="could not upgrade the store from schema 4 .*records_team_ts already exists"):
        Store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    assert {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4").fetchall() for t in before} == before
    assert not conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '%hour' OR name LIKE '%quarter' "
                            "OR name = 'records_user_ts'").fetchall()
    conn.close()


def test_a_directory_load_that_waited_for_another_reprices_against_what_that_one_committed(engine_store):
    """Two loads at once: A raises llama's input price to $3/M and commits while B (which puts
    back $2/M) waits for the write lock. B must compare against A's committed prices, not the
    ones it saw before it waited, or it skips re-pricing and leaves the record at $3 under a
    directory that says $2. 1,000,000 input tokens at $2/M = $2 = 2,000,000,000 nano-dollars."""
    import copy

    from usage_tui.store import open_store

    from .conftest import location

    b = engine_store  # the small directory: internal/llama at $2/M in, $4/M out
    write(b, {"id": "r", "ts": "2026-11-20T09:00:00Z", "provider": "internal", "model": "llama", "user": "bob",
              "prompt_tokens": 1_000_000, "completion_tokens": 0})
    raised = copy.deepcopy(DIRECTORY)
    raised["prices"][0]["input_per_mtok"] = 3.0
    a = open_store(location(b))
    real_transaction = b.transaction

    def after_a(*args, **kwargs):  # A commits between B's start and B's taking the lock
        a.load_directory(raised)
        return real_transaction(*args, **kwargs)

    b.transaction = after_a
    b.load_directory(copy.deepcopy(DIRECTORY))
    b.transaction = real_transaction
    a.close()
    assert b.execute("SELECT cost_nano FROM records WHERE id = 'r'").fetchone()[0] == 2_000_000_000
    assert b.directory().prices == parse_directory(DIRECTORY).prices


def test_a_store_written_by_schema_8_gets_the_id_hash_index_in_place(tmp_path):
    """Schema 9: the records copied with their rowids into a table without the UNIQUE text index
    of the id, its 64-bit hash beside it and indexed; the rollups, their mark (here in the middle
    of an import: one record pending) and every value unchanged; ids still unique on writing."""
    path = tmp_path / "v8.db"
    s = Store(path)
    s.load_directory(DIRECTORY)
    write(s, {**BASE, "id": "a", "user": "alice", "cost_usd": 1.0}, {**BASE, "id": "b", "key": "k_bob"})
    write(s, {**BASE, "id": "a", "user": "alice", "cost_usd": 2.0})  # replaced: a's rowid is now 3
    s.write_batches([Batch([to_record({**BASE, "id": "c", "user": "alice", "prompt_tokens": 7})])])  # pending
    make_schema_8(s)
    names = {n for (n,) in s.conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'records'")}
    assert "sqlite_autoindex_records_1" in names and "records_id_hash" not in names  # as schema 8 had it
    records = s.conn.execute(f"SELECT rowid, {V8_COLUMNS} FROM records ORDER BY rowid").fetchall()
    assert [(r[0], r[1]) for r in records] == [(2, "b"), (3, "a"), (4, "c")]
    rollups = stored_rollups(s.conn)
    meta = s.conn.execute("SELECT key, value FROM meta WHERE key IN ('rolled_up_through', 'pending_sums')").fetchall()
    s.close()
    told: list[str] = []
    migrated = Store(path, on_upgrade=told.append)
    assert told == [f"upgrading {path} from schema 8 to 9 (once; about 20 s per million records)"]
    conn = migrated.conn
    assert migrated.schema_version() == 9
    assert conn.execute(f"SELECT rowid, {V8_COLUMNS} FROM records ORDER BY rowid").fetchall() == records
    assert conn.execute("SELECT id, id_hash FROM records ORDER BY rowid").fetchall() == [
        (rid, id_hash(rid)) for rid in ("b", "a", "c")]
    names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'records'")}
    assert names == {"records", "records_id_hash", "records_ts", "records_user_ts", "records_team_ts"}
    assert stored_rollups(conn) == rollups
    assert conn.execute("SELECT key, value FROM meta WHERE key IN ('rolled_up_through', 'pending_sums')").fetchall() == meta
    assert migrated.pending_rollups() == 3
    # Writing the same ids again: unchanged, or replaced (never a second record of an id).
    assert migrated.write_batches([Batch([to_record({**BASE, "id": "b", "key": "k_bob"}),
                                          to_record({**BASE, "id": "c", "user": "alice", "prompt_tokens": 8})])]) == [
        BatchResult(imported=0, replaced=1, unchanged=1)]
    assert conn.execute("SELECT id, prompt_tokens FROM records ORDER BY id").fetchall() == [("a", 0), ("b", 0), ("c", 8)]
    migrated.refresh_rollups()
    assert stored_rollups(conn) == fresh_rollups(conn)
    assert migrated.stored_versions(["a", "c", "zz"]).keys() == {"a", "c"}
