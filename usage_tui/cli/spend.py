"""`usage-tui spend summary` and `spend records`: the TUI's queries, headless. Their view
options are usage_tui/view_options.py's, so they (and any other front end) agree on names."""

from __future__ import annotations

import csv
import json
import sys
import textwrap

import click

from .. import fmt
from ..fmt import GRANULARITY_WORDS, METRIC_TITLES, compact, metric_value, money, percent, record_money
from ..identity import not_listed_note
from ..json_docs import (
    PERIOD_FIELDS,
    ROW_FIELDS,
    period_cell,
    period_line,
    record_doc,
    schema,
    summary_doc,
    summary_row_line,
)
from ..model import METRICS, QuerySpec
from ..query import parse_date, run_query
from ..query_periods import run_by_period
from ..view_options import RECORDS, SUMMARY, summary_scope
from .common import db_option, handles_errors, identity_of, open_store, tz_option, view_options, viewer_option


@click.group()
def spend() -> None:
    """Headless reports: the same queries as the TUI."""



@spend.command("summary")
@view_options(SUMMARY)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "jsonl"]), default="table",
              show_default=True, help="json: one document (docs/scripts-and-agents.md); csv and jsonl: a line per "
              "row, or per period and row with --by-period.")
@db_option
@viewer_option
@tz_option
@handles_errors
def spend_summary(scope, team, metric, group_by, granularity, since, until, search, focus, by_period, fmt,
                  db, as_user, tz) -> None:
    """Totals, the daily or weekly series, and rows grouped by one dimension; with
    --by-period, every period × row (a pivot table, or a long format: `period,row,…`)."""
    scope = summary_scope(scope, team)
    store = open_store(db, readonly=True)
    viewer = identity_of(store, as_user).viewer
    spec = QuerySpec(
        viewer=viewer, scope=scope, team=team, metric=metric,
        group_by=group_by, granularity=granularity,
        since=parse_date(since, "--since") if since else None,
        until=parse_date(until, "--until") if until else None,
        tz=tz, search=search, focus=focus,
    )
    if by_period:
        result, cells = run_by_period(store, spec)
    else:
        result, cells = run_query(store, spec, require_focus=True), None
    if fmt == "json":
        periods = None if cells is None else [period_cell(c.period, c.partial, c.row, c.totals) for c in cells]
        click.echo(json.dumps(summary_doc(result, periods), indent=2))
    elif fmt == "jsonl":
        if cells is None:
            for row in result.rows:
                click.echo(json.dumps(summary_row_line(result, row)))
        else:
            for c in cells:
                click.echo(json.dumps(period_line(period_cell(c.period, c.partial, c.row, c.totals))))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        if cells is None:
            writer.writerow(ROW_FIELDS)
            for row in summary_doc(result)["rows"]:
                writer.writerow([row[h] for h in ROW_FIELDS])
        else:
            writer.writerow(PERIOD_FIELDS)
            for c in cells:
                cell = period_cell(c.period, c.partial, c.row, c.totals)
                writer.writerow([str(cell[h]).lower() if h == "partial" else cell[h] for h in PERIOD_FIELDS])
    elif cells is not None:
        click.echo(render_pivot(result, cells))
    else:
        note = not_listed_note(store.directory(), viewer) if scope == "personal" else None
        click.echo(render_table(result, note))


