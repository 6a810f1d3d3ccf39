"""The footer: as many keys as the width holds, chosen in a fixed order of importance.

Textual's Footer shows every `show=True` binding, so the set had to be cut down to what fits
80 columns, and a 200-column terminal showed no more (`w t e r ^p` stayed hidden). As in k9s
and lazygit, this one picks keys by importance until the line is full (a key that does not fit
is skipped, a shorter one after it may still fit) and draws them in the bindings' order, so a
key never moves when the terminal gets wider: others join it.

The importance is the screen's (or app's) `FOOTER_IMPORTANCE`: binding ids, most important
first; a binding it does not name comes after them, in the bindings' order.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel, KeyGroup


def entry_width(bindings: list[Binding], key_display) -> int:
    """Cells one footer entry takes in the compact footer, with its margins: `h History ` for a
    key, ` 1 2 3 Scope ` for a group of keys (the group's keys have a cell each side)."""
    if len(bindings) > 1:
        keys = sum(len(key_display(b)) for b in bindings) + len(bindings) + 1
        return keys + len(bindings[0].group.description) + 1
    b = bindings[0]
    return len(key_display(b)) + (len(b.description) + 1 if b.description else 0) + 1


class FittedFooter(Footer):
    """A compact footer of the most important keys that fit; recomposed on resize."""

    def __init__(self, **kwargs) -> None:
        super().__init__(compact=True, show_command_palette=False, **kwargs)
        self._fitted_width = 0

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._fitted_width:
            self.call_after_refresh(self.recompose)

    def chosen(self, width: int) -> list[list[tuple[Binding, bool, str]]]:
        """The entries to draw (an entry: the bindings of one action, or of a group of keys)."""
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show:
                by_action[binding.action].append((binding, enabled, tooltip))
        entries: list[list[tuple[Binding, bool, str]]] = []
        for group, actions in groupby(by_action.values(), lambda a: a[0][0].group):
            actions = list(actions)
            if group is not None and len(actions) > 1:
                entries.append([a[0] for a in actions])
            else:
                entries.extend([a[0]] for a in actions)
        order = list(getattr(self.screen, "FOOTER_IMPORTANCE", None) or getattr(self.app, "FOOTER_IMPORTANCE", ()))

        def rank(i: int) -> tuple[int, int]:
            ids = [b.id for b, _, _ in entries[i]]
            return min((order.index(x) for x in ids if x in order), default=len(order)), i

        room, keep = width, set()
        for i in sorted(range(len(entries)), key=rank):
            need = entry_width([b for b, _, _ in entries[i]], self.app.get_key_display)
            if need <= room:
                keep.add(i)
                room -= need
        return [e for i, e in enumerate(entries) if i in keep]

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self._fitted_width = width = self.size.width or self.app.size.width
        for entry in self.chosen(width):
            if len(entry) > 1:
                with KeyGroup(classes="-compact" if entry[0][0].group.compact else ""):
                    for binding, enabled, tooltip in entry:
                        yield FooterKey(binding.key, self.app.get_key_display(binding), "", binding.action,
                                        disabled=not enabled, tooltip=tooltip or binding.description,
                                        classes="-grouped").data_bind(compact=Footer.compact)
                yield FooterLabel(entry[0][0].group.description)
            else:
                binding, enabled, tooltip = entry[0]
                yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description,
                                binding.action, disabled=not enabled,
                                tooltip=tooltip).data_bind(compact=Footer.compact)
