"""The TUI at 80, 120 and 200 columns (issue 30): the room a wider terminal gives is used (more
footer keys, more table and history columns), and what tells rows apart is shown."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from . import test_tui
from .test_tui import make_app, settle, table_texts

small_db = test_tui.small_db  # the fixture: the hand-written store of test_tui


def footer(app) -> list[tuple[str, str]]:
    """The footer's keys as drawn, each checked whole and inside the screen."""
    shown = [k for k in app.screen.query(FooterKey) if k.region.width]
    width = app.size.width
    assert all(k.region.right <= width for k in shown), [(k.key_display, k.region) for k in shown]
    assert all(k.size.width == len(k.key_display) + (len(k.description) + 1 if k.description else 0)
               for k in shown)
    return [(k.key_display, k.description) for k in shown]


# The main screen's keys in the bindings' order, with the table focused and no focused row.
# Their compact widths with margins (key, space, label, space): 8 7 10 14 7 9 7 8 9 9 9 10 10 7 12 = 136.
ALL_KEYS = [("⏎", "Focus"), ("?", "Help"), ("h", "History"), ("1", ""), ("2", ""), ("3", ""), ("t", "Team"),
            ("m", "Metric"), ("g", "Rows"), ("d", "Dates"), ("/", "Search"), ("w", "Day/wk"), ("e", "Export"),
            ("c", "Command"), ("r", "Refresh"), ("q", "Quit"), ("^p", "Commands")]


async def test_the_footer_shows_every_key_that_fits_by_importance(demo_db):
    expected = {
        200: ALL_KEYS,  # 136 cells: all of them
        # 120: by importance, all up to r Refresh take 114 cells; c Command (10) and ^p (12) do not fit
        120: [k for k in ALL_KEYS if k[0] not in ("c", "^p")],
        # 80: help, quit, focus, history, scope, metric, rows, dates, search = 79 cells; no other fits
        80: [k for k in ALL_KEYS if k[0] not in ("t", "w", "e", "c", "r", "^p")],
    }
    for width, keys in expected.items():
        app = make_app(demo_db, "alice")
        async with app.run_test(size=(width, 40)) as pilot:
            await settle(pilot)
            await pilot.pause(0.1)
            assert footer(app) == keys, width
            if width == 200:  # a focused row adds `esc Unfocus` (12 cells), in its binding's place
                await pilot.press("enter")
                await settle(pilot)
                await pilot.pause(0.1)
                assert footer(app) == [*ALL_KEYS[:2], ("esc", "Unfocus"), *ALL_KEYS[2:]]
            if width == 120:  # the same app made wider: the footer follows
                await pilot.resize_terminal(200, 40)
                await pilot.pause(0.2)
                assert footer(app) == ALL_KEYS


async def test_a_row_with_no_priced_request_reads_unpriced_and_a_free_one_reads_zero(small_db):
    from usage_tui.ingest.native import to_record
    from usage_tui.store import Store

    store = Store(small_db)  # a request logged at $0 (a free tier): it cost nothing, and is priced
    store.write_batch([to_record({"id": "free1", "ts": "2026-11-23T08:00:00Z", "provider": "acme",
                                  "model": "free-tier", "user": "alice", "prompt_tokens": 5, "cost_usd": 0.0})], None)
    store.close()
    app = make_app(small_db, "alice")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        rows = {r[0]: r[1] for r in table_texts(app)}
        assert rows["mystery-1 *"] == "—"  # r4: 3 requests, none priced
        assert rows["free-tier"] == "$0.00"
        assert rows["gpt-4o"] == "$0.25"


def test_unpriced_grammar():
    from usage_tui.fmt import unpriced_note

    assert unpriced_note(1) == "1 request is unpriced"
    assert unpriced_note(2) == "2 requests are unpriced"
    assert unpriced_note(1234) == "1,234 requests are unpriced"


