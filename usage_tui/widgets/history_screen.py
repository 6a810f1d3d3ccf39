"""The request history of a view or a row: one line per record, loaded a page at a time by a
thread worker, and the detail of one record (every stored field, the token anatomy, how it was
attributed and priced, where it came from).

The records come from `query.run_history` (the same function as `spend records`), the words
from `history.Explainer`; this module only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from ..fmt import compact, cost_text, fit_middle
from ..history import Explainer, detail_rows
from ..model import HistoryRecord, QuerySpec, Totals
from ..query import run_history
from ..store import Store
from .fitted_footer import FittedFooter
from .history_columns import Column, fit_columns, record_values, wanted_columns
from .in_order_input import InOrderInput, own_binding_ran
from .record_detail_screen import RecordDetailScreen

PAGE = 100  # records per page: one scan of the records each (the store has no time index)
PREFETCH = 20  # rows before the end at which the next page is asked for
SEARCH_DEBOUNCE_S = 0.2


@dataclass(frozen=True)
class HistoryView:
    """What the screen shows: the view's spec (with the row as its focus), and the row's figures."""

    spec: QuerySpec
    tz: str
    title: str
    totals: Totals | None = None


def figures(t: Totals) -> str:
    """`$1.75 · 3 req · 2.7k tok`; `— · 3 req …` when none of them has a price."""
    return f"{cost_text(t.cost_usd, t.requests, t.unpriced_requests)} · {compact(t.requests)} req · {compact(t.tokens)} tok"


class HistoryLoaded(Message):
    def __init__(self, request: int, records: list[HistoryRecord], after, explained: list[tuple[str, str]],
                 append: bool) -> None:
        super().__init__()
        self.request = request
        self.records = records
        self.after = after
        self.explained = explained
        self.append = append


class HistoryTable(DataTable):
    """Home and end move the cursor to the first and last loaded record (the columns always fit:
    nothing to scroll sideways); the last rows ask for the next page."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Detail", id="history.detail", tooltip="Every field of the record"),
        Binding("home", "scroll_top", "First", id="history.first", show=False),
        Binding("end", "scroll_bottom", "Last", id="history.last", show=False),
    ]

    async def _on_key(self, event: events.Key) -> None:
        if not await own_binding_ran(self, event):  # arrows and enter in the order typed
            await super()._on_key(event)


class HistorySearch(InOrderInput):
    """Enter and escape have priority (acted on when the app first sees them), so the keys typed
    behind them go to the table, not into the box; the search is read once the keys typed
    before them are in."""

    BINDINGS = [
        Binding("enter", "screen.leave_search('keep')", "Done", id="history.search.done", priority=True),
        Binding("escape", "screen.leave_search('clear')", "Clear", id="history.search.clear", priority=True),
    ]


