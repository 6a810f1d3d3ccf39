"""Benchmarks: ingest, view refresh, TUI, memory, each beside baselines measured in the same run.

    python bench/run.py --records 1000000        # writes bench/RESULTS.md (overwrites it)

Phases run in subprocesses so that each one's peak RSS is its own:
  generate  demo records as native JSONL, in time order as gateway logs are (cached in bench/data/)
  ingest    `usage-tui import` into a fresh store with the demo directory
  plain     baseline load: parse the same JSONL and executemany into a plain table (no validation,
            attribution, pricing or rollups)
  queries   the view mix through query.run_query (what the TUI and `spend summary` call), and the
            same views as a naive GROUP BY over the plain table (SQLite) and over DuckDB
  tui       cold start to first full paint, and key press → repainted table and plot (Pilot)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
NOW = "2026-11-24T12:00:00Z"  # pinned, so the data and the default 30-day range always match
TZ_REPORTING, TZ_UNALIGNED = "Europe/Berlin", "Asia/Kathmandu"  # +05:45: off the hour grid


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# `python -S` with PYTHONPATH=<another checkout>:<site-packages> benches that checkout's code
# (e.g. main's, for a before/after in one run): the phases' subprocesses keep the flag.
PYTHON = [sys.executable, *(["-S"] if sys.flags.no_site else [])]


def run_phase(phase: str, args: argparse.Namespace) -> dict:
    cmd = [*PYTHON, __file__, "--phase", phase, "--records", str(args.records), "--shape", args.shape,
           "--label", args.label]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "USAGE_TUI_NOW": NOW})
    if out.returncode:
        sys.exit(f"phase {phase} failed (exit {out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


LABEL = ""  # set by --label
SHAPE = "demo"  # set by --shape: "demo" (the demo directory, 30 days, sorted) or "realistic"


def paths(records: int, variant: str = "") -> dict[str, Path]:
    """Files of one shape and record count. `variant`: "" the main file (demo: sorted;
    realistic: shuffled), "-sorted" the realistic records in time order, "-3y" the realistic
    shape spread over three years (for the three-year weekly views)."""
    DATA.mkdir(exist_ok=True)
    tag = f"{'' if SHAPE == 'demo' else SHAPE + '-'}{records}{variant}"
    own = f"{tag}-{LABEL}" if LABEL else tag  # a labelled run's stores are its own: runs may overlap
    return {"jsonl": DATA / f"records-{tag}.jsonl", "store": DATA / f"store-{own}.db",
            "plain": DATA / f"plain-{own}.db", "duck": DATA / f"duck-{own}.duckdb",
            "csv": DATA / f"plain-{own}.csv", "directory": DATA / f"directory-{SHAPE}.json"}


def bench_directory() -> dict:
    if SHAPE == "demo":
        from usage_tui.sample import demo_directory

        return demo_directory(login="alice")
    return realistic_directory()


# Who looks at the views, and the team of the team views, per shape.
VIEWER = {"demo": ("alice", "platform"), "realistic": ("u000", "t00")}


# -- the realistic shape --------------------------------------------------------------------------------
# A real organization (issue 15): 300 users in 15 teams, 60 keys, 25 agents, 15 models, 3 verdicts,
# 90 days, records in random arrival order (several gateways' exports merged). Ids are UUIDs, as
# LiteLLM's are. Two of the models have no price anywhere (they count as unpriced requests).
REALISTIC = {"users": 300, "teams": 15, "keys": 60, "agents": 25, "days": 90}
REALISTIC_MODELS = [
    ("openai", "gpt-4o", 14, 2_400), ("openai", "gpt-4o-mini", 20, 1_500), ("openai", "o3", 4, 6_000),
    ("openai", "gpt-4.1", 8, 3_000), ("openai", "gpt-4.1-mini", 10, 1_800), ("openai", "o4-mini", 5, 4_000),
    ("anthropic", "claude-sonnet-4-5", 14, 5_000), ("anthropic", "claude-3-5-haiku-latest", 8, 1_800),
    ("anthropic", "claude-opus-4-1", 2, 8_000), ("google", "gemini-2.5-flash", 9, 3_000),
    ("google", "gemini-2.5-pro", 4, 5_000), ("mistral", "mistral-large-latest", 3, 2_500),
    ("internal", "llama-70b", 6, 2_000), ("internal", "acme-finetune-v2", 3, 1_200),
    ("internal", "acme-embed-v1", 2, 600),
]


def realistic_directory() -> dict:
    import random

    rng = random.Random(7)
    n_users, n_teams = REALISTIC["users"], REALISTIC["teams"]
    users = [f"u{i:03d}" for i in range(n_users)]
    teams = [{"id": f"t{t:02d}", "name": f"Team {t}", "admins": [users[t * (n_users // n_teams) + 1]]}
             for t in range(n_teams)]
    doc_users = []
    for i, u in enumerate(users):
        home = teams[i // (n_users // n_teams)]["id"]
        extra = [teams[rng.randrange(n_teams)]["id"]] if rng.random() < 0.2 else []
        doc_users.append({"id": u, "name": f"User {i}", "login": f"login{i:03d}",
                          "role": "org_admin" if i in (0, 150) else "member",
                          "teams": list(dict.fromkeys([home, *extra]))})
    keys = [{"id": f"sk-{rng.getrandbits(48):012x}", "owner": rng.choice(users),
             **({"team": rng.choice(teams)["id"]} if rng.random() < 0.5 else {})}
            for _ in range(REALISTIC["keys"])]
    agents = [{"id": f"agent-{i:02d}", "manager": rng.choice(users)} for i in range(REALISTIC["agents"])]
    budgets = [{"user": u, "limit_usd": float(rng.choice([20, 50, 100, 400])),
                "window": rng.choice(["daily", "weekly", "monthly"])} for u in rng.sample(users, 40)]
    return {"org": {"id": "bigco", "name": "BigCo", "timezone": TZ_REPORTING}, "teams": teams,
            "users": doc_users, "keys": keys, "agents": agents, "budgets": budgets,
            "prices": [{"provider": "internal", "model": "llama-70b", "input_per_mtok": 0.6,
                        "output_per_mtok": 0.8}]}


def realistic_records(n: int, days: int, seed: int = 11):
    """(ts_us, JSON line) of `n` records over the `days` days ending at NOW."""
    import random
    import uuid

    rng = random.Random(seed)
    doc = realistic_directory()
    users = [u["id"] for u in doc["users"]]
    user_weights = [rng.paretovariate(1.2) for _ in users]  # a few heavy users, a long tail
    keys = [k["id"] for k in doc["keys"]]
    agents = [a["id"] for a in doc["agents"]]
    teams = [t["id"] for t in doc["teams"]]
    models = [(m, m[2]) for m in REALISTIC_MODELS]
    end_us = int(datetime.fromisoformat(NOW.replace("Z", "+00:00")).timestamp() * 1e6)
    span_us = days * 86_400_000_000
    for _ in range(n):
        while True:  # working hours (UTC+1) busier, weekends quieter
            ts_us = end_us - 1 - rng.randrange(span_us)
            hour = (ts_us // 3_600_000_000 + 1) % 24
            weekday = (ts_us // 86_400_000_000 + 3) % 7  # 1970-01-01 was a Thursday
            if rng.random() < (1.0 if 8 <= hour < 19 else 0.25) * (0.35 if weekday >= 5 else 1.0):
                break
        provider, model, _, typical = rng.choices([m for m, _ in models], weights=[w for _, w in models])[0]
        d = {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
             "ts": datetime.fromtimestamp(ts_us / 1e6, UTC).isoformat().replace("+00:00", "Z"),
             "provider": provider, "model": model}
        how = rng.random()
        if how < 0.6:
            d["user"] = rng.choices(users, weights=user_weights)[0]
        elif how < 0.85:
            d["key"] = rng.choice(keys)
        elif how < 0.97:
            d["agent"] = rng.choice(agents)
        if rng.random() < 0.1:
            d["team"] = rng.choice(teams)
        prompt_total = max(1, int(rng.lognormvariate(0, 0.8) * typical))
        cached = int(prompt_total * rng.choice([0, 0, 0.2, 0.5, 0.8])) if provider != "internal" else 0
        status = rng.choices([200, 429, 500, 400], weights=[95, 2, 2, 1])[0]
        d.update(prompt_tokens=prompt_total - cached,
                 completion_tokens=max(1, int(rng.lognormvariate(0, 0.9) * typical * 0.25)) if status == 200 else 0,
                 cached_input_tokens=cached, context_tokens=int(prompt_total * rng.choice([0, 0, 0.1, 0.3])),
                 status=status, verdict=rng.choices(["allow", "redact", "block"], weights=[90, 7, 3])[0])
        if rng.random() < 0.3:  # some gateways log their own cost
            d["cost_usd"] = round(rng.lognormvariate(-5, 1.2), 6)
        d["metadata"] = {"route": rng.choice(["/v1/chat/completions", "/v1/messages", "/v1/responses"])}
        yield ts_us, json.dumps(d)


def write_realistic(n: int) -> None:
    import random

    p = paths(n)
    p["directory"].write_text(json.dumps(realistic_directory()))
    rows = list(realistic_records(n, REALISTIC["days"]))
    random.Random(3).shuffle(rows)
    with p["jsonl"].open("w") as f:
        f.writelines(line + "\n" for _, line in rows)
    rows.sort()
    with paths(n, "-sorted")["jsonl"].open("w") as f:
        f.writelines(line + "\n" for _, line in rows)
    del rows
    rows = list(realistic_records(n, 3 * 365, seed=12))
    random.Random(4).shuffle(rows)
    with paths(n, "-3y")["jsonl"].open("w") as f:
        f.writelines(line + "\n" for _, line in rows)


# -- phases -----------------------------------------------------------------------------------------
def peak_rss_while(proc) -> int:
    """Wait for `proc` (a psutil.Popen), sampling its RSS every 50 ms: the peak, in bytes."""
    import psutil

    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    return peak


def phase_generate(n: int) -> dict:
    from usage_tui.sample import generate

    p = paths(n)["jsonl"]
    if p.exists():
        return {"generated": False}
    if SHAPE == "realistic":
        write_realistic(n)
        return {"generated": True}
    now = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    rows = []
    for r in generate(events=n, days=30, seed=11, now=now):
        d = {"id": r.id, "ts": datetime.fromtimestamp(r.ts_us / 1e6, UTC).isoformat().replace("+00:00", "Z"),
             "provider": r.provider, "model": r.model}
        for k in ("user", "key", "agent", "team", "verdict"):
            if getattr(r, k):
                d[k] = getattr(r, k)
        for k in ("prompt_tokens", "completion_tokens", "cached_input_tokens", "context_tokens", "status"):
            d[k] = getattr(r, k)
        if r.cost_usd is not None:
            d["cost_usd"] = r.cost_usd
        rows.append((r.ts_us, json.dumps(d)))
    rows.sort()
    with p.open("w") as f:
        f.writelines(line + "\n" for _, line in rows)
    return {"generated": True}


def phase_ingest(n: int, variant: str = "") -> dict:
    import psutil

    from usage_tui.store import Store

    p = paths(n, variant)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{p['store']}{suffix}").unlink(missing_ok=True)
    Store(p["store"]).load_directory(bench_directory())
    start = time.perf_counter()
    proc = psutil.Popen([*PYTHON, "-m", "usage_tui", "import", str(p["jsonl"]), "--db", str(p["store"])],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = peak_rss_while(proc)
    seconds = time.perf_counter() - start
    out = proc.stdout.read().decode()
    conn = sqlite3.connect(p["store"])
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = p["store"].stat().st_size
    return {"seconds": seconds, "rate": n / seconds, "bytes_per_record": size / n, "peak_rss_mb": peak / 2**20,
            "summary": out.strip()}


PLAIN_COLUMNS = ("id", "ts", "provider", "model", "user", "key", "agent", "team", "prompt_tokens",
                 "completion_tokens", "cached_input_tokens", "context_tokens", "status", "verdict", "cost_usd")


def phase_plain(n: int) -> dict:
    """The ingest baseline: JSON parsing and one executemany into a plain table (SQLite's
    defaults, one transaction). Then, for reference, the same into a table keyed by id with
    INSERT OR REPLACE: the least any store that replaces records by id must do."""
    p = paths(n)
    out = {}
    loads = [("plain", f"CREATE TABLE plain ({', '.join(PLAIN_COLUMNS)})", "INSERT"),
             ("keyed", f"CREATE TABLE plain ({', '.join(PLAIN_COLUMNS)}, PRIMARY KEY (id)) "
                       "WITHOUT ROWID", "INSERT OR REPLACE")]
    # Past 2M records the keyed reference inserts at random into a tree far larger than SQLite's
    # default 2 MB cache: at 10M it was still at 20% after 10 minutes on the shared machine.
    for name, ddl, verb in loads[:1] if n > 2_000_000 else loads:
        target = p["plain"] if name == "plain" else p["plain"].with_suffix(".keyed.db")
        target.unlink(missing_ok=True)
        conn = sqlite3.connect(target)
        conn.execute(ddl)
        start = time.perf_counter()
        with p["jsonl"].open() as f:
            rows = (tuple(d.get(c) for c in PLAIN_COLUMNS) for d in map(json.loads, f))
            conn.executemany(f"{verb} INTO plain VALUES ({', '.join('?' * len(PLAIN_COLUMNS))})", rows)
        conn.commit()
        seconds = time.perf_counter() - start
        conn.close()
        out[name] = {"seconds": seconds, "rate": n / seconds}
        if name == "keyed":
            target.unlink()
    return {**out["plain"], **({"keyed": out["keyed"]} if "keyed" in out else {}), "peak_rss_mb": peak_rss_mb()}


def view_mix(directory_tz: str) -> list[dict]:
    """Every scope × metric × grouping × granularity, plain / focused / searched, in the
    reporting zone and in an unaligned one."""
    from usage_tui.model import GRANULARITIES, GROUPINGS, METRICS

    views = []
    for scope, team in (("personal", None), ("team", VIEWER[SHAPE][1]), ("org", None)):
        for metric in METRICS:
            for group_by in GROUPINGS:
                for granularity in GRANULARITIES:
                    for variant in ("plain", "focus", "search"):
                        for tz in (directory_tz, TZ_UNALIGNED):
                            views.append({"scope": scope, "team": team, "metric": metric, "group_by": group_by,
                                          "granularity": granularity, "variant": variant, "tz": tz})
    return views


def naive_sql(view: dict, since_us: int, until_us: int, offset_s: int, intdiv: str = "/") -> tuple[str, str, list]:
    """The same view over a plain table: WHERE + GROUP BY for the rows, and for the series."""
    where, params = ["ts_us >= ?", "ts_us < ?"], [since_us, until_us]
    if view["scope"] == "personal":
        where.append("user = ?")
        params.append(VIEWER[SHAPE][0])
    elif view["scope"] == "team":
        where.append("team = ?")
        params.append(view["team"])
    col = view["group_by"]
    sums = ("SUM(requests), SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_input_tokens), "
            "SUM(context_tokens), SUM(cost_nano)")
    w = " AND ".join(where)
    rows = f"SELECT {col}, {sums} FROM plain WHERE {w} GROUP BY {col} ORDER BY 2 DESC"
    day = f"(ts_us {intdiv} 1000000 + {offset_s}) {intdiv} 86400"  # DuckDB's "/" divides in floats
    series = f"SELECT {day} AS d, {sums} FROM plain WHERE {w} GROUP BY d"
    return rows, series, params


def baseline_tables(p: dict[str, Path]):
    """The baselines' copies of the store's records (attributed and priced by the store, so the
    answers match): a plain SQLite table with no index, and the same rows in DuckDB."""
    import csv

    import duckdb

    naive = sqlite3.connect(p["plain"])
    naive.execute("DROP TABLE IF EXISTS plain")
    naive.execute(f"ATTACH DATABASE '{p['store']}' AS store")
    naive.execute("CREATE TABLE plain AS SELECT ts_us, provider, model, user, team, agent, key, verdict, requests, "
                  "prompt_tokens, completion_tokens, cached_input_tokens, context_tokens, cost_nano FROM store.records")
    naive.commit()
    p["csv"].unlink(missing_ok=True)
    naive_rows = naive.execute("SELECT * FROM plain")
    with p["csv"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([d[0] for d in naive_rows.description])
        w.writerows(naive_rows)
    p["duck"].unlink(missing_ok=True)
    duck = duckdb.connect(str(p["duck"]))
    duck.execute(f"CREATE TABLE plain AS SELECT * FROM read_csv_auto('{p['csv']}', header = true)")
    return naive, duck


def phase_queries(n: int) -> dict:
    from usage_tui.model import QuerySpec
    from usage_tui.query import run_query
    from usage_tui.store import Store

    p = paths(n)
    store = Store(p["store"])
    tz = store.directory().timezone
    views = view_mix(tz)
    until = date(2026, 11, 24)
    since = until - timedelta(days=29)
    timings: dict[str, list[float]] = {"all": [], TZ_REPORTING: [], TZ_UNALIGNED: []}
    paths_used = {"rollup": 0, "records": 0}
    top_keys: dict[tuple, str] = {}
    for view in views:
        spec = QuerySpec(viewer=VIEWER[SHAPE][0], scope=view["scope"], team=view["team"], metric=view["metric"],
                         group_by=view["group_by"], granularity=view["granularity"], since=since, until=until,
                         tz=view["tz"])
        key = (view["scope"], view["group_by"])
        if view["variant"] == "focus":
            spec = QuerySpec(**{**vars(spec), "focus": top_keys.get(key)})
        elif view["variant"] == "search":
            spec = QuerySpec(**{**vars(spec), "search": "a"})
        start = time.perf_counter()
        result = run_query(store, spec)
        ms = (time.perf_counter() - start) * 1000
        timings["all"].append(ms)
        timings[view["tz"]].append(ms)
        paths_used[result.path] += 1
        if result.rows and view["variant"] == "plain":
            top_keys[key] = result.rows[0].key
    rss_queries = peak_rss_mb()

    # Baselines on the same records, attributed and priced by the store so the answers match:
    # a plain table with no index (naive SQLite) and the same data in DuckDB.
    naive, duck = baseline_tables(p)
    since_us = int(datetime(2026, 10, 25, 22, tzinfo=UTC).timestamp() * 1e6)
    until_us = int(datetime(2026, 11, 24, 23, tzinfo=UTC).timestamp() * 1e6)
    # a spread of the mix: the baselines take seconds each at 10M
    sample = views[:: max(1, len(views) // (36 if n <= 2_000_000 else 12))]
    naive_ms, duck_ms, ours_ms = [], [], []
    for view in sample:
        rows, series, params = naive_sql(view, since_us, until_us, 3600)
        start = time.perf_counter()
        naive.execute(rows, params).fetchall()
        naive.execute(series, params).fetchall()
        naive_ms.append((time.perf_counter() - start) * 1000)
        rows, series, params = naive_sql(view, since_us, until_us, 3600, intdiv="//")
        start = time.perf_counter()
        duck.execute(rows, params).fetchall()
        duck.execute(series, params).fetchall()
        duck_ms.append((time.perf_counter() - start) * 1000)
        spec = QuerySpec(viewer=VIEWER[SHAPE][0], scope=view["scope"], team=view["team"], metric=view["metric"],
                         group_by=view["group_by"], granularity=view["granularity"], since=since, until=until,
                         tz=view["tz"])
        start = time.perf_counter()
        run_query(store, spec)
        ours_ms.append((time.perf_counter() - start) * 1000)

    # `spend summary` in-process (click's CliRunner: store opened, query, JSON printed; no
    # interpreter start-up) against the naive query of the same view, each repeated.
    from click.testing import CliRunner

    from usage_tui.cli import cli

    runner = CliRunner()
    summary = {}
    for label, argv, view in SUMMARY_VIEWS:
        ours, base = [], []
        for _ in range(SUMMARY_REPEAT):
            start = time.perf_counter()
            out = runner.invoke(cli, ["spend", "summary", "--db", str(p["store"]), "--as", VIEWER[SHAPE][0],
                                      "--format", "json", *[VIEWER[SHAPE][1] if a == "platform" else a
                                                            for a in argv]])
            ours.append((time.perf_counter() - start) * 1000)
            assert out.exit_code == 0, out.output
            rows, series, params = naive_sql({**view, "team": VIEWER[SHAPE][1]}, since_us, until_us, 3600)
            start = time.perf_counter()
            naive.execute(rows, params).fetchall()
            naive.execute(series, params).fetchall()
            base.append((time.perf_counter() - start) * 1000)
        summary[label] = {"ours_ms": statistics.median(ours), "naive_ms": statistics.median(base)}

    return {"views": {k: stats(v) for k, v in timings.items()}, "paths": paths_used,
            "sample": {"ours": stats(ours_ms), "naive": stats(naive_ms), "duckdb": stats(duck_ms)},
            "summary": summary, "peak_rss_mb_queries": rss_queries}


def phase_queries_3y(n: int) -> dict:
    """Three-year weekly views on the realistic shape spread over three years: every scope ×
    grouping × metric, in the reporting zone and at +05:45, against the naive GROUP BY and DuckDB
    on the same records (the baselines' weekly buckets: fixed offset, 7-day integer division)."""
    from usage_tui.model import GROUPINGS, METRICS, QuerySpec
    from usage_tui.query import run_query
    from usage_tui.store import Store

    p = paths(n, "-3y")
    store = Store(p["store"])
    viewer, team = VIEWER[SHAPE]
    until = date(2026, 11, 24)
    since = until - timedelta(days=3 * 365 - 1)
    views = [(scope, metric, group_by, tz) for scope in ("personal", "team", "org") for metric in METRICS
             for group_by in GROUPINGS for tz in (TZ_REPORTING, TZ_UNALIGNED)]
    ours_all = []
    for scope, metric, group_by, tz in views:
        spec = QuerySpec(viewer=viewer, scope=scope, team=team if scope == "team" else None, metric=metric,
                         group_by=group_by, granularity="weekly", since=since, until=until, tz=tz)
        start = time.perf_counter()
        run_query(store, spec)
        ours_all.append((time.perf_counter() - start) * 1000)
    rss = peak_rss_mb()
    naive, duck = baseline_tables(p)
    since_us = int(datetime(since.year, since.month, since.day, tzinfo=UTC).timestamp() * 1e6) - 3_600_000_000
    until_us = int(datetime(2026, 11, 24, 23, tzinfo=UTC).timestamp() * 1e6)
    naive_ms, duck_ms, ours_ms = [], [], []
    for scope, metric, group_by, tz in views[::7]:
        view = {"scope": scope, "team": team, "group_by": group_by}
        for conn, out, intdiv in ((naive, naive_ms, "/"), (duck, duck_ms, "//")):
            rows, series, params = naive_sql(view, since_us, until_us, 3600, intdiv)
            series = series.replace(" 86400", " 604800")  # weeks
            start = time.perf_counter()
            conn.execute(rows, params).fetchall()
            conn.execute(series, params).fetchall()
            out.append((time.perf_counter() - start) * 1000)
        spec = QuerySpec(viewer=viewer, scope=scope, team=team if scope == "team" else None, metric=metric,
                         group_by=group_by, granularity="weekly", since=since, until=until, tz=tz)
        start = time.perf_counter()
        run_query(store, spec)
        ours_ms.append((time.perf_counter() - start) * 1000)
    return {"views": stats(ours_all), "sample": {"ours": stats(ours_ms), "naive": stats(naive_ms),
                                                 "duckdb": stats(duck_ms)}, "peak_rss_mb_queries": rss}


def stats(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"n": len(values), "p50": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], "max": ordered[-1]}


