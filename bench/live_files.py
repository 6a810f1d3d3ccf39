"""Issue 24, parts 2 and 3: how fresh `import --follow` keeps the store, and how fast `sync litellm`
reads LiteLLM's database. Each figure beside a baseline measured in the same run:

    python bench/live_files.py --pg postgresql://root@127.0.0.1:5432/test [--rows 100000] [--appends 400]

follow lag   A follower (`usage-tui import --follow DIR`, its own process) on a Claude Code
             projects folder (40 session files, lines in the shape Claude Code writes them:
             tests/data/make_claude_code_samples.py) over a store already holding 100,000
             records of the realistic organization (bench/run.py: 300 users, 60 keys, 15
             models, shuffled). A writer appends one assistant line at a time to a random
             session (10-200 ms apart); a reader polls the store file every 5 ms for the new
             ids. Lag: from the append's flush to the record being readable in the store.
             Baseline: the same follower looking every second (USAGE_TUI_FOLLOW_POLL=1: no
             file events, as on NFS).
sync rate    A "LiteLLM_SpendLogs" table made from LiteLLM's migrations
             (tests/data/litellm_spendlogs_ddl.sql) holding ROWS rows of the realistic
             organization as LiteLLM writes them (hashed keys, user, team_id, model and
             model_group, custom_llm_provider, spend, prompt tokens with the cache reads inside,
             metadata.usage_object, status and error_information for failures, a year of
             startTimes), inserted in shuffled order. `usage-tui sync litellm --from DSN` into a
             fresh SQLite store: rows/s. Baselines: the same rows read alone (psycopg, the sync's
             columns, in its order: what reading costs), and `usage-tui import` of the same
             rows exported as JSON lines (how they came in before: an export, then an import).
             Then a rerun with nothing new (its cost is the overlap window).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench_run  # noqa: E402  (the realistic shape, machine(), RESULTS.md's sections)

DDL = (HERE.parent / "tests" / "data" / "litellm_spendlogs_ddl.sql").read_text()
SESSIONS = 40


def children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (what a command cost,
    however long it waited for a core)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def write_section(output: Path, key: str, text: str) -> None:
    """This run's section of RESULTS.md, replaced in place (or added at the end); the other
    sections are left as they are."""
    marker = f"<!-- records={key} -->\n"
    whole = output.read_text() if output.exists() else "# Benchmark results\n"
    if marker in whole:
        before, _, rest = whole.partition(marker)
        after = rest[rest.index("<!-- records="):] if "<!-- records=" in rest else ""
        whole = before + marker + text.strip() + "\n\n" + after
    else:
        whole = whole.rstrip("\n") + "\n\n" + marker + text.strip() + "\n"
    output.write_text(whole)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def with_directory(db: Path) -> None:
    """A new store holding the realistic organization's directory (as bench/serve.py makes one)."""
    from usage_tui.store import Store

    store = Store(db)
    store.load_directory(bench_run.realistic_directory())
    store.close()


# -- follow lag ---------------------------------------------------------------------------------------
def claude_line(session: str, n: int, rng: random.Random) -> tuple[str, str]:
    """(record id, line) of one assistant message, as Claude Code writes it."""
    msg, req = f"msg_{uuid.UUID(int=rng.getrandbits(128)).hex[:24]}", f"req_{rng.getrandbits(64):016x}"
    ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    usage = {"input_tokens": rng.randint(3, 40), "cache_creation_input_tokens": rng.choice([0, 0, 1200, 6000]),
             "cache_read_input_tokens": rng.randint(0, 90_000), "output_tokens": rng.randint(20, 2000),
             "service_tier": "standard"}
    line = {"parentUuid": f"{session}-{n - 1}", "isSidechain": False, "userType": "external", "cwd": "/home/dev/shop",
            "sessionId": session, "version": "2.0.50", "gitBranch": "main", "uuid": f"{session}-{n}",
            "timestamp": ts, "type": "assistant", "requestId": req,
            "message": {"id": msg, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                        "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn",
                        "stop_sequence": None, "usage": usage}}
    return f"{msg}:{req}", json.dumps(line, separators=(",", ":")) + "\n"


