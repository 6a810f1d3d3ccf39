"""Issue 26's new reads, each beside its baseline measured in the same run, on the realistic shape
(bench/run.py: 300 users in 15 teams, 60 keys, 25 agents, 15 models, 90 days, records imported in
shuffled order):

  by-period   `spend summary --by-period` (period × row cells from the rollups) against the same
              view without it, and against the cells read from the records alone
  explain     `budget explain` of the heaviest users against `budget status` of the same users
  mcp         an MCP spend_summary call in-process (the SDK's client and server) against the
              function it wraps

    python bench/agents.py --records 200000      # writes its section of bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")

import run as bench  # noqa: E402  (bench/run.py: the realistic shape and RESULTS.md sections)

from usage_tui.model import QuerySpec  # noqa: E402


def build(n: int) -> Path:
    bench.SHAPE = "realistic"
    p = bench.paths(n)
    if not p["jsonl"].exists():
        bench.write_realistic(n)
    store_path = bench.DATA / f"agents-{n}.db"
    if not store_path.exists():
        from usage_tui.store import Store
        Store(store_path).load_directory(bench.realistic_directory())
        subprocess.run([sys.executable, "-m", "usage_tui", "import", str(p["jsonl"]), "--db", str(store_path)],
                       check=True, capture_output=True)
    return store_path


def timed(fn, repeat: int) -> dict:
    fn()  # warm: the page cache and the directory
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(runs), "max_ms": max(runs)}


def append_section(output: Path, key: str, text: str) -> None:
    """This run's section of RESULTS.md, in run.py's format (a `<!-- records=KEY -->` line, so its
    rewrites keep it), replacing an earlier run's and leaving the others as they are."""
    marker = f"<!-- records={key} -->\n"
    old = output.read_text() if output.exists() else ""
    if marker in old:
        head, _, rest = old.partition(marker)
        after = rest.find("<!-- records=")
        old = head + (rest[after:] if after >= 0 else "")
    output.write_text(old.rstrip("\n") + "\n\n" + marker + text.strip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    from usage_tui.budget import budget_status, users_with_budgets
    from usage_tui.budget_explain import explain
    from usage_tui.mcp_server import Tools, build_server
    from usage_tui.query import run_query
    from usage_tui.query_periods import run_by_period
    from usage_tui.store import Store

    store = Store.for_reading(build(args.records))
    admin = "u000"  # an org admin of the realistic directory
    rows: list[tuple[str, str, dict, dict]] = []
    for label, view in (
        ("org, team × week, 90 days", dict(scope="org", group_by="team", granularity="weekly", metric="tokens",
                                           since=datetime(2026, 8, 27).date())),
        ("org, model × day, 30 days", dict(scope="org", group_by="model", granularity="daily")),
        ("org, user × day, 30 days (300 rows)", dict(scope="org", group_by="user", granularity="daily")),
        ("personal (an org admin's own), model × day", dict(scope="personal", group_by="model", granularity="daily")),
    ):
        spec = QuerySpec(viewer=admin, **view)
        cells = timed(lambda spec=spec: run_by_period(store, spec), args.repeat)
        rows.append((f"spend summary --by-period: {label}", "the same view without --by-period", cells,
                     timed(lambda spec=spec: run_query(store, spec), args.repeat)))
        rows.append((f"spend summary --by-period: {label}", "its cells from the records alone (one GROUP BY "
                     "bucket, key over the time index)", cells,
                     timed(lambda spec=spec: run_by_period(store, spec, force_records=True), args.repeat)))
    users = users_with_budgets(store)[:10]
    rows.append((f"budget explain, {len(users)} users with budgets", "budget status of the same users",
                 timed(lambda: [explain(store, u) for u in users], args.repeat),
                 timed(lambda: [budget_status(store, u) for u in users], args.repeat)))

    tools = Tools(store, admin, identity_of=lambda s, a: type("I", (), {"viewer": admin})())

    async def over_mcp() -> None:
        from mcp import Client
        async with Client(build_server(tools)) as client:
            for _ in range(args.repeat):
                await client.call_tool("spend_summary", {"scope": "org", "group_by": "model"})

    def direct() -> None:
        for _ in range(args.repeat):
            tools.spend_summary(scope="org", team=None, metric="cost", group_by="model", granularity="daily",
                                since=None, until=None, search=None, focus=None, by_period=False, tz=None)

    mcp_run = timed(lambda: asyncio.run(over_mcp()), 3)
    direct_run = timed(direct, 3)
    per = args.repeat
    rows.append(("MCP spend_summary (in-process client, per call)", "Tools.spend_summary, the function it wraps",
                 {k: v / per for k, v in mcp_run.items()}, {k: v / per for k, v in direct_run.items()}))

    load = os.getloadavg()
    lines = [f"## Issue 26: per-period output, budget explain, MCP ({args.records:,} records, realistic shape)", "",
             f"{bench.machine()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {load[0]:.1f} / {load[1]:.1f} "
             "while measuring (other helpers' tests and benches share the 2 cores: figures are noisy, compare each "
             "with its baseline from the same run). Median (max) of "
             f"{args.repeat} runs after a warm-up, in ms. `python bench/agents.py --records {args.records}`.", "",
             "| measured | ms | baseline | ms | ratio |", "|---|---:|---|---:|---:|"]
    for name, base_name, value, base in rows:
        ratio = value["median_ms"] / base["median_ms"] if base["median_ms"] else float("nan")
        lines.append(f"| {name} | {value['median_ms']:.1f} ({value['max_ms']:.1f}) | {base_name} | "
                     f"{base['median_ms']:.1f} ({base['max_ms']:.1f}) | {ratio:.2f}× |")
    text = "\n".join(lines)
    append_section(args.output, f"issue26-agents-{args.records}", text)
    print(text)
    print(json.dumps({"rows": len(rows)}))


if __name__ == "__main__":
    main()
