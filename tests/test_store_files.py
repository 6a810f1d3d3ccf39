"""A store's files someone else could have put there (issue 27, store/sqlite_files.py).

As a second OS user (Debian's `nobody`, via runuser; tests/os_user.py) in a folder anyone may
add files to (mode 1777, as /tmp): a `-wal` file nobody created (0666) and keeps open would have
read root's writes; an empty store file nobody created would have made nobody the store's
owner. Without a second user: a folder others may write without the sticky bit, a symbolic
link, a -wal file wider than the store. And what the README documents keeps working: a group
given read access (tests/test_os_user_e2e.py, tests/test_store_access.py), your own store in a
sticky folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.store import Store, StoreError

from .os_user import RUNUSER, why_not

LINE = json.dumps({"id": "secret-1", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m", "user": "alice",
                   "cost_usd": 1.0}) + "\n"
as_second_user = pytest.mark.skipif(why_not() is not None, reason=f"second-OS-user test: {why_not()}")


def run(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def usage_file(tmp_path) -> str:
    path = tmp_path / "usage.jsonl"
    path.write_text(LINE)
    return str(path)


@pytest.fixture
def sticky_folder():
    """A folder like /tmp: everyone may add files, only their owner may remove or rename them."""
    folder = Path(tempfile.mkdtemp(prefix="usage-tui-sticky-"))
    folder.chmod(0o1777)
    yield folder
    shutil.rmtree(folder)


def as_nobody(*script: str, keep_open: Path | None = None) -> subprocess.Popen:
    """A shell as nobody running `script` (umask 0); with `keep_open`, it then holds that file
    open until killed, as an attacker reading it would."""
    hold = f'exec 3<"{keep_open}"; echo ready; exec sleep 120' if keep_open else "echo ready"
    shell = subprocess.Popen([RUNUSER, "-u", "nobody", "--", "/bin/sh", "-c", f"umask 0; {'; '.join(script)}; {hold}"],
                             stdout=subprocess.PIPE, text=True)
    assert shell.stdout.readline() == "ready\n"
    return shell


# -- as a second OS user ---------------------------------------------------------------------------
@as_second_user
def test_a_wal_file_someone_else_made_is_refused_before_anything_is_written_through_it(sticky_folder, usage_file):
    db = sticky_folder / "usage.db"
    Store(db).close()  # root's store, 0600, nobody connected (no -wal file)
    wal = Path(f"{db}-wal")
    assert not wal.exists()
    spy = as_nobody(f': > "{wal}"', f'chmod 666 "{wal}"', keep_open=wal)
    try:
        result = run("import", usage_file, "--db", str(db))
        assert (result.exit_code, result.stderr) == (2, (
            f"usage-tui: error: {wal}: belongs to nobody, not to the store's owner root: whoever made it may be "
            "reading the store's writes through it (remove it once no usage-tui is using the store)\n"))
        assert run("spend", "summary", "--db", str(db)).exit_code == 2  # nor read through it
        assert wal.stat().st_size == 0  # (before: every page root wrote, for nobody to read)
    finally:
        spy.kill()
        spy.wait()


@as_second_user
def test_an_empty_store_file_someone_else_made_does_not_make_them_the_owner(sticky_folder, usage_file):
    db = sticky_folder / "usage.db"
    as_nobody(f': > "{db}"', f'chmod 666 "{db}"').wait()
    for command in (("import", usage_file), ("sample",), ("spend", "summary")):
        result = run(*command, "--db", str(db))
        assert result.exit_code == 2, command
        assert result.stderr.count("\n") == 1 and f"{db}: belongs to nobody, " in result.stderr, result.stderr
    assert db.stat().st_size == 0  # (before: root's usage in a store nobody owns, and administers)
    assert sorted(p.name for p in sticky_folder.iterdir()) == ["usage.db"]


@as_second_user
def test_someone_elses_store_is_not_written_even_when_its_file_may_be(sticky_folder, usage_file):
    db = sticky_folder / "usage.db"
    Store(db).close()
    os.chown(db, 65534, -1)  # nobody's store, mode 0666: root could write it
    db.chmod(0o666)
    with pytest.raises(StoreError, match="belongs to nobody, not to you"):
        Store(db)
    with pytest.raises(StoreError, match="where others may add files: only your own store, or the folder's owner's, is opened there"):
        Store(db, readonly=True)


# -- plain permissions ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o2770])
def test_a_folder_others_may_write_without_the_sticky_bit_is_refused(tmp_path, usage_file, mode):
    folder = tmp_path / "shared"
    folder.mkdir()
    db = folder / "usage.db"
    assert run("import", usage_file, "--db", str(db)).exit_code == 0
    folder.chmod(mode)
    result = run("import", usage_file, "--db", str(db))
    who = "everyone" if mode & 0o002 else f"the group {_group(folder)}"
    assert (result.exit_code, result.stderr) == (2, (
        f"usage-tui: error: {db}: its folder {folder} may be written by {who}, without the sticky bit: anyone "
        "who can write there can put their own store or -wal file in place of this one and read what is "
        f"written. Make the folder writable by its owner only (chmod go-w {folder}) or keep the store in a "
        "folder of your own\n"))
    assert run("spend", "summary", "--db", str(db)).exit_code == 2
    folder.chmod(mode | 0o1000)  # with the sticky bit, your own store is yours
    assert run("import", usage_file, "--db", str(db)).exit_code == 0


def _group(folder: Path) -> str:
    import grp

    return grp.getgrgid(folder.stat().st_gid).gr_name


def test_a_store_is_never_opened_through_a_symbolic_link(tmp_path, usage_file):
    real = tmp_path / "real.db"
    assert run("import", usage_file, "--db", str(real)).exit_code == 0
    link = tmp_path / "link.db"
    link.symlink_to(real)
    for command in (("import", usage_file), ("spend", "summary")):
        result = run(*command, "--db", str(link))
        assert (result.exit_code, result.stderr) == (2, (
            f"usage-tui: error: {link}: a symbolic link (usage-tui opens a store only at its own path: name the "
            "file itself)\n")), command
    dangling = tmp_path / "dangling.db"
    dangling.symlink_to(tmp_path / "nothing-yet.db")
    assert run("import", usage_file, "--db", str(dangling)).exit_code == 2
    assert not (tmp_path / "nothing-yet.db").exists()  # (O_CREAT would have followed it)


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_a_wal_or_shm_file_wider_than_the_store_is_refused(tmp_path, usage_file, suffix):
    db = tmp_path / "usage.db"
    Store(db).close()  # nobody connected: no -wal, no -shm
    side = Path(f"{db}{suffix}")
    side.write_bytes(b"")
    side.chmod(0o666)
    result = run("import", usage_file, "--db", str(db))
    assert (result.exit_code, result.stderr) == (2, (
        f"usage-tui: error: {side}: mode 0666 allows more than the store's 0600 (remove it once no usage-tui is "
        f"using the store, or chmod 0600 {side})\n"))
    side.chmod(0o600)  # its own mode: SQLite's own file, as a crash leaves it
    assert run("import", usage_file, "--db", str(db)).exit_code == 0


def test_a_store_is_created_owner_only_even_under_a_loose_umask(tmp_path, usage_file):
    old = os.umask(0)
    try:
        assert run("import", usage_file, "--db", str(tmp_path / "new.db")).exit_code == 0
    finally:
        os.umask(old)
    assert (tmp_path / "new.db").stat().st_mode & 0o777 == 0o600


def test_your_own_store_in_a_sticky_folder_works(sticky_folder, usage_file):
    db = sticky_folder / "usage.db"
    assert run("import", usage_file, "--db", str(db)).exit_code == 0
    result = run("spend", "summary", "--db", str(db))
    assert result.exit_code == 0, result.output
