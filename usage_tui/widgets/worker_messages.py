"""What the TUI's thread workers post to the app (usage_tui/app.py), and how their errors read
(with the widgets: it imports Textual)."""

from __future__ import annotations

from textual.message import Message

from ..budget import BudgetStatus
from ..directory import Directory
from ..model import QueryResult
from ..query import QueryError
from ..store import StoreError
from ..view_state import Filters


class QueryFinished(Message):
    def __init__(self, request: int, filters: Filters, result: QueryResult, directory: Directory) -> None:
        super().__init__()
        self.request = request
        self.filters = filters
        self.result = result
        self.directory = directory


class BudgetLoaded(Message):
    def __init__(self, status: BudgetStatus | None) -> None:
        super().__init__()
        self.status = status


class StoreChanged(Message):
    """Another process committed to the store, or the calendar day changed."""


def describe(error: BaseException | None) -> str:
    if isinstance(error, (StoreError, QueryError, OSError)):
        return str(error)
    return f"{type(error).__name__}: {error}"
