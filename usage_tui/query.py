"""Query spec → totals, series and rows. The one query function behind the TUI and the CLI.

Scope checks run first (query_scope.py): a refused query raises ScopeError before any SQL runs.
The request history (the records behind a view, a page at a time) is query_history.py's.

Two paths give identical answers: the rollups (UTC days per scope and grouping; the org's
quarter-hours, the teams' UTC hours), with whatever they do not cover read from the records
through their time indexes (a team's sliver of less than an hour at an edge in a :30/:45 zone,
a personal view's partial days); and the records alone (forced, for tests and as the reference). `plan_query` is pure and the SQL builders
return (sql, params) with every value bound, so both are tested without a database.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from . import clock
from .directory import Directory
from .model import (
    GROUPINGS,
    QueryResult,
    QuerySpec,
    Row,
    SeriesPoint,
    Totals,
    missing_key_label,
)
from .query_scope import (  # re-exported (__all__): callers import them from here
    QueryError,
    ScopeError,
    check_named_viewer,
    check_scope,
    closest,
    parse_date,
    zone,
)
from .store import (
    BLOCK_DAYS,
    BLOCK_SUFFIX,
    DAY_SUFFIX,
    DAY_US,
    DIM_COLUMNS,
    FINE,
    ROLLUPS,
    SUM_COLUMNS,
    TOTAL_DIM,
    UsageStore,
    quoted,
)

Store = UsageStore  # what the functions below take: either engine (store/__init__.py)

DEFAULT_DAYS = 30
MAX_BUCKETS = 100_000  # points of one series: 273 years by day, 1,900 by week
UNION_TERMS = 400  # SELECTs per UNION ALL statement (SQLite's limit: 500; PostgreSQL has none)
_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))


@dataclass(frozen=True)
class Plan:
    """Everything about a view that needs no database: range, buckets and their UTC edges."""

    spec: QuerySpec
    tz: str
    since: date
    until: date
    labels: tuple[date, ...]  # bucket labels (days, or the Mondays of ISO weeks)
    edges_us: tuple[int, ...]  # len(labels) + 1 UTC edges; bucket i is [edges[i], edges[i+1])
    use_rollups: bool
    # The rowid through which the rollups hold the records, when some are not rolled up yet
    # (an SQLite import running, or killed): pieces read from the records then take only those
    # at or below it, and the ones above are read on their own. None: the rollups hold all.
    rolled_through: int | None = None

    @property
    def scope_value(self) -> str | None:
        return {"personal": self.spec.viewer, "team": self.spec.team, "org": None}[self.spec.scope]

    @property
    def focus_key(self) -> str | None:
        """The stored key of the focused row ('' stands for a missing key)."""
        focus = self.spec.focus
        if focus is None:
            return None
        return "" if focus == missing_key_label(self.spec.group_by) else focus


def local_midnight_us(day: date, tz: ZoneInfo) -> int:
    """The UTC instant (µs) at which `day` starts in `tz`. When midnight does not exist (a DST
    change at 00:00) zoneinfo's fold=0 reading lands on the transition itself: the day's start."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    return (start - _EPOCH) // timedelta(microseconds=1)


def day_end_us(day: date, tz: ZoneInfo) -> int:
    """The UTC instant (µs) at which `day` ends in `tz`: the next day's midnight, or 24 hours
    after 9999-12-31's (there is no date after it; no zone changes its offset that night)."""
    if day < date.max:
        return local_midnight_us(day + timedelta(days=1), tz)
    return local_midnight_us(day, tz) + 86_400_000_000


