"""POST /v1/usage on `usage-tui serve`, as a process over real HTTP (issue 24, part 1).

The store is tests/conftest.py's directory (bob has $10 a week, his key k_bob; carol's k_team
is research's) with no usage; now is pinned at Tue 2026-11-24T12:00Z (Berlin's week runs from
Mon 2026-11-23). LiteLLM's bodies come from tests/data/litellm_push (its README says where
from); every expected number below is worked out by hand from those files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from usage_tui.store import open_store

DATA = Path(__file__).parent / "data" / "litellm_push"
NOW = "2026-11-24T12:00:00Z"
INGEST = "ingest-tok-1"
ADMIN = "admin-tok-1"
AUTH = {"Authorization": f"Bearer {INGEST}"}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_TUI_")}
    return {**env, "USAGE_TUI_NOW": NOW, **extra}


@pytest.fixture
def db(store) -> str:
    store.close()
    return str(store.path)


@pytest.fixture
def start_serve(tmp_path):
    """Start `usage-tui serve --port 0 ARGS` and return (base URL, process) once it answers."""
    started: list[subprocess.Popen] = []

    def start(db: str, *args: str, ingest: str | None = INGEST, env: dict[str, str] | None = None):
        extra = []
        if ingest is not None:
            token_file = tmp_path / f"ingest-{len(started)}"
            token_file.write_text(ingest + "\n")
            extra = ["--ingest-token-file", str(token_file)]
        proc = subprocess.Popen([sys.executable, "-m", "usage_tui", "serve", "--db", db, "--port", "0", *extra, *args],
                                env=env or child_env(), stderr=subprocess.PIPE, text=True, start_new_session=True)
        started.append(proc)
        banner = proc.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", banner)
        assert found, f"no banner: {banner!r} (exit {proc.poll()}: {proc.stderr.read()})"
        base = f"http://127.0.0.1:{found[1]}"
        deadline = time.monotonic() + 20
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
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def rows(db: str, sql: str, params=()) -> list[tuple]:
    store = open_store(db, readonly=True)
    try:
        return [tuple(r) for r in store.execute(sql, params).fetchall()]
    finally:
        store.close()


def record_count(db: str) -> int:
    return rows(db, "SELECT count(*) FROM records")[0][0]


def stored_rejects(db: str) -> list[tuple]:
    return rows(db, "SELECT source, line, reason FROM rejects ORDER BY line")


def us(*args) -> int:
    """Microseconds since the epoch of a UTC datetime."""
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 1_000_000 + (args[6] if len(args) > 6 else 0)


def native(rid: str, user: str = "bob", cost: float = 1.0, ts: str = "2026-11-24T09:00:00Z") -> dict:
    return {"id": rid, "ts": ts, "provider": "openai", "model": "gpt-4o", "user": user, "cost_usd": cost}


# -- the fixture's four payloads, by hand --------------------------------------------------------
FIRST, SECOND, THIRD = "chatcmpl-2299b6a2-82a3-465a-b47c-04e685a2227f", "chatcmpl-anthropic-cache-1", "chatcmpl-failed-429"
EXPECTED = {
    # id: (ts_us, provider, model, user, team, key, prompt, cached, cache writes, completion, cost nano, status)
    # 1: k_bob's hash → k_bob, owner bob, bob's primary team platform; 0.000225 USD = 225,000 nano
    FIRST: (us(2025, 1, 24, 9, 20, 46, 847371), "openai", "gpt-4o", "bob", "platform", "k_bob",
            10, 0, 0, 20, 225_000, 200),
    # 2: 1764000000.25 s = 2025-11-24T16:00:00.25Z; 1200 prompt tokens hold 800 cache reads (and
    # the 100 cache writes): 400 fresh; carol and research as the key metadata says; 0.0123 USD
    SECOND: (1_764_000_000_250_000, "anthropic", "claude-sonnet-4-5", "carol", "research", "k_team",
             400, 800, 100, 300, 12_300_000, 200),
    # 3: a failure with error_code "429"; dave (no team); the key nobody knows kept as its hash
    THIRD: (1_764_000_100_000_000, "openai", "gpt-4o", "dave", None,
            hashlib.sha256(b"sk-not-in-the-directory").hexdigest(), 0, 0, 0, 0, 0, 429),
}
BAD_TOKENS = {"index": 3, "reason": '`prompt_tokens` must be an integer, got "ten"'}


def stored(db: str) -> dict[str, tuple]:
    found = rows(db, 'SELECT id, ts_us, provider, model, "user", team, key, prompt_tokens, cached_input_tokens, '
                     "cache_write_tokens, completion_tokens, cost_logged_nano, status FROM records")
    return {r[0]: r[1:] for r in found}


def payloads() -> list[dict]:
    return json.loads((DATA / "standard_logging_payloads.json").read_text())


def test_litellm_json_array_ndjson_and_single(db, start_serve):
    base, _ = start_serve(db)
    body = (DATA / "standard_logging_payloads.json").read_bytes()
    first = httpx.post(f"{base}/v1/usage", content=body, headers=AUTH)
    assert (first.status_code, first.json()) == (200, {"imported": 3, "replaced": 0, "unchanged": 0,
                                                       "rejected": [BAD_TOKENS]})
    assert stored(db) == EXPECTED
    meta = json.loads(rows(db, "SELECT metadata FROM records WHERE id = ?", (SECOND,))[0][0])
    assert (meta["end_user"], meta["request_tags"]) == ("cust-42", ["nightly"])
    # the reject is kept, as import keeps a bad line (numbered from 1)
    assert stored_rejects(db) == [("push:litellm", 4, BAD_TOKENS["reason"])]

    # the same payloads as LiteLLM's ndjson: a retry changes nothing
    ndjson = "\n".join(json.dumps(p) for p in payloads()).encode()
    again = httpx.post(f"{base}/v1/usage", content=ndjson, headers=AUTH)
    assert again.json() == {"imported": 0, "replaced": 0, "unchanged": 3, "rejected": [BAD_TOKENS]}
    assert record_count(db) == 3 and len(stored_rejects(db)) == 1

    # `single`: one object; a new cost for the first replaces it
    changed = {**payloads()[0], "response_cost": 0.0003}
    single = httpx.post(f"{base}/v1/usage", json=changed, headers=AUTH)
    assert single.json() == {"imported": 0, "replaced": 1, "unchanged": 0, "rejected": []}
    assert stored(db)[FIRST][10] == 300_000 and record_count(db) == 3


def test_native_records_object_array_and_lines(db, start_serve):
    base, _ = start_serve(db)
    one = httpx.post(f"{base}/v1/usage", json=native("n1", cost=1.5), headers=AUTH)
    assert one.json() == {"imported": 1, "replaced": 0, "unchanged": 0, "rejected": []}
    array = httpx.post(f"{base}/v1/usage", json=[native("n2"), {"id": "n3", "ts": "2026-11-24T09:00:00Z"}],
                       headers=AUTH)
    assert array.json() == {"imported": 1, "replaced": 0, "unchanged": 0,
                            "rejected": [{"index": 1, "reason": "missing required field `provider`"}]}
    lines = "\n".join([json.dumps(native("n1", cost=1.5)), "{not json", "", json.dumps(native("n4", cost=2.0))])
    third = httpx.post(f"{base}/v1/usage", content=lines.encode(), headers=AUTH)
    body = third.json()
    assert (body["imported"], body["unchanged"], [r["index"] for r in body["rejected"]]) == (1, 1, [1])
    assert body["rejected"][0]["reason"].startswith("malformed JSON")
    assert rows(db, "SELECT id, cost_logged_nano FROM records ORDER BY id") == [
        ("n1", 1_500_000_000), ("n2", 1_000_000_000), ("n4", 2_000_000_000)]
    assert [(s, line) for s, line, _ in stored_rejects(db)] == [("push:native", 2), ("push:native", 2)]


def test_no_ingest_token_no_route(db, start_serve, tmp_path):
    admin = tmp_path / "admin"
    admin.write_text(ADMIN)
    base, _ = start_serve(db, "--token-file", str(admin), ingest=None)
    for headers in ({}, {"Authorization": f"Bearer {ADMIN}"}, AUTH):
        assert httpx.post(f"{base}/v1/usage", json=native("x"), headers=headers).status_code == 404
    assert record_count(db) == 0


def test_tokens_grant_what_they_grant_and_nothing_else(db, start_serve, tmp_path):
    admin = tmp_path / "admin"
    admin.write_text(ADMIN)
    base, _ = start_serve(db, "--token-file", str(admin))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {ADMIN}"},
                    {"Authorization": f"Basic {INGEST}"}, {"Authorization": f"Bearer {INGEST}x"}):
        refused = httpx.post(f"{base}/v1/usage", json=native("x"), headers=headers)
        assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
    assert record_count(db) == 0 and stored_rejects(db) == []
    # the ingest token is no admin token: /check gives it the decision only
    check = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}, headers=AUTH)
    assert check.json() == {"user": "bob", "over": False, "retry_after_s": None,
                            "window_end": "2026-11-30T00:00:00+01:00"}
    full = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}, headers={"Authorization": f"Bearer {ADMIN}"})
    assert full.json()["limit_usd"] == 10.0


def test_the_same_token_for_both_is_refused(db, tmp_path):
    token = tmp_path / "t"
    token.write_text("same")
    done = subprocess.run([sys.executable, "-m", "usage_tui", "serve", "--db", db, "--port", "0", "--token-file",
                           str(token), "--ingest-token-file", str(token)], env=child_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "usage-tui: error: the ingest token and the admin token must differ (each grants what the other does not)"]


def test_ingest_token_from_the_environment(db, start_serve):
    base, _ = start_serve(db, ingest=None, env=child_env(USAGE_TUI_INGEST_TOKEN="env-ingest"))
    pushed = httpx.post(f"{base}/v1/usage", json=native("e1"), headers={"Authorization": "Bearer env-ingest"})
    assert pushed.json()["imported"] == 1 and record_count(db) == 1


@pytest.mark.parametrize("body, reason", [
    (b"hello", "not JSON: Expecting value"),
    (b"", "empty body: expected a JSON array, a JSON object, or JSON lines"),
    (b"[1, 2", "not JSON: Expecting ',' delimiter"),
    (b"42", "expected a JSON array, a JSON object, or JSON lines; got 42"),
    (b"one\ntwo\n", "not JSON: no line of the body is a JSON value"),
    (b"[" * 5000 + b"]" * 5000, "JSON nested deeper than 64 levels"),
])
def test_not_json_is_a_400(db, start_serve, body, reason):
    base, _ = start_serve(db)
    answer = httpx.post(f"{base}/v1/usage", content=body, headers=AUTH)
    assert (answer.status_code, answer.json()) == (400, {"error": reason})
    assert record_count(db) == 0 and stored_rejects(db) == []


def test_over_max_body_is_a_413_with_or_without_content_length(db, start_serve):
    base, _ = start_serve(db, "--max-body", "1")
    # 1 MiB + a little, as one array of good records: declared (Content-Length) ...
    records = [native(f"big-{i}", cost=0.001) for i in range(12_000)]
    body = json.dumps(records).encode()
    assert len(body) > 1024 * 1024
    declared = httpx.post(f"{base}/v1/usage", content=body, headers=AUTH)
    assert (declared.status_code, declared.json()) == (
        413, {"error": "the body is over 1,048,576 bytes (serve --max-body): send smaller batches"})

    # ... and streamed in chunks without a length: refused once what came passes the bound
    def chunks():
        for i in range(0, len(body), 65_536):
            yield body[i:i + 65_536]

    streamed = httpx.post(f"{base}/v1/usage", content=chunks(), headers=AUTH)
    assert streamed.status_code == 413
    assert record_count(db) == 0
    # exactly the bound is taken (padded with whitespace, still one JSON array); a byte more is not
    exact = json.dumps(records[:8_000]).encode()
    exact += b" " * (1024 * 1024 - len(exact))
    assert httpx.post(f"{base}/v1/usage", content=exact + b" ", headers=AUTH).status_code == 413
    assert record_count(db) == 0
    assert httpx.post(f"{base}/v1/usage", content=exact, headers=AUTH).json()["imported"] == 8_000


def test_writer_behind_is_a_503_and_nothing_of_that_body_is_stored(db, start_serve):
    """The writer is held behind another process's write transaction; the queue holds 10
    records. Three bodies of 6: the first is taken by the writer (or queued), and whichever
    does not fit is a 503 + Retry-After. Once the lock goes, the 200s' records are stored and
    the 503s' are not, whatever order the writer took them in."""
    base, _ = start_serve(db, "--push-queue", "10")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    answers: dict[int, httpx.Response] = {}

    def push(n: int) -> None:
        answers[n] = httpx.post(f"{base}/v1/usage", json=[native(f"q{n}-{i}", cost=0.01) for i in range(6)],
                                headers=AUTH, timeout=30)

    threads = []
    for n in range(3):
        threads.append(threading.Thread(target=push, args=(n,)))
        threads[-1].start()
        time.sleep(0.5)
    time.sleep(1.0)
    holder.execute("ROLLBACK")
    holder.close()
    for t in threads:
        t.join(30)
    refused = [n for n, a in answers.items() if a.status_code == 503]
    assert refused and len(answers) == 3
    for n in refused:
        assert answers[n].headers["retry-after"] == "1"
        assert answers[n].json()["error"].startswith("the writer is behind: nothing of this body was stored")
    ok = sorted(n for n, a in answers.items() if a.status_code == 200)
    assert sorted(ok + refused) == [0, 1, 2]
    expected = sorted(f"q{n}-{i}" for n in ok for i in range(6))
    assert [r[0] for r in rows(db, "SELECT id FROM records ORDER BY id")] == expected


