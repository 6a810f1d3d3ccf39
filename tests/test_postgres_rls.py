"""Scopes enforced by PostgreSQL row-level security (issue 17, architecture §2.4): three real roles
(an org admin, a team admin, a member), created for the test with unique names and dropped
after, see through raw SQL exactly what their scope allows; usage-tui connected as each gives
the same answers as the owner acting as them, and the same refusals (exit 3)."""

from __future__ import annotations

import copy
import json
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from usage_tui.cli import cli
from usage_tui.ingest.native import to_record
from usage_tui.store import ROLLUP_TABLES

from .conftest import DIRECTORY, pg_schema, require_pg, write

RECORDS = [
    # id, user, team as attributed (DIRECTORY: alice org admin in platform; bob member in
    # platform; carol member in research then platform, admin of platform; dave no team)
    {"id": "a1", "ts": "2026-11-20T09:00:00Z", "provider": "p", "model": "m", "user": "alice", "cost_usd": 1.0},
    {"id": "b1", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 2.0},
    {"id": "b2", "ts": "2026-11-21T10:00:00Z", "provider": "p", "model": "n", "key": "k_bob", "cost_usd": 4.0},
    {"id": "c1", "ts": "2026-11-21T11:00:00Z", "provider": "p", "model": "m", "user": "carol", "cost_usd": 8.0},
    {"id": "c2", "ts": "2026-11-22T11:00:00Z", "provider": "p", "model": "m", "user": "carol", "team": "platform",
     "cost_usd": 16.0},
    {"id": "d1", "ts": "2026-11-22T12:00:00Z", "provider": "p", "model": "m", "agent": "bot", "cost_usd": 32.0},
    {"id": "u1", "ts": "2026-11-22T13:00:00Z", "provider": "p", "model": "m", "cost_usd": 64.0},  # unattributed
]
# What each may see of them (by hand from §2.3/§2.4): bob his own; carol hers (c1 research,
# c2 platform) and team platform's (alice's a1, bob's b1 and b2); alice everything.
SEES = {"bob": {"b1", "b2"}, "carol": {"c1", "c2", "a1", "b1", "b2"},
        "alice": {"a1", "b1", "b2", "c1", "c2", "d1", "u1"}}


@pytest.fixture
def central(monkeypatch):
    """(DSN of the owner, {directory user: DSN as their own role}, roles) for a store whose
    directory gives alice, bob and carol logins that are real roles (unique names)."""
    from usage_tui.store.postgres import PostgresStore

    base = require_pg()
    tag = uuid.uuid4().hex[:8]
    roles = {u: f"usage_tui_{tag}_{u}" for u in ("alice", "bob", "carol")}
    admin = psycopg.connect(base, autocommit=True)
    for role in roles.values():
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    doc = copy.deepcopy(DIRECTORY)
    for user in doc["users"]:
        user["login"] = roles.get(user["id"], f"usage_tui_{tag}_nobody_{user['id']}")
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    try:
        with pg_schema("rls") as (_, dsn):
            owner = PostgresStore(dsn)
            owner.load_directory(doc)
            write(owner, *RECORDS)
            owner.close()
            yield dsn, {u: as_role(dsn, r) for u, r in roles.items()}, roles, doc
    finally:
        for role in roles.values():
            admin.execute(sql.SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(sql.Identifier(role)))
        admin.close()


