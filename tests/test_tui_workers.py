"""Pilot tests of the TUI's workers and terminals: live refresh, the loading indicator, worker
errors, the budget panel, 80×24, NO_COLOR, an unusable store, start-up objects (split from
tests/test_tui.py, whose store and helpers they use)."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from usage_tui import app as app_module
from usage_tui.app import UsageApp
from usage_tui.ingest.native import to_record
from usage_tui.query import run_query
from usage_tui.store import Store, StoreError
from usage_tui.widgets.breakdown_panel import BreakdownPanel
from usage_tui.widgets.breakdown_table import BreakdownTable
from usage_tui.widgets.budget_panel import BudgetPanel
from usage_tui.widgets.sidebar import Sidebar
from usage_tui.widgets.trend_plot import TrendPlot

from . import test_tui
from .test_tui import make_app, notices, settle, table_texts

small_db = test_tui.small_db  # the fixture: the hand-written store of test_tui


# -- workers: live refresh, loading, errors ----------------------------------------------------------
async def test_refreshes_when_another_process_writes(demo_db):
    app = make_app(demo_db, "alice", poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = app.result.totals.requests
        writer = Store(demo_db)
        writer.write_batch([to_record({"id": "live-1", "ts": "2026-11-24T10:00:00Z", "provider": "p",
                                       "model": "brand-new", "user": "alice"})], None)
        writer.close()
        for _ in range(200):
            await pilot.pause(0.02)
            if app.result.totals.requests == before + 1 and app.settled:
                break
        assert app.result.totals.requests == before + 1
        assert "brand-new" in app.query_one(BreakdownTable).keys


async def test_answers_arriving_while_the_app_closes_are_dropped(demo_db):
    # A budget or query answer can arrive after the widgets are gone (the app is closing); it
    # must not raise NoMatches. Removing the widgets stands in for the teardown.
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        result, directory = app.result, app.directory
        await app.query_one(Sidebar).remove()
        await app.query_one(TrendPlot).remove()
        app.post_message(app_module.BudgetLoaded(None))
        app.post_message(app_module.QueryFinished(app._request, app.filters, result, directory))
        await pilot.pause(0.1)
        assert app.return_code is None and app.is_running


async def test_loading_indicator_only_when_slow(demo_db, monkeypatch):
    """No indicator for a quick answer, even later; one for a query still out after slow_query_s,
    never sooner; gone with the answer, the keyboard still on the table. Deterministic on a
    loaded machine: the slow query is held by a gate (released in `finally`, before the app
    closes, so a failure does not wait out the gate), and the indicator's delay is measured
    from the request rather than assumed from how long a key press took."""
    slow = 0.3
    gate = threading.Event()
    gate.set()

    def gated_query(store, spec, **kw):
        assert gate.wait(10)  # a query in flight for as long as the test holds the gate
        return run_query(store, spec, **kw)

    monkeypatch.setattr(app_module, "run_query", gated_query)
    app = make_app(demo_db, "alice", slow_query_s=slow)
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await settle(pilot)
            plot, panel = app.query_one(TrendPlot), app.query_one(BreakdownPanel)
            shown: list[float] = []  # when the indicator came on
            app.watch(plot, "loading", lambda on: on and shown.append(time.perf_counter()), init=False)
            await pilot.press("m")  # a quick answer: its timer is stopped, no indicator comes later
            await settle(pilot)
            await pilot.pause(slow + 0.1)
            assert not plot.loading and not panel.loading
            shown.clear()  # (on a loaded machine the quick answer may have been slow too)
            gate.clear()  # a slow query
            await pilot.press("m")
            requested = app._started[app._request]
            for _ in range(1000):
                if plot.loading:
                    break
                await pilot.pause(0.01)
            assert plot.loading and panel.loading
            assert shown[0] - requested >= slow  # only once it is slow
            assert app.focused is app.query_one(BreakdownTable)
            gate.set()
            await settle(pilot)
            assert not plot.loading and not panel.loading and app.filters.metric == "tokens"
        finally:
            gate.set()


async def test_worker_errors_are_notices_and_keep_the_view(demo_db, monkeypatch):
    app = make_app(demo_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = app.result

        def broken(store, spec, **kw):
            raise StoreError("demo.db: not a usable usage store (disk I/O error)")

        monkeypatch.setattr(app_module, "run_query", broken)
        await pilot.press("m")
        await settle(pilot)
        assert app.result is before and app.filters.metric == "cost" and app.pending.metric == "cost"
        assert any("Query failed" in n and "disk I/O error" in n for n in notices(app))
        assert app.query_one("#metric").value == "cost"


# -- budget --------------------------------------------------------------------------------------------
async def test_budget_panel_is_fed_and_reloaded_when_the_window_ends(demo_db, monkeypatch):
    monkeypatch.setattr(BudgetPanel, "TICK_S", 0.05)  # ticks every 50 ms, not every second
    app = make_app(demo_db, "bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        panel = app.query_one(BudgetPanel)
        assert panel.status is not None and panel.status.user == "bob" and panel.status.over
        assert "429" in str(panel.render())
        # bob's weekly window ends Monday 2026-11-30 00:00 in Berlin (23:00Z on the 29th)
        monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-29T23:00:01Z")
        for _ in range(500):
            await pilot.pause(0.02)
            if panel.status.window_start.day == 30:
                break
        assert panel.status.window_start.day == 30 and not panel.status.over
        assert "429" not in str(panel.render())


# -- terminals ---------------------------------------------------------------------------------------
async def test_80x24_shows_every_filter_the_graph_and_the_table(demo_db):
    app = make_app(demo_db, "bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen.region
        sidebar = app.query_one(Sidebar)
        for widget_id in ("#scope", "#team", "#metric", "#group_by", "#granularity", "#dates", "#search",
                          "#budget"):
            assert screen.contains_region(app.query_one(widget_id).region), widget_id
        assert sidebar.max_scroll_y == 0
        assert app.query_one(TrendPlot).size.height >= 6
        assert app.query_one(BreakdownTable).size.height >= 8  # header + the 8 model rows
        assert app.query_one(BreakdownTable).max_scroll_x == 0  # no sideways scrolling at 80 columns


def screen_colours(app: UsageApp) -> set[tuple[int, int, int]]:
    """The hues on the whole screen as the terminal receives it: every segment of the compositor's
    strips, after the app's line filters (where Textual applies NO_COLOR). Greys are left out."""
    hues = set()
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            for colour in (segment.style.color, segment.style.bgcolor) if segment.style else ():
                if colour is not None and not colour.is_default:
                    r, g, b = colour.get_truecolor()
                    if not r == g == b:
                        hues.add((r, g, b))
    return hues