def test_budget_decisions_see_a_push_at_once(db, start_serve):
    """bob's $10 weekly budget: $9.99 pushed leaves him allowed; the next cent makes him over
    on the first check after the 200, on /check and on /auth (his key k_bob)."""
    base, _ = start_serve(db)
    assert httpx.post(f"{base}/v1/usage", json=native("b1", cost=9.99), headers=AUTH).json()["imported"] == 1
    assert httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}).status_code == 200
    assert httpx.get(f"{base}/v1/budget/auth", headers={"x-api-key": "k_bob"}).status_code == 204
    assert httpx.post(f"{base}/v1/usage", json=native("b2", cost=0.01), headers=AUTH).json()["imported"] == 1
    over = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"})
    assert (over.status_code, over.json()["over"]) == (429, True)
    assert httpx.get(f"{base}/v1/budget/auth", headers={"x-api-key": "k_bob"}).status_code == 403


def test_a_litellm_push_counts_against_the_key_owner_budget(db, start_serve):
    """A LiteLLM payload names the key by its hash only: bob's key k_bob, so bob's budget."""
    base, _ = start_serve(db)
    payload = {**payloads()[0], "id": "chatcmpl-over", "startTime": 1_763_978_400.0,  # 2025-11-24T10:00Z
               "response_cost": 10.0}
    assert httpx.post(f"{base}/v1/usage", json=payload, headers=AUTH).json()["imported"] == 1
    # 2025, not 2026: outside the week USAGE_TUI_NOW pins; at 2026's time it counts
    assert httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}).status_code == 200
    payload = {**payload, "id": "chatcmpl-over-2", "startTime": 1_795_514_400.0}  # 2026-11-24T10:00Z
    assert httpx.post(f"{base}/v1/usage", json=payload, headers=AUTH).json()["imported"] == 1
    assert httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}).status_code == 429


