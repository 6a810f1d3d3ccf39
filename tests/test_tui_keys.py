"""Keys typed faster than the app answers land in the order they were typed.

A terminal sends a burst (a paste, tmux send-keys, an SSH round trip, a loaded machine) as
key events queued all at once. Posting them to the app in one go, without waiting between
them, is that burst. Three ways the app could reorder or lose such keys, each tested:
- the sidebar writing the view's search back into the box while the user types on in it;
- a text box's own editing keys (backspace, ctrl+u, arrows) run by Textual only once the key
  has bubbled up to the app, after the characters typed behind them (Textualize/textual#6605);
- enter and escape in a box (priority keys, acted on when the app first sees them) reading or
  clearing the box before the characters typed ahead of them reached it.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import date

from textual import events

from usage_tui import app as app_module
from usage_tui.query import run_query
from usage_tui.widgets.date_range_screen import DateRangeScreen
from usage_tui.widgets.search_input import SearchInput

from . import test_tui
from .test_tui import make_app, settle

small_db = test_tui.small_db  # the fixture: the hand-written store of test_tui

CHARACTERS = {"ctrl+u": None, "enter": "\r", "escape": "\x1b", "tab": "\t", "slash": "/", "minus": "-",
              "backspace": "\x7f", "left": None, "end": None, "question_mark": "?"}


def key_event(key: str) -> events.Key:
    return events.Key(key, key if len(key) == 1 else CHARACTERS[key])


def burst(app, *keys: str) -> None:
    """Queue every key at once, as a terminal's burst does (nothing processed in between)."""
    for key in keys:
        app.post_message(key_event(key))


def typed(text: str) -> list[str]:
    return ["minus" if c == "-" else c for c in text]


async def test_the_view_catching_up_never_rewrites_the_search_box_being_typed_in(demo_db, monkeypatch):
    """"gpt" typed while the answer for "g" is on its way once arrived as "gtp": the answer put
    "g" back in the box (the p lost, the cursor after g), the request for "gp" put "gp" back
    with the cursor still after g, and t went in there. Deterministic: the answer for "g" is
    held by a gate, and the debounce is long while p is typed, so the answer arrives while the
    box holds "gp" and the view does not yet."""
    held, release = threading.Event(), threading.Event()

    def query(store, spec, **kw):
        if spec.search == "g":
            held.set()
            release.wait(10)
        return run_query(store, spec, **kw)

    monkeypatch.setattr(app_module, "run_query", query)
    app = make_app(demo_db, "alice", search_debounce_s=0.01)
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await settle(pilot)
            await pilot.press("slash", "g")
            assert await asyncio.to_thread(held.wait, 10)  # the search for "g" is in its worker
            app.sidebar.search_debounce_s = 3600  # p is typed; the view does not ask for it yet
            await pilot.press("p")
            release.set()  # the answer for "g" arrives while the box holds "gp"
            for _ in range(500):
                await pilot.pause(0.02)
                if app.result.spec.search == "g":
                    break
            assert app.result.spec.search == "g"
            assert app.query_one(SearchInput).value == "gp"  # was "g"
            app.sidebar.search_debounce_s = 0.01
            await pilot.press("t")
            await settle(pilot)
            assert app.query_one(SearchInput).value == "gpt"  # was "gtp"
            assert app.filters.search == "gpt"
        finally:
            release.set()  # before the app closes: its worker would otherwise wait out the gate


async def test_a_burst_in_the_search_box_then_escape_leaves_no_search(demo_db):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst(app, "slash", "o", "escape", "m")
        await settle(pilot)
        assert app.query_one(SearchInput).value == "" and app.filters.search == ""
        assert app.filters.metric == "requests"  # m, behind escape, reached the table
        burst(app, "slash", "l", "l", "backspace", "a", "enter")
        await settle(pilot)
        assert app.filters.search == "la"


async def test_ctrl_u_then_a_date_typed_in_a_burst_in_the_date_dialog(small_db):
    """Issue 30: after ctrl+u, `2020-01-01` arrived as `020-01-01`."""
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d", "tab")
        assert isinstance(app.screen, DateRangeScreen)
        burst(app, "ctrl+u", *typed("2026-11-21"), "enter", "ctrl+u", *typed("2026-11-22"), "enter", "m")
        await settle(pilot)
        assert not isinstance(app.screen, DateRangeScreen)
        assert (app.result.since, app.result.until) == (date(2026, 11, 21), date(2026, 11, 22))
        assert app.result.spec.metric == "requests"  # m, typed behind enter, reached the view


async def test_a_text_box_runs_its_editing_keys_in_the_order_they_reach_it(small_db):
    """The keys queued in the box itself (what a burst leaves there): its bound keys act where
    they were typed among the characters, not once they have bubbled up to the app."""
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("d", "tab")
        box = app.screen.query_one("#since")
        # ctrl+u empties the box (its text was selected by tab); then 2020-01-01, two left, a
        # backspace (the second -), a 3; end, a backspace (the last 1), a 5
        for key in ("ctrl+u", *typed("2020-01-01"), "left", "left", "backspace", "3", "end", "backspace", "5"):
            box.post_message(key_event(key))
        await pilot.pause(0.1)
        assert box.value == "2020-01305"



async def test_an_answer_arriving_while_a_dialog_is_open_is_shown(demo_db, monkeypatch):
    """m, then ? before the answer: the answer is drawn under the help (the app keeps its view's
    widgets rather than looking them up on the screen on top)."""
    held, release = threading.Event(), threading.Event()

    def query(store, spec, **kw):
        if spec.metric == "requests":
            held.set()
            release.wait(10)
        return run_query(store, spec, **kw)

    monkeypatch.setattr(app_module, "run_query", query)
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await settle(pilot)
            await pilot.press("m")
            assert held.wait(10)
            await pilot.press("question_mark")
            assert app.screen.is_modal
            release.set()
            await settle(pilot)
            assert app.screen.is_modal and app.result.spec.metric == "requests"
            await pilot.press("escape")
            assert app.query_one("#metric").value == "requests"
        finally:
            release.set()  # before the app closes: its worker would otherwise wait out the gate


async def test_keys_typed_right_behind_q_open_nothing(demo_db):
    """q, then e (or d, ?, h) before the app is gone: a dialog pushed while the app closes was
    mounted without its widgets (NoMatches), or a key reached the app after its screens were
    gone (ScreenStackError): a traceback on exit."""
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst(app, "q", *"eueh")  # (d and ? are priority keys: they act before q has bubbled up)
        await pilot.pause(0.5)
    assert app.return_code == 0


async def test_keys_typed_right_behind_d_wait_for_the_dialog(small_db):
    """d, then tab, ctrl+u and a date in one burst (tmux send-keys, a paste): the keys reached
    the dialog before its widgets were mounted, and were lost."""
    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst(app, "d", "tab", "ctrl+u", *typed("2026-11-21"), "enter", "ctrl+u", *typed("2026-11-22"), "enter",
              "m")
        await settle(pilot)
        assert not isinstance(app.screen, DateRangeScreen)
        assert (app.result.since, app.result.until) == (date(2026, 11, 21), date(2026, 11, 22))
        assert app.result.spec.metric == "requests"
