"""Local coding agents' sessions (issue 25): Codex, OpenCode, Gemini CLI, pi and Amp, read from
the folders tests/data/make_agent_samples.py writes (each case carries the numbers of an
upstream test; its docstring names them). Tokens are checked against what the upstream test
asserts, in our columns (prompt = uncached input + cache writes, cached = cache reads,
completion = output + reasoning), and costs to the nano-dollar against the upstream cost,
given the same prices through a directory [[prices]] override. The expected values are typed
from the upstream assertions (or computed by hand in the comments), never from our output."""

from __future__ import annotations

import copy
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from usage_tui.ingest import ImportFatal, detect_format, import_path
from usage_tui.store import Store

from .conftest import DIRECTORY

AGENTS = Path(__file__).resolve().parent / "data" / "agents"
SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def price(provider, model, inp, cached, out, write=None):
    p = {"provider": provider, "model": model, "input_per_mtok": inp, "cached_input_per_mtok": cached,
         "output_per_mtok": out}
    return p if write is None else {**p, "cache_write_per_mtok": write}


def open_store(tmp_path: Path, *prices) -> Store:
    doc = copy.deepcopy(DIRECTORY)
    doc["prices"] += list(prices)
    store = Store(tmp_path / "usage.db")
    store.load_directory(doc)
    return store


def load(tmp_path: Path, path, fmt="auto", *prices):
    store = open_store(tmp_path, *prices)
    rejects = []
    summary = import_path(store, path if isinstance(path, list) else str(path), fmt, viewer="carol",
                          on_reject=rejects.append)
    return store, summary, rejects


def totals(store: Store) -> dict:
    """What the store holds: records, prompt, cached, completion, cache writes, reasoning (from
    the metadata), cost in nano-dollars, and how many records have no cost."""
    row = store.conn.execute(
        "SELECT count(*), sum(prompt_tokens), sum(cached_input_tokens), sum(completion_tokens), "
        "sum(cache_write_tokens), coalesce(sum(json_extract(metadata, '$.reasoning_tokens')), 0), sum(cost_nano), "
        "sum(cost_nano IS NULL) FROM records").fetchone()
    return dict(zip(("records", "prompt", "cached", "completion", "writes", "reasoning", "cost_nano", "unpriced"),
                    row, strict=True))


def column(store: Store, name: str) -> dict:
    return dict(store.conn.execute(f"SELECT id, {name} FROM records"))


# -- Codex -------------------------------------------------------------------------------------------
CODEX_SNAPSHOT_PRICES = (price("openai", "gpt-5.3-codex", 1.75, 0.175, 14.0),
                         price("openai", "gpt-5-mini", 0.25, 0.25, 2.0))  # no cache price: the input's


def test_codex_snapshot_totals_and_cost(tmp_path):
    """ccusage adapter/codex/mod.rs snapshots_codex_reports_for_periods_sessions_costs_and_fallback_models:
    3 events; inputTokens 110 (non-cached), cacheRead 110, output 17, reasoning 2, costUSD 0.00041075;
    daily 2026-01-02 $0.00040425 (100/110/15) and 2026-01-05 $0.0000065 (10/0/2). Here as a
    CODEX_HOME with the same rollout archived too and an empty fork replaying it."""
    store, summary, rejects = load(tmp_path, AGENTS / "codex/snapshot-home", "auto", *CODEX_SNAPSHOT_PRICES)
    assert rejects == []
    # 4 files, 5 usage lines: the archived copy is written again (the active one wins), not counted
    assert (summary.imported, summary.replaced, summary.unchanged, summary.files) == (3, 0, 0, 4)
    assert totals(store) == {"records": 3, "prompt": 110, "cached": 110, "completion": 17, "writes": 0,
                             "reasoning": 2, "cost_nano": 410_750, "unpriced": 0}
    by_day = dict(store.conn.execute(
        "SELECT date(ts_us / 1000000, 'unixepoch'), sum(cost_nano) FROM records GROUP BY 1"))
    assert by_day == {"2026-01-02": 404_250, "2026-01-05": 6_500}
    assert set(column(store, "provider").values()) == {"openai"}
    assert set(column(store, "user_raw").values()) == {"carol"}  # the importing user


