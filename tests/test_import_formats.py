"""Importers of other tools' formats (issue 6): the sample files import to totals computed by hand
from the issue's mappings, with --format and auto-detected, twice without double counting; bad
lines are rejects at their real line; each format's own rules."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.ingest import ImportFatal, detect_format, import_path

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
CLAUDE_PROJECTS = SAMPLES / "claude-code" / "projects"
SESSION = CLAUDE_PROJECTS / "-home-alice-src-shop" / "5b1e0c3a-7d2f-4c1e-9a8b-2f3e4d5c6b7a.jsonl"

# name: (path, format, expected totals, records a re-import finds unchanged)
CASES = {
    "litellm-json": (
        "litellm_spendlogs.json", "litellm",
        # prompt_tokens minus cached: (1500 - 600 prompt_tokens_details) + (5000 - 2000 cache_read) + 120
        # cached 600 + 2000 + 0; completion 350 + 600 + 0; spend 0.004125 + 0.0213 + 0.0 (all logged)
        {"requests": 3, "prompt_tokens": 4020, "cached_input_tokens": 2600, "completion_tokens": 950,
         "cost_usd": 0.025425, "unpriced_requests": 0},
        3),
    "litellm-csv": (
        "litellm_spendlogs.csv", "litellm",
        # prompt (1200 - 200) + 3000 + (2500 - 1500); cached 200 + 0 + 1500; completion 200 + 300 + 150;
        # spend 0.0031 + 0.0102 + 0.0012
        {"requests": 3, "prompt_tokens": 5000, "cached_input_tokens": 1700, "completion_tokens": 650,
         "cost_usd": 0.0145, "unpriced_requests": 0},
        3),
    "openai": (
        "openai_usage_completions.json", "openai",
        # results with requests: 20 + 2 + 5 (the 0-request result is no record);
        # prompt (12000 - 4000) + (800 - 0) + (5000 - 1000); cached 4000 + 0 + 1000;
        # completion 3000 + 100 + 1000.
        # Prices per Mtok (input, cached input, output): gpt-4o-mini 0.15, 0.075, 0.60 →
        # 8000×0.15 + 4000×0.075 + 3000×0.60 = 3300 µ$; gpt-4o 2.50, 1.25, 10 →
        # 4000×2.50 + 1000×1.25 + 1000×10 = 21250 µ$; model null → "unknown": its 2 requests unpriced
        {"requests": 27, "prompt_tokens": 12800, "cached_input_tokens": 5000, "completion_tokens": 4100,
         "cost_usd": 0.02455, "unpriced_requests": 2},
        3),
    "claude-code": (
        "claude-code/projects", "claude-code",
        # msg_01AAA (the last of its two streamed lines): prompt 4 + 2000 cache writes, cached 10000,
        #   output 250; sonnet-4.5 per Mtok: 4×3 + 2000×3.75 (writes) + 10000×0.30 + 250×15 = 14262 µ$
        # msg_01BBB: prompt 10 + 500, cached 12000, output 400, costUSD 0.0123 logged
        # msg_01CCC (subagent file): prompt 1200 + 800, cached 3000, output 180; haiku-4.5 per Mtok:
        #   1200×1 + 800×1.25 + 3000×0.10 + 180×5 = 3400 µ$
        # <synthetic> line, user/summary/snapshot lines and sessions-index.json: nothing
        {"requests": 3, "prompt_tokens": 2004 + 510 + 2000, "cached_input_tokens": 10000 + 12000 + 3000,
         "completion_tokens": 250 + 400 + 180, "cost_usd": 0.014262 + 0.0123 + 0.0034,
         "unpriced_requests": 0},
        3),  # records, not lines: the two streamed lines of msg_01AAA are one
}


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def cli_totals(db: str) -> dict:
    result = run("spend", "summary", "--db", db, "--scope", "org", "--since", "2026-11-01",
                 "--until", "2026-11-30", "--tz", "UTC", "--format", "json")
    assert result.exit_code == 0, result.output
    totals = json.loads(result.output)["totals"]
    return {k: totals[k] for k in CASES["openai"][2]}


@pytest.fixture
def db(store, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_USER", "alice")  # org admin in the test directory
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    return str(store.path)


@pytest.mark.parametrize("named", [True, False], ids=["--format", "auto"])
@pytest.mark.parametrize("case", list(CASES))
def test_sample_imports_to_hand_computed_totals_twice(db, store, case, named):
    path, fmt, expected, lines = CASES[case]
    args = ["import", str(SAMPLES / path), "--db", db, *(["--format", fmt] if named else [])]
    first = run(*args)
    assert first.exit_code == 0, first.output
    assert cli_totals(db) == pytest.approx(expected, abs=1e-9)
    second = run(*args)
    assert second.exit_code == 0
    assert second.stdout.splitlines()[-1] == f"imported 0, replaced 0, unchanged {lines}, rejected 0"
    assert cli_totals(db) == pytest.approx(expected, abs=1e-9)
    formats = store.conn.execute(
        "SELECT DISTINCT s.format FROM records r JOIN sources s ON s.id = r.source_id").fetchall()
    assert formats == [(fmt,)]


def head(path: Path) -> str:
    return path.read_bytes()[:65536].decode("utf-8-sig", errors="ignore")


@pytest.mark.parametrize("path, fmt", [
    ("litellm_spendlogs.json", "litellm"), ("litellm_spendlogs.csv", "litellm"),
    ("openai_usage_completions.json", "openai"), (SESSION, "claude-code"),
    ("example.jsonl", "native"), ("example.csv", "native"),
    (SESSION.parent / "sessions-index.json", None),
])
def test_each_format_claims_only_its_own_files(path, fmt):
    assert detect_format(head(SAMPLES / path)) == fmt


def test_detection_when_no_whole_record_fits_the_head(tmp_path):
    row = json.loads((SAMPLES / "litellm_spendlogs.json").read_text())[0]
    page = json.loads((SAMPLES / "openai_usage_completions.json").read_text())
    line = json.loads(SESSION.read_text().splitlines()[2])
    long_prompt = "x" * 70_000
    files = {
        "array.json": (json.dumps([row] * 200, indent=2), "litellm"),
        "prompts.jsonl": (json.dumps({**row, "messages": long_prompt}) + "\n", "litellm"),
        "page.json": (json.dumps({**page, "data": page["data"] * 200}, indent=2), "openai"),
        "session.jsonl": (json.dumps({**line, "message": {"role": "user", "content": long_prompt}},
                                     separators=(",", ":")) + "\n", "claude-code"),
    }
    for name, (text, fmt) in files.items():
        (tmp_path / name).write_text(text)
        assert len(text) > 65536 and detect_format(head(tmp_path / name)) == fmt, name


def records(store, *columns: str) -> dict:
    return {r[0]: r[1:] for r in store.conn.execute(f"SELECT id, {', '.join(columns)} FROM records")}


def write_jsonl(path: Path, *lines) -> str:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return str(path)


# -- LiteLLM ----------------------------------------------------------------------------------------
def test_litellm_mapping(store):
    import_path(store, str(SAMPLES / "litellm_spendlogs.json"), "litellm")
    import_path(store, str(SAMPLES / "litellm_spendlogs.csv"), "litellm")
    rows = records(store, "provider", "model", "user_raw", "key", "team_raw", "agent", "status", "ts_us")
    assert rows["chatcmpl-9f1c2d3e-0001"][:7] == ("openai", "gpt-4o", "alice", "gk_live_8f2a", "platform",
                                                   None, 200)
    # empty custom_llm_provider, user, team_id, agent_id are absent: the provider comes from the prefix
    assert rows["chatcmpl-9f1c2d3e-0002"][:7] == ("anthropic", "claude-sonnet-4-5", None, "gk_live_b71c",
                                                   None, None, 200)
    # a failure's status is its error_information.error_code when that is an HTTP status (issue 12)
    assert rows["chatcmpl-9f1c2d3e-0003"][:7] == ("gemini", "gemini-2.5-flash", "erin", "gk_live_c0d3",
                                                   None, "paper-digest", 503)
    # the prefix is the provider's: stripped; psql's timestamp without time zone is UTC
    assert rows["chatcmpl-csv-0002"][:7] == ("azure", "gpt-4o", None, "gk_live_d4e5", None, None, 200)
    assert rows["chatcmpl-csv-0001"][7] == 1795341600_500000  # 2026-11-22 10:00:00.5 UTC
    meta = records(store, "metadata")
    assert json.loads(meta["chatcmpl-9f1c2d3e-0001"][0]) == {
        "call_type": "acompletion", "end_user": "customer-42", "model_group": "gpt-4o",
        "request_tags": ["checkout", "prod"], "session_id": "sess-a1"}
    assert json.loads(meta["chatcmpl-csv-0001"][0]) == {  # CSV: request_tags parsed from its JSON text
        "call_type": "acompletion", "model_group": "gpt-4o-mini", "request_tags": ["batch"]}


def test_litellm_cached_tokens_are_taken_out_of_the_prompt(store, tmp_path):
    base = {"startTime": "2026-11-20T10:00:00Z", "model": "gpt-4o", "custom_llm_provider": "openai",
            "spend": 0.1, "prompt_tokens": 1000, "completion_tokens": 5}
    usage = {"prompt_tokens_details": {"cached_tokens": 300}, "cache_read_input_tokens": 700}
    path = write_jsonl(
        tmp_path / "spend.jsonl",
        {**base, "request_id": "details-win", "metadata": {"usage_object": usage}},
        {**base, "request_id": "cache-read",
         "metadata": {"usage_object": {"prompt_tokens_details": None, "cache_read_input_tokens": 700}}},
        {**base, "request_id": "as-text", "metadata": json.dumps({"usage_object": usage})},
        {**base, "request_id": "none", "metadata": {}},
    )
    assert import_path(store, path).imported == 4
    assert records(store, "prompt_tokens", "cached_input_tokens") == {
        "details-win": (700, 300), "cache-read": (300, 700), "as-text": (700, 300), "none": (1000, 0)}


def test_litellm_a_fully_cached_prompt_imports(store, tmp_path):
    """The boundary of `cached > prompt`: cached == prompt is a prompt served wholly from the cache."""
    base = {"startTime": "2026-11-20T10:00:00Z", "model": "gpt-4o", "custom_llm_provider": "openai",
            "spend": 0.1, "completion_tokens": 5}
    path = write_jsonl(
        tmp_path / "spend.jsonl",
        {**base, "request_id": "all-cached", "prompt_tokens": 1000,
         "metadata": {"usage_object": {"prompt_tokens_details": {"cached_tokens": 1000}}}},
        {**base, "request_id": "one-over", "prompt_tokens": 999,
         "metadata": {"usage_object": {"prompt_tokens_details": {"cached_tokens": 1000}}}},
    )
    seen = []
    summary = import_path(store, path, on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (1, 1)
    # 1000 - 1000 uncached, 1000 cached
    assert records(store, "prompt_tokens", "cached_input_tokens") == {"all-cached": (0, 1000)}
    assert [(j.line, j.reason) for j in seen] == [(2, "cached tokens (1000) exceed `prompt_tokens` (999)")]


def test_litellm_empty_cells_are_absent(store, tmp_path):
    header = ("request_id,startTime,model,custom_llm_provider,user,api_key,team_id,agent_id,spend,"
              "prompt_tokens,completion_tokens,metadata,status\n")
    path = tmp_path / "spend.csv"
    path.write_text(header + 'r1,2026-11-20 10:00:00,openai/gpt-4o,"","",,"",,"",1000,100,,\n')
    assert import_path(store, str(path)).imported == 1
    assert records(store, "provider", "model", "user_raw", "key", "team_raw", "agent", "cost_logged_nano",
                   "cost_nano", "status") == {
        # no spend logged: priced, 1000 × 2.50 + 100 × 10 per Mtok = 3500 µ$
        "r1": ("openai", "gpt-4o", None, None, None, None, None, 3_500_000, 200)}


def test_litellm_bad_json_lines_are_rejects_at_their_line(store, tmp_path):
    good = {"request_id": "r1", "startTime": "2026-11-20T10:00:00", "model": "openai/gpt-4o", "spend": 0.5,
            "prompt_tokens": 10, "completion_tokens": 5}
    path = write_jsonl(
        tmp_path / "spend.jsonl",
        "{oops",  # a bad first line must not hide the good lines after it
        good,
        {**good, "request_id": "r3", "prompt_tokens": "many"},
        {**good, "request_id": "r4", "metadata": {"usage_object": {"cache_read_input_tokens": 11}}},
        {**good, "request_id": "r5", "model": "gpt-4o"},  # no provider: inferred (issue 12), imported
        {**good, "request_id": "r6", "startTime": "yesterday"},
        {**good, "request_id": "", "spend": -1},
        {**good, "request_id": "r8", "spend": -1},
        [1, 2],
    )
    seen = []
    summary = import_path(store, path, on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (2, 7)
    assert [(j.line, j.reason) for j in seen] == [
        (1, "malformed JSON: Expecting property name enclosed in double quotes"),
        (3, '`prompt_tokens` must be an integer, got "many"'),
        (4, "cached tokens (11) exceed `prompt_tokens` (10)"),
        (6, '`startTime` must be an ISO 8601 timestamp with a time, got "yesterday"'),
        (7, "missing required field `request_id`"),
        (8, "`spend` must be a finite number >= 0, got -1"),
        (9, "not a JSON object"),
    ]
    assert store.rejects(path)[-1]["raw"] == "{oops"


def test_litellm_negative_token_counts_are_named_as_such(store, tmp_path):
    """Reviewer's repro: `prompt_tokens: -5` was rejected as "cached tokens (0) exceed
    `prompt_tokens` (-5)". A count below zero is reported as itself, before any comparison."""
    good = {"request_id": "r1", "startTime": "2026-11-20T10:00:00", "model": "openai/gpt-4o", "spend": 0.5,
            "prompt_tokens": 10, "completion_tokens": 5}
    usage = {"usage_object": {"cache_read_input_tokens": -3}}
    path = write_jsonl(tmp_path / "negative.jsonl", good,
                       {**good, "request_id": "r2", "prompt_tokens": -5},
                       {**good, "request_id": "r3", "completion_tokens": -1},
                       {**good, "request_id": "r4", "metadata": usage},
                       {**good, "request_id": "r5", "metadata": {"usage_object": {"cache_creation_input_tokens": -2}}})
    seen = []
    summary = import_path(store, path, on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (1, 4)
    assert [(j.line, j.reason) for j in seen] == [
        (2, "`prompt_tokens` must be >= 0, got -5"),
        (3, "`completion_tokens` must be >= 0, got -1"),
        (4, "`metadata.usage_object cached tokens` must be >= 0, got -3"),
        (5, "`metadata.usage_object.cache_creation_input_tokens` must be >= 0, got -2"),
    ]


def test_litellm_bad_csv_rows_are_rejects_at_their_first_line(store, tmp_path):
    header = "request_id,startTime,model,custom_llm_provider,spend,prompt_tokens,completion_tokens,metadata\n"
    multi_line = '"{\n  ""usage_object"": {""cache_read_input_tokens"": 2}\n}"'
    path = tmp_path / "spend.csv"
    path.write_text(header
                    + f"r1,2026-11-20 10:00:00,gpt-4o,openai,0.1,10,5,{multi_line}\n"   # lines 2-4
                    + "r2,2026-11-20 10:00:00,gpt-4o,openai,lots,10,5,\n"              # line 5
                    + "\n"
                    + "r3,2026-11-20 10:00:00,gpt-4o,openai,0.1,10\n"                  # line 7
                    + f"r4,2026-11-20 10:00:00,gpt-4o,openai,0.1,1,5,{multi_line}\n")  # lines 8-10
    seen = []
    summary = import_path(store, str(path), "litellm", on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (1, 3)
    assert [(j.line, j.reason) for j in seen] == [
        (5, '`spend` must be a number, got "lots"'),
        (7, "expected 8 columns, found 6"),
        (8, "cached tokens (2) exceed `prompt_tokens` (1)"),
    ]
    assert seen[1].raw == "r3,2026-11-20 10:00:00,gpt-4o,openai,0.1,10"
    assert records(store, "prompt_tokens", "cached_input_tokens") == {"r1": (8, 2)}


def test_litellm_bad_array_elements_name_their_position(store, tmp_path):
    rows = json.loads((SAMPLES / "litellm_spendlogs.json").read_text())
    path = tmp_path / "logs.json"
    path.write_text(json.dumps([rows[0], {**rows[1], "completion_tokens": -3}, "oops", rows[2]], indent=2))
    seen = []
    summary = import_path(store, str(path), "auto", on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (2, 2)
    assert [(j.line, j.reason) for j in seen] == [
        (2, "element 2: `completion_tokens` must be >= 0, got -3"), (3, "element 3: not a JSON object")]


def test_a_malformed_json_array_is_one_reject(store, tmp_path):
    path = tmp_path / "logs.json"
    path.write_text((SAMPLES / "litellm_spendlogs.json").read_text()[:-3])
    seen = []
    summary = import_path(store, str(path), "litellm", on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (0, 1)
    assert seen[0].reason.startswith("malformed JSON document")


# -- OpenAI -----------------------------------------------------------------------------------------
def sample_page() -> dict:
    return json.loads((SAMPLES / "openai_usage_completions.json").read_text())


def test_openai_mapping(store):
    import_path(store, str(SAMPLES / "openai_usage_completions.json"))
    rows = records(store, "ts_us", "provider", "model", "user_raw", "key", "team_raw", "requests", "service_tier",
                   "batch", "metadata")
    assert len(rows) == 3 and all(rid.startswith("openai:") for rid in rows)
    assert sorted(r[:7] for r in rows.values()) == [
        (1795132800_000000, "openai", "gpt-4o-mini-2024-07-18", "user-alice", "key_abc", "proj_platform", 20),
        (1795132800_000000, "openai", "unknown", None, "key_def", "proj_research", 2),
        (1795219200_000000, "openai", "gpt-4o-2024-08-06", "user-alice", "key_abc", "proj_platform", 5),
    ]
    # batch and service_tier are the record's own columns since schema 4 (they change the price)
    assert sorted((r[7] or "", r[8], r[9]) for r in rows.values()) == [
        ("", 1, None), ("default", 0, None), ("default", 0, None)]


def test_openai_ids_are_stable_and_reimport_replaces(store, tmp_path):
    import_path(store, str(SAMPLES / "openai_usage_completions.json"), "openai")
    ids = set(records(store, "model"))
    page = sample_page()
    page["data"][0]["results"][0]["output_tokens"] = 3500  # the provider revised the bucket
    path = write_jsonl(tmp_path / "usage.jsonl", page)  # JSON lines of pages this time
    summary = import_path(store, path, "auto")
    assert (summary.imported, summary.replaced, summary.unchanged) == (0, 1, 2)
    assert set(records(store, "model")) == ids
    assert sum(r[0] for r in records(store, "completion_tokens").values()) == 3500 + 100 + 1000


def test_openai_array_of_pages(store, tmp_path):
    page = sample_page()
    first, second = dict(page, data=page["data"][:1]), dict(page, data=page["data"][1:])
    path = tmp_path / "pages.json"
    path.write_text(json.dumps([first, second, {"object": "page", "data": [], "has_more": False}], indent=2))
    summary = import_path(store, str(path), "auto")
    assert (summary.imported, summary.rejected) == (3, 0)


def test_openai_bad_pages_and_results_are_rejects_at_their_line(store, tmp_path):
    result = sample_page()["data"][0]["results"][0]
    bucket = {"object": "bucket", "start_time": 1795132800, "end_time": 1795219200}
    path = write_jsonl(
        tmp_path / "usage.jsonl",
        "{not json",
        {"object": "page", "data": [{**bucket, "results": [
            result, {**result, "model": "gpt-4o", "input_cached_tokens": 20000}, "x"]}]},
        {"object": "list", "data": []},
        {"object": "page", "data": [{**bucket, "start_time": "monday", "results": [result]},
                                    {**bucket, "start_time": 1795219200,
                                     "results": [{**result, "num_model_requests": -1}]},
                                    {**bucket, "results": {"not": "a list"}}]},
    )
    seen = []
    summary = import_path(store, path, on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (1, 7)
    assert [(j.line, j.reason) for j in seen] == [
        (1, "malformed JSON: Expecting property name enclosed in double quotes"),
        (2, "bucket 1, result 2: `input_cached_tokens` (20000) exceed `input_tokens` (12000)"),
        (2, "bucket 1, result 3: not a result object"),
        (3, 'not a usage page (expected {"object": "page", "data": [...]}, or a bucket)'),
        (4, 'bucket 1: `start_time` must be Unix seconds, got "monday"'),
        (4, "bucket 2, result 1: `num_model_requests` must be >= 1, got -1"),
        (4, 'bucket 3: `results` must be a list, got {"not": "a list"}'),
    ]


def test_openai_other_usage_pages_are_not_completions(store, tmp_path):
    page = sample_page()
    for bucket in page["data"]:
        for result in bucket.get("results", bucket.get("result")):
            result["object"] = "organization.usage.embeddings.result"
    path = tmp_path / "embeddings.json"
    path.write_text(json.dumps(page))
    assert detect_format(path.read_text()) is None
    # a forced format that matches no line is refused whole, naming its first reason (no rejects)
    with pytest.raises(ImportFatal) as refused:
        import_path(store, str(path), "openai")
    assert str(refused.value) == (  # one page on one line: JSON lines
        f"{path}: nothing in it is openai usage (line 1: bucket 1, result 1: not a completions usage result "
        '("organization.usage.embeddings.result"); try --format auto)')
    assert store.conn.execute("SELECT count(*) FROM rejects").fetchone() == (0,)


# -- Claude Code ------------------------------------------------------------------------------------
def test_claude_code_records(store):
    summary = import_path(store, str(CLAUDE_PROJECTS), "claude-code", viewer="carol")
    # the two streamed lines of msg_01AAA are one record (the later wins), counted once
    assert (summary.imported, summary.replaced, summary.rejected) == (3, 0, 0)
    rows = records(store, "provider", "model", "user_raw", "prompt_tokens", "cached_input_tokens",
                   "cache_write_tokens", "completion_tokens", "cost_logged_nano")
    sonnet = ("anthropic", "claude-sonnet-4-5-20250929", "carol")
    haiku = ("anthropic", "claude-haiku-4-5-20251001", "carol")
    assert rows == {
        "msg_01AAA:req_011AAA": (*sonnet, 2004, 10000, 2000, 250, None),
        "msg_01BBB:req_011BBB": (*sonnet, 510, 12000, 500, 400, 12_300_000),
        "msg_01CCC:req_011CCC": (*haiku, 2000, 3000, 800, 180, None),
    }  # no user, summary, snapshot or <synthetic> line became a record
    meta = json.loads(records(store, "metadata")["msg_01BBB:req_011BBB"][0])
    assert meta == {"sessionId": "5b1e0c3a-7d2f-4c1e-9a8b-2f3e4d5c6b7a", "cwd": "/home/alice/src/shop",
                    "gitBranch": "main", "version": "2.0.14"}


def test_claude_code_user_option_wins_over_the_viewer(store):
    import_path(store, str(CLAUDE_PROJECTS), "auto", user="bob", viewer="carol")
    assert {r[0] for r in records(store, "user_raw").values()} == {"bob"}


def test_claude_code_skips_other_lines_and_rejects_malformed_ones(store, tmp_path):
    lines = SESSION.read_text().splitlines()
    assistant = json.loads(lines[4])
    no_request = {**assistant, "message": {**assistant["message"], "id": "msg_01DDD"}}
    del no_request["requestId"]
    path = write_jsonl(
        tmp_path / "s.jsonl",
        *lines[:3],                                              # summary, snapshot, user: skipped
        "{broken",                                               # line 4
        lines[4],
        {"type": "system", "subtype": "compact_boundary", "sessionId": "s", "uuid": "x"},  # skipped
        {**assistant, "timestamp": "not a time"},                # line 7
        {**assistant, "message": {**assistant["message"], "usage": {"input_tokens": -4}}},  # line 8
        no_request,
        lines[-1],                                               # <synthetic>: skipped
        "42",                                                    # line 11
    )
    seen = []
    summary = import_path(store, path, "claude-code", on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (2, 4)
    assert [(j.line, j.reason) for j in seen] == [
        (4, "malformed JSON: Expecting property name enclosed in double quotes"),
        (7, '`timestamp` must be an ISO 8601 timestamp with a time, got "not a time"'),
        (8, "`input_tokens` must be >= 0, got -4"),
        (11, "not a JSON object"),
    ]
    assert set(records(store, "model")) == {"msg_01AAA:req_011AAA", "msg_01DDD"}


def test_claude_code_session_from_stdin(db, store):
    result = CliRunner().invoke(cli, ["import", "-", "--db", db], input=SESSION.read_bytes())
    assert result.exit_code == 0, result.output
    # records, not lines: msg_01AAA's two streamed lines are one record (issue 12)
    assert result.stdout.splitlines()[-1] == "imported 2, replaced 0, unchanged 0, rejected 0"
    assert {r[0] for r in records(store, "user_raw").values()} == {"alice"}  # the viewer


def test_reject_lines_reach_the_cli(db, tmp_path):
    rows = list(csv.reader(io.StringIO((SAMPLES / "litellm_spendlogs.csv").read_text())))
    rows[2][3] = "-0.5"  # spend of the second data row, on line 3
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path = tmp_path / "spend.csv"
    path.write_text(out.getvalue())
    result = run("import", str(path), "--db", db)
    assert result.exit_code == 1
    assert f"{path}:3: `spend` must be a finite number >= 0, got -0.5" in result.stderr
    assert result.stdout.splitlines()[-1] == "imported 2, replaced 0, unchanged 0, rejected 1"
