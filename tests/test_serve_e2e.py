"""`usage-tui serve` itself, as a process: its banner, its answers, its token file, a port in use.

The store is tests/conftest.py's directory with bob $12 over his $10 weekly budget; now is
pinned at Tue 2026-11-24T12:00Z, so bob's Retry-After runs to Mon 2026-11-30 00:00 Berlin
(Sun 23:00Z): 5 days 11 hours = 432,000 + 39,600 = 471,600 s.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.server import WORKER_CONFIG_ENV, worker_app
from usage_tui.store import open_store

from .conftest import location, write

NOW = "2026-11-24T12:00:00Z"


@pytest.fixture
def db(store):
    write(store, {"id": "b1", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob",
                  "cost_usd": 12.0})
    store.close()
    return str(store.path)


@pytest.fixture
def engine_db(engine_store):
    """The same store as `db`, on each engine (SQLite file, or a PostgreSQL schema as a DSN)."""
    write(engine_store, {"id": "b1", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob",
                         "cost_usd": 12.0})
    engine_store.close()
    return location(engine_store)


def serve_command(db: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "usage_tui", "serve", "--db", db, *args]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_TUI_")}
    return {**env, "USAGE_TUI_NOW": NOW, **extra}


@pytest.fixture
def start_serve():
    """Start `usage-tui serve --port 0` and return (base URL, process) once it listens."""
    started: list[subprocess.Popen] = []

    def start(db: str, *args: str, env: dict[str, str] | None = None, preexec_fn=None) -> tuple[str, subprocess.Popen]:
        proc = subprocess.Popen(serve_command(db, "--port", "0", *args), env=env or child_env(),
                                stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
        started.append(proc)
        banner = proc.stderr.readline()  # the first line names the port the OS gave
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
        assert found, f"no banner: {banner!r} (exit {proc.poll()})"
        base = f"http://127.0.0.1:{found[1]}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                return base, proc
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.05)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


def test_serve_answers_and_stops_cleanly(db, start_serve):
    base, proc = start_serve(db)
    over = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"})
    assert (over.status_code, over.headers["retry-after"], over.json()) == (
        429, "471600", {"user": "bob", "over": True, "retry_after_s": 471_600,
                        "window_end": "2026-11-30T00:00:00+01:00"})
    assert httpx.get(f"{base}/healthz").json() == {"ok": True}
    assert httpx.get(f"{base}/v1/budget/auth", headers={"x-api-key": "k_bob"}).status_code == 403
    assert httpx.get(f"{base}/v1/budget/auth", headers={"x-api-key": "nope"}).status_code == 403
    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (the conventional end)
    assert proc.wait(10) == -signal.SIGTERM
    assert proc.stderr.read() == ""  # no traceback, no access log


def test_serve_with_a_token_file(db, start_serve, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("tok-123\n")
    base, _ = start_serve(db, "--token-file", str(token_file))
    full = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}, headers={"Authorization": "Bearer tok-123"})
    assert (full.status_code, full.json()["spent_usd"], full.json()["limit_usd"]) == (429, 12.0, 10.0)
    unknown = httpx.get(f"{base}/v1/budget/check", params={"user": "zed"}, headers={"Authorization": "Bearer tok-123"})
    assert unknown.status_code == 404


def test_serve_with_the_token_from_the_environment(db, start_serve):
    base, _ = start_serve(db, env=child_env(USAGE_TUI_SERVE_TOKEN="env-tok"))
    full = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}, headers={"Authorization": "Bearer env-tok"})
    assert full.json()["limit_usd"] == 10.0


def test_a_port_in_use_is_one_line_and_exit_2(db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(serve_command(db, "--port", str(port)), env=child_env(),
                              capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"usage-tui: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_an_empty_or_missing_token_file_is_refused(db, tmp_path):
    # refused before anything listens, so in process (CliRunner) is the same as a process
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, reason in ((empty, "the file is empty"), (tmp_path / "missing", "No such file or directory")):
        done = CliRunner().invoke(cli, ["serve", "--db", db, "--port", "0", "--token-file", str(path)])
        assert (done.exit_code, done.stdout, done.stderr) == (
            2, "", f"usage-tui: error: --token-file {path}: {reason}\n")


# -- serve --workers N: every worker, and every serve process on the store, decides alike ------------
TOKEN = "tok-workers"
# (method, path, headers) → (status, Retry-After or None, body) computed by hand from the store:
# bob $12 of a $10 weekly budget (471,600 s to the window's end); carol owns k_team, no budget.
BOB_OVER = {"user": "bob", "over": True, "retry_after_s": 471_600, "window_end": "2026-11-30T00:00:00+01:00"}
NO_BUDGET = {"over": False, "retry_after_s": None, "window_end": None}
PROBES = {
    ("check", "bob", ()): (429, "471600", BOB_OVER),
    ("check", "alice", ()): (200, None, {"user": "alice", **NO_BUDGET}),
    ("check", "zed", ()): (200, None, {"user": "zed", **NO_BUDGET}),
    ("check", "zed", (("authorization", f"Bearer {TOKEN}"),)): (404, None, None),
    ("auth", "", (("x-api-key", "k_bob"),)): (403, "471600", BOB_OVER),
    ("auth", "", (("x-api-key", "k_bob"), ("x-budget-deny-status", "429"))): (429, "471600", BOB_OVER),
    ("auth", "", (("x-api-key", "k_team"),)): (204, None, None),
    ("auth", "", (("x-api-key", "nope"),)): (403, None, None),
}


def ask(base: str, probe: tuple) -> tuple:
    """One probe on a new connection (so that the kernel may hand it to any worker)."""
    kind, user, headers = probe
    url = f"{base}/v1/budget/check" if kind == "check" else f"{base}/v1/budget/auth"
    r = httpx.get(url, params={"user": user} if kind == "check" else None, headers=dict(headers))
    body = r.json() if r.status_code in (200, 429) or "retry-after" in r.headers else None
    return r.status_code, r.headers.get("retry-after"), body


def worker_pids(proc: subprocess.Popen) -> list[int]:
    """The uvicorn workers of a serve process: its spawned children (not multiprocessing's
    resource tracker)."""
    children = open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()
    return [int(c) for c in children if b"spawn_main" in open(f"/proc/{c}/cmdline", "rb").read()]


def test_workers_and_processes_give_the_same_decisions(engine_db, start_serve, tmp_path):
    db = engine_db
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    one, _ = start_serve(db, "--token-file", str(token_file))
    two, proc = start_serve(db, "--token-file", str(token_file), "--workers", "2")
    assert len(worker_pids(proc)) == 2
    for base in (one, two):
        for probe, expected in PROBES.items():
            assert [ask(base, probe) for _ in range(8)] == [expected] * 8, (base, probe)
        full = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"},
                         headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert (full["spent_usd"], full["limit_usd"]) == (12.0, 10.0)  # the token reached every worker

    # The store changes under them (carol gets a $5 weekly budget and spends $6): all of them see it.
    store = open_store(db)
    store.set_budget_override("carol", 5.0, "weekly", "alice", NOW)
    write(store, {"id": "c1", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "m", "user": "carol",
                  "cost_usd": 6.0})
    store.close()
    carol_over = {"user": "carol", "over": True, "retry_after_s": 471_600, "window_end": "2026-11-30T00:00:00+01:00"}
    for base in (one, two):
        assert [ask(base, ("auth", "", (("x-api-key", "k_team"),))) for _ in range(8)] == [
            (403, "471600", carol_over)] * 8


def test_workers_get_the_flags(engine_db, start_serve):
    db = engine_db
    base, _ = start_serve(db, "--workers", "2", "--allow-unknown-keys", "--trust-user-header")
    for _ in range(8):
        assert httpx.get(f"{base}/v1/budget/auth", headers={"x-api-key": "nope"}).status_code == 204
        assert httpx.get(f"{base}/v1/budget/auth", headers={"X-User": "bob"}).status_code == 403
        assert httpx.get(f"{base}/v1/budget/auth").status_code == 204  # no key, allowed
        # no token was given: the full status stays locked
        assert httpx.get(f"{base}/v1/budget/check", params={"user": "zed"},
                         headers={"Authorization": "Bearer x"}).status_code == 200


def test_workers_stop_cleanly(db, start_serve):
    base, proc = start_serve(db, "--workers", "2")
    workers = worker_pids(proc)
    assert httpx.get(f"{base}/healthz").json() == {"ok": True}
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0  # uvicorn's supervisor ends its workers, then itself
    assert proc.stderr.read() == ""
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")]


def test_a_worker_without_its_settings_refuses_to_start(monkeypatch):
    monkeypatch.delenv(WORKER_CONFIG_ENV, raising=False)
    with pytest.raises(RuntimeError, match="start workers with `usage-tui serve --workers N`"):
        worker_app()
