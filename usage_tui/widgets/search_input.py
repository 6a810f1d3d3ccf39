"""The sidebar's search box: filters the table's rows as you type."""

from __future__ import annotations

from textual.binding import Binding

from .in_order_input import InOrderInput


class SearchInput(InOrderInput):
    """Filters the table as you type; enter keeps the search, escape clears it. Both hand the
    keyboard back to the table at once: priority bindings run when the app first sees the key,
    so keys typed right behind them already go to the table."""

    BINDINGS = [
        Binding("enter", "leave_search('keep')", "Done", id="search.done", priority=True),
        Binding("escape", "leave_search('clear')", "Clear search", id="search.clear", priority=True),
    ]

    async def action_leave_search(self, how: str) -> None:
        await self.keys_taken()  # the characters typed before enter or escape are in first
        if how == "clear":
            self.value = ""  # Input.Changed: the search is cleared like any edit
        self.screen.set_focus(self.app.table)