def render_table(result, empty_note: str | None = None) -> str:
    """`empty_note`: said in place of the empty view's hint (identity.not_listed_note)."""
    spec = result.spec
    who = {"personal": f"personal ({spec.viewer})", "team": f"team {spec.team}", "org": "org"}[spec.scope]
    if spec.focus:  # as the TUI's graph title names it (architecture §4)
        who = f"{spec.group_by} {spec.focus}"
    title = f"{METRIC_TITLES[spec.metric]} per {GRANULARITY_WORDS[spec.granularity]} — {who}"
    t = result.totals
    lines = [
        f"{title} · {result.since} … {result.until} ({result.tz})",
        f"Total: {money(t.cost_usd)} · {t.requests:,} requests · {compact(t.tokens)} tokens "
        f"(prompt {compact(t.prompt_tokens)}, completion {compact(t.completion_tokens)}, "
        f"cached {compact(t.cached_input_tokens)}; context {compact(t.context_tokens)})",
        "",
    ]
    if not result.rows and result.totals.requests and spec.search:  # rows exist, none match
        lines.append(f"No rows match “{spec.search}” ({result.rows_in_view:,} "
                     f"row{'s' if result.rows_in_view != 1 else ''} in this view).")
    elif not result.rows and empty_note:
        lines.append(f"No attributed usage in this view. {empty_note}")
    elif not result.rows:
        lines.append("No attributed usage in this view: broaden the date range (--since), change the "
                     "scope (--scope), or import data (usage-tui import).")
    else:
        key_width = max(len(spec.group_by), *(len(r.key) for r in result.rows))
        others = [m for m in METRICS if m != spec.metric]  # the metric first, then the other two
        lines.append(f"{spec.group_by.upper():<{key_width}}  {METRIC_TITLES[spec.metric].upper():>10}  {'SHARE':>6}  "
                     + "  ".join(f"{METRIC_TITLES[m].upper():>10}" for m in others))
        for r in result.rows:
            flag = " *" if r.totals.unpriced_requests else ""
            t_ = r.totals

            def cell(m: str, t_=t_) -> str:  # a row with no priced request: `—`, not $0.00
                return fmt.cost_text(t_.cost_usd, t_.requests, t_.unpriced_requests) if m == "cost" else metric_value(m, t_.metric(m))
            lines.append(f"{r.key:<{key_width}}  {cell(spec.metric):>10}  {percent(r.share):>6}  "
                         + "  ".join(f"{cell(m):>10}" for m in others) + flag)
    if t.unpriced_requests:
        lines.append("")
        lines.append(f"* {fmt.unpriced_note(t.unpriced_requests)} (no price for their model): "
                     "costs shown leave them out. Add a [[prices]] entry to the directory.")
    return "\n".join(lines)



def render_pivot(result, cells) -> str:
    """Rows × periods of the view's metric: a column per period (`~` marks one the range cuts,
    a week that starts before --since or ends after --until), then the row's total."""
    spec = result.spec
    periods: list = []
    partial: dict = {}
    grid: dict = {}
    for c in cells:
        if c.period not in partial:
            periods.append(c.period)
            partial[c.period] = c.partial
        grid[(c.row, c.period)] = c.totals.metric(spec.metric)
    rows = list(dict.fromkeys(c.row for c in cells))
    title = render_table(result).splitlines()[:2]
    if not rows:
        return "\n".join([*title, "", "No attributed usage in this view: broaden the date range (--since), change "
                          "the scope (--scope), or import data (usage-tui import)."])
    heads = [("~" if partial[p] else "") + p.isoformat() for p in periods]
    table = [[spec.group_by.upper(), *heads, "TOTAL"]]
    for row in rows:
        values = [grid[(row, p)] for p in periods]
        table.append([row, *(metric_value(spec.metric, v) for v in values), metric_value(spec.metric, sum(values))])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    lines = [*title, ""]
    for line in table:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(line, widths, strict=True))))
    if any(partial.values()):
        lines += ["", "~ partial week: the range starts or ends inside it (only its days in the range count)."]
    return "\n".join(lines)


RECORD_CSV_FIELDS = ["id", "ts", "local_time", "provider", "model", "user", "team", "request_user", "request_team",
                     "key", "agent", "prompt_tokens", "cached_input_tokens", "completion_tokens", "context_tokens",
                     "cache_write_tokens", "tokens", "requests", "cost_usd", "unpriced_requests", "cost_logged_usd", "status", "verdict",
                     "attribution", "price_source", "source", "metadata"]




@spend.command("records")
@view_options(RECORDS)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "jsonl"]), default="table",
              show_default=True, help="json and jsonl carry every field, the attribution and the price source.")
