"""The request history's pages (`query.run_history`, behind `h` in the TUI and `spend records`)
on an existing store, first and next page, by time and by cost, for a spread of views.

    usage-tui sample --events 1000000 --db /tmp/1m.db     # USAGE_TUI_NOW pinned, as below
    USAGE_TUI_NOW=2026-11-24T12:00:00Z python bench/history.py /tmp/1m.db

Prints a markdown table (medians of --repeat runs, milliseconds).
"""

from __future__ import annotations

import argparse
import statistics
import time

from usage_tui.model import QuerySpec
from usage_tui.query import run_history, run_query
from usage_tui.store import Store

PAGE = 100  # the TUI's page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--viewer", default="alice", help="an org admin of the store's directory (bench/run.py's "
                        "realistic shape: u000)")
    parser.add_argument("--team", default="platform", help="a team of it (realistic: t00)")
    args = parser.parse_args()
    store = Store(args.db, create=False)
    viewer = args.viewer
    org = run_query(store, QuerySpec(viewer=viewer, scope="org"))
    biggest, smallest = org.rows[0], org.rows[-1]
    by_user = run_query(store, QuerySpec(viewer=viewer, scope="org", group_by="user")).rows[0]
    views = [
        ("org, whole view", QuerySpec(viewer=viewer, scope="org"), org.totals.requests),
        (f"org, largest model row ({biggest.key})", QuerySpec(viewer=viewer, scope="org", focus=biggest.key),
         biggest.totals.requests),
        (f"org, smallest model row ({smallest.key})", QuerySpec(viewer=viewer, scope="org", focus=smallest.key),
         smallest.totals.requests),
        (f"org, largest user row ({by_user.key})",
         QuerySpec(viewer=viewer, scope="org", group_by="user", focus=by_user.key), by_user.totals.requests),
        (f"personal ({viewer})", QuerySpec(viewer=viewer), None),
        (f"team {args.team}", QuerySpec(viewer=viewer, scope="team", team=args.team), None),
    ]
    print(f"{store.record_count():,} records in the store; page = {PAGE} records; medians of {args.repeat} runs\n")
    print("| view | requests | time: page 1 | time: page 2 | cost: page 1 | cost: page 2 |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, spec, requests in views:
        cells = []
        for order in ("time", "cost"):
            first, second = [], []
            for _ in range(args.repeat):
                start = time.perf_counter()
                page = run_history(store, spec, order=order, limit=PAGE)
                first.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                run_history(store, spec, order=order, after=page.after, limit=PAGE)
                second.append((time.perf_counter() - start) * 1000)
            cells += [f"{statistics.median(first):.0f}", f"{statistics.median(second):.0f}"]
        print(f"| {label} | {'' if requests is None else f'{requests:,}'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
