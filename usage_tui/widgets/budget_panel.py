"""The viewer's budget: spent / limit, reset time, and the live 429 countdown."""

from __future__ import annotations

from datetime import datetime

from textual.message import Message
from textual.widgets import Static

from .. import clock
from ..budget import BudgetStatus, retry_after_seconds, window_bounds
from ..fmt import money


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock_part = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock_part}" if days else clock_part


def _bar(share: float, width: int = 20) -> str:
    filled = min(width, round(share * width))
    return "█" * filled + "░" * (width - filled)


class BudgetPanel(Static):
    """The viewer's budget in the sidebar: spent / limit with a bar, when the window resets, the
    burn rate and the projected run-out; over budget, 429 and a Retry-After countdown.

    Ticks every second on `clock.now()`; when the window ends it posts WindowEnded once (the app
    re-reads the spend) and meanwhile shows the new window as unspent, by itself."""

    class WindowEnded(Message):
        """The budget window is over: the spend must be read again."""

    TICK_S = 1.0  # the countdown's resolution (tests shorten it rather than wait whole seconds)

    DEFAULT_CSS = """
    BudgetPanel { height: auto; }
    BudgetPanel.over { color: $error; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("…", **kwargs)
        self.status: BudgetStatus | None = None
        self._ended_posted = False

    def on_mount(self) -> None:
        self.set_interval(self.TICK_S, self.tick)

    def update_status(self, status: BudgetStatus | None) -> None:
        self.status = status
        self._ended_posted = False
        self.tick()

    def tick(self) -> None:
        self.update(self.render_status(clock.now()))

    def render_status(self, now: datetime) -> str:
        s = self.status
        if s is None:
            self.remove_class("over")
            return "No budget set"
        ended = now >= s.window_end
        if ended and not self._ended_posted:
            self._ended_posted = True
            self.post_message(self.WindowEnded())
        over = s.over and not ended
        self.set_class(over, "over")
        spent = 0.0 if ended else s.spent_usd
        share = spent / s.limit_usd if s.limit_usd else 1.0
        # Once ended, the window that follows resets next (the app brings its spend soon).
        resets = window_bounds(s.window, now, s.window_end.tzinfo)[1] if ended else s.window_end
        width = self.content_size.width or 23  # 23 cells: the sidebar at 80 columns
        lines = [f"{money(spent)} / {money(s.limit_usd)}", _bar(share, min(20, width)),
                 f"{s.window}, resets {resets:%b %d}"]
        if over:
            seconds = retry_after_seconds(now, s.window_end)
            countdown = f"{_duration(seconds)} ({seconds:,}s)"
            lines += ["429 Too Many Requests", "Retry-After"]
            # A month-long countdown does not fit one narrow line: split it rather than wrap it.
            lines += [countdown] if len(countdown) <= width else [_duration(seconds), f"{seconds:,}s"]
        elif not ended:
            lines.append(f"burn {money(s.burn_rate_usd_per_day)}/day")
            if s.projected_exhaustion is not None:
                lines.append(f"runs out {s.projected_exhaustion.astimezone(s.window_end.tzinfo):%b %d %H:%M}")
        return "\n".join(lines)
