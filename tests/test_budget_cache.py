"""The budget cache (budget_cache.py, issue 28): every answer is exactly the uncached one.

A property test interleaves writes (write_batch, write_batches, `budget set` overrides, a
directory reload) made through one connection with checks made through the cache on other
connections (several threads, each with its own, as serve's worker threads), at instants on both
sides of window boundaries in New York (DST starts 2026-03-08 07:00Z, ends 2026-11-01 06:00Z),
and compares every cached answer with budget_status read afresh. The hand-worked tests below
it check the figures themselves and a writer in another process.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usage_tui.budget import budget_status
from usage_tui.budget_cache import BudgetCache
from usage_tui.model import Record
from usage_tui.store import Batch, Store

from .conftest import pg_schema

ZONE = "America/New_York"
DIRECTORY = {
    "org": {"id": "o", "name": "O", "timezone": ZONE},
    "users": [{"id": "ann"}, {"id": "ben"}, {"id": "cy"}, {"id": "dee"}],
    "keys": [{"id": "k_ann", "owner": "ann"}],
    "budgets": [{"user": "ann", "limit_usd": 5.0, "window": "daily"},
                {"user": "ben", "limit_usd": 8.0, "window": "weekly"},
                {"user": "cy", "limit_usd": 12.0, "window": "monthly"}],
}
USERS = ("ann", "ben", "cy", "dee", "nobody")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def us(when: datetime) -> int:
    return (when - EPOCH) // timedelta(microseconds=1)


# Window edges in New York, in UTC: midnights (EST -5, EDT -4), Mondays, first days of months.
EDGES = [utc(t) for t in (
    "2026-03-01T05:00:00",  # Sun Mar 1, a month's first day (EST)
    "2026-03-08T05:00:00",  # Sun Mar 8 00:00 EST: the day DST starts (23 hours long)
    "2026-03-08T07:00:00",  # 02:00 EST → 03:00 EDT
    "2026-03-09T04:00:00",  # Mon Mar 9 00:00 EDT: a new day and a new week
    "2026-11-01T04:00:00",  # Sun Nov 1 00:00 EDT: a new month, the day DST ends (25 hours)
    "2026-11-01T06:00:00",  # 02:00 EDT → 01:00 EST
    "2026-11-02T05:00:00",  # Mon Nov 2 00:00 EST: a new day and week
)]
OFFSETS = [timedelta(microseconds=-1), timedelta(0), timedelta(microseconds=1), timedelta(minutes=-30),
           timedelta(minutes=45), timedelta(hours=-7), timedelta(hours=20)]

instants = st.builds(lambda e, o: e + o, st.sampled_from(EDGES), st.sampled_from(OFFSETS))
records = st.lists(st.builds(
    lambda rid, when, who, cents: Record(f"r{rid}", us(when), "p", "m", **who, cost_usd=cents / 100),
    st.integers(0, 11), instants,  # few ids: later writes replace earlier ones
    st.sampled_from([{"user": "ann"}, {"user": "ben"}, {"user": "cy"}, {"user": "dee"}, {"key": "k_ann"}]),
    st.integers(0, 400)), min_size=1, max_size=6)
writes = st.one_of(
    st.tuples(st.just("write_batch"), records),
    st.tuples(st.just("write_batches"), st.lists(records, min_size=1, max_size=3)),
    st.tuples(st.just("override"), st.sampled_from(["dee", "nobody"]), st.integers(0, 2000),
              st.sampled_from(["daily", "weekly", "monthly"])),
    st.tuples(st.just("reload"), st.sampled_from([ZONE, "Europe/Berlin"])),
)


def phases(moments: list[datetime]):
    """Phases of a write and then checks at a few moments of the example's (so that most
    answers between two writes come from memory, and some of them in another window)."""
    checks = st.tuples(st.just("check"), st.sampled_from(USERS), st.sampled_from(moments),
                       st.sampled_from([0, 0, 0, 0, 0, 1, 2]))  # mostly one thread: more hits
    return st.lists(st.tuples(writes, st.lists(checks, max_size=12)), min_size=1, max_size=6).map(
        lambda ps: [step for write, after in ps for step in (write, *after)])


ops = st.lists(instants, min_size=1, max_size=4, unique=True).flatmap(phases)


class Readers:
    """Threads that each read through their own connection (as serve's worker threads do)."""

    def __init__(self, n: int) -> None:
        self.pools = [ThreadPoolExecutor(max_workers=1) for _ in range(n)]

    def run(self, i: int, fn, *args):
        return self.pools[i].submit(fn, *args).result()

    def close(self, store) -> None:
        for pool in self.pools:
            pool.submit(store.close).result()
            pool.shutdown()


def cached_status(store, cache: BudgetCache, user: str, now: datetime):
    """What serve's handlers do."""
    return cache.answer(store, lambda view: view.status(user, now))


def as_tuple(status):
    return None if status is None else (status.as_json(), status.now)


def run_ops(writer, reader, fresh, steps) -> int:
    """Apply `steps`; after each check, compare the cache's answer with a fresh read's. Returns
    how many checks were answered."""
    cache, readers, checks = BudgetCache(), Readers(3), 0
    try:
        for step in steps:
            kind = step[0]
            if kind == "check":
                _, user, now, thread = step
                got = readers.run(thread, cached_status, reader, cache, user, now)
                want = budget_status(fresh, user, now)
                assert as_tuple(got) == as_tuple(want), (user, now, step)
                checks += 1
            elif kind == "write_batch":
                writer.write_batch(step[1], None)
            elif kind == "write_batches":
                writer.write_batches([Batch(b) for b in step[1]])
            elif kind == "override":
                _, user, cents, window = step
                writer.set_budget_override(user, cents / 100, window, "test", "2026-01-01T00:00:00Z")
            else:
                doc = copy.deepcopy(DIRECTORY)
                doc["org"]["timezone"] = step[1]
                writer.load_directory(doc)
    finally:
        readers.close(reader)
    return checks


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_sqlite_cached_answers_are_the_uncached_ones(tmp_path, steps):
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    writer = Store(path)
    writer.load_directory(copy.deepcopy(DIRECTORY))
    reader, fresh = Store(path, readonly=True), Store(path, readonly=True)
    try:
        run_ops(writer, reader, fresh, steps)
    finally:
        for s in (fresh, writer):
            s.close()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_postgres_cached_answers_are_the_uncached_ones(steps):
    from usage_tui.store.postgres import PostgresStore

    with ExitStack() as stack:
        _, dsn = stack.enter_context(pg_schema("cache"))
        writer = PostgresStore(dsn)
        writer.load_directory(copy.deepcopy(DIRECTORY))
        reader, fresh = PostgresStore(dsn, readonly=True), PostgresStore(dsn, readonly=True)
        reader.use_pool(3)  # as serve reads: connections borrowed per answer
        try:
            run_ops(writer, reader, fresh, steps)
        finally:
            for s in (fresh, writer, reader):
                s.close()


# -- worked by hand -----------------------------------------------------------------------------------
def test_a_cached_answer_follows_each_commit_and_each_window(tmp_path):
    path = tmp_path / "s.db"
    writer = Store(path)
    writer.load_directory(copy.deepcopy(DIRECTORY))
    reader, cache = Store(path, readonly=True), BudgetCache()
    # ann: $5 a day in New York. Sat 2026-03-07 12:00 EST = 17:00Z.
    sat = utc("2026-03-07T17:00:00")
    writer.write_batch([Record("a", us(utc("2026-03-07T06:00:00")), "p", "m", user="ann", cost_usd=3.0)], None)
    s = cached_status(reader, cache, "ann", sat)
    assert (s.spent_usd, s.over) == (3.0, False)
    assert cached_status(reader, cache, "ann", sat).spent_usd == 3.0
    assert cache.hits >= 1  # the second answer came from memory
    # +$2 through write_batches (left pending, as an import does): $5 = the limit → over;
    # Retry-After from 17:00Z to Sunday 00:00 EST (05:00Z) = 12 h = 43,200 s
    writer.write_batches([Batch([Record("b", us(utc("2026-03-07T16:59:59")), "p", "m", key="k_ann", cost_usd=2.0)])])
    s = cached_status(reader, cache, "ann", sat)
    assert (s.spent_usd, s.over, s.retry_after_s) == (5.0, True, 43_200)
    # one second later: the same spend from memory, Retry-After one second less
    s = cached_status(reader, cache, "ann", sat + timedelta(seconds=1))
    assert (s.spent_usd, s.retry_after_s) == (5.0, 43_199)
    # Sunday 2026-03-08 (the DST day, 23 hours: 05:00Z to 04:00Z on the 9th): a new window, $0
    s = cached_status(reader, cache, "ann", utc("2026-03-08T05:00:00"))
    assert (s.spent_usd, s.over, s.window_end) == (0.0, False, utc("2026-03-09T04:00:00"))
    # a record at 03:59:59Z on the 9th (23:59:59 EDT on the 8th) counts for the Sunday, and the
    # Sunday's answer, cached a moment ago, is not served again
    writer.write_batch([Record("c", us(utc("2026-03-09T03:59:59")), "p", "m", user="ann", cost_usd=4.5)], None)
    assert cached_status(reader, cache, "ann", utc("2026-03-08T06:00:00")).spent_usd == 4.5
    # dee has no budget; one set through `budget set` (another connection's commit) is seen at once
    assert cached_status(reader, cache, "dee", sat) is None
    writer.set_budget_override("dee", 1.0, "daily", "t", "2026-01-01T00:00:00Z")
    assert cached_status(reader, cache, "dee", sat).limit_usd == 1.0
    for s in (reader, writer):
        s.close()


def test_an_import_by_another_process_is_seen_at_once(tmp_path):
    path = tmp_path / "s.db"
    writer = Store(path)
    writer.load_directory(copy.deepcopy(DIRECTORY))
    writer.close()
    reader, cache = Store(path, readonly=True), BudgetCache()
    now = utc("2026-11-10T17:00:00")  # Tue Nov 10, noon EST; cy: $12 a month from Nov 1 04:00Z
    assert cached_status(reader, cache, "cy", now).spent_usd == 0.0
    assert cached_status(reader, cache, "cy", now).spent_usd == 0.0  # (from memory)
    lines = [{"id": "x1", "ts": "2026-11-01T04:00:00Z", "provider": "p", "model": "m", "user": "cy", "cost_usd": 7.25},
             {"id": "x2", "ts": "2026-11-01T03:59:59Z", "provider": "p", "model": "m", "user": "cy", "cost_usd": 50.0},
             {"id": "x3", "ts": "2026-11-09T23:00:00Z", "provider": "p", "model": "m", "user": "cy", "cost_usd": 4.75}]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines))
    done = subprocess.run([sys.executable, "-m", "usage_tui", "import", str(jsonl), "--db", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # x2 is October in New York (23:59:59 EDT on Oct 31): 7.25 + 4.75 = $12 = the limit → over
    s = cached_status(reader, cache, "cy", now)
    assert (s.spent_usd, s.over) == (12.0, True)
    reader.close()


def test_the_cache_is_bounded(tmp_path, monkeypatch):
    import usage_tui.budget_cache as budget_cache

    monkeypatch.setattr(budget_cache, "MAX_SPEND_ENTRIES", 3)
    path = tmp_path / "s.db"
    writer = Store(path)
    writer.load_directory(copy.deepcopy(DIRECTORY))
    reader, cache = Store(path, readonly=True), BudgetCache()
    days = [utc("2026-06-01T12:00:00") + timedelta(days=d) for d in range(5)]
    for day in days:  # five windows of ann's: five spends, never more than 3 kept
        cached_status(reader, cache, "ann", day)
        assert len(cache._facts.spend) <= 3
    assert len(cache._facts.spend) == 2  # the fourth emptied it: the fourth and the fifth
    for s in (reader, writer):
        s.close()


def test_a_spend_read_before_a_commit_is_not_kept_after_it(tmp_path, monkeypatch):
    # Thread A reads ann's spend, then pauses before keeping it; meanwhile another connection
    # commits $4 more and thread B answers (it sees the commit). What A read is older than that
    # commit: kept, B's next answer would be $1 instead of $5.
    import threading

    import usage_tui.budget_cache as budget_cache

    path = tmp_path / "s.db"
    writer = Store(path)
    writer.load_directory(copy.deepcopy(DIRECTORY))
    writer.write_batch([Record("a", us(utc("2026-06-01T14:00:00")), "p", "m", user="ann", cost_usd=1.0)], None)
    reader, cache, readers = Store(path, readonly=True), BudgetCache(), Readers(2)
    now = utc("2026-06-01T16:00:00")
    paused, resume = threading.Event(), threading.Event()
    real = budget_cache.user_cost_nano

    def slow(store, user, start_us, end_us):
        spent = real(store, user, start_us, end_us)
        if threading.current_thread().name.startswith("A"):
            paused.set()
            resume.wait(10)
        return spent

    readers.pools[0]._thread_name_prefix = "A"
    for i in (0, 1):  # both threads have read this data version once
        readers.run(i, cached_status, reader, cache, "cy", now)
    monkeypatch.setattr(budget_cache, "user_cost_nano", slow)
    a = readers.pools[0].submit(cached_status, reader, cache, "ann", now)
    assert paused.wait(10)
    writer.write_batch([Record("b", us(utc("2026-06-01T15:00:00")), "p", "m", user="ann", cost_usd=4.0)], None)
    assert readers.run(1, cached_status, reader, cache, "ann", now).spent_usd == 5.0
    resume.set()
    assert a.result().spent_usd == 1.0  # A's own answer: its snapshot's, from before the commit
    assert readers.run(1, cached_status, reader, cache, "ann", now).spent_usd == 5.0
    readers.close(reader)
    writer.close()