def test_codex_branch_history_copied_into_another_file_is_one_record(tmp_path):
    """loader.rs dedupes_copied_branch_history_across_session_files: 2 events, 1000/100/200/r20
    and 600/200/250/r20 (input including cached)."""
    store, summary, _ = load(tmp_path, AGENTS / "codex/branch-home", "codex")
    assert summary.imported == 2
    t = totals(store)
    assert (t["records"], t["prompt"], t["cached"], t["completion"], t["writes"], t["reasoning"]) == (
        2, 900 + 400, 300, 450, 0, 40)


def test_codex_subagent_replay_of_the_parents_history_is_skipped(tmp_path):
    """loader.rs skips_replayed_parent_token_history_in_thread_spawn_subagent_files: 4 events,
    1000/100/200, 500/50/100 (parent), 100/10/20, 50/5/10 (subagent)."""
    store, summary, _ = load(tmp_path, AGENTS / "codex/subagent-home", "codex")
    assert summary.imported == 4
    t = totals(store)
    assert (t["records"], t["prompt"], t["cached"], t["completion"]) == (4, 900 + 450 + 90 + 45, 165, 330)


def test_codex_replay_skip_keeps_the_cumulative_baseline(tmp_path):
    """loader.rs keeps_cumulative_baseline_when_skipping_subagent_replay: totals 1000 → 1500 at the
    spawn second are the parent's, then 1600: one event of 100 input (10 cached, 20 output)."""
    t = "2026-05-12T08:03:00.000Z"

    def tc(ts, total):
        return {"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": dict(zip(("input_tokens", "cached_input_tokens", "output_tokens",
                                           "reasoning_output_tokens", "total_tokens"), total, strict=True))}}}
    path = tmp_path / "sub.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in [
        {"timestamp": t, "type": "session_meta",
         "payload": {"id": "sub", "source": {"subagent": {"thread_spawn": {"parent_thread_id": "p"}}}}},
        {"timestamp": t, "type": "turn_context", "payload": {"model": "gpt-5.2"}},
        tc(t, (1000, 100, 200, 0, 1200)), tc(t, (1500, 150, 300, 0, 1800)),
        tc("2026-05-12T08:04:00.000Z", (1600, 160, 320, 0, 1920))]))
    store, summary, _ = load(tmp_path, path)
    assert summary.imported == 1
    assert (totals(store)["prompt"], totals(store)["cached"], totals(store)["completion"]) == (90, 10, 20)


def test_codex_replay_lookahead_is_bounded(tmp_path, monkeypatch):
    """A fork's lines are held until its second usage event; past the bound (3 here) the file is
    read as not replayed: its two events in one second both count."""
    from usage_tui.ingest import codex
    monkeypatch.setattr(codex, "REPLAY_LOOKAHEAD_LINES", 3)
    t = "2026-05-12T08:03:00"

    def tc(ms, n):
        return {"timestamp": f"{t}.{ms:03d}Z", "type": "event_msg", "payload": {"type": "token_count", "info": {
            "last_token_usage": {"input_tokens": n, "output_tokens": 1}}}}
    context = {"timestamp": f"{t}.000Z", "type": "turn_context", "payload": {"model": "gpt-5.2"}}
    lines = [{"timestamp": f"{t}.000Z", "type": "session_meta", "payload": {"id": "f", "forked_from_id": "p"}},
             context, tc(1, 10), context, context, context, tc(2, 20)]
    path = tmp_path / "fork.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    store, _, _ = load(tmp_path, path)
    assert totals(store)["prompt"] == 30
    monkeypatch.setattr(codex, "REPLAY_LOOKAHEAD_LINES", 10)  # within the bound: a replay, skipped
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + json.dumps(tc(3, 40)).replace(t, t[:-2] + "09") + "\n")
    again = import_path(store, str(path), "codex", viewer="carol")
    assert again.imported == 1 and totals(store)["prompt"] == 30 + 40


