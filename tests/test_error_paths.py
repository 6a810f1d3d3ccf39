"""Error paths the coverage report showed untested (issue 27), as a user meets them: one line on
stderr, the documented exit code, nothing changed.

- PostgreSQL: a store of a newer schema; an older schema opened by a role that is not the
  owner; serve's pool with no free connection; a directory load that
  would demote the org admin loading it.
- SQLite: a new store in a folder this user may not write (or create a folder in); a store
  this user may not read.
- Import: an input file this user may not read (alone, or in a folder); input that is not
  UTF-8 from its first line (a file, stdin).

The permission cases run as a user without the permission: the OS user nobody when the tests
run as root (root may write anything), else this user after a chmod (tests/test_store_access.py's
`reader`).
"""

from __future__ import annotations

import asyncio
import copy
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.store import SCHEMA_VERSION

from . import test_postgres_rls as rls
from . import test_store_access as access
from .conftest import DIRECTORY, pg_schema, require_pg, write

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
central, reader = rls.central, access.reader  # fixtures: a store with real roles; who lacks the permission
NOW = "2026-11-24T12:00:00Z"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def set_schema_version(dsn: str, version: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(version),))


def schema_version(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]


# -- PostgreSQL --------------------------------------------------------------------------------------
def test_a_store_of_a_newer_schema_is_refused_and_left_alone():
    require_pg()
    with pg_schema("newer") as (_, dsn):
        assert run("store", "init", "--db", dsn).exit_code == 0
        set_schema_version(dsn, SCHEMA_VERSION + 1)
        message = (f"usage-tui: error: {dsn}: written by a newer usage-tui (schema {SCHEMA_VERSION + 1}, "
                   f"this one knows {SCHEMA_VERSION}); upgrade usage-tui\n")
        for command in (["spend", "summary"], ["import", str(SAMPLE / "example.jsonl")], ["store", "init"],
                        ["serve", "--port", "0"]):
            result = run(*command, "--db", dsn)
            assert (result.exit_code, result.stdout, result.stderr) == (2, "", message), command
        assert schema_version(dsn) == str(SCHEMA_VERSION + 1)


def test_an_older_schema_opened_by_a_role_that_is_not_the_owner_is_one_line(central):
    """Only the owner role upgrades a store (test_postgres_rls.py has the owner's upgrade): an
    org admin's role is told, in one line and exit 2, to run `store init` as the owner, whatever
    the command, and nothing moves."""
    owner, dsns, _, _ = central
    old = SCHEMA_VERSION - 1
    set_schema_version(owner, old)  # as an older usage-tui left it (the refusal comes before any table is read)
    message = (f"usage-tui: error: {dsns['alice']}: the store is at schema {old} and this usage-tui needs "
               f"{SCHEMA_VERSION}: run `usage-tui store init` as its owner role\n")
    for command in (["spend", "summary"], ["store", "init"], ["directory", "load", str(SAMPLE / "directory.toml")],
                    ["budget", "check", "bob"]):
        result = run(*command, "--db", dsns["alice"])
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", message), command
    assert schema_version(owner) == str(old)


def test_a_pool_with_no_free_connection_is_a_503_that_names_it(monkeypatch):
    """serve on PostgreSQL with a pool of one: a check holds it (its read waits for a lock held
    elsewhere), the next gets no connection within the busy timeout and is a 503 saying so;
    once the lock goes, the first answers."""
    from usage_tui import server
    from usage_tui.store import sqlite as sqlite_store
    from usage_tui.store.postgres import PostgresStore

    require_pg()
    monkeypatch.setenv("USAGE_TUI_NOW", NOW)
    monkeypatch.setattr(server, "POOL_SIZE", 1)
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 300)  # read when the store opens
    with pg_schema("pool") as (_, dsn):
        store = PostgresStore(dsn)
        store.load_directory(copy.deepcopy(DIRECTORY))
        write(store, {"id": "b", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob",
                      "cost_usd": 12.0})
        store.close()
        app = server.create_server_app(dsn)
        locker = psycopg.connect(dsn)
        locker.execute("LOCK TABLE meta IN ACCESS EXCLUSIVE MODE")  # every read of the directory waits

        async def scenario():
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         timeout=30) as client:
                first = asyncio.create_task(client.get("/v1/budget/check", params={"user": "bob"}))
                await asyncio.sleep(1.0)  # it holds the pool's connection, waiting for the lock
                second = await client.get("/v1/budget/check", params={"user": "bob"})
                locker.rollback()  # the lock goes
                return await first, second

        try:
            first, second = asyncio.run(scenario())
        finally:
            locker.close()
    assert (second.status_code, second.json()) == (
        503, {"error": f"budget check unavailable: {dsn}: no free database connection within 300 ms (all 1 busy)"})
    assert (first.status_code, first.headers["retry-after"]) == (429, "471600")


def test_a_directory_load_that_would_demote_the_loader_is_refused(central, tmp_path):
    owner, dsns, roles, doc = central
    demoted = copy.deepcopy(doc)
    for user in demoted["users"]:
        if user["id"] == "alice":
            user["role"] = "member"  # alice, loading it as her own role, would no longer be an org admin
    path = tmp_path / "demoted.toml"
    path.write_text(toml(demoted))
    result = run("directory", "load", str(path), "--db", dsns["alice"])
    assert (result.exit_code, result.stderr) == (
        3, f"usage-tui: error: {dsns['alice']}: role {roles['alice']} would not be an org admin in this directory: "
           "only the store's owner role may load it\n")
    # nothing changed: alice is still an org admin, the org scope hers
    assert run("spend", "summary", "--scope", "org", "--db", dsns["alice"]).exit_code == 0