def as_role(dsn: str, role: str) -> str:
    """The DSN with another user: how a person connects as their own role."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rsplit('@', 1)[-1]}"))


def raw(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


# -- raw SQL, as psql would ----------------------------------------------------------------------
@pytest.mark.parametrize("user", ["bob", "carol", "alice"])
def test_each_role_reads_only_its_scope_of_the_records(central, user):
    _, dsns, _, _ = central
    assert {r for (r,) in raw(dsns[user], "SELECT id FROM records")} == SEES[user]


def test_rollup_rows_by_role(central):
    owner, dsns, _, _ = central
    everything = {t: len(raw(owner, f"SELECT * FROM {t}")) for t in ROLLUP_TABLES}
    assert all(everything.values())  # the owner sees rows in every table
    for user, allowed in (("bob", {"bob"}), ("carol", {"carol"})):
        for suffix in ("_day", "_block"):
            assert {u for (u,) in raw(dsns[user], f'SELECT DISTINCT "user" FROM roll_user{suffix}')} == allowed
    # team rollups: carol administers platform; bob administers nothing
    for table in ("roll_team_day", "roll_team_block", "roll_team_hour"):
        assert {t for (t,) in raw(dsns["carol"], f"SELECT DISTINCT team FROM {table}")} == {"platform"}
        assert raw(dsns["bob"], f"SELECT * FROM {table}") == []
    for table in ("roll_org_day", "roll_org_block", "roll_org_quarter"):
        assert raw(dsns["bob"], f"SELECT * FROM {table}") == raw(dsns["carol"], f"SELECT * FROM {table}") == []
    # the org admin reads every rollup row the owner does
    assert {t: len(raw(dsns["alice"], f"SELECT * FROM {t}")) for t in ROLLUP_TABLES} == everything
    # bob's own day totals: $6 (b1 $2, b2 $4) in nano-dollars
    assert raw(dsns["bob"], 'SELECT SUM(cost_nano) FROM roll_user_day WHERE dim = 7') == [(6_000_000_000,)]


def test_the_directory_a_member_may_read(central):
    _, dsns, roles, _ = central
    bob = dsns["bob"]
    keys = dict(raw(bob, "SELECT key, value FROM meta"))
    assert "directory" not in keys and "directory_public" in keys  # everyone's keys and budgets: admins only
    assert "keys" not in json.loads(keys["directory_public"])
    assert raw(bob, "SELECT id FROM dir_keys") == [("k_bob",)]  # his own key only
    assert raw(bob, 'SELECT "user" FROM dir_budgets') == [("bob",)]
    assert raw(bob, "SELECT * FROM rejects") == [] and raw(bob, "SELECT * FROM dir_agents") == []
    assert len(raw(bob, "SELECT id FROM dir_users")) == 4  # who exists (the app needs it)
    assert len(raw(dsns["alice"], "SELECT id FROM dir_keys")) == 3


@pytest.mark.parametrize("user", ["bob", "carol"])
@pytest.mark.parametrize("statement", [
    "INSERT INTO records (id, ts_us, provider, model, prompt_tokens, completion_tokens, cached_input_tokens, "
    "context_tokens, cache_write_tokens, requests, status, fingerprint, \"user\") "
    "VALUES ('x', 0, 'p', 'm', 0, 0, 0, 0, 0, 1, 200, 0, 'bob')",
    "UPDATE roll_user_day SET cost_nano = 0",
    "DELETE FROM records",
    "UPDATE dir_users SET role = 'org_admin'",
])
def test_members_and_team_admins_cannot_write(central, user, statement):
    owner, dsns, _, _ = central
    before = raw(owner, "SELECT count(*), SUM(cost_nano) FROM records")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        raw(dsns[user], statement)
    assert raw(owner, "SELECT count(*), SUM(cost_nano) FROM records") == before


def test_a_temp_table_cannot_make_a_member_an_org_admin(central):
    # The policies' functions read the store's dir_users, never a same-named temp table.
    _, dsns, roles, _ = central
    with psycopg.connect(dsns["bob"]) as conn:
        conn.execute("CREATE TEMP TABLE dir_users (id text, name text, login text, role text, primary_team text)")
        conn.execute("INSERT INTO dir_users VALUES ('bob', 'b', %s, 'org_admin', NULL)", (roles["bob"],))
        assert {r for (r,) in conn.execute("SELECT r.id FROM records r")} == SEES["bob"]


# -- usage-tui as each role -----------------------------------------------------------------------
def run(*args):
    return CliRunner().invoke(cli, list(args))


def summary(db, *args):
    result = run("spend", "summary", "--db", db, "--since", "2026-11-01", "--until", "2026-11-24",
                 "--format", "json", *args)
    return result.exit_code, (json.loads(result.output) if result.exit_code == 0 else result.output)


@pytest.mark.parametrize("user, args", [
    ("bob", []), ("carol", []), ("alice", []),
    ("carol", ["--team", "platform", "--group-by", "user"]),
    ("alice", ["--scope", "org", "--group-by", "user"]), ("alice", ["--team", "research"]),
])
def test_usage_tui_as_each_role_answers_as_the_owner_acting_as_them(central, user, args):
    owner, dsns, _, _ = central
    code, mine = summary(dsns[user], *args)
    assert code == 0, mine
    assert mine == summary(owner, "--as", user, *args)[1]
    assert mine["viewer"] == user


def test_a_members_personal_view_by_hand(central):
    _, dsns, _, _ = central
    code, out = summary(dsns["bob"], "--group-by", "model")
    assert code == 0 and out["totals"]["cost_usd"] == 6.0 and out["totals"]["requests"] == 2
    assert [(r["row"], r["cost_usd"]) for r in out["rows"]] == [("n", 4.0), ("m", 2.0)]


@pytest.mark.parametrize("user, args", [
    ("bob", ["spend", "summary", "--scope", "org"]), ("bob", ["spend", "summary", "--team", "platform"]),
    ("carol", ["spend", "summary", "--team", "research"]), ("carol", ["spend", "summary", "--scope", "org"]),
    ("bob", ["budget", "status", "alice"]), ("bob", ["rejects"]), ("bob", ["spend", "summary", "--as", "alice"]),
    ("bob", ["budget", "set", "bob", "--limit-usd", "99", "--window", "daily"]),
    # a member's role cannot see alice's spend: a decision about her would be a blind "allowed"
    ("bob", ["budget", "check", "alice"]), ("carol", ["serve", "--port", "0"]),
])
def test_refusals_are_exit_3_with_one_line(central, user, args):
    _, dsns, _, _ = central
    result = run(*args, "--db", dsns[user])
    assert result.exit_code == 3, result.output
    assert result.output.count("\n") == 1 and "{" not in result.output


def test_budget_checks_about_others_need_a_role_that_sees_their_spend(central, tmp_path):
    owner, dsns, _, _ = central
    more = tmp_path / "more.jsonl"
    more.write_text('{"id": "b9", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob", '
                    '"cost_usd": 11}\n')
    assert run("import", str(more), "--db", owner).exit_code == 0  # bob: $11 of his $10 weekly
    for who in ("alice", "bob"):  # the org admin about bob, bob about himself
        result = run("budget", "check", "bob", "--db", dsns[who])
        assert (result.exit_code, result.output.splitlines()[0]) == (75, "429 Too Many Requests"), who


def test_a_member_reads_their_budget_but_may_not_import(central, tmp_path):
    owner, dsns, _, _ = central
    status = run("budget", "status", "--db", dsns["bob"], "--format", "json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["spent_usd"] == 0.0  # b1, b2 are before the week of 2026-11-23
    assert json.loads(status.output)["limit_usd"] == 10.0
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"id": "b9", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "cost_usd": 1}\n')
    result = run("import", str(mine), "--db", dsns["bob"])
    assert result.exit_code == 3 and result.output.count("\n") == 1, result.output
    assert "b9" not in {r for (r,) in raw(owner, "SELECT id FROM records")}


def test_an_org_admin_imports_and_the_others_see_it_at_once(central, tmp_path):
    _, dsns, _, _ = central
    more = tmp_path / "more.jsonl"
    more.write_text('{"id": "b9", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob", '
                    '"cost_usd": 1}\n')
    result = run("import", str(more), "--db", dsns["alice"])
    assert result.exit_code == 0, result.output
    assert {r for (r,) in raw(dsns["bob"], "SELECT id FROM records")} == {"b1", "b2", "b9"}
    status = run("budget", "status", "--db", dsns["bob"], "--format", "json")
    assert json.loads(status.output)["spent_usd"] == 1.0


def test_cursors_are_for_whoever_may_write_records(central):
    """Schema 8's cursors: the owner and org admins write and read them; a member and a team
    admin see none and may write none (row-level security and grants, as for the rejects)."""
    from usage_tui.store import Batch, StorePermissionError
    from usage_tui.store.postgres import PostgresStore

    owner, dsns, _, _ = central
    admin = PostgresStore(dsns["alice"])
    admin.write_batches([Batch([to_record({**RECORDS[0], "id": "a9"})])], cursors={"sync:litellm:x": '{"id": 3}'})
    assert admin.cursor("sync:litellm:x") == '{"id": 3}'
    assert raw(owner, "SELECT name, value FROM cursors") == [("sync:litellm:x", '{"id": 3}')]
    for user in ("bob", "carol"):
        assert raw(dsns[user], "SELECT count(*) FROM cursors") == [(0,)]
        member = PostgresStore(dsns[user])
        assert member.cursor("sync:litellm:x") is None
        with pytest.raises(StorePermissionError):
            member.write_batches([], cursors={"sync:litellm:x": "mine"})
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            raw(dsns[user], "INSERT INTO cursors VALUES ('follow:z', 'v')")
        member.close()
    admin.close()
    assert raw(owner, "SELECT name, value FROM cursors") == [("sync:litellm:x", '{"id": 3}')]


def test_a_central_store_at_schema_7_gets_its_cursors_in_place_with_the_grants_it_had(central):
    """The owner's upgrade adds the cursors table with its policy, and gives it to the roles
    `directory load` granted before (no load needed): the org admin writes, the others see none."""
    from usage_tui.store import StorePermissionError
    from usage_tui.store.postgres import PostgresStore

    owner, dsns, _, _ = central
    with psycopg.connect(owner, autocommit=True) as conn:  # as schema 7 left it
        conn.execute("DROP TABLE cursors")
        conn.execute("ALTER TABLE records DROP COLUMN id_hash")  # (schema 9's)
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    records = raw(owner, "SELECT id, cost_nano FROM records ORDER BY id")
    with pytest.raises(Exception, match="at schema 7 and this usage-tui needs 9"):
        PostgresStore(dsns["alice"])  # only the owner upgrades
    told: list[str] = []
    migrated = PostgresStore(owner, on_upgrade=told.append)
    assert told == [f"upgrading {migrated.path} from schema 7 to 9"] and migrated.schema_version() == 9
    assert raw(owner, "SELECT id, cost_nano FROM records ORDER BY id") == records
    assert raw(owner, "SELECT relrowsecurity FROM pg_class WHERE oid = 'cursors'::regclass") == [(True,)]
    migrated.close()
    admin = PostgresStore(dsns["alice"])
    admin.write_batches([], cursors={"follow:a": "1"})
    assert admin.cursors("follow:") == {"follow:a": "1"}
    admin.close()
    assert raw(dsns["bob"], "SELECT count(*) FROM cursors") == [(0,)]
    with pytest.raises(StorePermissionError):
        PostgresStore(dsns["bob"]).write_batches([], cursors={"follow:b": "1"})


def test_directory_load_maintains_the_grants(central, tmp_path):
    owner, dsns, roles, doc = central
    # One more login without a role: named in one warning line; the load goes on.
    result = run("directory", "load", str(_toml(tmp_path, doc)), "--db", owner)
    assert result.exit_code == 0, result.output
    nobody = sorted(u["login"] for u in doc["users"] if u["id"] not in roles)
    assert [line for line in result.stderr.splitlines() if "no database role" in line] == [
        f"usage-tui: no database role for the login {nobody[0]}: create it (CREATE ROLE … LOGIN) and load "
        "the directory again to grant it access"]
    # bob leaves the directory: his role loses access (exit 3, one line), the others keep theirs
    doc = copy.deepcopy(doc)
    doc["users"] = [u for u in doc["users"] if u["id"] != "bob"]
    doc["keys"] = [k for k in doc["keys"] if k.get("owner") != "bob"]
    doc["budgets"] = []
    assert run("directory", "load", str(_toml(tmp_path, doc)), "--db", owner).exit_code == 0
    with pytest.raises(psycopg.errors.UndefinedTable):  # without USAGE on the schema, psql sees no table
        raw(dsns["bob"], "SELECT id FROM records")
    gone = run("spend", "summary", "--db", dsns["bob"])
    assert gone.exit_code == 3 and gone.output.count("\n") == 1, gone.output
    assert f"role {roles['bob']} may not use schema" in gone.output
    assert summary(dsns["carol"])[0] == 0
    # an org admin's load works but cannot grant: it says so
    by_admin = run("directory", "load", str(_toml(tmp_path, doc)), "--db", dsns["alice"])
    assert by_admin.exit_code == 0, by_admin.output
    assert "grants unchanged: only the store's owner role maintains them" in by_admin.stderr


def _toml(tmp_path, doc) -> object:
    """The directory as a TOML file (tomllib reads; the test writes the few shapes it needs)."""
    def value(v):
        return json.dumps(v)  # strings, numbers and lists of strings are the same in TOML

    lines = []
    for key, section in doc.items():
        if isinstance(section, dict):
            lines += [f"[{key}]", *(f"{k} = {value(v)}" for k, v in section.items()), ""]
        else:
            for entry in section:
                lines += [f"[[{key}]]", *(f"{k} = {value(v)}" for k, v in entry.items()), ""]
    path = tmp_path / f"directory-{uuid.uuid4().hex[:6]}.toml"
    path.write_text("\n".join(lines))
    return path


def test_serve_refuses_every_answer_once_its_role_is_demoted(central, tmp_path):
    """serve started as an org admin's role decides for everyone; when the owner's directory
    load makes that person a member, row-level security hides bob's spend and budget from the
    running serve, which would then read "no budget" and allow: it answers 503 instead."""
    import asyncio

    import httpx

    from usage_tui.server import create_server_app

    owner, dsns, _, doc = central
    more = tmp_path / "more.jsonl"
    more.write_text('{"id": "b9", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob", '
                    '"cost_usd": 11}\n')
    assert run("import", str(more), "--db", owner).exit_code == 0  # bob: $11 of his $10 weekly
    app = create_server_app(dsns["alice"])

    async def ask() -> list[int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve") as client:
            return [(await client.get(path)).status_code
                    for path in ("/v1/budget/check?user=bob", "/v1/budget/check?user=dave", "/healthz")]

    assert asyncio.run(ask()) == [429, 200, 200]
    demoted = copy.deepcopy(doc)
    for user in demoted["users"]:
        if user["id"] == "alice":
            user["role"] = "member"
    assert run("directory", "load", str(_toml(tmp_path, demoted)), "--db", owner).exit_code == 0
    assert asyncio.run(ask()) == [503, 503, 503]


def test_budgets_and_overrides_each_member_reads_only_their_own(central):
    """Two members with a directory budget (bob's, and one given to carol here) and an override
    each (and dave one too): each member's role reads its own row of dir_budgets and of
    budget_overrides only; the org admin reads them all (issue 27: with one budget in the
    directory, a `true` policy on dir_budgets went unnoticed)."""
    from usage_tui.store.postgres import PostgresStore

    owner, dsns, _, doc = central
    doc = copy.deepcopy(doc)
    doc["budgets"].append({"user": "carol", "limit_usd": 20.0, "window": "daily"})
    store = PostgresStore(owner)
    store.load_directory(doc)
    for user, limit in (("bob", 7.0), ("carol", 5.0), ("dave", 3.0)):
        store.set_budget_override(user, limit, "weekly", "alice", "2026-11-24T12:00:00Z")
    store.close()
    assert sorted(raw(owner, 'SELECT "user" FROM dir_budgets')) == [("bob",), ("carol",)]
    for user in ("bob", "carol"):
        assert raw(dsns[user], 'SELECT "user", limit_usd FROM dir_budgets') == [
            (user, {"bob": 10.0, "carol": 20.0}[user])]
        assert raw(dsns[user], 'SELECT "user", limit_usd FROM budget_overrides') == [
            (user, {"bob": 7.0, "carol": 5.0}[user])]
    assert sorted(raw(dsns["alice"], 'SELECT "user" FROM dir_budgets')) == [("bob",), ("carol",)]
    assert sorted(raw(dsns["alice"], 'SELECT "user" FROM budget_overrides')) == [("bob",), ("carol",), ("dave",)]


# -- the write lock (issue 27) ----------------------------------------------------------------------
def test_a_member_holding_the_old_advisory_lock_or_planning_an_insert_does_not_stop_the_owners_writes(
        central, tmp_path, monkeypatch):
    """Issue 27: any role could take the advisory lock every write took (advisory locks need no
    privilege) and hold it: every import, directory load and `budget set` then failed with "the
    store is busy". Neither that nor a table lock held while a member's INSERT is planned (the
    plan folds a slow IMMUTABLE function of bob's own, before his privileges are checked)
    keeps the owner from writing now."""
    import threading

    from usage_tui.store import sqlite as sqlite_store

    owner, dsns, _, _ = central
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 200)  # the writer's wait (read at open)
    (schema,) = raw(owner, "SELECT current_schema()")[0]
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "n1", "ts": "2026-11-22T10:00:00Z", "provider": "p", "model": "m", "user": "bob"}\n')
    squatter = psycopg.connect(dsns["bob"], autocommit=True)
    planner = psycopg.connect(dsns["bob"], autocommit=True)
    try:
        squatter.execute("SELECT pg_advisory_lock(1970495847, hashtext(%s))", (schema,))  # as the attack did
        planner.execute("CREATE FUNCTION pg_temp.slow() RETURNS text IMMUTABLE LANGUAGE sql "
                        "AS 'SELECT pg_sleep(3)::text'")
        refused = []

        def insert_slowly() -> None:
            try:
                planner.execute("INSERT INTO meta SELECT pg_temp.slow(), 'x'")
            except psycopg.errors.InsufficientPrivilege as exc:
                refused.append(exc)

        thread = threading.Thread(target=insert_slowly)
        thread.start()
        time.sleep(0.5)  # bob's INSERT is being planned: it holds ROW EXCLUSIVE on meta
        assert raw(owner, "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                          f"WHERE c.relname = 'meta' AND c.relnamespace = '{schema}'::regnamespace "
                          "AND l.mode = 'RowExclusiveLock' AND l.granted") == [(1,)]
        result = run("import", str(good), "--db", owner)
        assert (result.exit_code, result.output) == (0, "imported 1, replaced 0, unchanged 0, rejected 0\n")
        assert run("budget", "set", "bob", "--limit-usd", "5", "--window", "weekly", "--db", owner).exit_code == 0
        thread.join()
        assert len(refused) == 1  # and then his INSERT was refused
    finally:
        squatter.close()
        planner.close()


@pytest.mark.parametrize("user", ["bob", "carol"])
def test_only_a_role_that_writes_can_take_the_write_lock(central, user):
    from usage_tui.store.postgres import WRITE_LOCK

    _, dsns, _, _ = central
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a member, a team admin
        raw(dsns[user], WRITE_LOCK)
    for mode in ("SHARE ROW EXCLUSIVE", "EXCLUSIVE"):  # nor lock meta as a writer would
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            raw(dsns[user], f"LOCK TABLE meta IN {mode} MODE")
    assert raw(dsns["alice"], WRITE_LOCK) == [(1,)]  # the org admin writes: she takes it


def test_a_central_store_at_schema_8_gets_the_id_hash_in_place(central):
    """Schema 9 on PostgreSQL: the id's hash beside each record, computed in SQL as SQLite's
    store computes it in Python (the first 8 bytes of the MD5 of the id, signed); the records and
    the primary key stay; a write after it adds the same hash."""
    import hashlib

    from usage_tui.store.postgres import PostgresStore

    owner, dsns, _, _ = central
    with psycopg.connect(owner, autocommit=True) as conn:  # as schema 8 left it
        conn.execute("ALTER TABLE records DROP COLUMN id_hash")
        conn.execute("UPDATE meta SET value = '8' WHERE key = 'schema_version'")
    records = raw(owner, "SELECT id, cost_nano FROM records ORDER BY id")
    assert records
    told: list[str] = []
    migrated = PostgresStore(owner, on_upgrade=told.append)
    assert told == [f"upgrading {migrated.path} from schema 8 to 9"] and migrated.schema_version() == 9
    assert raw(owner, "SELECT id, cost_nano FROM records ORDER BY id") == records

    def md5_64(text: str) -> int:
        return int.from_bytes(hashlib.md5(text.encode()).digest()[:8], "big", signed=True)

    assert raw(owner, "SELECT id, id_hash FROM records ORDER BY id") == [(rid, md5_64(rid)) for rid, _ in records]
    migrated.close()
