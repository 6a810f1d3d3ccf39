"""The realistic organization on PostgreSQL beside SQLite (issue 17), in one run:

    python bench/pg.py --db postgresql://root@127.0.0.1:5432/test --records 1000000

For each engine, from the same JSONL file (bench/run.py's realistic shape: 300 users, 15
teams, 60 keys, 25 agents, 90 days, shuffled):
  import   `usage-tui import FILE --db …` into a fresh store with the directory loaded (validate,
           attribute, price, roll up), against the engine's plain load of the same file:
           PostgreSQL `COPY … FROM STDIN` into a plain table (json.loads + psycopg's copy), SQLite
           json.loads + executemany into a plain table (bench/run.py's baseline)
  views    bench/run.py's view mix (3 scopes × 3 metrics × 7 groupings × 2 granularities × plain,
           focused, searched × 2 zones = 756 views) through query.run_query: p50 / p95 / max
  size     bytes per record: the SQLite file after a checkpoint; on PostgreSQL
           pg_total_relation_size (heap, indexes, TOAST) of every table of the store's schema

The PostgreSQL store lives in a schema of its own (created, then dropped at the end); the
server keeps its defaults (synchronous_commit on: every commit waits for the disk).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench_run  # noqa: E402  (the realistic shape, the view mix, RESULTS.md's sections)
import serve as bench_serve  # noqa: E402  (the realistic JSONL file, cached in bench/data/)

NOW = bench_run.NOW
PLAIN_COLUMNS = bench_run.PLAIN_COLUMNS
PG_TYPES = {"prompt_tokens": "bigint", "completion_tokens": "bigint", "cached_input_tokens": "bigint",
            "context_tokens": "bigint", "status": "integer", "cost_usd": "double precision"}


def schema_dsn(base: str, schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"


def run_import(db: str, jsonl: Path) -> dict:
    env = {**os.environ, "USAGE_TUI_NOW": NOW}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "usage_tui", "import", str(jsonl), "--db", db],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return {"seconds": seconds, "summary": done.stdout.strip()}


def plain_sqlite(path: Path, jsonl: Path) -> float:
    import sqlite3

    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE plain ({', '.join(PLAIN_COLUMNS)})")
    start = time.perf_counter()
    with jsonl.open() as f:
        rows = (tuple(d.get(c) for c in PLAIN_COLUMNS) for d in map(json.loads, f))
        conn.executemany(f"INSERT INTO plain VALUES ({', '.join('?' * len(PLAIN_COLUMNS))})", rows)
    conn.commit()
    seconds = time.perf_counter() - start
    conn.close()
    path.unlink()
    return seconds


def plain_copy(dsn: str, jsonl: Path) -> dict:
    """COPY of the same file's fields into a plain table (no key, no index), one transaction."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        cols = ", ".join(f'"{c}" {PG_TYPES.get(c, "text")}' for c in PLAIN_COLUMNS)
        conn.execute(f"CREATE TABLE plain_copy ({cols})")
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
                f"COPY plain_copy ({', '.join(chr(34) + c + chr(34) for c in PLAIN_COLUMNS)}) FROM STDIN") as copy, \
                jsonl.open() as f:
            for d in map(json.loads, f):
                copy.write_row(tuple(d.get(c) for c in PLAIN_COLUMNS))
        conn.commit()
        seconds = time.perf_counter() - start
        size = conn.execute("SELECT pg_total_relation_size('plain_copy')").fetchone()[0]
        conn.execute("DROP TABLE plain_copy")
        conn.commit()
    return {"seconds": seconds, "bytes": size}


