"""Pilot tests of the TUI's dialogs and boxes: search, dates, the empty state, export, help,
the command palette, refresh and quit, the sidebar's selects (split from tests/test_tui.py,
whose store and helpers they use)."""

from __future__ import annotations

from datetime import date

from click.testing import CliRunner
from textual import events
from textual.command import CommandPalette
from textual.widgets import Input

from usage_tui.app import UsageApp
from usage_tui.cli import cli
from usage_tui.widgets.breakdown_panel import BreakdownPanel
from usage_tui.widgets.breakdown_table import BreakdownTable
from usage_tui.widgets.date_range_screen import DateRangeScreen
from usage_tui.widgets.export_screen import ExportScreen
from usage_tui.widgets.help_screen import HelpScreen
from usage_tui.widgets.search_input import SearchInput
from usage_tui.widgets.trend_plot import TrendPlot

from . import reference, test_tui
from .conftest import DIRECTORY
from .test_tui import (
    DEFAULT_SINCE,
    RECORDS,
    TODAY,
    make_app,
    notices,
    plot_title,
    screen_matches_query,
    settle,
    table_texts,
)

small_db = test_tui.small_db  # the fixture: the hand-written store of test_tui


# -- search, dates ----------------------------------------------------------------------------------
async def test_search_filters_as_you_type(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        all_rows = len(table_texts(app))
        await pilot.press("slash")
        assert isinstance(app.focused, SearchInput)
        await pilot.press("g", "p", "t")
        await settle(pilot)
        assert app.filters.search == "gpt"
        keys = app.query_one(BreakdownTable).keys
        assert keys and all("gpt" in k for k in keys) and len(keys) < all_rows
        screen_matches_query(app, demo_db)
        assert "matching “gpt”" in app.query_one(BreakdownPanel).border_title
        await pilot.press("enter")  # keeps the search, back to the table
        assert app.focused is app.query_one(BreakdownTable)
        assert app.filters.search == "gpt"
        await pilot.press("slash", "x", "y", "z")  # focusing the box selects its text: typing replaces it
        await settle(pilot)
        assert app.filters.search == "xyz" and table_texts(app) == []
        assert app.query_one(BreakdownPanel).empty_message.startswith("No rows match “xyz”")
        await pilot.press("escape")  # clears the search, back to the table
        await settle(pilot)
        assert app.filters.search == "" and len(table_texts(app)) == all_rows
        assert app.focused is app.query_one(BreakdownTable)


async def test_keys_typed_right_after_slash_or_d_land_where_they_open(demo_db):
    """Over SSH keys arrive in bursts: `/gpt` must search for "gpt", not group by (g) or switch
    team (t) because the box was not focused yet."""
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key, character in [("slash", "/"), ("g", "g"), ("p", "p"), ("t", "t")]:
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert app.filters.search == "gpt" and app.filters.group_by == "model" and app.filters.scope == "personal"
        await pilot.press("slash", "d", "question_mark")  # in the box they are text
        assert app.query_one(SearchInput).value == "gpt/d?"
        assert not app.screen.is_modal
        await pilot.press("escape")
        for key, character in [("d", "d"), ("up", None), ("enter", "\r")]:
            app.post_message(events.Key(key, character))
        await settle(pilot)
        assert app.filters.dates.preset == "7d"
        for key, character in [("slash", "/"), ("o", "o"), ("enter", "\r"), ("m", "m"), ("tab", "\t")]:
            app.post_message(events.Key(key, character))  # search, back to the table, m, tab on
        await settle(pilot)
        assert app.filters.search == "o" and app.filters.metric == "requests"
        assert app.focused is app.query_one("#scope")


async def test_date_range_presets_and_custom_dates(small_db):
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, DateRangeScreen)
        await pilot.press("up", "enter")  # from the current preset (30 days) up to 7 days
        await settle(pilot)
        assert (app.result.since, app.result.until) == (date(2026, 11, 18), TODAY)
        assert len(app.result.series) == 7
        assert app.query_one("#dates").value == "7d"
        expected = reference.summary(RECORDS, DIRECTORY, viewer="alice", since=date(2026, 11, 18), until=TODAY,
                                     tz="Europe/Berlin")
        reference.assert_matches(app.result.as_json(), expected)
        await pilot.press("d", "down", "down", "enter")  # 7 → 30 → 90 days
        await settle(pilot)
        assert (app.result.since, app.result.until) == (date(2026, 8, 27), TODAY)
        assert app.query_one(BreakdownTable).keys[1] == "llama"
        await pilot.press("d", "down", "enter")  # month to date
        await settle(pilot)
        assert (app.result.since, app.result.until) == (date(2026, 11, 1), TODAY)
        await pilot.press("d", "tab")
        since = app.screen.query_one("#since")
        assert app.focused is since
        since.value = "2026-11-21"
        await pilot.press("enter")
        app.screen.query_one("#until").value = "2026-11-22"
        await pilot.press("enter")
        await settle(pilot)
        assert (app.result.since, app.result.until) == (date(2026, 11, 21), date(2026, 11, 22))
        assert app.filters.dates.preset == "custom"
        assert str(app.query_one("#span").render()) == "Nov 21 – Nov 22"
        assert plot_title(app) == "Cost per day — personal (alice)"
        expected = reference.summary(RECORDS, DIRECTORY, viewer="alice", since=date(2026, 11, 21),
                                     until=date(2026, 11, 22), tz="Europe/Berlin")
        reference.assert_matches(app.result.as_json(), expected)


