"""Writes local coding agents' session folders (run from the repository root) into
tests/data/agents/<agent>/<case>/, each in the exact on-disk shape the agent writes, with the
numbers of an upstream test that asserts totals (named beside each case; tests/test_agents.py
checks our import against those numbers). Every file is our own; where each shape comes from:

- Codex CLI rollouts: ryoppippi/ccusage rust/crates/ccusage/src/adapter/codex/{parser,loader,mod}.rs,
  the snapshot .../codex/snapshots/ccusage__adapter__codex__tests__snapshots_codex_reports_for_
  periods_sessions_costs_and_fallback_models.snap, src/main.rs and
  apps/ccusage/test/fixtures/codex/sessions/project-alpha/session-alpha.jsonl
  @ 5816e640e8824986f33427203da164b01394a161; ccusage apps/codex/src/{data-loader,daily-report}.ts
  @ 528051512c9f046a5d5bded28a596e6b9b8fd2a6 (the legacy TypeScript app). openai/codex
  codex-rs/protocol/src/protocol.rs (`TokenUsage`'s five fields) through code excerpts only.
- OpenCode: anomalyco/opencode packages/opencode/src/session/session.sql.ts @
  063e8306d9895af9bdd175306cfa4fa3291fd83a (the `session` and `message` tables),
  packages/opencode/src/session/message-v2.ts @ 007a9409bafea06d6b9084ff1f6d1fe9f5e3a803 (the
  assistant message), packages/opencode/src/storage/json-migration.ts @
  062aa8c024a00b7348dd3160c0b4fbbfce074ee2 (the legacy storage/message/<session>/<message>.json
  layout); ccusage rust/crates/ccusage/src/adapter/opencode/{loader,parser}.rs and the parser's
  snapshot @ 5816e64, apps/opencode/src/data-loader.ts @ 5280515.
- Gemini CLI: google-gemini/gemini-cli packages/core/src/services/chatRecordingService.ts and
  chatRecordingTypes.ts @ 5411f113cafae26161b4969b0237b8e1e024e2c2 (the JSON-lines chat: metadata
  line, whole messages appended again as they change, $set lines; legacy .json documents, copied
  into a .jsonl on resume); ccusage rust/crates/ccusage/src/adapter/gemini/loader.rs @ 5816e64.
- pi: badlogic/pi-mono packages/coding-agent/src/core/session-manager.ts (header, entries,
  createBranchedSession) and packages/ai/src/types.ts (`Usage`) @
  83378aad7e74a0e2bb8f37c007a9685fb4609d8a; ccusage src/main.rs loads_pi_agent_jsonl_usage_entries
  @ 5816e64.
- Amp (closed source): ccusage rust/crates/ccusage/src/adapter/amp/parser.rs and src/main.rs @
  5816e64, apps/amp/src/data-loader.ts @ 5280515.

The trees were first drafted as research/agents/examples (make_examples.py) by the helper who
read those sources; a few cases are added here (each says so).
"""
import json
import shutil
import sqlite3
from pathlib import Path

ROOT = Path("tests/data/agents")


def jl(lines):
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)


def write(rel, text):
    path = ROOT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- Codex ----------------------------------------------------------------------------------------
def usage(inp, cached, out, reasoning, total):
    return {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out,
            "reasoning_output_tokens": reasoning, "total_tokens": total}


def token_count(ts, last=None, total=None, model=None):
    info = None
    if last is not None or total is not None:
        info = {}
        if total is not None:
            info["total_token_usage"] = total
        if last is not None:
            info["last_token_usage"] = last
        info["model_context_window"] = 272000
        if model:
            info["model"] = model
    return {"timestamp": ts, "type": "event_msg",
            "payload": {"type": "token_count", "info": info,
                        "rate_limits": {"primary": {"used_percent": 4.0, "window_minutes": 300}}}}


def session_meta(ts, sid, cwd, forked_from=None, source="cli"):
    payload = {"id": sid, "timestamp": ts, "cwd": cwd, "originator": "codex_cli_rs", "cli_version": "0.77.0",
               "source": source}
    if forked_from:
        payload["forked_from_id"] = forked_from
    return {"timestamp": ts, "type": "session_meta", "payload": payload}


def turn_context(ts, model, cwd):
    return {"timestamp": ts, "type": "turn_context",
            "payload": {"cwd": cwd, "approval_policy": "on-request", "model": model, "summary": "auto"}}


