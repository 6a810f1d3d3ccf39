"""The command palette (ctrl+p), with a search box whose editing keys act in the order typed.

Textual's palette box is a plain Input: `ctrl+p metrx backspace ic` in a burst gave `metrxi`
(the backspace ran after the i, see in_order_input.py). Only the box differs from Textual's.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.command import CommandInput, CommandList, CommandPalette, SearchIcon
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, LoadingIndicator

from .in_order_input import own_binding_ran


class InOrderCommandInput(CommandInput):
    """The palette's box (its look and its queries: a CommandInput), keys in order. Not an
    InOrderInput too: Textual's CSS type names follow the first base only."""

    async def _on_key(self, event: events.Key) -> None:
        if not await own_binding_ran(self, event):
            await super()._on_key(event)


class InOrderCommandPalette(CommandPalette):
    def compose(self) -> ComposeResult:
        # Textual's CommandPalette.compose, with the box above
        with Vertical(id="--container"):
            with Horizontal(id="--input"):
                yield SearchIcon()
                yield InOrderCommandInput(placeholder=self._placeholder, select_on_focus=False)
                if not self.run_on_select:
                    yield Button("\u25b6")
            with Vertical(id="--results"):
                yield CommandList()
                yield LoadingIndicator()
