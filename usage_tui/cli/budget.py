"""`usage-tui budget`: status, set, and the gateway check (200, or 429 + Retry-After)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .. import clock
from ..budget_explain import check_budget_reader
from ..fmt import money
from ..json_docs import budget_doc, budgets_doc, check_doc
from ..model import MAX_LIMIT_USD, WINDOWS, bounded_usd
from ..query import ScopeError
from .common import (
    db_option,
    fail,
    handles_errors,
    identity_of,
    open_store,
    require_full_view,
    require_writable,
    viewer_option,
)

EXIT_OVER_BUDGET = 75  # EX_TEMPFAIL: try again later


@click.group()
def budget() -> None:
    """Per-user budgets: status, set, and the gateway check (429 + Retry-After).

    Windows are calendar days, ISO weeks (from Monday) or months in the org's time zone; a
    user is over budget when their attributed cost in the current window is at or above the
    limit. A user without a budget is never over.
    """


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}" if days else f"{hours:02d}:{minutes:02d}:{secs:02d}"


def _budget_state(s) -> str:
    if s.over:
        return f"429, Retry-After {s.retry_after_s}s ({_duration(s.retry_after_s)})"
    runs_out = s.projected_exhaustion
    return f"ok, runs out {runs_out:%Y-%m-%d %H:%M}" if runs_out else "ok"


def budget_table(statuses, tz: str) -> str:
    """One row per user; times are local to the org's zone, named in the header."""
    header = ("USER", "WINDOW", "SPENT", "LIMIT", "LEFT", "BURN/DAY", f"RESETS ({tz})", "STATUS")
    rows = [(s.user, s.window, money(s.spent_usd), money(s.limit_usd), money(s.remaining_usd),
             money(s.burn_rate_usd_per_day), f"{s.window_end:%Y-%m-%d %H:%M}", _budget_state(s))
            for s in statuses]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    right = {2, 3, 4, 5}  # money columns
    lines = []
    for r in (header, *rows):
        cells = [f"{c:>{w}}" if i in right else f"{c:<{w}}" for i, (c, w) in enumerate(zip(r, widths, strict=False))]
        lines.append("  ".join([*cells, r[-1]]))
    return "\n".join(lines)