# -- the payload mapping alone (no server) -------------------------------------------------------
def test_keys_are_named_as_the_directory_names_them():
    from usage_tui.ingest.litellm_payload import KeyIds

    digest = hashlib.sha256(b"sk-live-1").hexdigest()
    ids = KeyIds()
    assert ids.resolve({"sk-live-1": object()}, digest) == "sk-live-1"  # the directory lists the key itself
    assert ids.resolve({digest: object()}, digest) == digest  # ... or its digest, as LiteLLM keeps it
    assert ids.resolve({"sk-other": object()}, digest) == digest  # unknown: kept as the digest
    assert ids.resolve({"sk-live-1": object()}, digest.upper()) == "sk-live-1"


@pytest.mark.parametrize("start, reason", [
    (-1.0, "`startTime` must be epoch seconds >= 0 or an ISO 8601 timestamp, got -1.0"),
    (1e20, "`startTime` is after 9999-12-31T23:59:59Z: 1e+20"),
    (True, "`startTime` must be an ISO 8601 timestamp with a time, got true"),
    (None, "missing required field `startTime`"),
    ("2025-01-24", '`startTime` must be an ISO 8601 timestamp with a time, got "2025-01-24"'),
])
def test_bad_start_times_are_rejects(start, reason):
    from usage_tui.ingest.litellm_payload import KeyIds, payload_record
    from usage_tui.ingest.native import BadRecord

    with pytest.raises(BadRecord) as bad:
        payload_record({**payloads()[0], "startTime": start}, {}, KeyIds())
    assert str(bad.value) == reason


