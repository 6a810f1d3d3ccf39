"""A view's figures per period and row (`spend summary --by-period`): the rows × buckets grid
that the table (a pivot) and the long formats (CSV, JSON lines) print.

Read from the records through their time indexes, grouped by bucket and row key in one
statement, in the same read snapshot as the view itself, so the cells of a row add up to that
row's figures. Every value is bound; the bucket index is query.py's CASE tree over the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from .json_docs import is_partial
from .model import QueryResult, QuerySpec, Totals, missing_key_label
from .query import (
    QueryError,
    _bucket_case,
    _case_params,
    _records_where,
    _totals,
    check_scope,
    data_buckets,
    execute,
    plan_query,
)
from .store import DIM_COLUMNS, UsageStore, quoted

# Cells of one grid, at most: 1,000 rows over 1,000 weeks; more is refused (narrow the view).
MAX_CELLS = 1_000_000


@dataclass(frozen=True)
class Cell:
    period: date
    partial: bool
    row: str
    totals: Totals


def run_by_period(store: UsageStore, spec: QuerySpec, *, require_focus: bool = True) -> tuple[QueryResult, list[Cell]]:
    """The view (as run_query answers it) and its period × row cells, periods in order and
    within a period the table's row order; every row has every period (zeros included). With
    --focus only the focused row. Raises QueryError, ScopeError."""

    def view() -> tuple[QueryResult, list[Cell]]:
        directory = store.directory()
        check_scope(directory, spec)
        result = execute(store, plan_query(spec, directory), require_focus=require_focus)
        rows = [r.key for r in result.rows]
        if spec.focus is not None:
            rows = [spec.focus]
        plan = plan_query(spec, directory, force_records=True)
        if len(plan.labels) * len(rows) > MAX_CELLS:
            raise QueryError(f"{len(rows):,} rows × {len(plan.labels):,} periods is more than {MAX_CELLS:,} cells: "
                             "narrow the range, use --granularity weekly, --search or --focus")
        found: dict[tuple[int, str], Totals] = {}
        lo, hi = data_buckets(plan.edges_us, store.data_span())
        if lo < hi and rows:
            sub = replace(plan, labels=plan.labels[lo:hi], edges_us=plan.edges_us[lo:hi + 1])
            sql, params = _cells_sql(sub, spec.focus)
            missing = missing_key_label(spec.group_by)
            for slot, key, *values in store.execute(sql, params):
                found[(lo + slot, key or missing)] = _totals(values)
        return result, [Cell(label, is_partial(label, spec.granularity, plan.since, plan.until), row,
                             found.get((i, row), Totals()))
                        for i, label in enumerate(plan.labels) for row in rows]

    return store.reading(view)


def _cells_sql(plan, focus: str | None) -> tuple[str, list]:
    """(bucket index, row key, the 7 sums) per bucket and row key of the plan's records."""
    column = f"COALESCE({quoted(DIM_COLUMNS[plan.spec.group_by])}, '')"
    where, params = _records_where(plan)
    if focus is not None:
        where += f" AND {column} = ?"
        params.append(plan.focus_key)
    inner = list(plan.edges_us[1:-1])
    totals = ("SUM(requests), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_input_tokens), "
              "SUM(context_tokens), SUM(COALESCE(cost_nano, 0)), "
              "SUM(CASE WHEN cost_nano IS NULL THEN requests ELSE 0 END)")
    sql = f"SELECT {_bucket_case('ts_us', len(inner))} AS b, {column} AS k, {totals} {where} GROUP BY b, k"
    return sql, _case_params(inner) + params
