"""Real exports from the wild (issue 12): files shaped as LiteLLM, OpenAI and Claude Code write
them import every record and price it like the bill. The files are in tests/data/ (written by
the make_*_samples.py scripts beside them); each test names the schema or doc it follows.
Expected values are computed by hand in the comments, from genai-prices' published rates."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from genai_prices import Usage, calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_tui.cli import cli
from usage_tui.directory import Price
from usage_tui.ingest import detect_format, import_path
from usage_tui.model import Record
from usage_tui.pricing import Pricer
from usage_tui.store import Store

DATA = Path(__file__).resolve().parent / "data"
SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
CLAUDE = DATA / "claude-code"
M = 1_000  # nano-dollars per micro-dollar: costs below are written in µ$ × M


@pytest.fixture
def db(store, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_USER", "alice")  # org admin in the test directory
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    return str(store.path)


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def rows(store: Store, *columns: str) -> dict[str, tuple]:
    return {r[0]: tuple(r[1:]) for r in store.conn.execute(f"SELECT id, {', '.join(columns)} FROM records")}


def head(path: Path) -> str:
    return path.read_bytes()[:65536].decode("utf-8-sig", errors="ignore")


# -- LiteLLM ----------------------------------------------------------------------------------------
def litellm_id(n: int) -> str:
    return f"chatcmpl-7b3e{n:02d}a1-5c2d-4e8f-9a0b-1c2d3e4f5a{n:02d}"


# request n: (provider, model, status, cost in µ$ or None, prompt, cached, completion, cache writes, logged)
LITELLM_12 = {
    1: ("openai", "gpt-4o", 200, 6000, 1200, 0, 300, 0, True),
    # prompt_tokens 2500 include 2000 cached reads (usage_object.prompt_tokens_details.cached_tokens)
    2: ("anthropic", "claude-sonnet-4-5", 200, 8700, 500, 2000, 400, 0, True),
    # empty custom_llm_provider, no prefix: genai-prices serves gpt-4o-mini from openai
    3: ("openai", "gpt-4o-mini", 200, 270, 1000, 0, 200, 0, True),
    # empty custom_llm_provider: the provider/ prefix of the model
    4: ("anthropic", "claude-haiku-4-5", 200, 2200, 1500, 0, 120, 0, True),
    # refused before routing: no provider, a model alias nobody knows, error_code "400"
    5: ("unknown", "team-b-default", 400, 0, 0, 0, 0, 0, True),
    # spend 0.0 on a success with tokens: priced, gpt-4o $2.50 in, $10 out per Mtok:
    # 1000 × 2.5 + 200 × 10 = 4500 µ$
    6: ("openai", "gpt-4o", 200, 4500, 1000, 0, 200, 0, False),
    # error_code "429", no tokens: $0
    7: ("anthropic", "claude-sonnet-4-5", 429, 0, 0, 0, 0, 0, True),
    # cache_hit "True": answered by LiteLLM's cache, the 0.0 stands
    8: ("openai", "gpt-4o-mini", 200, 0, 500, 0, 100, 0, True),
    # spend 0.0, prompt 5000 = 1000 uncached + 1000 cache writes + 3000 cache reads; sonnet-4.5
    # $3 in, $3.75 write, $0.30 read, $15 out: 1000×3 + 1000×3.75 + 3000×0.3 + 200×15 = 10650 µ$
    9: ("anthropic", "claude-sonnet-4-5", 200, 10650, 2000, 3000, 200, 1000, False),
    # error_code null (APIConnectionError): 500
    10: ("openai", "gpt-4o", 500, 0, 0, 0, 0, 0, True),
    11: ("openai", "text-embedding-3-small", 200, 16, 800, 0, 0, 0, True),
    12: ("azure", "gpt-4o", 200, 10500, 2000, 0, 550, 0, True),
}
LITELLM_12_COST_USD = sum(v[3] for v in LITELLM_12.values()) / 1e6  # 42836 µ$


@pytest.mark.parametrize("name", ["litellm_12_rows.json", "litellm_12_rows.jsonl", "litellm_12_rows.csv"])
def test_litellm_twelve_real_shaped_rows_import_alike_from_json_json_lines_and_psql_csv(tmp_path, name):
    """LiteLLM_SpendLogs rows as litellm/proxy/schema.prisma defines them (custom_llm_provider
    String? @default(""), spend Float @default(0.0), status success/failure) and as
    spend_tracking_utils.get_logging_payload fills them (metadata.error_information.error_code,
    metadata.usage_object): the /spend/logs JSON array, JSON lines, and psql's
    `\\copy ... WITH CSV HEADER` (timestamp(3) without time zone, JSON columns as text)."""
    db = str(tmp_path / "u.db")
    # as the store's owner (its creator): imports anyone's usage (with --as alice, an unknown user
    # in this store without a directory, the rows of bob and carol would be rejects)
    result = run("import", str(DATA / name), "--db", db)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "imported 12, replaced 0, unchanged 0, rejected 0"
    store = Store(db)
    got = rows(store, "provider", "model", "status", "cost_nano", "prompt_tokens", "cached_input_tokens",
               "completion_tokens", "cache_write_tokens", "cost_logged_nano IS NOT NULL")
    assert got == {litellm_id(n): (*v[:3], v[3] * M, *v[4:8], int(v[8])) for n, v in LITELLM_12.items()}
    assert store.conn.execute("SELECT SUM(cost_nano), COUNT(*) FROM records WHERE cost_nano IS NULL "
                              "OR cost_nano >= 0").fetchone() == (round(LITELLM_12_COST_USD * 1e9), 12)


def test_litellm_the_three_files_hold_the_same_records(store):
    """JSON, JSON lines and CSV of the same rows are the same records: each later import is
    unchanged, so a user can mix exports of one proxy."""
    assert import_path(store, str(DATA / "litellm_12_rows.json")).imported == 12
    for name in ("litellm_12_rows.jsonl", "litellm_12_rows.csv"):
        summary = import_path(store, str(DATA / name))
        assert (summary.imported, summary.replaced, summary.unchanged) == (0, 0, 12)


def test_litellm_paginated_endpoints_are_read_as_their_rows(store, tmp_path):
    """/spend/logs/v2 and /spend/logs/ui answer {"data": [rows], "total", "page", "page_size",
    "total_pages"} (spend_management_endpoints.py; LiteLLM's docs point there because /spend/logs
    truncates): JSON lines of pages, one page, auto-detected. A bad row in a page is a reject
    at its page's line, named by its place in the page; the other rows import."""
    pages = DATA / "litellm_spend_logs_v2_pages.jsonl"
    assert detect_format(head(pages)) == "litellm"
    assert detect_format(head(DATA / "litellm_spend_logs_ui_page.json")) == "litellm"
    assert import_path(store, str(pages)).imported == 12
    assert import_path(store, str(DATA / "litellm_spend_logs_ui_page.json")).unchanged == 5
    # rows of page 2 (line 2) are rows 6-10: source line 2
    assert rows(store, "source_line")[litellm_id(7)] == (2,)
    lines = pages.read_text().splitlines()
    page = json.loads(lines[1])
    page["data"][1]["startTime"] = "yesterday"
    bad = tmp_path / "pages.jsonl"
    bad.write_text("\n".join([lines[0], json.dumps(page), lines[2]]) + "\n")
    seen = []
    summary = import_path(store, str(bad), on_reject=seen.append)
    assert (summary.unchanged, summary.rejected) == (11, 1)
    assert [(j.line, j.reason) for j in seen] == [
        (2, 'row 2: `startTime` must be an ISO 8601 timestamp with a time, got "yesterday"')]
    # a page past the last one is empty: still a LiteLLM page, and nothing to import
    empty = tmp_path / "page4.json"
    empty.write_text(json.dumps({"data": [], "total": 12, "page": 4, "page_size": 5, "total_pages": 3}))
    assert detect_format(head(empty)) == "litellm"
    assert import_path(store, str(empty)).imported == 0


