"""The Textual app: wiring only.

Keys and the sidebar change `Filters` (usage_tui/view_state.py); a thread worker turns them into
a QuerySpec and runs the one query function (`usage_tui.query.run_query`, the same as `spend
summary`), then posts `QueryFinished`; the widgets draw it. The query layer enforces scopes: a
refused view raises ScopeError in the worker, and the view on screen stays as it was.

Every key of the main view is bound here, in one list (the footer, the help and the command
palette follow it); each acts in the widget it acts on: `sidebar.…` actions run on the Sidebar,
`table.…` ones on the BreakdownTable.
"""

from __future__ import annotations

import gc
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.command import CommandPalette
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, OptionList, Select
from textual.worker import Worker, WorkerState, get_current_worker

from . import clock
from .budget import budget_status
from .directory import Directory
from .identity import not_listed_note, resolve_identity
from .model import QueryResult
from .query import QueryError, ScopeError, run_query, zone
from .store import StoreError, StorePermissionError, UsageStore, open_store
from .store.changes import ChangeWatch, watch_changes
from .view_command import command_for
from .view_state import Filters
from .widgets.breakdown_panel import BreakdownPanel
from .widgets.breakdown_table import BreakdownTable
from .widgets.budget_panel import BudgetPanel
from .widgets.command_palette import InOrderCommandPalette
from .widgets.command_screen import CommandScreen
from .widgets.fitted_footer import FittedFooter
from .widgets.help_screen import SCOPE_KEYS, HelpScreen, view_help
from .widgets.history_screen import HistoryScreen
from .widgets.record_detail_screen import RecordDetailScreen
from .widgets.sidebar import SCOPE_LABELS, SEARCH_DEBOUNCE_S, Sidebar
from .widgets.trend_plot import TrendPlot
from .widgets.worker_messages import BudgetLoaded, QueryFinished, StoreChanged, describe

POLL_S = 2.0  # live refresh: how often an SQLite store's data_version is read (PostgreSQL notifies)
SLOW_QUERY_S = 0.15  # a query slower than this gets a loading indicator


