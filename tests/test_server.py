"""The gateway endpoint over real loopback connections (uvicorn in a thread)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from usage_tui.server import create_server_app

from .conftest import write


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(store, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    write(store, {"id": "b", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob",
                  "cost_usd": 12.0})
    port = free_port()
    config = uvicorn.Config(create_server_app(store.path), host="127.0.0.1", port=port, log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


def test_over_budget_is_429_with_retry_after(server):
    r = httpx.get(f"{server}/v1/budget/check", params={"user": "bob"})
    # bob spent $12 of $10 this week; the week ends 2026-11-29T23:00Z: 5 days 11 hours = 471,600 s
    assert r.status_code == 429
    assert r.headers["retry-after"] == "471600"
    assert r.json()["over"] is True and r.json()["retry_after_s"] == 471_600
    again = httpx.get(f"{server}/v1/budget/check", params={"user": "bob"})
    assert again.status_code == 429  # a retry before the window ends gets another 429


def test_allowed_and_errors(server):
    assert httpx.get(f"{server}/v1/budget/check", params={"user": "alice"}).status_code == 200  # no budget
    assert httpx.get(f"{server}/v1/budget/check").status_code == 400
    missing = httpx.get(f"{server}/v1/budget/check", params={"user": "nobody"})
    assert missing.status_code == 404 and "unknown user" in missing.json()["error"]
    assert httpx.get(f"{server}/healthz").json() == {"ok": True}


def test_concurrent_checks(server):
    async def many():
        async with httpx.AsyncClient() as client:
            users = ["bob", "alice"] * 20
            return await asyncio.gather(*(client.get(f"{server}/v1/budget/check", params={"user": u})
                                          for u in users))

    codes = [r.status_code for r in asyncio.run(many())]
    assert codes == [429, 200] * 20


def test_keeps_answering_while_records_are_written(server, store):
    for i in range(5):
        write(store, {"id": f"x{i}", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "m",
                      "user": "carol", "cost_usd": 1.0})
        assert httpx.get(f"{server}/v1/budget/check", params={"user": "bob"}).status_code == 429
