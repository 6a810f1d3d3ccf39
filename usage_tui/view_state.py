"""What the TUI's view is, headless: the filters the keys and the sidebar choose, the date
range, and the words that name a view. With the viewer and today the filters are a QuerySpec,
which the one query function (usage_tui.query.run_query, as `spend summary`) answers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from . import clock
from .directory import Directory
from .fmt import GRANULARITY_WORDS, METRIC_TITLES
from .model import QueryResult, QuerySpec

PRESETS = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", "mtd": "Month to date"}
CUSTOM = "custom"


@dataclass(frozen=True)
class DateRange:
    """A preset (resolved against today, so a view left open follows the calendar) or two
    inclusive custom dates."""

    preset: str = "30d"
    since: date | None = None
    until: date | None = None

    def resolve(self, today: date) -> tuple[date | None, date | None]:
        """(since, until) for the query. The default preset leaves both to the query layer,
        exactly as `spend summary` without --since/--until does."""
        if self.preset == "30d":
            return None, None
        if self.preset == "7d":
            return today - timedelta(days=6), today
        if self.preset == "90d":
            return today - timedelta(days=89), today
        if self.preset == "mtd":
            return today.replace(day=1), today
        return self.since, self.until

    @property
    def label(self) -> str:
        return PRESETS.get(self.preset, "Custom")


def span_label(since: date, until: date, this_year: int | None = None) -> str:
    """`Oct 27 – Nov 25` in `this_year`; `Jan 01 – Jan 31 2020` for a range of another year (a
    custom range of 2020 must not read as this January); a year each when they differ."""
    if since.year != until.year:
        return f"{since:%b %d %Y} – {until:%b %d %Y}"
    if this_year is not None and since.year != this_year:
        return f"{since:%b %d} – {until:%b %d %Y}"
    return f"{since:%b %d} – {until:%b %d}"


def result_span(result: QueryResult) -> str:
    """The span of a view's dates, with the year unless it is the current one in the view's zone."""
    return span_label(result.since, result.until, clock.today(ZoneInfo(result.tz)).year)


@dataclass(frozen=True)
class Filters:
    """Everything the sidebar (and the keys) choose; with the viewer and today it is a QuerySpec."""

    scope: str = "personal"
    team: str | None = None
    metric: str = "cost"
    group_by: str = "model"
    granularity: str = "daily"
    dates: DateRange = field(default_factory=DateRange)
    search: str = ""
    focus: str | None = None

    def spec(self, viewer: str, today: date) -> QuerySpec:
        since, until = self.dates.resolve(today)
        return QuerySpec(
            viewer=viewer, scope=self.scope, team=self.team if self.scope == "team" else None,
            metric=self.metric, group_by=self.group_by, granularity=self.granularity,
            since=since, until=until, search=self.search or None, focus=self.focus,
        )

    def with_(self, **changes) -> Filters:
        return replace(self, **changes)


def cycle(options: Iterable[str], current: str) -> str:
    options = list(options)
    return options[(options.index(current) + 1) % len(options)] if current in options else options[0]


def graph_title(spec: QuerySpec) -> str:
    """`Cost per day — personal (alice)`, `… — team platform`, `… — org`, `… — model gpt-4o`."""
    base = f"{METRIC_TITLES[spec.metric]} per {GRANULARITY_WORDS[spec.granularity]}"
    if spec.focus is not None:
        return f"{base} — {spec.group_by} {spec.focus}"
    who = {"personal": f"personal ({spec.viewer})", "team": f"team {spec.team}", "org": "org"}[spec.scope]
    return f"{base} — {who}"


def viewer_label(directory: Directory, viewer: str) -> str:
    if directory.is_org_admin(viewer):
        role = "org admin"
    elif any(viewer in t.admins for t in directory.teams.values()):
        role = "team admin"
    elif viewer in directory.users:
        role = "member"
    else:
        role = "not in directory"
    return f"{viewer} · {role}"
