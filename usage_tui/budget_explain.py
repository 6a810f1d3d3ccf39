"""Why a user is (or is not) over budget, and when they can retry: `budget explain` and the MCP
tool of the same name. Headless: a document (json_docs' vocabulary) and its text.

Everything comes from one read snapshot at one instant: the status (budget.budget_status: the
window, spent, limit, Retry-After), the burn rate and when the budget runs out at it, and what
spent the window (the user's personal view over the window's days, grouped by model, and
their costliest requests). The spend of the models adds up to `spent_usd`: both are the
user's attributed, priced cost in the window's calendar days.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import clock
from .budget import budget_status, no_budget_json, retry_after_seconds
from .fmt import money, percent, record_money, requests_text, unpriced_note
from .history import record_time
from .json_docs import schema, totals_doc
from .model import NANO, QuerySpec
from .query import ScopeError, iter_history, run_query
from .store import UsageStore

TOP = 5  # models and requests listed
# Requests walked back from the newest to find the one that reached the limit: past this many
# spent after it, `reached_limit` is null (the answer would cost a scan of the whole window).
CROSSING_WALK_MAX = 10_000


def check_budget_reader(identity, user: str) -> None:
    """`budget status`'s rule: your own budget; anyone's for org admins and the store's owner.
    Refused before anything about `user` is looked up (ScopeError, exit 3)."""
    if user != identity.viewer and not identity.may_administer:
        raise ScopeError(f"{identity.viewer} may not read {user}'s budget (your own only; org admins and the "
                         "store's owner see all)")


def explain(store: UsageStore, user: str, now: datetime | None = None) -> dict[str, Any]:
    """The `usage-tui/budget-explain/1` document of `user` at `now` (default: the clock). The
    caller checks who may ask (check_budget_reader)."""
    at = now or clock.now()
    return store.reading(lambda: _explain(store, user, at))


def _explain(store: UsageStore, user: str, now: datetime) -> dict[str, Any]:
    status = budget_status(store, user, now)
    if status is None:
        return {"schema": schema("budget-explain"), **no_budget_json(user), "now": now.isoformat(),
                "resets_in_s": None, "burn_rate_usd_per_day": None, "runs_out_at": None, "reached_limit": None,
                "unpriced_requests": None, "top_models": [], "top_requests": []}
    tz = status.window_end.tzinfo
    first = status.window_start.date()
    last = (status.window_end - timedelta(microseconds=1)).date()  # the window's last calendar day
    spec = QuerySpec(viewer=user, scope="personal", metric="cost", group_by="model", since=first, until=last,
                     tz=getattr(tz, "key", None))
    view = run_query(store, spec)
    requests = list(iter_history(store, spec, order="cost", limit=TOP, page_size=TOP))
    runs_out = status.projected_exhaustion
    crossing = _reached_limit(store, spec, status) if status.over else None
    return {
        "schema": schema("budget-explain"),
        **status.as_json(),
        "now": now.astimezone(tz).isoformat(),
        "resets_in_s": retry_after_seconds(now, status.window_end),
        "burn_rate_usd_per_day": status.burn_rate_usd_per_day,
        "runs_out_at": runs_out.isoformat() if runs_out else None,
        "reached_limit": None if crossing is None else {
            "id": crossing.id, "local_time": record_time(crossing, tz).isoformat(), "model": crossing.model,
            "cost_usd": crossing.cost_usd or 0.0},
        "unpriced_requests": view.totals.unpriced_requests,
        "top_models": [{"row": r.key, **totals_doc(r.totals), "share": r.share} for r in view.rows[:TOP]],
        "top_requests": [{"id": r.id, "local_time": record_time(r, tz).isoformat(), "model": r.model,
                          "cost_usd": r.cost_usd or 0.0,
                          "unpriced_requests": r.requests if r.cost_usd is None else 0,
                          "requests": r.requests, "tokens": r.tokens} for r in requests],
    }


def _reached_limit(store: UsageStore, spec: QuerySpec, status):
    """The request that took the window's spend to the limit: walking back from the newest,
    the first whose cost, taken off what is left, leaves less than the limit. None when more
    than CROSSING_WALK_MAX requests came after it."""
    limit_nano, left = round(status.limit_usd * NANO), round(status.spent_usd * NANO)
    for r in iter_history(store, spec, order="time", limit=CROSSING_WALK_MAX):
        cost = r.cost_nano or 0
        if left - cost < limit_nano <= left and cost:
            return r
        left -= cost
    return None


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}" if days else f"{hours:02d}:{minutes:02d}:{secs:02d}"


def _when(iso: str) -> str:
    return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M}"


def explain_text(doc: dict[str, Any], tz_name: str) -> str:
    """The document in sentences, times in the org's zone (named once)."""
    user = doc["user"]
    if doc["limit_usd"] is None:
        return f"{user} has no budget (never over): no request of theirs is refused."
    spent, limit = money(doc["spent_usd"]), money(doc["limit_usd"])
    window = f"{doc['window']} window {_when(doc['window_start'])} – {_when(doc['window_end'])} ({tz_name})"
    lines = []
    if doc["over"]:
        lines.append(f"{user} is over budget: {spent} spent of {limit} in the {window}.")
        lines.append(f"Requests are refused (429) until the window resets at {_when(doc['window_end'])}: "
                     f"Retry-After {doc['retry_after_s']}s ({_duration(doc['retry_after_s'])}).")
        crossed = doc["reached_limit"]
        if crossed:
            lines.append(f"The limit was reached at {_when(crossed['local_time'])} by request {crossed['id']} "
                         f"({crossed['model']}, {record_money(crossed['cost_usd'])}).")
    else:
        lines.append(f"{user} is within budget: {spent} spent of {limit} ({money(doc['remaining_usd'])} left) "
                     f"in the {window}.")
        lines.append(f"The window resets at {_when(doc['window_end'])}, in {_duration(doc['resets_in_s'])}.")
    rate = doc["burn_rate_usd_per_day"]
    if doc["over"]:
        lines.append(f"Burn rate: {money(rate)} a day since the window started.")
    elif rate <= 0:
        lines.append("Burn rate: nothing spent yet in this window.")
    elif doc["runs_out_at"]:
        lines.append(f"Burn rate: {money(rate)} a day; at that rate the budget runs out at "
                     f"{_when(doc['runs_out_at'])}, before the window resets.")
    else:
        lines.append(f"Burn rate: {money(rate)} a day; at that rate the budget lasts until the window resets.")
    if doc["unpriced_requests"]:
        lines.append(f"{unpriced_note(doc['unpriced_requests'])} in this window: it counts for nothing here."
                     if doc["unpriced_requests"] == 1 else
                     f"{unpriced_note(doc['unpriced_requests'])} in this window: they count for nothing here.")
    if doc["top_models"]:
        lines += ["", "Models that spent most of this window:"]
        width = max(len(m["row"]) for m in doc["top_models"])
        for m in doc["top_models"]:
            lines.append(f"  {m['row']:<{width}}  {money(m['cost_usd']):>10}  {percent(m['share']):>6}  "
                         f"{requests_text(m['requests'])}")
    if doc["top_requests"]:
        lines += ["", "Costliest requests of this window:"]
        width = max(len(r["model"]) for r in doc["top_requests"])
        for r in doc["top_requests"]:
            cost = "unpriced" if r["unpriced_requests"] else record_money(r["cost_usd"])
            lines.append(f"  {_when(r['local_time'])}  {r['model']:<{width}}  {cost:>10}  {r['id']}")
    return "\n".join(lines)
