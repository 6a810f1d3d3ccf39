"""`usage-tui mcp`: usage and budgets for AI agents over the Model Context Protocol (stdio), with
the official `mcp` SDK's MCPServer. Read-only.

- The tools' arguments are the CLI's options, by the same names: they are built from
  usage_tui/view_options.py, as the click options of `spend summary` and `spend records` are.
- A tool's result is the document the CLI prints with `--format json` (usage_tui/json_docs.py).
- The viewer is the OS user running the server (or `--as`, as in the CLI), resolved again at
  every call, so a directory loaded meanwhile applies; a refused scope, a typo, a store that
  cannot be read: a tool error carrying the CLI's one-line message, nothing else.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from . import clock
from .budget_explain import check_budget_reader, explain
from .directory import DirectoryError
from .json_docs import budget_doc, budgets_doc, period_cell, record_doc, schema, summary_doc
from .model import GROUPINGS, QuerySpec
from .query import QueryError, ScopeError, parse_date, run_query
from .store import StoreError, UsageStore
from .view_options import LIMIT, RECORDS, SINCE, SUMMARY, TZ, UNTIL, ViewOption, summary_scope

# Records one spend_records call returns, at most: a tool result is read whole by a model, so
# far fewer than the CLI's million (which streams).
MCP_RECORDS_MAX = 1000
RECORDS_MCP = tuple(replace(o, max=MCP_RECORDS_MAX) if o is LIMIT else o for o in RECORDS)

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

INSTRUCTIONS = (
    "usage-tui: attributed AI usage (cost, requests, tokens) and per-user budgets, as the user running "
    "this server may see them (their own usage; their teams' as a team admin; the org's as an org admin). "
    "Start with list_dimensions to learn the scopes, teams, users and models you may ask about. "
    "Money is USD; cost_usd never includes unpriced requests (unpriced_requests counts them)."
)


def _param(option: ViewOption) -> inspect.Parameter:
    """The tool argument of a view option: its name, type (choices as an enum, int bounds),
    default and help."""
    if option.choices is not None:
        kind: Any = Literal[option.choices]  # type: ignore[valid-type]
    elif option.type is int:
        kind = Annotated[int, Field(ge=option.min, le=option.max)]
    else:
        kind = option.type
    if option.default is None:
        kind = kind | None
    default = option.default if option.type is not bool else bool(option.default)
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[kind, Field(description=option.help)])


def _tool(fn: Callable[..., dict], options: tuple[ViewOption, ...], extra: tuple[inspect.Parameter, ...] = ()):
    """`fn(**arguments)` with the signature MCPServer reads the input schema from."""
    def tool(**arguments: Any) -> dict[str, Any]:
        return fn(**arguments)

    tool.__signature__ = inspect.Signature([*(_param(o) for o in options), *extra],  # type: ignore[attr-defined]
                                           return_annotation=dict[str, Any])
    tool.__name__ = fn.__name__
    return tool


USER = inspect.Parameter("user", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
    str | None, Field(description="The user (a directory user id); default: you. Others' budgets: org admins and "
                                  "the store's owner only.")])
ALL = inspect.Parameter("all", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
    bool, Field(description="Every user with a budget (org admins and the store's owner only).")])


class Tools:
    """The tools over one store, for one viewer (`as_user`: --as)."""

    def __init__(self, store: UsageStore, as_user: str | None = None,
                 identity_of: Callable[[UsageStore, str | None], Any] | None = None) -> None:
        self.store = store
        self.as_user = as_user
        if identity_of is None:
            from .cli.common import identity_of  # the CLI's rules: who runs it, --as, typos
        self._identity_of = identity_of

    def identity(self):
        return self._identity_of(self.store, self.as_user)

    def spend_summary(self, *, scope, team, metric, group_by, granularity, since, until, search, focus, by_period,
                      tz) -> dict[str, Any]:
        from .query_periods import run_by_period

        spec = QuerySpec(viewer=self.identity().viewer, scope=summary_scope(scope, team), team=team, metric=metric,
                         group_by=group_by, granularity=granularity, since=_date(since, "since"),
                         until=_date(until, "until"), tz=tz, search=search, focus=focus)
        if by_period:
            result, cells = run_by_period(self.store, spec)
            return summary_doc(result, [period_cell(c.period, c.partial, c.row, c.totals) for c in cells])
        return summary_doc(run_query(self.store, spec, require_focus=True))

    def spend_records(self, *, scope, team, group_by, since, until, search, focus, limit, order, tz) -> dict[str, Any]:
        from zoneinfo import ZoneInfo

        from .history import Explainer
        from .query import check_scope, iter_history, plan_query

        scope = summary_scope(scope, team)
        directory = self.store.directory()
        spec = QuerySpec(viewer=self.identity().viewer, scope=scope, team=team, group_by=group_by,
                         since=_date(since, "since"), until=_date(until, "until"), tz=tz, focus=focus)
        check_scope(directory, spec)
        if focus is not None:
            run_query(self.store, spec, require_focus=True)
        plan = plan_query(spec, directory)
        records = list(iter_history(self.store, spec, order=order, search=search, limit=limit + 1))
        explainer, zone = Explainer(directory, self.store.pricer()), ZoneInfo(plan.tz)
        return {"schema": schema("spend-records"), "viewer": spec.viewer,
                "scope": {"kind": scope, **({"team": team} if scope == "team" else {})}, "group_by": group_by,
                "focus": focus, "since": plan.since.isoformat(), "until": plan.until.isoformat(), "tz": plan.tz,
                "search": search, "order": order, "limit": limit,
                "records": [record_doc(explainer.as_json(r, zone)) for r in records[:limit]],
                "more": len(records) > limit}

    def budget_status(self, *, user, all) -> dict[str, Any]:  # noqa: A002 - the CLI's --all
        from .budget import budget_status, no_budget_json, users_with_budgets

        identity = self.identity()
        if all:
            if user:
                raise QueryError("give user or all, not both")
            identity.require_admin("list every budget")
            statuses = [budget_status(self.store, u) for u in users_with_budgets(self.store)]
            return budgets_doc([s.as_json() for s in statuses if s is not None])
        user = user or identity.viewer
        check_budget_reader(identity, user)
        status = budget_status(self.store, user)
        if status is None:
            self._known(user, identity)
            return budget_doc(no_budget_json(user))
        return budget_doc(status.as_json())

    def budget_explain(self, *, user) -> dict[str, Any]:
        identity = self.identity()
        user = user or identity.viewer
        check_budget_reader(identity, user)
        doc = explain(self.store, user)
        if doc["limit_usd"] is None:
            self._known(user, identity)
        return doc

    def _known(self, user: str, identity) -> None:
        if user != identity.viewer and user not in self.store.directory().users:
            raise QueryError(f'unknown user "{user}" (not in the directory, no budget)')

    def list_dimensions(self, *, since, until, tz) -> dict[str, Any]:
        """The scopes the viewer may use, and the rows of every grouping in what they may see."""
        identity = self.identity()
        directory = self.store.directory()
        viewer = identity.viewer
        org = directory.is_org_admin(viewer)
        teams = sorted(directory.teams) if org else sorted(t for t, team in directory.teams.items()
                                                          if viewer in team.admins)
        views = [("org", None)] if org else [("personal", None), *(("team", t) for t in teams)]
        values: dict[str, set[str]] = {g: set() for g in GROUPINGS}
        result = None
        for scope, team in views:
            for group_by in GROUPINGS:
                spec = QuerySpec(viewer=viewer, scope=scope, team=team, group_by=group_by,
                                 since=_date(since, "since"), until=_date(until, "until"), tz=tz)
                result = run_query(self.store, spec)
                values[group_by].update(r.key for r in result.rows)
        return {"schema": schema("dimensions"), "viewer": viewer,
                "role": "org admin" if org else "team admin" if teams else "member",
                "scopes": {"personal": True, "teams": teams, "org": org},
                "since": result.since.isoformat(), "until": result.until.isoformat(), "tz": result.tz,
                "dimensions": {g: sorted(v) for g, v in values.items()}}


def _date(value: str | None, name: str):
    return parse_date(value, name) if value else None


DESCRIPTIONS = {
    "spend_summary": (
        "Totals, the daily or weekly series and rows grouped by one dimension (model, user, team, agent, key, "
        "provider, verdict) for a scope and date range: `usage-tui spend summary --format json`. by_period=true "
        "adds `periods`, one cell per period and row. Example: \"How many tokens did each team use per week "
        "this month?\" → {\"scope\": \"org\", \"group_by\": \"team\", \"metric\": \"tokens\", "
        "\"granularity\": \"weekly\", \"since\": \"2026-11-01\", \"by_period\": true}."),
    "spend_records": (
        "The individual requests behind a view or one of its rows, newest or costliest first, each with how it "
        "was attributed and priced: `usage-tui spend records --format json`. Example: \"Which requests made "
        "bob's spend on claude-sonnet-4-5 this week?\" → {\"scope\": \"org\", \"group_by\": \"user\", "
        "\"focus\": \"bob\", \"search\": \"claude-sonnet-4-5\", \"order\": \"cost\", \"since\": \"2026-11-23\"}."),
    "budget_status": (
        "A user's budget now: limit, window, spent, remaining, over or not, Retry-After (`usage-tui budget "
        "status --format json`); all=true lists everyone's (admins). Example: \"Is alice over budget?\" → "
        "{\"user\": \"alice\"}."),
    "budget_explain": (
        "Why a user is over budget or not and when they can retry: window, spent, limit, Retry-After, when it "
        "resets, the burn rate and when the budget runs out at it, and the models and requests that spent "
        "most of the window (`usage-tui budget explain --format json`). Example: \"Why is bob over budget and "
        "when can he retry?\" → {\"user\": \"bob\"}."),
    "list_dimensions": (
        "What you may ask about: your role, the scopes you may view (personal; teams you administer; the org "
        "for org admins) and the models, users, teams, agents, keys, providers and verdicts with usage in what "
        "you may see over the range (default: the last 30 days). Call it first. Example: \"Which models has my "
        "team used?\" → {}."),
}


def build_server(tools: Tools) -> MCPServer:
    from importlib.metadata import version

    server = MCPServer("usage-tui", instructions=INSTRUCTIONS, version=version("usage-tui"))
    specs = (("spend_summary", SUMMARY + (TZ,), ()), ("spend_records", RECORDS_MCP + (TZ,), ()),
             ("budget_status", (), (USER, ALL)), ("budget_explain", (), (USER,)),
             ("list_dimensions", (SINCE, UNTIL, TZ), ()))
    for name, options, extra in specs:
        server.add_tool(_tool(_guarded(getattr(tools, name)), options, extra), name=name,
                        description=DESCRIPTIONS[name], annotations=READ_ONLY, structured_output=True)
    return server


def _guarded(fn: Callable[..., dict]) -> Callable[..., Any]:
    """The CLI's one-line errors as tool errors carrying that line alone (the SDK would prefix a
    raised ToolError with "Error executing tool …"); anything else is a crash the SDK reports
    without its text."""
    def call(**arguments: Any) -> dict | CallToolResult:
        try:
            return fn(**arguments)
        except (ScopeError, QueryError, StoreError, DirectoryError, clock.ClockError) as exc:
            return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)

    call.__name__ = fn.__name__
    return call