def toml(doc: dict) -> str:
    """A directory document as TOML (the few shapes DIRECTORY uses)."""
    def value(v):
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = []
    for name, section in doc.items():
        for entry in section if isinstance(section, list) else [section]:
            lines.append(f"[[{name}]]" if isinstance(section, list) else f"[{name}]")
            lines += [f"{k} = {value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


# -- SQLite and import permissions ---------------------------------------------------------------------
@pytest.fixture
def world(reader):
    """A folder the reader can reach, with a read-only folder in it and a store only its owner
    (this user) can read; (folder, how to run as the reader, its environment)."""
    folder = Path(tempfile.mkdtemp(prefix="usage-tui-perm-"))
    folder.chmod(0o755)
    (folder / "ro").mkdir(mode=0o555)
    (folder / "ro").chmod(0o555)
    (folder / "rw").mkdir()
    (folder / "rw").chmod(0o1777)  # writable by the reader, sticky as /tmp is (a store may live there)
    command, extra = reader
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_TUI_")}
    env.update(HOME=str(folder / "rw"), USAGE_TUI_NOW=NOW, **extra)
    yield folder, command, env
    for sub in folder.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(folder)


def as_reader(world, *args: str):
    folder, command, env = world
    return access._as_reader(command, list(args), env)


def readable(path: Path, text: bytes | str) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("command", [["sample", "--events", "10"], ["import", "INPUT"],
                                     ["directory", "load", str(SAMPLE / "directory.toml")]])
@pytest.mark.parametrize("where", ["ro/usage.db", "ro/new/usage.db"], ids=["in-it", "in-a-folder-to-make"])
def test_a_new_store_in_a_folder_one_may_not_write_is_one_line(world, command, where):
    folder = world[0]
    data = readable(folder / "in.jsonl", (SAMPLE / "example.jsonl").read_bytes())
    db = folder / where
    result = as_reader(world, *[str(data) if a == "INPUT" else a for a in command], "--db", str(db))
    assert result.returncode == 2, result.stderr
    if where == "ro/usage.db" and command[0] != "sample":  # the writers' own check names the folder
        assert result.stderr == (f"usage-tui: error: cannot write to the store: {db}: no write permission on its "
                                 f"folder {db.parent} (SQLite writes its journal files there): ask its owner, "
                                 "or use --db\n")
    else:
        made = db if where == "ro/usage.db" else db.parent
        assert result.stderr == (f"usage-tui: error: {db}: cannot create the store (Permission denied: {made})\n")
    assert sorted(p.name for p in (folder / "ro").iterdir()) == []


def test_a_store_one_may_not_read_is_one_line(world, tmp_path):
    folder = world[0]
    db = folder / "theirs.db"
    assert run("import", str(SAMPLE / "example.jsonl"), "--db", str(db)).exit_code in (0, 1)
    assert db.stat().st_mode & 0o777 == 0o600  # new stores are their owner's only
    result = as_reader(world, "spend", "summary", "--db", str(db))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and "is not readable" in result.stderr and str(db) in result.stderr
    assert "Traceback" not in result.stderr


def test_an_input_file_one_may_not_read_is_one_line_exit_2(world):
    folder = world[0]
    secret = readable(folder / "secret.jsonl", (SAMPLE / "example.jsonl").read_bytes())
    secret.chmod(0o600)
    db = folder / "rw" / "usage.db"
    result = as_reader(world, "import", str(secret), "--db", str(db))
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", f"usage-tui: error: {secret}: permission denied\n")


def test_in_a_folder_an_input_file_one_may_not_read_stops_the_import_saying_which(world):
    """The readable file before it is kept (nothing good is lost); the import stops at the
    one it cannot read, naming it (exit 2)."""
    folder = world[0]
    logs = folder / "logs"
    logs.mkdir()
    logs.chmod(0o755)
    readable(logs / "a.jsonl", '{"id": "a1", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}\n')
    readable(logs / "b.jsonl", '{"id": "b1", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}\n').chmod(0)
    db = folder / "rw" / "usage.db"
    result = as_reader(world, "import", str(logs), "--db", str(db))
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        2, f"usage-tui: error: {logs / 'b.jsonl'}: Permission denied")
    assert "Traceback" not in result.stderr
    assert [r for (r,) in sqlite3.connect(db).execute("SELECT id FROM records")] == ["a1"]


# -- input that is not UTF-8 ---------------------------------------------------------------------------
LATIN_1 = '{"id": "l1", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "caf\u00e9"}\n'.encode("latin-1")


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_input_that_is_not_utf8_from_its_first_line_is_refused_whole(tmp_path, via):
    db = str(tmp_path / "usage.db")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(LATIN_1 + b'{"id": "l2", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}\n')
    if via == "file":
        result = CliRunner().invoke(cli, ["import", str(path), "--db", db])
    else:
        result = CliRunner().invoke(cli, ["import", "-", "--db", db], input=path.read_bytes())
    name = str(path) if via == "file" else "<stdin>"
    assert (result.exit_code, result.stdout, result.stderr) == (
        2, "", f"usage-tui: error: {name}: not a usage file (binary data)\n")
    assert sqlite3.connect(db).execute("SELECT count(*) FROM records").fetchone() == (0,)


def test_a_line_that_is_not_utf8_after_good_ones_is_one_reject(tmp_path):
    db = str(tmp_path / "usage.db")
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"id": "g1", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}\n' + LATIN_1)
    result = CliRunner().invoke(cli, ["import", str(path), "--db", db])
    assert result.exit_code == 1
    # the reader reports the first bad character: the é of "café" (character 71 of the line)
    assert result.stderr == f"{path}:2: not UTF-8 text (at character {LATIN_1.index(0xE9) + 1} of the line)\n"
    assert [r for (r,) in sqlite3.connect(db).execute("SELECT id FROM records")] == ["g1"]