@budget.command("status")
@click.argument("user", required=False)
@click.option("--all", "all_users", is_flag=True, help="Every user with a budget (org admins only).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="table for people; json: the status document (every user's under `budgets` with --all).")
@db_option
@viewer_option
@handles_errors
def budget_status_cmd(user: str | None, all_users: bool, fmt: str, db: Path | None, as_user: str | None) -> None:
    """Spent / limit in the current window for USER (default: you).

    Members may read only their own budget (exit 3 otherwise); org admins and the store's
    owner (who set budgets) anyone's, and everyone's with --all. A user without a budget gets one line saying so (JSON: the same
    keys, null where there is nothing to say, "over": false) and exit 0; a user the directory
    does not know and who has no budget is an error (exit 2).
    """
    from ..budget import budget_status, no_budget_json, users_with_budgets

    store = open_store(db, readonly=True)
    directory_ = store.directory()
    identity = identity_of(store, as_user)
    viewer = identity.viewer
    admin = identity.may_administer  # who may set budgets may read them
    if all_users:
        if user:
            fail("give USER or --all, not both")
        if not admin:
            raise ScopeError(f"{viewer} may not list every budget (org admins or the store's owner only)")
        statuses = [s for s in (budget_status(store, u) for u in users_with_budgets(store)) if s is not None]
        if fmt == "json":
            click.echo(json.dumps(budgets_doc([s.as_json() for s in statuses]), indent=2))
        else:
            click.echo(budget_table(statuses, directory_.timezone) if statuses else "No budgets set.")
        return
    user = user or viewer
    check_budget_reader(identity, user)  # refused before anything about USER is looked up
    status = budget_status(store, user)
    if status is None:
        if user != viewer and user not in directory_.users:
            fail(f'unknown user "{user}" (not in the directory, no budget)')
        if fmt == "json":
            click.echo(json.dumps(budget_doc(no_budget_json(user)), indent=2))
        else:
            click.echo(f"{user} has no budget (never over).")
        return
    if fmt == "json":
        click.echo(json.dumps(budget_doc(status.as_json()), indent=2))
    else:
        click.echo(budget_table([status], directory_.timezone))


@budget.command("explain")
@click.argument("user", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: the budget-explain document (docs/scripts-and-agents.md).")
@db_option
@viewer_option
@handles_errors
def budget_explain(user: str | None, fmt: str, db: Path | None, as_user: str | None) -> None:
    """Why USER (default: you) is over budget or not, and when they can retry: the window,
    spent and limit, Retry-After, when it resets, the burn rate and when the budget runs out
    at it, and the models and requests that spent most of the window.

    The rules of `budget status`: your own budget; org admins and the store's owner anyone's
    (exit 3 otherwise); a user the directory does not know and who has no budget is exit 2.
    """
    from ..budget_explain import explain, explain_text

    store = open_store(db, readonly=True)
    identity = identity_of(store, as_user)
    user = user or identity.viewer
    check_budget_reader(identity, user)
    doc = explain(store, user)
    if doc["limit_usd"] is None and user != identity.viewer and user not in store.directory().users:
        fail(f'unknown user "{user}" (not in the directory, no budget)')
    if fmt == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(explain_text(doc, store.directory().timezone))


class LimitUsd(click.ParamType):
    """A budget limit: a finite number of USD, 0 to MAX_LIMIT_USD. click's FloatRange takes
    inf and nan (and 1e400, which float() reads as inf); a limit nobody can compare against
    must be refused here, not crash `budget check` later."""

    name = "usd"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(value)
            except ValueError:
                self.fail(f"{value!r} is not a number", param, ctx)
        problem = bounded_usd(number, MAX_LIMIT_USD)
        if problem:
            self.fail(f"{problem.replace(' got inf', f' got {value}')}", param, ctx)
        return number


@budget.command("set")
@click.argument("user")
@click.option("--limit-usd", type=LimitUsd(), required=True,
              help="Limit in USD per window (0 blocks every request; at most 1,000,000,000).")
@click.option("--window", type=click.Choice(WINDOWS), required=True,
              help="Calendar window in the org's time zone (weekly starts on Monday).")
@db_option
@viewer_option
@handles_errors
def budget_set(user: str, limit_usd: float, window: str, db: Path | None, as_user: str | None) -> None:
    """Set USER's budget (org admins only, exit 3 otherwise).

    Recorded in the store and kept when the directory is loaded again, unless the directory
    names a budget for USER (then the directory's wins). USER must be in the directory.
    """
    store = open_store(db)
    directory_ = store.directory()
    identity = identity_of(store, as_user)
    identity.require_admin("set budgets")
    require_writable(store)
    viewer = identity.viewer
    if user not in directory_.users:  # a typo would otherwise limit nobody, silently
        fail(f'unknown user "{user}" (budgets are for users in the directory)')
    store.set_budget_override(user, limit_usd, window, viewer, clock.now().isoformat())
    click.echo(f"Budget for {user}: {money(limit_usd)} {window}.")


@budget.command("check")
@click.argument("user")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: {user, allowed, over, retry_after_s, window_end}; the exit code is the same.")
@db_option
@handles_errors
def budget_check(user: str, fmt: str, db: Path | None) -> None:
    """For gateways: is USER allowed now?

    Prints `200 OK` (exit 0), or `429 Too Many Requests` and `Retry-After: N` (N whole
    seconds until the window ends, rounded up) and exits 75. Anyone may ask: the answer says
    only allowed or not, and a user without a budget is never over: 200 OK. Who may learn
    who exists (org admins and the store's owner) gets exit 2 for a user the directory does
    not know; anyone else gets the no-budget answer, as /v1/budget/check without the admin
    token does. An unusable store is exit 2, which a gateway must treat as a refusal.
    """
    from ..budget import budget_status

    store = open_store(db, readonly=True)
    identity = identity_of(store, None)
    may_enumerate = identity.may_administer
    if user != identity.viewer:
        require_full_view(store, identity, f"check {user}'s budget")
    status = budget_status(store, user)
    if status is None and may_enumerate and user not in store.directory().users:
        fail(f'unknown user "{user}" (not in the directory, no budget)')
    over = status is not None and status.over
    if fmt == "json":
        click.echo(json.dumps(check_doc(user, over, status.retry_after_s if over else None,
                                        status.window_end.isoformat() if status is not None else None), indent=2))
        if over:
            sys.exit(EXIT_OVER_BUDGET)
        return
    if not over:
        click.echo("200 OK")
        return
    click.echo("429 Too Many Requests")
    click.echo(f"Retry-After: {status.retry_after_s}")
    sys.exit(EXIT_OVER_BUDGET)

