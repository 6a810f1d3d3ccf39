"""Writes a small Claude Code folder (run from the repository root): ~/.claude/projects/<project>/
<session>.jsonl transcripts and a subagent's own transcript under <session>/subagents/, in the
line shapes Claude Code writes (assistant lines with message.usage and its cache_creation
split; type: "progress" lines relaying a subagent's transcript line in data.message;
streamed copies of one message; a <synthetic> line). Used by tests/test_real_exports.py and
for the comparison with ccusage (CLAUDE_CONFIG_DIR=tests/data/claude-code)."""
import json
from pathlib import Path

ROOT = Path("tests/data/claude-code/projects")
SHOP, API = "-home-dev-shop", "-home-dev-api"
SESSION_A = "3c9d2e7a-1b4f-4a8e-9d6c-5e2f1a0b7c8d"
SESSION_B = "8f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"


def base(session, cwd, uuid, parent, ts, **more):
    return {"parentUuid": parent, "isSidechain": False, "userType": "external", "cwd": cwd,
            "sessionId": session, "version": "2.0.50", "gitBranch": "main", "uuid": uuid, "timestamp": ts, **more}


def usage(inp, out, read=0, write=None, split=None):
    u = {"input_tokens": inp, "cache_creation_input_tokens": write if write is not None else sum(split or (0, 0)),
         "cache_read_input_tokens": read, "output_tokens": out, "service_tier": "standard"}
    if split is not None:
        u["cache_creation"] = {"ephemeral_5m_input_tokens": split[0], "ephemeral_1h_input_tokens": split[1]}
    return u


def assistant(session, cwd, uuid, parent, ts, msg_id, req, model, use, content):
    return base(session, cwd, uuid, parent, ts, type="assistant", requestId=req, message={
        "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": None, "stop_sequence": None, "usage": use})


def user(session, cwd, uuid, parent, ts, text):
    return base(session, cwd, uuid, parent, ts, type="user", message={"role": "user", "content": text})


def progress(session, cwd, uuid, parent, ts, agent, inner):
    return base(session, cwd, uuid, parent, ts, type="progress", toolUseID="toolu_01" + agent,
                parentToolUseID="toolu_01" + agent, data={"type": "agent_progress", "agentId": agent,
                                                          "prompt": "Review the diff", "message": inner})


def sub_line(uuid, ts, msg_id, req, model, use, sidechain=True, agent="d4e5f6"):
    line = assistant(SESSION_A, "/home/dev/shop", uuid, None, ts, msg_id, req, model, use,
                     [{"type": "text", "text": "Looks fine."}])
    line.update(isSidechain=sidechain, agentId=agent)
    return line


SONNET, HAIKU = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"
cwd_a = "/home/dev/shop"
u_a1 = usage(10, 50, read=20000, split=(1000, 2000))
u_a1_final = usage(10, 400, read=20000, split=(1000, 2000))
u_s1 = usage(1500, 300, read=4000, write=500)
u_s2 = usage(800, 150, read=2000, write=0)
session_a = [
    user(SESSION_A, cwd_a, "u-01", None, "2026-11-20T10:00:00.000Z", "Add a checkout test"),
    # one message streamed as two lines (thinking, then text): the same id, the usage repeated
    assistant(SESSION_A, cwd_a, "u-02", "u-01", "2026-11-20T10:00:04.120Z", "msg_01A1", "req_011A1", SONNET, u_a1,
              [{"type": "thinking", "thinking": "...", "signature": "sig"}]),
    assistant(SESSION_A, cwd_a, "u-03", "u-02", "2026-11-20T10:00:09.870Z", "msg_01A1", "req_011A1", SONNET,
              u_a1_final, [{"type": "text", "text": "I'll ask two subagents."}]),
    user(SESSION_A, cwd_a, "u-04", "u-03", "2026-11-20T10:00:10.000Z", "[tool_result]"),
    # a subagent whose own file is gone: its spend is only here
    progress(SESSION_A, cwd_a, "u-05", "u-04", "2026-11-20T10:00:30.500Z", "a1b2c3",
             {"type": "assistant", "timestamp": "2026-11-20T10:00:30.400Z", "requestId": "req_011S1",
              "uuid": "s1-02", "message": {"id": "msg_01S1", "type": "message", "role": "assistant",
                                           "model": HAIKU, "content": [{"type": "text", "text": "Found 3 tests."}],
                                           "usage": u_s1}}),
    # a subagent whose own file is there too: one record, not two
    progress(SESSION_A, cwd_a, "u-06", "u-05", "2026-11-20T10:00:41.300Z", "d4e5f6",
             {"type": "assistant", "timestamp": "2026-11-20T10:00:41.200Z", "requestId": "req_011S2",
              "uuid": "s2-02", "message": {"id": "msg_01S2", "type": "message", "role": "assistant",
                                           "model": HAIKU, "content": [{"type": "text", "text": "Looks fine."}],
                                           "usage": u_s2}}),
    # writes without the cache_creation split: all 5-minute
    assistant(SESSION_A, cwd_a, "u-07", "u-06", "2026-11-20T10:01:02.000Z", "msg_01A2", "req_011A2", SONNET,
              usage(5, 250, read=23000, write=4000), [{"type": "text", "text": "Done."}]),
    # written by Claude Code itself, not an API call
    assistant(SESSION_A, cwd_a, "u-08", "u-07", "2026-11-20T10:01:03.000Z", "msg_synthetic", None, "<synthetic>",
              usage(0, 0), [{"type": "text", "text": "No response requested."}]),
]
subagent = [
    {**user(SESSION_A, cwd_a, "s2-01", None, "2026-11-20T10:00:35.000Z", "Review the diff"),
     "isSidechain": True, "agentId": "d4e5f6"},
    {**sub_line("s2-02", "2026-11-20T10:00:41.200Z", "msg_01S2", "req_011S2", HAIKU, u_s2)},
]
cwd_b = "/home/dev/api"
session_b = [
    user(SESSION_B, cwd_b, "b-01", None, "2026-11-21T08:30:00.000Z", "Explain the rate limiter"),
    # a 1-hour cache write only
    assistant(SESSION_B, cwd_b, "b-02", "b-01", "2026-11-21T08:30:07.000Z", "msg_01B1", "req_011B1", SONNET,
              usage(20, 800, read=0, split=(0, 6000)), [{"type": "text", "text": "It is a token bucket."}]),
    {"type": "summary", "summary": "Rate limiter walkthrough", "leafUuid": "b-02"},
]
for path, lines in ((ROOT / SHOP / f"{SESSION_A}.jsonl", session_a),
                    (ROOT / SHOP / SESSION_A / "subagents" / "agent-d4e5f6.jsonl", subagent),
                    (ROOT / API / f"{SESSION_B}.jsonl", session_b)):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))
