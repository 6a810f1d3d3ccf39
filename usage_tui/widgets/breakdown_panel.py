"""The breakdown table in its titled frame, with the view's totals and its empty states."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ..model import QueryResult
from .breakdown_table import BreakdownTable, totals_line

EMPTY_TABLE = ("No attributed usage in this view: broaden the date range (d), change the scope "
               "(1 2 3), or import data (usage-tui import FILE).")


class BreakdownPanel(Vertical):
    """The table in a titled frame: row count in the title, totals in the subtitle, and a
    compact empty state under the column headers when the view has no usage."""

    DEFAULT_CSS = """
    BreakdownPanel { height: 1fr; }
    BreakdownPanel > BreakdownTable { height: 1fr; }
    BreakdownPanel > #table-empty { display: none; height: auto; padding: 0 1; color: $text-muted; }
    BreakdownPanel.-empty > BreakdownTable { height: 1; }  /* the headers only */
    BreakdownPanel.-empty > #table-empty { display: block; }
    """

    empty_message: str | None = None
    empty_note: str | None = None  # said in place of EMPTY_TABLE's hint (identity.not_listed_note)
    _result: QueryResult | None = None

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.table = BreakdownTable(id="table")  # made here, so the app can route keys to it at once

    def on_resize(self) -> None:
        if self._result is not None:
            self.border_subtitle = totals_line(self._result, self.size.width - 4)

    def compose(self) -> ComposeResult:
        yield self.table
        yield Static(id="table-empty")

    def show_view(self, result: QueryResult, focus: str | None) -> None:
        """The view's rows, or why there are none."""
        message = None
        if result.totals.requests == 0:
            personal = self.empty_note and result.spec.scope == "personal"
            message = f"No attributed usage in this view. {self.empty_note}" if personal else EMPTY_TABLE
        elif not result.rows:
            message = f"No rows match “{result.spec.search}”: / edits the search, escape there clears it."
        self.show(result, focus, message)

    def show(self, result: QueryResult, focus: str | None, empty_message: str | None) -> None:
        spec = result.spec
        self.table.show(result, focus)
        count = len(result.rows)
        title = f"By {spec.group_by} · {count} row{'s' if count != 1 else ''}"
        if spec.search:
            title += f" matching “{spec.search}”"
        self.border_title = title
        self._result = result
        self.border_subtitle = totals_line(result, self.size.width - 4 if self.size.width else 1000)
        self.empty_message = empty_message
        self.set_class(empty_message is not None, "-empty")
        self.query_one("#table-empty", Static).update(empty_message or "")
