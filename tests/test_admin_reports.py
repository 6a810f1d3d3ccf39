"""Issue 25, the providers' admin reports saved as files: Anthropic's usage and cost reports,
OpenAI's costs beside its usage pages. Tokens as the Claude Code and OpenAI importers count them,
workspace/project ids to teams and api key ids to keys through the directory, and a cost report
with a usage report of the same day counted once, whichever is imported first. Every expected
figure is worked out by hand in the comments (fixtures: tests/data/reports/PROVENANCE.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.ingest import import_path
from usage_tui.model import NANO
from usage_tui.store import Store

from .conftest import location

DATA = Path(__file__).parent / "data" / "reports"
USAGE = DATA / "anthropic_usage_report_pages.json"
COSTS = DATA / "anthropic_cost_report.json"
WS = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"

DIRECTORY = {
    "org": {"id": "acme", "timezone": "UTC"},
    "teams": [{"id": "platform", "admins": [], "provider_ids": [WS, "proj_abc"]}, {"id": "research"}],
    "users": [{"id": "alice", "login": "alice", "role": "org_admin", "teams": ["research"]},
              {"id": "bob", "login": "bob", "teams": ["research"]}],
    "keys": [{"id": "apikey_01Rj2N8SVvo6BePZj99NhmiT", "owner": "bob"}, {"id": "key_abc", "owner": "alice"}],
    # prices of our own, so that every cost below is worked out by hand (per million tokens)
    "prices": [{"provider": "anthropic", "model": "claude-sonnet-4-20250514", "input_per_mtok": 3.0,
                "output_per_mtok": 15.0, "cached_input_per_mtok": 0.3, "cache_write_per_mtok": 3.75},
               {"provider": "anthropic", "model": "claude-3-5-haiku-20241022", "input_per_mtok": 0.8,
                "output_per_mtok": 4.0},
               {"provider": "openai", "model": "gpt-4o-mini-2024-07-18", "input_per_mtok": 0.15,
                "output_per_mtok": 0.6}],
}


@pytest.fixture
def reports_store(new_store):
    """On SQLite and on PostgreSQL (the reports' records are read back with SQL of their own)."""
    store = new_store()
    store.load_directory(DIRECTORY)
    return store


def rows(store, provider="anthropic"):
    """id prefix and key → (user, team, prompt, cached, completion, cache writes, 1h writes,
    requests, cost in nano-dollars)."""
    out = {}
    for rid, key, model, user, team, p, cached, c, cw, cw1h, req, cost in store.execute(
            'SELECT id, key, model, "user", team, prompt_tokens, cached_input_tokens, completion_tokens, '
            "cache_write_tokens, cache_write_1h_tokens, requests, cost_nano FROM records WHERE provider = ?",
            (provider,)):
        out[(rid.split(":")[0], key or model)] = (user, team, p, cached, c, cw, cw1h, req, cost)
    return out


def total_nano(store):
    return store.execute("SELECT sum(cost_nano) FROM records").fetchone()[0]


def test_anthropic_usage_report_tokens_keys_and_workspaces(reports_store):
    summary = import_path(reports_store, str(USAGE))
    # 4 result rows, one of which is all zeros (a group with nothing in its bucket): 3 records
    assert (summary.imported, summary.rejected) == (3, 0)
    assert rows(reports_store) == {
        # 1500 uncached + 500 5-minute + 1000 1-hour writes = 3000 prompt; 200 cache reads; 500 out
        # priced: 3000×3 + 1500×(3.75−3) + 200×0.3 + 500×15 = 9000 + 1125 + 60 + 7500 = 17,685 µ$
        ("anthropic-usage", "apikey_01Rj2N8SVvo6BePZj99NhmiT"): ("bob", "platform", 3000, 200, 500, 1500, 1000, 1,
                                                                 17_685_000),
        # batch: (4000×3 + 1000×15) / 2 = 13,500 µ$; its key is not in the directory: no user
        ("anthropic-usage", "apikey_02Hk7TqWcB3yDnRx5ZpLm8Vs"): (None, "platform", 4000, 0, 1000, 0, 0, 1,
                                                                 13_500_000),
        # the Console (no key) in the default workspace (no workspace id): 2000×0.8 + 100×4 = 2,000 µ$
        ("anthropic-usage", "claude-3-5-haiku-20241022"): (None, None, 2000, 0, 100, 0, 0, 1, 2_000_000),
    }
    (meta,) = reports_store.execute(
        "SELECT metadata FROM records WHERE key = 'apikey_01Rj2N8SVvo6BePZj99NhmiT'").fetchone()
    assert json.loads(meta) == {"workspace_id": WS, "service_tier": "standard", "context_window": "0-200k",
                                "web_search_requests": 10, "requests": "not reported: 1 per report row"}


def _cost_then_usage_expected():
    # The cost report's Sonnet rows of the workspace (1.35 + 2.25 cents = $0.036) are shared by the
    # two Sonnet usage records in proportion to their priced cost, 17,685 : 13,500 µ$:
    # 36,000,000 nano × 17685/31185 = 20,415,584.4 and × 13500/31185 = 15,584,415.6: the parts
    # round down to 20,415,584 + 15,584,415 and the nano left over goes to the larger remainder.
    # The haiku row (0.2 cents) is the default workspace's haiku usage: $0.002.
    # The web search row ($0.01) matches no usage: its own record keeps it.
    return {"sonnet-bob": 20_415_584, "sonnet-batch": 15_584_416, "haiku": 2_000_000, "web": 10_000_000,
            "total": 48_000_000}  # = 1.35 + 2.25 + 1 + 0.2 cents


@pytest.mark.parametrize("order", [(USAGE, COSTS), (COSTS, USAGE)], ids=["usage-first", "costs-first"])
def test_a_cost_report_and_a_usage_report_of_one_day_are_counted_once(reports_store, order):
    for path in order:
        import_path(reports_store, str(path))
    expected = _cost_then_usage_expected()
    got = rows(reports_store)
    assert got["anthropic-usage", "apikey_01Rj2N8SVvo6BePZj99NhmiT"][-1] == expected["sonnet-bob"]
    assert got["anthropic-usage", "apikey_02Hk7TqWcB3yDnRx5ZpLm8Vs"][-1] == expected["sonnet-batch"]
    assert got["anthropic-usage", "claude-3-5-haiku-20241022"][-1] == expected["haiku"]
    assert got["anthropic-cost", "web_search"][-1] == expected["web"]
    assert got["anthropic-cost", "web_search"][:2] == (None, "platform")
    costs = reports_store.execute(
        "SELECT count(*), sum(prompt_tokens + completion_tokens + cached_input_tokens), sum(requests), "
        "sum(cost_nano) FROM records WHERE id LIKE 'anthropic-cost:%'").fetchone()
    # no tokens; only the web search row keeps dollars, and counts as one request (to be seen in views)
    assert costs == (4, 0, 1, expected["web"])
    assert total_nano(reports_store) == expected["total"]
    # importing either again changes nothing
    for path in order:
        summary = import_path(reports_store, str(path))
        assert summary.imported == summary.replaced == 0
    assert total_nano(reports_store) == expected["total"]


def test_the_cost_report_alone_keeps_its_dollars(reports_store):
    summary = import_path(reports_store, str(COSTS))
    assert (summary.imported, summary.rejected) == (4, 0)
    assert total_nano(reports_store) == 48_000_000  # 4.8 cents
    (requests,) = reports_store.execute("SELECT sum(requests) FROM records").fetchone()
    assert requests == 4  # each row keeps its dollars: one request each, so that views show them


def test_openai_costs_beside_the_usage_pages(reports_store):
    import_path(reports_store, str(DATA / "openai_usage_page.json"))
    # priced: 10,000 × 0.15 + 2,000 × 0.6 = 1,500 + 1,200 = 2,700 µ$; proj_abc is team platform
    assert rows(reports_store, "openai") == {
        ("openai", "key_abc"): ("alice", "platform", 10_000, 0, 2_000, 0, 0, 40, 2_700_000)}
    summary = import_path(reports_store, str(DATA / "openai_costs_page.json"))
    assert (summary.imported, summary.rejected) == (3, 0)
    got = rows(reports_store, "openai")
    # the model's input and output lines ($0.06 + $0.04) are its usage record's; image models keep $0.50
    assert got["openai", "key_abc"][-1] == 100_000_000
    assert got["openai-cost", "Image models"] == (None, "platform", 0, 0, 0, 0, 0, 1, 500_000_000)
    assert total_nano(reports_store) == 600_000_000


def test_report_rejects_name_page_bucket_and_result(reports_store, tmp_path):
    bad = json.loads(COSTS.read_text())
    bad["data"][0]["results"][0]["amount"] = "12,5"
    bad["data"][0]["results"][1]["currency"] = "EUR"
    path = tmp_path / "cost.json"
    path.write_text(json.dumps([bad]))
    rejects = []
    summary = import_path(reports_store, str(path), on_reject=rejects.append)
    assert (summary.imported, summary.rejected) == (2, 2)
    assert [r.reason for r in rejects] == [
        'page 1: bucket 1: result 1: `amount` must be a decimal number, got "12,5"',
        'page 1: bucket 1: result 2: `currency` must be USD, got "EUR"']


def test_import_help_and_cli_read_both_reports(reports_store):
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(DATA), "--db", location(reports_store), "--as", "alice"])
    assert result.exit_code == 0, result.output
    # 3 Anthropic usage + 4 Anthropic cost + 1 OpenAI usage + 3 OpenAI cost records
    assert result.stdout.strip() == "imported 11, replaced 0, unchanged 0, rejected 0"
    assert total_nano(reports_store) == 48_000_000 + 600_000_000
    assert NANO == 1_000_000_000


