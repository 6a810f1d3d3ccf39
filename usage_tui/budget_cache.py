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
    cache.answer(store, lambda view: view.status(user))   # a BudgetStatus, or None: no budget

`answer` takes a ticket (the generation now), then reads in one statement whether the connection
sees everyone's usage and the data version, and answers from memory alone when it holds all the
answer needs; else it reads in one read snapshot, keeping what it read for the next answers.

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
MAX_SPEND_ENTRIES spends are kept (past it they are dropped and read again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from .budget import BudgetStatus, budget_from, status_at
from .directory import Directory
from .query import user_cost_nano
from .store import Store, StoreError

T = TypeVar("T")

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


# Refused (fail closed): a role that does not see everyone's usage would read others' spend and
# budgets as nothing, and allow.
DEMOTED = ("serve's database role no longer sees everyone's usage (it is not an org admin or the "
           "store's owner): no decision can be made")


class NotCached(Exception):
    """A memory-only view was asked for something the cache does not hold."""


def stamp(store: Store) -> tuple[bool, tuple[int, int]]:
    """(whether this connection sees everyone's usage, the data version), read in one statement
    where the engine can (PostgreSQL: one round trip), else one after the other."""
    both = getattr(store, "decision_stamp", None)
    if both is not None:
        return both()
    return store.sees_everything(), store.data_version()


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

    stamp = staticmethod(stamp)

    def answer(self, store: Store, fn: Callable[..., T], *args: Any) -> T:
        """`fn(view, *args)` with `view` this moment's CachedView of `store` (see the module's
        docstring). Raises StoreError(DEMOTED) when the connection does not see everything."""
        ticket = self.ticket(store)  # before anything is read

        def in_snapshot() -> T:
            if not store.sees_everything():
                raise StoreError(DEMOTED)
            return fn(self.view(store, ticket), *args)  # (ticket: as moved by the first read)

        with store.borrowed():
            try:
                sees, version = stamp(store)
            except Exception:  # (e.g. a torn read of SQLite's immutable reader: retried below)
                sees, version = True, None
            if not sees:
                raise StoreError(DEMOTED)
            if version is not None:
                ticket = self._observe(store, ticket, version)
                try:
                    return fn(CachedView(self, store, ticket, memory_only=True), *args)
                except NotCached:
                    pass
            return store.reading(in_snapshot)

    def view(self, store: Store, ticket: int, version: tuple[int, int] | None = None, *,
             memory_only: bool = False) -> CachedView:
        """The decisions of this read snapshot (call inside it, after `ticket`), or, with
        `version` read in one statement after `ticket`, of that statement's; `memory_only`:
        answers only from memory (NotCached when something is not there)."""
        if version is None:
            version = store.data_version()  # this snapshot's: the first read of it on SQLite
        return CachedView(self, store, self._observe(store, ticket, version), memory_only)

    def _observe(self, store: Store, ticket: int, version: tuple[int, int]) -> int:
        """The ticket to keep what is read under, once this thread has read `version`: a new
        generation when the thread sees it move (or reads it for the first time), then the new
        generation if nobody else started one since `ticket` was taken, else -1 (keep nothing)."""
        seen = (self._store_token, version)
        if getattr(self._local, "seen", None) == seen:
            return ticket
        self._local.seen = seen
        with self._lock:
            fresh = self._generation == ticket and store is self._store  # nobody else moved it
            self._new_generation()
            return self._generation if fresh else -1

    def _facts_for(self, store: Store, ticket: int, memory_only: bool) -> _Facts:
        with self._lock:
            if self._facts is not None and self._generation == ticket:
                return self._facts
        if memory_only:
            raise NotCached
        directory = store.directory()
        facts = _Facts(directory, store.budget_overrides(), ZoneInfo(directory.timezone))
        with self._lock:
            if self._generation == ticket and self._facts is None:
                self._facts = facts
        return facts

    def _spend(self, store: Store, facts: _Facts, ticket: int, user: str, start_us: int, end_us: int,
               memory_only: bool) -> int:
        key = (user, start_us, end_us)
        spent = facts.spend.get(key)
        if spent is not None and facts is self._facts:
            self.hits += 1
            return spent
        if memory_only:
            raise NotCached
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

    def __init__(self, cache: BudgetCache, store: Store, ticket: int, memory_only: bool = False) -> None:
        self._cache, self._store, self._ticket, self._memory_only = cache, store, ticket, memory_only
        self._facts = cache._facts_for(store, ticket, memory_only)

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
            self._store, facts, self._ticket, user, start_us, end_us, self._memory_only))
