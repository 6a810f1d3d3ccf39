"""A text box whose editing keys act in the order they were typed.

Textual's Input inserts a character when the key reaches the box, but runs its bound keys
(backspace, delete, ctrl+u, ctrl+k, arrows, home, end) only once the key has bubbled up
through every ancestor to the app: in a burst of keys (a paste, tmux send-keys, an SSH
round trip, a loaded machine) the characters typed behind such a key are inserted first.
ctrl+u then `2020-01-01` gave `020-01-01`: the 2 went in, then ctrl+u deleted it
(Textualize/textual#6605). Here the box runs its own bindings when the key reaches it,
in the order of its queue, as it does with characters.

A key that leaves the box (enter, escape: priority keys, run by the app when it first sees
them) first waits for the box to take the keys typed before it (`keys_taken`): the app takes
no other key meanwhile, so the box's text is whole when it is read, and the keys typed after
it go where the focus goes next.
"""

from __future__ import annotations

import asyncio

from textual import events
from textual.widget import Widget
from textual.widgets import Input

KEYS_TAKEN_MAX_S = 1.0  # a box that takes longer than this is read as it is


async def own_binding_ran(box: Widget, event: events.Key) -> bool:
    """Run the widget's own binding of a non-printable key now, where it was typed among the
    other keys; True when one acted (the key is then stopped). Used by text boxes and tables:
    a table's `down` bubbled up too, and `down h` opened the history of the row above."""
    if event.is_printable:
        return False
    # Priority bindings were run by the app before the key was sent here; the rest start with
    # this box's own (the first in the chain the app would walk).
    for binding in box._bindings.key_to_bindings.get(event.key, ()):
        if not binding.priority and await box.app.run_action(binding.action, box):
            event.stop()
            event.prevent_default()
            return True
    return False


class InOrderInput(Input):
    async def _on_key(self, event: events.Key) -> None:
        if not await own_binding_ran(self, event):
            await super()._on_key(event)

    async def keys_taken(self) -> None:
        """Return once this box has handled every key sent to it so far."""
        await keys_taken(self)


async def keys_taken(widget: Widget) -> None:
    """Return once `widget` has handled every key sent to it so far (a callback queued behind
    them has run). Awaited in an app's action, it holds the app's keys meanwhile: a priority
    key (`h`) acts after the keys typed before it (`down`) and before those typed after it."""
    taken = asyncio.Event()
    if widget.call_later(taken.set):
        try:
            await asyncio.wait_for(taken.wait(), KEYS_TAKEN_MAX_S)
        except TimeoutError:
            pass
