"""The detail of one record: every stored field, the token anatomy, how it was attributed and
priced, where it came from (the lines are built headless, by history.detail_rows)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .fitted_footer import FittedFooter


class RecordDetailScreen(ModalScreen[None]):
    """One record, every field; escape or q goes back to the history."""

    DEFAULT_CSS = """
    RecordDetailScreen { align: center middle; }
    RecordDetailScreen > VerticalScroll {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1; scrollbar-size-vertical: 1;
    }
    """

    # Its own footer, over the history's (whose keys do not apply here); one entry for both keys.
    BINDINGS = [
        Binding("escape", "close", "Back", key_display="esc q", id="detail.close", tooltip="Back to the history"),
        Binding("q", "close", "Back", id="detail.close.q", show=False),
        Binding("question_mark", "app.help", "Help", key_display="?", id="detail.help",
                tooltip="Help (the app's `?`, which has priority, opens it)"),
    ]

    def __init__(self, rows: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in self.rows:
            grid.add_row(label, Text(value))
        with VerticalScroll() as scroll:
            scroll.border_title = "Record"
            scroll.border_subtitle = "esc q back"
            yield Static(grid, id="detail")
        yield FittedFooter()

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
