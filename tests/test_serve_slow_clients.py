"""`usage-tui serve` against clients that hold connections open (slowloris; issue 27, failure 2).

An attack round held 20,000 half-sent requests open until serve ran out of file descriptors
(`Too many open files`) and every budget check timed out. Here serve runs as a process (with 1
and with 2 workers) under a low descriptor limit, so that a few hundred connections from this
test process reach it, and:
- a request whose headers are still coming after the header deadline is dropped;
- a connection that sends nothing is dropped after the idle timeout (uvicorn's keep-alive one);
- with more slow connections than serve may hold, a budget check still gets its right answer,
  promptly: the oldest connections still waiting for their headers make room for new ones.

The store is test_serve_e2e's: bob spent $12 of his $10 weekly budget, so a check of bob is a
429 with Retry-After 471,600 s (now is pinned at Tue 2026-11-24T12:00Z; see that module).
"""

from __future__ import annotations

import os
import resource
import selectors
import socket
import time

import httpx
import pytest

from . import test_serve_e2e as e2e

db, start_serve = e2e.db, e2e.start_serve  # the fixtures: a store with bob over budget, serve

PARTIAL = b"GET /v1/budget/check?user=bob HTTP/1.1\r\nHost: gateway\r\n"  # headers not ended
BOB_OVER = (429, "471600")
FD_LIMIT = 256  # serve's RLIMIT_NOFILE here: a few hundred connections exhaust it


def lower_fd_limit() -> None:
    """In serve's process before it starts (its workers inherit it)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def closed_within(sock: socket.socket, seconds: float, drip: bytes = b"") -> float | None:
    """How long until the server closed `sock` (None: still open after `seconds`), sending one
    byte of `drip` every 0.2 s meanwhile (a client that trickles its headers)."""
    started = time.monotonic()
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(1024) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        if sent < len(drip):
            try:
                sock.sendall(drip[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
            sent += 1
    return None


def answer_on(sock: socket.socket) -> bytes:
    """Send a whole check of bob on `sock` and read its answer (head and body)."""
    sock.settimeout(10)
    sock.sendall(PARTIAL + b"\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(4096)
    return head


def open_half_sent(port: int, count: int) -> list[socket.socket]:
    """`count` connections that each sent the start of a request, made at once as an attacker
    would (a connect that waits for each would wait a second whenever serve's accept queue is
    full). Those serve dropped meanwhile to make room are among them, closed."""
    socks = [socket.socket() for _ in range(count)]
    with selectors.DefaultSelector() as sel:
        for sock in socks:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            sel.register(sock, selectors.EVENT_WRITE)
        pending, deadline = count, time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(1):
                sel.unregister(key.fileobj)
                pending -= 1
                try:
                    key.fileobj.send(PARTIAL)
                except OSError:
                    pass  # refused or dropped already
    assert pending == 0, f"{pending} connections never got through"
    return socks


def bob_check(base: str) -> tuple[tuple[int, str | None], float]:
    started = time.monotonic()
    r = httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}, timeout=10)
    return (r.status_code, r.headers.get("retry-after")), time.monotonic() - started


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_request_still_sending_its_headers_is_dropped_at_the_deadline(db, start_serve, workers):
    base, _ = start_serve(db, "--header-timeout", "1", "--workers", workers)
    port = int(base.rsplit(":", 1)[1])
    dripping = socket.create_connection(("127.0.0.1", port))
    dripping.sendall(PARTIAL)
    took = closed_within(dripping, 8, drip=b"X-Slow: " + b"a" * 100)  # a byte every 0.2 s
    assert took is not None and 0.8 < took < 4, took
    # a connection that never sends a byte is dropped too (the deadline is shorter than the idle time)
    silent = socket.create_connection(("127.0.0.1", port))
    took = closed_within(silent, 8)
    assert took is not None and 0.8 < took < 4, took
    # a request sent whole is answered, and its connection kept alive for the next one...
    kept = socket.create_connection(("127.0.0.1", port))
    for _ in range(2):
        assert answer_on(kept).startswith(b"HTTP/1.1 429 ")
        time.sleep(0.5)
    # ...whose headers must come whole within the deadline from its first byte (uvicorn's own
    # keep-alive timer stops at the first byte)
    took = closed_within(kept, 8, drip=PARTIAL)
    assert took is not None and 0.8 < took < 4, took


def test_an_idle_connection_is_dropped_after_the_keep_alive_time(db, start_serve):
    """Nothing sent at all: closed after uvicorn's keep-alive timeout (5 s), well before a
    header deadline of 60 s."""
    base, _ = start_serve(db, "--header-timeout", "60")
    port = int(base.rsplit(":", 1)[1])
    silent = socket.create_connection(("127.0.0.1", port))
    took = closed_within(silent, 15)
    assert took is not None and 4 < took < 9, took


@pytest.mark.parametrize("workers", ["1", "2"])
def test_many_slow_connections_do_not_stop_budget_checks(db, start_serve, workers):
    """Six times as many half-sent requests as serve has descriptors per process: before the
    fix, accept() failed with EMFILE and the check below never got an answer."""
    base, proc = start_serve(db, "--workers", workers, "--header-timeout", "60",
                             preexec_fn=lower_fd_limit)
    port = int(base.rsplit(":", 1)[1])
    slow = open_half_sent(port, 6 * FD_LIMIT)
    try:
        for _ in range(10):
            answer, took = bob_check(base)
            assert answer == BOB_OVER
            assert took < 2.0, took
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"ok": True}
        # no process of serve came near its descriptor limit
        pids = e2e.worker_pids(proc) if workers != "1" else [proc.pid]
        for pid in pids:
            assert len(os.listdir(f"/proc/{pid}/fd")) < FD_LIMIT - 32
        # and of the slow connections, the oldest were let go to make room
        assert closed_within(slow[0], 1) is not None
    finally:
        for sock in slow:
            sock.close()


def test_what_a_held_connection_may_make_serve_keep_is_bounded(db, start_serve):
    """nginx passes the client's headers on to /auth (up to 4 x 8 KiB by default): 40 KiB of
    them are answered. Headers still incomplete past 64 KiB are refused (400, closed), so a held
    connection cannot make serve buffer more."""
    base, _ = start_serve(db)
    cookies = {"Cookie": "c=" + "a" * 40_000}
    assert httpx.get(f"{base}/v1/budget/check", params={"user": "bob"}, headers=cookies, timeout=10).status_code == 429
    sock = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=10)
    sock.sendall(PARTIAL + b"Cookie: c=")
    answer = b""
    try:
        for _ in range(10):  # 80 KiB, 8 KiB at a time, never ending the headers
            sock.sendall(b"a" * 8192)
            time.sleep(0.05)
    except (BrokenPipeError, ConnectionResetError):
        pass
    while chunk := sock.recv(4096):
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:100]


def test_serve_takes_the_descriptors_its_hard_limit_allows(db, start_serve):
    """A soft limit of 1,024 (a shell's usual) under a higher hard one: serve raises its own to
    16,384 (what its cap of 4,096 connections and backlog of 2,048 need, with room to spare)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 16_384:
        pytest.skip(f"this process's hard limit is {hard}: serve cannot get 16,384 descriptors")

    def soft_1024():
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

    _, proc = start_serve(db, preexec_fn=soft_1024)
    limits = open(f"/proc/{proc.pid}/limits").read()
    assert [line.split()[3] for line in limits.splitlines() if line.startswith("Max open files")] == ["16384"]