def test_epoch_seconds_and_strings_name_the_same_instant():
    from usage_tui.ingest.litellm_payload import KeyIds, payload_record

    # 2025-01-24T09:20:46.847371Z: 1737710446 s (20,112 days × 86,400 + 9 h 20 min 46 s) and 847,371 µs
    assert 20_112 * 86_400 + 9 * 3600 + 20 * 60 + 46 == 1_737_710_446
    as_string = payload_record(payloads()[0], {}, KeyIds())
    as_float = payload_record({**payloads()[0], "startTime": 1_737_710_446.847371}, {}, KeyIds())
    assert as_string.ts_us == as_float.ts_us == 1_737_710_446_847_371


def test_a_large_litellm_batch_is_parsed_in_a_helper_process_alike(db, start_serve):
    """Bodies over server_ingest.INLINE_BYTES are parsed in a helper process: the same records
    (the key named by its digest still resolves to k_bob, so bob), and the same rejects."""
    from usage_tui.server_ingest import INLINE_BYTES

    base, _ = start_serve(db)
    first = payloads()[0]
    items = [{**first, "id": f"big-{i}", "response_cost": 0.01} for i in range(100)] + [payloads()[3]]
    body = json.dumps(items).encode()
    assert len(body) > INLINE_BYTES
    answer = httpx.post(f"{base}/v1/usage", content=body, headers=AUTH)
    assert answer.json() == {"imported": 100, "replaced": 0, "unchanged": 0,
                             "rejected": [{"index": 100, "reason": BAD_TOKENS["reason"]}]}
    assert rows(db, 'SELECT "user", key, count(*), sum(cost_logged_nano) FROM records GROUP BY 1, 2') == [
        ("bob", "k_bob", 100, 100 * 10_000_000)]