def test_provider_ids_map_to_one_team_only_and_an_unmapped_workspace_is_named_as_is(tmp_path):
    from usage_tui.directory import DirectoryError, parse_directory

    twice = {"teams": [{"id": "a", "provider_ids": ["wrkspc_1"]}, {"id": "b", "provider_ids": ["wrkspc_1"]}]}
    with pytest.raises(DirectoryError, match='provider id "wrkspc_1" is already team "a"'):
        parse_directory(twice)
    store = Store(tmp_path / "bare.db")  # no directory: the workspace id is the team as the report says it
    import_path(store, str(USAGE))
    teams = sorted({t for (t,) in store.execute("SELECT team FROM records")}, key=str)
    assert teams == [None, WS]
    store.close()


def test_reports_combined_a_record_at_a_time_give_the_same_dollars(reports_store, tmp_path):
    """Report records are combined a batch at a time (bounded memory): with batches of one
    record, each record's dollars are the same as in one go."""
    folder = tmp_path / "both"
    folder.mkdir()
    (folder / "a_costs.json").write_text(COSTS.read_text())
    (folder / "b_usage.json").write_text(USAGE.read_text())
    import_path(reports_store, str(folder), batch_size=1)
    expected = _cost_then_usage_expected()
    got = rows(reports_store)
    assert got["anthropic-usage", "apikey_01Rj2N8SVvo6BePZj99NhmiT"][-1] == expected["sonnet-bob"]
    assert got["anthropic-usage", "apikey_02Hk7TqWcB3yDnRx5ZpLm8Vs"][-1] == expected["sonnet-batch"]
    assert total_nano(reports_store) == expected["total"]


