"""Live usage (issue 24, part 4): pushes to `usage-tui serve` (POST /v1/usage).

    python bench/live.py                                               # SQLite
    python bench/live.py --db postgresql://root@127.0.0.1:5432/test    # and PostgreSQL

The store is bench/run.py's realistic organization (300 users, 60 keys, 15 models, 90 days of
shuffled history; bench/serve.py builds it). The pushed bodies are what LiteLLM's generic API
logger sends: JSON arrays of 512 StandardLoggingPayload objects (litellm/types/utils.py; the
generic_api callback's default json_array and its batch size), each shaped like LiteLLM's own
test fixture (tests/data/litellm_push/README.md) with a short prompt and answer, a virtual
key's SHA-256 (the directory's keys), the key owner's user id on most, a team on some, cache
tokens on Anthropic's; users drawn with the history's heavy tail, times over the last minutes.

For each engine and `--workers` 1, 2, 4 (a fresh serve each):
- throughput: 8 client threads push pre-encoded 512-record bodies for --seconds; records/s
  acknowledged (200). Baseline in the same run: the store's own `write_batches` of the same
  records in one process (the writer's ceiling without HTTP or parsing), and parsing alone.
- freshness: a probe pushes one record to a user with a budget and asks /v1/budget/check (admin
  token: the spend) until the spend shows it, while 2,000 records/s are pushed beside it;
  p50 / p99 of the time from the 200 to the first check that reflects the push.
- budget check latency: wrk asks /v1/budget/check for the 300 users in turn, one request after
  another (1 connection), while a pacer pushes 2,000 records/s; p50 / p99. Baseline: the same
  without the pushes, on the same server (after the throughput phase's roll-up settled).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench_run  # noqa: E402
import serve as bench_serve  # noqa: E402  (the store, the schema, wrk)

WORKER_COUNTS = (1, 2, 4)
BATCH = 512  # LiteLLM's default batch size (CustomBatchLogger)
PACED_RATE = 2_000  # records/s pushed while checks are measured
INGEST, ADMIN = "bench-ingest-token", "bench-admin-token"
NOW_S = datetime.fromisoformat(bench_run.NOW.replace("Z", "+00:00")).timestamp()


def payloads(n: int, seed: int) -> list[dict]:
    """`n` StandardLoggingPayload objects over the realistic directory (see the docstring)."""
    rng = random.Random(seed)
    doc = bench_run.realistic_directory()
    users = [u["id"] for u in doc["users"]]
    weights = [rng.paretovariate(1.2) for _ in users]
    keys = doc["keys"]
    models = bench_run.REALISTIC_MODELS
    out = []
    for i in range(n):
        provider, model = rng.choice(models)[:2]
        key = rng.choice(keys)
        user = rng.choices(users, weights)[0] if rng.random() < 0.8 else None
        prompt, completion = rng.randint(50, 6_000), rng.randint(10, 1_500)
        cached = rng.randint(0, prompt // 2) if rng.random() < 0.3 else 0
        usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        if provider == "anthropic":
            usage.update(cache_read_input_tokens=cached, cache_creation_input_tokens=rng.randint(0, prompt - cached))
        else:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        start = NOW_S - rng.uniform(0, 600)
        rid = f"chatcmpl-{seed}-{i}-{rng.getrandbits(64):016x}"
        out.append({
            "id": rid, "trace_id": None, "call_type": "acompletion", "cache_hit": None, "stream": False,
            "status": "success", "custom_llm_provider": provider, "saved_cache_cost": 0.0,
            "startTime": start, "endTime": start + 2.5, "completionStartTime": start + 0.4, "response_time": 2.5,
            "model": model, "model_group": model, "model_id": "", "api_base": "",
            "metadata": {"user_api_key_hash": hashlib.sha256(key["id"].encode()).hexdigest(),
                         "user_api_key_alias": None, "user_api_key_team_id": key.get("team"),
                         "user_api_key_user_id": user, "user_api_key_org_id": None, "spend_logs_metadata": None,
                         "requester_ip_address": None, "applied_guardrails": [], "usage_object": usage},
            "cache_key": None, "response_cost": round(prompt * 2.5e-6 + completion * 1e-5, 8),
            "total_tokens": prompt + completion, "prompt_tokens": prompt, "completion_tokens": completion,
            "request_tags": [], "end_user": "", "requester_ip_address": None,
            "messages": [{"role": "user", "content": "Summarise the attached design note in three bullets."}],
            "response": {"id": rid, "object": "chat.completion", "model": model,
                         "choices": [{"finish_reason": "stop", "index": 0,
                                      "message": {"role": "assistant", "content": "- one\n- two\n- three"}}],
                         "usage": usage},
            "model_parameters": {"temperature": 0.2},
            "hidden_params": {"model_id": None, "cache_key": None, "api_base": "https://api.example",
                              "response_cost": None, "additional_headers": {}, "litellm_overhead_time_ms": 1.2,
                              "batch_models": None, "litellm_model_name": model},
            "model_map_information": {"model_map_key": model, "model_map_value": None},
            "error_str": None, "error_information": None, "response_cost_failure_debug_info": None,
            "guardrail_information": None,
        })
    return out


def bodies(n_batches: int, seed: int) -> list[bytes]:
    items = payloads(n_batches * BATCH, seed)
    return [json.dumps(items[i:i + BATCH]).encode() for i in range(0, len(items), BATCH)]


def start(db: str, workers: int, folder: Path) -> tuple[str, subprocess.Popen]:
    """bench/serve.py's serve, with push on (an ingest token) and an admin token."""
    (folder / "ingest").write_text(INGEST)
    (folder / "admin").write_text(ADMIN)
    return bench_serve.start_serve(db, workers, extra=("--ingest-token-file", str(folder / "ingest"),
                                                       "--token-file", str(folder / "admin")))