def test_litellm_spend_zero_with_tokens_on_a_model_without_a_price_is_unpriced(store, tmp_path):
    """spend 0.0 (get_logging_payload: kwargs.get("response_cost", 0)) is LiteLLM failing to
    price, not a free call: with no override and no genai-prices price it counts as unpriced,
    with the provider `unknown` (no custom_llm_provider, no prefix, a model nobody lists)."""
    row = {"request_id": "r1", "startTime": "2026-11-20T10:00:00Z", "model": "acme-internal-7b",
           "custom_llm_provider": "", "spend": 0.0, "prompt_tokens": 900, "completion_tokens": 100,
           "status": "success"}
    path = tmp_path / "spend.json"
    path.write_text(json.dumps([row]))
    import_path(store, str(path))
    assert rows(store, "provider", "cost_nano", "cost_logged_nano") == {"r1": ("unknown", None, None)}


def test_litellm_rows_older_than_the_status_column_say_it_in_metadata(store, tmp_path):
    """SpendLogsMetadata carries `status` and `error_information` (spend_tracking_utils.
    _get_spend_logs_metadata); the `status` column came later, so older rows have it empty."""
    row = {"request_id": "r1", "startTime": "2026-11-20 10:00:00", "model": "gpt-4o", "custom_llm_provider": "openai",
           "spend": 0.0, "prompt_tokens": 0, "completion_tokens": 0, "status": "",
           "metadata": {"status": "failure", "error_information": {"error_code": "429"}}}
    path = tmp_path / "spend.jsonl"
    path.write_text(json.dumps(row) + "\n")
    import_path(store, str(path))
    assert rows(store, "status", "cost_nano") == {"r1": (429, 0)}


