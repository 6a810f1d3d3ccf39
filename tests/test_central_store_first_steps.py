"""The central store's first steps as a new user takes them (issue 29, point 5; the steps of
docs/central-store.md) on PostgreSQL 15+: each step that goes wrong says what to do.

- `store init` by the owner-to-be in a database someone else owns (PostgreSQL 15: only the
  database's owner creates tables in schema public): the way out (ALTER DATABASE … OWNER TO,
  or `createdb -O ROLE`), never "ask the store's owner", whom the one asking is to be; with
  the database made theirs, the same command creates the store.
- A role or database that does not exist: how to create it.
- The owner role, not in the directory: its first view says who they are and the way in.
- A member's import: one line saying who may write, not the database's raw refusal.

Roles and databases have unique names and are dropped after.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from click.testing import CliRunner
from psycopg import sql

from usage_tui.cli import cli
from usage_tui.identity import not_listed_note
from usage_tui.store import Store

from .conftest import DIRECTORY, require_pg, write

RECORD = {"id": "b1", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 2.0}


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def dsn_for(base: str, role: str, database: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.netloc.rsplit('@', 1)[-1]}", path=f"/{database}",
                                     query=""))


@pytest.fixture
def newcomer(monkeypatch):
    """(admin connection, owner-to-be role, a member's role, a database owned by the admin)."""
    base = require_pg()
    tag = uuid.uuid4().hex[:8]
    owner, member, database = f"usage_tui_{tag}_owner", f"usage_tui_{tag}_bob", f"usage_tui_{tag}_db"
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    for name in ("USAGE_TUI_USER", "USAGE_TUI_DB"):
        monkeypatch.delenv(name, raising=False)
    admin = psycopg.connect(base, autocommit=True)
    for role in (owner, member):
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))  # the admin's, as `createdb` makes it
    try:
        yield base, admin, owner, member, database
    finally:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
        for role in (owner, member):
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        admin.close()


def server_version(admin) -> int:
    return admin.info.server_version // 10000


def test_store_init_in_a_database_owned_by_someone_else_says_how_to_own_it(newcomer):
    base, admin, owner, _, database = newcomer
    if server_version(admin) < 15:
        pytest.skip("before PostgreSQL 15 everyone may create tables in schema public")
    db = dsn_for(base, owner, database)
    admin_name = admin.execute("SELECT current_user::text").fetchone()[0]
    refused = run("store", "init", "--db", db)
    assert refused.exit_code == 3 and refused.output.count("\n") == 1, refused.output
    assert (f"role {owner} may not create the store's tables in schema public of database {database}, which "
            f"belongs to {admin_name}") in refused.output
    assert f"ALTER DATABASE {database} OWNER TO {owner}" in refused.output
    assert f"`createdb -O {owner} NAME`" in refused.output
    assert "ask the store's owner" not in refused.output
    # doing what it says makes the same command work
    admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(owner)))
    done = run("store", "init", "--db", db)
    assert done.exit_code == 0, done.output
    assert "Created" in done.output and "(schema " in done.output


def test_a_role_or_database_that_does_not_exist_says_how_to_create_it(newcomer):
    base, _, owner, _, _ = newcomer
    nobody = f"{owner}_nobody"
    no_role = run("spend", "summary", "--db", dsn_for(base, nobody, "postgres"))
    assert no_role.exit_code == 2 and no_role.output.count("\n") == 1, no_role.output
    assert f'role "{nobody}" does not exist (a superuser creates it: `createuser {nobody}`' in no_role.output
    assert "each person's role is named as their login in the directory" in no_role.output
    no_db = run("spend", "summary", "--db", dsn_for(base, owner, f"{owner}_nodb"))
    assert no_db.exit_code == 2 and no_db.output.count("\n") == 1, no_db.output
    assert f"(create it owned by the store's owner role: `createdb -O OWNER {owner}_nodb`)" in no_db.output