async def test_custom_dates_of_another_year_say_the_year(small_db):
    """2020-01-01 … 2020-01-31 read `Jan 01 – Jan 31`, as if this January (today: 2026-11-24)."""
    from usage_tui.widgets.trend_plot import TrendPlot

    app = make_app(small_db, "alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for (since, until), span in ((("2020-01-01", "2020-01-31"), "Jan 01 – Jan 31 2020"),
                                     (("2019-12-20", "2020-01-10"), "Dec 20 2019 – Jan 10 2020"),
                                     (("2026-11-21", "2026-11-22"), "Nov 21 – Nov 22")):  # this year: none
            await pilot.press("d")
            app.screen.query_one("#since").value = since
            app.screen.query_one("#until").value = until
            app.screen.set_focus(app.screen.query_one("#until"))
            await pilot.press("enter")
            await settle(pilot)
            assert " ".join(str(app.query_one("#span").render()).split()) == span  # it may wrap at 80
            assert app.query_one(TrendPlot).border_subtitle.startswith(f"{span} (Europe/Berlin)")


async def test_a_wide_table_adds_cost_per_request_the_token_split_and_unpriced_requests(small_db):
    from usage_tui.widgets.breakdown_table import BreakdownTable

    for width, extras in ((200, ["Cost/req", "Prompt", "Cached", "Completion", "Unpriced"]), (80, [])):
        app = make_app(small_db, "alice")
        async with app.run_test(size=(width, 40)) as pilot:
            await settle(pilot)
            table = app.query_one(BreakdownTable)
            headers = [c.label.plain for c in table.ordered_columns]
            assert headers[-len(extras) - 1:] == ["Context", *extras] if extras else headers[-1] in ("Ctx", "Context")
            if not extras:
                continue
            rows = {r[0]: r[-5:] for r in table_texts(app)}
            # gpt-4o: r2, one request logged at $0.25, 2000 prompt and 100 completion tokens
            assert rows["gpt-4o"] == ["$0.25", "2.0k", "0", "100", "0"]
            # mystery-1: r4, 3 requests with no price, 700 prompt and 70 completion tokens
            assert rows["mystery-1 *"] == ["—", "700", "0", "70", "3"]
            # llama: r1 (1000 prompt, 200 cached, 500 completion) priced by the directory's [[prices]]
            assert rows["llama"][1:] == ["1.0k", "200", "500", "0"]


async def open_history(app, pilot, *keys: str):
    from .test_history_screen import settle_history

    await settle(pilot)
    await pilot.press(*keys, "h")
    return await settle_history(pilot)


def history_summary(screen) -> str:
    return str(screen.query_one("#history-summary").render())


async def test_the_history_shows_what_tells_requests_apart_as_the_width_allows(small_db):
    """Org, gpt-4o: r3 (bob's key k_bob), r2 (alice), r7 (unattributed, no team). Their teams and
    keys differ, agents and request counts do not."""
    from .test_history_screen import column

    for width, keys in ((200, ["time", "user", "team", "key", "in", "cache", "out", "ctx", "cost", "status", "id"]),
                        # 80: 11+14+8+5+4×5+5+9+2 cells and 2 of padding each = 94 > 79: key, Ctx, team go
                        (80, ["time", "user", "in", "cache", "out", "cost", "status", "id"])):
        app = make_app(small_db, "alice")
        async with app.run_test(size=(width, 30)) as pilot:
            screen = await open_history(app, pilot, "3")
            assert [c.key for c in screen.columns] == keys, width
            assert column(screen, "id") == ["r3", "r2", "r7"]
            if width == 200:
                assert column(screen, "team") == ["platform", "platform", "(none)"]
                assert column(screen, "key") == ["k_bob", "", ""]


async def test_a_searched_history_says_whose_figures_its_header_gives(small_db):
    from .test_history_screen import settle_history

    app = make_app(small_db, "alice")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_history(app, pilot, "3")
        # the row: r2 $0.25 + r3 $0.50 + r7 $1.00; 2,100 + 550 + 20 tokens
        assert history_summary(screen) == "$1.75 · 3 req · 2.7k tok · 3 records · newest first"
        await pilot.press("slash", *"ALI")
        await pilot.pause(0.3)
        screen = await settle_history(pilot)
        # every match loaded (r2 only): the figures are the matches'
        assert history_summary(screen) == "matches $0.25 · 1 req · 2.1k tok · 1 record matching “ALI” · newest first"
        await pilot.press("x")  # no match: no figures ($0.00 would read as a cost)
        await pilot.pause(0.3)
        screen = await settle_history(pilot)
        assert history_summary(screen) == "0 records matching “ALIx” · newest first"


