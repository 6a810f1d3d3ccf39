"""Budget decisions from memory, exactly the uncached ones (issue 28: the gateway's hot path).

A budget decision reads the directory, the `budget set` overrides and the user's spend in the
window. Those change only when someone commits a write to the store (an import, a push, a
directory load, `budget set`), and every commit moves the store's data version: SQLite's
`PRAGMA data_version` (per connection: it counts the commits of *other* connections, which is
every commit `serve` can see, its own connections being read-only) and the PostgreSQL store's
meta `data_version` (bumped in each write transaction, the one its NOTIFY announces). So one
process keeps, for the data version it last saw, the directory, the overrides and the spend per
(user, window start, window end), and answers from them while the version stays the same.

    cache = BudgetCache()
    ticket = cache.ticket(store)              # before the read snapshot starts
    with store.borrowed(): store.reading(lambda: cache.view(store, ticket).status(user))

Never older than the last commit it can see. Every answer reads the data version in its own
read snapshot. SQLite's values are per connection, so they cannot be compared across the
worker threads' connections. Instead, a thread that sees its connection's value move (or reads
one for the first time) starts a new generation: everything cached is dropped. An entry enters
the cache only if no generation started between its ticket (taken before its snapshot began)
and its insertion, so every entry was read in a snapshot that began after the last commit any
thread had seen. A thread that sees no move since its last read has seen no commit since, and
every commit it saw before started a generation that everything cached is newer than.

Windows: the spend is keyed by the window's start and end as the org's zone gives them at the
moment of the answer (DST included), so a decision in a new window is never the old one's;
Retry-After is computed from the moment of the answer, never cached. Bounded: at most
MAX_SPEND_ENTRIES spends are kept (then the generation starts again empty).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from .budget import BudgetStatus, budget_from, status_at
from .directory import Directory
from .query import user_cost_nano
from .store import Store

# Users with a budget x windows in use: 300 users and three windows are 900; an org changing
# zones or a long-running serve crossing many windows adds more, never without bound.
MAX_SPEND_ENTRIES = 100_000


@dataclass
class _Facts:
    """What one generation read once: the snapshot's directory and overrides, and spends."""

    directory: Directory
    overrides: dict[str, tuple[float, str]]
    tz: ZoneInfo
    spend: dict[tuple[str, int, int], int] = field(default_factory=dict)


class BudgetCache:
    """One per serve process (thread-safe); see the module's docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._store: Store | None = None  # the store the cached facts are of
        self._store_token = object()  # new for each store, so a thread's last reading is of this one
        self._facts: _Facts | None = None
        self._local = threading.local()  # (store token, the data version this thread read last)
        self.hits = self.misses = 0  # (for bench/serve.py and the tests: how often it helped)

    def ticket(self, store: Store) -> int:
        """The generation now: take it before the answer's read snapshot begins."""
        with self._lock:
            if store is not self._store:  # serve reopened its store (a file replaced): start afresh
                self._store, self._store_token = store, object()
                self._new_generation()
            return self._generation

    def _new_generation(self) -> None:
        self._generation += 1
        self._facts = None

    def view(self, store: Store, ticket: int) -> CachedView:
        """The decisions of this read snapshot (call inside it, after `ticket`)."""
        version = store.data_version()  # this snapshot's: the first read of it on SQLite
        last = getattr(self._local, "seen", None)
        seen = (self._store_token, version)
        if last != seen:  # a commit this thread had not seen (or its first reading): drop all
            self._local.seen = seen
            with self._lock:
                fresh = self._generation == ticket and store is self._store  # nobody else moved it
                self._new_generation()
                ticket = self._generation if fresh else -1
        return CachedView(self, store, ticket)

    def _facts_for(self, store: Store, ticket: int) -> _Facts:
        with self._lock:
            if self._facts is not None and self._generation == ticket:
                return self._facts
        directory = store.directory()
        facts = _Facts(directory, store.budget_overrides(), ZoneInfo(directory.timezone))
        with self._lock:
            if self._generation == ticket and self._facts is None:
                self._facts = facts
        return facts

    def _spend(self, store: Store, facts: _Facts, ticket: int, user: str, start_us: int, end_us: int) -> int:
        key = (user, start_us, end_us)
        spent = facts.spend.get(key)
        if spent is not None and facts is self._facts:
            self.hits += 1
            return spent
        self.misses += 1
        spent = user_cost_nano(store, user, start_us, end_us)
        with self._lock:
            if self._generation == ticket and facts is self._facts:
                if len(facts.spend) >= MAX_SPEND_ENTRIES:
                    facts.spend.clear()
                facts.spend[key] = spent
        return spent


class CachedView:
    """The answers of one read snapshot, from the cache where it holds them."""

    def __init__(self, cache: BudgetCache, store: Store, ticket: int) -> None:
        self._cache, self._store, self._ticket = cache, store, ticket
        self._facts = cache._facts_for(store, ticket)

    @property
    def directory(self) -> Directory:
        return self._facts.directory

    def budget(self, user: str) -> tuple[float, str] | None:
        """budget.budget_for, from the cached facts."""
        return budget_from(user, self._facts.overrides, self._facts.directory)

    def status(self, user: str, now: datetime | None = None) -> BudgetStatus | None:
        """budget.budget_status, from the cached facts: the same answer, field for field."""
        found = self.budget(user)
        if found is None:
            return None
        facts = self._facts
        return status_at(user, found, facts.tz, now, lambda start_us, end_us: self._cache._spend(
            self._store, facts, self._ticket, user, start_us, end_us))
