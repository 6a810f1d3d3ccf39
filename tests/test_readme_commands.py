"""The shell blocks of README.md and of every docs/**/*.md run, in order, as a new user would
run them: bash, a fresh HOME (so a fresh store), the installed `usage-tui` on PATH (issue 27).

How a block runs:
- Each ```sh block of a file runs in one bash script, in the file's order (`set -e -o
  pipefail`), so a later block sees what an earlier one did: the tour's store, a server it
  started. Each file starts from a fresh HOME.
- A block whose lines start with `$ ` is a transcript: its `$ ` lines are the commands, the
  other lines show output. The first line each command prints must read like the one shown,
  digits aside (dates and amounts depend on the day the demo is built): an error instead of a
  report, or `HTTP/1.1 200 OK` where the text shows a 429, fails.
- `usage-tui serve …` runs in the background (stopped at the end); the script goes on once it
  answers /healthz. The README's port 8787 is replaced by a free one everywhere in the file.
- A command fails the test when it exits with anything but 0, except what the README documents
  as an answer: `import` exit 1 (some lines rejected, the rest imported) and `budget check`
  exit 75 (over budget).
- `<!-- readme-test: skip: REASON -->` on the line before a block skips it: sparingly, always
  with the reason.
- What the README supposes the reader has of their own is made from sample_data/ first
  (GIVEN below); the commands run in a scratch folder holding a copy of sample_data/.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
USAGE_TUI = Path(sys.executable).parent / "usage-tui"  # the venv's, as installed
README_PORT = "8787"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<reason>.*?)\s*-->")
TOOLS = ("bash", "curl", "jq", "zcat", "base64")
# Files the README's commands name as the reader's own: made from sample_data/ (relative to the
# scratch folder; ~ is the fresh HOME).
GIVEN = {
    "logs/": "a folder of logs: sample_data's native JSON lines and LiteLLM CSV",
    "big.jsonl.gz": "a gzipped log: sample_data/example.jsonl",
    "~/.claude/projects": "Claude Code's session logs: sample_data/claude-code/projects",
}


@dataclass
class Block:
    doc: Path
    line: int  # of the opening fence, from 1
    text: str
    skip: str | None  # why it is skipped, or None

    @property
    def transcript(self) -> bool:
        return any(line.startswith("$ ") for line in self.text.splitlines())

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def shell_blocks(doc: Path) -> list[Block]:
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            start, body = i, []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            marker = SKIP.fullmatch(lines[start - 1].strip()) if start else None
            if marker is not None:
                assert marker["reason"], f"{doc}:{start}: a skipped block needs its reason"
            blocks.append(Block(doc, start + 1, "\n".join(body), marker["reason"] if marker else None))
        i += 1
    return blocks


# Around the blocks: a usage-tui that lets the documented answers pass and runs serve in the
# background, and the report of the command that failed.
PRELUDE = r"""
set -e -o pipefail
trap 'echo "readme-test: failed (exit $?): $BASH_COMMAND, in the block at $BLOCK" >&2' ERR
stop_serve() {
    local status=$?
    trap - ERR
    if [ -n "$SERVE_PID" ]; then kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null || true; fi
    exit "$status"
}
trap stop_serve EXIT
SERVE_PID=
usage-tui() {
    if [ "$1" = serve ]; then
        command usage-tui "$@" 2>>"$OUT/serve.log" &
        SERVE_PID=$!
        echo "$SERVE_PID" >"$OUT/serve.pid"
        for _ in $(seq 150); do
            curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && return 0
            kill -0 "$SERVE_PID" 2>/dev/null || { echo "serve ended: $(cat "$OUT/serve.log")" >&2; return 1; }
            sleep 0.1
        done
        echo "serve did not answer on port $PORT" >&2
        return 1
    fi
    local status=0
    command usage-tui "$@" || status=$?
    case "$1 $2:$status" in
        *":0" | "import "*":1" | "budget check:75") return 0 ;;
    esac
    echo "readme-test: \`usage-tui $*\` exited $status" >&2
    return "$status"
}
"""


def script(blocks: list[Block], port: int) -> tuple[str, list[tuple[str, list[str]]]]:
    """The bash script, and for each transcript command (in order) where it is and the output
    lines it shows."""
    parts, shown = [PRELUDE], []
    for block in blocks:
        if block.skip is not None:
            continue
        text = block.text.replace(README_PORT, str(port))
        parts.append(f"BLOCK={block.where}")
        if not block.transcript:
            parts.append(text)
            continue
        for line in text.splitlines():
            if line.startswith("$ "):
                n = len(shown)
                shown.append((f"{block.where}: {line[2:]}", []))
                parts.append(f"{{ {line[2:]}\n}} >\"$OUT/{n}.out\"; cat \"$OUT/{n}.out\"")
            elif shown:
                shown[-1][1].append(line)
    return "\n".join(parts) + "\n", shown


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def give(work: Path, home: Path) -> None:
    """The reader's own files (GIVEN), from sample_data/."""
    shutil.copytree(ROOT / "sample_data", work / "sample_data")
    (work / "logs").mkdir()
    for name in ("example.jsonl", "litellm_spendlogs.csv"):
        shutil.copy(ROOT / "sample_data" / name, work / "logs" / name)
    (work / "big.jsonl.gz").write_bytes(gzip.compress((ROOT / "sample_data" / "example.jsonl").read_bytes()))
    shutil.copytree(ROOT / "sample_data" / "claude-code" / "projects", home / ".claude" / "projects")


