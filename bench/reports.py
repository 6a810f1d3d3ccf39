"""Issue 25: what reading the providers' admin reports costs. Writes its section of RESULTS.md.

    python bench/reports.py --days 60

Anthropic's usage report as `usage-tui sync anthropic` and a saved export see it: pages of
1-hour buckets (168 a page, the documented maximum), each with a result per API key, workspace
and model that had usage (40 keys over 4 workspaces and 3 models, about 40 groups an hour), the
shape of tests/data/reports/anthropic_usage_report_pages.json (Anthropic's "Get Messages Usage
Report"); and the cost report of the same days, daily, grouped by workspace and description
(every workspace × model × token type). Measured, each in a fresh store with a directory that
maps the workspaces and keys:

- usage pages as JSON lines (the baseline), the same gzipped (ingest/gzip_files.py), and
- the cost report imported after the usage report: each of its token rows' dollars shared among
  the usage records of its day, workspace and model (ingest/report_costs.py), against importing
  the same cost rows into a store without usage (nothing to share: the plain import of as many
  records)."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from usage_tui.ingest import import_path  # noqa: E402
from usage_tui.store import Store  # noqa: E402

MODELS = ("claude-sonnet-4-20250514", "claude-3-5-haiku-20241022", "claude-opus-4-20250514")
TOKEN_TYPES = ("uncached_input_tokens", "output_tokens", "cache_read_input_tokens",
               "cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens")
WORKSPACES = [f"wrkspc_bench{w:02d}" for w in range(4)]
KEYS = [(f"apikey_bench{k:03d}", WORKSPACES[k % 4]) for k in range(40)]


def directory() -> dict:
    return {"org": {"id": "bench", "timezone": "UTC"},
            "teams": [{"id": f"team{w}", "provider_ids": [ws]} for w, ws in enumerate(WORKSPACES)],
            "users": [{"id": f"user{k}", "teams": [f"team{k % 4}"]} for k in range(40)] +
                     [{"id": "admin", "login": "admin", "role": "org_admin"}],
            "keys": [{"id": key, "owner": f"user{k}"} for k, (key, _) in enumerate(KEYS)]}


def write_reports(folder: Path, days: int, seed: int = 25) -> tuple[Path, Path, Path, int]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    hours, pages, groups = days * 24, [], 0
    for first in range(0, hours, 168):
        buckets = []
        for h in range(first, min(first + 168, hours)):
            t = start + timedelta(hours=h)
            results = []
            for key, ws in KEYS:
                if rng.random() < 0.25:  # most keys are idle in a given hour
                    continue
                model = MODELS[rng.randrange(3)]
                results.append({"api_key_id": key, "workspace_id": ws, "model": model, "service_tier": "standard",
                                "context_window": "0-200k", "uncached_input_tokens": rng.randrange(1, 50_000),
                                "cache_creation": {"ephemeral_5m_input_tokens": rng.randrange(0, 5000),
                                                   "ephemeral_1h_input_tokens": rng.randrange(0, 2000)},
                                "cache_read_input_tokens": rng.randrange(0, 100_000),
                                "output_tokens": rng.randrange(1, 8000),
                                "server_tool_use": {"web_search_requests": rng.randrange(0, 3)}})
            groups += len(results)
            buckets.append({"starting_at": f"{t:%Y-%m-%dT%H:%M:%SZ}",
                            "ending_at": f"{t + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}", "results": results})
        pages.append({"data": buckets, "has_more": first + 168 < hours, "next_page": f"page_{first + 168}"})
    usage = folder / "usage.jsonl"
    usage.write_text("".join(json.dumps(p) + "\n" for p in pages))
    packed = folder / "usage.jsonl.gz"
    packed.write_bytes(gzip.compress(usage.read_bytes()))
    cost_buckets = []
    for d in range(days):
        t = start + timedelta(days=d)
        cost_buckets.append({"starting_at": f"{t:%Y-%m-%dT%H:%M:%SZ}",
                             "ending_at": f"{t + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
                             "results": [{"amount": f"{rng.randrange(1, 500_000) / 100:.2f}", "currency": "USD",
                                          "workspace_id": ws, "model": m, "cost_type": "tokens", "token_type": tt,
                                          "description": f"{m} {tt}", "service_tier": "standard",
                                          "context_window": "0-200k"}
                                         for ws in WORKSPACES for m in MODELS for tt in TOKEN_TYPES]})
    costs = folder / "costs.json"
    costs.write_text(json.dumps({"data": cost_buckets, "has_more": False, "next_page": None}))
    return usage, packed, costs, groups


def timed_import(path: Path, folder: Path, name: str, before: Path | None = None) -> tuple[float, int]:
    store = Store(folder / f"{name}.db")
    store.load_directory(directory())
    if before is not None:
        import_path(store, str(before))
    began = time.perf_counter()
    summary = import_path(store, str(path))
    seconds = time.perf_counter() - began
    (shared,) = store.execute("SELECT count(*) FROM records WHERE id >= 'anthropic-usage:' AND id < 'anthropic-usage;' "
                              "AND cost_logged_nano IS NOT NULL").fetchone()
    store.close()
    timed_import.shared = shared
    return seconds, summary.imported + summary.replaced + summary.unchanged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        usage, packed, costs, groups = write_reports(folder, args.days)
        sizes = (usage.stat().st_size / 1e6, packed.stat().st_size / 1e6)
        plain_s, plain_n = timed_import(usage, folder, "plain")
        gz_s, gz_n = timed_import(packed, folder, "gz")
        alone_s, alone_n = timed_import(costs, folder, "alone")
        shared_s, shared_n = timed_import(costs, folder, "shared", before=usage)
        rewritten = timed_import.shared
    load_after = os.getloadavg()[0]
    section = f"""<!-- records=reports-{args.days}d -->