def codex():
    # snapshot-home: the events of adapter/codex/mod.rs
    # snapshots_codex_reports_for_periods_sessions_costs_and_fallback_models, as a CODEX_HOME
    a, b, fork = ("0199a1b2-0000-7000-8000-00000000000" + c for c in "abf")
    api, web = "/workspace/api", "/workspace/web"
    lines_a = [
        session_meta("2026-01-01T23:59:58.000Z", a, api),
        turn_context("2026-01-01T23:59:59.000Z", "gpt-5.3-codex", api),
        token_count("2026-01-01T23:59:59.500Z"),  # rate limits only: info is null
        token_count("2026-01-02T00:00:00.000Z", last=usage(140, 40, 5, 2, 147), total=usage(140, 40, 5, 2, 147)),
        {"timestamp": "2026-01-02T00:00:01.000Z", "type": "event_msg",
         "payload": {"type": "agent_message", "message": "Done."}},
        # cumulative totals only: the delta (70, 70, 10, 0, 80) is this event's usage
        token_count("2026-01-02T00:05:00.000Z", total=usage(210, 110, 15, 2, 227)),
    ]
    write(f"codex/snapshot-home/sessions/2026/01/02/rollout-2026-01-02T00-00-00-{a}.jsonl", jl(lines_a))
    # the same rollout archived (flat in archived_sessions/)
    write(f"codex/snapshot-home/archived_sessions/rollout-2026-01-02T00-00-00-{a}.jsonl", jl(lines_a))
    # `codex fork` with no turn of its own: forked_from_id, then the parent's history replayed with
    # its timestamps rewritten to the fork's second (ccusage issues #1370/#1371, PR #1369)
    replay = [dict(line, timestamp=f"2026-01-02T00:10:00.{100 + i:03d}Z") for i, line in enumerate(lines_a)]
    write(f"codex/snapshot-home/sessions/2026/01/02/rollout-2026-01-02T00-10-00-{fork}.jsonl",
          jl([session_meta("2026-01-02T00:10:00.000Z", fork, api, forked_from=a), *replay]))
    write(f"codex/snapshot-home/sessions/2026/01/05/rollout-2026-01-05T23-59-00-{b}.jsonl", jl([
        session_meta("2026-01-05T23:59:00.000Z", b, web),
        turn_context("2026-01-05T23:59:01.000Z", "gpt-5-mini", web),
        token_count("2026-01-05T23:59:59.000Z", last=usage(10, 0, 2, 0, 12), total=usage(10, 0, 2, 0, 12)),
    ]))

    # branch-home: loader.rs dedupes_copied_branch_history_across_session_files
    parent = [{"timestamp": "2026-05-12T08:00:00.000Z", "type": "turn_context", "payload": {"model": "gpt-5.2"}},
              token_count("2026-05-12T08:01:00.000Z", total=usage(1000, 100, 200, 20, 1200))]
    write("codex/branch-home/sessions/2026-05-12T08-00-00-parent.jsonl", jl(parent))
    write("codex/branch-home/sessions/2026-05-12T08-02-00-branch.jsonl",
          jl([*parent, token_count("2026-05-12T08:02:00.000Z", total=usage(1600, 300, 450, 40, 2050))]))

    # subagent-home: loader.rs skips_replayed_parent_token_history_in_thread_spawn_subagent_files
    write("codex/subagent-home/sessions/2026-05-12T08-00-00-parent.jsonl", jl([
        {"timestamp": "2026-05-12T08:00:00.000Z", "type": "turn_context",
         "payload": {"model": "gpt-5.2", "model_name": None, "metadata": None}},
        token_count("2026-05-12T08:01:00.000Z", usage(1000, 100, 200, 0, 1200), usage(1000, 100, 200, 0, 1200)),
        token_count("2026-05-12T08:02:00.000Z", usage(500, 50, 100, 0, 600), usage(1500, 150, 300, 0, 1800)),
    ]))
    spawn = {"id": "subagent-abc", "source": {"subagent": {"thread_spawn": {"parent_thread_id": "parent-xyz"}}}}
    t = "2026-05-12T08:03:00.000Z"
    write("codex/subagent-home/sessions/2026-05-12T08-03-00-subagent.jsonl", jl([
        {"timestamp": t, "type": "session_meta", "payload": spawn},
        {"timestamp": t, "type": "session_meta", "payload": {"id": "parent-xyz"}},
        # the parent's history replayed at the subagent's creation second: not new spend
        token_count(t, usage(1000, 100, 200, 0, 1200), usage(1000, 100, 200, 0, 1200)),
        token_count(t, usage(500, 50, 100, 0, 600), usage(1500, 150, 300, 0, 1800)),
        token_count("2026-05-12T08:04:00.000Z", usage(100, 10, 20, 0, 120), usage(100, 10, 20, 0, 120), model="gpt-5.2"),
        token_count("2026-05-12T08:05:00.000Z", usage(50, 5, 10, 0, 60), usage(150, 15, 30, 0, 180)),
    ]))

    # daily-home (added here): legacy TS apps/codex/src/daily-report.ts — gpt-5 1000/200/500 and
    # gpt-5-mini 400/100/200 (reasoning 50) on 2025-09-11, $0.006611 at gpt-5 1.25/0.125/10 and
    # gpt-5-mini 0.6/0.06/2 $ per M; as one rollout whose model changes between the turns
    c = "0199a1b2-0000-7000-8000-00000000000c"
    write(f"codex/daily-home/sessions/2025/09/11/rollout-2025-09-11T10-00-00-{c}.jsonl", jl([
        session_meta("2025-09-11T10:00:00.000Z", c, api),
        turn_context("2025-09-11T10:00:01.000Z", "gpt-5", api),
        token_count("2025-09-11T10:00:30.000Z", last=usage(1000, 200, 500, 0, 1500)),
        turn_context("2025-09-11T10:05:00.000Z", "gpt-5-mini", api),
        token_count("2025-09-11T10:05:30.000Z", last=usage(400, 100, 200, 50, 600)),
    ]))
    # gpt54-home (added here): src/main.rs prices_codex_gpt_5_4_like_typescript_adapter —
    # gpt-5.4 100 input / 40 cached / 10 output → $0.00031 at 2.50 / 0.25 / 15 $ per M
    d = "0199a1b2-0000-7000-8000-00000000000d"
    write(f"codex/gpt54-home/sessions/2026/03/10/rollout-2026-03-10T09-00-00-{d}.jsonl", jl([
        session_meta("2026-03-10T09:00:00.000Z", d, api),
        turn_context("2026-03-10T09:00:01.000Z", "gpt-5.4", api),
        token_count("2026-03-10T09:00:20.000Z", last=usage(100, 40, 10, 0, 110)),
    ]))


