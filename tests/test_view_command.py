"""Issue 26: the TUI's `c` shows the CLI command for the view on screen and copies it; the
command, run through the CLI, gives the numbers the view shows."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner
from mcp import Client

from usage_tui.app import create_app
from usage_tui.cli import cli
from usage_tui.ingest.native import to_record
from usage_tui.mcp_server import Tools, build_server
from usage_tui.store import Store
from usage_tui.view_command import view_command
from usage_tui.view_state import DateRange, Filters
from usage_tui.widgets.command_screen import CommandScreen

from .test_tui import settle

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # Tuesday; Berlin's today is Nov 24
RECORDS = [
    {"id": "a", "ts": "2026-11-20T09:00:00Z", "provider": "openai", "model": "gpt-4o", "user": "alice",
     "prompt_tokens": 100, "cost_usd": 0.5},
    {"id": "b", "ts": "2026-11-23T09:00:00Z", "provider": "openai", "model": "gpt-4o", "user": "bob",
     "prompt_tokens": 200, "requests": 4, "cost_usd": 1.0},
    {"id": "c", "ts": "2026-11-24T09:00:00Z", "provider": "acme", "model": "mystery", "key": "k_bob",
     "prompt_tokens": 50, "requests": 2},
    {"id": "d", "ts": "2026-10-01T09:00:00Z", "provider": "openai", "model": "gpt-4o", "user": "carol",
     "prompt_tokens": 999, "requests": 9, "cost_usd": 9.0},  # before the 30 days
]


@pytest.fixture
def db(tmp_path, monkeypatch, directory_doc):
    monkeypatch.setenv("USAGE_TUI_NOW", NOW.isoformat())
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    path = tmp_path / "view.db"
    store = Store(path)
    store.load_directory(directory_doc)
    store.write_batch([to_record(r) for r in RECORDS], None)
    store.close()
    return path


def test_the_command_names_every_part_of_the_view():
    filters = Filters(scope="team", team="platform", metric="tokens", group_by="user", granularity="weekly",
                      dates=DateRange("custom", date(2026, 11, 1), date(2026, 11, 24)), search="bo b",
                      focus="bob")
    assert view_command(filters, date(2026, 11, 1), date(2026, 11, 24), "Europe/Berlin", as_user="alice") == (
        "usage-tui spend summary --team platform --metric tokens --group-by user --granularity weekly "
        "--since 2026-11-01 --until 2026-11-24 --tz Europe/Berlin --search 'bo b' --focus bob --as alice")
    # the defaults say nothing but the range, zone and viewer
    assert view_command(Filters(), date(2026, 10, 26), date(2026, 11, 24), "UTC", db="/tmp/x y.db") == (
        "usage-tui spend summary --since 2026-10-26 --until 2026-11-24 --tz UTC --db '/tmp/x y.db'")


async def test_c_shows_and_copies_a_command_that_gives_the_view_numbers(db):
    app = create_app(db, "alice", poll_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for key in ("3", "g", "m", "w"):  # org scope, rows by user, requests, weekly
            await pilot.press(key)
            await settle(pilot)
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CommandScreen)
        shown = screen.command
        assert app.clipboard == shown
        mcp_text = screen.mcp
        view = {r.key: r.totals.requests for r in app.result.rows}
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CommandScreen)
    assert shown == ("usage-tui spend summary --scope org --metric requests --group-by user --granularity weekly "
                     f"--since 2026-10-26 --until 2026-11-24 --tz Europe/Berlin --db {db} --as alice")
    words = shlex.split(shown)
    result = CliRunner().invoke(cli, [*words[1:], "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    # by hand: alice 1 (a); bob 4 (b) + 2 (c, through his key k_bob); carol's d is before the range
    assert {r["row"]: r["requests"] for r in doc["rows"]} == {"bob": 6, "alice": 1} == view
    assert [p["period"] for p in doc["series"]][:2] == ["2026-10-26", "2026-11-02"]
    # the same view for an agent: the MCP tool's arguments, which give the same document
    name, _, arguments = mcp_text.partition(" ")
    assert (name, json.loads(arguments)) == ("spend_summary", {
        "scope": "org", "metric": "requests", "group_by": "user", "granularity": "weekly",
        "since": "2026-10-26", "until": "2026-11-24", "tz": "Europe/Berlin"})
    store = Store.for_reading(db)
    async with Client(build_server(Tools(store, "alice"))) as client:
        answer = await client.call_tool(name, json.loads(arguments))
    assert answer.structured_content == doc


async def test_c_is_in_the_command_palette(db):
    app = create_app(db, "alice", poll_interval=None)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "CLI command" in titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "CLI command")
        command.callback()
        await pilot.pause()
        assert isinstance(app.screen, CommandScreen)
        assert app.screen.command.startswith("usage-tui spend summary --since 2026-10-26 --until 2026-11-24")
