"""The main screen at 80×24, each fix of issue 16 as a user meets it: columns fitted again on
every update, names kept whole before secondary columns, a footer with no key cut, `t` with
one team, a member's team, search totals, the date dialog's hints and errors, help."""

from __future__ import annotations

from textual.widgets import Select
from textual.widgets._footer import FooterKey

from usage_tui.fmt import fit_middle
from usage_tui.model import Row, Totals
from usage_tui.widgets.breakdown_panel import BreakdownPanel
from usage_tui.widgets.breakdown_table import BreakdownTable, fit_keys
from usage_tui.widgets.date_range_screen import DateRangeScreen

from .test_tui import make_app, notices, query, settle, table_texts


def assert_columns_whole(app) -> None:
    """Every column is drawn whole: their widths add up to what the table has."""
    table = app.query_one(BreakdownTable)
    drawn = sum(c.get_render_width(table) for c in table.ordered_columns)
    assert drawn <= table.size.width - 1, (drawn, table.size.width)  # -1: the scrollbar
    headers = [c.label.plain for c in table.ordered_columns]
    assert headers[-1] in ("Ctx", "Context")


async def test_columns_are_fitted_again_on_every_update(demo_db):
    """3, g to users, 1, 2, t, 3 used to leave the column widths of the widest view: `Ct`."""
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in ("3", "g", "1", "2", "t", "3", "m", "m", "m"):
            await pilot.press(key)
            await settle(pilot)
            assert_columns_whole(app)
        keys = app.query_one(BreakdownTable).keys
        assert app.filters.group_by == "user" and "(unattributed)" in keys
        labels = [row[0] for row in table_texts(app)]
        assert any(label.startswith("(unattributed)") for label in labels)  # whole, not `(unattribute…`


async def test_names_stay_whole_before_secondary_columns(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3", "m")  # org, requests: names used to be cut to 8 characters
        await settle(pilot)
        table = app.query_one(BreakdownTable)
        assert table.names[0] == "requests" and "context" in table.names
        for key, label in zip(table.keys, [r[0] for r in table_texts(app)], strict=True):
            assert label.removesuffix(" *") == key  # every model name whole at 80 columns
        assert_columns_whole(app)


def test_keys_that_would_read_alike_are_cut_in_the_middle():
    rows = [Row(k, Totals(requests=1)) for k in ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "gpt-4o")]
    fitted = fit_keys(rows, None, 14)
    # cut at the end both would read `claude-sonnet…`
    assert fitted == {"claude-sonnet-4-5": "claude-…et-4-5", "claude-sonnet-4-5-20250929": "claude-…250929",
                      "gpt-4o": "gpt-4o"}
    assert fit_middle("claude-sonnet-4-5", 14) == "claude-…et-4-5"  # 7 + … + 6 cells
    unpriced = [Row("acme-finetune-v2", Totals(requests=1, unpriced_requests=1)), Row("o3", Totals(requests=1))]
    assert fit_keys(unpriced, "o3", 12) == {"acme-finetune-v2": "acme-fine…", "o3": "o3"}  # 12 - " *" = 10


