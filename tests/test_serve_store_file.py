"""serve follows its store's path (issue 27, failure 3): a store file renamed, replaced, deleted
or truncated under a running serve.

Before: each of serve's threads kept the SQLite connection it had, so after a replace, 300
concurrent checks split between the new file and the old one, a deleted store kept answering
from the gone inode, and /healthz said 200 after the deletion. Now every request compares the
path's device, inode and size with the file serve has open: a different file is opened in its
place (a store replaced by a rename, the usual way to publish a rebuilt one, is followed
without a restart); no file, an empty or shrunken one, or one that is not a usable store is a
503 (a refusal for every documented hook) until the path names a usable store again.

Two stores, now pinned at Tue 2026-11-24T12:00Z, tests/conftest.py's directory (bob: $10
weekly): OLD, where bob spent $12 (over: 429), and NEW, where he spent $1 (allowed: 200).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from usage_tui.server import create_server_app
from usage_tui.store import POSTGRES, SCHEMA_VERSION, Store

from .conftest import DIRECTORY, location, write

NOW = "2026-11-24T12:00:00Z"


def make_store(path: Path, bob_usd: float) -> Path:
    store = Store(path)
    store.load_directory(DIRECTORY)
    write(store, {"id": "b1", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob",
                  "cost_usd": bob_usd})
    store.close()  # the last connection: SQLite folds the -wal file back in and removes it
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def serving(tmp_path, monkeypatch):
    """serve (in a thread, real loopback connections) on an OLD store: (base URL, store path)."""
    monkeypatch.setenv("USAGE_TUI_NOW", NOW)
    path = make_store(tmp_path / "usage.db", 12.0)
    config = uvicorn.Config(create_server_app(path), host="127.0.0.1", port=0, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", path
    server.should_exit = True
    thread.join(10)


def statuses(base: str, count: int) -> list[int]:
    """`count` checks of bob at once (each on its own connection, so they spread over serve's
    thread pool, each thread with its own SQLite connection)."""
    async def many():
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            return await asyncio.gather(*(client.get(f"{base}/v1/budget/check", params={"user": "bob"})
                                          for _ in range(count)))

    return [r.status_code for r in asyncio.run(many())]


def health(base: str) -> tuple[int, dict]:
    r = httpx.get(f"{base}/healthz", timeout=10)
    return r.status_code, r.json()


def test_a_store_replaced_by_a_rename_is_followed_by_every_request(serving, tmp_path):
    base, path = serving
    assert statuses(base, 60) == [429] * 60  # many of serve's threads hold a connection to OLD
    assert len([fd for fd in os.listdir("/proc/self/fd") if fd_target(fd) == str(path)]) > 1
    new = make_store(tmp_path / "new.db", 1.0)
    os.replace(new, path)
    assert statuses(base, 300) == [200] * 300
    assert health(base) == (200, {"ok": True})
    # the old file is let go: no descriptor of this process (serve's) still names it
    gc.collect()
    assert [fd_target(fd) for fd in os.listdir("/proc/self/fd") if fd_target(fd) == f"{path} (deleted)"] == []


def fd_target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def test_a_renamed_or_deleted_store_is_a_503_until_one_is_back(serving, tmp_path):
    base, path = serving
    assert statuses(base, 20) == [429] * 20
    os.rename(path, tmp_path / "elsewhere.db")
    gone = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}, timeout=10)
    assert (gone.status_code, gone.json()) == (
        503, {"error": f"budget check unavailable: {path}: the store file is gone"})
    assert statuses(base, 50) == [503] * 50
    assert health(base) == (503, {"ok": False, "error": f"{path}: the store file is gone"})
    auth = httpx.get(f"{base}/v1/budget/auth", headers={"x-api-key": "k_team"}, timeout=10)
    assert auth.status_code == 503  # /auth too: never an allow
    os.rename(tmp_path / "elsewhere.db", path)  # back: the same file as before, answered again
    assert statuses(base, 20) == [429] * 20
    os.remove(path)
    assert statuses(base, 50) == [503] * 50
    assert health(base)[0] == 503


def test_a_truncated_store_is_a_503(serving):
    base, path = serving
    assert statuses(base, 20) == [429] * 20
    os.truncate(path, 0)  # same inode, nothing left in it
    assert statuses(base, 50) == [503] * 50
    assert health(base) == (503, {"ok": False, "error": f"{path}: the store file is empty"})
    # or cut short (same inode again), to a page boundary: SQLite then finds it malformed
    data = make_store(path.with_name("full.db"), 12.0).read_bytes()
    path.write_bytes(data[: len(data) // 2 // 4096 * 4096])
    assert statuses(base, 20) == [503] * 20
    assert health(base)[0] == 503


def test_healthz_checks_the_schema_not_only_that_a_read_succeeds(serving, tmp_path):
    base, path = serving
    assert health(base) == (200, {"ok": True})
    # a store of another schema version moved into place
    newer = make_store(tmp_path / "newer.db", 1.0)
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    os.replace(path, tmp_path / "kept.db")
    os.replace(newer, path)
    assert health(base) == (503, {"ok": False, "error": f"{path}: written by a newer usage-tui (schema 99, "
                                                        f"this one knows {SCHEMA_VERSION}); upgrade usage-tui"})
    assert statuses(base, 10) == [503] * 10
    os.replace(tmp_path / "kept.db", path)
    assert health(base) == (200, {"ok": True})
    # the store's budget overrides table dropped (in the file serve has open): its version still
    # reads as before, its checks fail
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE budget_overrides")
    conn.close()
    assert health(base) == (503, {"ok": False, "error": f"{path}: table budget_overrides is missing or "
                                                        "unreadable (no such table: budget_overrides)"})


async def test_healthz_on_each_engine(engine_store, monkeypatch):
    """On PostgreSQL too: 200 for a whole store, 503 naming a table that is gone."""
    monkeypatch.setenv("USAGE_TUI_NOW", NOW)
    app = create_server_app(location(engine_store))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        ok = await client.get("/healthz")
        assert (ok.status_code, ok.json()) == (200, {"ok": True})
        if engine_store.dialect == POSTGRES:
            import psycopg

            with psycopg.connect(engine_store.dsn, autocommit=True) as conn:
                conn.execute("DROP TABLE roll_org_block")
        else:
            with sqlite3.connect(engine_store.path) as conn:
                conn.execute("DROP TABLE roll_org_block")
            conn.close()
        gone = await client.get("/healthz")
    assert (gone.status_code, gone.json()["ok"]) == (503, False)
    assert "table roll_org_block is missing or unreadable" in gone.json()["error"]
