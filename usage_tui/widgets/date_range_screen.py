"""The date range dialog: presets (7, 30, 90 days, month to date) and custom inclusive dates."""

from __future__ import annotations

from datetime import date

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..query import QueryError, parse_date
from ..view_state import CUSTOM, PRESETS, DateRange
from .in_order_input import InOrderInput

# What enter does where the keyboard is: the hint follows the focus.
HINTS = {"presets": "enter picks · tab: custom dates · esc cancels",
         "since": "enter: on to To · esc cancels",
         "until": "enter applies these dates · esc cancels"}


class DateInput(InOrderInput):
    """Enter is a priority binding, so the keys typed after it go where it sends the focus (To,
    or the view); the dates are read once the keys typed before it are in the boxes."""

    BINDINGS = [Binding("enter", "screen.enter_date", "Next / apply", id="range.enter", priority=True)]


class DateRangeScreen(ModalScreen[DateRange | None]):
    """Pick a preset with ↑↓ enter, or type two dates and press enter. Escape cancels."""

    DEFAULT_CSS = """
    DateRangeScreen { align: center middle; }
    DateRangeScreen > #dialog {
        width: 44; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    DateRangeScreen OptionList, DateRangeScreen OptionList:focus { height: auto; border: none; padding: 0; }
    DateRangeScreen .heading { color: $text-muted; margin-top: 1; }
    DateRangeScreen Horizontal { height: auto; }
    DateRangeScreen Horizontal Label { width: 7; padding-top: 0; }
    DateRangeScreen Input { width: 1fr; }
    DateRangeScreen #range-error { color: $error; height: auto; }
    DateRangeScreen #range-hint { color: $text-muted; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="range.cancel")]

    def __init__(self, current: DateRange, since: date, until: date) -> None:
        super().__init__()
        self.current = current
        self.since = since
        self.until = until
        self._error_for: tuple[str, str] | None = None  # the (from, to) values the error on screen is about

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Date range"
            options = [Option(label, id=key) for key, label in PRESETS.items()]
            yield OptionList(*options, id="presets")
            yield Label("Custom dates (inclusive, YYYY-MM-DD)", classes="heading")
            with Horizontal():
                yield Label("From")
                yield DateInput(self.since.isoformat(), id="since", compact=True, max_length=10)
            with Horizontal():
                yield Label("To")
                yield DateInput(self.until.isoformat(), id="until", compact=True, max_length=10)
            yield Static(id="range-error")
            yield Static(HINTS["presets"], id="range-hint")

    def on_mount(self) -> None:
        presets = self.query_one(OptionList)
        if self.current.preset in PRESETS:
            presets.highlighted = list(PRESETS).index(self.current.preset)
            presets.focus()
        else:
            presets.highlighted = None
            self.query_one("#since", Input).focus()

    def on_descendant_focus(self) -> None:
        focused = self.focused
        where = focused.id if focused is not None and focused.id in HINTS else "presets"
        self.query_one("#range-hint", Static).update(HINTS[where])

    def _values(self) -> tuple[str, str]:
        return self.query_one("#since", Input).value, self.query_one("#until", Input).value

    def on_input_changed(self, event: Input.Changed) -> None:
        # An old error never outlives its fix: it goes as soon as the dates it was about change.
        if self._error_for not in (None, self._values()):
            self._error_for = None
            self.query_one("#range-error", Static).update("")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(DateRange(event.option.id or "30d"))

    async def action_enter_date(self) -> None:
        since, until = self.query_one("#since", DateInput), self.query_one("#until", DateInput)
        if self.focused is since:  # enter in From moves on to To
            self.set_focus(until)
            return
        # The digits typed before this enter may still be on their way to From and To: the
        # dates are read once both boxes have taken them.
        await since.keys_taken()
        await until.keys_taken()
        try:
            since = parse_date(self.query_one("#since", Input).value.strip(), "From")
            until = parse_date(self.query_one("#until", Input).value.strip(), "To")
            if since > until:
                raise QueryError(f"From ({since}) is after To ({until})")
        except QueryError as exc:
            self.query_one("#range-error", Static).update(str(exc))
            self._error_for = self._values()
            return
        self.dismiss(DateRange(CUSTOM, since, until))

    def action_cancel(self) -> None:
        self.dismiss(None)