async def test_the_footer_shows_whole_keys_at_80_columns(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for keys in ((), ("enter",)):  # and with a focused row
            for key in keys:
                await pilot.press(key)
                await settle(pilot)
            shown = [k for k in app.screen.query(FooterKey) if k.region.width]
            assert all(k.region.right <= 80 for k in shown)
            assert all(k.size.width == len(k.key_display) + (len(k.description) + 1 if k.description else 0)
                       for k in shown)  # nothing cut
            assert [k.key_display for k in shown] == ["⏎", "?", "h", "1", "2", "3", "m", "g", "d", "/", "q"]
            assert [k.description for k in shown if k.description] == [
                "Focus", "Help", "History", "Metric", "Rows", "Dates", "Search", "Quit"]


def footer_whole(app) -> list[tuple[str, str]]:
    """The keys the footer of the screen on top draws, after checking each is drawn whole
    inside 80 columns: (keys, label)."""
    shown = [k for k in app.screen.query(FooterKey) if k.region.width]
    assert shown, "no footer"
    assert all(k.region.right <= 80 for k in shown), [(k.key_display, k.region) for k in shown]
    assert all(k.size.width == len(k.key_display) + (len(k.description) + 1 if k.description else 0)
               for k in shown)  # nothing cut
    return [(k.key_display, k.description) for k in shown]


MAIN_KEYS = [("?", "Help"), ("h", "History"), ("1", ""), ("2", ""), ("3", ""), ("m", "Metric"), ("g", "Rows"),
             ("d", "Dates"), ("/", "Search"), ("q", "Quit")]


async def test_no_footer_key_is_cut_at_80_columns_in_any_state(demo_db):
    """An open list added `esc Dismiss menu` and pushed `q Quit` off the edge."""
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # a focused row
        await settle(pilot)
        assert app.filters.focus is not None
        assert footer_whole(app) == [("⏎", "Focus"), *MAIN_KEYS]
        await pilot.press("tab")  # the Scope filter, closed: the room of `⏎ Focus` takes the next key
        assert footer_whole(app) == [*MAIN_KEYS[:-1], ("e", "Export"), ("q", "Quit")]
        await pilot.press("enter")  # its list open: the view keys wait until it closes
        await pilot.pause()
        assert app.query_one("#scope", Select).expanded
        assert footer_whole(app) == [("esc", "Dismiss menu"), ("?", "Help"), ("q", "Quit"), ("^p", "Commands")]
        filters = app.filters
        await pilot.press("m", "3")
        await settle(pilot)
        assert app.filters == filters and app.query_one("#scope", Select).expanded
        await pilot.press("escape", "shift+tab", "slash")  # the search box
        assert footer_whole(app) == [("⏎", "Done"), ("esc", "Clear search"), ("^p", "Commands")]
        await pilot.press("escape", "h")  # the history of the focused row
        for _ in range(100):
            await pilot.pause(0.02)
            if type(app.screen).__name__ == "HistoryScreen" and app.screen.columns:
                break
        assert footer_whole(app) == [("⏎", "Detail"), ("esc q", "Back"), ("/", "Search"), ("s", "Sort"),
                                     ("?", "Help")]
        await pilot.press("slash")
        assert footer_whole(app) == [("⏎", "Done"), ("esc", "Clear")]
        await pilot.press("escape", "enter")  # a record
        await pilot.pause()
        assert footer_whole(app) == [("esc q", "Back"), ("?", "Help")]


async def test_t_says_when_there_is_only_one_team_and_moves_on_from_org(demo_db):
    app = make_app(demo_db, "carol")  # administers platform only
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert (app.filters.scope, app.filters.team) == ("team", "platform")
        await pilot.press("t")
        await settle(pilot)
        assert (app.filters.scope, app.filters.team) == ("team", "platform")
        assert sum("Only one team: platform is the only team carol may view." in n for n in notices(app)) == 2
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3", "t")  # from org: the team after the one the sidebar shows (platform)
        await settle(pilot)
        assert (app.filters.scope, app.filters.team) == ("team", "research")


async def test_a_members_sidebar_shows_his_team(demo_db):
    app = make_app(demo_db, "bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        team = app.query_one("#team", Select)
        assert team.value == "platform" and team.disabled  # shown, not a scope he may pick


async def test_search_says_what_the_shown_rows_add_up_to(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"gpt", "enter")
        await settle(pilot)
        full = query(demo_db, viewer="alice")
        matching = [r for r in full["rows"] if "gpt" in r["key"]]
        part = sum(r["cost_usd"] for r in matching)
        unpriced = sum(r["unpriced_requests"] for r in matching)
        subtitle = app.query_one(BreakdownPanel).border_subtitle
        assert subtitle == (f"{len(matching)} of {len(full['rows'])} rows · ${part:,.2f} of "
                            f"${full['totals']['cost_usd']:,.2f}" + (f" · * {unpriced} unpriced" if unpriced else ""))
        assert "rows" in app.query_one(BreakdownPanel).border_title


async def test_date_dialog_hints_follow_the_focus_and_errors_go_with_their_cause(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d")
        screen = app.screen
        assert isinstance(screen, DateRangeScreen)

        def hint() -> str:
            return str(screen.query_one("#range-hint").render())

        assert hint().startswith("enter picks")
        await pilot.press("tab")
        assert hint() == "enter: on to To · esc cancels"
        await pilot.press("enter")
        assert hint() == "enter applies these dates · esc cancels"
        screen.query_one("#until").value = "2026-13-01"
        await pilot.press("enter")
        assert "not a valid date" in str(screen.query_one("#range-error").render())
        await pilot.press("backspace")
        await pilot.pause()
        assert str(screen.query_one("#range-error").render()) == ""


async def test_help_explains_ctx_and_the_marks(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        rows = dict(row for _, rows in app.screen.sections for row in rows)
        assert "context" in rows["Ctx"] and "input tokens" in rows["Ctx"]
        assert "unpriced" in rows["*"]


async def test_a_live_import_of_a_wider_row_refits_the_columns(demo_db):
    """A row arriving from another process with a wider cost: the columns are fitted again, Ctx
    stays whole (it was pushed to `Ct`)."""
    from usage_tui.ingest.native import to_record
    from usage_tui.store import Store

    app = make_app(demo_db, "alice", poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        widths = {c.key.value: c.get_render_width(app.query_one(BreakdownTable))
                  for c in app.query_one(BreakdownTable).ordered_columns}
        writer = Store(demo_db)
        writer.write_batch([to_record({"id": "live-wide", "ts": "2026-11-24T10:00:00Z", "provider": "openai",
                                       "model": "gpt-4o", "user": "alice", "cost_usd": 12345.67})], None)
        writer.close()
        for _ in range(200):
            await pilot.pause(0.02)
            if app.settled and app.result.totals.cost_usd > 12345:
                break
        await settle(pilot)
        table = app.query_one(BreakdownTable)
        grown = {c.key.value: c.get_render_width(table) for c in table.ordered_columns}
        assert grown["metric"] > widths["metric"]  # "$12,345.67" is wider than any cost before
        assert_columns_whole(app)
        assert table.get_row("gpt-4o")[0].plain.startswith("gpt-4o")