async def test_custom_dates_are_checked_and_escape_cancels(small_db):
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d", "tab")
        app.screen.query_one("#since").value = "2026-11-30"
        await pilot.press("enter")
        app.screen.query_one("#until").value = "2026-11-01"
        await pilot.press("enter")
        assert isinstance(app.screen, DateRangeScreen)
        assert "after" in str(app.screen.query_one("#range-error").render())
        await pilot.press("1")  # a view key typed in the dialog does not leak to the view
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, DateRangeScreen)
        assert app.filters.dates.preset == "30d" and app.result.since == DEFAULT_SINCE


# -- empty state, export, help, palette, refresh, quit ----------------------------------------------
async def test_empty_state(demo_db):
    app = make_app(demo_db, "stranger")  # not in the directory: personal scope, no usage
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        plot = app.query_one(TrendPlot)
        assert plot.message.startswith("No attributed usage")
        assert "date range" in plot.message and "scope" in plot.message and "import" in plot.message
        assert str(plot.render()).startswith("No attributed usage")
        panel = app.query_one(BreakdownPanel)
        assert panel.empty_message.startswith("No attributed usage")
        assert table_texts(app) == []
        assert app.focused is app.query_one(BreakdownTable)
        assert plot_title(app) == "Cost per day — personal (stranger)"


async def test_export_asks_where_and_writes_the_table_as_spend_summary_csv(demo_db, tmp_path):
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    app = make_app(demo_db, "alice", export_dir=out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("g", "e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        default = out_dir / "usage-personal-user-2026-10-26-2026-11-24.csv"
        assert app.screen.query_one(Input).value == str(default)
        await pilot.press("enter")
        await settle(pilot)
        files = sorted(out_dir.glob("*.csv"))
        assert files == [default]
        cli_csv = CliRunner().invoke(cli, ["spend", "summary", "--db", str(demo_db), "--as", "alice",
                                           "--group-by", "user", "--format", "csv"])
        head, _, body = cli_csv.output.partition("\n")
        assert head.startswith("row,")
        # the same file, the first column named after the grouping
        assert files[0].read_text() == "user," + head.removeprefix("row,") + "\n" + body
        assert any(str(files[0]) in n for n in notices(app))
        await pilot.press("e")  # a second export offers a free name beside the first
        assert app.screen.query_one(Input).value == str(out_dir / "usage-personal-user-2026-10-26-2026-11-24-2.csv")
        box = app.screen.query_one(Input)
        box.value = str(default)  # the same path again: refused in the dialog, never overwritten
        await pilot.press("enter")
        assert isinstance(app.screen, ExportScreen)
        assert "exists" in str(app.screen.query_one("#export-error").render())
        box.value = str(out_dir / "mine.csv")
        await pilot.pause()
        assert str(app.screen.query_one("#export-error").render()) == ""  # the error goes with its cause
        await pilot.press("enter")
        await settle(pilot)
        assert (out_dir / "mine.csv").read_text() == files[0].read_text()


async def test_export_to_a_folder_you_cannot_write_is_refused_in_the_dialog(demo_db, tmp_path):
    app = make_app(demo_db, "alice", export_dir=tmp_path / "missing")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e", "enter")
        assert isinstance(app.screen, ExportScreen)
        assert f"no folder {tmp_path / 'missing'}" in str(app.screen.query_one("#export-error").render())
        app.screen.query_one(Input).value = "/sys/usage.csv"  # not writable, even for root
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)  # still open, saying why
        assert str(app.screen.query_one("#export-error").render()) == (
            "cannot write /sys/usage.csv: Permission denied")
        await pilot.press("escape")
        assert not isinstance(app.screen, ExportScreen)
        assert not list(tmp_path.glob("**/*.csv"))


async def test_an_empty_view_is_not_exported(demo_db, tmp_path):
    app = make_app(demo_db, "stranger", export_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)
        assert any("Nothing to export: the table has no rows." in n for n in notices(app))
        assert not list(tmp_path.glob("*.csv"))


async def test_help_lists_every_binding(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(f"{k} {d}" for _, rows in app.screen.sections for k, d in rows)
        for key in ("1 2 3", "t", "m", "g", "w", "d", "/", "enter", "esc", "e", "r", "?", "q", "^p"):
            assert any(line.startswith(f"{key} ") for line in text.splitlines()), key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark", "question_mark")  # `?` toggles it
        assert not isinstance(app.screen, HelpScreen)


def test_every_binding_has_an_id_a_description_and_a_section_4_key():
    keys = {b.key for b in UsageApp.BINDINGS} | {b.key for b in BreakdownTable.BINDINGS}
    assert {"1", "2", "3", "t", "m", "g", "w", "d", "slash", "enter", "escape", "e", "r",
            "question_mark", "q", "ctrl+p"} <= keys
    for b in [*UsageApp.BINDINGS, *BreakdownTable.BINDINGS]:
        assert b.id and b.description


async def test_command_palette_runs_the_actions(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"metric: tokens")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert app.filters.metric == "tokens"
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in ("Scope: org", "Next team", "Group rows by verdict", "Granularity: weekly",
                      "Dates: month to date", "Dates: custom…", "Search rows", "Clear the focus",
                      "Export the table as CSV", "Refresh", "Help: keys"):
            assert title in titles


async def test_refresh_and_quit(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        first = app.result
        await pilot.press("r")
        await settle(pilot)
        assert app.result is not first and app.result.as_json() == first.as_json()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_sidebar_selects_change_the_view_with_the_keyboard(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.query_one("#granularity").focus()
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        assert app.filters.granularity == "weekly"
        assert plot_title(app) == "Cost per week — personal (alice)"
        app.query_one("#scope").focus()
        await pilot.press("enter", "down", "down", "enter")
        await settle(pilot)
        assert app.filters.scope == "org"


