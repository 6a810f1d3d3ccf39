"""The options of a view, described once: name, type, choices, default and help.

`spend summary` and `spend records` build their click options from these (usage_tui/cli/),
and other front ends (the MCP tools of issue 26) take arguments of the same names. Headless:
no click, no Textual; plain data a front end turns into its own kind of option.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .model import GRANULARITIES, GROUPINGS, HISTORY_ORDERS, METRICS, SCOPES
from .query import QueryError


@dataclass(frozen=True)
class ViewOption:
    """One option: `name` is the argument's name (the QuerySpec field's, where it has one); on
    the command line it is `--name` with dashes."""

    name: str
    help: str
    choices: tuple[str, ...] | None = None
    default: str | int | None = None
    type: type = str  # str, int, or bool (a flag)
    min: int | None = None  # bounds of an int option
    max: int | None = None
    metavar: str | None = None
    show_default: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def with_help(self, help: str) -> ViewOption:
        """The same option where a command means something narrower by it (same name, type, default)."""
        return replace(self, help=help)


RECORDS_LIMIT_MAX = 1_000_000  # records one `spend records` prints, at most

SCOPE = ViewOption("scope", choices=SCOPES,
                   help="Whose usage: yours, a team's, or the whole org's.  [default: personal, or team with --team]")
TEAM = ViewOption("team", metavar="T", help="Team for --scope team (--team alone implies it).")
METRIC = ViewOption("metric", choices=METRICS, default="cost", show_default=True, help="What to measure.")
GROUP_BY = ViewOption("group_by", choices=GROUPINGS, default="model", show_default=True,
                      help="Rows of the table (the grouping --focus names a row of).")
GRANULARITY = ViewOption("granularity", choices=GRANULARITIES, default="daily", show_default=True,
                         help="Series buckets: calendar days or ISO weeks.")
SINCE = ViewOption("since", metavar="DATE", help="First day, inclusive (default: 29 days before --until).")
UNTIL = ViewOption("until", metavar="DATE", help="Last day, inclusive (default: today).")
SEARCH = ViewOption("search", metavar="TEXT", help="Only rows whose key contains TEXT.")
FOCUS = ViewOption("focus", metavar="KEY", help="Series of one row only.")
TZ = ViewOption("tz", metavar="ZONE", help="IANA time zone for days and weeks (default: the org's).")
LIMIT = ViewOption("limit", type=int, default=50, min=1, max=RECORDS_LIMIT_MAX, show_default=True,
                   help="How many records.")
BY_PERIOD = ViewOption("by_period", type=bool, default=False,
                       help="Every period × row: a pivot (rows × periods) in the table, one line per "
                            "period and row in csv and jsonl, a `periods` list in json.")
ORDER = ViewOption("order", choices=HISTORY_ORDERS, default="time", show_default=True,
                   help="Newest first, or costliest first.")

# The records of a view: search and focus say which records rather than which rows.
RECORD_SEARCH = SEARCH.with_help("Only records whose id, model or user contains TEXT (case-insensitive).")
RECORD_FOCUS = FOCUS.with_help("Only the records of one row of --group-by (as `spend summary` names it).")

# Each command's view options, in the order its help lists them (--tz comes last, after --db and --as).
SUMMARY = (SCOPE, TEAM, METRIC, GROUP_BY, GRANULARITY, SINCE, UNTIL, SEARCH, FOCUS, BY_PERIOD)
RECORDS = (SCOPE, TEAM, GROUP_BY, SINCE, UNTIL, RECORD_SEARCH, RECORD_FOCUS, LIMIT, ORDER)


def summary_scope(scope: str | None, team: str | None) -> str:
    """--team alone means the team scope; --team with another scope is a contradiction."""
    if team is not None and scope not in (None, "team"):
        raise QueryError(f"--team {team} goes with --scope team, not --scope {scope}")
    return scope or ("team" if team is not None else "personal")