# -- OpenAI -----------------------------------------------------------------------------------------
OPENAI_COOKBOOK = DATA / "openai_cookbook_usage_buckets.json"
# (start day, model, service tier, batch): (prompt incl. writes, writes, cached, output, requests, µ$)
OPENAI_EXPECTED = {
    # gpt-4o standard $2.50 in, $1.25 cached, $10 out; genai-prices has no cache-write rate for
    # it, so writes are input: 6000 × 2.5 + 4000 × 1.25 + 1000 × 10 = 30000 µ$
    (19, "gpt-4o-2024-08-06", "default", 0): (6000, 2000, 4000, 1000, 10, 30000),
    # batch: genai-prices' batch variant for gpt-4o-mini, $0.075 in, $0.30 out (half of 0.15/0.60):
    # 20000 × 0.075 + 5000 × 0.3 = 3000 µ$
    (19, "gpt-4o-mini-2024-07-18", None, 1): (20000, 0, 0, 5000, 40, 3000),
    # flex: gpt-5-mini's flex variant $0.125 in, $0.0125 cached, $1 out:
    # 6000 × 0.125 + 2000 × 0.0125 + 3000 × 1 = 3775 µ$
    (20, "gpt-5-mini-2025-08-07", "flex", 0): (6000, 0, 2000, 3000, 6, 3775),
    # priority: gpt-4o's priority variant $4.25 in, $17 out: 1000 × 4.25 + 500 × 17 = 12750 µ$
    (20, "gpt-4o-2024-08-06", "priority", 0): (1000, 0, 0, 500, 2, 12750),
    # batch without a genai-prices batch variant (o1-mini): half the standard $1.10 / $0.55 / $4.40:
    # (3000 × 1.1 + 1000 × 0.55 + 1000 × 4.4) / 2 = 8250 / 2 = 4125 µ$
    (20, "o1-mini-2024-09-12", None, 1): (3000, 0, 1000, 1000, 3, 4125),
    # a tier genai-prices has no variant for: the standard price, 1000 × 0.15 + 1000 × 0.6 = 750 µ$
    (20, "gpt-4o-mini-2024-07-18", "scale", 0): (1000, 0, 0, 1000, 1, 750),
}