SUMMARY_REPEAT = 9
SUMMARY_VIEWS = [  # (label, extra arguments, the view for the naive query)
    ("default (personal, cost by model, daily)", [], {"scope": "personal", "group_by": "model"}),
    ("team platform, tokens by user, weekly",
     ["--scope", "team", "--team", "platform", "--metric", "tokens", "--group-by", "user", "--granularity", "weekly"],
     {"scope": "team", "group_by": "user"}),
    ("org, requests by provider", ["--scope", "org", "--metric", "requests", "--group-by", "provider"],
     {"scope": "org", "group_by": "provider"}),
]


def phase_tui(n: int) -> dict:
    from usage_tui.app import create_app

    p = paths(n)

    async def measure() -> dict:
        start = time.perf_counter()
        app = create_app(p["store"], VIEWER[SHAPE][0])
        async with app.run_test(size=(120, 36)) as pilot:
            while not app.settled:  # the first answer is on screen: table and plot drawn
                await pilot.pause(0.002)
            cold = time.perf_counter() - start
            await pilot.pause(0.2)  # the first view's own timing lands after its paint
            app.timings.clear()
            presses = []
            for key in ["m", "g", "w", "3", "g", "m", "w", "1", "m", "g"] * 2:
                before = app.result
                t = time.perf_counter()
                await pilot.press(key)
                while app.result is before or not app.settled:
                    await pilot.pause(0.002)
                presses.append((time.perf_counter() - t) * 1000)
            # The app's own measure: from the key's handler asking for the view to the refresh
            # that painted it (Pilot's press adds its own wait for the app to go idle, ~50 ms).
            inner = sorted(x * 1000 for x in app.timings)
        presses.sort()
        return {"cold_start_s": cold, "key_p50_ms": statistics.median(presses),
                "key_p95_ms": presses[int(0.95 * (len(presses) - 1))], "key_max_ms": presses[-1],
                "app_p50_ms": statistics.median(inner), "app_p95_ms": inner[int(0.95 * (len(inner) - 1))],
                "app_max_ms": inner[-1], "app_n": len(inner)}

    return asyncio.run(measure())