# -- OpenCode -------------------------------------------------------------------------------------
TABLES = """
CREATE TABLE session (id text PRIMARY KEY, project_id text NOT NULL, parent_id text, slug text NOT NULL,
  directory text NOT NULL, title text NOT NULL, version text NOT NULL, time_created integer NOT NULL,
  time_updated integer NOT NULL);
CREATE TABLE message (id text PRIMARY KEY, session_id text NOT NULL REFERENCES session(id) ON DELETE CASCADE,
  time_created integer NOT NULL, time_updated integer NOT NULL, data text NOT NULL);
CREATE INDEX message_session_time_created_id_idx ON message (session_id, time_created, id);
CREATE TABLE part (id text PRIMARY KEY, message_id text NOT NULL, session_id text NOT NULL,
  time_created integer NOT NULL, time_updated integer NOT NULL, data text NOT NULL);
"""


def assistant(created, provider, model, tokens, cost, completed=None):
    """The message table's `data`: the assistant message without its id and sessionID."""
    return {"role": "assistant", "time": {"created": created, **({"completed": completed} if completed else {})},
            "parentID": "msg_user0001", "modelID": model, "providerID": provider, "mode": "build", "agent": "build",
            "path": {"cwd": "/tmp/project-db", "root": "/tmp/project-db"}, "cost": cost, "tokens": tokens,
            "finish": "stop"}


def tokens(inp, out, read=0, write=0, reasoning=0, total=None):
    t = {"input": inp, "output": out, "reasoning": reasoning, "cache": {"read": read, "write": write}}
    if total is not None:
        t["total"] = total
    return t


def database(rel, sessions, messages, parts=()):
    path = ROOT / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.executescript(TABLES)
    db.executemany("INSERT INTO session VALUES (?,?,?,?,?,?,?,?,?)", sessions)
    db.executemany("INSERT INTO message VALUES (?,?,?,?,?)", messages)
    db.executemany("INSERT INTO part VALUES (?,?,?,?,?,?)", parts)
    db.commit()
    db.close()