def follow_lag(work: Path, history: Path, appends: int, poll: bool) -> dict:
    db = work / f"follow-{'poll' if poll else 'events'}.db"
    projects = work / f"projects-{'poll' if poll else 'events'}" / "-home-dev-shop"
    projects.mkdir(parents=True)
    env = {**os.environ, "USAGE_TUI_DB": str(db), "USAGE_TUI_NOW": bench_run.NOW}
    with_directory(db)
    subprocess.run([sys.executable, "-m", "usage_tui", "import", str(history)], env=env, check=True, capture_output=True)
    rng = random.Random(24)
    sessions = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(SESSIONS)]
    for s in sessions:  # each session opens with a user turn, as Claude Code writes it
        (projects / f"{s}.jsonl").write_text(json.dumps({
            "parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/home/dev/shop",
            "sessionId": s, "version": "2.0.50", "gitBranch": "main", "uuid": f"{s}-0", "type": "user",
            "timestamp": datetime.now(UTC).isoformat(), "message": {"role": "user", "content": "go"}}) + "\n")
    if poll:
        env["USAGE_TUI_FOLLOW_POLL"] = "1"
    follower = subprocess.Popen([sys.executable, "-m", "usage_tui", "import", "--follow", str(projects.parent)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    appended: dict[str, float] = {}
    seen: dict[str, float] = {}
    done = threading.Event()

    def reader() -> None:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        (last,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM records").fetchone()
        while not done.is_set() or len(seen) < len(appended):
            for rowid, rid in conn.execute("SELECT rowid, id FROM records WHERE rowid > ?", (last,)):
                last = max(last, rowid)
                seen.setdefault(rid, time.time())
            time.sleep(0.005)
            if done.is_set() and time.time() > done_at[0] + 30:
                break
        conn.close()

    done_at = [0.0]
    time.sleep(3)  # the follower has started and read the sessions' first lines
    watcher = threading.Thread(target=reader)
    watcher.start()
    counters = {s: 1 for s in sessions}
    for _ in range(appends):
        s = rng.choice(sessions)
        rid, text = claude_line(s, counters[s], rng)
        counters[s] += 1
        with (projects / f"{s}.jsonl").open("a") as f:
            f.write(text)
            f.flush()
        appended[rid] = time.time()
        time.sleep(rng.uniform(0.01, 0.2))
    done_at[0] = time.time()
    done.set()
    watcher.join()
    follower.send_signal(signal.SIGINT)
    out, err = follower.communicate(timeout=60)
    lags = [seen[r] - appended[r] for r in appended if r in seen]
    return {"appends": appends, "seen": len(lags), "p50": percentile(lags, 0.5), "p99": percentile(lags, 0.99),
            "max": max(lags), "summary": out.strip(), "exit": follower.returncode}


# -- sync rate ------------------------------------------------------------------------------------------
def spend_rows(n: int) -> list[tuple]:
    """LiteLLM_SpendLogs rows of the realistic organization, over a year, shuffled."""
    doc = bench_run.realistic_directory()
    key_hash = {k["id"]: hashlib.sha256(k["id"].encode()).hexdigest() for k in doc["keys"]}
    member_team = {u["id"]: u["teams"][0] for u in doc["users"]}
    rows = []
    for _, text in bench_run.realistic_records(n, 365, seed=24):
        r = json.loads(text)
        start = datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).replace(tzinfo=None)
        cached = r["cached_input_tokens"]
        prompt = r["prompt_tokens"] + cached
        usage = {"prompt_tokens": prompt, "completion_tokens": r["completion_tokens"],
                 "total_tokens": prompt + r["completion_tokens"]}
        if r["provider"] == "anthropic":
            usage["cache_read_input_tokens"] = cached
        elif cached:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        failed = r["status"] != 200
        metadata = {"usage_object": usage, "user_api_key_hash": key_hash.get(r.get("key"), ""),
                    "status": "failure" if failed else "success"}
        if failed:
            metadata["error_information"] = {"error_code": str(r["status"]), "error_class": "RateLimitError"}
        user = r.get("user") or ""
        model = r["model"]
        rows.append((r["id"], "acompletion", key_hash.get(r.get("key"), ""), 0.0 if failed else r.get("cost_usd", 0.0),
                     prompt + r["completion_tokens"], prompt, r["completion_tokens"], start,
                     start + timedelta(seconds=2), model, model, r["provider"], user, json.dumps(metadata),
                     r.get("team") or member_team.get(user), "failure" if failed else "success"))
    random.Random(5).shuffle(rows)
    return rows


SPEND_COLUMNS = ("request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens", "completion_tokens",
                 "startTime", "endTime", "model", "model_group", "custom_llm_provider", "user", "metadata",
                 "team_id", "status")


def sync_rate(base: str, work: Path, n: int) -> dict:
    import psycopg
    from psycopg import sql

    schema = f"usage_tui_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    dsn = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    try:
        with psycopg.connect(base, autocommit=True, options=f"-csearch_path={schema}") as conn:
            conn.execute(DDL)
            rows = spend_rows(n)
            with conn.cursor() as cur, cur.copy('COPY "LiteLLM_SpendLogs" ({}) FROM STDIN'.format(
                    ", ".join(f'"{c}"' for c in SPEND_COLUMNS))) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.execute('ANALYZE "LiteLLM_SpendLogs"')
        def fresh(name: str) -> dict:
            with_directory(work / name)
            return {**os.environ, "USAGE_TUI_DB": str(work / name), "USAGE_TUI_NOW": bench_run.NOW}

        env = fresh("sync.db")
        start, cpu = time.perf_counter(), children_cpu()
        done = subprocess.run([sys.executable, "-m", "usage_tui", "sync", "litellm", "--from", dsn], env=env,
                              capture_output=True, text=True)
        sync_s, sync_cpu = time.perf_counter() - start, children_cpu() - cpu
        # the rerun's own work, in this process (a process start on this loaded machine takes
        # seconds of waiting for a core, which would hide it)
        from usage_tui.ingest.litellm_sync import SpendLogSync
        from usage_tui.store import Store
        from usage_tui.store.litellm_spendlogs import SpendLogs, parse_source

        store, logs = Store(work / "sync.db"), SpendLogs(parse_source(dsn))
        start = time.perf_counter()
        again = SpendLogSync(store, logs, overlap=timedelta(minutes=10)).run_once().line()
        rerun_s = time.perf_counter() - start
        store.close()
        logs.close()

        # baseline 1: the rows read alone, as the sync reads them (its columns, its order)
        start = time.perf_counter()
        logs = SpendLogs(parse_source(dsn))
        read, position = 0, None
        while True:
            page = logs.page_after(position[0] if position else None, position[1] if position else None, 5_000)
            read += len(page)
            if len(page) < 5_000:
                break
            position = (page[-1]["startTime"], page[-1]["request_id"])
        logs.close()
        read_s = time.perf_counter() - start

        # baseline 2: an export of the same rows as JSON lines, then `usage-tui import`
        export = work / "spendlogs.jsonl"
        with psycopg.connect(base, options=f"-csearch_path={schema}") as conn, export.open("w") as f:
            for (row,) in conn.execute('SELECT row_to_json(s)::text FROM (SELECT request_id, call_type, api_key, spend, '
                                       'prompt_tokens, completion_tokens, "startTime", model, model_group, '
                                       'custom_llm_provider, "user", metadata, team_id, status '
                                       'FROM "LiteLLM_SpendLogs") s'):
                f.write(row + "\n")
        env2 = fresh("import.db")
        start, cpu = time.perf_counter(), children_cpu()
        imported = subprocess.run([sys.executable, "-m", "usage_tui", "import", str(export)], env=env2,
                                  capture_output=True, text=True)
        import_s, import_cpu = time.perf_counter() - start, children_cpu() - cpu
        counts = [sqlite3.connect(work / name).execute("SELECT count(*), sum(prompt_tokens), sum(cost_nano) "
                                                       "FROM records").fetchone() for name in ("sync.db", "import.db")]
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return {"rows": n, "sync_s": sync_s, "sync_cpu": sync_cpu, "summary": done.stdout.strip(),
            "sync_err": done.stderr.strip()[-300:], "rerun_s": rerun_s, "rerun": again, "import_cpu": import_cpu, "read_s": read_s, "read": read,
            "import_s": import_s, "import": imported.stdout.strip(), "same": counts[0] == counts[1], "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=os.environ.get("USAGE_TUI_TEST_PG"), help="PostgreSQL for the sync table")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=400)
    parser.add_argument("--history", type=int, default=100_000, help="records in the follower's store first")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    if not args.pg:
        raise SystemExit("--pg postgresql://… (or USAGE_TUI_TEST_PG) is needed for the sync table")
    began, load_before = datetime.now(UTC), load()
    with tempfile.TemporaryDirectory(prefix="usage-tui-live-") as tmp:
        work = Path(tmp)
        history = work / "history.jsonl"
        lines = [text for _, text in bench_run.realistic_records(args.history, 365 * 2, seed=31)]
        random.Random(6).shuffle(lines)
        history.write_text("\n".join(lines) + "\n")
        events = follow_lag(work, history, args.appends, poll=False)
        polled = follow_lag(work, history, args.appends, poll=True)
        synced = sync_rate(args.pg, work, args.rows)
    load_after = load()
    print(json.dumps({"events": events, "poll": polled, "sync": synced}, indent=1, default=str))
    s = synced
    text = f"""## Live files and LiteLLM's database (issue 24: import --follow, sync litellm)

Run {began:%Y-%m-%d %H:%M} UTC on {bench_run.machine()}. `python bench/live_files.py --rows {args.rows} --appends {args.appends}`.
The machine's 2 cores are shared with other sessions' tests and benchmarks (load average, 1 min, before/after: {load_before} / {load_after}): absolute figures are noisy, each baseline ran in the same run.

**Follow lag** (append → readable in the store), a Claude Code projects folder of {SESSIONS} sessions over a store of {args.history:,} realistic records, {args.appends} lines appended 10-200 ms apart:

| follower | p50 | p99 | max | lines seen | follower's summary |
|---|---:|---:|---:|---:|---|
| file events (watchfiles) | {events['p50'] * 1000:.0f} ms | {events['p99'] * 1000:.0f} ms | {events['max'] * 1000:.0f} ms | {events['seen']}/{events['appends']} | {events['summary']} |
| baseline: a look every second (USAGE_TUI_FOLLOW_POLL=1) | {polled['p50'] * 1000:.0f} ms | {polled['p99'] * 1000:.0f} ms | {polled['max'] * 1000:.0f} ms | {polled['seen']}/{polled['appends']} | {polled['summary']} |

**Sync rate**: {s['rows']:,} LiteLLM_SpendLogs rows of the realistic organization (300 users, 60 hashed keys, 15 models, a year, inserted shuffled) on PostgreSQL 15 (same machine), into a fresh SQLite store:

| what | seconds | rows/s | CPU s (the command's process) | result |
|---|---:|---:|---:|---|
| `sync litellm --from DSN` (first run) | {s['sync_s']:.1f} | {s['rows'] / s['sync_s']:,.0f} | {s['sync_cpu']:.1f} | {s['summary']} |
| the sync again, nothing new (the 10-minute overlap re-read; in-process, without a process start) | {s['rerun_s']:.2f} | – | – | {s['rerun']} |
| baseline: the same rows read alone (the sync's columns and pages) | {s['read_s']:.1f} | {s['read'] / s['read_s']:,.0f} | – | {s['read']:,} rows |
| baseline: JSON lines export of the table, then `usage-tui import` (import alone) | {s['import_s']:.1f} | {s['rows'] / s['import_s']:,.0f} | {s['import_cpu']:.1f} | {s['import']} |

Both stores hold the same records, tokens and cost: {'yes' if s['same'] else 'NO: ' + str(s['counts'])}.
The sync ran at {s['import_s'] / s['sync_s']:.2f}× the rate of the import of the same rows (both map, price, attribute and roll up them; reading them alone took {s['read_s'] / s['sync_s']:.0%} of the sync's time, and the sync reads the next page while it writes one). CPU seconds count the command's own process only (not PostgreSQL's backend): they do not depend on how long it waited for a core.
"""
    write_section(args.output, "live-files", text)


if __name__ == "__main__":
    main()
