"""The gateway endpoint over real loopback connections: uvicorn in a thread, httpx as the client.

The directory is tests/conftest.py's (Europe/Berlin; bob: $10 weekly). Now is pinned at
Tue 2026-11-24T12:00Z (13:00 in Berlin); the server reads the same USAGE_TUI_NOW.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner

from usage_tui.budget import no_budget_json
from usage_tui.cli import cli
from usage_tui.server import create_server_app

from .conftest import write

NOW = "2026-11-24T12:00:00Z"
TOKEN = "admin-token-for-tests"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}  # unlocks the full status JSON on /check
# A gateway key as LiteLLM keeps it: the directory key id is the SHA-256 hex digest of the key.
CAROL_KEY = "sk-carol-secret"
CAROL_KEY_ID = hashlib.sha256(CAROL_KEY.encode()).hexdigest()
# bob spent $12 ≥ $10 in the week [Mon 2026-11-23 00:00+01, Mon 2026-11-30 00:00+01); Retry-After
# from 12:00Z on the 24th to 23:00Z on the 29th = 5 days 11 hours = 432,000 + 39,600 = 471,600 s.
BOB_OVER = {
    "user": "bob", "limit_usd": 10.0, "window": "weekly", "spent_usd": 12.0, "remaining_usd": 0.0,
    "window_start": "2026-11-23T00:00:00+01:00", "window_end": "2026-11-30T00:00:00+01:00",
    "over": True, "retry_after_s": 471_600}
# carol: $5 daily (set below), $1.50 spent today → allowed, $3.50 left; the day is
# [2026-11-24 00:00+01, 2026-11-25 00:00+01).
CAROL_OK = {
    "user": "carol", "limit_usd": 5.0, "window": "daily", "spent_usd": 1.5, "remaining_usd": 3.5,
    "window_start": "2026-11-24T00:00:00+01:00", "window_end": "2026-11-25T00:00:00+01:00",
    "over": False, "retry_after_s": None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(store, monkeypatch, directory_doc):
    monkeypatch.setenv("USAGE_TUI_NOW", NOW)
    directory_doc["keys"].append({"id": CAROL_KEY_ID, "owner": "carol"})
    store.load_directory(directory_doc)
    write(store,
          {"id": "b", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 12.0},
          {"id": "c1", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "user": "carol", "cost_usd": 1.0},
          {"id": "c2", "ts": "2026-11-24T09:00:00Z", "provider": "p", "model": "m", "key": "k_team", "cost_usd": 0.5},
          {"id": "c0", "ts": "2026-11-23T22:59:59Z", "provider": "p", "model": "m", "user": "carol", "cost_usd": 9.0})
    store.set_budget_override("carol", 5.0, "daily", "alice", NOW)
    port = free_port()
    config = uvicorn.Config(create_server_app(store.path, token=TOKEN), host="127.0.0.1", port=port,
                            log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", store
    srv.should_exit = True
    thread.join(5)


@pytest.fixture
def server(served):
    return served[0]


def check(server: str, **params) -> httpx.Response:
    """/check as the admin (with the token): the full status JSON."""
    return httpx.get(f"{server}/v1/budget/check", params=params, headers=ADMIN, timeout=10)


def test_over_budget_is_429_with_retry_after(server):
    r = check(server, user="bob")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "471600"
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    assert r.json() == BOB_OVER
    again = check(server, user="bob")  # a retry before the window ends gets another 429
    assert (again.status_code, again.headers["retry-after"], again.json()) == (429, "471600", BOB_OVER)


def test_retry_until_the_window_ends(server, monkeypatch):
    # One second before Monday 00:00 Berlin (22:59:59Z on the 29th): still 429, Retry-After 1
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T22:59:59Z")
    r = check(server, user="bob")
    assert (r.status_code, r.headers["retry-after"], r.json()["retry_after_s"]) == (429, "1", 1)
    # 22:59:59.2Z: 0.8 s left → rounded up to 1
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T22:59:59.200000Z")
    assert check(server, user="bob").headers["retry-after"] == "1"
    # Monday 00:00: a new week with nothing spent → 200, the full $10 left
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T23:00:00Z")
    r = check(server, user="bob")
    assert r.status_code == 200 and "retry-after" not in r.headers
    assert r.json() == {**BOB_OVER, "spent_usd": 0.0, "remaining_usd": 10.0, "over": False, "retry_after_s": None,
                        "window_start": "2026-11-30T00:00:00+01:00", "window_end": "2026-12-07T00:00:00+01:00"}


def test_allowed(server):
    r = check(server, user="carol")  # c1 $1 + c2 $0.50 (her key) today; c0 was yesterday in Berlin
    assert (r.status_code, r.json()) == (200, CAROL_OK)
    assert "retry-after" not in r.headers


def test_known_user_without_budget(server):
    r = check(server, user="alice")
    assert (r.status_code, r.json()) == (200, no_budget_json("alice"))
    assert r.json()["over"] is False and r.json()["limit_usd"] is None


def test_errors(server):
    for params in ({}, {"user": ""}, {"user": "  "}):
        r = check(server, **params)
        assert (r.status_code, r.json()) == (400, {"error": "missing query parameter: user"})
    missing = check(server, user="nobody")
    assert missing.status_code == 404
    assert missing.json() == {"error": 'unknown user "nobody" (not in the directory, no budget)'}
    assert httpx.post(f"{server}/v1/budget/check", params={"user": "bob"}).status_code == 405
    assert httpx.get(f"{server}/v1/nothing").status_code == 404


def test_healthz(server):
    r = httpx.get(f"{server}/healthz")
    assert (r.status_code, r.json()) == (200, {"ok": True})


def test_concurrent_checks(server):
    users = ["bob", "carol", "alice", "nobody"] * 6  # 24 requests in flight at once
    expected = {"bob": (429, BOB_OVER), "carol": (200, CAROL_OK), "alice": (200, no_budget_json("alice")),
                "nobody": (404, {"error": 'unknown user "nobody" (not in the directory, no budget)'})}

    async def many():
        limits = httpx.Limits(max_connections=len(users))
        async with httpx.AsyncClient(limits=limits, timeout=10, headers=ADMIN) as client:
            return await asyncio.gather(*(client.get(f"{server}/v1/budget/check", params={"user": u})
                                          for u in users))

    responses = asyncio.run(many())
    assert [(r.status_code, r.json()) for r in responses] == [expected[u] for u in users]
    assert {r.headers["retry-after"] for r in responses if r.status_code == 429} == {"471600"}


def test_keeps_answering_while_records_are_written(served):
    server, store = served
    done = threading.Event()
    errors: list[BaseException] = []

    def importer():
        # Another writer (its own connection: the store keeps one per thread) commits batch
        # after batch for dave, who has no budget, while checks are answered.
        try:
            for i in range(40):
                write(store, *({"id": f"x{i}-{j}", "ts": "2026-11-24T10:00:00Z", "provider": "p", "model": "m",
                                "user": "dave", "cost_usd": 0.01} for j in range(50)))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=importer)
    writer.start()
    answered = 0
    with httpx.Client(timeout=10, headers=ADMIN) as client:
        while not done.is_set() or answered < 10:
            r = client.get(f"{server}/v1/budget/check", params={"user": "bob"})
            assert (r.status_code, r.json()) == (429, BOB_OVER)
            answered += 1
    writer.join()
    assert not errors and answered >= 10
    # a record written now is seen by the next check: carol's $3.50 more reaches her $5 exactly
    # → 429 until her day ends at 23:00Z, 11 hours = 39,600 s
    write(store, {"id": "c3", "ts": "2026-11-24T11:00:00Z", "provider": "p", "model": "m", "user": "carol",
                  "cost_usd": 3.5})
    r = check(server, user="carol")
    assert (r.status_code, r.headers["retry-after"], r.json()["spent_usd"]) == (429, "39600", 5.0)


def test_cli_and_http_agree(served):
    server, store = served
    for user in ("bob", "carol"):
        http = check(server, user=user)
        status = CliRunner().invoke(cli, ["budget", "status", user, "--as", "alice", "--format", "json",
                                          "--db", str(store.path)])
        # the CLI's document names its schema (docs/scripts-and-agents.md); the fields are the same
        assert json.loads(status.stdout) == {"schema": "usage-tui/budget-status/1", **http.json()}
        cli_check = CliRunner().invoke(cli, ["budget", "check", user, "--db", str(store.path)])
        if http.status_code == 429:
            assert (cli_check.exit_code, cli_check.output) == (
                75, f"429 Too Many Requests\nRetry-After: {http.headers['retry-after']}\n")
        else:
            assert (cli_check.exit_code, cli_check.output) == (0, "200 OK\n")


# -- the auth endpoint for nginx auth_request and Envoy ext_authz --------------------------------------
def test_auth_endpoint_decides_by_the_gateway_key(server):
    bob = {"Authorization": "Bearer k_bob"}  # k_bob's owner is bob, over budget
    over = httpx.get(f"{server}/v1/budget/auth", headers=bob)
    assert (over.status_code, over.headers["retry-after"], over.headers["x-budget-status"]) == (403, "471600", "429")
    assert over.json() == {"user": "bob", "over": True, "retry_after_s": 471_600,
                           "window_end": "2026-11-30T00:00:00+01:00"}
    # the status a proxy that relays it as is (Envoy) should pass on
    relayed = httpx.get(f"{server}/v1/budget/auth", headers={**bob, "X-Budget-Deny-Status": "429"})
    assert (relayed.status_code, relayed.headers["retry-after"]) == (429, "471600")
    # Envoy appends the client's path and keeps its method; the key may come as x-api-key
    envoy = httpx.post(f"{server}/v1/budget/auth/v1/chat/completions", headers={"x-api-key": "k_bob"})
    assert envoy.status_code == 403
    # a client naming someone else changes nothing: X-User is not read without --trust-user-header
    assert httpx.get(f"{server}/v1/budget/auth", headers={**bob, "X-User": "alice"}).status_code == 403
    assert httpx.get(f"{server}/v1/budget/auth", params={"user": "alice"}, headers=bob).status_code == 403
    # carol's key given as the key itself; its SHA-256 digest is the directory id (LiteLLM's api_key)
    allowed = httpx.get(f"{server}/v1/budget/auth", headers={"Authorization": f"Bearer {CAROL_KEY}"})
    assert (allowed.status_code, allowed.content) == (204, b"")
    # a known key without an owner: no user budget applies
    assert httpx.get(f"{server}/v1/budget/auth", headers={"x-api-key": "k_orphan"}).status_code == 204
    # no key, an unknown key, or only a user header: refused (fail closed), never allowed
    for headers, reason in (({}, "no gateway key (Authorization: Bearer KEY or x-api-key)"),
                            ({"Authorization": "Bearer sk-guess"}, "unknown gateway key"),
                            ({"X-User": "carol"}, "no gateway key (Authorization: Bearer KEY or x-api-key)"),
                            ({"X-Budget-User": "carol"}, "no gateway key (Authorization: Bearer KEY or x-api-key)")):
        refused = httpx.get(f"{server}/v1/budget/auth", headers=headers)
        assert (refused.status_code, refused.json()) == (403, {"error": reason})
        assert "retry-after" not in refused.headers


NGINX = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")

NGINX_CONF = """
worker_processes 1;
daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        # --- the docs' snippet, verbatim ---
        location /v1/ {{
            auth_request /_budget;
            auth_request_set $budget_retry_after $upstream_http_retry_after;
            error_page 403 = @budget_denied;
            proxy_pass http://llm_upstream;
        }}
        location = /_budget {{
            internal;
            # the subrequest carries the client's Authorization (its gateway key) as it came
            proxy_pass http://127.0.0.1:{budget_port}/v1/budget/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-User "";
        }}
        location @budget_denied {{
            default_type application/json;
            if ($budget_retry_after = "") {{
                return 403 '{{"error": "unknown or missing gateway key"}}\\n';
            }}
            add_header Retry-After $budget_retry_after always;
            return 429 '{{"error": "over budget"}}\\n';
        }}
        # --- end of snippet ---
    }}
    upstream llm_upstream {{
        server 127.0.0.1:{budget_port};  # stands in for the LLM provider: answers /v1/budget/check
    }}
}}
"""


def test_the_docs_show_the_nginx_snippet_this_test_runs():
    conf = NGINX_CONF.split("# --- the docs' snippet, verbatim ---\n")[1].split("        # --- end")[0]
    conf = textwrap.dedent(conf.replace("{{", "{").replace("}}", "}").replace("{budget_port}", "8787"))
    page = (Path(__file__).parent.parent / "docs" / "budgets-and-gateways.md").read_text()
    assert f"```nginx\n{conf}```" in page


def test_nginx_auth_request(server, tmp_path, monkeypatch):
    if NGINX is None:
        if os.environ.get("USAGE_TUI_TEST_REQUIRE_NGINX"):
            pytest.fail("nginx is not installed, and CI requires this test (.ci/run installs it)")
        pytest.skip("nginx is not installed (.ci/run installs it)")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp_path, port=port, budget_port=server.rsplit(":", 1)[1]))
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        bob = {"Authorization": "Bearer k_bob"}  # bob's key: over budget
        over = httpx.post(f"{base}/v1/budget/check?user=x", headers=bob, json={"prompt": "hi"})
        assert (over.status_code, over.headers["retry-after"]) == (429, "471600")
        assert over.json() == {"error": "over budget"}
        # the client naming another user changes nothing: the key decides
        for header in ("X-User", "X-Budget-User"):
            spoofed = httpx.post(f"{base}/v1/budget/check?user=x", headers={**bob, header: "alice"})
            assert (spoofed.status_code, spoofed.headers["retry-after"]) == (429, "471600")
        # an unknown key, or none (even with X-User): 403, no Retry-After
        for headers in ({"Authorization": "Bearer sk-guess"}, {}, {"X-User": "carol"}):
            refused = httpx.get(f"{base}/v1/budget/check?user=alice", headers=headers)
            assert (refused.status_code, refused.json()) == (403, {"error": "unknown or missing gateway key"})
            assert "retry-after" not in refused.headers
        # allowed: nginx forwards the request upstream (here the check endpoint, for alice,
        # asked without the admin token: the decision only)
        allowed = httpx.get(f"{base}/v1/budget/check?user=alice", headers={"Authorization": f"Bearer {CAROL_KEY}"})
        assert (allowed.status_code, allowed.json()) == (
            200, {"user": "alice", "over": False, "retry_after_s": None, "window_end": None})
        # an internal error (a bad clock: /auth answers 503) denies: nginx answers 500, never upstream
        monkeypatch.setenv("USAGE_TUI_NOW", "not-a-time")
        broken = httpx.get(f"{base}/v1/budget/check?user=alice", headers={"Authorization": f"Bearer {CAROL_KEY}"})
        assert broken.status_code == 500
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_postgresql_serve_answers_many_at_once_on_a_bounded_pool(directory_doc, monkeypatch):
    """serve answers on up to 40 threads; on PostgreSQL they share POOL_SIZE connections (one
    per thread would reach the server's max_connections with a few workers). 30 concurrent
    checks on a pool of 2: every answer right, and never more than 2 connections made."""
    from usage_tui import server, server_store
    from usage_tui.store.postgres import PostgresStore

    from .conftest import pg_schema

    monkeypatch.setenv("USAGE_TUI_NOW", NOW)
    monkeypatch.setattr(server, "POOL_SIZE", 2)
    with pg_schema() as (_, dsn):
        store = PostgresStore(dsn)
        store.load_directory(directory_doc)
        write(store, {"id": "b", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob",
                      "cost_usd": 12.0})
        store.close()
        served: list = []
        real_open = server_store.open_store
        monkeypatch.setattr(server_store, "open_store", lambda *a, **k: served.append(real_open(*a, **k)) or served[-1])
        app = create_server_app(dsn, token=TOKEN)

        async def burst():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
                return await asyncio.gather(*(client.get("/v1/budget/check", params={"user": "bob"},
                                                         headers=ADMIN) for _ in range(30)))

        answers = asyncio.run(burst())
        assert [(a.status_code, a.headers["Retry-After"]) for a in answers] == [(429, "471600")] * 30
        assert all(a.json() == BOB_OVER for a in answers)
        stats = served[0]._pool.get_stats()
        assert stats["pool_max"] == 2 and stats["connections_num"] <= 2
        assert stats["requests_num"] >= 30  # every answer borrowed from the pool
        served[0].close()


REPEATABLE = {"Authorization": ("Bearer k_team", "Bearer k_bob"), "x-api-key": ("k_team", "k_bob"),
              "X-User": ("carol", "bob")}


@pytest.mark.parametrize("name", list(REPEATABLE))
@pytest.mark.parametrize("same", [True, False], ids=["same-value", "different-values"])
async def test_a_repeated_identity_header_is_refused_whatever_its_values(served, name, same):
    """Two Authorization, x-api-key or X-User headers: which one the upstream honours varies, so
    /auth cannot know whose request it decides and refuses it (403 without Retry-After), even
    when both carry the same value, with --allow-unknown-keys and with --trust-user-header."""
    server, store = served
    first, second = REPEATABLE[name][0], REPEATABLE[name][0 if same else 1]
    # once, the request is allowed: carol's key k_team (carol is under her budget), or carol in X-User
    # beside it (read with --trust-user-header only)
    base = [] if name == "x-api-key" else [("x-api-key", "k_team")]
    once, twice = [*base, (name, first)], [*base, (name, first), (name, second)]
    over_http = await asyncio.to_thread(httpx.get, f"{server}/v1/budget/auth", headers=twice, timeout=10)
    assert (over_http.status_code, over_http.json()) == (403, {"error": f"{name} header given more than once"})
    assert "retry-after" not in over_http.headers
    for flags in ({}, {"allow_unknown_keys": True}, {"trust_user_header": True}):
        app = create_server_app(store.path, **flags)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/v1/budget/auth", headers=once)).status_code == 204, flags
            refused = await client.get("/v1/budget/auth", headers=twice)
        assert (refused.status_code, refused.json()) == (403, {"error": f"{name} header given more than once"})
        assert "retry-after" not in refused.headers
