"""Pilot tests of the request history screen: `h` on a row, its pages, sort, search, the detail
of a record, and that the main view's keys stay off while it is open."""

from __future__ import annotations

import time

from usage_tui.fmt import fit_middle
from usage_tui.ingest.native import to_record
from usage_tui.store import Store
from usage_tui.widgets.breakdown_table import BreakdownTable
from usage_tui.widgets.history_columns import short
from usage_tui.widgets.history_screen import HistoryScreen, HistoryTable
from usage_tui.widgets.record_detail_screen import RecordDetailScreen

from .test_tui import make_app, settle, small_db  # noqa: F401  (fixtures)


async def settle_history(pilot, timeout: float = 10.0) -> HistoryScreen:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.02)
        screen = pilot.app.screen
        busy = [w for w in pilot.app.workers if w.group == "history" and w.is_running]
        if isinstance(screen, HistoryScreen) and screen.settled and not busy and screen.columns:
            await pilot.pause()
            return screen
    raise AssertionError("the history did not settle")


def column(screen: HistoryScreen, key: str) -> list[str]:
    table = screen.query_one(HistoryTable)
    return [table.get_cell_at((i, [c.key for c in screen.columns].index(key))).plain for i in range(table.row_count)]


def summary(screen: HistoryScreen) -> str:
    return str(screen.query_one("#history-summary").render())


async def test_h_opens_the_requests_of_the_selected_row(small_db):  # noqa: F811
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")  # org: gpt-4o is r2 (alice), r3 (bob's key), r7 (unattributed)
        await settle(pilot)
        assert app.query_one(BreakdownTable).keys[0] == "gpt-4o"
        view = app.filters
        await pilot.press("h")
        screen = await settle_history(pilot)
        assert str(screen.query_one("#history-title").render()) == (
            "Requests — model gpt-4o (org scope) · Oct 26 – Nov 24 (Europe/Berlin)")  # fits in 80
        # Berlin is UTC+1: r3 at 23:30Z is 00:30 on the 24th; newest first
        assert column(screen, "time") == ["11-24 00:30", "11-21 11:00", "11-10 13:00"]
        assert column(screen, "user") == ["bob", "alice", "(unattributed)"]
        assert column(screen, "cost") == ["$0.50", "$0.25", "$1.00"]
        assert column(screen, "in") == ["500", "2.0k", "10"]
        assert "model" not in [c.key for c in screen.columns]  # the row's own model, on every line
        # the row: $0.25 + $0.50 + $1.00; 550 + 2,100 + 20 = 2,670 tokens
        assert summary(screen) == "$1.75 · 3 req · 2.7k tok · 3 records · newest first"
        await pilot.press("s")
        screen = await settle_history(pilot)
        assert column(screen, "cost") == ["$1.00", "$0.50", "$0.25"]
        assert summary(screen).endswith("3 records · costliest first")
        await pilot.press("3", "m", "g")  # the main view's keys are off here
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HistoryScreen)
        assert app.filters == view and app.pending == view


async def test_search_and_the_detail_of_a_record(small_db):  # noqa: F811
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("h")
        screen = await settle_history(pilot)
        await pilot.press("slash", *"ALI")
        await pilot.pause(0.3)
        screen = await settle_history(pilot)
        assert column(screen, "user") == ["alice"]
        assert "1 record matching “ALI”" in summary(screen)
        await pilot.press("enter")  # keeps the search, back in the table
        assert isinstance(app.focused, HistoryTable)
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, RecordDetailScreen)
        rows = dict(detail.rows)
        assert rows["Id"] == "r2"
        assert rows["Time"] == "2026-11-21 11:00:00 CET (Europe/Berlin)"
        assert rows["Tokens"] == "2,100 = prompt 2,000 + cached 0 + completion 100"
        assert rows["Priced"] == "logged by the gateway"
        assert rows["Attributed"] == "user alice (the request's identity); team platform, primary team of alice"
        assert rows["Source"] == "unknown (written without a source)"
        await pilot.press("question_mark")  # the history's own keys and columns
        assert [heading for heading, _ in app.screen.sections] == ["Request history", "Columns"]
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("slash", "escape")  # escape in the box clears the search
        screen = await settle_history(pilot)
        assert column(screen, "user") == ["bob", "alice", "(unattributed)"]
        await pilot.press("enter")
        await pilot.pause()
        assert dict(app.screen.rows)["Attributed"] == ("user bob, via key k_bob (owner bob); "
                                                     "team platform, primary team of bob")


