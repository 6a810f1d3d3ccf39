"""The current time, which `USAGE_TUI_NOW` pins for reproducible runs (§2.5)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


class ClockError(ValueError):
    pass


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
    return value.astimezone(UTC)


def today(tz: ZoneInfo) -> date:
    return now().astimezone(tz).date()
