"""Pilot tests of BudgetPanel in a tiny app: a sidebar-wide column, a pinned clock moved by hand.

Statuses are built by hand (the numbers are the test's own), so only the panel is under test:
its text, its 429 countdown that ticks every second, and its return to normal by itself when
the window ends, posting WindowEnded once so the app can read the spend again.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from textual.app import App, ComposeResult
from textual.color import Color
from textual.containers import Vertical

from usage_tui.budget import BudgetStatus
from usage_tui.widgets.budget_panel import BudgetPanel

from .test_tui_workers import screen_colours

BERLIN = ZoneInfo("Europe/Berlin")
# bob's weekly window: Mon 2026-11-23 00:00 → Mon 2026-11-30 00:00 in Berlin (= 2026-11-29T23:00Z)
START = datetime(2026, 11, 23, tzinfo=BERLIN)
END = datetime(2026, 11, 30, tzinfo=BERLIN)


def over_status() -> BudgetStatus:
    return BudgetStatus(user="bob", limit_usd=50.0, window="weekly", spent_usd=62.32, remaining_usd=0.0,
                        window_start=START, window_end=END, over=True, retry_after_s=3)


class PanelApp(App):
    CSS = "#sidebar { width: 25; padding: 0 1; }"  # 23 cells inside: the TUI's sidebar at 80 columns

    def __init__(self) -> None:
        super().__init__()
        self.ended: list[BudgetPanel.WindowEnded] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="sidebar"):
            yield BudgetPanel()

    def on_budget_panel_window_ended(self, message: BudgetPanel.WindowEnded) -> None:
        self.ended.append(message)


def text(panel: BudgetPanel) -> list[str]:
    return str(panel.content).splitlines()


@pytest.fixture
def clock_at(monkeypatch):
    """Moves the app's clock (USAGE_TUI_NOW)."""
    def set_now(iso: str) -> None:
        monkeypatch.setenv("USAGE_TUI_NOW", iso)

    return set_now


@pytest.fixture
def fast_ticks(monkeypatch):
    """The panel ticks every 10 ms instead of every second: a test moves the clock and waits for
    ticks, not for whole seconds of wall clock. (With a timer that busy, `pilot.pause()` waits
    up to a second for an idle CPU: such tests pause for a fixed 50 ms instead.)"""
    monkeypatch.setattr(BudgetPanel, "TICK_S", 0.01)


async def ticks(pilot, panel: BudgetPanel, n: int = 3) -> None:
    """Wait until the panel has ticked `n` more times (at most 10 s on a loaded machine)."""
    seen = []
    original = panel.render_status  # each tick renders once (the timer holds the bound tick)

    def counting(now):
        seen.append(now)
        return original(now)

    panel.render_status = counting
    try:
        for _ in range(1000):
            if len(seen) >= n:
                break
            await pilot.pause(0.01)
        assert len(seen) >= n, "the panel did not tick"
        await pilot.pause(0.02)  # what the last tick posted is handled
    finally:
        del panel.render_status


def test_the_countdown_ticks_every_second():
    assert BudgetPanel.TICK_S == 1.0  # architecture §4: the Retry-After countdown ticks every second


async def test_countdown_ticks_and_the_panel_returns_to_normal_when_the_window_ends(clock_at, fast_ticks):
    clock_at("2026-11-29T22:59:57Z")  # 3 s before the window ends
    app = PanelApp()
    async with app.run_test(size=(60, 16)) as pilot:
        panel = app.query_one(BudgetPanel)
        panel.update_status(over_status())
        await pilot.pause(0.05)
        # $62.32 ≥ $50 → a full bar (share 1.25, capped at 20 cells); 3 s left → 00:00:03
        assert text(panel) == ["$62.32 / $50.00", "█" * 20, "weekly, resets Nov 30",
                               "429 Too Many Requests", "Retry-After", "00:00:03 (3s)"]
        assert panel.has_class("over")
        assert panel.content_size.width == 23
        assert all(len(line) <= 23 for line in text(panel))

        clock_at("2026-11-29T22:59:58.500000Z")  # 1.5 s left → rounded up to 2
        await ticks(pilot, panel)
        assert text(panel)[-1] == "00:00:02 (2s)"
        assert app.ended == []

        clock_at("2026-11-29T23:00:00Z")  # Monday 00:00 in Berlin: the window is over
        await ticks(pilot, panel)
        # normal state by itself: the new week unspent, resetting the next Monday (Dec 7)
        assert text(panel) == ["$0.00 / $50.00", "░" * 20, "weekly, resets Dec 07"]
        assert not panel.has_class("over")
        assert len(app.ended) == 1

        await ticks(pilot, panel, 10)  # more ticks: WindowEnded is posted once, not at every tick
        assert len(app.ended) == 1

        # the app's fresh status for the new week replaces it, and can end again later
        fresh = BudgetStatus("bob", 50.0, "weekly", 0.0, 50.0, END, datetime(2026, 12, 7, tzinfo=BERLIN),
                             False, None, now=datetime.fromisoformat("2026-11-29T23:00:00+00:00"))
        panel.update_status(fresh)
        await pilot.pause(0.05)
        assert text(panel) == ["$0.00 / $50.00", "░" * 20, "weekly, resets Dec 07", "burn $0.00/day"]


