"""Parse throughput of the compiled fast path against the validator it stands in for (issue 28).

    python bench/parse.py --records 1000000 --requests 18080

In one process, on the same files, alternating (so both meet the same load): for each input,
the slow path (the importer's `parse` over a text stream: json.loads and the validator) and the
fast path (`parse_bytes`: msgspec over the bytes), each timed alone, best and median of
--rounds; then a pass in lockstep checks that both gave the same records and rejects. Inputs:
bench/run.py's realistic native JSONL (shuffled, with `metadata`; cached in bench/data/) and a
Claude Code folder of bench/claude_code_folder.py. Then pricing: the same native records priced
by this checkout's Pricer and by --baseline's (a git ref, in a subprocess), per 1M records.

Writes its section of bench/RESULTS.md (<!-- records=parse-... -->) with the machine's load.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import claude_code_folder  # noqa: E402
import run as bench_run  # noqa: E402

from usage_tui.ingest import _head, claude_code, claude_code_fast, native, native_fast  # noqa: E402
from usage_tui.model import Reject  # noqa: E402

MODULES = {"native": (native, native_fast), "claude-code": (claude_code, claude_code_fast)}


def items(path: Path, fmt: str, fast: bool):
    slow_module, fast_module = MODULES[fmt]
    with open(path, "rb", buffering=65_536) as raw:
        head = _head(raw)
        if fast:
            yield from fast_module.parse_bytes(raw, str(path), head=head, user="me")
            return
        stream = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
        try:
            yield from slow_module.parse(stream, str(path), head=head, user="me")
        finally:
            stream.detach()


def timed(files: list[Path], fmt: str, fast: bool) -> tuple[float, float, int, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    records = rejects = 0
    for path in files:
        for item in items(path, fmt, fast):
            if isinstance(item, Reject):
                rejects += 1
            else:
                records += 1
    return time.perf_counter() - wall, time.process_time() - cpu, records, rejects


def same(files: list[Path], fmt: str) -> bool:
    for path in files:
        slow, fast = items(path, fmt, False), items(path, fmt, True)
        for a, b in zip(slow, fast, strict=True):
            if a != b or getattr(a, "raw", None) != getattr(b, "raw", None):
                return False
    return True


def measure(name: str, files: list[Path], fmt: str, rounds: int) -> dict:
    size = sum(p.stat().st_size for p in files)
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    runs: dict[bool, list] = {False: [], True: []}
    for _ in range(rounds):
        for fast in (False, True):
            runs[fast].append((*timed(files, fmt, fast), os.getloadavg()[0]))
    out = {"name": name, "mb": size / 1e6, "lines": lines, "files": len(files), "same": same(files, fmt)}
    for fast, label in ((False, "slow"), (True, "fast")):
        walls = [r[0] for r in runs[fast]]
        out[label] = {"best": min(walls), "median": statistics.median(walls),
                      "cpu": statistics.median(r[1] for r in runs[fast]), "records": runs[fast][0][2],
                      "rejects": runs[fast][0][3], "load": statistics.mean(r[4] for r in runs[fast])}
    return out


PRICING = """
import json, sys, time
from usage_tui.ingest import native
from usage_tui.pricing import Pricer
records = [native.to_record(json.loads(line)) for line in open(sys.argv[1])][:int(sys.argv[2])]
pricer = Pricer()
t = time.process_time()
total = sum(pricer.cost_nano(r) or 0 for r in records)
print(time.process_time() - t, total, len(records))
"""


def pricing(jsonl: Path, baseline: str, n: int) -> dict:
    """This checkout's Pricer and the baseline's over the same records (CPU seconds, total)."""
    out = {}
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", baseline, "usage_tui"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        for label, root in (("baseline", old), ("this", str(HERE.parent))):
            env = {**os.environ, "PYTHONPATH": root}
            done = subprocess.run([sys.executable, "-c", PRICING, str(jsonl), str(n)], env=env, cwd=root,
                                  capture_output=True, text=True, check=True).stdout.split()
            out[label] = {"cpu": float(done[0]), "total_nano": int(done[1]), "records": int(done[2])}
    return out


def _difference(before: int, after: int) -> str:
    return "equal" if before == after else f"this branch's differs by {after - before:,}"


def report(results: list[dict], prices: dict, args) -> str:
    load = os.getloadavg()
    lines = ["## Parse throughput: the compiled fast path against the validator (issue 28, `bench/parse.py`)", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {bench_run.machine()}; load average at the end "
             f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (the machine is shared with other helpers' work: "
             "wall times are inflated; CPU seconds are the steadier figure). Each path alone, alternating, "
             f"{args.rounds} rounds; same output checked in lockstep.", "",
             "| input | MB | lines | path | records | rejects | best s | median s | CPU s | MB/s (best) | "
             "speed-up (median) | same output |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        for label in ("slow", "fast"):
            m = r[label]
            speed = f"{r['slow']['median'] / m['median']:.1f}×" if label == "fast" else "1.0× (baseline)"
            lines.append(f"| {r['name']} | {r['mb']:,.0f} | {r['lines']:,} | {label} | {m['records']:,} | "
                         f"{m['rejects']:,} | {m['best']:.2f} | {m['median']:.2f} | {m['cpu']:.2f} | "
                         f"{r['mb'] / m['best']:,.0f} | {speed} | {'yes' if r['same'] else 'NO'} |")
    if prices:
        b, t = prices["baseline"], prices["this"]
        per = 1_000_000 / t["records"]
        lines += ["", f"Pricing the first {t['records']:,} records of the native file (CPU s, per 1M records): "
                  f"`{args.baseline}` {b['cpu'] * per:.1f} s, this branch {t['cpu'] * per:.1f} s "
                  f"({b['cpu'] / t['cpu']:.1f}×); totals {b['total_nano']:,} and {t['total_nano']:,} nano-dollars "
                  f"({_difference(b['total_nano'], t['total_nano'])})."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="native records (bench/run.py's realistic shape)")
    parser.add_argument("--requests", type=int, default=18_080, help="Claude Code requests of the generated folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="main", help="git ref whose Pricer is the pricing baseline")
    parser.add_argument("--pricing-records", type=int, default=200_000)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    bench_run.SHAPE = "realistic"
    jsonl = bench_run.paths(args.records)["jsonl"]
    if not jsonl.exists():
        bench_run.write_realistic(args.records)
    folder = bench_run.DATA / f"claude-code-{args.requests}"
    if not folder.exists():
        claude_code_folder.Folder(folder, args.requests, seed=28).build()
    cc_files = sorted(folder.rglob("*.jsonl"))
    results = [measure(f"native JSONL, realistic, shuffled ({args.records:,} records)", [jsonl], "native", args.rounds),
               measure(f"Claude Code folder ({args.requests:,} requests, {len(cc_files):,} files)", cc_files,
                       "claude-code", args.rounds)]
    prices = pricing(jsonl, args.baseline, args.pricing_records)
    text = report(results, prices, args)
    print(text)
    bench_run.write_section(args.output, "parse-issue28", text)


if __name__ == "__main__":
    main()