def test_codex_daily_report_cost(tmp_path):
    """Legacy TS apps/codex/src/daily-report.ts: gpt-5 1000/200/500 + gpt-5-mini 400/100/200 (r50)
    → input 1400 (cached included), cached 300, output 700, reasoning 50, $0.006611 at gpt-5
    1.25/0.125/10 and gpt-5-mini 0.6/0.06/2 $ per M."""
    store, _, _ = load(tmp_path, AGENTS / "codex/daily-home", "codex", price("openai", "gpt-5", 1.25, 0.125, 10),
                       price("openai", "gpt-5-mini", 0.6, 0.06, 2))
    assert totals(store) == {"records": 2, "prompt": 1400 - 300, "cached": 300, "completion": 700, "writes": 0,
                             "reasoning": 50, "cost_nano": 6_611_000, "unpriced": 0}


def test_codex_gpt_5_4_cost(tmp_path):
    """src/main.rs prices_codex_gpt_5_4_like_typescript_adapter: 100/40/10 → $0.00031 at
    2.50 / 0.25 / 15 $ per M."""
    store, _, _ = load(tmp_path, AGENTS / "codex/gpt54-home", "codex", price("openai", "gpt-5.4", 2.5, 0.25, 15))
    assert totals(store) == {"records": 1, "prompt": 60, "cached": 40, "completion": 10, "writes": 0,
                             "reasoning": 0, "cost_nano": 310_000, "unpriced": 0}


def test_codex_reimport_and_archive_copy_replace_nothing(tmp_path):
    store, _, _ = load(tmp_path, AGENTS / "codex/snapshot-home")
    again = import_path(store, str(AGENTS / "codex/snapshot-home/archived_sessions"), "auto", viewer="carol")
    assert (again.imported, again.replaced, again.unchanged) == (0, 0, 2)
    assert totals(store)["records"] == 3


def test_codex_models_inferred_and_bad_lines(tmp_path):
    lines = [
        '{"timestamp":"2025-08-20T10:00:00.000Z","type":"session_meta","payload":{"id":"s","cwd":"/w"}}',
        # no turn_context: builds of early September 2025 wrote none → gpt-5, marked inferred
        '{"timestamp":"2025-08-20T10:00:05.000Z","type":"event_msg","payload":{"type":"token_count",'
        '"info":{"last_token_usage":{"input_tokens":10,"output_tokens":1}}}}',
        "{not json",
        '{"timestamp":"2025-08-20T10:00:06.000Z","type":"event_msg","payload":{"type":"token_count",'
        '"info":{"last_token_usage":{"input_tokens":-3}}}}',
        '{"type":"event_msg","timestamp":"","payload":{"type":"token_count",'
        '"info":{"last_token_usage":{"input_tokens":3}}}}',
        # the review model, by date: gpt-5.4 from 2026-03-05
        '{"timestamp":"2026-03-06T00:00:00.000Z","type":"turn_context","payload":{"model":"codex-auto-review"}}',
        '{"timestamp":"2026-03-06T00:00:01.000Z","type":"event_msg","payload":{"type":"token_count",'
        '"info":{"last_token_usage":{"input_tokens":20,"cached_input_tokens":50,"output_tokens":2}}}}',
        '{"timestamp":"2026-03-06T00:00:02.000Z","type":"response_item","payload":{"type":"message"}}',
        "[1]",
    ]
    path = tmp_path / "rollout.jsonl"
    path.write_text("\n".join(lines) + "\n")
    store, summary, rejects = load(tmp_path, path, "codex")
    assert [(j.source, j.line, j.reason) for j in rejects] == [
        (str(path), 3, "malformed JSON: Expecting property name enclosed in double quotes"),
        (str(path), 4, "`info.last_token_usage.input_tokens` must be >= 0, got -3"),
        (str(path), 5, "missing required field `timestamp`"),
        (str(path), 9, "not a JSON object"),
    ]
    assert summary.imported == 2
    models = {r[0]: r[1:] for r in store.conn.execute(
        "SELECT model, prompt_tokens, cached_input_tokens, json_extract(metadata, '$.model_inferred') FROM records")}
    # cached is clamped to the input it is part of: 20 input, 50 "cached" → 0 uncached, 20 cached
    assert models == {"gpt-5": (10, 0, 1), "gpt-5.4": (0, 20, 1)}


