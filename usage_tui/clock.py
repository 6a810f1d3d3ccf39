"""The current time, which `USAGE_TUI_NOW` pins for reproducible runs (§2.5)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


class ClockError(ValueError):
    pass


# A pinned "now" must leave room for every calendar window around it: the month holding
# 9999-12-15 would end in year 10000, which no date can hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 1, tzinfo=UTC)


def now() -> datetime:
    """Aware UTC now, or the instant in USAGE_TUI_NOW (ISO 8601; naive means UTC)."""
    pinned = os.environ.get("USAGE_TUI_NOW")
    if not pinned:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(pinned)
    except ValueError:
        raise ClockError(f"USAGE_TUI_NOW: not an ISO 8601 timestamp: {pinned!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC
        value = LATEST
    if not EARLIEST <= value < LATEST:
        raise ClockError(f"USAGE_TUI_NOW: {pinned!r} is outside {EARLIEST:%Y-%m-%d} … 9999-11-30 "
                         "(the budget window holding now must end before year 10000)")
    return value


def today(tz: ZoneInfo) -> date:
    return now().astimezone(tz).date()