@db_option
@viewer_option
@tz_option
@handles_errors
def spend_records(scope, team, group_by, since, until, search, focus, limit, order, fmt, db, as_user, tz) -> None:
    """The requests behind a view or one of its rows: newest (or costliest) first, with how
    each was attributed and priced. Same view options, scope rules and exit codes as
    `spend summary`; the records of a row add up to that row's figures there."""
    from zoneinfo import ZoneInfo

    from ..history import Explainer
    from ..query import check_scope, iter_history, plan_query

    scope = summary_scope(scope, team)
    store = open_store(db, readonly=True)
    directory_ = store.directory()
    spec = QuerySpec(
        viewer=identity_of(store, as_user).viewer, scope=scope, team=team, group_by=group_by,
        since=parse_date(since, "--since") if since else None,
        until=parse_date(until, "--until") if until else None, tz=tz, focus=focus,
    )
    check_scope(directory_, spec)  # refused before a line is printed (pages check it again)
    if focus is not None:  # a row that is not in the view is a typo, as in `spend summary` (exit 2)
        run_query(store, spec, require_focus=True)
    plan = plan_query(spec, directory_)  # the range and zone, as the summary reads them
    # Streamed, a page at a time, in every format: --limit 1000000 never holds a million
    # records in memory. One more than asked for says whether there are more.
    fetched = iter_history(store, spec, order=order, search=search, limit=limit + 1)
    more = False

    def records():
        nonlocal more
        for n, r in enumerate(fetched):
            if n == limit:
                more = True
                return
            yield r

    explainer = Explainer(directory_, store.pricer())
    zone_ = ZoneInfo(plan.tz)
    if fmt == "jsonl":
        for r in records():
            click.echo(json.dumps(record_doc(explainer.as_json(r, zone_))))
    elif fmt == "json":
        scope_json: dict = {"kind": scope, **({"team": team} if scope == "team" else {})}
        head = {"schema": schema("spend-records"), "viewer": spec.viewer, "scope": scope_json, "group_by": group_by, "focus": focus,
                "since": plan.since.isoformat(), "until": plan.until.isoformat(), "tz": plan.tz,
                "search": search, "order": order, "limit": limit}
        click.echo(json.dumps(head, indent=2)[:-2] + ',\n  "records": [', nl=False)
        for n, r in enumerate(records()):
            doc = textwrap.indent(json.dumps(record_doc(explainer.as_json(r, zone_)), indent=2), "    ")
            click.echo(("," if n else "") + "\n" + doc, nl=False)
        click.echo(f'\n  ],\n  "more": {json.dumps(more)}\n}}')
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(RECORD_CSV_FIELDS)
        for r in records():
            doc = record_doc(explainer.as_json(r, zone_))
            doc["source"] = "" if doc["source"] is None else doc["source"]["path"]
            doc["metadata"] = json.dumps(doc["metadata"], sort_keys=True) if doc["metadata"] else ""
            writer.writerow(["" if doc[k] is None else doc[k] for k in RECORD_CSV_FIELDS])
    else:
        for line in render_records(spec, plan, records(), zone_):
            click.echo(line)
        if more:
            click.echo(f"\nFirst {limit:,} records; more with --limit.")


RECORDS_WIDTH_ROWS = 1000  # rows the table's column widths are measured on; the rest stream


def render_records(spec: QuerySpec, plan, rows, tz):
    """The table's lines, as the records arrive: widths from the first RECORDS_WIDTH_ROWS."""
    from itertools import chain, islice

    from ..history import record_time

    who = {"personal": f"personal ({spec.viewer})", "team": f"team {spec.team}", "org": "org"}[spec.scope]
    if spec.focus is not None:
        who += f", {spec.group_by} {spec.focus}"
    yield f"Records — {who} · {plan.since} … {plan.until} ({plan.tz})"
    yield ""

    def cells(r) -> tuple[str, ...]:
        return (f"{record_time(r, tz):%Y-%m-%d %H:%M:%S}", r.model, r.user or "(unattributed)",
                f"{r.prompt_tokens:,}", f"{r.cached_input_tokens:,}", f"{r.completion_tokens:,}",
                f"{r.context_tokens:,}", f"{r.requests:,}", record_money(r.cost_usd), str(r.status),
                r.verdict or "", r.id)

    rows = iter(rows)
    first = [cells(r) for r in islice(rows, RECORDS_WIDTH_ROWS)]
    if not first:
        yield ("No records in this view: broaden the date range (--since), change the scope "
               "(--scope), or check --focus / --search.")
        return
    header = ("TIME", "MODEL", "USER", "PROMPT", "CACHED", "COMPL", "CTX", "REQ", "COST", "STATUS", "VERDICT", "ID")
    widths = [max(len(row[i]) for row in (header, *first)) for i in range(len(header))]
    right = {3, 4, 5, 6, 7, 8}
    for row in chain([header], first, (cells(r) for r in rows)):
        yield "  ".join(c.rjust(w) if i in right else c.ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()

