"""The TUI in a real terminal (tmux), timed from outside: cold start to a painted table, and key
press to the repainted view (issue 28: "keep what is already good, and measure it again").

    python bench/tui_tmux.py --db bench/data/store-realistic-1000000-….db --as u000 --rounds 3

Each round starts `usage-tui` in a new tmux session (120×36) and polls `tmux capture-pane` until
the table's total line is on screen (cold start), then presses keys that change the plot's
title (scope 1/2/3, metric m, day/week w) and polls until the expected title is on screen. A
poll is one `tmux capture-pane` process (~2-4 ms), so figures are within a few ms. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# (key, what the plot's title then starts with); from the first view: personal, cost, daily
KEYS = [("3", "Cost per day — org"), ("m", "Requests per day — org"), ("w", "Requests per week — org"),
        ("m", "Tokens per week — org"), ("2", "Tokens per week — team"), ("m", "Cost per week — team"),
        ("w", "Cost per day — team"), ("1", "Cost per day — personal")]
TIMEOUT_S = 30


def pane(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for(session: str, text: str, start: float) -> float:
    while True:
        screen = pane(session)
        if text in screen and "Total " in screen:
            return time.perf_counter() - start
        if time.perf_counter() - start > TIMEOUT_S:
            sys.exit(f"not on screen after {TIMEOUT_S} s: {text!r}\n{screen}")
        time.sleep(0.002)


def one_round(db: str, viewer: str, session: str, cycles: int) -> tuple[float, list[float]]:
    env = {**os.environ, "USAGE_TUI_NOW": "2026-11-24T12:00:00Z"}
    command = f"{sys.executable} -m usage_tui --db {db} --as {viewer}"
    start = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "36", command], env=env, check=True)
    try:
        cold = wait_for(session, "Cost per day — personal", start)
        time.sleep(0.5)  # let the first view's background work finish
        presses = []
        for _ in range(cycles):
            for key, title in KEYS:
                t = time.perf_counter()
                subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
                presses.append(wait_for(session, title, t) * 1000)
                time.sleep(0.05)
        return cold, presses
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--as", dest="viewer", default="u000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=3, help="passes over the key sequence per round")
    args = parser.parse_args()
    colds, presses = [], []
    for i in range(args.rounds):
        cold, keys = one_round(args.db, args.viewer, f"bench-tui-{os.getpid()}-{i}", args.cycles)
        colds.append(cold)
        presses += keys
    presses.sort()
    print(json.dumps({"cold_start_s": colds, "cold_start_median_s": statistics.median(colds),
                      "keys": len(presses), "key_p50_ms": statistics.median(presses),
                      "key_p95_ms": presses[int(0.95 * (len(presses) - 1))], "key_min_ms": presses[0],
                      "key_max_ms": presses[-1], "load": os.getloadavg()}))


if __name__ == "__main__":
    main()
