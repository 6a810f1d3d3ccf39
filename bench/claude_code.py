"""A Claude Code folder: our first import against one `ccusage daily --json` report (issue 28).

    npm install ccusage@20.0.24            # 20.0.26 (latest) ships no linux-x64 binary
    python bench/claude_code.py --ccusage node_modules/.bin/ccusage --requests 18080

On a folder of bench/claude_code_folder.py (cached in bench/data/), each a fresh process, round
robin so that all meet the same load, --runs times:

- `ccusage daily --json --offline` (CLAUDE_CONFIG_DIR=the folder, TZ=UTC): a report; ccusage
  reads the whole folder for every report;
- `usage-tui import FOLDER` (auto-detected) and `--format claude-code`, each into a new store:
  this checkout (the compiled fast path);
- the same import by --baseline's code (a git ref, `git archive`d; by default main: the path
  before the fast path; any ref: --baseline), into a new store;
- `usage-tui import` again into a store that has it all (a re-import);
- `usage-tui --help`: the interpreter and our imports alone.

Wall time and the process's own CPU time (user + system, from wait4) and peak RSS; the load
average beside each. Then the totals: ccusage's totalCost against `spend summary` of our stores
(to the cent), and this checkout's against the baseline's (exactly). Writes its section of
bench/RESULTS.md (<!-- records=issue28-claude-code -->).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import claude_code_folder  # noqa: E402
import run as bench_run  # noqa: E402

ENTRY = "import sys; from usage_tui.cli import cli; sys.argv[0] = 'usage-tui'; cli()"


def timed(command: list[str], env: dict[str, str]) -> dict:
    """Run `command`; its wall time, CPU time (user + system) and peak RSS, from wait4."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if child.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{text[-2000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024, "load": load,
            "out": text}


def ours(root: Path | None, *args: str) -> list[str]:
    """usage-tui from this checkout, or from `root` (another checkout's usage_tui, first on the path)."""
    if root is None:
        return [sys.executable, "-c", ENTRY, *args]
    paths = [str(root), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {paths!r}; {ENTRY}", *args]


def totals(root: Path | None, store: Path, env: dict) -> dict:
    result = subprocess.run(ours(root, "spend", "summary", "--db", str(store), "--since", "2026-01-01",
                                 "--until", "2026-12-31", "--tz", "UTC", "--format", "json"),
                            env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)["totals"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=18_080)
    parser.add_argument("--folder", type=Path, help="a Claude Code config folder (holding projects/) instead")
    parser.add_argument("--ccusage", default=shutil.which("ccusage"), help="the ccusage executable")
    parser.add_argument("--baseline", default="main", help="git ref of the previous path")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    folder = args.folder or bench_run.DATA / f"claude-code-{args.requests}"
    if not (folder / "projects").exists():
        claude_code_folder.Folder(folder, args.requests, seed=28).build()
    projects = folder / "projects"
    files = list(projects.rglob("*.jsonl"))
    size = sum(f.stat().st_size for f in files)
    lines = sum(f.read_bytes().count(b"\n") for f in files)

    work = Path(tempfile.mkdtemp(prefix="bench-claude-code-"))
    old = work / "baseline"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", args.baseline, "usage_tui"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(folder), "TZ": "UTC", "HOME": str(work)}
    env.pop("USAGE_TUI_DB", None)

    runs: dict[str, list[dict]] = {}
    stores: dict[str, Path] = {}
    ccusage_out = None
    for n in range(args.runs):
        steps: list[tuple[str, list[str]]] = []
        if args.ccusage:
            steps.append(("`ccusage daily --json --offline`", [args.ccusage, "daily", "--json", "--offline"]))
        for label, root, extra in (("`usage-tui import` (this branch, auto-detected)", None, []),
                                   ("`usage-tui import --format claude-code` (this branch)", None,
                                    ["--format", "claude-code"]),
                                   (f"`usage-tui import` ({args.baseline}: the baseline)", old, [])):
            store = work / f"store-{len(stores)}.db"
            stores[label] = store
            steps.append((label, ours(root, "import", str(projects), "--db", str(store), *extra)))
        steps.append(("`usage-tui import` again, same store (this branch)",
                      ours(None, "import", str(projects), "--db",
                           str(stores["`usage-tui import` (this branch, auto-detected)"]))))
        steps.append(("`usage-tui --help` (start-up alone)", ours(None, "--help")))
        for label, command in steps:
            result = timed(command, env)
            runs.setdefault(label, []).append(result)
            if label.startswith("`ccusage"):
                ccusage_out = json.loads(result["out"])
        if n < args.runs - 1:  # fresh stores for the next round
            for store in stores.values():
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{store}{suffix}").unlink(missing_ok=True)

    this = totals(None, stores["`usage-tui import` (this branch, auto-detected)"], env)
    forced = totals(None, stores["`usage-tui import --format claude-code` (this branch)"], env)
    before = totals(old, stores[f"`usage-tui import` ({args.baseline}: the baseline)"], env)
    load = os.getloadavg()
    ccusage_label = "`ccusage daily --json --offline`"
    base = statistics.median(r["wall"] for r in runs[ccusage_label]) if ccusage_label in runs else None
    base_cpu = statistics.median(r["cpu"] for r in runs[ccusage_label]) if ccusage_label in runs else None
    out = ["## Claude Code folder: first import against ccusage (issue 28, `bench/claude_code.py`)", "",
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {bench_run.machine()}; load average at the end "
           f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, beside each figure the load at its start (the machine is "
           "shared with other helpers' tests and benchmarks: wall times are inflated by it, CPU seconds much less). "
           f"Folder of bench/claude_code_folder.py: {size / 1e6:,.0f} MB, {lines:,} lines, {len(files):,} files, "
           f"{this['requests']:,} requests. Medians of {args.runs} rounds, each command a fresh process, round robin.",
           "", "| command | wall s | × ccusage (wall) | CPU s | × ccusage (CPU) | peak RSS MB | load |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for label, results in runs.items():
        wall = statistics.median(r["wall"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        ratio = f"{wall / base:.1f}×" if base else "—"
        ratio_cpu = f"{cpu / base_cpu:.1f}×" if base_cpu else "—"
        out.append(f"| {label} | {wall:.2f} | {ratio} | {cpu:.2f} | {ratio_cpu} | "
                   f"{max(r['rss_mb'] for r in results):,.0f} | {statistics.mean(r['load'] for r in results):.1f} |")
    out += ["", "Totals:", ""]
    if ccusage_out is not None:
        cc = ccusage_out["totals"]
        out.append(f"- ccusage: ${cc['totalCost']:,.2f}, {cc['totalTokens']:,} tokens")
    for label, t in (("this branch, auto", this), ("this branch, --format claude-code", forced),
                     (args.baseline, before)):
        out.append(f"- usage-tui ({label}): ${t['cost_usd']:,.2f}, {t['tokens']:,} tokens, {t['requests']:,} "
                   f"requests (cost {t['cost_usd']!r} USD)")
    if ccusage_out is not None:
        same_cent = round(this["cost_usd"], 2) == round(ccusage_out["totals"]["totalCost"], 2)
        out.append(f"- to the cent with ccusage: {'yes' if same_cent else 'NO'}; tokens equal: "
                   f"{'yes' if this['tokens'] == ccusage_out['totals']['totalTokens'] else 'NO'}")
    out.append(f"- this branch and {args.baseline}: {'identical' if this == before else 'DIFFERENT'} totals")
    text = "\n".join(out) + "\n"
    print(text)
    bench_run.write_section(args.output, "issue28-claude-code", text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
