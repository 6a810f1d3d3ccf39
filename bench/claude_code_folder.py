"""A realistic Claude Code projects folder for the import benchmark (bench/claude_code.py).

    python bench/claude_code_folder.py OUT --requests 18080      # ~320 MB, ~200k lines

Writes OUT/projects/<project>/<session>.jsonl transcripts and subagents' own transcripts under
<session>/subagents/agent-<id>.jsonl, line for line in the shapes Claude Code 2.0 writes (the
shapes of tests/data/make_claude_code_samples.py, which follows real transcripts; and the field
inventory of public write-ups of the format, e.g. jeremedia/claude-code-log-format's
CLAUDE_CODE_LOG_FORMAT.md, 236k events of Claude Code 2.0.49):

- `user` lines: a typed prompt, or `tool_result` blocks with the tool's output, repeated in
  `toolUseResult` (a Read's file with its `     1→` line numbers: the non-ASCII arrow is in most
  of the bytes, as in real folders);
- `assistant` lines: one line per content block of a streamed message (thinking, text,
  tool_use), each with the message's `usage` (the last one's output_tokens final), one
  `message.id` and `requestId`; `<synthetic>` lines Claude Code writes itself;
- `progress` lines: hook and bash progress (no usage), and `agent_progress` relaying every line
  of a subagent's transcript in `data.message` (the subagent's own file holds them too);
- `file-history-snapshot`, `system`, `summary` and `queue-operation` lines;
- resumed sessions: a new session file that opens with a copy of an earlier one's lines.

Message content is most of the bytes (tool output lognormal around 3 KB, up to 200 KB). Models,
token counts (cache reads of 15k-180k, optionally some past sonnet-4.5's 200k tier, 5-minute
and 1-hour cache writes) and timestamps (120 days) are drawn from a fixed seed: the same folder every run.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

MODELS = (  # (model, weight for the main loop); haiku is mostly what subagents use
    ("claude-sonnet-4-5-20250929", 55), ("claude-opus-4-5-20251101", 15), ("claude-haiku-4-5-20251001", 12),
    ("claude-opus-4-1-20250805", 6), ("claude-sonnet-4-20250514", 12),
)
TOOLS = ("Read", "Bash", "Edit", "Grep", "Glob", "Write", "TodoWrite", "Task")
VERSIONS = ("2.0.37", "2.0.42", "2.0.49", "2.0.50", "2.0.55")
START = datetime(2026, 7, 1, tzinfo=UTC)
WORDS = ("the value config import return self request handler token cache result error path user "
         "session model budget store batch index query update delete create parse format line file "
         "record stream check limit window daily weekly report total cost price team agent key").split()


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text_pool(rng: random.Random, size: int = 1 << 21) -> str:
    """Code-like text to slice content from: identifiers, punctuation, indentation, and some
    non-ASCII (an em dash, accented names, the odd emoji) as real source and prose have."""
    parts: list[str] = []
    total = 0
    while total < size:
        indent = " " * (4 * rng.randrange(4))
        kind = rng.random()
        if kind < 0.55:
            line = f"{indent}{rng.choice(WORDS)}_{rng.choice(WORDS)} = {rng.choice(WORDS)}({rng.choice(WORDS)}, {rng.randrange(1000)})"
        elif kind < 0.8:
            line = f"{indent}# {' '.join(rng.choice(WORDS) for _ in range(rng.randrange(4, 12)))}"
        elif kind < 0.95:
            line = f'{indent}if {rng.choice(WORDS)} is None: raise ValueError("{rng.choice(WORDS)} — {rng.choice(WORDS)}")'
        else:
            line = f"{indent}name = \"Zoë Müller\"  # ✓ {rng.choice(WORDS)} 🚀"
        parts.append(line)
        total += len(line) + 1
    return "\n".join(parts)


class Folder:
    def __init__(self, out: Path, requests: int, seed: int, long_context: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.long_context = long_context  # the share of sonnet-4.5 requests past 200k input tokens
        self.pool = _text_pool(self.rng)
        self.out = out / "projects"
        self.target = requests
        self.requests = 0
        self.lines = 0
        self.bytes = 0

    # -- content ---------------------------------------------------------------------------
    def text(self, mean: int, cap: int = 200_000) -> str:
        n = min(cap, max(20, int(self.rng.lognormvariate(math.log(mean), 1.0))))
        start = self.rng.randrange(0, len(self.pool) - n) if n < len(self.pool) else 0
        return self.pool[start:start + n]

    def numbered(self, text: str) -> str:
        """A Read tool's output: each line numbered with Claude Code's arrow."""
        return "\n".join(f"{i:>6}→{line}" for i, line in enumerate(text.split("\n"), 1))

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def tag(self, n: int = 24) -> str:
        return "".join(self.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789") for _ in range(n))

    # -- lines -----------------------------------------------------------------------------
    def base(self, s: dict, kind: str, ts: datetime, **more) -> dict:
        uid = self.uid()
        line = {"parentUuid": s["parent"], "isSidechain": s["sidechain"], "userType": "external", "cwd": s["cwd"],
                "sessionId": s["id"], "version": s["version"], "gitBranch": s["branch"]}
        if s.get("agent"):
            line["agentId"] = s["agent"]
        line.update(more)
        line.update(type=kind, uuid=uid, timestamp=_iso(ts))
        s["parent"] = uid
        return line

    def usage(self, model: str) -> dict:
        r = self.rng
        read = int(r.uniform(15_000, 180_000)) if r.random() < 0.9 else 0
        if model.startswith("claude-sonnet-4-5") and r.random() < self.long_context:
            read = int(r.uniform(200_000, 400_000))  # past the 200k tier (1M-context sessions)
        write = int(r.lognormvariate(math.log(1500), 1.2)) if r.random() < 0.7 else 0
        one_hour = write if r.random() < 0.25 else 0
        inp = r.choice((1, 2, 3, 4, 6, 8, 10, r.randrange(10, 5000)))
        if inp + write + read > 200_000 and read <= 200_000:  # the context window: 200k tokens in all
            read = max(0, 200_000 - inp - write)
            write = min(write, 200_000 - inp)
            one_hour = min(one_hour, write)
        use = {"input_tokens": inp,
               "cache_creation_input_tokens": write, "cache_read_input_tokens": read,
               "cache_creation": {"ephemeral_5m_input_tokens": write - one_hour, "ephemeral_1h_input_tokens": one_hour},
               "output_tokens": int(r.lognormvariate(math.log(300), 1.0)) + 1, "service_tier": "standard"}
        return use

    def request(self, s: dict, ts: datetime, model: str, sink: list[dict], relay: list[dict] | None) -> tuple[dict, str | None]:
        """One API request: its streamed assistant lines (and their relays). Returns the last
        line and the tool it called (None: the turn ends)."""
        r = self.rng
        self.requests += 1
        msg_id, req_id = f"msg_01{self.tag()}", f"req_011{self.tag()}"
        use = self.usage(model)
        blocks: list[dict] = []
        if r.random() < 0.4:
            blocks.append({"type": "thinking", "thinking": self.text(900), "signature": self.tag(300)})
        if r.random() < 0.7:
            blocks.append({"type": "text", "text": self.text(400)})
        tool = r.choice(TOOLS) if r.random() < 0.8 else None
        if tool is not None:
            args = ({"file_path": f"{s['cwd']}/src/{r.choice(WORDS)}.py"} if tool in ("Read", "Write", "Edit") else
                    {"command": f"pytest -q tests/test_{r.choice(WORDS)}.py"} if tool == "Bash" else
                    {"pattern": r.choice(WORDS)})
            if tool == "Edit":
                args.update(old_string=self.text(300), new_string=self.text(300))
            if tool == "Write":
                args["content"] = self.text(2500)
            blocks.append({"type": "tool_use", "id": f"toolu_01{self.tag()}", "name": tool, "input": args})
        if not blocks:
            blocks.append({"type": "text", "text": self.text(200)})
        last = None
        for i, block in enumerate(blocks):
            final = i == len(blocks) - 1
            u = dict(use, output_tokens=use["output_tokens"] if final else min(use["output_tokens"], 1 + i * 8))
            line = self.base(s, "assistant", ts + timedelta(milliseconds=400 * i), requestId=req_id, message={
                "model": model, "id": msg_id, "type": "message", "role": "assistant", "content": [block],
                "stop_reason": ("tool_use" if tool else "end_turn") if final else None, "stop_sequence": None,
                "usage": u})
            sink.append(line)
            if relay is not None:
                relay.append(line)
            last = line
        return last, tool

    def tool_result(self, s: dict, ts: datetime, tool: str, sink: list[dict], relay: list[dict] | None) -> None:
        r = self.rng
        out = self.text(3600)
        if tool == "Read":
            out = self.numbered(out)
            extra = {"type": "text", "file": {"filePath": f"{s['cwd']}/src/{r.choice(WORDS)}.py", "content": out,
                                             "numLines": out.count("\n") + 1, "startLine": 1,
                                             "totalLines": out.count("\n") + 1}}
        elif tool == "Bash":
            extra = {"stdout": out, "stderr": "", "interrupted": False, "isImage": False}
        else:
            extra = {"type": "text", "output": out[:2000]}
        line = self.base(s, "user", ts, message={"role": "user", "content": [
            {"tool_use_id": f"toolu_01{self.tag()}", "type": "tool_result", "content": out,
             "is_error": r.random() < 0.05}]}, toolUseResult=extra)
        sink.append(line)
        if relay is not None:
            relay.append(line)

    def progress(self, s: dict, ts: datetime, sink: list[dict], kind: str, **data) -> None:
        sink.append(self.base(s, "progress", ts, toolUseID=f"toolu_01{self.tag()}",
                              parentToolUseID=f"toolu_01{self.tag()}", data={"type": kind, **data}))

    def subagent(self, s: dict, ts: datetime, sink: list[dict], session_dir: Path) -> datetime:
        """A Task: the subagent's own transcript, every line of it relayed into the parent."""
        r = self.rng
        agent = self.tag(8).lower()
        sub = dict(s, parent=None, sidechain=True, agent=agent)
        own: list[dict] = []
        prompt = self.base(sub, "user", ts, message={"role": "user", "content": self.text(500)})
        own.append(prompt)
        model = "claude-haiku-4-5-20251001" if r.random() < 0.7 else s["model"]
        for _ in range(r.randrange(2, 9)):
            ts += timedelta(seconds=r.uniform(2, 20))
            _, tool = self.request(sub, ts, model, own, None)
            if tool is None:
                break
            self.tool_result(sub, ts + timedelta(seconds=1), tool, own, None)
        for line in own:  # relayed in the parent as they happen
            self.progress(s, ts, sink, "agent_progress", agentId=agent, prompt="Review the change", message=line)
        if r.random() < 0.85:  # the subagent's own file (gone in the rest: only the relays say what it spent)
            path = session_dir / "subagents" / f"agent-{agent}.jsonl"
            self.write(path, own)
        return ts

    def session(self, project: dict, sid: str, ts: datetime, copy_of: list[dict] | None) -> list[dict]:
        r = self.rng
        s = {"id": sid, "cwd": project["cwd"], "branch": r.choice(("main", "main", "feature/budgets", "fix-rollups")),
             "version": r.choice(VERSIONS), "parent": None, "sidechain": False, "model": None}
        lines: list[dict] = list(copy_of or ())
        if r.random() < 0.3:
            lines.append({"type": "queue-operation", "operation": "dequeue", "timestamp": _iso(ts), "sessionId": sid})
        session_dir = self.out / project["dir"] / sid
        for _turn in range(r.randrange(2, 12)):
            if self.requests >= self.target:
                break
            s["model"] = r.choices([m for m, _ in MODELS], [w for _, w in MODELS])[0]
            lines.append({"type": "file-history-snapshot", "messageId": self.uid(), "snapshot": {
                "messageId": self.uid(), "trackedFileBackups": {}, "timestamp": _iso(ts)}, "isSnapshotUpdate": False})
            lines.append(self.base(s, "user", ts, message={"role": "user", "content": self.text(300)},
                                   thinkingMetadata={"level": "high", "disabled": False, "triggers": []}, todos=[]))
            for _step in range(r.randrange(1, 9)):
                ts += timedelta(seconds=r.uniform(3, 40))
                _, tool = self.request(s, ts, s["model"], lines, None)
                if tool is None or self.requests >= self.target:
                    break
                for _ in range(r.randrange(6, 13)):  # Pre- and PostToolUse hooks
                    self.progress(s, ts, lines, "hook_progress", hookEvent="PostToolUse", hookName=f"PostToolUse:{tool}",
                                  command="npx prettier --write")
                if tool == "Bash":
                    for i in range(r.randrange(2, 16)):
                        self.progress(s, ts, lines, "bash_progress", output=self.text(200, 2000), fullOutput="",
                                      elapsedTimeSeconds=i + 1, totalLines=i * 3)
                if tool == "Task":
                    ts = self.subagent(s, ts, lines, session_dir)
                self.tool_result(s, ts + timedelta(seconds=1), tool, lines, None)
            if r.random() < 0.04:  # Claude Code's own message: no API call
                lines.append(self.base(s, "assistant", ts, message={
                    "id": self.uid(), "model": "<synthetic>", "role": "assistant", "type": "message",
                    "content": [{"type": "text", "text": "No response requested."}], "stop_reason": "stop_sequence",
                    "stop_sequence": "", "usage": {"input_tokens": 0, "output_tokens": 0,
                                                   "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}))
            if r.random() < 0.05:
                lines.append(self.base(s, "system", ts, subtype="compact_boundary", content="Conversation compacted",
                                       isMeta=False, level="info", compactMetadata={"trigger": "auto", "preTokens": 155000}))
            ts += timedelta(minutes=r.uniform(1, 30))
        if lines:
            lines.append({"type": "summary", "summary": " ".join(r.choice(WORDS) for _ in range(6)),
                          "leafUuid": s["parent"] or self.uid()})
        return lines

    def write(self, path: Path, lines: list[dict]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Claude Code (node's JSON.stringify) writes compact JSON with non-ASCII as is
        text = "".join(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n" for line in lines)
        data = text.encode()
        path.write_bytes(data)
        self.lines += len(lines)
        self.bytes += len(data)

    def build(self) -> None:
        r = self.rng
        projects = [{"cwd": f"/home/dev/{name}", "dir": f"-home-dev-{name}"}
                    for name in (f"{a}-{b}" for a in WORDS[:6] for b in WORDS[6:11])]
        day = 0
        earlier: list[list[dict]] = []
        while self.requests < self.target:
            day += r.choice((0, 0, 1))
            project = r.choice(projects[: max(4, len(projects) * (1 + day) // 120)])  # projects come and go
            ts = START + timedelta(days=day % 120, hours=r.uniform(7, 20))
            copy_of = r.choice(earlier) if earlier and r.random() < 0.05 else None  # a resumed session
            sid = self.uid()
            lines = self.session(project, sid, ts, copy_of)
            self.write(self.out / project["dir"] / f"{sid}.jsonl", lines)
            earlier = (earlier + [lines])[-20:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--requests", type=int, default=18_080)
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument("--long-context", type=float, default=0.0,
                        help="share of sonnet-4.5 requests past 200k input tokens (1M-context sessions; "
                             "ccusage prices them otherwise: see bench/RESULTS.md)")
    args = parser.parse_args()
    folder = Folder(args.out, args.requests, args.seed, args.long_context)
    folder.build()
    print(f"{args.out}: {folder.requests:,} requests, {folder.lines:,} lines, {folder.bytes / 1e6:,.0f} MB")


if __name__ == "__main__":
    main()
