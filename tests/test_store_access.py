"""Stores that are not ours, or not writable (issue 13): a foreign SQLite file is never
modified; a store this user may read but not write is read by every read path, and every
write command names the missing permission."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli

from .conftest import write

SAMPLE = Path(__file__).parent.parent / "sample_data"


def run(*args, **kw):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


@pytest.fixture
def foreign(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO photos (name) VALUES ('cat.jpg')")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("command", [
    ("spend", "summary"), ("sample",), ("sample", "--force"), ("import", str(SAMPLE / "example.jsonl")),
    ("directory", "load", str(SAMPLE / "directory.toml")), ("budget", "check", "bob"), ("rejects",),
    ("budget", "status"),
], ids=lambda c: " ".join(c[:2]).replace(str(SAMPLE) + "/", ""))
def test_a_foreign_sqlite_file_is_refused_and_left_as_it_was(foreign, command):
    before = foreign.read_bytes()
    result = run(*command, "--db", str(foreign))
    assert result.exit_code == 2
    assert result.stderr == (f"usage-tui: error: {foreign}: an SQLite database that is not a usage store "
                             "(tables: photos); it was not modified. Name another file with --db\n")
    assert foreign.read_bytes() == before
    assert sorted(p.name for p in foreign.parent.iterdir()) == ["other.db"]  # no -wal, no -shm


@pytest.mark.parametrize("kind", ["empty file", "empty database"])
def test_an_empty_file_becomes_a_store(tmp_path, kind):
    path = tmp_path / "new.db"
    if kind == "empty file":
        path.write_bytes(b"")
    else:
        sqlite3.connect(path).execute("PRAGMA user_version").fetchone()  # a database with nothing in it
    result = run("import", str(SAMPLE / "example.jsonl"), "--db", str(path))
    assert result.exit_code in (0, 1), result.output
    assert sqlite3.connect(path).execute("SELECT count(*) FROM records").fetchone()[0] > 0


# -- a store this user can read but not write ------------------------------------------------------

def _as_reader(reader: list[str], args: list[str], env: dict) -> subprocess.CompletedProcess:
    """Run the CLI as a user who may read the store but not write it or its folder."""
    code = "import sys; from usage_tui.cli import cli; sys.argv[0] = 'usage-tui'; cli()"
    return subprocess.run([*reader, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture
def reader(request) -> tuple[list[str], dict]:
    """How to run python as the reader, and what its environment adds: `nobody` when the tests
    run as root (root writes anything), through the system python over a readable copy of the
    libraries (tests/os_user.py: CI's venv is in a folder nobody can read); else this user,
    after chmod."""
    if os.geteuid() != 0:
        return [sys.executable], {}
    from .os_user import SETPRIV, SYSTEM_PYTHON

    libs = request.getfixturevalue("nobody_libs")  # skips, saying why, when nobody can't be had
    return ([SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups", str(SYSTEM_PYTHON), "-s"],
            {"PYTHONPATH": str(libs), "PYTHONDONTWRITEBYTECODE": "1"})


def reader_login() -> str:
    """The OS login `_as_reader` runs as."""
    import pwd

    return "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture
def readonly_store(store, directory_doc, reader):
    """The conftest store and a record of alice's, copied into a folder that is then made
    read-only, the store file too. The reader's OS login is alice's (an org admin: what she may
    do is refused only for the missing permission)."""
    for user in directory_doc["users"]:
        user["login"] = reader_login() if user["id"] == "alice" else f"{user['login']}-test"
    store.load_directory(directory_doc)
    write(store, {"id": "r1", "ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                  "user": "alice", "cost_usd": 2.5})
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    folder = Path(tempfile.mkdtemp(prefix="usage-tui-ro-"))
    path = folder / "usage.db"
    shutil.copyfile(store.path, path)
    path.chmod(0o444)
    folder.chmod(0o555)
    command, extra = reader
    env = {**os.environ, "USAGE_TUI_NOW": "2026-11-24T12:00:00Z", "HOME": str(folder), **extra}
    env.pop("USAGE_TUI_USER", None)
    yield path, env, command
    folder.chmod(0o755)
    shutil.rmtree(folder)


@pytest.mark.parametrize(("command", "first_line"), [
    (["spend", "summary", "--format", "csv"], "row,cost_usd,requests,tokens,prompt_tokens,"
     "completion_tokens,cached_input_tokens,context_tokens,unpriced_requests,share"),
    (["budget", "status", "bob", "--format", "json"], "{"),
    (["budget", "check", "bob"], "200 OK"),
    (["rejects"], "No rejected lines."),
], ids=["spend-summary", "budget-status", "budget-check", "rejects"])
def test_every_read_path_reads_a_store_it_cannot_write(readonly_store, command, first_line):
    path, env, reader = readonly_store
    before = path.read_bytes()
    result = _as_reader(reader, [*command, "--db", str(path)], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == first_line
    if command[0] == "spend":
        assert result.stdout.splitlines()[1].startswith("gpt-4o,2.5,1,")  # alice's record
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["usage.db"]


def test_the_tui_opens_a_store_it_cannot_write(readonly_store):
    path, env, reader = readonly_store
    code = ("from usage_tui.app import create_app; from usage_tui.query import run_query; "
            f"from usage_tui.model import QuerySpec; import datetime as d; app = create_app({str(path)!r}, 'alice', "
            "poll_interval=None); r = run_query(app.store, QuerySpec('alice', since=d.date(2026, 11, 1), "
            "until=d.date(2026, 11, 24))); print(app.store.readonly, r.totals.cost_nano)")
    result = subprocess.run([*reader, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "2500000000"]


@pytest.mark.parametrize("command", [
    ["import", str(SAMPLE / "example.jsonl")], ["directory", "load", str(SAMPLE / "directory.toml")],
    ["budget", "set", "bob", "--limit-usd", "5", "--window", "daily"], ["sample"],
], ids=["import", "directory-load", "budget-set", "sample"])
def test_write_commands_name_the_missing_permission(readonly_store, command):
    path, env, reader = readonly_store
    result = _as_reader(reader, [*command, "--db", str(path)], env)
    assert result.returncode == 2
    assert result.stderr == (f"usage-tui: error: cannot write to the store: {path}: no write permission on "
                             "the file (it can only be read: ask its owner, or use --db)\n")


def test_a_writable_file_in_a_folder_that_is_not_names_the_folder(readonly_store):
    path, env, reader = readonly_store
    path.chmod(0o666)  # the file may be written, its folder not: SQLite could not write its journal
    result = _as_reader(reader, ["import", str(SAMPLE / "example.jsonl"), "--db", str(path)], env)
    assert result.returncode == 2
    assert result.stderr == (f"usage-tui: error: cannot write to the store: {path}: no write permission on its "
                             f"folder {path.parent} (SQLite writes its journal files there): ask its owner, "
                             "or use --db\n")
    reading = _as_reader(reader, ["spend", "summary", "--db", str(path)], env)
    assert reading.returncode == 0, reading.stderr


# -- an immutable reader and the owner's checkpoint -------------------------------------------------

@pytest.fixture
def immutable_reader(store, monkeypatch):
    """A read-only Store whose connection is immutable, as `_connect_readonly` opens it for a
    reader without write access to the folder while nobody is connected (root, who runs the
    tests, always has that access, so the connection is opened that way here)."""
    from usage_tui.store import sqlite as store_module

    write(store, {"id": "r1", "ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                  "user": "alice", "cost_usd": 2.5})
    store.close()  # the last connection: checkpointed, no -wal left

    def immutable(path: Path):
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                               isolation_level=None, check_same_thread=False)
        return conn, store_module.file_stamp(path)

    monkeypatch.setattr(store_module, "_connect_readonly", immutable)
    reader = store_module.Store(store.path, create=False, readonly=True)
    yield reader
    reader.close()


def torn() -> sqlite3.DatabaseError:
    return sqlite3.DatabaseError("database disk image is malformed")


def test_an_immutable_reader_reopens_and_retries_a_torn_read_once(immutable_reader):
    """A page changed under an immutable reader (the owner checkpointing during a query) reads
    as SQLITE_CORRUPT: reopen and run the read once more; a second failure is raised."""
    reader, calls = immutable_reader, []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise torn()
        return reader.conn.execute("SELECT cost_nano FROM records").fetchone()[0]

    assert reader.reading(flaky) == 2_500_000_000 and len(calls) == 2
    assert reader.data_version()[0] == 1  # reopened once: the TUI's live refresh sees a change
    calls.clear()

    def broken():
        calls.append(1)
        raise torn()

    with pytest.raises(sqlite3.DatabaseError, match="malformed"):
        reader.reading(broken)
    assert len(calls) == 2
    calls.clear()

    def other():
        calls.append(1)
        raise sqlite3.OperationalError("no such table: nothing")

    with pytest.raises(sqlite3.OperationalError):  # not a torn read: not retried
        reader.reading(other)
    assert len(calls) == 1


def test_a_reader_that_is_not_immutable_does_not_retry(store):
    calls = []

    def broken():
        calls.append(1)
        raise torn()

    with pytest.raises(sqlite3.DatabaseError):
        store.reading(broken)
    assert len(calls) == 1


def test_views_and_budgets_go_through_the_retry(immutable_reader, monkeypatch):
    from datetime import date

    from usage_tui import budget, query
    from usage_tui.model import QuerySpec

    for module, name in ((query, "execute"), (budget, "_budget_status")):
        real, failed = getattr(module, name), []

        def once(*args, real=real, failed=failed, **kwargs):
            if not failed:
                failed.append(1)
                raise torn()
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, once)
    view = query.run_query(immutable_reader, QuerySpec("alice", since=date(2026, 11, 1), until=date(2026, 11, 24)))
    assert view.totals.cost_nano == 2_500_000_000  # alice's r1, $2.50
    assert budget.budget_status(immutable_reader, "bob").spent_usd == 0.0  # bob's $10 weekly: nothing spent
