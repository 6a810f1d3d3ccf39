"""Issue 26: `usage-tui mcp`, end to end over the real stdio transport with the SDK's client
(initialize, list_tools, call_tool), and in-process. A tool's result is the CLI's --format json
document; a refused scope is a tool error carrying the CLI's one-line message."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp import Client
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from usage_tui.cli import cli
from usage_tui.mcp_server import MCP_RECORDS_MAX, Tools, build_server

from .conftest import location, write

USAGE_TUI = Path(sys.executable).parent / "usage-tui"
NOW = "2026-11-24T12:00:00Z"
TOOLS = {"spend_summary", "spend_records", "budget_status", "budget_explain", "list_dimensions"}


@pytest.fixture
def store(engine_store, monkeypatch):
    write(engine_store,
          {"id": "a1", "ts": "2026-11-20T09:00:00Z", "provider": "openai", "model": "gpt-x", "user": "alice",
           "prompt_tokens": 1000, "completion_tokens": 200, "cost_usd": 1.5},
          {"id": "b1", "ts": "2026-11-23T09:00:00Z", "provider": "openai", "model": "gpt-x", "user": "bob",
           "prompt_tokens": 300, "cost_usd": 7.0},
          {"id": "b2", "ts": "2026-11-24T09:00:00Z", "provider": "anthropic", "model": "claude", "key": "k_bob",
           "prompt_tokens": 100, "completion_tokens": 50, "cost_usd": 4.0},
          {"id": "c1", "ts": "2026-11-21T09:00:00Z", "provider": "acme", "model": "mystery", "user": "carol",
           "team": "research", "prompt_tokens": 10, "requests": 2})
    monkeypatch.setenv("USAGE_TUI_NOW", NOW)
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    return engine_store


def cli_json(*args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code in (0, 75), result.output
    return json.loads(result.stdout)


def server_params(store, as_user: str) -> StdioServerParameters:
    return StdioServerParameters(command=str(USAGE_TUI), args=["mcp", "--as", as_user],
                                 env={"USAGE_TUI_DB": location(store), "USAGE_TUI_NOW": NOW})


async def test_over_stdio_initialize_list_and_call(store):
    assert USAGE_TUI.exists(), "install the package (pip install -e .)"
    with open("/dev/null", "w") as quiet:  # the server logs each call to stderr
        async with stdio_client(server_params(store, "alice"), errlog=quiet) as (read, write_), \
                ClientSession(read, write_) as session:
            init = await session.initialize()
            assert init.server_info.name == "usage-tui"
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert set(tools) == TOOLS
            for tool in tools.values():
                assert "Example" in tool.description and tool.annotations.read_only_hint is True
            args = {"scope": "org", "group_by": "team", "metric": "tokens", "granularity": "weekly",
                    "since": "2026-11-16", "by_period": True}
            got = await session.call_tool("spend_summary", args)
            assert not got.is_error
            expected = cli_json("spend", "summary", "--db", location(store), "--as", "alice", "--scope", "org",
                                "--group-by", "team", "--metric", "tokens", "--granularity", "weekly",
                                "--since", "2026-11-16", "--by-period")
            assert got.structured_content == expected
            assert json.loads(got.content[0].text) == expected
            # platform: alice's 1,200 tokens (Nov 20), then bob's 300 + 150 (b2 through his key) in the
            # week of Nov 23; research: carol's 10 (Nov 21)
            assert [(c["period"], c["row"], c["tokens"]) for c in got.structured_content["periods"]] == [
                ("2026-11-16", "platform", 1200), ("2026-11-16", "research", 10),
                ("2026-11-23", "platform", 450), ("2026-11-23", "research", 0)]
            explained = await session.call_tool("budget_explain", {"user": "bob"})
            # bob: $7 + $4 of his $10 weekly budget: over until Nov 30 00:00 Berlin (471,600 s)
            doc = explained.structured_content
            assert (doc["spent_usd"], doc["over"], doc["retry_after_s"]) == (11.0, True, 471_600)


async def test_over_stdio_a_refused_scope_is_a_tool_error_with_the_cli_message(store):
    with open("/dev/null", "w") as quiet:
        async with stdio_client(server_params(store, "bob"), errlog=quiet) as (read, write_), \
                ClientSession(read, write_) as session:
            await session.initialize()
            refused = await session.call_tool("spend_summary", {"scope": "org"})
            assert refused.is_error
            assert [c.text for c in refused.content] == ["bob may not view the org scope (org admins only)"]
            other = await session.call_tool("budget_status", {"user": "alice"})
            assert other.is_error and other.content[0].text == (
                "bob may not read alice's budget (your own only; org admins and the store's owner see all)")
            mine = await session.call_tool("budget_status", {})
            assert not mine.is_error and mine.structured_content["user"] == "bob"


async def test_in_process_results_are_the_cli_documents(store):
    db = location(store)
    async with Client(build_server(Tools(store, "alice"))) as client:
        records = await client.call_tool("spend_records", {"scope": "org", "group_by": "user", "focus": "bob",
                                                           "order": "cost"})
        assert records.structured_content == cli_json("spend", "records", "--db", db, "--as", "alice", "--scope",
                                                      "org", "--group-by", "user", "--focus", "bob", "--order", "cost")
        assert [r["id"] for r in records.structured_content["records"]] == ["b1", "b2"]
        status = await client.call_tool("budget_status", {"all": True})
        assert status.structured_content == cli_json("budget", "status", "--all", "--db", db, "--as", "alice")
        typo = await client.call_tool("spend_summary", {"scope": "team", "team": "platfrom"})
        assert typo.is_error and typo.content[0].text == 'unknown team "platfrom" (closest: platform)'
        too_many = await client.call_tool("spend_records", {"limit": MCP_RECORDS_MAX + 1})
        assert too_many.is_error


async def test_list_dimensions_shows_what_the_viewer_may_see(store):
    async with Client(build_server(Tools(store, "bob"))) as client:
        doc = (await client.call_tool("list_dimensions", {})).structured_content
    # bob is a member: his own usage only (b1, b2), no team or org scope
    assert (doc["role"], doc["scopes"]) == ("member", {"personal": True, "teams": [], "org": False})
    assert doc["dimensions"]["model"] == ["claude", "gpt-x"]
    assert doc["dimensions"]["user"] == ["bob"] and doc["dimensions"]["key"] == ["(none)", "k_bob"]
    async with Client(build_server(Tools(store, "alice"))) as client:
        doc = (await client.call_tool("list_dimensions", {})).structured_content
    assert doc["scopes"] == {"personal": True, "teams": ["platform", "research"], "org": True}
    assert doc["dimensions"]["user"] == ["alice", "bob", "carol"]
    assert doc["dimensions"]["team"] == ["platform", "research"]


def test_tool_arguments_are_the_cli_option_names():
    server = build_server(Tools(store=None, as_user=None, identity_of=lambda *_: None))
    import asyncio
    tools = {t.name: set(t.input_schema["properties"]) for t in asyncio.run(server.list_tools())}
    for tool, command in (("spend_summary", ("spend", "summary")), ("spend_records", ("spend", "records")),
                          ("budget_status", ("budget", "status")), ("budget_explain", ("budget", "explain"))):
        group = cli.commands[command[0]].commands[command[1]]
        cli_names = {p.name for p in group.params} - {"fmt", "db", "as_user"}
        assert tools[tool] == {"all" if n == "all_users" else n for n in cli_names}, tool
