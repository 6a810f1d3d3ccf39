"""The checks a query passes before any SQL runs: its words (zone, dates, scope, metric,
grouping, granularity) and whether the viewer may see its scope (ScopeError). Moved out of
query.py (issue 28) so that no module passes ~500 lines; query.py re-exports these names.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .directory import Directory
from .model import GRANULARITIES, GROUPINGS, METRICS, SCOPES, QuerySpec


class QueryError(ValueError):
    """Bad usage or input (exit 2)."""


class ScopeError(PermissionError):
    """The viewer may not see this scope (exit 3). No data is returned."""


def zone(name: str) -> ZoneInfo:
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(f'unknown time zone "{name}" (use an IANA name such as Europe/Berlin)') from None


def parse_date(value: str, name: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or ""):
        raise QueryError(f'{name}: "{value}" is not a date (YYYY-MM-DD)')
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(f'{name}: "{value}" is not a valid date') from None


def check_scope(directory: Directory, spec: QuerySpec) -> None:
    """Raise QueryError for a malformed spec and ScopeError for a scope the viewer may not see."""
    if spec.scope not in SCOPES:
        raise QueryError(f'unknown scope "{spec.scope}" (one of {", ".join(SCOPES)})')
    if spec.metric not in METRICS:
        raise QueryError(f'unknown metric "{spec.metric}" (one of {", ".join(METRICS)})')
    if spec.group_by not in GROUPINGS:
        raise QueryError(f'unknown grouping "{spec.group_by}" (one of {", ".join(GROUPINGS)})')
    if spec.granularity not in GRANULARITIES:
        raise QueryError(f'unknown granularity "{spec.granularity}" (one of {", ".join(GRANULARITIES)})')
    if spec.scope == "team" and not spec.team:
        raise QueryError("team scope needs a team (--team TEAM)")
    admin = directory.is_org_admin(spec.viewer)
    if spec.scope == "org" and not admin:
        raise ScopeError(f'{spec.viewer} may not view the org scope (org admins only)')
    if spec.scope == "team" and not admin:
        team = directory.teams.get(spec.team)
        if team is None or spec.viewer not in team.admins:
            raise ScopeError(f'{spec.viewer} may not view team "{spec.team}" (its admins and org admins only)')
    if spec.scope == "team" and spec.team not in directory.teams:
        # Only an org admin gets here with an unknown team (others are refused above, known
        # team or not: nothing about other teams leaks): a typo, not an empty team.
        raise QueryError(f'unknown team "{spec.team}"{closest(spec.team, directory.teams)}')


def closest(word: str, choices, n: int = 3) -> str:
    """ "; closest: a, b" naming up to n close matches of `word` among `choices`, or ""."""
    found = difflib.get_close_matches(word, sorted(choices), n=n, cutoff=0.5)
    return f" (closest: {', '.join(found)})" if found else ""


def check_named_viewer(directory: Directory, name: str, how: str = "--as") -> None:
    """A viewer named explicitly (--as, USAGE_TUI_USER) must be in the directory: a typo would
    otherwise show an empty personal view with exit 0. The OS login may be missing from it
    (§2.4: identities appear in records first), and a store without a directory knows nobody
    to compare with. Who may impersonate at all is decided elsewhere."""
    if directory.users and name not in directory.users:
        near = closest(name, directory.users).replace(" (closest:", "; closest:").rstrip(")")
        raise QueryError(f'{how}: unknown user "{name}" (not in the directory{near})')