def opencode():
    # data: legacy TS apps/opencode/src/data-loader.ts ("load from SQLite", "keep legacy JSON
    # messages not in SQLite", "prefer SQLite over legacy JSON with the same ID")
    msg_db = assistant(1700000000000, "anthropic", "claude-sonnet-4-20250514",
                       tokens(10, 20, read=30, write=40, reasoning=5), 0.123, completed=1700000010000)
    # a step-finish part repeats the message's numbers: never read (it would double count)
    step = {"type": "step-finish", "tokens": msg_db["tokens"], "cost": 0.123}
    database("opencode/data/opencode.db",
             [("ses_db", "project_db", None, "db-session", "/tmp/project-db", "DB Session", "1.2.0",
               1700000000000, 1700000010000)],
             [("msg_db", "ses_db", 1700000000000, 1700000010000, json.dumps(msg_db)),
              ("msg_bad", "ses_db", 1700000000001, 1700000000001, "not json")],
             [("prt_step", "msg_db", "ses_db", 1700000010000, 1700000010000, json.dumps(step))])
    write("opencode/data/storage/message/ses_json/msg_json.json", json.dumps({
        "id": "msg_json", "sessionID": "ses_json", "role": "assistant", "providerID": "anthropic",
        "modelID": "claude-opus-4-20250514", "time": {"created": 1700000020000},
        "tokens": tokens(111, 222), "cost": 0}, indent=2))
    write("opencode/data/storage/session/project_json/ses_json.json", json.dumps({
        "id": "ses_json", "title": "Legacy Session", "projectID": "project_json", "directory": "/tmp/project-json",
        "version": "0.15.0", "time": {"created": 1700000019000, "updated": 1700000021000}}, indent=2))
    # the same id as a database row: the database's wins
    write("opencode/data/storage/message/ses_db/msg_db.json", json.dumps({
        "id": "msg_db", "sessionID": "ses_json", "role": "assistant", "providerID": "anthropic",
        "modelID": "claude-opus-4-20250514", "time": {"created": 1700000000000}, "tokens": tokens(999, 999)},
        indent=2))
    # a user message file: no usage
    write("opencode/data/storage/message/ses_json/msg_user.json", json.dumps({
        "id": "msg_user", "sessionID": "ses_json", "role": "user", "time": {"created": 1700000019500}}, indent=2))

    # cost-data: adapter/opencode/parser.rs calculates_cost_when_opencode_stores_zero_cost
    # ($0.000205 at openai/gpt-test 1 / 10 / read 0.1 $ per M) and keeps_positive_opencode_cost (0.02)
    a = assistant(1767312000000, "openai", "gpt-test", tokens(100, 10, read=50), 0)
    b = assistant(1767312060000, "openai", "gpt-test", tokens(100, 0), 0.02)
    session = [("session-a", "project-a", None, "s-a", "/work/a", "A", "1.2.0", 1767312000000, 1767312060000)]
    database("opencode/cost-data/opencode.db", session,
             [("message-a", "session-a", 1767312000000, 1767312000000, json.dumps(a)),
              ("message-b", "session-a", 1767312060000, 1767312060000, json.dumps(b))])

    # copilot-data (added here): the parser's snapshot test snapshots_message_to_entry_variants_
    # and_model_candidates — github-copilot claude-sonnet-4.5, 100 / 10 / read 50 / write 25,
    # total 185, cost 0 → 22.03125 at 0.125 / 0.25 / read 0.0625 $ per token, writes at 1.25 × input
    c = assistant(1767312000000, "github-copilot", "claude-sonnet-4.5", tokens(100, 10, read=50, write=25, total=185), 0)
    database("opencode/copilot-data/opencode-beta.db", session,  # a channel build's database
             [("message-c", "session-a", 1767312000000, 1767312000000, json.dumps(c))])

    # k2p6-data (added here): parser.rs calculates_cost_for_k2p6_when_opencode_stores_zero_cost —
    # kimi-for-coding/k2p6 100 / 10 / read 50, cost 0 → $0.000143 (kimi-k2.6 0.95 / 4 / read 0.16 $ per M)
    k = assistant(1767312000000, "kimi-for-coding", "k2p6", tokens(100, 10, read=50), 0)
    database("opencode/k2p6-data/opencode.db", session,
             [("message-k", "session-a", 1767312000000, 1767312000000, json.dumps(k))])

    # fork-data (added here): Session.fork (packages/opencode/src/session/index.ts @
    # 0002b1fa7df4460349692a647b6fa61d3cc58f12) copies the parent's messages into the new session
    # under new ids, keeping time, tokens and cost; and reasoning apart from output, shown by
    # tokens.total (PR #21047): completion 436 + 790
    r = assistant(1767400000000, "anthropic", "claude-sonnet-4-5", tokens(12, 436, read=3000, write=200, reasoning=790,
                                                                          total=4438), 0.0215, completed=1767400009000)
    database("opencode/fork-data/opencode.db",
             [("ses_parent", "p", None, "parent", "/w", "Parent", "1.2.0", 1767400000000, 1767400009000),
              ("ses_fork", "p", "ses_parent", "fork", "/w", "Fork", "1.2.0", 1767400100000, 1767400100000)],
             [("msg_01parent", "ses_parent", 1767400000000, 1767400009000, json.dumps(r)),
              ("msg_02forkcopy", "ses_fork", 1767400000000, 1767400009000, json.dumps(r))])