# -- OpenCode ----------------------------------------------------------------------------------------
def test_opencode_database_and_legacy_files(tmp_path):
    """Legacy TS apps/opencode/src/data-loader.ts: msg_db from SQLite (10 in / 20 out, read 30,
    write 40, cost 0.123) and msg_json from a legacy file (111 / 222) are the 2 messages; the legacy
    copy of msg_db (999 / 999) is dropped, and the bad row skipped (a reject here)."""
    data = AGENTS / "opencode/data"
    store, summary, rejects = load(tmp_path, data, "auto", price("anthropic", "claude-opus-4-20250514", 15, 1.5, 75))
    assert [(j.source, j.line, j.reason) for j in rejects] == [
        (str(data / "opencode.db"), 2, "message msg_bad: malformed JSON: Expecting value")]
    assert summary.imported == 2
    assert summary.skipped == [str(data / "storage/session/project_json/ses_json.json")]  # a session, no usage
    rows = {r[0]: r[1:] for r in store.conn.execute(
        "SELECT id, prompt_tokens, cached_input_tokens, completion_tokens, cache_write_tokens, cost_logged_nano, "
        "cost_nano FROM records")}
    # msg_db: 10 + 40 writes; logged $0.123. msg_json: logged 0 → priced: 111 × 15 + 222 × 75 = 18,315 µ$
    assert rows == {"opencode:msg_db": (50, 30, 20, 40, 123_000_000, 123_000_000),
                    "opencode:msg_json": (111, 0, 222, 0, None, 18_315_000)}
    assert json.loads(column(store, "metadata")["opencode:msg_db"]) == {
        "reasoning_tokens": 5, "session": "ses_db", "mode": "build", "cwd": "/tmp/project-db", "finish": "stop"}


def test_opencode_database_wins_whatever_the_order(tmp_path):
    """The legacy copy of msg_db read after the database, alone, still does not replace it."""
    data = AGENTS / "opencode/data"
    store, _, _ = load(tmp_path, data / "opencode.db")
    later = import_path(store, str(data / "storage/message"), "opencode", viewer="carol")
    assert (later.imported, later.replaced) == (1, 0)  # msg_json only
    assert column(store, "prompt_tokens")["opencode:msg_db"] == 50


def test_opencode_zero_cost_is_priced_and_a_positive_one_kept(tmp_path):
    """parser.rs calculates_cost_when_opencode_stores_zero_cost ($0.000205 at gpt-test 1 / 10 /
    read 0.1 $ per M) and keeps_positive_opencode_cost (0.02)."""
    store, _, _ = load(tmp_path, AGENTS / "opencode/cost-data", "opencode", price("openai", "gpt-test", 1, 0.1, 10))
    assert column(store, "cost_nano") == {"opencode:message-a": 205_000, "opencode:message-b": 20_000_000}
    assert column(store, "cost_logged_nano") == {"opencode:message-a": None, "opencode:message-b": 20_000_000}
    assert totals(store) == {"records": 2, "prompt": 200, "cached": 50, "completion": 10, "writes": 0,
                             "reasoning": 0, "cost_nano": 20_205_000, "unpriced": 0}


def test_opencode_zero_cost_without_a_price_is_unpriced_not_free(tmp_path):
    store, _, _ = load(tmp_path, AGENTS / "opencode/cost-data", "opencode")  # no price for openai/gpt-test
    assert column(store, "cost_nano") == {"opencode:message-a": None, "opencode:message-b": 20_000_000}


def test_opencode_cache_writes_priced_through_the_override(tmp_path):
    """The parser's snapshot: github-copilot claude-sonnet-4.5, 100 / 10 / read 50 / write 25,
    cost 0 → 22.03125 at 0.125 / 0.25 / read 0.0625 $ per token and writes at 1.25 × input
    (per million: 125,000 / 250,000 / 62,500 / 156,250). A channel build's opencode-beta.db."""
    store, _, _ = load(tmp_path, AGENTS / "opencode/copilot-data", "auto",
                       price("github-copilot", "claude-sonnet-4.5", 125_000, 62_500, 250_000, write=156_250))
    assert totals(store) == {"records": 1, "prompt": 125, "cached": 50, "completion": 10, "writes": 25,
                             "reasoning": 0, "cost_nano": 22_031_250_000, "unpriced": 0}