def push_for(base: str, payload: list[bytes], seconds: float, clients: int) -> dict:
    """Push the bodies round-robin from `clients` threads for `seconds`: records/s acknowledged."""
    stop = time.monotonic() + seconds
    counts = {"ok": 0, "busy": 0, "other": 0}
    lock = threading.Lock()
    nxt = [0]

    def client() -> None:
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {INGEST}"}) as http:
            while time.monotonic() < stop:
                with lock:
                    body = payload[nxt[0] % len(payload)]
                    nxt[0] += 1
                status = http.post(f"{base}/v1/usage", content=body).status_code
                with lock:
                    counts["ok" if status == 200 else "busy" if status == 503 else "other"] += 1

    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    return {**counts, "rate": counts["ok"] * BATCH / elapsed}


class Pacer:
    """Pushes `rate` records/s (bodies of BATCH) in the background until stopped."""

    def __init__(self, base: str, payload: list[bytes], rate: int) -> None:
        self.base, self.payload, self.interval = base, payload, BATCH / rate
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {INGEST}"}) as http:
            due = time.monotonic()
            while not self.stopped.is_set():
                http.post(f"{self.base}/v1/usage", content=self.payload[self.sent % len(self.payload)])
                self.sent += 1
                due += self.interval
                self.stopped.wait(max(0.0, due - time.monotonic()))

    def __enter__(self) -> Pacer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()


def freshness(base: str, probes: int, user: str) -> list[float]:
    """Seconds from a push's 200 to the first check whose spend shows it."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    out = []
    with httpx.Client(timeout=30) as http:
        for i in range(probes):
            before = http.get(f"{base}/v1/budget/check", params={"user": user}, headers=admin).json()["spent_usd"]
            record = {"id": f"probe-{time.time_ns()}-{i}", "ts": bench_run.NOW, "provider": "openai",
                      "model": "gpt-4o", "user": user, "cost_usd": 0.001}
            assert http.post(f"{base}/v1/usage", json=record, headers={"Authorization": f"Bearer {INGEST}"}).status_code == 200
            acked = time.monotonic()
            while True:
                spent = http.get(f"{base}/v1/budget/check", params={"user": user}, headers=admin).json()["spent_usd"]
                if spent >= before + 0.000999:
                    out.append(time.monotonic() - acked)
                    break
                if time.monotonic() - acked > 10:
                    out.append(float("inf"))
                    break
            time.sleep(0.05)
    return out


def check_latency(base: str, users: list[str], seconds: int) -> dict:
    """wrk with one connection asking /v1/budget/check for the users in turn, one request after
    another: the latency of a check itself (a gateway asks once per request it forwards), not
    of a queue of them (bench/serve.py measures checks/s with 32 connections)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(bench_serve.WRK_SCRIPT % {"users": ", ".join(f'"{u}"' for u in users),
                                          "path": "/v1/budget/check?user=", "mean_ms": 0})
        script = f.name
    try:
        done = subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "--timeout", "5s", "-s", script, base],
                              capture_output=True, text=True, check=True)
    finally:
        os.unlink(script)
    return json.loads(next(x for x in done.stdout.splitlines() if x.startswith("WRK "))[4:])


