"""The viewer's budget: spent / limit, reset time, and the live 429 countdown."""

from __future__ import annotations

from datetime import datetime

from textual.message import Message
from textual.widgets import Static

from .. import clock
from ..budget import BudgetStatus, retry_after_seconds
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
    """Ticks every second; when the window ends it says so (WindowEnded) and shows normal state
    until the app brings a fresh status."""

    class WindowEnded(Message):
        """The budget window is over: the spend must be read again."""

    DEFAULT_CSS = """
    BudgetPanel { height: auto; }
    BudgetPanel.over { color: $error; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("…", **kwargs)
        self.status: BudgetStatus | None = None
        self._ended_posted = False

    def on_mount(self) -> None:
        self.set_interval(1, self.tick)

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
        # Every line fits the 23 cells the sidebar has at 80 columns.
        lines = [f"{money(spent)} / {money(s.limit_usd)}", _bar(share, min(20, self.content_size.width or 20)),
                 f"{s.window}, resets {s.window_end:%b %d}"]
        if over:
            seconds = retry_after_seconds(now, s.window_end)
            lines += ["429 Too Many Requests", "Retry-After", f"{_duration(seconds)} ({seconds:,}s)"]
        elif not ended:
            lines.append(f"burn {money(s.burn_rate_usd_per_day)}/day")
            if s.projected_exhaustion is not None:
                lines.append(f"runs out {s.projected_exhaustion.astimezone(s.window_end.tzinfo):%b %d %H:%M}")
        return "\n".join(lines)
