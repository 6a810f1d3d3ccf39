"""SVG snapshots of the main states at 80×24 and 120×36 (pytest-textual-snapshot).

Update after an intended change of the look with `pytest tests/test_snapshots.py --snapshot-update`
and review the SVGs (snapshot_report.html shows the differences)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from usage_tui.app import create_app
from usage_tui.sample import demo_directory, generate
from usage_tui.store import Store

from .test_tui import settle

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SIZES = [(80, 24), (120, 36)]


@pytest.fixture
def demo_db(tmp_path, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_NOW", NOW.isoformat())
    path = tmp_path / "demo.db"
    store = Store(path)
    store.load_directory(demo_directory(login="alice"))
    store.write_batch(list(generate(events=3000, seed=3, now=NOW)), None)
    store.close()
    return path


def settled(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot, pilot.app)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, pilot.app)
        await pilot.pause(0.1)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_default_view(snap_compare, demo_db, size):
    assert snap_compare(create_app(demo_db, "alice"), terminal_size=size, run_before=settled())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_org_scope_focused_row(snap_compare, demo_db, size):
    app = create_app(demo_db, "alice")
    assert snap_compare(app, terminal_size=size, run_before=settled("3", "down", "enter"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_empty_state(snap_compare, demo_db, size):
    assert snap_compare(create_app(demo_db, "stranger"), terminal_size=size, run_before=settled())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_refused_scope_change(snap_compare, demo_db, size):
    assert snap_compare(create_app(demo_db, "bob"), terminal_size=size, run_before=settled("3"))