# -- Gemini CLI -----------------------------------------------------------------------------------
def gemini():
    # tmp: adapter/gemini/loader.rs loads_jsonl_token_events_and_separates_cached_input
    sid = "5c0ffee0-1234-4abc-8def-0123456789ab"
    meta = {"sessionId": sid, "projectHash": "project-a", "startTime": "2026-05-17T11:07:00.000Z",
            "lastUpdated": "2026-05-17T11:07:00.000Z", "kind": "main"}
    user = {"id": "msg-u", "timestamp": "2026-05-17T11:07:05.000Z", "type": "user",
            "content": [{"text": "Explain the build"}]}
    reply = {"id": "msg-a", "timestamp": "2026-05-17T11:07:32.000Z", "type": "gemini", "content": "It uses make.",
             "thoughts": [], "tokens": None, "model": "gemini-3-flash-preview"}
    usage = {"input": 15327, "output": 23, "cached": 11526, "thoughts": 919, "tool": 7, "total": 16276}
    write("gemini/tmp/project-a/chats/session-2026-05-17T11-07-5c0ffee0.jsonl", jl([
        meta, user, {"$set": {"lastUpdated": "2026-05-17T11:07:05.000Z"}},
        reply,  # appended when the reply is recorded ...
        {**reply, "tokens": usage},  # ... and again, whole, once its tokens are known
        {"$set": {"lastUpdated": "2026-05-17T11:07:32.000Z"}}]))
    # resumed-tmp: a legacy .json chat resumed by a current Gemini CLI, which copies every message
    # into <name>.jsonl beside it (chatRecordingService.initialize) and keeps the .json
    legacy = {**meta, "messages": [user, {**reply, "tokens": usage}]}
    write("gemini/resumed-tmp/project-a/chats/session-2026-05-17T11-07-5c0ffee0.json", json.dumps(legacy, indent=2))
    write("gemini/resumed-tmp/project-a/chats/session-2026-05-17T11-07-5c0ffee0.jsonl",
          jl([meta, user, {**reply, "tokens": usage}, {"$set": {"sessionId": sid}}]))


# -- pi -------------------------------------------------------------------------------------------
def pi():
    # sessions: src/main.rs loads_pi_agent_jsonl_usage_entries (100 / 50 / write 20 / read 10,
    # total 180, cost 0.05); the cost breakdown's parts are ours (only the total is upstream's)
    sid = "7d3f0c1e-5b2a-4c8d-9e6f-0a1b2c3d4e5f"
    cwd, folder = "/home/dev/shop", "--home-dev-shop--"
    header = {"type": "session", "version": 3, "id": sid, "timestamp": "2026-04-22T01:02:00.000Z", "cwd": cwd}
    model_change = {"type": "model_change", "id": "0f0f0f0f", "parentId": None, "timestamp": "2026-04-22T01:02:00.500Z",
                    "provider": "openai", "modelId": "gpt-5.4"}
    user = {"type": "message", "id": "a1b2c3d4", "parentId": "0f0f0f0f", "timestamp": "2026-04-22T01:02:02.000Z",
            "message": {"role": "user", "content": [{"type": "text", "text": "add a test"}], "timestamp": 1776819722000}}
    assistant_entry = {
        "type": "message", "id": "e5f6a7b8", "parentId": "a1b2c3d4", "timestamp": "2026-04-22T01:02:03.000Z",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Added."}], "api": "openai-responses",
                    "provider": "openai", "model": "gpt-5.4",
                    "usage": {"input": 100, "output": 50, "cacheRead": 10, "cacheWrite": 20, "totalTokens": 180,
                              "cost": {"input": 0.01, "output": 0.03, "cacheRead": 0.002, "cacheWrite": 0.008,
                                       "total": 0.05}},
                    "stopReason": "stop", "timestamp": 1776819723000}}
    name = f"2026-04-22T01-02-00-000Z_{sid}.jsonl"
    lines = [header, model_change, user, assistant_entry]
    write(f"pi/sessions/{folder}/{name}", jl(lines))
    # branched-sessions: the same, and a branch (SessionManager.createBranchedSession) copying the
    # path's entries, ids and timestamps unchanged into a new file
    write(f"pi/branched-sessions/{folder}/{name}", jl(lines))
    sid2 = "9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
    write(f"pi/branched-sessions/{folder}/2026-04-22T01-05-00-000Z_{sid2}.jsonl", jl([
        {"type": "session", "version": 3, "id": sid2, "timestamp": "2026-04-22T01:05:00.000Z", "cwd": cwd,
         "parentSession": f"/home/dev/.pi/agent/sessions/{folder}/{name}"},
        model_change, user, assistant_entry]))