async def test_normal_state_with_burn_rate_and_run_out(clock_at):
    clock_at("2026-11-25T23:00:00Z")
    app = PanelApp()
    async with app.run_test(size=(60, 16)) as pilot:
        panel = app.query_one(BudgetPanel)
        # $30 of $50 spent in the first 3 days (Mon 00:00 → Thu 00:00 Berlin) → $10/day; the
        # $20 left last 2 more days at that rate: Sat 2026-11-28 00:00 Berlin, before the end.
        # Bar: 30 / 50 = 0.6 of 20 cells = 12 full.
        now = datetime.fromisoformat("2026-11-25T23:00:00+00:00")
        panel.update_status(BudgetStatus("bob", 50.0, "weekly", 30.0, 20.0, START, END, False, None, now=now))
        await pilot.pause()
        assert text(panel) == ["$30.00 / $50.00", "█" * 12 + "░" * 8, "weekly, resets Nov 30",
                               "burn $10.00/day", "runs out Nov 28 00:00"]
        assert not panel.has_class("over") and app.ended == []


async def test_no_budget(clock_at, fast_ticks):
    clock_at("2026-11-25T23:00:00Z")
    app = PanelApp()
    async with app.run_test(size=(60, 16)) as pilot:
        panel = app.query_one(BudgetPanel)
        panel.update_status(over_status())
        await pilot.pause(0.05)
        panel.update_status(None)
        await ticks(pilot, panel)
        assert text(panel) == ["No budget set"] and not panel.has_class("over") and app.ended == []


async def test_a_month_long_countdown_fits_the_sidebar(clock_at):
    # Monthly, over on Dec 1 00:00:01 Berlin (2026-11-30T23:00:01Z): the month ends
    # Jan 1 00:00 Berlin (2026-12-31T23:00Z), 31 days - 1 s = 2,678,399 s = 30d 23:59:59.
    clock_at("2026-11-30T23:00:01Z")
    app = PanelApp()
    async with app.run_test(size=(60, 16)) as pilot:
        panel = app.query_one(BudgetPanel)
        dec = datetime(2026, 12, 1, tzinfo=BERLIN)
        jan = datetime(2027, 1, 1, tzinfo=BERLIN)
        panel.update_status(BudgetStatus("bob", 0.0, "monthly", 0.0, 0.0, dec, jan, True, 2_678_399))
        await pilot.pause()
        # "30d 23:59:59 (2,678,399s)" is 25 cells, wider than the sidebar's 23 → two lines
        lines = text(panel)
        assert lines[-3:] == ["Retry-After", "30d 23:59:59", "2,678,399s"]
        assert all(len(line) <= panel.content_size.width for line in lines)


@pytest.mark.parametrize("no_color", [False, True])
async def test_no_color(clock_at, monkeypatch, no_color):
    """Over budget the panel is in the error colour; with NO_COLOR the screen has no hue at all
    (checked on the segments the terminal receives), and the over state is in the words."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    clock_at("2026-11-29T22:59:57Z")
    app = PanelApp()
    async with app.run_test(size=(60, 16)) as pilot:
        panel = app.query_one(BudgetPanel)
        panel.update_status(over_status())
        await pilot.pause()
        assert app.no_color is no_color
        assert text(panel)[3:] == ["429 Too Many Requests", "Retry-After", "00:00:03 (3s)"]
        error = Color.parse(app.current_theme.error).rgb
        hues = screen_colours(app)
        if no_color:
            assert hues == set()
        else:
            # the text of the over state: the theme's error colour (± 1 from blending)
            assert any(max(abs(a - b) for a, b in zip(hue, error, strict=True)) <= 2 for hue in hues), (hues, error)
