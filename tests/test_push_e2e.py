"""POST /v1/usage end to end (issue 24): many workers and one writer, a serve killed with
SIGKILL in the middle of a stream of pushes, and PostgreSQL.

Each pushed record costs exactly $0.01 (10,000,000 nano-dollars) and has an id of its own, so
what the store should hold is counted by hand: n records, n × 10,000,000 nano-dollars.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from usage_tui.store import open_store

from .conftest import pg_schema
from .test_push import AUTH, db, native, record_count, rows, start_serve  # noqa: F401  (fixtures)

CENT_NANO = 10_000_000


def batch(prefix: str, n: int, size: int) -> list[dict]:
    return [native(f"{prefix}-{n}-{i}", user=("bob", "carol", "dave")[i % 3], cost=0.01) for i in range(size)]


def push_stream(base: str, prefix: str, *, clients: int, size: int, seconds: float,
                acked: list[str], sent: list[list[dict]]) -> None:
    """`clients` threads pushing batches of `size` for `seconds` (or until serve is gone);
    the ids of every 200 go to `acked`, every batch sent to `sent`."""
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(c: int) -> None:
        n = 0
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < stop:
                body = batch(f"{prefix}{c}", n, size)
                n += 1
                with lock:
                    sent.append(body)
                try:
                    answer = http.post(f"{base}/v1/usage", json=body, headers=AUTH)
                except httpx.TransportError:
                    return  # serve is gone
                if answer.status_code == 200:
                    assert answer.json() == {"imported": size, "replaced": 0, "unchanged": 0, "rejected": []}
                    with lock:
                        acked.extend(r["id"] for r in body)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)


def writers_of(path: str, pid: int) -> list[int]:
    """The processes of serve's process group that have the store file open for writing
    (O_WRONLY or O_RDWR in /proc's fdinfo flags); readers open it read-only."""
    found = []
    for proc in os.listdir("/proc"):
        if not proc.isdigit():
            continue
        try:
            if os.getpgid(int(proc)) != pid:
                continue
            for fd in os.listdir(f"/proc/{proc}/fd"):
                if os.readlink(f"/proc/{proc}/fd/{fd}") == os.path.realpath(path):
                    with open(f"/proc/{proc}/fdinfo/{fd}") as info:
                        flags = int(next(line for line in info if line.startswith("flags:")).split()[1], 8)
                    if flags & os.O_ACCMODE != os.O_RDONLY:
                        found.append(int(proc))
        except (OSError, StopIteration):
            continue
    return sorted(set(found))


def test_two_workers_one_writer(db, start_serve):  # noqa: F811
    base, proc = start_serve(db, "--workers", "2")
    acked: list[str] = []
    sent: list[list[dict]] = []
    push_stream(base, "w", clients=4, size=50, seconds=2.0, acked=acked, sent=sent)
    assert len(acked) == sum(len(b) for b in sent) > 0  # every push answered 200
    assert record_count(db) == len(acked)
    # one process writes the store: serve's own (the parent), never a worker
    assert writers_of(db, proc.pid) == [proc.pid]
    # the same batches again: unchanged, nothing new
    again = httpx.post(f"{base}/v1/usage", json=sent[0], headers=AUTH)
    assert again.json() == {"imported": 0, "replaced": 0, "unchanged": len(sent[0]), "rejected": []}
    assert record_count(db) == len(acked)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_kill_9_loses_nothing_acknowledged_and_counts_nothing_twice(db, start_serve, workers):  # noqa: F811
    """Pushes stream in from 4 clients; serve (its whole process group) gets SIGKILL. Every
    acknowledged record is in the store; then every batch sent is pushed again to a new serve,
    as a gateway's retry would: each record is there once, and the totals (the rollups and the
    pending sums the budget reads) are exactly one cent per record."""
    base, proc = start_serve(db, "--workers", workers)
    acked: list[str] = []
    sent: list[list[dict]] = []
    killer = threading.Timer(1.5, lambda: os.killpg(proc.pid, signal.SIGKILL))
    killer.start()
    push_stream(base, "k", clients=4, size=64, seconds=30, acked=acked, sent=sent)
    killer.join()
    proc.wait(10)
    assert acked, "nothing was acknowledged before the kill"
    in_store = {r[0] for r in rows(db, "SELECT id FROM records")}
    assert set(acked) <= in_store

    base, _ = start_serve(db)
    for body in sent:
        answer = httpx.post(f"{base}/v1/usage", json=body, headers=AUTH, timeout=30)
        assert answer.status_code == 200
    every = {r["id"] for body in sent for r in body}
    assert record_count(db) == len(every)
    assert rows(db, "SELECT sum(cost_nano) FROM records") == [(len(every) * CENT_NANO,)]
    store = open_store(db, readonly=True)
    try:
        assert store.totals()["cost_nano"] == len(every) * CENT_NANO
        assert store.totals()["requests"] == len(every)
    finally:
        store.close()


def test_postgresql_two_workers(start_serve, directory_doc, tmp_path):  # noqa: F811
    from usage_tui.store.postgres import PostgresStore

    admin = tmp_path / "admin"
    admin.write_text("admin-tok\n")
    with pg_schema("push") as (_, dsn):
        store = PostgresStore(dsn)
        store.load_directory(directory_doc)
        store.close()
        base, _ = start_serve(dsn, "--workers", "2", "--token-file", str(admin))
        acked: list[str] = []
        sent: list[list[dict]] = []
        push_stream(base, "p", clients=4, size=50, seconds=2.0, acked=acked, sent=sent)
        assert len(acked) == sum(len(b) for b in sent) > 0
        assert record_count(dsn) == len(acked)
        assert rows(dsn, "SELECT sum(cost_nano) FROM records") == [(len(acked) * CENT_NANO,)]
        # bob's share (every third record) is what his budget check reads, at once
        bob = sum(1 for i in acked if int(i.rsplit("-", 1)[1]) % 3 == 0)
        full = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"},
                         headers={"Authorization": "Bearer admin-tok"}).json()
        assert (round(full["spent_usd"] * 100), full["over"]) == (bob, bob >= 1000)
        again = httpx.post(f"{base}/v1/usage", json=sent[0], headers=AUTH)
        assert again.json() == {"imported": 0, "replaced": 0, "unchanged": len(sent[0]), "rejected": []}


def test_every_worker_and_every_serve_sees_a_push_at_once(db, start_serve):  # noqa: F811
    """bob's $10 weekly budget. serve A (2 workers) takes the pushes; serve B (2 workers, no
    ingest token) only answers checks, on the same store. Right after the 200 that takes bob to
    $10, every check on either (the kernel spreads the connections over the workers) is a 429."""
    a, _ = start_serve(db, "--workers", "2")
    b, _ = start_serve(db, "--workers", "2", ingest=None)
    assert httpx.post(f"{a}/v1/usage", json=native("f1", cost=9.99), headers=AUTH).json()["imported"] == 1
    for base in (a, b):
        for _ in range(10):
            with httpx.Client() as fresh:  # a new connection each time: any worker may take it
                assert fresh.get(f"{base}/v1/budget/check", params={"user": "bob"}).status_code == 200
    assert httpx.post(f"{a}/v1/usage", json=native("f2", cost=0.01), headers=AUTH).json()["imported"] == 1
    for base in (a, b):
        for _ in range(10):
            with httpx.Client() as fresh:
                assert fresh.get(f"{base}/v1/budget/check", params={"user": "bob"}).status_code == 429