def settle(seconds: float = 8.0) -> None:
    """Let the roll-up of what the throughput phase pushed finish (server_writer.ROLLUP_SECONDS)."""
    time.sleep(seconds)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def baseline_write(db: str, payload: list[bytes]) -> dict:
    """The same bodies parsed (parse_body) and written (the store's write_batches, groups of 8
    bodies as the writer takes them under load) in this one process: CPU ms per 1,000 records
    of each (process time: the other sessions' load does not count), and the wall rate."""
    from usage_tui.ingest.litellm_payload import KeyIds
    from usage_tui.server_ingest import parse_body
    from usage_tui.store import Batch, open_store

    store = open_store(db)
    keys = store.directory().keys
    ids = KeyIds()
    cpu, wall = time.process_time(), time.monotonic()
    parsed = [parse_body(b, keys, ids) for b in payload]
    parse_cpu = time.process_time() - cpu
    n = sum(len(p.records) for p in parsed)
    cpu, wall = time.process_time(), time.monotonic()
    for i in range(0, len(parsed), 8):
        store.write_batches([Batch(p.records) for p in parsed[i:i + 8]])
    write_cpu, write_wall = time.process_time() - cpu, time.monotonic() - wall
    store.refresh_rollups()
    store.close()
    return {"parse_cpu_ms": parse_cpu * 1e6 / n, "write_cpu_ms": write_cpu * 1e6 / n, "write_rate": n / write_wall}


def measure(db: str, args, folder: Path) -> dict:
    out: dict = {}
    pushed = bodies(args.batches, seed=1)
    paced = bodies(40, seed=2)
    users = [u["id"] for u in bench_run.realistic_directory()["users"]]
    budget_user = bench_run.realistic_directory()["budgets"][0]["user"]
    for workers in WORKER_COUNTS:
        base, proc = start(db, workers, folder)
        try:
            push_for(base, pushed[:4], 2, args.clients)  # warm-up (connections, imports, caches)
            cpu_before = bench_serve.cpu_seconds(proc)
            through = push_for(base, pushed, args.seconds, args.clients)
            # serve's CPU (the processes, its workers and parsing helpers) per 1,000 records
            # acknowledged: what a push costs, however busy the cores are with others
            through["cpu_ms_per_1000"] = ((bench_serve.cpu_seconds(proc) - cpu_before) * 1e6
                                          / max(through["ok"] * BATCH, 1))
            settle()
            quiet = check_latency(base, users, args.seconds)
            with Pacer(base, paced, PACED_RATE) as pacer:
                began = time.monotonic()
                loaded = check_latency(base, users, args.seconds)
                paced_rate = pacer.sent * BATCH / (time.monotonic() - began)
                fresh = freshness(base, args.probes, budget_user)
        finally:
            bench_serve.stop(proc)
        out[str(workers)] = {"through": through, "fresh": fresh, "quiet": quiet, "loaded": loaded,
                             "paced_rate": paced_rate}
        print(f"  {workers} worker(s): {through['rate']:,.0f} records/s ({through['busy']} busy), freshness p99 "
              f"{pct(fresh, 99) * 1000:.1f} ms, check p99 {quiet['p99_ms']:.1f} ms quiet / {loaded['p99_ms']:.1f} ms "
              f"at {paced_rate:,.0f} records/s", file=sys.stderr, flush=True)
    out["baseline"] = baseline_write(db, pushed[-40:])
    return out