def test_openai_cookbook_list_of_buckets_is_read_and_priced_by_tier_and_batch(store):
    """The OpenAI cookbook notebook "How to use the Usage API and Cost API to monitor your OpenAI
    usage" saves the bucket objects of every page as one JSON list, with no page around them.
    UsageCompletionsResult (API reference): input_tokens include input_cached_tokens and
    input_cache_write_tokens; batch and service_tier are set when grouped by them. Batch costs
    half (genai-prices' batch variant, else half the standard price); a service tier takes its
    genai-prices variant, else the standard price; both are kept on the record."""
    assert detect_format(head(OPENAI_COOKBOOK)) == "openai"
    summary = import_path(store, str(OPENAI_COOKBOOK))
    assert (summary.imported, summary.rejected) == (6, 0)  # the 0-request result is no record
    got = {(datetime.fromtimestamp(r[0] / 1e6, UTC).day, *r[1:4]): r[4:] for r in store.conn.execute(
        "SELECT ts_us, model, service_tier, batch, prompt_tokens, cache_write_tokens, cached_input_tokens, "
        "completion_tokens, requests, cost_nano FROM records")}
    assert got == {k: (*v[:5], v[5] * M) for k, v in OPENAI_EXPECTED.items()}


def test_openai_the_cookbook_list_and_the_api_pages_are_the_same_records(store, tmp_path):
    """The same buckets saved as the API's page objects (GET /v1/organization/usage/completions:
    {"object": "page", "data": [buckets], "has_more", "next_page"}) are the same records."""
    buckets = json.loads(OPENAI_COOKBOOK.read_text())
    pages = tmp_path / "pages.jsonl"
    pages.write_text("".join(json.dumps({"object": "page", "data": [b], "has_more": i == 0,
                                         "next_page": "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA=" if i == 0 else None}) + "\n"
                             for i, b in enumerate(buckets)))
    assert import_path(store, str(pages)).imported == 6
    summary = import_path(store, str(OPENAI_COOKBOOK))
    assert (summary.imported, summary.replaced, summary.unchanged) == (0, 0, 6)


def test_openai_the_cookbooks_costs_list_is_not_usage(tmp_path):
    """The same notebook saves the Costs API's buckets the same way; their results are
    `organization.costs.result` (an amount, no tokens): not completions usage."""
    costs = [{"object": "bucket", "start_time": 1795132800, "end_time": 1795219200, "results": [
        {"object": "organization.costs.result", "amount": {"value": 0.06, "currency": "usd"},
         "line_item": None, "project_id": None}]}]
    path = tmp_path / "costs.json"
    path.write_text(json.dumps(costs, indent=2))
    assert detect_format(head(path)) == "openai-costs"  # issue 25 reads them, as costs (ingest/openai_costs.py)


def test_openai_bad_cache_writes_in_a_bucket_list_are_a_reject_naming_the_bucket(store, tmp_path):
    buckets = json.loads(OPENAI_COOKBOOK.read_text())
    buckets[1]["results"][0]["input_cache_write_tokens"] = 7000  # 8000 input, 2000 of them cached
    path = tmp_path / "usage.json"
    path.write_text(json.dumps(buckets))
    seen = []
    assert import_path(store, str(path), on_reject=seen.append).imported == 5
    assert [(j.line, j.reason) for j in seen] == [(2, "bucket 2, result 1: `input_cache_write_tokens` (7000) "
                                                   "exceed `input_tokens` (8000) less `input_cached_tokens` (2000)")]


