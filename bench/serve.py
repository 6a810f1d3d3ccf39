"""The budget decision on the gateway's hot path (issue 28): `usage-tui serve --workers 2` under
wrk at a fixed rate, p50/p99 at 300, 1,000 and 3,000 checks/s, SQLite and PostgreSQL, this
checkout beside a baseline (main's code by default) in the same run.

    python bench/serve.py                                   # SQLite, 100,000 records
    python bench/serve.py --db postgresql://root@127.0.0.1:5432/test   # and PostgreSQL
    python bench/serve.py --baseline HEAD~3                 # another baseline (a git revision)

The store is the realistic organization of bench/run.py (300 users, 40 of them with a budget,
20 users with 1 cent a month, 90 days, shuffled), built once per engine and answered from by
both versions. Each version gets a fresh `serve --workers 2`; first every user is asked once
(both versions must give the same 300 decisions), then wrk (a second process, 2 threads) asks
`/v1/budget/check?user=U` for the users in turn at each rate for `--seconds`, after a warm-up.

A fixed rate with wrk (4.x has no rate option): each connection waits a random time, of mean
connections / rate, before each request (Poisson arrivals), and a 3 s calibration first corrects
that wait for the time the answers themselves take. Latency is measured from a request's send to
its answer; the rate reached is reported beside the rate asked, and a server that cannot keep up
shows as a lower rate (saturated). Every answer must be a 200 or a 429 (anything else is counted
and reported). The ceiling (closed loop, 32 connections) is measured last.

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
WORKERS = 2
RATES = (300, 1000, 3000)
LOW_BUDGET_USD = 0.01

# wrk's script: the users in turn (each thread its own offset), an exponential wait of mean
# MEAN_MS before each request when MEAN_MS > 0 (a fixed rate; 0: as fast as answers come),
# statuses counted per thread and summed at the end (wrk runs one Lua state per thread).
WRK_SCRIPT = r"""
local users = {%(users)s}
local mean_ms = %(mean_ms)f
local threads = {}
function setup(thread)
  thread:set("offset", #threads * 37)
  table.insert(threads, thread)
end
function init(args)
  counts = {}
  i = offset
  math.randomseed(1000 + offset)
end
function delay()
  if mean_ms <= 0 then return 0 end
  return -math.log(1 - math.random()) * mean_ms
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
  io.write(string.format('WRK {"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p99_ms": %%f, "max_ms": %%f, "errors": %%d, "status": {%%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
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


def start_serve(db: str, workers: int, src: Path | None = None,
                extra: tuple[str, ...] = ()) -> tuple[str, subprocess.Popen]:
    """`serve` of this checkout, or of the usage_tui package under `src` (the baseline's code,
    first on the path: the venv's packages stay the same), with `extra` options."""
    env = {**os.environ, "USAGE_TUI_NOW": NOW}
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env['PYTHONPATH']}" if env.get("PYTHONPATH") else str(src)
    proc = subprocess.Popen([*PYTHON, "-m", "usage_tui", "serve", "--db", db, "--port", "0",
                             "--workers", str(workers), *extra], env=env, stderr=subprocess.PIPE, text=True,
                            cwd=src or HERE.parent)
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


def decisions(base: str, users: list[str]) -> dict[str, list]:
    """Each user's answer, asked one by one: [status, over, retry_after_s, window_end]."""
    out = {}
    with httpx.Client() as client:
        for user in users:
            r = client.get(f"{base}/v1/budget/check", params={"user": user})
            body = r.json()
            out[user] = [r.status_code, body.get("over"), body.get("retry_after_s"), body.get("window_end")]
    return out


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


def wrk(base: str, users: list[str], seconds: int, connections: int, mean_ms: float = 0.0,
        proc: subprocess.Popen | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % {"users": ", ".join(f'"{u}"' for u in users), "path": "/v1/budget/check?user=",
                              "mean_ms": mean_ms})
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


def calibrated(base: str, users: list[str], rate: int) -> tuple[int, float]:
    """(connections, mean wait in ms) for `rate` checks/s: enough connections that each waits
    ~20 ms between requests, the wait shortened by the answers' own time (a 3 s calibration)."""
    connections = max(8, rate // 50)
    mean_ms = connections / rate * 1000
    calibration = wrk(base, users, 3, connections, mean_ms)
    busy_ms = max(0.0, connections / max(calibration["rate"], 1) * 1000 - mean_ms)  # per request, besides the wait
    return connections, max(0.05, mean_ms - busy_ms)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def measure(db: str, users: list[str], args, src: Path) -> dict:
    """Both versions' servers run side by side (an idle one costs nothing); each figure is
    taken in `args.rounds` rounds, the versions taking turns within a round, so that the load
    other sessions put on the machine falls on both alike. A figure is the rounds' median."""
    servers = {}
    try:
        for name, tree in (("baseline", src), ("this", None)):
            servers[name] = start_serve(db, WORKERS, tree)
        out = {name: {"answers": decisions(base, users), "rates": {}} for name, (base, _) in servers.items()}
        for base, _ in servers.values():
            wrk(base, users, 2, 32)  # warm-up (connections, caches)
        for rate in args.rates:
            waits = {name: calibrated(base, users, rate) for name, (base, _) in servers.items()}
            rounds = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, (base, proc) in servers.items():
                    connections, mean_ms = waits[name]
                    rounds[name].append(wrk(base, users, args.seconds, connections, mean_ms, proc))
            for name, runs in rounds.items():
                r = {key: median([x[key] for x in runs]) for key in ("rate", "p50_ms", "p99_ms", "cpu_ms")}
                r["p99_worst_ms"] = max(x["p99_ms"] for x in runs)
                r["max_ms"] = max(x["max_ms"] for x in runs)
                r["status"] = {s: sum(x["status"].get(s, 0) for x in runs) for s in {s for x in runs for s in x["status"]}}
                r["errors"] = sum(x["errors"] for x in runs)
                out[name]["rates"][str(rate)] = r
                print(f"    {name:>8} {rate:>5}/s asked: {r['rate']:,.0f}/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms "
                      f"(rounds: {', '.join(format(x['p99_ms'], '.1f') for x in runs)}), statuses {r['status']}",
                      file=sys.stderr, flush=True)
        for name, (base, proc) in servers.items():
            out[name]["ceiling"] = wrk(base, users, args.seconds, 32, 0.0, proc)
            print(f"    {name:>8} ceiling: {out[name]['ceiling']['rate']:,.0f}/s", file=sys.stderr, flush=True)
    finally:
        for _, proc in servers.values():
            stop(proc)
    return out


def other(r: dict) -> int:
    return sum(k for s, k in r["status"].items() if s not in ("200", "429")) + r["errors"]


def report(engine: str, args, results: dict, imported: str) -> str:
    this, base = results["this"], results["baseline"]
    lines = [
        f"## The budget decision at a fixed rate, {engine} ({args.records:,} records, issue 28)", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {bench_run.machine()}. `python bench/serve.py"
        f"{' --db ' + args.db_label if args.db_label else ''} --records {args.records}`, `serve --workers {WORKERS}`. "
        f"The machine's 2 cores are shared by other sessions (load average before/after: "
        f"{args.load_before[0]:.1f} / {os.getloadavg()[0]:.1f}) and wrk runs on the same cores.",
        f"Store: {imported}. Baseline: {args.baseline_label}, the same store, the same run: both servers run "
        f"side by side and take turns, {args.rounds} rounds of {args.seconds} s per figure, the rounds' median shown."
        + (" CPU ms counts the serve processes only, not PostgreSQL's backends." if engine != "SQLite" else ""), "",
        "wrk: 2 threads, each connection waiting a random time (mean connections / rate) before each request, "
        "after a calibration; the 300 users in turn (40 with a budget, 20 of them at 1 cent a month, refused). "
        "Latency from send to answer. CPU ms: user + system time of the serve processes per answer.", "",
        "| checks/s asked | version | reached | p50 ms | p99 ms | worst round's p99 ms | max ms | CPU ms / check | answers (200 / 429 / other) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for rate in args.rates:
        for name, r in (("baseline", base["rates"][str(rate)]), ("this", this["rates"][str(rate)])):
            lines.append(f"| {rate:,} | {name} | {r['rate']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                         f"{r['p99_worst_ms']:.2f} | {r['max_ms']:.1f} | {r['cpu_ms']:.2f} | {r['status'].get('200', 0):,} / "
                         f"{r['status'].get('429', 0):,} / {other(r):,} |")
    same = this["answers"] == base["answers"]
    refused = sum(1 for a in this["answers"].values() if a[0] == 429)
    lines += ["", f"Ceiling (closed loop, 32 connections, {args.seconds} s): baseline "
                  f"{base['ceiling']['rate']:,.0f} checks/s (p99 {base['ceiling']['p99_ms']:.1f} ms), this "
                  f"{this['ceiling']['rate']:,.0f} checks/s (p99 {this['ceiling']['p99_ms']:.1f} ms).",
              f"Each user asked once before the load: {len(this['answers']) - refused} allowed, {refused} over budget; "
              f"{'the same 300 answers (status, over, Retry-After, window end) from both versions' if same else 'DIFFERENT answers from the two versions: a bug'}."]
    return "\n".join(lines)


@contextmanager
def baseline_tree(rev: str) -> Iterator[Path]:
    """The usage_tui package as it is at git revision `rev`, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="serve-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev, "usage_tui"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", default=[],
                        help="a PostgreSQL DSN to measure beside SQLite (repeatable); SQLite is always measured")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5, help="seconds per round of a figure")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (its median is reported)")
    parser.add_argument("--rates", default=",".join(map(str, RATES)), help="checks per second, comma-separated")
    parser.add_argument("--baseline", default="main", help="the git revision whose code is the baseline")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    args.rates = [int(r) for r in args.rates.split(",")]
    sha = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", args.baseline],
                         capture_output=True, text=True, check=True).stdout.strip()
    args.baseline_label = f"`{args.baseline}` ({sha})"
    users = [u["id"] for u in bench_run.realistic_directory()["users"]]
    args.load_before = os.getloadavg()
    bench_run.SHAPE = "realistic"
    targets = [] if args.no_sqlite else [
        ("SQLite", str(bench_run.paths(args.records)["store"].with_name(f"serve-{args.records}.db")), "")]
    targets += [("PostgreSQL", dsn, re.sub(r"//[^@/]*@", "//…@", dsn)) for dsn in args.db]
    with baseline_tree(args.baseline) as src:
        for engine, db, label in targets:
            print(f"[{datetime.now():%H:%M:%S}] {engine}: building the store…", file=sys.stderr, flush=True)
            with own_schema(db) as db:
                imported = build_store(db, args.records)
                print(f"    {imported}", file=sys.stderr, flush=True)
                results = measure(db, users, args, src)
            args.db_label = label
            key = f"serve-rate-{'sqlite' if engine == 'SQLite' else 'pg'}-{args.records}"
            bench_run.write_section(args.output, key, report(engine, args, results, imported))
            print(f"wrote {args.output} ({engine})", file=sys.stderr)


if __name__ == "__main__":
    main()
