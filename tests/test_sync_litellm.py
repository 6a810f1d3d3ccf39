"""`usage-tui sync litellm --from DSN` against a real PostgreSQL table made from LiteLLM's own
migrations (tests/data/litellm_spendlogs_ddl.sql), in a schema of the test's own named as
LiteLLM's DATABASE_URL names one (`?schema=`). Expected values are worked out by hand from the
rows inserted here. Skipped without USAGE_TUI_TEST_PG."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.store import Store

from .conftest import DIRECTORY, pg_schema, require_pg

DDL = (Path(__file__).parent / "data" / "litellm_spendlogs_ddl.sql").read_text()
COLUMNS = ("request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
           "startTime", "endTime", "model", "custom_llm_provider", "user", "metadata", "team_id", "status")


@pytest.fixture
def litellm_db():
    """(DSN as LiteLLM's DATABASE_URL spells it, a connection to insert with): the table in a
    schema of this test's own."""
    import psycopg

    base = require_pg()
    with pg_schema("litellm") as (name, dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(DDL)
            yield f"{base}{'&' if '?' in base else '?'}schema={name}", conn


def insert(conn, *rows: dict) -> None:
    """Rows committed together, as LiteLLM's batch writer commits them."""
    with conn.transaction():
        for row in rows:
            values = {"call_type": "acompletion", "api_key": "", "spend": 0.0, "total_tokens": 0, "prompt_tokens": 0,
                      "completion_tokens": 0, "model": "", "custom_llm_provider": "", "user": "", "metadata": {},
                      "team_id": None, "status": "success", **row}
            values["endTime"] = values["startTime"]
            values["total_tokens"] = values["prompt_tokens"] + values["completion_tokens"]
            values["metadata"] = json.dumps(values["metadata"])
            conn.execute('INSERT INTO "LiteLLM_SpendLogs" ({}) VALUES ({})'.format(
                ", ".join(f'"{c}"' for c in COLUMNS), ", ".join(["%s"] * len(COLUMNS))),
                [values[c] for c in COLUMNS])


R1 = {"request_id": "r1", "startTime": "2026-03-01 10:00:00", "model": "gpt-4o", "custom_llm_provider": "openai",
      "api_key": "k_bob", "prompt_tokens": 1000, "completion_tokens": 200, "spend": 0.0123,
      "metadata": {"usage_object": {"prompt_tokens": 1000, "prompt_tokens_details": {"cached_tokens": 400}}}}
R2 = {"request_id": "r2", "startTime": "2026-03-01 10:01:00", "model": "claude-sonnet-4-5",
      "custom_llm_provider": "anthropic", "user": "carol", "team_id": "research", "prompt_tokens": 5000,
      "completion_tokens": 300, "spend": 0.05,
      "metadata": {"usage_object": {"cache_read_input_tokens": 1000, "cache_creation_input_tokens": 2000}}}
R3 = {"request_id": "r3", "startTime": "2026-03-01 10:02:00", "model": "gpt-4o", "custom_llm_provider": "openai",
      "user": "dave", "status": "failure", "metadata": {"error_information": {"error_code": "429"}}}
# cached tokens above prompt_tokens: the importer's reject
R4 = {"request_id": "r4", "startTime": "2026-03-01 10:03:00", "model": "gpt-4o", "user": "dave",
      "prompt_tokens": 10, "metadata": {"usage_object": {"prompt_tokens_details": {"cached_tokens": 50}}}}


def stored(db: Path) -> dict:
    s = Store(db)
    try:
        cur = s.execute('SELECT id, "user", key, team, prompt_tokens, cached_input_tokens, cache_write_tokens, '
                        "completion_tokens, status, cost_logged_nano FROM records ORDER BY id")
        return {r[0]: r[1:] for r in cur}
    finally:
        s.close()


def position(db: Path, dsn: str) -> dict:
    s = Store(db)
    try:
        shown = dsn  # no password in the test's DSN: the position's name is the DSN as given
        return json.loads(s.cursor(f"sync:litellm:{shown}"))
    finally:
        s.close()


def sync(db: Path, dsn: str, *extra: str):
    return CliRunner().invoke(cli, ["--db", str(db), "sync", "litellm", "--from", dsn, *extra])


@pytest.fixture
def db(tmp_path):
    s = Store(tmp_path / "usage.db")
    s.load_directory(DIRECTORY)
    s.close()
    return tmp_path / "usage.db"


def test_sync_maps_rows_and_goes_on_from_its_position(litellm_db, db):
    dsn, conn = litellm_db
    insert(conn, R1, R2, R3, R4)
    result = sync(db, dsn)
    assert result.exit_code == 1, result.output  # a rejected row: exit 1, as import
    assert result.stdout.strip() == "read 4 rows: imported 3, replaced 0, unchanged 0, rejected 1"
    assert stored(db) == {
        # k_bob is bob's key (directory); 1000 prompt tokens of which 400 cached; $0.0123 logged
        "r1": ("bob", "k_bob", "platform", 600, 400, 0, 200, 200, 12_300_000),
        # LiteLLM's prompt_tokens hold Anthropic's cache reads and writes: 5000 - 1000 read
        "r2": ("carol", None, "research", 4000, 1000, 2000, 300, 200, 50_000_000),
        # a failure keeps its HTTP status and its 0 spend
        "r3": ("dave", None, None, 0, 0, 0, 0, 429, 0),
    }
    assert position(db, dsn) == {"startTime": "2026-03-01T10:03:00", "request_id": "r4"}
    s = Store(db)
    (reject,) = s.rejects()
    s.close()
    assert reject["reason"] == 'request_id "r4": cached tokens (50) exceed `prompt_tokens` (10)'

    # LiteLLM commits a batch late: its row's startTime (10:00:30) is behind the position
    # (10:03), inside the 10-minute overlap; and a new row after the position.
    late = {"request_id": "r5", "startTime": "2026-03-01 10:00:30", "model": "gpt-4o-mini",
            "custom_llm_provider": "openai", "user": "bob", "prompt_tokens": 100, "completion_tokens": 10,
            "spend": 0.001}
    later = {"request_id": "r6", "startTime": "2026-03-01 10:05:00", "model": "gpt-4o-mini",
             "custom_llm_provider": "openai", "user": "alice", "prompt_tokens": 7, "completion_tokens": 3,
             "spend": 0.002}
    # one an hour behind the position: past the overlap, it is not looked for (the documented limit)
    too_late = {"request_id": "r7", "startTime": "2026-03-01 09:00:00", "model": "gpt-4o", "user": "bob",
                "prompt_tokens": 1, "spend": 0.5}
    insert(conn, late, later, too_late)
    result = sync(db, dsn)
    # r1..r4 are in the window again (a new process has not seen them): unchanged, r4 rejected again
    assert result.stdout.strip() == "read 6 rows: imported 2, replaced 0, unchanged 3, rejected 1"
    records = stored(db)
    assert sorted(records) == ["r1", "r2", "r3", "r5", "r6"]
    assert records["r5"] == ("bob", None, "platform", 100, 0, 0, 10, 200, 1_000_000)
    assert position(db, dsn) == {"startTime": "2026-03-01T10:05:00", "request_id": "r6"}

    # a rerun: nothing new
    result = sync(db, dsn)
    # the window (9:55 to r6): r1, r5, r2, r3, r4, r6
    assert result.stdout.strip() == "read 6 rows: imported 0, replaced 0, unchanged 5, rejected 1"
    assert len(stored(db)) == 5
    s = Store(db)
    assert len(s.rejects()) == 1  # the same reject is kept once
    s.close()


def test_overlap_bounds_what_is_looked_at_again(litellm_db, db):
    dsn, conn = litellm_db
    insert(conn, R1, R2)
    assert sync(db, dsn).exit_code == 0
    insert(conn, {**R3, "startTime": "2026-03-01 10:00:50"})  # 10 s behind the position (r2, 10:01)
    result = sync(db, dsn, "--overlap", "5s")
    # the window from 10:00:55 to r2 holds r2 alone (unchanged): r3 is behind it
    assert result.stdout.strip() == "read 1 rows: imported 0, replaced 0, unchanged 1, rejected 0"
    result = sync(db, dsn, "--overlap", "1m")
    # the window from 10:00:00 to r2: r1, r2 (unchanged) and r3 (new)
    assert result.stdout.strip() == "read 3 rows: imported 1, replaced 0, unchanged 2, rejected 0"


def test_since_sets_where_the_first_run_starts(litellm_db, db):
    dsn, conn = litellm_db
    insert(conn, R1, R2, R3)
    result = sync(db, dsn, "--since", "2026-03-01T10:01:00")
    assert result.stdout.strip() == "read 2 rows: imported 2, replaced 0, unchanged 0, rejected 0"
    assert sorted(stored(db)) == ["r2", "r3"]
    result = sync(db, dsn, "--since", "2026-01-01")
    assert "--since is for the first run: going on from 2026-03-01T10:02:00" in result.stderr
    # the window of r3's position would start at 9:52, but never before the first run's
    # --since (10:01): r2 and r3 unchanged, r1 (10:00) still left out
    assert result.stdout.strip() == "read 2 rows: imported 0, replaced 0, unchanged 2, rejected 0"
    assert sorted(stored(db)) == ["r2", "r3"]
    assert position(db, dsn)["since"] == "2026-03-01T10:01:00"


def test_many_pages_and_follow(litellm_db, tmp_path, db):
    """12,345 rows (3 pages of 5,000) in one run; then --follow picks up rows as they are committed
    and stops cleanly on Ctrl-C."""
    dsn, conn = litellm_db
    conn.execute('INSERT INTO "LiteLLM_SpendLogs" (request_id, call_type, "startTime", "endTime", model, '
                 'custom_llm_provider, "user", prompt_tokens, completion_tokens, spend) '
                 "SELECT 'p' || g, 'acompletion', timestamp '2026-03-02' + g * interval '1 second', "
                 "timestamp '2026-03-02' + g * interval '1 second', 'gpt-4o', 'openai', 'bob', g % 100, 1, 0.001 "
                 "FROM generate_series(1, 12345) g")
    result = sync(db, dsn)
    assert result.stdout.strip() == "read 12345 rows: imported 12345, replaced 0, unchanged 0, rejected 0"
    s = Store(db)
    # sum of g % 100 over g = 1..12345: 123 full hundreds (4950 each) + 1..45 (1035)
    assert s.execute("SELECT count(*), sum(prompt_tokens) FROM records").fetchone() == (12345, 123 * 4950 + 1035)
    s.close()

    env = {**os.environ, "USAGE_TUI_DB": str(db)}
    follower = subprocess.Popen([sys.executable, "-m", "usage_tui", "sync", "litellm", "--from", dsn, "--follow",
                                 "--every", "0.2s"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        insert(conn, {**R1, "request_id": "f1", "startTime": "2026-03-02 05:00:00"})
        deadline = time.monotonic() + 20
        while "f1" not in stored(db) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "f1" in stored(db)
        # the database drops the follower's connection (a restart, a failover): it connects
        # again at its next pass and goes on
        schema = dsn.rsplit("schema=", 1)[1]
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                     "AND query LIKE %s", (f'%"{schema}"."LiteLLM_SpendLogs"%',))
        insert(conn, {**R2, "request_id": "f2", "startTime": "2026-03-02 05:01:00"})
        deadline = time.monotonic() + 30
        while "f2" not in stored(db) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "f2" in stored(db)
    finally:
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert "Traceback" not in err
    assert "trying again in 0.2 s" in err  # the dropped connection: said, then connected again
    # the follower's first pass re-read its window as unchanged: 10 minutes behind p12345 (at
    # 03:25:45) are p11745..p12345, 601 rows; f1 and f2 are new (the window behind f1 and f2
    # holds only rows this follower has seen: not read again)
    assert out.strip() == "read 603 rows: imported 2, replaced 0, unchanged 601, rejected 0"


@pytest.mark.parametrize("how", ["no table", "no schema", "refused", "bad url", "no server"])
def test_unusable_sources_are_one_line(litellm_db, db, how):
    import psycopg

    dsn, conn = litellm_db
    base = require_pg()
    role = None
    if how == "no table":
        with pg_schema("empty") as (name, _):
            result = sync(db, f"{base}{'&' if '?' in base else '?'}schema={name}")
            expected = f'no table "{name}"."LiteLLM_SpendLogs" (is this LiteLLM\'s database?'
    elif how == "no schema":
        result = sync(db, f"{base}{'&' if '?' in base else '?'}schema=nope_{uuid.uuid4().hex[:6]}")
        expected = "no table"
    elif how == "refused":
        role = f"usage_tui_ro_{uuid.uuid4().hex[:8]}"
        conn.execute(f"CREATE ROLE {role} LOGIN")
        schema = dsn.rsplit("schema=", 1)[1]
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
        other = dsn.replace("://root@", f"://{role}:secret@") if "://root@" in dsn else None
        if other is None:
            pytest.skip("the test server's DSN names no user to swap")
        result = sync(db, other)
        expected = "permission denied reading"
        assert "secret" not in result.output
    elif how == "bad url":
        result = sync(db, "postgresql://host:notaport/db")
        expected = "--from is not a valid PostgreSQL URL"
    else:
        result = sync(db, "postgresql://root@127.0.0.1:1/test")
        expected = "cannot connect"
    try:
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("usage-tui: error: ") and expected in lines[0], lines
    finally:
        if role:
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(f"DROP OWNED BY {role}")
                admin.execute(f"DROP ROLE {role}")


def test_a_member_may_not_sync(litellm_db, db):
    dsn, conn = litellm_db
    insert(conn, R1)
    result = sync(db, dsn, "--as", "bob")
    assert result.exit_code == 3
    assert stored(db) == {}


def test_sync_into_a_postgresql_store(litellm_db):
    """The store itself on PostgreSQL: the same rows, the position committed with them."""
    from usage_tui.store.postgres import PostgresStore

    dsn, conn = litellm_db
    insert(conn, R1, R2, R3)
    with pg_schema("store") as (_, store_dsn):
        s = PostgresStore(store_dsn)
        s.load_directory(DIRECTORY)
        result = CliRunner().invoke(cli, ["sync", "litellm", "--from", dsn, "--db", store_dsn])
        assert result.exit_code == 0, result.output
        assert result.stdout == "read 3 rows: imported 3, replaced 0, unchanged 0, rejected 0\n"
        assert s.execute('SELECT id, "user", cached_input_tokens FROM records ORDER BY id').fetchall() == [
            ("r1", "bob", 400), ("r2", "carol", 1000), ("r3", "dave", 0)]
        assert json.loads(s.cursor(f"sync:litellm:{dsn}")) == {"startTime": "2026-03-01T10:02:00", "request_id": "r3"}
        s.close()


@pytest.mark.parametrize("args, message", [
    (["--overlap", "8d"], "--overlap: 8d is out of range (0 s to 604800 s)"),
    (["--overlap", "1e9"], '--overlap: "1e9" is not a duration (e.g. 10s, 10m, 1h)'),
    (["--overlap", "169h"], "--overlap: 169h is out of range (0 s to 604800 s)"),
    (["--every", "0"], "--every: 0 is out of range (0.1 s to 86400 s)"),
    (["--every", "soon"], '--every: "soon" is not a duration (e.g. 10s, 10m, 1h)'),
    (["--since", "last week"], '--since: "last week" is not a date (YYYY-MM-DD) or an ISO 8601 time'),
])
def test_bounded_options_are_one_line(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "u.db"), "sync", "litellm", "--from",
                                      "postgresql://nobody@127.0.0.1:1/none", *args])
    assert result.exit_code == 2
    assert result.stderr == f"usage-tui: error: {message}\n"
