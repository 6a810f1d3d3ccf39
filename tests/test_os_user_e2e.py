"""The trust contract end to end, as a second real OS user (Debian's `nobody`, via runuser).

The store belongs to root (who runs the tests) and is shared with nobody's group the way the
README's "Who sees what" says: a setgid folder and a file the group may read. In the
directory, the user whose login is `nobody` is bob, a member. As nobody, with $USER=alice in
the environment: bob's personal view works (read-only, no writer connected); --as,
USAGE_TUI_USER, wider scopes, rejects, directory load, budget set and an import of someone
else's usage are refused.

nobody cannot run the test's interpreter (a venv whose python lives under /root, mode 700), so
the test runs the system's python of the same version (same ABI) over a readable copy of
usage_tui and of the packages it imports. It skips, saying why, when not run as root or when
there is no such interpreter; in CI (USAGE_TUI_TEST_REQUIRE_OS_USER, set by .ci/run) it fails.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.store import Store

from .conftest import DIRECTORY, write
from .os_user import RUNUSER, SYSTEM_PYTHON, skip_or_fail

NOW = "2026-11-24T12:00:00Z"



@pytest.fixture(autouse=True)
def second_os_user():
    """Skip, saying why, when the tests cannot become nobody here; in CI fail instead."""
    skip_or_fail()


@pytest.fixture(scope="module")
def world(nobody_libs):
    """A folder nobody can read: the libraries (a link to the session's copy), the shared
    store, an input file."""
    base = Path(tempfile.mkdtemp(prefix="usage-tui-os-user-"))
    try:
        os.chmod(base, 0o755)
        os.symlink(nobody_libs, base / "libs")
        yield base
    finally:
        shutil.rmtree(base)


def _directory() -> dict:
    doc = json.loads(json.dumps(DIRECTORY))
    for user in doc["users"]:
        if user["id"] == "bob":
            user["login"] = "nobody"  # the OS user nobody is bob, a member
    return doc


def _shared_store(folder: Path, writable: bool) -> Path:
    """A store owned by root, shared with nobody's group as the README says (read, or read and
    write), with bob's $12 and alice's $3 this week."""
    folder.mkdir()
    store = Store(folder / "usage.db")
    store.load_directory(_directory())
    write(store,
          {"id": "b1", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 12.0},
          {"id": "a1", "ts": "2026-11-23T11:00:00Z", "provider": "p", "model": "m", "user": "alice", "cost_usd": 3.0})
    store.close()  # no writer connected: the -wal and -shm files are gone
    assert sorted(p.name for p in folder.iterdir()) == ["usage.db"]
    group = pwd.getpwnam("nobody").pw_gid  # nogroup on Debian
    os.chown(folder, -1, group)
    os.chown(folder / "usage.db", -1, group)
    os.chmod(folder, 0o3770 if writable else 0o2750)  # (group-writable: sticky, else refused to everyone)
    os.chmod(folder / "usage.db", 0o660 if writable else 0o640)
    return folder / "usage.db"


@pytest.fixture(scope="module")
def shared(world):
    return _shared_store(world / "shared", writable=False)


@pytest.fixture(scope="module")
def team_writable(world):
    return _shared_store(world / "team", writable=True)


def as_nobody(world: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """usage-tui as the OS user nobody, with $USER and $LOGNAME claiming to be alice."""
    variables = {"PYTHONPATH": str(world / "libs"), "PYTHONDONTWRITEBYTECODE": "1", "USAGE_TUI_NOW": NOW,
                 "USER": "alice", "LOGNAME": "alice", "HOME": str(world), "PATH": "/usr/bin:/bin", **env}
    command = [RUNUSER, "-u", "nobody", "--", "/usr/bin/env", "-i",
               *(f"{k}={v}" for k, v in variables.items()), str(SYSTEM_PYTHON), "-s", "-m", "usage_tui", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=world)


def test_the_store_is_shared_read_only(shared):
    mode = shared.stat().st_mode
    assert (stat.S_IMODE(mode), shared.stat().st_uid) == (0o640, 0)


def test_nobody_sees_their_own_personal_view(world, shared):
    done = as_nobody(world, "spend", "summary", "--db", str(shared), "--format", "json",
                     "--since", "2026-11-20", "--until", "2026-11-24")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["viewer"], report["totals"]["cost_usd"]) == ("bob", 12.0)  # b1 only, not alice's a1
    status = as_nobody(world, "budget", "status", "--db", str(shared), "--format", "json")
    assert (status.returncode, json.loads(status.stdout)["spent_usd"]) == (0, 12.0)


def test_nobody_may_not_impersonate_or_widen(world, shared):
    db = ("--db", str(shared))
    attempts = {
        "--as": (("spend", "summary", *db, "--as", "alice"), {}),
        "USAGE_TUI_USER": (("spend", "summary", *db), {"USAGE_TUI_USER": "alice"}),
        "org scope": (("spend", "summary", *db, "--scope", "org"), {}),
        "alice's budget": (("budget", "status", "alice", *db), {}),
        "rejects": (("rejects", *db), {}),
    }
    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:  # independent processes: at once
        futures = {what: pool.submit(as_nobody, world, *args, **env) for what, (args, env) in attempts.items()}
        refused = {what: future.result() for what, future in futures.items()}
    for what, done in refused.items():
        assert done.returncode == 3, (what, done.returncode, done.stderr)
        assert done.stdout == "" and len(done.stderr.splitlines()) == 1, (what, done.stderr)
    assert refused["--as"].stderr == ("usage-tui: error: bob (OS login nobody) may not act as alice with --as: "
                                      "only org admins and the store's owner may\n")


def test_nobody_may_not_write_a_store_it_does_not_own_even_when_it_can(world, team_writable):
    """Issue 27: usage-tui writes only to a store file its user owns (whoever owns the file
    administers the store). nobody, in the store's group, may write root's file and its folder
    (sticky): an import is refused at once, one line, exit 2, and nothing changes. Before,
    nobody's import added their own usage (the administration was and is refused by role).
    nobody still reads it, as immutable while nobody writes: no -wal or -shm file of nobody's
    is left next to root's store (root would refuse it, store/sqlite_files.py)."""
    db = ("--db", str(team_writable))
    refusal = (f"usage-tui: error: cannot write to the store: {team_writable}: belongs to root, not to you (nobody): usage-tui writes only "
               "to a store file you own (whoever owns it administers the store and reads all that is written to it)\n")
    hostile = world / "hostile.toml"
    hostile.write_text('[[users]]\nid = "bob"\nlogin = "nobody"\nrole = "org_admin"\n')
    os.chmod(hostile, 0o644)
    lines = world / "usage.jsonl"
    lines.write_text(
        json.dumps({"id": "n1", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "cost_usd": 1.0}) + "\n"
        + json.dumps({"id": "n2", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "user": "alice",
                      "cost_usd": 999999.0}) + "\n")
    os.chmod(lines, 0o644)
    refused = {  # (`budget set` checks the role first, as before)
        ("directory", "load", str(hostile)): (2, refusal),
        ("budget", "set", "bob", "--limit-usd", "1000", "--window", "weekly"):
            (3, "usage-tui: error: bob may not set budgets (org admins or the store's owner only)\n"),
        ("import", str(lines)): (2, refusal),  # (before: exit 1, "imported 1, …, rejected 1")
    }
    for command, (code, stderr) in refused.items():
        done = as_nobody(world, *command, *db)
        assert (done.returncode, done.stdout, done.stderr) == (code, "", stderr), command
    store = Store(team_writable)
    assert dict(store.conn.execute("SELECT id, user FROM records")) == {"b1": "bob", "a1": "alice"}
    assert store.directory().users["bob"].role == "member" and store.budget_overrides() == {}
    store.close()
    # nobody still reads it (read-only: the README's sharing), and root, the owner, writes it
    done = as_nobody(world, "budget", "status", "--db", str(team_writable), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["spent_usd"] == 12.0
    assert CliRunner().invoke(cli, ["import", str(lines), *db]).exit_code == 0


_LIVE_READER = """
import sys
from usage_tui.store import Store
store = Store(sys.argv[1], readonly=True)
seen = None
for line in sys.stdin:  # one answer per line the test sends: after each of its writes
    count, version = store.record_count(), store.data_version()
    print(count, version != seen, flush=True)  # the test writes again once it has this line
    seen = version
"""


def test_a_group_reader_follows_the_owners_imports(world):
    """A long-lived reader (the TUI, serve) of a read-only shared store sees each import: first
    as an immutable reader (nobody connected), reopened when the file changes."""
    db = _shared_store(world / "live", writable=False)
    reader = subprocess.Popen(
        [RUNUSER, "-u", "nobody", "--", "/usr/bin/env", "-i", f"PYTHONPATH={world / 'libs'}",
         "PYTHONDONTWRITEBYTECODE=1", str(SYSTEM_PYTHON), "-s", "-c", _LIVE_READER, str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=world)

    def ask() -> str:
        reader.stdin.write("\n")
        reader.stdin.flush()
        return reader.stdout.readline().strip()

    def record(rid: str) -> dict:
        return {"id": rid, "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 1.0}

    try:
        assert ask() == "2 True"  # b1 and a1
        owner = Store(db)
        write(owner, record("r1"))
        owner.close()  # the writer leaves: checkpointed into the main file, -wal removed
        assert ask() == "3 True"
        owner = Store(db)
        write(owner, record("r2"))  # the writer stays connected: its -wal file exists
        assert ask() == "4 True"
        write(owner, record("r3"))
        assert ask() == "5 True"
        assert ask() == "5 False"  # nothing new: no change reported
        owner.close()
    finally:
        reader.stdin.close()
        assert reader.wait(30) == 0, reader.stderr.read()