@pytest.fixture
def central(newcomer):
    """The store created and loaded by its owner role (not in the directory, as in the docs'
    steps), bob's login being the member's role, one record of bob's imported."""
    base, admin, owner, member, database = newcomer
    admin.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(owner)))
    db = dsn_for(base, owner, database)
    from usage_tui.store.postgres import PostgresStore

    store = PostgresStore(db)
    doc = {**DIRECTORY, "users": [{**u, "login": member if u["id"] == "bob" else f"{owner}_{u['id']}"}
                                  for u in DIRECTORY["users"]]}
    store.load_directory(doc)
    write(store, RECORD)
    store.close()
    return db, dsn_for(base, member, database), owner


def test_the_owner_outside_the_directory_is_told_who_they_are(central):
    db, _, owner = central
    first = run("spend", "summary", "--db", db)
    assert first.exit_code == 0, first.output
    last = first.output.splitlines()[-1]
    # alice is the directory's org admin: the way to everyone's usage is named with her
    assert last == (f"No attributed usage in this view. You are {owner}, not a user of this store's directory: "
                    f"this personal view holds only usage attributed to {owner}. The store's owner sees a user's "
                    "view with --as USER (--as alice --scope org: everyone's, as org admin alice sees it); a "
                    f"[[users]] entry with login = \"{owner}\", loaded with `usage-tui directory load`, makes you "
                    "a user.")
    assert "import data" not in first.output
    # and the way it names works: bob's $2
    org = run("spend", "summary", "--db", db, "--as", "alice", "--scope", "org")
    assert org.exit_code == 0 and "Total: $2.00" in org.output, org.output


def test_a_members_import_is_one_line_saying_who_may_write(central, tmp_path):
    _, bob_db, _ = central
    jsonl = tmp_path / "mine.jsonl"
    jsonl.write_text('{"id": "b2", "ts": "2026-11-21T10:00:00Z", "provider": "p", "model": "m", "cost_usd": 1.0}\n')
    result = run("import", str(jsonl), "--db", bob_db)
    assert result.exit_code == 3 and result.output.count("\n") == 1, result.output
    role = urlsplit(bob_db).username
    assert f"role {role} may not write to this store: only the store's owner role and org admins' roles " \
           "import, load the directory or set budgets" in result.output
    assert "permission denied" not in result.output
    # and bob still reads his own usage
    mine = run("spend", "summary", "--db", bob_db)
    assert mine.exit_code == 0 and "Total: $2.00" in mine.output, mine.output


# -- the same first view on SQLite, and in the TUI -------------------------------------------------------
def test_a_file_owner_outside_the_directory_is_told_who_they_are(tmp_path, monkeypatch):
    from usage_tui.identity import os_login

    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    store = Store(tmp_path / "s.db")
    store.load_directory(DIRECTORY)  # no user has this process's login
    write(store, RECORD)
    store.close()
    me = os_login()
    result = run("spend", "summary", "--db", str(tmp_path / "s.db"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith(f"No attributed usage in this view. You are {me}, not a user")
    # a directory user's empty view keeps the usual hint
    dave = run("spend", "summary", "--db", str(tmp_path / "s.db"), "--as", "dave")
    assert dave.output.splitlines()[-1].endswith("or import data (usage-tui import).")


def test_the_note_is_for_viewers_the_directory_does_not_list():
    from usage_tui.directory import parse_directory

    directory = parse_directory(DIRECTORY)
    assert not_listed_note(directory, "bob") is None
    assert "--as alice --scope org" in not_listed_note(directory, "someone")
    no_admin = parse_directory({"users": [{"id": "u"}]})
    assert "(--as" not in not_listed_note(no_admin, "someone")  # no org admin to name


async def test_the_tuis_empty_table_says_who_they_are(tmp_path, monkeypatch):
    from textual.widgets import Static

    from usage_tui.app import create_app

    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    store = Store(tmp_path / "s.db")
    store.load_directory(DIRECTORY)
    write(store, RECORD)
    app = create_app(store, "stranger", poll_interval=None)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(50):
            await pilot.pause(0.05)
            if app.settled:
                break
        text = str(app.query_one("#table-empty", Static).render())
    assert "You are stranger, not a user of this store's directory" in text
    assert "import data" not in text