async def test_pages_load_as_the_cursor_nears_the_end(tmp_path, monkeypatch, directory_doc):
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    path = tmp_path / "many.db"
    store = Store(path)
    store.load_directory(directory_doc)
    store.write_batch([to_record({"id": f"m{i:03d}", "ts": f"2026-11-{10 + i // 60:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                                  "provider": "openai", "model": "gpt-4o", "user": "alice", "cost_usd": 0.01})
                       for i in range(250)], store.source_id("native", "/data/gw.jsonl"))
    store.close()
    app = make_app(path, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        screen = await settle_history(pilot)
        assert len(screen.records) == 100 and "100+ records" in summary(screen)
        await pilot.press("end")
        screen = await settle_history(pilot)
        assert len(screen.records) == 200
        await pilot.press("end")
        screen = await settle_history(pilot)
        await pilot.press("end")
        screen = await settle_history(pilot)
        assert len(screen.records) == 250 and screen.after is None
        assert len({r.id for r in screen.records}) == 250
        assert summary(screen).startswith("$2.50 · 250 req")  # 250 × $0.01
        assert "250 records" in summary(screen)
        await pilot.press("enter")
        await pilot.pause()
        assert dict(app.screen.rows)["Source"] == "/data/gw.jsonl (native)"


def test_fit_middle_and_short():
    assert fit_middle("claude-sonnet-4-5-20250929", 14) == "claude-…250929"
    assert fit_middle("gpt-4o", 14) == "gpt-4o"
    assert [short(n) for n in (0, 999, 1000, 9_960, 12_345, 150_000, 999_999, 1_500_000, 2_000_000_000)] == [
        "0", "999", "1.0k", "10k", "12k", "150k", "1.0M", "1.5M", "2.0B"]  # 9.96k and 999.999k round up


def test_record_money_keeps_fractions_of_a_cent():
    from usage_tui.fmt import record_money

    values = (None, 0, 0.03, 0.0312, 0.057168, 0.000125, 0.00148965, 0.000000123, 0.5, 2.0, 1234.5)
    assert [record_money(x) for x in values] == [
        "unpriced", "$0.00", "$0.03", "$0.0312", "$0.05717", "$0.000125", "$0.00149", "$0.000000123", "$0.50",
        "$2.00", "$1,234.50"]


async def test_the_palette_opens_the_history_of_the_selected_row(small_db):  # noqa: F811
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down")  # alice's rows: gpt-4o, llama, mystery-1 *; llama is r1 only
        await pilot.press("ctrl+p", *"history of the selected")
        await pilot.pause(0.3)
        await pilot.press("enter")
        screen = await settle_history(pilot)
        assert screen.view.spec.focus == "llama" and screen.view.spec.scope == "personal"
        assert [r.id for r in screen.records] == ["r1"]  # r5 is outside the range, r6/r8 not hers
        assert "user" not in [c.key for c in screen.columns]  # personal: always alice


async def test_q_goes_back_from_a_record_and_the_history_and_quits_only_the_main_screen(small_db):  # noqa: F811
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        view = app.filters
        await pilot.press("h")
        await settle_history(pilot)
        await pilot.press("slash", "q")  # in the search box q is a letter of the search
        await pilot.pause(0.3)
        screen = await settle_history(pilot)
        assert screen.query_one("#history-search").value == "q" and screen.search == "q"
        await pilot.press("escape")  # clears the search, back in the records
        screen = await settle_history(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RecordDetailScreen)
        await pilot.press("q")  # the record → the history
        await pilot.pause()
        assert app.screen is screen and app.is_running
        await pilot.press("q")  # the history → the main screen, the view as it was
        await pilot.pause()
        assert not isinstance(app.screen, (HistoryScreen, RecordDetailScreen)) and app.is_running
        assert app.return_code is None and app.filters == view
        await pilot.press("q")  # only the main screen quits
        await pilot.pause()
    assert app.return_code == 0


async def test_the_history_and_a_record_say_q_goes_back(small_db):  # noqa: F811
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle_history(pilot)
        assert footer(app) == [("⏎", "Detail"), ("esc q", "Back"), ("/", "Search"), ("s", "Sort"), ("?", "Help")]
        await pilot.press("question_mark")
        keys = dict(app.screen.sections)["Request history"]
        assert ("esc q", "Back to the table") in keys and ("esc q (record)", "Back from a record to the history") in keys
        await pilot.press("escape", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RecordDetailScreen)
        assert footer(app) == [("esc q", "Back"), ("?", "Help")]  # its own, not the history's keys


def footer(app) -> list[tuple[str, str]]:
    """The footer of the screen on top, as drawn: (keys, label) of each key shown."""
    from textual.widgets._footer import FooterKey

    return [(k.key_display, k.description) for k in app.screen.query(FooterKey) if k.region.width]