@pytest.mark.parametrize("no_color", [False, True])
async def test_no_color(demo_db, monkeypatch, no_color):
    """bob is over budget: in colour the screen has hues (the check can fail); with NO_COLOR none
    at all, and the over state is still in the words."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    app = make_app(demo_db, "bob")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.no_color is no_color
        assert len(table_texts(app)) == 8
        assert "429 Too Many Requests" in str(app.query_one(BudgetPanel).content)
        hues = screen_colours(app)
        if no_color:
            assert hues == set()
        else:
            assert len(hues) > 3


def test_run_app_on_an_unusable_store_says_so_in_one_line(tmp_path, capsys):
    bad = tmp_path / "not-a-store.db"
    bad.write_text("this is not SQLite")
    for path in (tmp_path / "missing.db", bad):
        with pytest.raises(SystemExit) as exit_info:
            app_module.run_app(path, "alice")
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("usage-tui: error: ") and err.count("\n") == 1 and "Traceback" not in err


async def test_start_up_objects_are_frozen_after_the_first_paint_and_released_on_exit(small_db):
    assert gc.get_freeze_count() == 0
    app = make_app(small_db, "alice")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        frozen = gc.get_freeze_count()
        # Textual's objects and the app's own widgets are among them: many thousands.
        assert frozen > 10_000
        await pilot.press("m")
        await settle(pilot)
        assert gc.get_freeze_count() <= frozen  # frozen once, not at every repaint (freed ones leave)
    assert gc.get_freeze_count() == 0