# -- Claude Code ------------------------------------------------------------------------------------
SONNET, HAIKU = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"
# id: (model, prompt = input + writes, writes, 1-hour writes, cache reads, output, µ$, source line)
CLAUDE_EXPECTED = {
    # sonnet-4.5 per Mtok: $3 in, $3.75 5-minute write, $6 1-hour write (2x input), $0.30 read, $15 out.
    # the last of two streamed lines: 10 + 1000 × 3.75 + 2000 × 6 + 20000 × 0.3 + 400 × 15
    # = 30 + 3750 + 12000 + 6000 + 6000 = 27780 µ$ (at 1.25x for all writes it was 23280)
    "msg_01A1:req_011A1": (SONNET, 3010, 3000, 2000, 20000, 400, 27780, 3),
    # only in a progress line (its subagent's file is gone); haiku-4.5 $1 in, $1.25 write, $0.10
    # read, $5 out: 1500 + 500 × 1.25 + 4000 × 0.1 + 300 × 5 = 1500 + 625 + 400 + 1500 = 4025 µ$
    "msg_01S1:req_011S1": (HAIKU, 2000, 500, 0, 4000, 300, 4025, 5),
    # in a progress line and in the subagent's own file: one record. 800 + 2000 × 0.1 + 150 × 5 = 1750 µ$
    "msg_01S2:req_011S2": (HAIKU, 800, 0, 0, 2000, 150, 1750, 6),
    # cache_creation_input_tokens without the split: 5-minute writes.
    # 5 × 3 + 4000 × 3.75 + 23000 × 0.3 + 250 × 15 = 15 + 15000 + 6900 + 3750 = 25665 µ$
    "msg_01A2:req_011A2": (SONNET, 4005, 4000, 0, 23000, 250, 25665, 7),
    # next day, 1-hour writes only: 20 × 3 + 6000 × 6 + 800 × 15 = 60 + 36000 + 12000 = 48060 µ$
    "msg_01B1:req_011B1": (SONNET, 6020, 6000, 6000, 0, 800, 48060, 2),
}
CLAUDE_COLUMNS = ("model", "prompt_tokens", "cache_write_tokens", "cache_write_1h_tokens", "cached_input_tokens",
                  "completion_tokens", "cost_nano", "source_line")


def claude_expected() -> dict[str, tuple]:
    return {k: (*v[:6], v[6] * M, v[7]) for k, v in CLAUDE_EXPECTED.items()}


def test_claude_code_folder_prices_1h_writes_and_counts_subagent_progress_once(db, store):
    """Claude Code transcripts (~/.claude/projects/<project>/<session>.jsonl and
    <session>/subagents/agent-*.jsonl): message.usage.cache_creation.ephemeral_1h_input_tokens /
    ephemeral_5m_input_tokens; `type: "progress"` lines whose data.message is a subagent's
    transcript line (data.message.message.usage); one message streamed as several lines.
    Deduplicated by message.id:requestId, as ccusage does. The summary counts records."""
    result = run("import", str(CLAUDE), "--db", db, "--user", "alice")
    assert result.exit_code == 0, result.output
    # 5 records; the subagent's own file repeats msg_01S2 from its progress line: one record, so
    # counted once (the reviewer saw "imported 5, unchanged 1", then "unchanged 6" for 5 records)
    assert result.stdout.splitlines()[-1] == "imported 5, replaced 0, unchanged 0, rejected 0"
    assert rows(store, *CLAUDE_COLUMNS) == claude_expected()
    again = run("import", str(CLAUDE), "--db", db, "--user", "alice")
    assert again.stdout.splitlines()[-1] == "imported 0, replaced 0, unchanged 5, rejected 0"


def _claude_line(n: int, cache_creation_input_tokens: int, split) -> str:
    """One assistant line of a Claude Code transcript (the shape of tests/data/claude-code's)."""
    usage = {"input_tokens": 100, "cache_creation_input_tokens": cache_creation_input_tokens,
             "cache_read_input_tokens": 0, "output_tokens": 200}
    if split is not None:
        usage["cache_creation"] = split
    return json.dumps({"parentUuid": None, "type": "assistant", "sessionId": "s-1", "uuid": f"u-{n}",
                       "timestamp": "2026-11-20T10:00:00.000Z", "requestId": f"req_{n}",
                       "message": {"id": f"msg_{n}", "type": "message", "role": "assistant",
                                   "model": "claude-sonnet-4-5", "usage": usage}}) + "\n"