def plan_query(spec: QuerySpec, directory: Directory, *, force_records: bool = False) -> Plan:
    tz_name = spec.tz or directory.timezone or "UTC"
    tz = zone(tz_name)
    until = spec.until or clock.today(tz)
    since = spec.since or (until - timedelta(days=DEFAULT_DAYS - 1))
    if since > until:
        raise QueryError(f"since ({since}) is after until ({until})")
    days = (until - since).days + 1
    buckets = days if spec.granularity == "daily" else (until - since).days // 7 + 2
    if buckets > MAX_BUCKETS:  # every bucket is a point of the series, computed and printed
        raise QueryError(f"{since} … {until} is {days:,} days: more than {MAX_BUCKETS:,} "
                         f"{'days' if spec.granularity == 'daily' else 'weeks'} in one series; "
                         "narrow the range" + (" or use --granularity weekly" if spec.granularity == "daily" else ""))
    if spec.granularity == "daily":
        starts = [since + timedelta(days=i) for i in range(days)]
        labels = starts
    else:
        # ISO weeks labelled by their Monday, holding only the days inside the range.
        first_monday = since - timedelta(days=since.weekday())
        labels = [first_monday + timedelta(weeks=i) for i in range((until - first_monday).days // 7 + 1)]
        starts = [max(label, since) for label in labels]
    edges = [local_midnight_us(d, tz) for d in starts] + [day_end_us(until, tz)]
    # The rollups answer any zone: what they do not cover comes from the records (see `cover`).
    return Plan(spec, tz_name, since, until, tuple(labels), tuple(edges), not force_records)


_TOTAL_SELECT = ", ".join(f"SUM({c})" for c in SUM_COLUMNS)
_RECORD_TOTALS = ("SUM(requests), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_input_tokens), "
                  "SUM(context_tokens), SUM(COALESCE(cost_nano, 0)), "
                  "SUM(CASE WHEN cost_nano IS NULL THEN requests ELSE 0 END)")


# A piece of a range: ("block" | "day" | "fine", first bucket, end bucket) read from a rollup table, or
# ("records" | "pending", from µs, to µs) read from the records through a time index (pending:
# those the rollups do not hold yet, see Plan.rolled_through).
Piece = tuple[str, int, int]


def cover(scope: str, start_us: int, end_us: int) -> list[Piece]:
    """Cover [start_us, end_us) with pieces, coarsest first: whole 32-day blocks, whole UTC days
    and, where the scope has a finer table (FINE), its whole buckets, each from its rollup
    table; what is left (a team's sub-hour slivers in a :30/:45 zone; a personal view's
    partial days) from the records."""
    return [piece for _, piece in signed_cover(scope, start_us, end_us, subtract=False)]


def signed_cover(scope: str, start_us: int, end_us: int, *, subtract: bool = True) -> list[tuple[int, Piece]]:
    """`cover` with fewer rows to read for a long range: where a range's end leaves more than half
    of a coarser unit to the finer levels (20 days of a 32-day block, 23 hours of a day), the
    whole unit is added (+1) and the part of it outside the range subtracted (-1), read at the
    finer levels in turn. Sums are exact integers, so the result is the same; a three-year
    org view by user read ~24,000 rollup rows with `cover`, ~15,000 with this. `subtract=False`:
    every piece inside the range, signed +1 (`cover`)."""
    levels = [("block", BLOCK_DAYS * DAY_US), ("day", DAY_US)]
    if scope in FINE:
        levels.append(("fine", FINE[scope][1]))
    half = {grain: grain // 2 if subtract else grain for _, grain in levels}  # a remainder past it: the unit less the rest

    def split(a: int, b: int, level: int, sign: int) -> list[tuple[int, Piece]]:
        if a >= b:
            return []
        if level == len(levels):
            return [(sign, ("records", a, b))]
        kind, grain = levels[level]
        first, last = -(-a // grain), b // grain
        if first >= last:
            return split(a, b, level + 1, sign)
        pieces: list[tuple[int, Piece]] = []
        if first * grain - a > half[grain]:  # the unit before, less what of it is before the range
            first -= 1
            pieces += split(first * grain, a, level + 1, -sign)
        else:
            pieces += split(a, first * grain, level + 1, sign)
        if b - last * grain > half[grain]:  # the unit after, less what of it is after the range
            pieces += split(b, (last + 1) * grain, level + 1, -sign)
            last += 1
        else:
            pieces += split(last * grain, b, level + 1, sign)
        return [(sign, (kind, first, last)), *pieces]

    return split(start_us, end_us, 0, 1)


_SUMS_NAMED = ", ".join(f"SUM({c}) AS {c}" for c in SUM_COLUMNS)
_NEGATED = ", ".join(f"-{c} AS {c}" for c in SUM_COLUMNS)
_RECORD_SUMS_NAMED = ("SUM(requests) AS requests, SUM(prompt_tokens) AS prompt_tokens, "
                      "SUM(completion_tokens) AS completion_tokens, SUM(cached_input_tokens) AS cached_input_tokens, "
                      "SUM(context_tokens) AS context_tokens, SUM(COALESCE(cost_nano, 0)) AS cost_nano, "
                      "SUM(CASE WHEN cost_nano IS NULL THEN requests ELSE 0 END) AS unpriced_requests")


def _piece_select(scope: str, scope_value: str | None, dim: int, piece: Piece, focus: str | None,
                  lead: str, group: bool, through: int | None = None) -> tuple[str, list]:
    """One SELECT of (lead, the 7 sums named as SUM_COLUMNS) over one piece, every value bound.
    `lead` is "key" (the row key; `group` sums per key), "bucket" (one row per stored row; day
    pieces only) or "?" (a tag the caller binds first; the piece summed into one row). A
    "records" piece takes the records the rollups hold (`through`, see Plan), or, for the kind
    "pending", only the others."""
    table, scope_col = ROLLUPS[scope]
    kind, start, end = piece
    if kind in ("records", "pending"):
        column = f"COALESCE({quoted(DIM_COLUMNS[GROUPINGS[dim]])}, '')" if dim < TOTAL_DIM else "''"
        clauses, values = ["ts_us >= ?", "ts_us < ?"], [start, end]
        if through is not None:
            clauses.append("rowid <= ?" if kind == "records" else "rowid > ?")
            values.append(through)
        if focus is not None:
            clauses.append(f"{column} = ?")
            values.append(focus)
        sums, source = _RECORD_SUMS_NAMED, "records"
        first = column if lead == "key" else lead
    else:
        clauses, values = ["dim = ?", "bucket >= ?", "bucket < ?"], [dim, start, end]
        if focus is not None:
            clauses.append("key = ?")
            values.append(focus)
        sums = _SUMS_NAMED if group or lead == "?" else ", ".join(SUM_COLUMNS)
        source = table + (FINE[scope][0] if kind == "fine" else {"day": DAY_SUFFIX, "block": BLOCK_SUFFIX}[kind])
        first = lead
    if scope_col:
        clauses.insert(0, f"{quoted(scope_col)} = ?")
        values.insert(0, scope_value)
    sql = f"SELECT {first} AS lead, {sums} FROM {source} WHERE " + " AND ".join(clauses)
    if group:
        sql += " GROUP BY 1"
    return sql, ([None] if lead == "?" else []) + values


def _records_where(plan: Plan, pending: bool = False) -> tuple[str, list]:
    """The view's records; `pending`: only those the rollups do not hold yet (see Plan)."""
    _, scope_col = ROLLUPS[plan.spec.scope]
    clauses, params = ["ts_us >= ?", "ts_us < ?"], [plan.edges_us[0], plan.edges_us[-1]]
    if pending:
        clauses.append("rowid > ?")
        params.append(plan.rolled_through)
    if scope_col:
        clauses.insert(0, f"{quoted(scope_col)} = ?")
        params.insert(0, plan.scope_value)
    return "FROM records WHERE " + " AND ".join(clauses), params


def rows_sql(plan: Plan) -> tuple[str, list]:
    """Totals per row key over the whole range."""
    if plan.use_rollups:
        dim = GROUPINGS.index(plan.spec.group_by)
        parts, params = [], []
        pieces = signed_cover(plan.spec.scope, plan.edges_us[0], plan.edges_us[-1])
        if plan.rolled_through is not None:
            pieces.append((1, ("pending", plan.edges_us[0], plan.edges_us[-1])))
        for sign, piece in pieces:
            sql, values = _piece_select(plan.spec.scope, plan.scope_value, dim, piece, None, "key", True,
                                        plan.rolled_through)
            parts.append(sql if sign > 0 else f"SELECT lead, {_NEGATED} FROM ({sql}) AS outside")
            params += values
        if not parts:
            return f"SELECT '', {_TOTAL_SELECT} FROM {ROLLUPS['org'][0]}{DAY_SUFFIX} WHERE false", []
        return f"SELECT lead, {_TOTAL_SELECT} FROM ({' UNION ALL '.join(parts)}) AS pieces GROUP BY lead", params
    where, params = _records_where(plan)
    col = quoted(DIM_COLUMNS[plan.spec.group_by])
    return f"SELECT COALESCE({col}, '') AS k, {_RECORD_TOTALS} {where} GROUP BY k", params


def series_sql(plan: Plan, pending: bool = False) -> tuple[str, list]:
    """Totals per local bucket (day or week) from the records, its index computed in SQL from
    the bucket edges (the forced records path, ranges the day pieces do not apply to, and
    with `pending` the records the rollups do not hold yet)."""
    focus = plan.focus_key
    where, params = _records_where(plan, pending)
    if focus is not None:
        where += f" AND COALESCE({quoted(DIM_COLUMNS[plan.spec.group_by])}, '') = ?"
        params.append(focus)
    inner = list(plan.edges_us[1:-1])
    return (f"SELECT {_bucket_case('ts_us', len(inner))} AS b, {_RECORD_TOTALS} {where} GROUP BY b",
            _case_params(inner) + params)


def series_day_pieces(plan: Plan) -> tuple[list[int], list[int], list[tuple[int, int]]] | None:
    """The series from the day tables: each bucket edge (µs) is moved to the nearest UTC
    midnight, whole days are read from the day tables, and the span between an edge and its
    midnight (at most 12 hours; 1-2 hours in Berlin) is read with `cover` (hours, and the
    records for the rest), to be moved to the bucket it belongs to. Sums are exact, so this
    equals reading every record. Returns (edges, midnights, ranges) in µs, or None where this
    does not apply."""
    if not plan.use_rollups or plan.edges_us[0] < 0:  # the day tables' days start at 1970
        return None
    edges = list(plan.edges_us)
    half = DAY_US // 2
    midnights = [(e + half) // DAY_US * DAY_US for e in edges]
    ranges = [(min(e, m), max(e, m)) for e, m in zip(edges, midnights, strict=True) if e != m]
    if any(a[1] > b[0] for a, b in zip(ranges, ranges[1:], strict=False)):  # not for buckets of a day or more
        return None
    return edges, midnights, ranges


def series_day_sql(plan: Plan, ranges: list[tuple[int, int]],
                   midnights: list[int]) -> list[tuple[bool, str, list]]:
    """(from the day tables?, sql, params) of the day rows and of the range rows of
    `series_day_pieces`: a day row is (bucket index, the 7 sums), the days between two
    midnights summed in SQL (a three-year weekly view: 157 rows, not 1,095 summed in Python);
    a range row is (range start µs, the 7 sums). The pieces of one range all move to the same
    bucket, so each piece is one row summed in SQL, tagged with its range's start."""
    focus = plan.focus_key
    dim = TOTAL_DIM if focus is None else GROUPINGS.index(plan.spec.group_by)
    scope, value = plan.spec.scope, plan.scope_value
    statements = []
    if midnights[0] < midnights[-1]:
        day = ("day", midnights[0] // DAY_US, midnights[-1] // DAY_US)
        sql, params = _piece_select(scope, value, dim, day, focus, "bucket", False)
        inner = [m // DAY_US for m in midnights[1:-1]]  # a day's bucket: how many inner midnights are <= it
        statements.append((True, f"SELECT {_bucket_case('lead', len(inner))} AS b, {_TOTAL_SELECT} "
                                 f"FROM ({sql}) AS days GROUP BY b", _case_params(inner) + params))
    parts = []
    for start, end in ranges:
        for piece in cover(scope, start, end):
            sql, values = _piece_select(scope, value, dim, piece, focus, "?", False, plan.rolled_through)
            parts.append((sql, [start, *values[1:]]))  # tagged with the range's start
    # At most UNION_TERMS SELECTs per statement (SQLite refuses a compound SELECT of more than 500).
    for i in range(0, len(parts), UNION_TERMS):
        chunk = parts[i:i + UNION_TERMS]
        statements.append((False, " UNION ALL ".join(sql for sql, _ in chunk), [v for _, p in chunk for v in p]))
    return statements


def _series_by_days(store: Store, plan: Plan, pieces) -> list[Totals]:
    edges, midnights, ranges = pieces
    n = len(plan.labels)
    acc = [[0] * len(SUM_COLUMNS) for _ in range(n)]
    first, last = midnights[0], midnights[-1]
    for day_rows, sql, params in series_day_sql(plan, ranges, midnights):
        for bucket, *values in store.execute(sql, params):
            if values[0] is None:
                continue  # a piece without usage
            if day_rows:  # the days in the bucket their midnights put them in
                sums = acc[bucket]
                for i, v in enumerate(values):
                    sums[i] += v
                continue
            q = bucket
            # The span between an edge and its midnight is taken out of the bucket its
            # midnight put it in and put into its own.
            if first <= q < last:
                sums = acc[bisect_right(midnights, q) - 1]
                for i, v in enumerate(values):
                    sums[i] -= v
            if edges[0] <= q < edges[-1]:
                sums = acc[bisect_right(edges, q) - 1]
                for i, v in enumerate(values):
                    sums[i] += v
    return [Totals(**dict(zip(SUM_COLUMNS, sums, strict=True))) for sums in acc]


def _bucket_case(column: str, inner_edges: int, first: int = 0) -> str:
    """The index of the local bucket holding `column`, given the inner edges as parameters in
    order: a balanced tree of CASEs (log2(n) comparisons a row, not n; depth ~log2(n), well
    inside SQLite's expression depth)."""
    if not inner_edges:
        return str(first)
    if inner_edges <= 8:  # a flat CASE is cheaper for a few edges
        return ("CASE " + " ".join(f"WHEN {column} < ? THEN {first + i}" for i in range(inner_edges))
                + f" ELSE {first + inner_edges} END")
    mid = inner_edges // 2  # the edge compared first; its parameter comes first, then the halves'
    return (f"CASE WHEN {column} < ? THEN {_bucket_case(column, mid, first)} "
            f"ELSE {_bucket_case(column, inner_edges - mid - 1, first + mid + 1)} END")


def _case_params(inner: list[int]) -> list[int]:
    """The inner edges in the order `_bucket_case` binds them."""
    if len(inner) <= 8:
        return list(inner)
    mid = len(inner) // 2
    return [inner[mid], *_case_params(inner[:mid]), *_case_params(inner[mid + 1:])]


def _totals(values) -> Totals:
    return Totals(requests=values[0] or 0, prompt_tokens=values[1] or 0, completion_tokens=values[2] or 0,
                  cached_input_tokens=values[3] or 0, context_tokens=values[4] or 0,
                  cost_nano=values[5] or 0, unpriced_requests=values[6] or 0)


def _sort_value(t: Totals, metric: str) -> int:
    return t.cost_nano if metric == "cost" else t.requests if metric == "requests" else t.tokens


def execute(store: Store, plan: Plan, *, require_focus: bool = False) -> QueryResult:
    """Answer a planned view. `require_focus`: a focus on a key with no row in the view is an
    error (the CLI: a typo); the TUI keeps a focus whose row left the view, showing zeros."""
    spec = plan.spec
    if plan.use_rollups:
        plan = replace(plan, rolled_through=store.pending_rollups())
    sql, params = rows_sql(plan)
    rows: list[Row] = []
    totals = Totals()
    for key, *values in store.execute(sql, params):
        t = _totals(values)
        if t.requests == 0:  # rollup slices emptied by replacements
            continue
        totals.add(t)
        rows.append(Row(key or missing_key_label(spec.group_by), t))
    total_metric = _sort_value(totals, spec.metric)
    for row in rows:
        row.share = _sort_value(row.totals, spec.metric) / total_metric if total_metric else 0.0
    rows_in_view = len(rows)
    if require_focus and spec.focus is not None and all(r.key != spec.focus for r in rows):
        raise QueryError(f"no {spec.group_by} '{spec.focus}' in this view{closest(spec.focus, [r.key for r in rows])}")
    if spec.search:
        needle = spec.search.casefold()
        rows = [r for r in rows if needle in r.key.casefold()]
    rows.sort(key=lambda r: (-_sort_value(r.totals, spec.metric), r.key))

    buckets = [Totals() for _ in plan.labels]
    # Only the buckets the store's data reaches are read: `--since 1000-01-01` is 370,000 days,
    # of which the few since the first record can hold usage (the rest are zeros).
    lo, hi = data_buckets(plan.edges_us, store.data_span())
    if lo < hi:
        sub = replace(plan, labels=plan.labels[lo:hi], edges_us=plan.edges_us[lo:hi + 1])
        pieces = series_day_pieces(sub)
        if pieces is not None:
            buckets[lo:hi] = _series_by_days(store, sub, pieces)
            if sub.rolled_through is not None:
                sql, params = series_sql(sub, pending=True)
                for slot, *values in store.execute(sql, params):
                    buckets[lo + slot].add(_totals(values))
        else:
            sql, params = series_sql(sub)
            for slot, *values in store.execute(sql, params):
                buckets[lo + slot].add(_totals(values))
    series = [SeriesPoint(label, b.metric(spec.metric)) for label, b in zip(plan.labels, buckets, strict=True)]
    return QueryResult(spec, plan.tz, plan.since, plan.until, totals, series, rows,
                       path="rollup" if plan.use_rollups else "records", rows_in_view=rows_in_view)


def run_query(store: Store, spec: QuerySpec, *, force_records: bool = False,
              require_focus: bool = False) -> QueryResult:
    """Check the scope, plan and answer a view. Raises QueryError or ScopeError."""
    # One view is one read snapshot: an import committing between the rows and the series
    # would otherwise give totals that disagree with the graph.
    def view() -> QueryResult:
        directory = store.directory()
        check_scope(directory, spec)
        return execute(store, plan_query(spec, directory, force_records=force_records),
                       require_focus=require_focus)

    return store.reading(view)


def data_buckets(edges_us: tuple[int, ...], span: tuple[int, int] | None) -> tuple[int, int]:
    """[lo, hi): the buckets (bucket i is [edges[i], edges[i+1])) that overlap the store's data
    `span` [first µs, end µs); (0, 0) when the store has none."""
    if span is None:
        return 0, 0
    first, end = span
    return max(0, bisect_right(edges_us, first) - 1), min(len(edges_us) - 1, bisect_left(edges_us, end))


def user_cost_sql(user: str, start_us: int, end_us: int, through: int | None = None) -> tuple[str, list]:
    """The cost attributed to `user` in [start_us, end_us): whole UTC days from the rollups (the
    totals grouping, so each record counts once), the rest from the user's records (and those
    not rolled up yet: `through`, see Plan)."""
    parts, params = [], []
    pieces = cover("personal", start_us, end_us)
    if through is not None:
        pieces.append(("pending", start_us, end_us))
    for piece in pieces:
        sql, values = _piece_select("personal", user, TOTAL_DIM, piece, None, "''", False, through)
        parts.append(sql)
        params += values
    if not parts:
        return "SELECT 0", []
    return f"SELECT SUM(cost_nano) FROM ({' UNION ALL '.join(parts)}) AS pieces", params


def user_cost_nano(store: Store, user: str, start_us: int, end_us: int) -> int:
    sql, params = user_cost_sql(user, start_us, end_us, store.pending_rollups())
    return store.execute(sql, params).fetchone()[0] or 0


# -- request history: whether a page walks a time index (the pages: query_history.py) -----------
# The groupings whose row is a records column with its own time index ((user, ts_us), (team, ts_us)).
_INDEXED_FOCUS = ("user", "team")
# Below this share of the range's requests, a focused org row's page scans the range instead of
# walking the (ts_us) index: a walk looks up ~100/share records at random (1M realistic records,
# 30 days: a 1.8% row 76 ms, a row with none in the range 3.6 s), a scan reads each once (0.85 s).
HISTORY_WALK_MIN_SHARE = 0.002
# The focused row's and the org's requests over the range's UTC days (from the org's day rollup).
_ORG_ROW_SHARE = (f"SELECT (SELECT SUM(requests) FROM roll_org{DAY_SUFFIX} WHERE dim = ? AND bucket BETWEEN ? AND ? "
                  f"AND key = ?), (SELECT SUM(requests) FROM roll_org{DAY_SUFFIX} WHERE dim = {TOTAL_DIM} "
                  "AND bucket BETWEEN ? AND ?)")


def walks_time_index(store: Store, plan: Plan) -> bool:
    """Whether a page by time of this org history should walk the (ts_us) index: yes unless its
    focused row (not a user or team: those have their own index) is rare in the range."""
    focus, spec = plan.focus_key, plan.spec
    if spec.scope != "org" or focus is None or (focus and spec.group_by in _INDEXED_FOCUS):
        return True
    first, last = plan.edges_us[0] // DAY_US, (plan.edges_us[-1] - 1) // DAY_US
    row, whole = store.execute(_ORG_ROW_SHARE, (GROUPINGS.index(spec.group_by), first, last, focus,
                                                first, last)).fetchone()
    return bool(whole) and (row or 0) >= HISTORY_WALK_MIN_SHARE * whole


# The request history (the records behind a view) lives in query_history.py; its names stay
# importable from here. Imported last: it builds on the definitions above.
from .query_history import (  # noqa: E402
    HISTORY_PAGE_MAX,
    HISTORY_SEARCH_MAX,
    history_sql,
    iter_history,
    run_history,
)

# The names other modules import from here, among them those defined in query_scope.py and
# query_history.py.
__all__ = ["DEFAULT_DAYS", "HISTORY_PAGE_MAX", "HISTORY_SEARCH_MAX", "HISTORY_WALK_MIN_SHARE", "Plan", "QueryError",
           "ScopeError", "check_named_viewer", "check_scope", "closest", "cover", "data_buckets", "day_end_us",
           "execute", "history_sql", "iter_history", "local_midnight_us", "parse_date", "plan_query", "rows_sql",
           "run_history", "run_query", "series_day_pieces", "series_day_sql", "series_sql", "user_cost_nano",
           "user_cost_sql", "walks_time_index", "zone"]