def test_reports_not_grouped_by_model_share_by_tokens(reports_store, tmp_path):
    """Usage grouped by key only (no model: unpriced) and costs by workspace only (no
    description): the workspace's cost row matches every model of its team, and with nothing
    priced the dollars follow the tokens."""
    usage = {"data": [{"starting_at": "2025-08-03T00:00:00Z", "ending_at": "2025-08-03T01:00:00Z", "results": [
        {"api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT", "workspace_id": WS, "model": None,
         "uncached_input_tokens": 3000, "output_tokens": 0},
        {"api_key_id": "apikey_02Hk7TqWcB3yDnRx5ZpLm8Vs", "workspace_id": WS, "model": None,
         "uncached_input_tokens": 1000, "output_tokens": 0}]}], "has_more": False, "next_page": None}
    costs = {"data": [{"starting_at": "2025-08-03T00:00:00Z", "ending_at": "2025-08-04T00:00:00Z", "results": [
        {"amount": "10", "currency": "USD", "workspace_id": WS, "description": None, "model": None,
         "cost_type": None, "token_type": None}]}], "has_more": False, "next_page": None}
    (tmp_path / "u.json").write_text(json.dumps(usage))
    (tmp_path / "c.json").write_text(json.dumps(costs))
    import_path(reports_store, str(tmp_path / "u.json"))
    import_path(reports_store, str(tmp_path / "c.json"))
    got = rows(reports_store)
    # 10 cents = 100,000,000 nano-dollars, 3,000 : 1,000 tokens
    assert got["anthropic-usage", "apikey_01Rj2N8SVvo6BePZj99NhmiT"][-1] == 75_000_000
    assert got["anthropic-usage", "apikey_02Hk7TqWcB3yDnRx5ZpLm8Vs"][-1] == 25_000_000
    assert total_nano(reports_store) == 100_000_000