def test_claude_code_cache_write_total_is_cache_creation_input_tokens(store, tmp_path):
    """Reviewer's repro: `cache_creation_input_tokens: 5000` with `cache_creation: {}` stored 0
    writes (and lost the 5,000 tokens), and a 1-hour count of 900,000 against a total of 5,000
    was believed. The total is cache_creation_input_tokens; the split says how many of them are
    1-hour writes (the rest 5-minute); a split over the total is a reject naming both fields."""
    path = tmp_path / "session.jsonl"
    path.write_text(_claude_line(1, 5000, {})
                    + _claude_line(2, 5000, {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 900_000})
                    + _claude_line(3, 5000, {"ephemeral_5m_input_tokens": 3000, "ephemeral_1h_input_tokens": 2000})
                    + _claude_line(4, 5000, None))
    seen = []
    summary = import_path(store, str(path), "claude-code", user="alice", on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (3, 1)
    assert [(j.line, j.reason) for j in seen] == [
        (2, "`cache_creation` parts (0 5-minute + 900,000 1-hour) exceed `cache_creation_input_tokens` (5,000)")]
    # claude-sonnet-4-5 per Mtok: $3 input, $3.75 5-minute write, $6 1-hour write (2 × input), $15 output
    # msg_1, msg_4: 100 × 3 + 5000 × 3.75 + 200 × 15 = 300 + 18750 + 3000 = 22050 µ$
    # msg_3: 100 × 3 + 3000 × 3.75 + 2000 × 6 + 200 × 15 = 300 + 11250 + 12000 + 3000 = 26550 µ$
    assert rows(store, "prompt_tokens", "cache_write_tokens", "cache_write_1h_tokens", "cost_nano") == {
        "msg_1:req_1": (5100, 5000, 0, 22050 * M),
        "msg_3:req_3": (5100, 5000, 2000, 26550 * M),
        "msg_4:req_4": (5100, 5000, 0, 22050 * M),
    }


def test_claude_code_streamed_copies_across_a_batch_boundary_are_one_record(store):
    """The two streamed lines of msg_01A1 (lines 2 and 3) fall in two batches of one record:
    still one record imported, none replaced."""
    session = next(CLAUDE.glob("projects/-home-dev-shop/*.jsonl"))
    summary = import_path(store, str(session), user="alice", batch_size=1)
    assert (summary.imported, summary.replaced, summary.unchanged) == (4, 0, 0)
    assert rows(store, "completion_tokens", "source_line")["msg_01A1:req_011A1"] == (400, 3)


def test_claude_code_subagent_file_first_then_its_progress_line_is_still_one_record(store):
    """Whichever place a subagent's message is read from first, the other is the same record."""
    subagents = next(CLAUDE.rglob("agent-d4e5f6.jsonl"))
    assert import_path(store, str(subagents), user="alice").imported == 1
    summary = import_path(store, str(CLAUDE), user="alice")
    # the folder's 5 records: 4 new, msg_01S2 unchanged (its progress line; its own file again
    # is the same record, not counted twice)
    assert (summary.imported, summary.replaced, summary.unchanged) == (4, 0, 1)
    # the same record, kept from where it was first read: line 2 of the subagent's file
    assert rows(store, *CLAUDE_COLUMNS) == {**claude_expected(),
                                            "msg_01S2:req_011S2": (HAIKU, 800, 0, 0, 2000, 150, 1750 * M, 2)}


def test_claude_code_reprice_keeps_the_1h_split_exact(store):
    """A price change re-prices every record without a logged cost from its stored columns: the
    1-hour writes are on the record, so the re-priced cost is the same to the nano-dollar."""
    import_path(store, str(CLAUDE), user="alice")
    doc = json.loads(store.get_meta("directory"))
    doc["prices"] = [{"provider": "internal", "model": "other", "input_per_mtok": 1.0, "output_per_mtok": 1.0}]
    store.load_directory(doc)
    assert rows(store, *CLAUDE_COLUMNS) == claude_expected()


def test_claude_code_totals_match_ccusage_daily(db, store):
    """The comparison the issue asks for: `CLAUDE_CONFIG_DIR=tests/data/claude-code TZ=UTC
    ccusage daily --json --offline` (ccusage 20.0.24; 20.0.26 ships no linux-x64 binary) printed
    2026-11-20 totalCost 0.05922 and 2026-11-21 0.04806, totalTokens 66735 (input 2335 + output
    1900 + cache creation 13500 + cache read 49000). Our hand-computed figures above give the
    same; this checks usage-tui's report of them."""
    import_path(store, str(CLAUDE), user="alice")
    result = run("spend", "summary", "--db", db, "--as", "alice", "--since", "2026-11-20", "--until",
                 "2026-11-21", "--tz", "UTC", "--format", "json")
    report = json.loads(result.stdout)
    # 27780 + 4025 + 1750 + 25665 = 59220 µ$ on the 20th; 48060 µ$ on the 21st
    assert [(p["period"], p["value"]) for p in report["series"]] == [("2026-11-20", 0.05922), ("2026-11-21", 0.04806)]
    assert report["totals"]["tokens"] == 2335 + 1900 + 13500 + 49000
    assert report["totals"]["cost_usd"] == pytest.approx(0.10728, abs=1e-12)


# -- a forced format that matches nothing ------------------------------------------------------------
def test_a_forced_format_that_recognises_nothing_is_exit_2(db, tmp_path):
    """`--format claude-code` on native files used to end "imported 0, ... rejected 0", exit 0."""
    result = run("import", str(SAMPLES / "example.jsonl"), "--db", db, "--format", "claude-code")
    assert result.exit_code == 2
    assert result.stderr == (f"usage-tui: error: {SAMPLES / 'example.jsonl'}: nothing in it is claude-code usage "
                             "(no line was recognised as --format claude-code; try --format auto)\n")
    folder = tmp_path / "native"
    folder.mkdir()
    shutil.copy(SAMPLES / "example.jsonl", folder / "a.jsonl")
    result = run("import", str(folder), "--db", db, "--format", "claude-code")
    assert result.exit_code == 2
    assert "nothing in them is claude-code usage" in result.stderr
    # the files it does recognise still import as before
    assert run("import", str(CLAUDE), "--db", db, "--format", "claude-code").exit_code == 0


@pytest.mark.parametrize("fmt", ["litellm", "openai"])
def test_a_forced_format_that_matches_no_line_writes_no_rejects(db, tmp_path, fmt):
    """Reviewer's repro: `import sample_data/example.jsonl --format litellm` (or openai) said
    "imported 0 … rejected 5", exit 1, and kept 5 junk rejects. Like claude-code: exit 2, no
    rejects and no source written. A folder: the file is skipped, its neighbours import."""
    result = run("import", str(SAMPLES / "example.jsonl"), "--db", db, "--format", fmt)
    assert (result.exit_code, result.stdout) == (2, "")
    first = {"litellm": "missing required field `request_id`",
             "openai": 'not a usage page (expected {"object": "page", "data": [...]}, or a bucket)'}[fmt]
    assert result.stderr == (f"usage-tui: error: {SAMPLES / 'example.jsonl'}: nothing in it is {fmt} usage "
                             f"(line 1: {first}; try --format auto)\n")
    store = Store(db)
    assert store.conn.execute("SELECT (SELECT count(*) FROM rejects), (SELECT count(*) FROM sources)").fetchone() == (0, 0)
    store.close()
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(SAMPLES / "example.jsonl", folder / "a.jsonl")
    shutil.copy(DATA / "litellm_12_rows.jsonl", folder / "b.jsonl")
    if fmt == "litellm":
        mixed = run("import", str(folder), "--db", db, "--format", fmt)
        assert (mixed.exit_code, mixed.stdout) == (0, "imported 12, replaced 0, unchanged 0, rejected 0\n")
        assert mixed.stderr == f"{folder / 'a.jsonl'}: skipped (not a recognised usage file)\n"


def test_a_forced_format_gives_up_after_1000_rejects_before_its_first_record(db, tmp_path):
    """The bound on what a forced format holds back: 1,000 bad lines then a LiteLLM row import
    as 1,000 rejects and the row; 1,001 bad lines are "not LiteLLM", nothing written."""
    rows = (DATA / "litellm_12_rows.jsonl").read_text().splitlines(keepends=True)
    path = tmp_path / "late.jsonl"
    path.write_text('{"id": 1}\n' * 1000 + rows[0])
    kept = run("import", str(path), "--db", db, "--format", "litellm")
    assert (kept.exit_code, kept.stdout) == (1, "imported 1, replaced 0, unchanged 0, rejected 1000\n")
    path.write_text('{"id": 1}\n' * 1001 + rows[1])
    refused = run("import", str(path), "--db", db, "--format", "litellm")
    assert (refused.exit_code, refused.stdout) == (2, "")
    store = Store(db)
    assert store.conn.execute("SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM rejects)").fetchone() == (1, 1000)
    store.close()


def test_a_forced_format_whose_rows_follow_bad_lines_keeps_the_rejects(db, tmp_path):
    """A LiteLLM file whose first lines are bad (so its start is not recognised) and whose later
    rows are LiteLLM: the rows import and the bad lines are rejects, as before."""
    path = tmp_path / "late.jsonl"
    path.write_text('{"id": 1}\n{"startTime": 5}\n' + (DATA / "litellm_12_rows.jsonl").read_text())
    result = run("import", str(path), "--db", db, "--format", "litellm")
    assert (result.exit_code, result.stdout) == (1, "imported 12, replaced 0, unchanged 0, rejected 2\n")
    assert result.stderr.splitlines() == [f"{path}:1: missing required field `request_id`",
                                          f"{path}:2: missing required field `request_id`"]
    store = Store(db)
    assert store.conn.execute("SELECT count(*) FROM rejects").fetchone() == (2,)
    store.close()


# -- prices for how a request was processed ----------------------------------------------------------
TS = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp() * 1_000_000)