def pg_store_bytes(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relkind IN ('r', 'p')").fetchone()[0]


def view_timings(store) -> dict:
    """bench/run.py's view mix through run_query, as its queries phase runs it."""
    from usage_tui.model import QuerySpec
    from usage_tui.query import run_query

    viewer, team = bench_run.VIEWER["realistic"]
    views = bench_run.view_mix(store.directory().timezone)
    until = date(2026, 11, 24)
    since = until - timedelta(days=29)
    timings: list[float] = []
    paths = {"rollup": 0, "records": 0}
    top: dict[tuple, str] = {}
    for view in views:
        spec = QuerySpec(viewer=viewer, scope=view["scope"], team=view["team"], metric=view["metric"],
                         group_by=view["group_by"], granularity=view["granularity"], since=since, until=until,
                         tz=view["tz"])
        key = (view["scope"], view["group_by"])
        if view["variant"] == "focus":
            spec = QuerySpec(**{**vars(spec), "focus": top.get(key)})
        elif view["variant"] == "search":
            spec = QuerySpec(**{**vars(spec), "search": "a"})
        start = time.perf_counter()
        result = run_query(store, spec)
        timings.append((time.perf_counter() - start) * 1000)
        paths[result.path] += 1
        if result.rows and view["variant"] == "plain":
            top[key] = result.rows[0].key
    timings.sort()
    return {"n": len(timings), "p50": statistics.median(timings), "p95": timings[int(0.95 * (len(timings) - 1))],
            "max": timings[-1], "paths": paths}


def measure_sqlite(n: int, jsonl: Path) -> dict:
    import sqlite3

    from usage_tui.store import Store

    path = bench_run.DATA / f"pg-bench-sqlite-{n}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    Store(path).load_directory(bench_run.realistic_directory())
    imported = run_import(str(path), jsonl)
    plain = plain_sqlite(bench_run.DATA / f"pg-bench-plain-{n}.db", jsonl)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size
    store = Store(path, readonly=True)
    views = view_timings(store)
    store.close()
    return {"import": imported, "plain_seconds": plain, "bytes": size, "views": views}


def measure_pg(base: str, n: int, jsonl: Path) -> dict:
    import psycopg

    from usage_tui.store.postgres import PostgresStore

    schema = f"usage_tui_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        version = admin.execute("SHOW server_version").fetchone()[0]
    dsn = schema_dsn(base, schema)
    try:
        store = PostgresStore(dsn)
        store.load_directory(bench_run.realistic_directory())
        store.close()
        imported = run_import(dsn, jsonl)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")  # what autovacuum would do next: sizes and plans as they settle
        size = pg_store_bytes(dsn)
        copy = plain_copy(dsn, jsonl)
        store = PostgresStore(dsn, readonly=True)
        views = view_timings(store)
        store.close()
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return {"import": imported, "copy": copy, "bytes": size, "views": views, "server": version}


def report(args, sqlite_r: dict, pg_r: dict, load: tuple[float, float]) -> str:
    n = args.records
    s_imp, p_imp = sqlite_r["import"]["seconds"], pg_r["import"]["seconds"]
    s_plain, p_copy = sqlite_r["plain_seconds"], pg_r["copy"]["seconds"]
    sv, pv = sqlite_r["views"], pg_r["views"]
    lines = [
        f"## {n:,} records, realistic shape: PostgreSQL beside SQLite (issue 17)", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {bench_run.machine()}, PostgreSQL {pg_r['server']} on the same "
        f"machine (defaults; synchronous_commit on). `python bench/pg.py --db postgresql://… --records {n}`. "
        f"The 2 cores are shared by several sessions (load average before/after: {load[0]:.1f} / {load[1]:.1f}): "
        "compare within a column's engine, same run.", "",
        "### Import (the same shuffled JSONL file)", "",
        "| engine | `usage-tui import` s | records/s | plain load s | plain load | import / plain |",
        "|---|---:|---:|---:|---|---:|",
        f"| SQLite | {s_imp:.1f} | {n / s_imp:,.0f} | {s_plain:.1f} | json.loads + executemany, plain table | "
        f"{s_imp / s_plain:.2f}× |",
        f"| PostgreSQL | {p_imp:.1f} | {n / p_imp:,.0f} | {p_copy:.1f} | json.loads + `COPY FROM STDIN`, plain table | "
        f"{p_imp / p_copy:.2f}× |", "",
        f"PostgreSQL import / SQLite import: {p_imp / s_imp:.2f}×. Both said: `{sqlite_r['import']['summary']}` / "
        f"`{pg_r['import']['summary']}`.", "",
        "### View refresh (bench/run.py's 756-view mix through `run_query`, viewer u000, an org admin)", "",
        "| engine | p50 ms | p95 ms | max ms | from rollups / records |",
        "|---|---:|---:|---:|---|",
        f"| SQLite | {sv['p50']:.1f} | {sv['p95']:.1f} | {sv['max']:.1f} | {sv['paths']['rollup']} / {sv['paths']['records']} |",
        f"| PostgreSQL | {pv['p50']:.1f} | {pv['p95']:.1f} | {pv['max']:.1f} | {pv['paths']['rollup']} / {pv['paths']['records']} |",
        "",
        f"PostgreSQL p95 / SQLite p95: {pv['p95'] / sv['p95']:.1f}× (a round trip to the server per statement, "
        "against an in-process library call).", "",
        "### Store size", "",
        "| engine | bytes per record | what is counted |",
        "|---|---:|---|",
        f"| SQLite | {sqlite_r['bytes'] / n:.0f} | the file after a checkpoint (records, rollups, indexes) |",
        f"| PostgreSQL | {pg_r['bytes'] / n:.0f} | pg_total_relation_size of every table of the store's schema "
        "(heap, indexes, TOAST), after VACUUM ANALYZE |",
        f"| PostgreSQL plain COPY table | {pg_r['copy']['bytes'] / n:.0f} | the baseline's table (no key, no index) |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("USAGE_TUI_TEST_PG"),
                        help="the PostgreSQL server (a libpq URI whose user may create schemas; "
                             "default $USAGE_TUI_TEST_PG)")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    if not args.db:
        raise SystemExit("bench/pg.py: give --db postgresql://… (or set USAGE_TUI_TEST_PG)")
    load_before = os.getloadavg()[0]
    jsonl = bench_serve.records_file(args.records)
    print(f"[{datetime.now():%H:%M:%S}] SQLite…", file=sys.stderr, flush=True)
    sqlite_r = measure_sqlite(args.records, jsonl)
    print(f"    {json.dumps(sqlite_r)}", file=sys.stderr, flush=True)
    print(f"[{datetime.now():%H:%M:%S}] PostgreSQL…", file=sys.stderr, flush=True)
    pg_r = measure_pg(args.db, args.records, jsonl)
    print(f"    {json.dumps(pg_r)}", file=sys.stderr, flush=True)
    bench_run.DATA.joinpath(f"results-pg-{args.records}.json").write_text(json.dumps({"sqlite": sqlite_r, "pg": pg_r}))
    text = report(args, sqlite_r, pg_r, (load_before, os.getloadavg()[0]))
    bench_run.write_section(args.output, f"pg-{args.records}", text)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