## Providers' admin reports (issue 25): {args.days} days of hourly Anthropic usage and daily costs

Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on 2 cores, 24 GiB, `python bench/reports.py --days {args.days}`. The
machine's 2 cores are shared with other sessions' tests and benchmarks (load average before/after:
{load_before:.1f} / {load_after:.1f}): compare the figures within this run only.
{groups:,} usage rows in pages of 168 hourly buckets ({sizes[0]:.1f} MB; gzipped {sizes[1]:.1f} MB), and a cost report of
{args.days * 60:,} rows (4 workspaces × 3 models × 5 token types a day).

| what | records | seconds | records/s | baseline (same run) |
|---|---:|---:|---:|---|
| usage pages, JSON lines | {plain_n:,} | {plain_s:.2f} | {plain_n / plain_s:,.0f} | (the baseline) |
| the same, gzipped | {gz_n:,} | {gz_s:.2f} | {gz_n / gz_s:,.0f} | {gz_s / plain_s:.2f}× the JSON lines' time |
| cost report after the usage (shared) | {shared_n:,} | {shared_s:.2f} | {shared_n / shared_s:,.0f} | {shared_s / alone_s:.2f}× the same rows into a store without usage ({alone_s:.2f} s) |

Sharing the cost report rewrote {rewritten:,} usage records with their share of its dollars (every
usage record of a day, workspace and model it bills): {shared_s / plain_s:.2f}× the time of importing
them in the first place ({plain_s:.2f} s): each is read back, priced for its weight, written
again and rolled up again, as much work as importing it.
"""
    results = Path(__file__).with_name("RESULTS.md")
    text = results.read_text()
    marker = f"<!-- records=reports-{args.days}d -->"
    if marker in text:
        text = re.sub(re.escape(marker) + r".*?(?=\n<!-- records=|\Z)", section.rstrip("\n"), text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results.write_text(text)
    print(section)


if __name__ == "__main__":
    main()
