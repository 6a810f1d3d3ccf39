"""The CLI command of a TUI view (the `c` key): the view's filters as `usage-tui spend summary`
options, so a view found by hand can be handed to a script or an agent unchanged (the MCP
tools take the same names). Headless: plain strings from view_state.Filters.

The dates are the view's resolved range (a preset such as "last 30 days" becomes its two
dates) and the zone is the one the view was computed in, so the command gives the numbers on
screen whenever it is run, not the numbers of another day.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import date

from .view_options import GRANULARITY, GROUP_BY, METRIC, SCOPE, ViewOption
from .view_state import Filters

PROGRAM = "usage-tui"


def _flag(option: ViewOption, value) -> list[str]:
    return [option.flag, str(value)]


def view_arguments(filters: Filters, since: date, until: date, tz: str) -> list[str]:
    """`spend summary`'s options for the view, defaults left out (scope, metric, grouping and
    granularity at their defaults say nothing), the range and zone always in."""
    args: list[str] = []
    if filters.scope == "team" and filters.team:
        args += ["--team", filters.team]  # --team alone implies --scope team
    elif filters.scope != "personal":
        args += _flag(SCOPE, filters.scope)
    for option, value in ((METRIC, filters.metric), (GROUP_BY, filters.group_by),
                          (GRANULARITY, filters.granularity)):
        if value != option.default:
            args += _flag(option, value)
    args += ["--since", since.isoformat(), "--until", until.isoformat(), "--tz", tz]
    if filters.search:
        args += ["--search", filters.search]
    if filters.focus is not None:
        args += ["--focus", filters.focus]
    return args


def view_command(filters: Filters, since: date, until: date, tz: str, *, db: str | None = None,
                 as_user: str | None = None) -> str:
    """The shell command, quoted for a POSIX shell: `usage-tui spend summary --scope org …`.
    `db` and `as_user` when the TUI was opened with a store or a viewer other than the
    defaults (the command must read the same store as the same person)."""
    words = [PROGRAM, "spend", "summary", *view_arguments(filters, since, until, tz)]
    if db is not None:
        words += ["--db", db]
    if as_user is not None:
        words += ["--as", as_user]
    return shlex.join(words)


def mcp_arguments(filters: Filters, since: date, until: date, tz: str) -> dict[str, str]:
    """The same view as the MCP tool spend_summary's arguments: the options' names without
    their dashes (`--group-by user` is `"group_by": "user"`)."""
    args = view_arguments(filters, since, until, tz)
    return {flag[2:].replace("-", "_"): value for flag, value in zip(args[::2], args[1::2], strict=True)}


@dataclass(frozen=True)
class ViewCommand:
    """The view as a shell command, and as the MCP tool's arguments."""

    shell: str
    mcp: dict[str, str]

    @property
    def mcp_text(self) -> str:
        return "spend_summary " + json.dumps(self.mcp, ensure_ascii=False)


def command_for(filters: Filters, result, store_path) -> ViewCommand | None:
    """The command of the view on screen (`result`: the QueryResult shown for `filters`; None
    before the first answer). --db when the store is not the one the CLI opens by default;
    --as always: the view is the viewer's (as yourself it is no impersonation, and anyone
    else running the command gets their own rights, never yours)."""
    if result is None:
        return None
    from .cli.common import default_db  # where the CLI looks without --db

    db = None if str(store_path) == str(default_db()) else str(store_path)
    return ViewCommand(view_command(filters, result.since, result.until, result.tz, db=db, as_user=result.spec.viewer),
                       mcp_arguments(filters, result.since, result.until, result.tz))