def test_batch_halves_a_directory_override_too():
    pricer = Pricer([Price("internal", "llama-70b", 0.6, 0.8, 0.3)])
    rec = Record("x", TS, "internal", "llama-70b", prompt_tokens=1_000_000, completion_tokens=500_000, batch=True)
    # (1M × 0.6 + 0.5M × 0.8) / 2 = (0.6 + 0.4) / 2 = $0.50
    assert pricer.cost_nano(rec) == 500_000_000


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"])
def test_1h_cache_writes_fast_path_equals_genai_prices(model):
    rec = Record("x", TS, "anthropic", model, prompt_tokens=9000, cached_input_tokens=30000,
                 completion_tokens=700, cache_write_tokens=8000, cache_write_1h_tokens=5000)
    expected = calc_price(Usage(input_tokens=39000, cache_read_tokens=30000, cache_write_tokens=8000,
                                cache_write_1h_tokens=5000, output_tokens=700), model_ref=model,
                          provider_id="anthropic", genai_request_timestamp=datetime(2026, 11, 20, 12, tzinfo=UTC))
    assert Pricer().cost_nano(rec) == pytest.approx(float(expected.total_price) * 1e9, abs=2)


def test_a_batch_variant_that_sets_no_price_is_half_the_standard_price():
    # genai-prices lists a batch variant for gpt-3.5-turbo-1106 with no prices in it: that is no
    # batch price, so half the standard $1 in / $2 out: (1M × 1 + 1M × 2) / 2 = $1.50
    rec = Record("x", TS, "openai", "gpt-3.5-turbo-1106", prompt_tokens=1_000_000, completion_tokens=1_000_000,
                 batch=True)
    assert Pricer().cost_nano(rec) == 1_500_000_000


TIER_MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-5-mini", "gpt-5.4", "o3", "o1-mini"]


@settings(max_examples=150, deadline=None)
@given(model=st.sampled_from(TIER_MODELS), tier=st.sampled_from([None, "default", "flex", "priority", "scale"]),
       p=st.integers(0, 300_000), cached=st.integers(0, 300_000), c=st.integers(0, 50_000))
def test_service_tier_fast_path_equals_genai_prices(model, tier, p, cached, c):
    """A service tier is genai-prices' price_context {"service_tier": tier}; the fast path must
    give what its calc_price gives, tiers of long prompts (gpt-5.4) included."""
    expected = calc_price(Usage(input_tokens=p + cached, cache_read_tokens=cached, output_tokens=c), model_ref=model,
                          provider_id="openai", genai_request_timestamp=datetime(2026, 11, 20, 12, tzinfo=UTC),
                          price_context={"service_tier": tier} if tier else None).total_price
    rec = Record("x", TS, "openai", model, prompt_tokens=p, cached_input_tokens=cached, completion_tokens=c,
                 service_tier=tier)
    assert Pricer().cost_nano(rec) == pytest.approx(float(expected) * 1e9, abs=2)
