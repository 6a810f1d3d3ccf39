"""Budgets (§5): calendar windows in the org's zone, spend, 429 + Retry-After. No Textual here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import clock
from .model import NANO
from .query import local_midnight_us, user_cost_nano
from .store import Store

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def window_bounds(window: str, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar window holding `now`: [local midnight of its first day, of the next window's).
    Local midnights come from zoneinfo, so DST days are 23 or 25 hours (or 23.5 on Lord Howe)."""
    first = _first_day(window, now.astimezone(tz).date())
    start = local_midnight_us(first, tz)
    end = local_midnight_us(_next_first_day(window, first), tz)
    return _instant(start, tz), _instant(end, tz)


@dataclass
class BudgetStatus:
    user: str
    limit_usd: float
    window: str
    spent_usd: float
    remaining_usd: float
    window_start: datetime
    window_end: datetime
    over: bool
    retry_after_s: int | None
    now: datetime

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
    def burn_rate_usd_per_day(self) -> float:
        """Spend per day so far in this window."""
        elapsed = (self.now - self.window_start).total_seconds()
        return self.spent_usd / (elapsed / 86_400) if elapsed > 0 else 0.0

    @property
    def projected_exhaustion(self) -> datetime | None:
        """When the budget runs out at the current rate, if that happens before the window ends."""
        rate = self.burn_rate_usd_per_day
        if self.over or rate <= 0:
            return None
        when = self.now + timedelta(days=self.remaining_usd / rate)
        return when if when < self.window_end else None


def budget_for(store: Store, user: str) -> tuple[float, str] | None:
    """(limit, window): one set with `budget set` wins unless the directory names it (the store
    drops such overrides on load), else the directory's."""
    override = store.budget_overrides().get(user)
    if override is not None:
        return override
    budget = store.directory().budgets.get(user)
    return (budget.limit_usd, budget.window) if budget else None


def retry_after_seconds(now: datetime, window_end: datetime) -> int:
    """Whole seconds until the window ends, rounded up (never 0 while still inside it)."""
    return max(1, math.ceil((window_end - now).total_seconds()))


def budget_status(store: Store, user: str, now: datetime | None = None) -> BudgetStatus | None:
    """The user's budget now, or None when they have none (then they are never over)."""
    found = budget_for(store, user)
    if found is None:
        return None
    limit, window = found
    now = (now or clock.now()).astimezone(UTC)  # differences across zones must be real time
    tz = ZoneInfo(store.directory().timezone)
    start, end = window_bounds(window, now, tz)
    start_us = (start - _EPOCH) // timedelta(microseconds=1)
    end_us = (end - _EPOCH) // timedelta(microseconds=1)
    spent = user_cost_nano(store, user, start_us, end_us) / NANO
    over = spent >= limit
    return BudgetStatus(
        user=user, limit_usd=limit, window=window, spent_usd=spent,
        remaining_usd=max(0.0, limit - spent), window_start=start, window_end=end, over=over,
        retry_after_s=retry_after_seconds(now, end) if over else None, now=now,
    )
