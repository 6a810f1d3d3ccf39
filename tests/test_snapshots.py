"""SVG snapshots of the main states at 80×24 and 120×40, and of the main screen and the history
at 200×50 too (pytest-textual-snapshot).

Deterministic: the store is generated with a fixed seed and a fixed now, USAGE_TUI_NOW pins the
date range, the budget countdown and the "updated" time, and live refresh is off. Its records
carry logged costs (conftest.LOGGED_RATES), so a genai-prices release cannot change a snapshot:
these test the layout; the numbers are tested against hand-computed values elsewhere.
After an intended change of the look: `pytest tests/test_snapshots.py --snapshot-update`, then
review the SVGs (snapshot_report.html shows the differences).
"""

from __future__ import annotations

import pytest

from usage_tui.app import create_app

from .test_tui import settle

SIZES = [(80, 24), (120, 40)]
size_ids = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
# The main screen and the history at every width the TUI is laid out for (issue 30).
every_width = pytest.mark.parametrize("size", [*SIZES, (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")


def app_for(db, viewer):
    return create_app(db, viewer, poll_interval=None)


def after(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await pilot.pause(0.1)

    return run_before


@every_width
def test_default_view(snap_compare, logged_demo_db, size):
    assert snap_compare(app_for(logged_demo_db, "alice"), terminal_size=size, run_before=after())


@size_ids
def test_org_scope_focused_row(snap_compare, logged_demo_db, size):
    assert snap_compare(app_for(logged_demo_db, "alice"), terminal_size=size, run_before=after("3", "down", "enter"))


@size_ids
def test_empty_state(snap_compare, logged_demo_db, size):
    assert snap_compare(app_for(logged_demo_db, "stranger"), terminal_size=size, run_before=after())


@size_ids
def test_refused_scope_change(snap_compare, logged_demo_db, size):
    """bob (a member, over his budget) presses 3: a notice, and still his own usage."""
    assert snap_compare(app_for(logged_demo_db, "bob"), terminal_size=size, run_before=after("3"))


@size_ids
def test_open_dropdown(snap_compare, logged_demo_db, size):
    """The Scope list open in the sidebar: framed, over the labels beside it."""
    assert snap_compare(app_for(logged_demo_db, "alice"), terminal_size=size, run_before=after("tab", "enter"))


@every_width
def test_history_screen(snap_compare, logged_demo_db, size):
    """h on the org's first model: its requests, newest first."""
    from .test_history_screen import settle_history

    async def run_before(pilot) -> None:
        await after("3")(pilot)
        await pilot.press("h")
        await settle_history(pilot)
        await pilot.pause(0.1)

    assert snap_compare(app_for(logged_demo_db, "alice"), terminal_size=size, run_before=run_before)


@size_ids
def test_record_detail(snap_compare, logged_demo_db, size):
    """enter on a request of the history: every field, how it was attributed and priced."""
    from .test_history_screen import settle_history

    async def run_before(pilot) -> None:
        await after("3", "g", "g")(pilot)  # by team: records of every attribution path
        await pilot.press("h")
        await settle_history(pilot)
        await pilot.press("enter")
        await pilot.pause(0.1)

    assert snap_compare(app_for(logged_demo_db, "alice"), terminal_size=size, run_before=run_before)