class HistoryScreen(ModalScreen[None]):
    """Full-screen and modal, so the main view's keys stay off while it is open."""

    # The table from the start: Textual's default focused the (hidden) search box until
    # on_mount, and `h /` in a burst put the / in it.
    AUTO_FOCUS = "HistoryTable"

    DEFAULT_CSS = """
    HistoryScreen { background: $background; }
    HistoryScreen > #history-title, HistoryScreen > #history-summary {
        height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    HistoryScreen > #history-title { text-style: bold; background: $surface; }
    HistoryScreen > #history-summary { color: $text-muted; }
    HistoryScreen > HistorySearch { display: none; margin: 0 1; }
    HistoryScreen.-searching > HistorySearch { display: block; }
    HistoryScreen > HistoryTable { height: 1fr; scrollbar-size-vertical: 1; }
    HistoryScreen > #history-empty { height: auto; padding: 0 1; color: $text-muted; display: none; }
    HistoryScreen.-empty > #history-empty { display: block; }
    """

    # `q` goes back too, as in less or htop's subviews: only the main screen quits. One footer
    # entry says both keys (the footer shows one key per action).
    # q, / and s have priority, as the main view's keys: acted on in the order typed (`/ bob`:
    # the box had not the focus yet when bob reached the table, and bob was lost).
    BINDINGS = [
        Binding("escape", "close", "Back", key_display="esc q", id="history.close", tooltip="Back to the table"),
        Binding("q", "close", "Back", id="history.close.q", show=False, priority=True),
        Binding("slash", "search", "Search", key_display="/", id="history.search", priority=True,
                tooltip="Search the records: id, model or user"),
        Binding("s", "toggle_order", "Sort", id="history.sort", priority=True,
                tooltip="Newest first ↔ costliest first"),
        # Shown only: the app's `?` has priority and opens this screen's help (the footer of a
        # modal screen lists its own keys only).
        Binding("question_mark", "app.help", "Help", key_display="?", id="history.help",
                tooltip="Help: every key of the history, and what the columns mean"),
    ]

    def __init__(self, store: Store, view: HistoryView) -> None:
        super().__init__()
        self.store = store
        self.view = view
        self.tz = ZoneInfo(view.tz)
        self.order = "time"
        self.search = ""
        self.records: list[HistoryRecord] = []
        self.values: list[dict[str, str]] = []  # each loaded record's cells as text, for fitting
        self.explained: list[tuple[str, str]] = []
        self.after = None
        self.loading_page = False
        self._request = 0
        self._search_timer: Timer | None = None
        self.columns: list[Column] = []

    @property
    def settled(self) -> bool:
        return not self.loading_page and self._search_timer is None

    def compose(self) -> ComposeResult:
        yield Static(id="history-title")
        yield Static(id="history-summary")
        yield HistorySearch(placeholder="id, model or user", id="history-search", compact=True)
        yield HistoryTable(cursor_type="row", zebra_stripes=True, id="history-table")
        yield Static(id="history-empty")
        yield FittedFooter()

    def on_mount(self) -> None:
        self._title()
        self.query_one(HistoryTable).focus()
        self.reload()

    # -- loading ---------------------------------------------------------------------------------
    def reload(self) -> None:
        self.records, self.values, self.explained, self.after = [], [], [], None
        self._request += 1
        self.query_one(HistoryTable).clear()  # the columns stay until the view's first page fits new ones
        self._summary()
        self.load_page(self._request, None, append=False)

    def load_page(self, request: int, after, *, append: bool) -> None:
        self.loading_page = True  # said in the summary line: `loading` on the table would take its focus
        self._summary()
        self.fetch_page(request, self.view.spec, self.order, self.search or None, after, append)

    @work(thread=True, exclusive=True, group="history", name="history page", exit_on_error=False)
    def fetch_page(self, request: int, spec: QuerySpec, order: str, search: str | None, after, append: bool) -> None:
        page = run_history(self.store, spec, order=order, search=search, after=after, limit=PAGE)
        explainer = Explainer(self.store.directory(), self.store.pricer())
        explained = [(explainer.attribution(r), explainer.price_source(r)) for r in page.records]
        if not get_current_worker().is_cancelled:
            self.post_message(HistoryLoaded(request, page.records, page.after, explained, append))

    @on(HistoryLoaded)
    def page_loaded(self, message: HistoryLoaded) -> None:
        if message.request != self._request:
            return  # a page of an order or search the user already left
        self.loading_page = False
        table = self.query_one(HistoryTable)
        new = [record_values(r, self.tz) for r in message.records]
        self.records += message.records
        self.values += new
        self.explained += message.explained
        self.after = message.after
        if message.append:  # later pages go into the view's columns: they never jump while scrolling
            table.add_rows([self._cells(v) for v in new])
        else:
            self._fit()  # a view's first page: the columns are fitted to it and the width
            table.move_cursor(row=0, animate=False)
        self._summary()
        self.set_class(not self.records, "-empty")
        self.query_one("#history-empty", Static).update(
            f"No records match “{self.search}”: / edits the search." if self.search else
            "No records in this view: broaden the date range or change the scope.")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "history" and event.state == WorkerState.ERROR:
            self.loading_page = False
            self._summary()
            self.notify(str(event.worker.error), title="History unavailable", severity="error", timeout=10)

    @on(DataTable.RowHighlighted)
    def maybe_next_page(self, event: DataTable.RowHighlighted) -> None:
        if (self.after is not None and not self.loading_page
                and event.cursor_row >= len(self.records) - PREFETCH):
            self.load_page(self._request, self.after, append=True)

    # -- layout ----------------------------------------------------------------------------------
    def _fit(self) -> None:
        """Columns for the width there is and the page loaded first (history_columns)."""
        width = max(40, self.size.width or self.app.size.width) - 1  # the scrollbar
        first = self.values[:PAGE]
        self.columns = fit_columns(wanted_columns(self.view.spec, first), first, width)
        table = self.query_one(HistoryTable)
        table.clear(columns=True)
        for c in self.columns:
            table.add_column(Text(c.header, justify="right") if c.right else c.header, key=c.key, width=c.width)
        table.add_rows([self._cells(v) for v in self.values])

    def _cells(self, values: dict[str, str]) -> list[Text]:
        cells = []
        for c in self.columns:
            style = "bold" if c.key == "cost" else ("red" if c.key == "status" and values["_error"] else "")
            cells.append(Text(fit_middle(values[c.key], c.width), justify="right" if c.right else "left",
                              style=style, no_wrap=True))
        return cells

    def _summary(self) -> None:
        """The row's figures, then the records shown. With a search, the figures are the
        matches' once all of them are loaded; until then they are labelled as the row's."""
        n = len(self.records)
        more = self.after is not None or self.loading_page
        parts = []
        if self.search and not more and not self.records:
            pass  # "0 records matching": no figures to give
        elif self.search and not more:
            matches = Totals()
            for r in self.records:
                matches.add(Totals(cost_nano=r.cost_nano or 0, requests=r.requests, prompt_tokens=r.prompt_tokens,
                                   completion_tokens=r.completion_tokens, cached_input_tokens=r.cached_input_tokens,
                                   unpriced_requests=r.requests if r.cost_nano is None else 0))
            parts.append(f"matches {figures(matches)}")
        elif self.view.totals is not None:
            parts.append(f"{'row ' if self.search else ''}{figures(self.view.totals)}")
        shown = f"{n:,}{'+' if self.after is not None else ''} record{'' if n == 1 and self.after is None else 's'}"
        if self.search:
            shown += f" matching “{self.search}”"
        parts.append(shown)
        parts.append("newest first" if self.order == "time" else "costliest first")
        if self.loading_page:
            parts.append("loading…")
        self.query_one("#history-summary", Static).update(" · ".join(parts))

    def _title(self) -> None:
        """The zone is said when it fits (times are in it); the view's own words always are."""
        title, zone = self.view.title, f" ({self.view.tz})"
        fits = len(title) + len(zone) <= (self.size.width or self.app.size.width) - 2
        self.query_one("#history-title", Static).update(title + zone if fits else title)

    def on_resize(self) -> None:
        self._title()
        if self.columns:
            table = self.query_one(HistoryTable)
            cursor = table.cursor_row
            self._fit()
            table.move_cursor(row=cursor, animate=False)

    # -- actions ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # `/` in the box is a character of the search; the footer hides the keys the box takes,
        # but Textual does not know `slash` is one.
        if action in ("search", "close", "toggle_order") and isinstance(self.focused, HistorySearch):
            return False  # letters of the search (escape there is the box's: it clears it)
        if self.app.screen is not self:
            return False  # a record or the help over the history: their keys, not these
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    @staticmethod
    def help_sections() -> list[tuple[str, list[tuple[str, str]]]]:
        keys = [("↑ ↓ pgup pgdn", "Move; the next page loads as you near the end"),
                ("home end", "First / last loaded record"),
                *((b.key_display or b.key, b.tooltip or b.description)
                  for b in (*HistoryTable.BINDINGS[:1], *HistoryScreen.BINDINGS) if b.show and b.action != "app.help"),
                ("esc (search box)", "Clear the search, back to the records"),
                ("esc q (record)", "Back from a record to the history")]
        columns = [("Model", "The model id the request used (several ids the directory folds into one "
                             "model show where they differ)"),
                   ("Team Key Agent", "Shown where the records differ in them, as the width allows"),
                   ("In", "Prompt tokens (uncached input)"), ("Cache", "Cached input tokens"),
                   ("Out", "Completion tokens"),
                   ("Ctx", "Context tokens: the part of the input injected by knowledge or memory"),
                   ("Req", "Requests the record stands for"),
                   ("Cost", "Its cost; `unpriced` when no price is known (left out of costs, never $0)"),
                   ("Status", "HTTP status and policy verdict"),
                   ("Id", "The request's id (cut in the middle when narrow: its end tells ids apart)")]
        return [("Request history", keys), ("Columns", columns)]

    def action_toggle_order(self) -> None:
        self.order = "cost" if self.order == "time" else "time"
        self.reload()

    def action_search(self) -> None:
        self.add_class("-searching")
        self.set_focus(self.query_one(HistorySearch))  # now: Widget.focus() waits, and keys went past

    async def action_leave_search(self, how: str) -> None:
        box = self.query_one(HistorySearch)
        await box.keys_taken()  # the characters typed before enter or escape are in first
        if how == "clear":
            box.value = ""
        if not box.value:
            self.remove_class("-searching")
        self.set_focus(self.query_one(HistoryTable))

    @on(Input.Changed, "#history-search")
    def search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(SEARCH_DEBOUNCE_S, self._apply_search)

    def _apply_search(self) -> None:
        self._search_timer = None
        text = self.query_one(HistorySearch).value.strip()[:256]
        if text != self.search:
            self.search = text
            self.reload()

    @on(DataTable.RowSelected)
    def open_detail(self, event: DataTable.RowSelected) -> None:
        event.stop()
        i = event.cursor_row
        if 0 <= i < len(self.records):
            attribution, price = self.explained[i]
            rows = detail_rows(self.records[i], self.tz, attribution, price)
            self.app.push_screen(RecordDetailScreen(rows))
