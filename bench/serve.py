"""Budget checks per second: `usage-tui serve --workers N` (N = 1, 2, 4) under wrk.

    python bench/serve.py                                   # SQLite, 100,000 records
    python bench/serve.py --db postgresql://root@127.0.0.1:5432/test   # and PostgreSQL

The store is the realistic organization of bench/run.py (300 users, 40 of them with a budget, 20 users with 1 cent a month,
90 days, shuffled), built once per engine. Each worker count gets a fresh `serve` process; wrk
(a second process, its own 2 threads and 32 connections) asks `/v1/budget/check?user=U` for the
300 users in turn for `--seconds`, after a warm-up. Every answer must be a 200 or a 429 (a 503
would be a failed check, counted apart and reported). The same-run baseline is `/healthz` at the
same worker count: the server's own ceiling (routing, HTTP, one trivial store read), so the
ratio says what the budget decision costs on top.

Results go to their own section of bench/RESULTS.md (one per engine and record count).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench_run  # noqa: E402  (bench/run.py: the realistic shape and RESULTS.md's sections)

PYTHON = [sys.executable]
NOW = bench_run.NOW  # the records end there: budgets are read at the same moment
WORKER_COUNTS = (1, 2, 4)
LOW_BUDGET_USD = 0.01

# wrk's script: the users in turn (each thread its own offset), statuses counted per thread and
# summed at the end (wrk runs one Lua state per thread).
WRK_SCRIPT = r"""
local users = {%(users)s}
local threads = {}
local n = 0
function setup(thread)
  thread:set("offset", #threads * 37)
  table.insert(threads, thread)
end
function init(args)
  counts = {}
  i = offset
end
function request()
  i = i + 1
  return wrk.format("GET", "%(path)s" .. users[(i %% #users) + 1])
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for s, k in pairs(c) do total[s] = (total[s] or 0) + k end
  end
  local parts = {}
  for s, k in pairs(total) do table.insert(parts, string.format('"%%d": %%d', s, k)) end
  io.write(string.format('WRK {"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p99_ms": %%f, "errors": %%d, "status": {%%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ", ")))
end
"""


def is_pg(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def records_file(n: int) -> Path:
    """The realistic shape's shuffled JSONL (bench/run.py's generator; cached in bench/data/)."""
    bench_run.SHAPE = "realistic"
    path = bench_run.paths(n)["jsonl"]
    if not path.exists():
        import random

        rows = list(bench_run.realistic_records(n, bench_run.REALISTIC["days"]))
        random.Random(3).shuffle(rows)  # the order bench/run.py writes
        with path.open("w") as f:
            f.writelines(line + "\n" for _, line in rows)
    return path


@contextmanager
def own_schema(db: str) -> Iterator[str]:
    """A PostgreSQL DSN names the server: the store goes in a new schema of its own, dropped
    after (an SQLite path is used as it is)."""
    if not is_pg(db):
        yield db
        return
    import psycopg

    schema = f"usage_tui_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{db}{'&' if '?' in db else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(db, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def build_store(db: str, n: int) -> str:
    """A store of the realistic shape with `n` records: the directory, then `usage-tui import`."""
    from usage_tui import store as store_module

    if not is_pg(db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    opened = store_module.open_store(db)
    doc = bench_run.realistic_directory()
    opened.load_directory(doc)
    # The shape's budgets ($20-$400) are rarely reached: a 1-cent monthly budget for 20 of the users
    # makes refusals (429) part of the mix, as a real gateway sees them.
    for user in [u["id"] for u in doc["users"]][::15]:
        opened.set_budget_override(user, LOW_BUDGET_USD, "monthly", "bench", NOW)
    opened.close()
    env = {**os.environ, "USAGE_TUI_NOW": NOW}
    done = subprocess.run([*PYTHON, "-m", "usage_tui", "import", str(records_file(n)), "--db", db],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def start_serve(db: str, workers: int) -> tuple[str, subprocess.Popen]:
    env = {**os.environ, "USAGE_TUI_NOW": NOW}
    proc = subprocess.Popen([*PYTHON, "-m", "usage_tui", "serve", "--db", db, "--port", "0",
                             "--workers", str(workers)], env=env, stderr=subprocess.PIPE, text=True)
    found = re.search(r"http://127\.0\.0\.1:(\d+)/", proc.stderr.readline())
    if not found:
        proc.kill()
        raise SystemExit(f"serve did not start: {proc.stderr.read()[-500:]}")
    base = f"http://127.0.0.1:{found[1]}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            # every worker up: a few answers in a row (the kernel spreads connections over them)
            if all(httpx.get(f"{base}/healthz", timeout=2).status_code == 200 for _ in range(4 * workers)):
                return base, proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("serve did not answer within 60 s")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def expected_decisions(base: str, users: list[str]) -> dict[int, int]:
    """How many of the users are allowed (200) and refused (429), asked one by one."""
    counts: dict[int, int] = {}
    for user in users:
        status = httpx.get(f"{base}/v1/budget/check", params={"user": user}).status_code
        counts[status] = counts.get(status, 0) + 1
    return counts


def cpu_seconds(proc: subprocess.Popen) -> float:
    """CPU time (user + system) of a serve process and its workers so far: what a check costs,
    whoever else shares the cores."""
    import psutil

    parent = psutil.Process(proc.pid)
    total = 0.0
    for p in (parent, *parent.children(recursive=True)):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def wrk(base: str, path: str, users: list[str], seconds: int, connections: int,
        proc: subprocess.Popen | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % {"users": ", ".join(f'"{u}"' for u in users), "path": path})
        script = f.name
    cpu_before = cpu_seconds(proc) if proc else 0.0
    try:
        done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
                               "-s", script, base], capture_output=True, text=True, check=True)
    finally:
        os.unlink(script)
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK "))
    result = json.loads(line[4:])
    result["rate"] = result["requests"] / result["seconds"]
    if proc:
        result["cpu_ms"] = (cpu_seconds(proc) - cpu_before) * 1000 / max(result["requests"], 1)
    return result


def measure(db: str, users: list[str], seconds: int, connections: int) -> dict:
    out = {}
    for workers in WORKER_COUNTS:
        base, proc = start_serve(db, workers)
        try:
            decisions = expected_decisions(base, users)
            wrk(base, "/v1/budget/check?user=", users, 2, connections)  # warm-up (connections, caches)
            checks = wrk(base, "/v1/budget/check?user=", users, seconds, connections, proc)
            health = wrk(base, "/healthz?u=", users, seconds, connections, proc)
        finally:
            stop(proc)
        out[str(workers)] = {"checks": checks, "healthz": health, "decisions": decisions}
        print(f"  {workers} worker(s): {checks['rate']:,.0f} checks/s, {health['rate']:,.0f} healthz/s, "
              f"statuses {checks['status']}", file=sys.stderr, flush=True)
    return out


def report(engine: str, args, results: dict, imported: str) -> str:
    one = results["1"]["checks"]["rate"]
    lines = [
        f"## Budget checks per second, {engine} ({args.records:,} records, realistic shape)", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {bench_run.machine()}. `python bench/serve.py"
        f"{' --db ' + args.db_label if args.db_label else ''} --records {args.records}`. The machine's 2 cores are shared by "
        f"several sessions (load average before/after: {args.load_before[0]:.1f} / {os.getloadavg()[0]:.1f}) and wrk "
        f"runs on the same cores, so more workers than cores cannot add much; ratios are within this run.",
        f"Store: {imported}." + (" CPU ms counts the serve processes only, not the PostgreSQL server's backends." if engine != "SQLite" else ""), "",
        f"wrk: 2 threads, {args.connections} connections, {args.seconds} s per figure, after a 2 s warm-up; "
        "the 300 users in turn (40 have a budget, 20 of them lowered to 1 cent a month so that some are refused). Baseline: `/healthz` on the same server. CPU ms: user + system "
        "time of the serve process and its workers per answer (what an answer costs, however busy the cores are).", "",
        "| workers | checks/s | × 1 worker | p50 ms | p99 ms | CPU ms / check | healthz/s | CPU ms / healthz | answers (200 / 429 / other) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for workers in WORKER_COUNTS:
        r = results[str(workers)]
        c, h = r["checks"], r["healthz"]
        other = sum(k for s, k in c["status"].items() if s not in ("200", "429")) + c["errors"]
        lines.append(f"| {workers} | {c['rate']:,.0f} | {c['rate'] / one:.2f}× | {c['p50_ms']:.1f} | {c['p99_ms']:.1f} | "
                     f"{c['cpu_ms']:.2f} | {h['rate']:,.0f} | {h['cpu_ms']:.2f} | {c['status'].get('200', 0):,} / "
                     f"{c['status'].get('429', 0):,} / {other:,} |")
    same = all(results[str(w)]["decisions"] == results["1"]["decisions"] for w in WORKER_COUNTS)
    d = results["1"]["decisions"]
    lines += ["", f"Each user asked once before the load: {d.get(200, 0)} allowed, "
                  f"{d.get(429, 0)} over budget, with every worker count "
                  f"({'the same decisions' if same else 'DIFFERENT decisions: a bug'})."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", default=[],
                        help="a PostgreSQL DSN to measure beside SQLite (repeatable); SQLite is always measured")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    users = [u["id"] for u in bench_run.realistic_directory()["users"]]
    args.load_before = os.getloadavg()
    bench_run.SHAPE = "realistic"
    targets = [("SQLite", str(bench_run.paths(args.records)["store"].with_name(f"serve-{args.records}.db")), "")]
    targets += [("PostgreSQL", dsn, re.sub(r"//[^@/]*@", "//…@", dsn)) for dsn in args.db]
    for engine, db, label in targets:
        print(f"[{datetime.now():%H:%M:%S}] {engine}: building the store…", file=sys.stderr, flush=True)
        with own_schema(db) as db:
            imported = build_store(db, args.records)
            print(f"    {imported}", file=sys.stderr, flush=True)
            results = measure(db, users, args.seconds, args.connections)
        args.db_label = label
        key = f"serve-{'sqlite' if engine == 'SQLite' else 'pg'}-{args.records}"
        bench_run.write_section(args.output, key, report(engine, args, results, imported))
        print(f"wrote {args.output} ({engine})", file=sys.stderr)


if __name__ == "__main__":
    main()