def test_a_write_that_fails_is_a_503_and_stores_nothing_of_that_body(db, start_serve):
    """The directory prices internal/llama at $2 per million input tokens: 10^12 tokens would
    cost $2,000,000, over the store's per-record bound of $1,000,000, so the store refuses the
    batch holding it. Its body is a 503 and none of it is stored; a body written beside it is not
    affected."""
    base, _ = start_serve(db)
    priced_over = {"id": "huge", "ts": "2026-11-24T09:00:00Z", "provider": "internal", "model": "llama",
                   "user": "bob", "prompt_tokens": 10**12}
    refused = httpx.post(f"{base}/v1/usage", json=[native("with-huge"), priced_over], headers=AUTH)
    assert refused.status_code == 503 and "retry-after" not in refused.headers
    assert refused.json()["error"].startswith('nothing of this body was stored: record "huge" would cost $2,000,000.00')
    assert record_count(db) == 0
    assert httpx.post(f"{base}/v1/usage", json=[native("fine")], headers=AUTH).json()["imported"] == 1
    assert rows(db, "SELECT id FROM records") == [("fine",)]


def test_a_failing_body_in_a_group_fails_alone(db, start_serve):
    """Bodies queued while the writer waits (here: behind another process's write lock) are
    written in one group; when one of them fails, each is written alone, so the others' still
    commit and get their 200."""
    base, _ = start_serve(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    bad = {"id": "huge", "ts": "2026-11-24T09:00:00Z", "provider": "internal", "model": "llama",
           "prompt_tokens": 10**12}
    bodies = {"a": [native("a1")], "b": [native("b1"), bad], "c": [native("c1"), native("c2")]}
    answers: dict[str, httpx.Response] = {}

    def push(name: str) -> None:
        answers[name] = httpx.post(f"{base}/v1/usage", json=bodies[name], headers=AUTH, timeout=30)

    threads = [threading.Thread(target=push, args=(name,)) for name in bodies]
    for t in threads:
        t.start()
        time.sleep(0.3)
    time.sleep(1.0)
    holder.execute("ROLLBACK")
    holder.close()
    for t in threads:
        t.join(30)
    assert {name: a.status_code for name, a in answers.items()} == {"a": 200, "b": 503, "c": 200}
    assert [r[0] for r in rows(db, "SELECT id FROM records ORDER BY id")] == ["a1", "c1", "c2"]