# -- Amp ------------------------------------------------------------------------------------------
def amp():
    # threads: legacy TS apps/amp/src/data-loader.ts 'parses Amp thread files and extracts usage
    # events' (T-test-thread-123) and rust adapter/amp/parser.rs
    # reads_usage_from_messages_when_ledger_is_missing (T-thread-a)
    write("amp/threads/T-test-thread-123.json", json.dumps({
        "v": 195, "id": "T-test-thread-123", "created": 1700000000000, "title": "Test Thread",
        "messages": [
            {"role": "user", "messageId": 0, "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "messageId": 1, "content": [{"type": "text", "text": "Hello!"}],
             "usage": {"model": "claude-haiku-4-5-20251001", "inputTokens": 100, "outputTokens": 50,
                       "cacheCreationInputTokens": 500, "cacheReadInputTokens": 200, "totalInputTokens": 800,
                       "credits": 1.5}}],
        "usageLedger": {"events": [
            {"id": "event-1", "timestamp": "2025-11-23T10:00:00.000Z", "model": "claude-haiku-4-5-20251001",
             "credits": 1.5, "tokens": {"input": 100, "output": 50}, "operationType": "inference",
             "fromMessageId": 0, "toMessageId": 1}]}}, indent=2))
    write("amp/threads/T-thread-a.json", json.dumps({
        "v": 210, "id": "T-thread-a", "created": 1768822900000, "title": "Messages only",
        "messages": [
            {"role": "user", "messageId": 0, "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "messageId": 1, "content": [{"type": "text", "text": "Hi."}],
             "usage": {"model": "claude-haiku-4-5-20251001", "inputTokens": 10, "outputTokens": 178,
                       "cacheCreationInputTokens": 986, "cacheReadInputTokens": 11372, "totalInputTokens": 12368,
                       "timestamp": "2026-01-19T11:42:10.652Z"}},
            {"role": "assistant", "messageId": 2, "content": [{"type": "text", "text": "Done."}],
             "usage": {"model": "claude-haiku-4-5-20251001", "inputTokens": 5, "outputTokens": 42,
                       "cacheCreationInputTokens": 0, "cacheReadInputTokens": 12000,
                       "timestamp": "2026-01-19T11:43:00.000Z"}}]}, indent=2))
    # ledger-threads (added here): src/main.rs loads_amp_thread_usage_events — 100 / 50 / write 20 /
    # read 10, credits 1.25, 2026-05-01 (written compact, as ccusage's test writes it)
    write("amp/ledger-threads/T-thread-ledger.json", json.dumps({
        "v": 220, "id": "T-thread-ledger", "title": "Ledger",
        "messages": [{"role": "assistant", "messageId": 2,
                      "usage": {"cacheCreationInputTokens": 20, "cacheReadInputTokens": 10}}],
        "usageLedger": {"events": [{"id": "event-a", "timestamp": "2026-05-01T01:02:03Z",
                                    "model": "claude-sonnet-4-20250514", "credits": 1.25,
                                    "tokens": {"input": 100, "output": 50}, "toMessageId": 2}]}}))


if __name__ == "__main__":
    shutil.rmtree(ROOT, ignore_errors=True)
    codex()
    opencode()
    gemini()
    pi()
    amp()