# -- report ---------------------------------------------------------------------------------------------
def machine() -> str:
    import psutil

    return (f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.machine()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def targets(results: dict) -> list[str]:
    """The issue's targets against this run's figures."""
    ing, plain, q, tui = results["ingest"], results["plain"], results["queries"], results.get("tui")
    s = q["sample"]
    rows = [
        ("view refresh p95 (whole mix)", "≤ 20 ms", f"{q['views']['all']['p95']:.1f} ms", q["views"]["all"]["p95"] <= 20),
        ("faster than DuckDB's scan (p50)", "≥ 3×", f"{s['duckdb']['p50'] / s['ours']['p50']:.0f}×",
         s["duckdb"]["p50"] / s["ours"]["p50"] >= 3),
        ("faster than the naive GROUP BY (p50)", "≥ 100×", f"{s['naive']['p50'] / s['ours']['p50']:.0f}×",
         s["naive"]["p50"] / s["ours"]["p50"] >= 100),
        ("import time / plain load time", "≤ 1.5×", f"{ing['seconds'] / plain['seconds']:.2f}×",
         ing["seconds"] / plain["seconds"] <= 1.5),
        ("peak RSS (import, queries)", "≤ 200 MB", f"{ing['peak_rss_mb']:.0f} MB, {q['peak_rss_mb_queries']:.0f} MB",
         max(ing["peak_rss_mb"], q["peak_rss_mb_queries"]) <= 200),
    ]
    if q.get("summary"):
        worst = min(v["naive_ms"] / v["ours_ms"] for v in q["summary"].values())
        rows.append(("`spend summary` vs the naive query (slowest view)", "≥ 50×", f"{worst:.0f}×", worst >= 50))
    if tui:
        rows.append(("TUI cold start to first paint", "≤ 1 s", f"{tui['cold_start_s'] * 1000:.0f} ms",
                     tui["cold_start_s"] <= 1))
        if "app_p95_ms" in tui:
            rows.append(("key press → repaint, p95 (app's clock)", "≤ 100 ms", f"{tui['app_p95_ms']:.0f} ms",
                         tui["app_p95_ms"] <= 100))
    out = ["### Targets", "", "| target | goal | this run | met |", "|---|---|---:|---|"]
    out += [f"| {name} | {goal} | {value} | {'yes' if ok else '**no**'} |" for name, goal, value, ok in rows]
    return [*out, ""]


def _load(results: dict, key: str) -> str:
    return f"{results[key][0]:.2f}" if key in results else "n/a (run stopped early)"


def report_realistic(args, results: dict) -> str:
    """The realistic shape's section: issue 15's targets, every baseline from the same run."""
    plain, ing, srt, q = results["plain"], results["ingest"], results.get("ingest_sorted"), results["queries"]
    y3, ing3 = results.get("queries_3y"), results.get("ingest_3y")
    s = q["sample"]
    rss = max(ing["peak_rss_mb"], (srt or ing)["peak_rss_mb"], q["peak_rss_mb_queries"],
              (y3 or q)["peak_rss_mb_queries"])

    def row(name, goal, value, ok):
        return f"| {name} | {goal} | {value} | {'yes' if ok else '**no**'} |"

    ratio = ing["seconds"] / plain["seconds"]
    lines = [
        f"## {args.records:,} records, realistic shape{' (' + args.label + ')' if args.label else ''}",
        "",
        f"Run {results.get('finished_at') or f'{datetime.now(UTC):%Y-%m-%d %H:%M}'} UTC on {machine()}. "
        f"`python bench/run.py --shape realistic --records {args.records}`. 300 users, 15 teams, 60 keys, 25 agents, "
        "15 models (2 unpriced), 3 verdicts, 90 days, UUID ids, records shuffled (and a sorted copy); the "
        "three-year views run on the same count spread over 3 × 365 days. Every baseline ran in the same run. "
        f"Load average (1 min) before/after: {_load(results, 'load_before')} / {_load(results, 'load_after')} "
        "(other work on the machine makes the timings noisy).",
        "",
        "### Targets (issue 15)",
        "",
        "| target | goal | this run | met |",
        "|---|---|---:|---|",
        row("import (shuffled) / plain load", "≤ 3×", f"{ratio:.2f}×", ratio <= 3),
    ]
    if srt:
        sr = srt["seconds"] / plain["seconds"]
        lines += [row("import (sorted) / plain load", "≤ 3×", f"{sr:.2f}×", sr <= 3),
                  row("shuffled / sorted import", "≤ 1.2×", f"{ing['seconds'] / srt['seconds']:.2f}×",
                      ing["seconds"] / srt["seconds"] <= 1.2)]
    lines += [
        row("store size after a checkpoint", "≤ 250 B/record", f"{ing['bytes_per_record']:.0f} B",
            ing["bytes_per_record"] <= 250),
        row("view p95, 756-view mix", "≤ 20 ms", f"{q['views']['all']['p95']:.1f} ms", q["views"]["all"]["p95"] <= 20),
        row("faster than the naive GROUP BY (p50, mix)", "≥ 50×", f"{s['naive']['p50'] / s['ours']['p50']:.0f}×",
            s["naive"]["p50"] / s["ours"]["p50"] >= 50),
        row("faster than DuckDB's scan (p50, mix)", "≥ 3×", f"{s['duckdb']['p50'] / s['ours']['p50']:.1f}×",
            s["duckdb"]["p50"] / s["ours"]["p50"] >= 3),
    ]
    if y3:
        t = y3["sample"]
        lines += [
            row("three-year weekly views p95", "≤ 20 ms", f"{y3['views']['p95']:.1f} ms", y3["views"]["p95"] <= 20),
            row("three-year weekly: faster than naive (p50)", "≥ 50×",
                f"{t['naive']['p50'] / t['ours']['p50']:.0f}×", t["naive"]["p50"] / t["ours"]["p50"] >= 50),
            row("three-year weekly: faster than DuckDB (p50)", "≥ 3×",
                f"{t['duckdb']['p50'] / t['ours']['p50']:.1f}×", t["duckdb"]["p50"] / t["ours"]["p50"] >= 3),
        ]
    lines += [row("peak RSS, import and queries", "≤ 200 MB", f"{rss:.0f} MB", rss <= 200), "",
              "### Ingest (native JSONL, realistic directory loaded)", "",
              "| what | seconds | records/s | ratio to plain load | bytes/record | peak RSS MB |",
              "|---|---:|---:|---:|---:|---:|"]
    for label, r in (("`usage-tui import`, shuffled", ing), ("`usage-tui import`, sorted by time", srt),
                     ("`usage-tui import`, three years, shuffled", ing3)):
        if r:
            lines.append(f"| {label} | {r['seconds']:.1f} | {r['rate']:,.0f} | {r['seconds'] / plain['seconds']:.2f}× | "
                         f"{r['bytes_per_record']:.0f} | {r['peak_rss_mb']:.0f} |")
    lines += [f"| plain load: json.loads + executemany (shuffled file) | {plain['seconds']:.1f} | {plain['rate']:,.0f} "
              f"| 1× | | {plain['peak_rss_mb']:.0f} |"]
    if "keyed" in plain:
        k = plain["keyed"]
        lines.append(f"| (reference) the same keyed by id, INSERT OR REPLACE | {k['seconds']:.1f} | {k['rate']:,.0f} | "
                     f"{k['seconds'] / plain['seconds']:.2f}× | | |")
    lines += ["", f"Import said: `{ing['summary']}`.", "",
              "### Views (in-process `run_query`)", "",
              "| views | n | p50 ms | p95 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for name, label in (("all", "756-view mix, last 30 days"), (TZ_REPORTING, f"  of which {TZ_REPORTING}"),
                        (TZ_UNALIGNED, f"  of which {TZ_UNALIGNED} (+05:45)")):
        v = q["views"][name]
        lines.append(f"| {label} | {v['n']} | {v['p50']:.1f} | {v['p95']:.1f} | {v['max']:.1f} |")
    if y3:
        v = y3["views"]
        lines.append(f"| three years, weekly: 3 scopes × 3 metrics × 7 groupings × 2 zones | {v['n']} | {v['p50']:.1f} | "
                     f"{v['p95']:.1f} | {v['max']:.1f} |")
    lines += ["", "#### Against baselines (same records, same run)", "",
              "| views | engine | p50 ms | p95 ms | max ms |", "|---|---|---:|---:|---:|"]
    for name, sample in (("mix (spread of 36)", s), ("three years weekly (spread of 18)", y3["sample"] if y3 else None)):
        if sample:
            for engine, label in (("ours", "usage-tui"), ("duckdb", "DuckDB scan"), ("naive", "naive GROUP BY")):
                e = sample[engine]
                lines.append(f"| {name} | {label} | {e['p50']:.1f} | {e['p95']:.1f} | {e['max']:.1f} |")
    if q.get("summary"):
        lines += ["", "`spend summary --format json` in-process (medians of 9) vs the naive query: " + "; ".join(
            f"{label}: {v['ours_ms']:.1f} vs {v['naive_ms']:.1f} ms ({v['naive_ms'] / v['ours_ms']:.0f}×)"
            for label, v in q["summary"].items()) + "."]
    return "\n".join(lines)


def report(args, results: dict) -> str:
    ing, plain, q, tui = results["ingest"], results["plain"], results["queries"], results.get("tui")
    s = q["sample"]
    lines = [
        f"## {args.records:,} records{' (' + args.label + ')' if args.label else ''}",
        "",
        f"Run {results.get('finished_at') or f'{datetime.now(UTC):%Y-%m-%d %H:%M}'} UTC on {machine()}. `python bench/run.py --records {args.records}`.",
        "Every baseline ran in the same run, on the same records. Load average (1 min) before/after the run: "
        f"{results.get('load_before', [0])[0]:.2f} / {results.get('load_after', [0])[0]:.2f} "
        "(other work on the machine makes the timings noisy).",
        "",
        *targets(results),
        "### Ingest (native JSONL, time-ordered, demo directory loaded)",
        "",
        "| what | seconds | records/s | ratio to plain load |",
        "|---|---:|---:|---:|",
        f"| `usage-tui import` (validate, attribute, price, roll up) | {ing['seconds']:.1f} | {ing['rate']:,.0f} | "
        f"{ing['seconds'] / plain['seconds']:.2f}× |",
        f"| plain load: json.loads + executemany into a plain table | {plain['seconds']:.1f} | {plain['rate']:,.0f} | 1× |",
    ]
    if "keyed" in plain:
        k = plain["keyed"]
        lines.append(f"| (reference) the same into a table keyed by id, INSERT OR REPLACE | {k['seconds']:.1f} | "
                     f"{k['rate']:,.0f} | {k['seconds'] / plain['seconds']:.2f}× |")
    runs = ", ".join(f"{x:.1f}" for x in ing.get("all_seconds", [ing["seconds"]]))
    plain_runs = ", ".join(f"{x:.1f}" for x in plain.get("all_seconds", [plain["seconds"]]))
    lines += [
        "",
        (f"Medians of {len(ing['all_seconds'])} runs (import: {runs} s; plain load: {plain_runs} s). "
         if len(ing.get("all_seconds", [])) > 1 else "One run of each. ") +
        f"Store size: {ing['bytes_per_record']:.0f} bytes per record (records + rollups). "
        f"Peak RSS during import: {ing['peak_rss_mb']:.0f} MB (plain load: {plain['peak_rss_mb']:.0f} MB). "
        f"Import said: `{ing['summary']}`.",
        "",
        "### View refresh (in-process `run_query`, the function behind the TUI and `spend summary`)",
        "",
        "| views | n | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (("all", "whole mix"), (TZ_REPORTING, f"reporting zone ({TZ_REPORTING})"),
                        (TZ_UNALIGNED, f"unaligned zone ({TZ_UNALIGNED}, +05:45)")):
        v = q["views"][name]
        lines.append(f"| {label} | {v['n']} | {v['p50']:.1f} | {v['p95']:.1f} | {v['max']:.1f} |")
    lines += [
        "",
        f"The mix: 3 scopes × 3 metrics × 7 groupings × 2 granularities × (plain, focused, searched) × 2 zones, "
        f"30 days. Answered from the rollups: {q['paths']['rollup']}, from the records: {q['paths']['records']}. "
        f"Peak RSS of the query process: {q['peak_rss_mb_queries']:.0f} MB.",
        "",
        f"#### Against baselines ({s['ours']['n']} views spread over the mix, same records)",
        "",
        "| engine | p50 ms | p95 ms | max ms | p50 ratio to usage-tui |",
        "|---|---:|---:|---:|---:|",
        f"| usage-tui (rollups) | {s['ours']['p50']:.1f} | {s['ours']['p95']:.1f} | {s['ours']['max']:.1f} | 1× |",
        f"| DuckDB scanning the records | {s['duckdb']['p50']:.1f} | {s['duckdb']['p95']:.1f} | "
        f"{s['duckdb']['max']:.1f} | {s['duckdb']['p50'] / s['ours']['p50']:.1f}× |",
        f"| naive GROUP BY, plain SQLite table | {s['naive']['p50']:.1f} | {s['naive']['p95']:.1f} | "
        f"{s['naive']['max']:.1f} | {s['naive']['p50'] / s['ours']['p50']:.1f}× |",
        "",
        "The baselines answer rows and series with a fixed +01:00 offset (a raw scan's cost, not a DST-exact "
        "answer); usage-tui's answer is exact in any zone.",
        "",
    ]
    if q.get("summary"):
        lines += [
            f"### `spend summary` in-process (CliRunner, `--format json`; medians of {SUMMARY_REPEAT}; "
            "no interpreter start-up)",
            "",
            "| view | usage-tui ms | naive GROUP BY ms | ratio |",
            "|---|---:|---:|---:|",
        ]
        for label, v in q["summary"].items():
            lines.append(f"| {label} | {v['ours_ms']:.1f} | {v['naive_ms']:.1f} | {v['naive_ms'] / v['ours_ms']:.0f}× |")
        lines += ["", "usage-tui's time includes opening the store, the scope check, the query and printing JSON; "
                  "the naive one is its two SQL queries only.", ""]
    if not tui:
        lines += ["### TUI", "", "TODO: not measured in this run (`--no-tui`, or usage_tui/app.py missing). "
                  "Re-run with `--phases tui` to add it.", ""]
    if tui:
        lines += [
            "### TUI (Pilot, 120×36, same store)",
            "",
            f"Cold start to first full paint: {tui['cold_start_s'] * 1000:.0f} ms. 20 presses of m, g, w, 1, 3:",
            "",
            "| key press → repainted table and plot | p50 ms | p95 ms | max ms |",
            "|---|---:|---:|---:|",
        ]
        if "app_p50_ms" in tui:
            lines.append(f"| the app's own clock: key handler → refresh that painted the view | {tui['app_p50_ms']:.0f} | "
                         f"{tui['app_p95_ms']:.0f} | {tui['app_max_ms']:.0f} |")
        lines += [
            f"| Pilot, outside: `press` → new result on screen (includes Pilot's idle wait) | "
            f"{tui['key_p50_ms']:.0f} | {tui['key_p95_ms']:.0f} | {tui['key_max_ms']:.0f} |",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="how many records (default 1M)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=("demo", "realistic"), default="demo",
                        help="demo: the demo directory, 30 days, time order; realistic: 300 users, "
                             "90 days, shuffled (issue 15)")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md", help="report file (overwritten)")
    parser.add_argument("--no-tui", action="store_true", help="skip the TUI measurements")
    parser.add_argument("--label", default="",
                        help="a name for this run's section and figures (e.g. the code measured: schema4)")
    parser.add_argument("--phases", help="comma-separated phases to (re)run, keeping the others' last figures")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite this record count's section from the last figures, running nothing")
    parser.add_argument("--repeat", type=int, default=0,
                        help="runs of the ingest and plain-load phases (median kept; default 3, 1 above 2M records)")
    args = parser.parse_args()
    global SHAPE, LABEL
    SHAPE, LABEL = args.shape, args.label
    if args.phase:
        phases = {"generate": phase_generate, "ingest": phase_ingest, "plain": phase_plain,
                  "queries": phase_queries, "tui": phase_tui,
                  "ingest_sorted": lambda n: phase_ingest(n, "-sorted"),
                  "ingest_3y": lambda n: phase_ingest(n, "-3y"), "queries_3y": phase_queries_3y}
        print(json.dumps(phases[args.phase](args.records)))
        return
    # Each phase's figures are kept in bench/data/, so `--phases tui` can add to an earlier run.
    cache = DATA / f"results-{'' if SHAPE == 'demo' else SHAPE + '-'}{args.records}{'-' + args.label if args.label else ''}.json"
    keep = args.phases or args.report_only
    results = json.loads(cache.read_text()) if keep and cache.exists() else {}
    default = ["generate", "ingest", "plain", "queries"]
    if SHAPE == "realistic":
        default = ["generate", "plain", "ingest", "ingest_sorted", "queries", "ingest_3y", "queries_3y"]
    phases = [] if args.report_only else args.phases.split(",") if args.phases else \
        default + ([] if args.no_tui else ["tui"])
    if phases:
        results["load_before"] = os.getloadavg()
    repeat = args.repeat if args.repeat else (3 if args.records <= 2_000_000 and SHAPE == "demo" else 1)
    for phase in phases:
        print(f"[{datetime.now():%H:%M:%S}] {phase}…", file=sys.stderr, flush=True)
        if phase in ("ingest", "plain", "ingest_sorted"):  # the two timings a ratio is made of: repeated, median kept
            runs = [run_phase(phase, args) for _ in range(repeat)]
            results[phase] = {**sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2],
                              "all_seconds": [r["seconds"] for r in runs]}
        else:
            results[phase] = run_phase(phase, args)
        print(f"    {json.dumps(results[phase])}", file=sys.stderr, flush=True)
        cache.write_text(json.dumps(results))
    if phases:
        results["load_after"] = os.getloadavg()
        results["finished_at"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
        cache.write_text(json.dumps(results))
    missing = [phase for phase in ("ingest", "plain", "queries") if phase not in results]
    if missing:  # a partial run: its figures are kept for a later `--phases` run to complete
        print(f"{args.output} not written: no figures yet for {', '.join(missing)} at {args.records:,} records "
              f"(run `--phases {','.join(missing)}`); this run's figures are in {cache}", file=sys.stderr)
        return
    key = f"{'' if SHAPE == 'demo' else SHAPE + '-'}{args.records}{'-' + args.label if args.label else ''}"
    text = report(args, results) if SHAPE == "demo" else report_realistic(args, results)
    write_section(args.output, key, text)
    print(f"wrote {args.output}", file=sys.stderr)


def write_section(output: Path, key: str, text: str) -> None:
    """RESULTS.md keeps one section per shape, record count and label; a re-run overwrites its own."""
    sections: dict[str, str] = {}
    if output.exists():
        for chunk in output.read_text().split("<!-- records=")[1:]:
            name, _, body = chunk.partition(" -->\n")
            sections[name] = body.strip()
    sections[key] = text.strip()

    def order(name: str) -> tuple:  # the demo shape's sections first, then by record count
        digits = "".join(c for c in name if c.isdigit())
        return (name.startswith("realistic"), int(digits or 0), name)

    head = "# Benchmark results\n\nWritten by `bench/run.py`; see bench/README.md.\n"
    output.write_text(head + "".join(f"\n<!-- records={n} -->\n{sections[n]}\n" for n in sorted(sections, key=order)))


if __name__ == "__main__":
    main()
