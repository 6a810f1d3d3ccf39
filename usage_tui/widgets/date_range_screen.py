"""`d`: pick a date range: presets or two custom dates (inclusive)."""

from __future__ import annotations

from datetime import date, timedelta

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

PRESETS = [("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("mtd", "Month to date"),
           ("custom", "Custom dates…")]


def preset_range(preset: str, today: date) -> tuple[date, date]:
    if preset == "mtd":
        return today.replace(day=1), today
    return today - timedelta(days=int(preset) - 1), today


class DateRangeScreen(ModalScreen[tuple[date, date] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="range.cancel")]

    DEFAULT_CSS = """
    DateRangeScreen { align: center middle; }
    DateRangeScreen > Vertical { width: 40; height: auto; border: round $accent; padding: 0 1;
        background: $surface; }
    DateRangeScreen OptionList { height: auto; }
    DateRangeScreen #custom { display: none; height: auto; }
    DateRangeScreen #custom.shown { display: block; }
    DateRangeScreen #error { color: $error; }
    """

    def __init__(self, today: date, since: date, until: date) -> None:
        super().__init__()
        self.today, self.since, self.until = today, since, until

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Date range[/b] (inclusive)")
            yield OptionList(*(Option(label, id=key) for key, label in PRESETS), id="presets")
            with Vertical(id="custom"):
                yield Input(self.since.isoformat(), placeholder="since YYYY-MM-DD", id="since")
                yield Input(self.until.isoformat(), placeholder="until YYYY-MM-DD", id="until")
                yield Static("enter to apply, escape to cancel", id="error")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == "custom":
            self.query_one("#custom").add_class("shown")
            self.query_one("#since", Input).focus()
            return
        self.dismiss(preset_range(event.option.id, self.today))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "since":
            self.query_one("#until", Input).focus()
            return
        try:
            since = date.fromisoformat(self.query_one("#since", Input).value.strip())
            until = date.fromisoformat(self.query_one("#until", Input).value.strip())
        except ValueError:
            self.query_one("#error", Static).update("Dates must be YYYY-MM-DD")
            return
        if since > until:
            self.query_one("#error", Static).update("since is after until")
            return
        self.dismiss((since, until))

    def action_cancel(self) -> None:
        self.dismiss(None)