async def test_the_history_columns_are_the_same_for_the_same_view_and_pages_keep_them(tmp_path, monkeypatch,
                                                                                       directory_doc):
    """150 records of alice: the second page holds a longer id and other keys. Loading it keeps
    the columns (they were fitted to the first page); s, s and a search cleared give them back."""
    from usage_tui.ingest.native import to_record
    from usage_tui.store import Store

    from .test_history_screen import settle_history

    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    path = tmp_path / "pages.db"
    store = Store(path)
    store.load_directory(directory_doc)
    store.write_batch([to_record({"id": f"p{i:03d}" if i >= 50 else f"an-older-and-much-longer-id-{i:03d}",
                                  "ts": f"2026-11-{10 + i // 24:02d}T{i % 24:02d}:00:00Z", "provider": "openai",
                                  "model": "gpt-4o", "user": "alice", "cost_usd": 0.01,
                                  **({"agent": f"bot-{i}"} if i < 50 else {})}) for i in range(150)], None)
    store.close()
    app = make_app(path, "alice")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_history(app, pilot)
        first = list(screen.columns)
        # newest first: p149 … p050 on the first page, all one id width, no agent
        assert [c.key for c in first] == ["time", "in", "cache", "out", "ctx", "cost", "status", "id"]
        assert next(c.width for c in first if c.key == "id") == 4
        await pilot.press("end")
        screen = await settle_history(pilot)
        assert len(screen.records) == 150 and screen.columns == first
        await pilot.press("s")  # costliest first: all cost $0.01, so by id, the long ones first
        screen = await settle_history(pilot)
        cost_first = list(screen.columns)
        await pilot.press("s", "s")
        screen = await settle_history(pilot)
        assert screen.columns == cost_first
        await pilot.press("s")
        screen = await settle_history(pilot)
        assert screen.columns == first


async def test_export_goes_to_the_downloads_folder_else_the_data_folder_and_says_where(small_db, tmp_path,
                                                                                        monkeypatch):
    from textual.widgets import Input

    from usage_tui.widgets.export_screen import ExportScreen

    from .test_tui import notices

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DOWNLOAD_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # the current folder: never the default any more
    name = "usage-personal-model-2026-10-26-2026-11-24.csv"
    for downloads, folder in ((False, home / ".local/share/usage-tui/exports"), (True, home / "Downloads")):
        if downloads:
            (home / "Downloads").mkdir()
        app = make_app(small_db, "alice")
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            await pilot.press("e")
            await pilot.pause()
            assert isinstance(app.screen, ExportScreen)
            assert app.screen.query_one(Input).value == str(folder / name)
            await pilot.press("enter")
            await settle(pilot)
            await pilot.pause(0.2)
            assert (folder / name).is_file()
            assert any(f"3 rows written to {folder / name}" in n for n in notices(app))
    assert not list(tmp_path.glob("*.csv"))


def test_free_name_and_a_folder_whose_default_name_exists(tmp_path):
    from usage_tui.widgets.breakdown_table import free_name
    from usage_tui.widgets.export_screen import check_export_path

    base = tmp_path / "usage.csv"
    assert free_name(base) == base
    base.write_text("x")
    (tmp_path / "usage-2.csv").write_text("x")
    assert free_name(base) == tmp_path / "usage-3.csv"
    try:  # a folder typed in the box gets the default name, and that one exists: refused
        check_export_path(str(tmp_path), "usage.csv")
        raise AssertionError("not refused")
    except ValueError as exc:
        assert str(exc) == f"{base} exists: pick another name (an export never overwrites)"