def test_opencode_k2p6_cost(tmp_path):
    """parser.rs calculates_cost_for_k2p6_when_opencode_stores_zero_cost: 100 / 10 / read 50 →
    $0.000143 at kimi-k2.6's 0.95 / 4 / read 0.16 $ per M."""
    store, _, _ = load(tmp_path, AGENTS / "opencode/k2p6-data", "opencode",
                       price("kimi-for-coding", "k2p6", 0.95, 0.16, 4))
    assert totals(store)["cost_nano"] == 143_000


def test_opencode_fork_copy_is_one_record_and_reasoning_is_revealed_by_the_total(tmp_path):
    """Session.fork copies a message under a new id (ccusage counts it twice); reasoning written
    apart from output (total 4438 = 12 + 436 + 3000 + 200 + 790) is in the completion."""
    store, summary, _ = load(tmp_path, AGENTS / "opencode/fork-data")
    assert summary.imported == 1
    assert totals(store) == {"records": 1, "prompt": 212, "cached": 3000, "completion": 436 + 790, "writes": 200,
                             "reasoning": 790, "cost_nano": 21_500_000, "unpriced": 0}
    assert list(column(store, "id")) == ["opencode:msg_01parent"]


def test_opencode_bad_legacy_files_and_rows(tmp_path):
    folder = tmp_path / "data" / "storage" / "message" / "ses_x"
    folder.mkdir(parents=True)
    good = {"id": "msg_a", "sessionID": "ses_x", "role": "assistant", "providerID": "openai", "modelID": "gpt-4o",
            "time": {"created": 1767312000000}, "tokens": {"input": 5, "output": 1, "cache": {"read": 0, "write": 0}}}
    (folder / "msg_a.json").write_text(json.dumps(good))
    (folder / "msg_b.json").write_text(json.dumps({**good, "id": "msg_b", "tokens": {"input": "5"}}))
    (folder / "msg_c.json").write_text(json.dumps({**good, "id": "msg_c", "time": {}}))
    (folder / "msg_d.json").write_text(json.dumps({**good, "id": "msg_d", "modelID": None}))
    (folder / "msg_e.json").write_text(json.dumps({**good, "id": "msg_e", "cost": -1}))
    store, summary, rejects = load(tmp_path, tmp_path / "data", "opencode")
    assert sorted((Path(j.source).name, j.line, j.reason) for j in rejects) == [
        ("msg_b.json", 1, '`tokens.input` must be an integer, got "5"'),
        ("msg_c.json", 1, "missing required field `time.created`"),
        ("msg_d.json", 1, "missing required field `modelID`"),
        ("msg_e.json", 1, "`cost` must be >= 0, got -1"),
    ]
    assert summary.imported == 1