class UsageApp(App):
    """The Usage page: filter sidebar, trend graph, breakdown table."""

    CSS_PATH = "app.tcss"
    TITLE = "usage-tui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    COMMAND_PALETTE_DISPLAY = "^p"

    # The footer (FittedFooter) shows as many keys as fit, most important first: this order.
    # Every key of the view has priority: the app acts on it when it first sees it, in the
    # order typed. A key left to bubble up from the table was acted on after the keys typed
    # behind it (`m d`: the dialog opened first and m was lost; `h / bob`: bob went into the
    # main search). check_action lets them through as text to text boxes and to dialogs.
    FOOTER_IMPORTANCE = ("table.focus_row", "help.show", "app.quit", "history.open", "scope.personal",
                         "metric.next", "grouping.next", "range.pick", "search.focus", "focus.clear",
                         "table.export", "team.next", "granularity.toggle", "view.refresh", "view.command",
                         "palette.show")
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?", id="help.show", priority=True,
                tooltip="Help: every key, and what the columns mean"),
        Binding("escape", "table.clear_focus", "Unfocus", id="focus.clear", priority=True,
                tooltip="Clear the row focus: the graph shows the whole scope again"),
        Binding("h", "table.history", "History", id="history.open", priority=True,
                tooltip="The requests behind the selected row: time, tokens, cost; enter on one explains it"),
        Binding("1", "sidebar.scope('personal')", "Personal", id="scope.personal", priority=True, group=SCOPE_KEYS,
                tooltip="Scope: your own usage"),
        Binding("2", "sidebar.scope('team')", "Team", id="scope.team", priority=True, group=SCOPE_KEYS,
                tooltip="Scope: the selected team (its admins and org admins)"),
        Binding("3", "sidebar.scope('org')", "Org", id="scope.org", priority=True, group=SCOPE_KEYS,
                tooltip="Scope: the whole organization (org admins)"),
        Binding("t", "sidebar.next_team", "Team", id="team.next", priority=True, tooltip="Next team (team scope)"),
        Binding("m", "sidebar.next_metric", "Metric", id="metric.next", priority=True, tooltip="Metric: cost → requests → tokens"),
        Binding("g", "sidebar.next_grouping", "Rows", id="grouping.next", priority=True,
                tooltip="Group rows by provider → model → user → team → agent → key → verdict"),
        Binding("d", "sidebar.date_range", "Dates", id="range.pick", priority=True,
                tooltip="Date range: last 7, 30, 90 days, month to date, or custom dates"),
        Binding("slash", "sidebar.search", "Search", key_display="/", id="search.focus", priority=True,
                tooltip="Search: filter the rows as you type"),
        Binding("w", "sidebar.toggle_granularity", "Day/wk", id="granularity.toggle", priority=True,
                tooltip="Daily ↔ weekly buckets"),
        Binding("e", "table.export", "Export", id="table.export", priority=True,
                tooltip="Export the table to a CSV file (you pick where)"),
        Binding("c", "show_command", "Command", id="view.command", priority=True,
                tooltip="The CLI command for this view, copied to the clipboard (scripts, agents)"),
        Binding("r", "refresh", "Refresh", id="view.refresh", priority=True,
                tooltip="Refresh (the view also follows the store by itself)"),
        Binding("q", "quit", "Quit", id="app.quit", priority=True,
                tooltip="Quit (on the history and on a record, q goes back, as escape does)"),
        Binding("ctrl+p", "command_palette", "Commands", key_display="^p", id="palette.show", priority=True,
                tooltip="Command palette: every action by name"),
        # The screen's own tab and shift+tab, with priority: they move the focus when the app
        # first sees them, so the keys typed right behind them (d tab 2026-11-21) go where the
        # focus went, not where it was while tab bubbled up.
        Binding("tab", "focus_next", "Next", id="focus.next", show=False, priority=True),
        Binding("shift+tab", "focus_previous", "Previous", id="focus.previous", show=False, priority=True),
    ]

    def __init__(self, store: UsageStore, viewer: str, *, poll_interval: float | None = POLL_S,
                 export_dir: Path | None = None, slow_query_s: float = SLOW_QUERY_S,
                 search_debounce_s: float = SEARCH_DEBOUNCE_S) -> None:
        super().__init__()
        self.store = store
        self.viewer = viewer
        self.poll_interval = poll_interval
        self.export_dir = export_dir
        self.slow_query_s = slow_query_s  # the timings are arguments, so tests need not race them
        self.search_debounce_s = search_debounce_s
        # `sidebar.…` and `table.…` actions run on those widgets: Textual looks an action's
        # namespace up as an attribute of the app once it is one of these targets.
        self._action_targets = {*self._action_targets, "sidebar", "table"}
        self.filters = Filters()  # the view on screen
        self.pending = self.filters  # the view asked for last (what the next key builds on)
        self.result: QueryResult | None = None
        self.directory: Directory | None = None
        self.teams: list[str] = []
        # key press → repainted table and plot, in seconds (the last ones: a session can be long)
        self.timings: deque[float] = deque(maxlen=1000)
        self._request = 0
        self._applied = 0
        self._started: dict[int, float] = {}
        self._query_worker: Worker | None = None
        self._slow_timer: Timer | None = None
        self._stopping = threading.Event()
        self._watch: ChangeWatch | None = None  # the store's change watch, made by watch_store
        self._footer_without_focus = True
        self._gc_frozen = False

    # -- layout --------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # Kept, not queried: answers arrive while a dialog is the screen, and still go here.
        self.sidebar = Sidebar(id="sidebar", search_debounce_s=self.search_debounce_s)
        self.plot = TrendPlot(id="plot")
        self.breakdown = BreakdownPanel(id="breakdown")
        with Horizontal(id="body"):
            yield self.sidebar
            with Vertical(id="main"):
                yield self.plot
                yield self.breakdown
        yield FittedFooter()

    @property
    def table(self) -> BreakdownTable:
        return self.breakdown.table

    def on_mount(self) -> None:
        self.table.focus()
        self.request(self.filters)
        self.load_budget()
        if self.poll_interval:
            self.watch_store()

    def on_unmount(self) -> None:
        self._stopping.set()  # lets the watching thread end now, not at its next tick
        if self._watch is not None:
            self._watch.wake()
        if self._gc_frozen:
            gc.unfreeze()  # the objects of this app become collectable again (tests run many)
            self._gc_frozen = False

    @property
    def _widgets_gone(self) -> bool:
        """A worker's answer can arrive after the widgets are gone (the app is closing)."""
        return not self.plot.is_attached

    @property
    def settled(self) -> bool:
        """True when the screen shows the last view asked for (nothing queued or in flight)."""
        return (self.result is not None and self._applied == self._request
                and not self.sidebar.search_pending)

    @property
    def view_keys_on(self) -> bool:
        """The view's keys act: no dialog is open, and no sidebar list (an open list is a small
        mode, like a dialog; it also leaves the footer room for its `esc Dismiss menu`)."""
        list_open = isinstance(self.focused, OptionList) and isinstance(self.focused.parent, Select)
        return not (self.screen.is_modal or list_open)

    # -- queries ---------------------------------------------------------------------------------
    def request(self, filters: Filters, *, user: bool = True) -> None:
        """Ask for a view. Keys pressed before it arrives build on it; a newer request supersedes it."""
        self.pending = filters
        self._request += 1
        self._started[self._request] = time.perf_counter()
        self.sidebar.mirror(filters)
        self._query_worker = self.run_view(self._request, filters)
        if user:
            if self._slow_timer is not None:
                self._slow_timer.stop()
            self._slow_timer = self.set_timer(self.slow_query_s, self._show_loading)

    def request_with(self, **changes) -> None:
        """The view asked for last, changed."""
        self.request(self.pending.with_(**changes))

    @work(thread=True, exclusive=True, group="query", exit_on_error=False)
    def run_view(self, request: int, filters: Filters) -> None:
        worker = get_current_worker()
        directory = self.store.directory()
        spec = filters.spec(self.viewer, clock.today(zone(directory.timezone)))
        result = run_query(self.store, spec)
        if not worker.is_cancelled:
            self.post_message(QueryFinished(request, filters, result, directory))

    @work(thread=True, exclusive=True, group="budget", exit_on_error=False)
    def load_budget(self) -> None:
        status = budget_status(self.store, self.viewer)
        if not get_current_worker().is_cancelled:
            self.post_message(BudgetLoaded(status))

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def watch_store(self) -> None:
        """One long-lived thread waiting for the store to change (the store's watch: LISTEN on
        PostgreSQL, data_version polls on SQLite, read on this thread's connection) or for the
        day to turn (a view's "today" moves), at least every poll_interval."""
        worker = get_current_worker()
        try:
            def today():
                return clock.today(zone(self.store.directory().timezone))

            watch = self._watch = watch_changes(self.store)
            if self._stopping.is_set():
                watch.wake()  # unmounted while the watch was being made
            day = today()
            try:
                while not self._stopping.is_set() and not worker.is_cancelled:
                    changed = watch.wait(self.poll_interval)
                    if self._stopping.is_set():
                        break
                    now = today()
                    if changed or now != day:
                        day = now
                        self.post_message(StoreChanged())
            finally:
                watch.close()
        finally:
            self.store.close()  # this thread's connection

    @on(QueryFinished)
    def show_result(self, message: QueryFinished) -> None:
        if message.request != self._request:
            return  # an answer to a view the user already left
        if self._widgets_gone:
            return
        self._applied = message.request
        self._stop_loading()
        self.filters = message.filters
        self.result = message.result
        self.directory = message.directory
        self.teams = message.directory.teams_visible_to(self.viewer)
        self.breakdown.empty_note = not_listed_note(self.directory, self.viewer)  # (None: a directory user)
        self.plot.show_view(self.result)
        self.breakdown.show_view(self.result, self.filters.focus)
        self.sidebar.mirror(self.filters)
        if (self.filters.focus is None) != self._footer_without_focus:
            # The footer shows `esc Unfocus` only with a focused row; it recomposes on this call,
            # so only when that changes.
            self._footer_without_focus = self.filters.focus is None
            self.refresh_bindings()
        self.call_after_refresh(self._painted, message.request)

    def _painted(self, request: int) -> None:
        if not self._gc_frozen:
            self._freeze_startup_objects()
        started = self._started.pop(request, None)
        if started is not None:
            self.timings.append(time.perf_counter() - started)
        for stale in [r for r in self._started if r < request]:
            del self._started[stale]

    def _freeze_startup_objects(self) -> None:
        """After the first paint, move what start-up built (Textual, Rich, plotext, styles) out
        of the garbage collector's reach. Each full collection walked all of it: ~56 ms, twice
        in 20 key presses at 1M records, which made the slowest repaints 126-129 ms instead of
        73-83 ms. One collection first, so no start-up garbage is kept for good."""
        gc.collect()
        gc.freeze()
        self._gc_frozen = True

    def _show_loading(self) -> None:
        self._slow_timer = None
        if self._applied != self._request:
            self.plot.loading = True
            self.breakdown.loading = True

    def _stop_loading(self) -> None:
        if self._slow_timer is not None:
            self._slow_timer.stop()
            self._slow_timer = None
        self.plot.loading = False
        self.breakdown.loading = False

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Worker errors, all handled here."""
        if event.state != WorkerState.ERROR:
            return
        worker, error = event.worker, event.worker.error
        if worker.group == "query":
            if worker is not self._query_worker:
                return  # a superseded request: its answer no longer matters
            self._stop_loading()
            self._request += 1  # nothing in flight is current any more
            self._applied = self._request
            self.pending = self.filters  # the view stays as it was
            self.sidebar.mirror(self.filters)
            if isinstance(error, ScopeError):
                self.notify(f"{error}. Still showing {SCOPE_LABELS[self.filters.scope].lower()} scope.",
                            title="Scope refused", severity="warning")
            elif isinstance(error, (QueryError, clock.ClockError)):
                self.notify(str(error), title="Cannot show this view", severity="error")
            else:
                self.notify(describe(error), title="Query failed", severity="error", timeout=10)
        elif worker.group == "budget":
            self.notify(describe(error), title="Budget unavailable", severity="warning")
        elif worker.group == "poll":
            self.notify(f"{describe(error)}. Press r to refresh by hand.",
                        title="Live refresh stopped", severity="warning")

    @on(BudgetLoaded)
    def show_budget(self, message: BudgetLoaded) -> None:
        if not self._widgets_gone:
            self.sidebar.query_one(BudgetPanel).update_status(message.status)

    @on(BudgetPanel.WindowEnded)
    def budget_window_ended(self) -> None:
        self.load_budget()

    @on(StoreChanged)
    def store_changed(self) -> None:
        self.request(self.pending, user=False)
        self.load_budget()

    # -- the app's own actions (the view's are the sidebar's and the table's) --------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("refresh", "quit", "show_command") and (isinstance(self.focused, Input) or self.screen.is_modal):
            return False  # a letter in a text box; on a dialog or the history, q is the screen's
        if action in ("refresh", "show_command") and not self.view_keys_on:
            return False
        if action == "help" and (isinstance(self.focused, Input) or isinstance(self.screen, HelpScreen)):
            return False  # `?` is text in a text box; on the help, `?` closes it
        return True

    # Once q has asked to quit, keys typed right behind it act no more: a dialog pushed while
    # the app closes was mounted without its widgets (NoMatches), and a key reaching the app
    # after its screens were gone raised ScreenStackError (a traceback on exit either way).
    async def on_event(self, event: events.Event) -> None:
        if not (isinstance(event, events.Key) and self.return_code is not None):
            await super().on_event(event)

    async def run_action(self, action, default_namespace=None, namespaces=None) -> bool:
        if self.return_code is not None:
            return False
        return await super().run_action(action, default_namespace, namespaces)

    def action_refresh(self) -> None:
        self.request(self.pending)
        self.load_budget()

    def action_command_palette(self) -> None:
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(InOrderCommandPalette(id="--command-palette"))

    def action_show_command(self) -> None:
        command = command_for(self.filters, self.result, self.store.path)
        if command is not None:
            self.push_screen(CommandScreen(command))

    def action_help(self) -> None:
        in_history = isinstance(self.screen, (HistoryScreen, RecordDetailScreen))
        self.push_screen(HelpScreen(HistoryScreen.help_sections() if in_history else
                                    view_help(self.BINDINGS, self.get_key_display)))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen.is_modal:
            return
        yield from self.sidebar.system_commands()
        yield from self.table.system_commands()
        yield SystemCommand("Refresh", "Read the store again (r)", self.action_refresh)
        yield SystemCommand("CLI command", "The command for this view, copied (c)", self.action_show_command)
        yield SystemCommand("Help: keys", "Every key binding (?)", self.action_help)


def create_app(db: str | Path | UsageStore, viewer: str | None = None, **options) -> UsageApp:
    """The factory the CLI and the tests share: on a path, or on the store the caller already
    opened (the CLI's, so a run opens it once); `options` are UsageApp's (poll_interval,
    export_dir, the timings). Raises StoreError for a store that cannot be used."""
    if isinstance(db, str | Path):
        # read-only when this user cannot write the store (another user's file, a group
        # given read access, a read-only mount)
        store = open_store(db, for_reading=True,
                           on_upgrade=lambda line: print(f"usage-tui: {line}", file=sys.stderr))
    else:
        store = db
    if viewer is None:  # the CLI passes the viewer it resolved; anyone else gets the same rules
        viewer = resolve_identity(store.directory(), store.path, **store.identity_facts()).viewer
    return UsageApp(store, viewer, **options)


def run_app(db: str | Path | UsageStore, as_user: str | None = None) -> None:
    try:
        app = create_app(db, as_user)
    except (ScopeError, StorePermissionError) as exc:  # a login the directory gives to two users, or to another's id
        print(f"usage-tui: error: {exc}", file=sys.stderr)
        sys.exit(3)
    except (StoreError, QueryError, sqlite3.Error) as exc:  # one clear line, never a traceback (§8)
        where = db if isinstance(db, str | Path) else db.path
        print(f"usage-tui: error: {where}: {exc}" if isinstance(exc, sqlite3.Error) else
              f"usage-tui: error: {exc}", file=sys.stderr)
        sys.exit(2)
    app.run()
