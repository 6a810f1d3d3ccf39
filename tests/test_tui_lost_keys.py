"""No key typed in a burst is lost or reordered in any text box (issue 30): the boxes a key
opens (the history's search after h, the export path after e, the command palette after ^p)
take the keys typed right behind the key that opened them, editing keys included."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from usage_tui.widgets.export_screen import ExportScreen

from . import test_tui
from .test_history_screen import settle_history
from .test_tui import make_app, settle
from .test_tui_keys import burst, typed

small_db = test_tui.small_db  # the fixture: the hand-written store of test_tui


async def test_keys_typed_behind_h_reach_the_history_search(small_db):
    app = make_app(small_db, "alice")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        burst(app, "h", "slash", *"bobx", "backspace", "enter")
        await pilot.pause(0.5)
        screen = await settle_history(pilot)
        assert screen.query_one("#history-search", Input).value == "bob"
        assert screen.search == "bob" and [r.id for r in screen.records] == ["r3"]


async def test_keys_typed_behind_e_reach_the_export_path(small_db, tmp_path):
    app = make_app(small_db, "alice", export_dir=tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        target = str(tmp_path / "mine.csv")
        burst(app, "e", "ctrl+u", *typed(target))
        await pilot.pause(0.5)
        assert isinstance(app.screen, ExportScreen)
        assert app.screen.query_one(Input).value == target


async def test_keys_typed_behind_ctrl_p_reach_the_palette(small_db):
    from textual.command import CommandInput

    app = make_app(small_db, "alice")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        for key in ("ctrl+p", *"metrx", "backspace", "i", "c"):
            app.post_message(events.Key(key, {"ctrl+p": None, "backspace": "\x7f"}.get(key, key)))
        await pilot.pause(0.5)
        assert app.screen.query_one(CommandInput).value == "metric"


async def test_a_view_key_typed_before_a_dialog_key_acts(small_db):
    """`m d`: m bubbled up from the table after d had opened the dialog, and was refused there."""
    from usage_tui.widgets.date_range_screen import DateRangeScreen

    app = make_app(small_db, "alice")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        burst(app, "m", "d")
        await pilot.pause(0.5)
        assert isinstance(app.screen, DateRangeScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert app.filters.metric == "requests"


async def test_down_then_h_opens_the_history_of_the_row_moved_to(small_db):
    app = make_app(small_db, "alice")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)  # alice's rows: gpt-4o, llama, mystery-1
        app.post_message(events.Key("down", None))
        burst(app, "h")
        screen = await settle_history(pilot)
        assert screen.view.spec.focus == "llama"


async def test_keys_typed_behind_enter_in_the_history_search_leave_the_box(small_db):
    app = make_app(small_db, "alice")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        burst(app, "h", "slash", *"r", "enter", "s")
        await pilot.pause(0.5)
        screen = await settle_history(pilot)
        assert screen.query_one("#history-search", Input).value == "r"  # not "rs"
        assert screen.order == "cost"  # s reached the history