def test_a_database_without_opencodes_table_is_not_a_usage_file(tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    store = open_store(tmp_path)
    with pytest.raises(ImportFatal, match="not a usage file"):
        import_path(store, str(other))


# -- Gemini CLI --------------------------------------------------------------------------------------
def test_gemini_tokens_separate_cached_input_and_thoughts(tmp_path):
    """adapter/gemini/loader.rs loads_jsonl_token_events_and_separates_cached_input: input 3808,
    output 23, cache read 11526, extra (thoughts) 919; no cost asserted upstream. Priced here at
    0.50 / 0.05 / 3 $ per M (our own check): 3808 × 0.5 + 11526 × 0.05 + 942 × 3 = 5,306.3 µ$."""
    store, summary, _ = load(tmp_path, AGENTS / "gemini/tmp", "auto", price("google", "gemini-3-flash-preview",
                                                                             0.5, 0.05, 3))
    assert summary.imported == 1  # the reply's two lines are one record, the later one
    assert totals(store) == {"records": 1, "prompt": 3808, "cached": 11526, "completion": 23 + 919, "writes": 0,
                             "reasoning": 919, "cost_nano": 5_306_300, "unpriced": 0}


def test_gemini_resumed_legacy_chat_and_its_copy_are_one_record(tmp_path):
    store, summary, _ = load(tmp_path, AGENTS / "gemini/resumed-tmp")  # ccusage counts 2
    assert (summary.files, summary.imported, summary.unchanged) == (2, 1, 0)
    assert list(column(store, "id")) == ["gemini:5c0ffee0-1234-4abc-8def-0123456789ab:msg-a"]
    assert totals(store)["prompt"] == 3808


def test_gemini_bad_lines(tmp_path):
    path = tmp_path / "session-x.jsonl"
    meta = {"sessionId": "s1", "projectHash": "p", "startTime": "2026-05-17T11:00:00.000Z"}

    def reply(i, tokens, model="gemini-2.5-flash", ts="2026-05-17T11:07:32.000Z"):
        return {"id": f"m{i}", "timestamp": ts, "type": "gemini", "content": "", "tokens": tokens,
                **({"model": model} if model else {})}
    path.write_text("".join(json.dumps(x) + "\n" for x in [
        meta,
        reply(0, {"input": 10, "output": 2}, model=None),       # line 2: no model anywhere yet
        reply(1, {"input": 100, "output": 5, "total": 105}),
        reply(2, {"input": 1.5}),                                # line 4
        reply(3, {"input": 7, "output": 1}, model=None),         # the last model seen: gemini-2.5-flash
        reply(4, {"input": 1}, ts="yesterday"),                  # line 6
    ]) + "{oops\n")
    store, summary, rejects = load(tmp_path, path, "gemini")
    assert [(j.line, j.reason) for j in rejects] == [
        (2, "no `model` on this message or any before it"),
        (4, "`tokens.input` must be an integer, got 1.5"),
        (6, '`timestamp` must be an ISO 8601 timestamp with a time, got "yesterday"'),
        (7, "malformed JSON: Expecting property name enclosed in double quotes"),
    ]
    assert column(store, "prompt_tokens") == {"gemini:s1:m1": 100, "gemini:s1:m3": 7}


# -- pi ----------------------------------------------------------------------------------------------
def test_pi_usage_and_logged_cost(tmp_path):
    """src/main.rs loads_pi_agent_jsonl_usage_entries: 100 in / 50 out / write 20 / read 10,
    total 180, cost 0.05, 2026-04-22."""
    store, summary, _ = load(tmp_path, AGENTS / "pi/sessions")
    assert summary.imported == 1
    assert totals(store) == {"records": 1, "prompt": 120, "cached": 10, "completion": 50, "writes": 20,
                             "reasoning": 0, "cost_nano": 50_000_000, "unpriced": 0}
    assert column(store, "model") == {next(iter(column(store, "model"))): "gpt-5.4"}  # no "[pi] " prefix
    assert store.conn.execute("SELECT date(ts_us / 1000000, 'unixepoch') FROM records").fetchone() == ("2026-04-22",)


def test_pi_branch_copy_is_one_record(tmp_path):
    store, summary, _ = load(tmp_path, AGENTS / "pi/branched-sessions")  # ccusage counts 2
    assert (summary.files, summary.imported, summary.unchanged, totals(store)["records"]) == (2, 1, 0, 1)


def test_pi_branch_read_without_its_parent_is_still_the_same_record(tmp_path):
    branch = next(p for p in (AGENTS / "pi/branched-sessions").rglob("*.jsonl") if "9a8b7c6d" in p.name)
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(branch, alone / branch.name)  # its parent's file is not beside it: its copies count
    store, _, _ = load(tmp_path, AGENTS / "pi/sessions")
    later = import_path(store, str(alone), "pi", viewer="carol")
    assert (later.imported, later.replaced, totals(store)["records"]) == (0, 1, 1)  # the same id


def test_pi_zero_cost_is_not_a_cost_and_bad_lines(tmp_path):
    source = (AGENTS / "pi/sessions").rglob("*.jsonl").__next__().read_text().splitlines()
    entry = json.loads(source[3])
    unpriced = copy.deepcopy(entry)
    unpriced["message"].update(model="house-model", provider="acme", timestamp=1776819800000)
    unpriced["message"]["usage"]["cost"] = {"total": 0}
    bad = copy.deepcopy(entry)
    bad["message"]["usage"]["cacheRead"] = "10"
    path = tmp_path / "2026-04-22T01-02-00-000Z_abc.jsonl"
    path.write_text("\n".join([source[0], json.dumps(unpriced), json.dumps(bad), "nope"]) + "\n")
    store, summary, rejects = load(tmp_path, path, "pi")
    assert [(j.line, j.reason) for j in rejects] == [
        (3, '`usage.cacheRead` must be an integer, got "10"'),
        (4, "malformed JSON: Expecting value")]
    assert totals(store)["unpriced"] == 1  # a logged 0 is left out: counted unpriced, never $0
    assert column(store, "cost_logged_nano") == {next(iter(column(store, "id"))): None}


# -- Amp ---------------------------------------------------------------------------------------------
HAIKU = price("anthropic", "claude-haiku-4-5-20251001", 1, 0.1, 5, write=1.25)


def test_amp_ledger_and_messages(tmp_path):
    """Legacy TS apps/amp/src/data-loader.ts (T-test-thread-123: 100 in / 50 out, write 500, read
    200, credits 1.5) and parser.rs reads_usage_from_messages_when_ledger_is_missing (T-thread-a:
    10/178/986/11372 and 5/42/0/12000). No cost is asserted for these files; at claude-haiku-4-5's
    1 / 5, read 0.10, write 1.25 $ per M (the prices of the TS pricing test), ccusage's formula
    gives T-test-thread-123 100 + 250 + 20 + 625 = 995 µ$."""
    store, summary, _ = load(tmp_path, AGENTS / "amp/threads", "auto", HAIKU)
    assert summary.imported == 3
    t = totals(store)
    assert (t["records"], t["prompt"], t["cached"], t["completion"], t["writes"]) == (
        3, 600 + 996 + 5, 200 + 11372 + 12000, 50 + 178 + 42, 500 + 986)
    assert column(store, "cost_nano")["amp:T-test-thread-123:event-1"] == 995_000
    assert set(column(store, "provider").values()) == {"anthropic"}  # inferred from the model
    meta = json.loads(column(store, "metadata")["amp:T-test-thread-123:event-1"])
    assert (meta["credits"], meta["operation"], meta["title"]) == (1.5, "inference", "Test Thread")
    assert column(store, "cost_logged_nano")["amp:T-test-thread-123:event-1"] is None  # credits are not USD


def test_amp_ledger_event_takes_the_cache_counts_of_its_message(tmp_path):
    """src/main.rs loads_amp_thread_usage_events: 100 / 50 / write 20 / read 10, credits 1.25."""
    store, _, _ = load(tmp_path, AGENTS / "amp/ledger-threads")
    t = totals(store)
    assert (t["records"], t["prompt"], t["cached"], t["completion"], t["writes"]) == (1, 120, 10, 50, 20)
    assert json.loads(next(iter(column(store, "metadata").values())))["credits"] == 1.25


def test_amp_rewritten_thread_replaces_and_a_bad_event_is_one_reject(tmp_path):
    thread = json.loads((AGENTS / "amp/threads/T-test-thread-123.json").read_text())
    path = tmp_path / "T-test-thread-123.json"
    path.write_text(json.dumps(thread))
    store, _, _ = load(tmp_path, path)
    events = thread["usageLedger"]["events"]
    events[0]["tokens"]["output"] = 80  # the thread went on: rewritten whole
    events.append({**events[0], "id": "event-2", "timestamp": None})
    events.append({**events[0], "id": "event-3", "tokens": {"input": 1, "output": 1}})
    path.write_text(json.dumps(thread))
    rejects = []
    again = import_path(store, str(path), "amp", viewer="carol", on_reject=rejects.append)
    assert [(j.line, j.reason) for j in rejects] == [
        (1, "usageLedger.events[1]: missing required field `timestamp`")]
    assert (again.imported, again.replaced) == (1, 1)
    assert column(store, "completion_tokens") == {"amp:T-test-thread-123:event-1": 80,
                                                  "amp:T-test-thread-123:event-3": 1}


def test_amp_ids_that_are_not_names_do_not_match(tmp_path):
    """A messageId or toMessageId that is a list or an object names no message (no crash)."""
    path = tmp_path / "T-1.json"
    path.write_text(json.dumps({"v": 1, "id": "T-1", "messages": [
        {"role": "assistant", "messageId": [1], "usage": {"cacheReadInputTokens": 7}}], "usageLedger": {"events": [
            {"id": "e", "timestamp": "2026-01-01T00:00:00Z", "model": "claude-haiku-4-5", "tokens": {"input": 3},
             "toMessageId": {"a": 1}}]}}))
    store, summary, rejects = load(tmp_path, path)
    assert (summary.imported, rejects) == (1, [])
    assert (totals(store)["prompt"], totals(store)["cached"]) == (3, 0)


# -- every agent -------------------------------------------------------------------------------------
FIXTURES = {
    "codex": "codex/snapshot-home/sessions/2026/01/05/rollout-2026-01-05T23-59-00-0199a1b2-0000-7000-8000-"
             "00000000000b.jsonl",
    "opencode": "opencode/data/storage/message/ses_json/msg_json.json",
    "gemini": "gemini/resumed-tmp/project-a/chats/session-2026-05-17T11-07-5c0ffee0.json",
    "pi": "pi/sessions/--home-dev-shop--/2026-04-22T01-02-00-000Z_7d3f0c1e-5b2a-4c8d-9e6f-0a1b2c3d4e5f.jsonl",
    "amp": "amp/threads/T-thread-a.json",
}


def head(path: Path) -> str:
    return path.read_bytes()[:65536].decode("utf-8-sig", errors="ignore")


@pytest.mark.parametrize("fmt", FIXTURES)
def test_each_agent_format_claims_only_its_own_files(fmt):
    assert detect_format(head(AGENTS / FIXTURES[fmt])) == fmt
    for other in ("litellm_spendlogs.json", "litellm_spendlogs.csv", "openai_usage_completions.json", "example.jsonl",
                  "example.csv", "claude-code/projects/-home-alice-src-shop/5b1e0c3a-7d2f-4c1e-9a8b-2f3e4d5c6b7a.jsonl"):
        assert detect_format(head(SAMPLES / other)) != fmt, other


def test_detection_takes_any_json_value_in_any_field():
    """Found by test_fuzz_agents: a `type` that is a list made codex.detect raise (a set lookup)
    for every file in auto mode."""
    for value in ([], {}, [1], 1.5, None):
        assert detect_format(json.dumps({"type": value, "payload": {}, "timestamp": "x", "id": value}) + "\n") is None


@pytest.mark.parametrize("fmt", FIXTURES)
def test_a_folder_with_nothing_of_the_agent_is_refused_by_name(tmp_path, fmt):
    folder = tmp_path / "other"
    folder.mkdir()
    shutil.copy(SAMPLES / "example.jsonl", folder / "example.jsonl")
    store = open_store(tmp_path)
    with pytest.raises(ImportFatal, match=f"nothing in them is {fmt} usage"):
        import_path(store, str(folder), fmt)
    assert totals(store)["records"] == 0


def test_amp_thread_whose_messages_is_not_a_list_still_reads_its_ledger(tmp_path):
    """The fuzzer's case (CI, stop 31): `messages: true` ended in a TypeError traceback. The
    ledger's event stands alone: 100 in, 50 out, no message to take cache counts from."""
    thread = json.loads((AGENTS / "amp/threads/T-test-thread-123.json").read_text())
    thread["messages"] = True
    path = tmp_path / "T-test-thread-123.json"
    path.write_text(json.dumps(thread))
    store, summary, _ = load(tmp_path, path, "amp")
    t = totals(store)
    assert (summary.imported, t["prompt"], t["cached"], t["completion"], t["writes"]) == (1, 100, 0, 50, 0)