def report(engine: str, args, results: dict, imported: str) -> str:
    base = results["baseline"]
    lines = [
        f"## Live usage: pushes to serve, {engine} ({args.records:,} records of history)", "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {bench_run.machine()}. `python bench/live.py"
        f"{' --db ' + args.db_label if args.db_label else ''}`. The 2 cores are shared with other sessions "
        f"(load average before/after: {args.load_before[0]:.1f} / {os.getloadavg()[0]:.1f}), and the clients "
        "(8 push threads, wrk, the pacer) run on the same cores as serve" +
        (" and PostgreSQL" if engine != "SQLite" else "") + ". Store: " + imported + ".", "",
        f"Bodies: JSON arrays of {BATCH} LiteLLM StandardLoggingPayload objects (~{args.body_kib:.0f} KiB each). "
        f"Baselines (same run, same records, in one process, no HTTP): the store's write_batches alone "
        f"{base['write_rate']:,.0f} records/s, {base['write_cpu_ms']:,.0f} CPU ms per 1,000 records; parsing alone "
        f"{base['parse_cpu_ms']:,.0f} CPU ms per 1,000 records; together "
        f"{base['write_cpu_ms'] + base['parse_cpu_ms']:,.0f} CPU ms, i.e. "
        f"{2_000_000 / (base['write_cpu_ms'] + base['parse_cpu_ms']):,.0f} records/s on 2 idle cores at best. "
        "Serve's CPU ms counts its processes (workers, parsing helpers), not PostgreSQL's backends.", "",
        "| workers | pushed records/s (target ≥ 20,000 on SQLite) | × write_batches alone | serve CPU ms / 1,000 records "
        "(2 idle cores: records/s) | 503s | freshness p50 / p99 ms "
        "(target p99 ≤ 1,000) | check p50 / p99 ms, no pushes | check p50 / p99 ms at ~2,000 records/s "
        "(target p99 ≤ 10) | pushed meanwhile records/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers in WORKER_COUNTS:
        r = results[str(workers)]
        t, q, lo = r["through"], r["quiet"], r["loaded"]
        cpu = t["cpu_ms_per_1000"]
        lines.append(f"| {workers} | {t['rate']:,.0f} | {t['rate'] / base['write_rate']:.2f}× | "
                     f"{cpu:,.0f} ({2_000_000 / cpu:,.0f}) | {t['busy']} | "
                     f"{pct(r['fresh'], 50) * 1000:.1f} / {pct(r['fresh'], 99) * 1000:.1f} | "
                     f"{q['p50_ms']:.1f} / {q['p99_ms']:.1f} | {lo['p50_ms']:.1f} / {lo['p99_ms']:.1f} | "
                     f"{r['paced_rate']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", action="append", default=[], help="a PostgreSQL DSN to measure beside SQLite")
    parser.add_argument("--records", type=int, default=100_000, help="records of history in the store")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--batches", type=int, default=120, help="distinct 512-record bodies pushed")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    args.load_before = os.getloadavg()
    args.body_kib = len(bodies(1, seed=9)[0]) / 1024
    bench_run.SHAPE = "realistic"
    targets = [] if args.no_sqlite else [
        ("SQLite", str(bench_run.paths(args.records)["store"].with_name(f"live-{args.records}.db")), "")]
    targets += [("PostgreSQL", dsn, re.sub(r"//[^@/]*@", "//…@", dsn)) for dsn in args.db]
    for engine, db, label in targets:
        print(f"[{datetime.now():%H:%M:%S}] {engine}: building the store…", file=sys.stderr, flush=True)
        with bench_serve.own_schema(db) as db, tempfile.TemporaryDirectory() as folder:
            imported = bench_serve.build_store(db, args.records)
            results = measure(db, args, Path(folder))
        args.db_label = label
        key = f"live-{'sqlite' if engine == 'SQLite' else 'pg'}-{args.records}"
        bench_run.write_section(args.output, key, report(engine, args, results, imported))
        print(f"wrote {args.output} ({engine})", file=sys.stderr)


if __name__ == "__main__":
    main()