def run_blocks(blocks: list[Block], tmp_path: Path, timeout: float = 600) -> tuple[subprocess.CompletedProcess, list]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        if os.environ.get("USAGE_TUI_TEST_REQUIRE_README_TOOLS"):
            pytest.fail(f"the README's commands need {', '.join(missing)} (CI installs them)")
        pytest.skip(f"the README's commands need {', '.join(missing)}")
    assert USAGE_TUI.exists(), f"no {USAGE_TUI}: install the package (pip install -e .)"
    home, work, out = tmp_path / "home", tmp_path / "work", tmp_path / "out"
    for folder in (home, work, out):
        folder.mkdir(parents=True)
    give(work, home)
    port = free_port()
    text, shown = script(blocks, port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGE_TUI_", "XDG_", "PG"))}
    env.update(HOME=str(home), PATH=f"{USAGE_TUI.parent}{os.pathsep}{env.get('PATH', '')}", OUT=str(out),
               PORT=str(port), TERM="dumb")
    try:
        done = subprocess.run(["bash", "-c", text], cwd=work, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    finally:
        pid = out / "serve.pid"
        if pid.exists():  # the script's own trap stops serve; this is for a script cut short
            try:
                os.kill(int(pid.read_text()), 15)
            except ProcessLookupError:
                pass
    outputs = [(where, expected, (out / f"{n}.out").read_text() if (out / f"{n}.out").exists() else None)
               for n, (where, expected) in enumerate(shown)]
    return done, outputs


def masked(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip())


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_shell_blocks_run_in_order(doc, tmp_path):
    blocks = shell_blocks(doc)
    done, outputs = run_blocks(blocks, tmp_path)
    assert done.returncode == 0, f"{done.stderr[-3000:]}\n--- stdout ---\n{done.stdout[-2000:]}"
    for where, expected, actual in outputs:
        assert actual is not None, f"{where}: did not run"
        if expected:  # the first line shown reads like the first line printed
            first = actual.splitlines()[0] if actual.strip() else ""
            assert masked(first) == masked(expected[0]), f"{where}: printed {first!r}, the text shows {expected[0]!r}"


def test_the_readme_runs_its_tour_and_serve():
    """What the README's run covers: the tour from a demo store through the directory, imports,
    reports, budgets, and serve with curl; what it skips, it says why."""
    blocks = shell_blocks(ROOT / "README.md")
    run = "\n".join(b.text for b in blocks if b.skip is None)
    for command in ("usage-tui sample", "usage-tui directory load sample_data/directory.toml",
                    "usage-tui import sample_data/example.jsonl", "usage-tui spend summary --scope org",
                    "usage-tui spend records", "usage-tui budget check bob", "usage-tui serve",
                    "$ curl -i 'http://127.0.0.1:8787/v1/budget/check?user=bob'"):
        assert command in run, command
    # the tour's order: the demo store first, then the directory loaded onto it, then reports
    assert run.index("usage-tui sample") < run.index("usage-tui directory load") < run.index("spend summary")
    assert [b.skip for b in blocks if b.skip] and all(len(b.skip) > 20 for b in blocks if b.skip)


# -- the runner fails when a command fails ------------------------------------------------------------
def doc_with(tmp_path: Path, body: str) -> list[Block]:
    doc = ROOT / "README.md"  # a stand-in path: only the text matters
    blocks = []
    for i, text in enumerate(body.split("\n---\n")):
        blocks.append(Block(doc, i + 1, text.strip("\n"), None))
    return blocks


def test_a_failing_command_fails_the_run(tmp_path):
    blocks = doc_with(tmp_path, "usage-tui sample --events 50\n---\n"
                                "usage-tui spend summary --scope nope\nusage-tui spend summary\n")
    done, _ = run_blocks(blocks, tmp_path)
    assert done.returncode == 2
    assert "readme-test: `usage-tui spend summary --scope nope` exited 2\n" in done.stderr
    assert "in the block at README.md:2\n" in done.stderr
    assert "Cost per day" not in done.stdout  # the command after the failing one did not run


def test_documented_answers_pass_and_others_fail(tmp_path):
    ok = doc_with(tmp_path, "usage-tui sample --events 50\nusage-tui budget check bob\n"
                            "(head -1 sample_data/example.jsonl; echo 'not json') > some-bad.jsonl\n"
                            "usage-tui import some-bad.jsonl\n")
    done, _ = run_blocks(ok, tmp_path / "ok")
    assert done.returncode == 0, done.stderr
    assert "429 Too Many Requests" in done.stdout  # bob is over budget: exit 75, an answer
    assert "rejected 1" in done.stderr + done.stdout  # exit 1: one line rejected, one imported
    refused = doc_with(tmp_path, "usage-tui sample --events 50\nusage-tui --as nobody-here budget status\n")
    done, _ = run_blocks(refused, tmp_path / "refused")
    assert done.returncode != 0


def test_a_transcript_that_prints_something_else_fails(tmp_path):
    blocks = doc_with(tmp_path, "usage-tui sample --events 50\n---\n$ usage-tui budget check bob\n200 OK\n")
    done, outputs = run_blocks(blocks, tmp_path)
    assert done.returncode == 0
    [(where, expected, actual)] = outputs
    assert (expected, actual.splitlines()[0]) == (["200 OK"], "429 Too Many Requests")
    assert masked(actual.splitlines()[0]) != masked(expected[0])  # what the test above would refuse
