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

from .conftest import write

NOW = "2026-11-24T12:00:00Z"


@pytest.fixture
def db(store):
    write(store, {"id": "b1", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob",
                  "cost_usd": 12.0})
    store.close()
    return str(store.path)


def serve_command(db: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "usage_tui", "serve", "--db", db, *args]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_TUI_")}
    return {**env, "USAGE_TUI_NOW": NOW, **extra}


@pytest.fixture
def start_serve():
    """Start `usage-tui serve --port 0` and return (base URL, process) once it listens."""
    started: list[subprocess.Popen] = []

    def start(db: str, *args: str, env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen]:
        proc = subprocess.Popen(serve_command(db, "--port", "0", *args), env=env or child_env(),
                                stderr=subprocess.PIPE, text=True)
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
