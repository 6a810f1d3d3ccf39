"""Budgets (§5): calendar windows in the org's zone, spend, 429 + Retry-After. No Textual here.

A user is over budget when the cost attributed to them in the current calendar window (a day,
an ISO week from Monday, or a month, in the org's reporting zone) is at or above the limit.
Money is compared in integer nano-dollars, as the store keeps it, so "at the limit" is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import clock
from .model import MAX_LIMIT_USD, NANO, WINDOWS, bounded_usd, usd_to_nano
from .query import local_midnight_us, user_cost_nano
from .store import Store, StoreError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _first_day(window: str, today: date) -> date:
    if window == "daily":
        return today
    if window == "weekly":
        return today - timedelta(days=today.weekday())  # Monday
    return today.replace(day=1)


def _next_first_day(window: str, first: date) -> date:
    if window == "daily":
        return first + timedelta(days=1)
    if window == "weekly":
        return first + timedelta(days=7)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def _instant(us: int, tz: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(tz)


def _aware(now: datetime) -> datetime:
    # A naive datetime means UTC, as USAGE_TUI_NOW reads it; never the machine's local zone.
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now


def window_bounds(window: str, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar window holding `now`: [local midnight of its first day, of the next window's),
    both aware in `tz`. Local midnights come from zoneinfo, so DST days last 23 or 25 hours (23.5
    or 24.5 on Lord Howe); a midnight skipped by DST starts the day at the transition."""
    if window not in WINDOWS:
        raise ValueError(f'unknown budget window "{window}" (one of {", ".join(WINDOWS)})')
    first = _first_day(window, _aware(now).astimezone(tz).date())
    start = local_midnight_us(first, tz)
    end = local_midnight_us(_next_first_day(window, first), tz)
    return _instant(start, tz), _instant(end, tz)


@dataclass
class BudgetStatus:
    """One user's budget at `now`."""

    user: str
    limit_usd: float
    window: str
    spent_usd: float
    remaining_usd: float
    window_start: datetime  # aware, in the org's zone
    window_end: datetime
    over: bool
    retry_after_s: int | None  # None when not over
    now: datetime | None = None  # the instant it was computed for (burn rate); None: the clock's

    def as_json(self) -> dict[str, Any]:
        """Exactly §5's shape."""
        return {
            "user": self.user,
            "limit_usd": self.limit_usd,
            "window": self.window,
            "spent_usd": self.spent_usd,
            "remaining_usd": self.remaining_usd,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "over": self.over,
            "retry_after_s": self.retry_after_s,
        }

    @property
    def _at(self) -> datetime:
        return _aware(self.now) if self.now is not None else clock.now()

    @property
    def burn_rate_usd_per_day(self) -> float:
        """Spend per day so far in this window (0 at its very start)."""
        elapsed = (self._at - self.window_start).total_seconds()
        return self.spent_usd / (elapsed / 86_400) if elapsed > 0 else 0.0

    @property
    def projected_exhaustion(self) -> datetime | None:
        """When the budget runs out at the current burn rate, if that happens before the window
        ends; None when already over, when nothing was spent, or when it lasts the window."""
        rate = self.burn_rate_usd_per_day
        if self.over or rate <= 0:
            return None
        when = self._at + timedelta(days=self.remaining_usd / rate)
        return when.astimezone(self.window_end.tzinfo) if when < self.window_end else None


def no_budget_json(user: str) -> dict[str, Any]:
    """§5's keys for a user without a budget: never over, nothing else to say."""
    return {"user": user, "limit_usd": None, "window": None, "spent_usd": None, "remaining_usd": None,
            "window_start": None, "window_end": None, "over": False, "retry_after_s": None}


def budget_for(store: Store, user: str) -> tuple[float, str] | None:
    """(limit, window): one set with `budget set` wins unless the directory names it (the store
    drops such overrides on load), else the directory's."""
    return budget_from(user, store.budget_overrides(), store.directory())


def budget_from(user: str, overrides: dict[str, tuple[float, str]], directory) -> tuple[float, str] | None:
    """budget_for on facts already read (the overrides and the directory of one snapshot)."""
    override = overrides.get(user)
    if override is not None:
        if bounded_usd(override[0], MAX_LIMIT_USD):  # set by an older version that took inf/nan
            # fail closed: no decision (exit 2, HTTP 503) rather than "allowed"
            raise StoreError(f'the budget of "{user}" in this store is not a usable limit ({override[0]}): '
                             "set it again with `usage-tui budget set`")
        return override
    budget = directory.budgets.get(user)
    return (budget.limit_usd, budget.window) if budget else None


def users_with_budgets(store: Store) -> list[str]:
    """Every user with a budget, from the directory or `budget set`, sorted."""
    return sorted(set(store.directory().budgets) | set(store.budget_overrides()))


def retry_after_seconds(now: datetime, window_end: datetime) -> int:
    """Whole seconds until the window ends, rounded up (never 0 while still inside it)."""
    return max(1, math.ceil((window_end - _aware(now)).total_seconds()))


def budget_status(store: Store, user: str, now: datetime | None = None) -> BudgetStatus | None:
    """The user's budget at `now` (default: the clock, which USAGE_TUI_NOW pins), or None when
    they have none (then they are never over). The limit and the spend come from one read
    snapshot of the store."""
    return store.reading(lambda: _budget_status(store, user, now))


def _budget_status(store: Store, user: str, now: datetime | None) -> BudgetStatus | None:
    found = budget_for(store, user)
    if found is None:
        return None
    return status_at(user, found, ZoneInfo(store.directory().timezone), now,
                     lambda start_us, end_us: user_cost_nano(store, user, start_us, end_us))


def window_us(window: str, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime, int, int]:
    """window_bounds, and the same two instants in µs since the epoch (the store's time)."""
    start, end = window_bounds(window, now, tz)
    return start, end, (start - _EPOCH) // _US, (end - _EPOCH) // _US


def status_at(user: str, found: tuple[float, str], tz: ZoneInfo, now: datetime | None,
              spent_nano_in: Callable[[int, int], int]) -> BudgetStatus:
    """The status of `user`, whose budget is `found` (limit, window), at `now` (default: the
    clock), with `spent_nano_in(start_us, end_us)` giving their spend in a window."""
    limit, window = found
    now = _aware(now or clock.now()).astimezone(UTC)  # differences across zones must be real time
    start, end, start_us, end_us = window_us(window, now, tz)
    spent_nano = spent_nano_in(start_us, end_us)
    limit_nano = usd_to_nano(limit)
    over = spent_nano >= limit_nano
    return BudgetStatus(
        user=user, limit_usd=limit, window=window, spent_usd=spent_nano / NANO,
        remaining_usd=max(0, limit_nano - spent_nano) / NANO, window_start=start, window_end=end,
        over=over, retry_after_s=retry_after_seconds(now, end) if over else None, now=now,
    )
