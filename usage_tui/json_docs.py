"""The JSON documents of `spend summary`, `spend records`, `budget …`, `rejects` and the MCP
tools: one vocabulary, written once here (docs/scripts-and-agents.md documents every field).

The rules every document follows:
- `schema` names the document and its version (`usage-tui/spend-summary/1`); a field is only
  ever added within a version, never renamed or given another meaning.
- `row` is a table row's label (a model, a user, `(none)`…); `key` is always a gateway key.
- `cost_usd` is never null: it is the cost of the priced requests, and `unpriced_requests`
  counts the requests whose price is unknown (not in `cost_usd`). A plain sum() works on any
  list of documents; `unpriced_requests > 0` says the sum understates the cost.
- `period` is a bucket's first day (a date; a week's Monday), `partial` says the range cuts it.

Headless: plain dicts, no click, no Textual.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from .model import QueryResult, Totals

SCHEMA_VERSION = 1


def schema(kind: str) -> str:
    return f"usage-tui/{kind}/{SCHEMA_VERSION}"


def totals_doc(t: Totals) -> dict[str, Any]:
    return {"cost_usd": t.cost_usd, "requests": t.requests, "tokens": t.tokens, "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens, "cached_input_tokens": t.cached_input_tokens,
            "context_tokens": t.context_tokens, "unpriced_requests": t.unpriced_requests}


def is_partial(period: date, granularity: str, since: date, until: date) -> bool:
    """Whether the range cuts the bucket starting at `period`: a week whose Monday is before
    `since` or whose Sunday is after `until` (a day is never cut)."""
    if granularity != "weekly":
        return False
    return period < since or period + timedelta(days=6) > until


def view_doc(result: QueryResult) -> dict[str, Any]:
    """What a summary document says about its view (the CLI options that made it)."""
    s = result.spec
    scope: dict[str, Any] = {"kind": s.scope}
    if s.scope == "team":
        scope["team"] = s.team
    return {"viewer": s.viewer, "scope": scope, "metric": s.metric, "group_by": s.group_by,
            "granularity": s.granularity, "since": result.since.isoformat(), "until": result.until.isoformat(),
            "tz": result.tz, "focus": s.focus, "search": s.search}


def summary_doc(result: QueryResult, periods: list[dict] | None = None) -> dict[str, Any]:
    """`spend summary --format json`; with `periods` (period_rows) the period × row cells too."""
    s = result.spec
    doc = {
        "schema": schema("spend-summary"),
        **view_doc(result),
        "totals": totals_doc(result.totals),
        "series": [{"period": p.bucket.isoformat(),
                    "partial": is_partial(p.bucket, s.granularity, result.since, result.until),
                    "value": p.value} for p in result.series],
        "rows": [{"row": r.key, **totals_doc(r.totals), "share": r.share} for r in result.rows],
    }
    if periods is not None:
        doc["periods"] = periods
    return doc


def summary_row_line(result: QueryResult, row) -> dict[str, Any]:
    """One line of `spend summary --format jsonl` (a row of the table)."""
    return {"schema": schema("spend-summary-row"), "row": row.key, **totals_doc(row.totals), "share": row.share}


def period_cell(period: date, partial: bool, row: str, t: Totals) -> dict[str, Any]:
    """One period × row cell (`spend summary --by-period`): the long format's line."""
    return {"period": period.isoformat(), "partial": partial, "row": row, **totals_doc(t)}


def period_line(cell: dict[str, Any]) -> dict[str, Any]:
    return {"schema": schema("spend-period-row"), **cell}


# The long format's columns (CSV header, JSON lines' fields after `schema`).
PERIOD_FIELDS = ("period", "partial", "row", "cost_usd", "requests", "tokens", "prompt_tokens",
                 "completion_tokens", "cached_input_tokens", "context_tokens", "unpriced_requests")
ROW_FIELDS = ("row", "cost_usd", "requests", "tokens", "prompt_tokens", "completion_tokens",
              "cached_input_tokens", "context_tokens", "unpriced_requests", "share")


def record_doc(explained: dict[str, Any]) -> dict[str, Any]:
    """A record (history.Explainer.as_json) in the vocabulary: `cost_usd` 0 and
    `unpriced_requests` = its requests when it has no price."""
    unpriced = explained["cost_usd"] is None
    doc = {"schema": schema("spend-record"), **explained}
    doc["cost_usd"] = 0.0 if unpriced else explained["cost_usd"]
    doc["unpriced_requests"] = explained["requests"] if unpriced else 0
    return doc


def budget_doc(status_json: dict[str, Any]) -> dict[str, Any]:
    """A budget status (budget.BudgetStatus.as_json or no_budget_json) as a document."""
    return {"schema": schema("budget-status"), **status_json}


def budgets_doc(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """`budget status --all`: every user's status."""
    return {"schema": schema("budget-statuses"), "budgets": statuses}


def check_doc(user: str, over: bool, retry_after_s: int | None, window_end: str | None) -> dict[str, Any]:
    """`budget check --format json`: the decision only (what /v1/budget/check tells anyone)."""
    return {"schema": schema("budget-check"), "user": user, "allowed": not over, "over": over,
            "retry_after_s": retry_after_s, "window_end": window_end}


def reject_doc(source: str, line: int, reason: str, raw: str) -> dict[str, Any]:
    return {"schema": schema("reject"), "source": source, "line": line, "reason": reason, "raw": raw}


def rejects_doc(rejects: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    return {"schema": schema("rejects"), "rejects": [{k: v for k, v in r.items() if k != "schema"} for r in rejects],
            "more": more}
