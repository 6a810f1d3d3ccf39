"""The history's columns, headless: each record's cells as text, and which columns a width holds.

Fitted once per view (an order and a search) from the view's first page and the width, and
again only on resize: later pages are drawn into the same columns (a longer value is cut in
the middle), so the columns never jump while the user scrolls, and the same view always gets
the same columns. What tells requests apart comes first: the request id, and the team, key
and agent where the page holds more than one of them. When the line is too long the least
telling columns go first (Req, agent, key); names are cut last.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from ..fmt import record_money
from ..history import record_time
from ..model import HistoryRecord, QuerySpec, missing_key_label

PAD = 2  # DataTable's cell padding: one cell each side


def short(n: int) -> str:
    """Token counts in at most 4 cells: 999, 1.2k, 12k, 150k, 1.5M (the history has four of
    them on a line)."""
    if n < 1000:
        return str(n)
    for size, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
        v = n / size
        text = f"{v:.1f}" if v < 9.95 else f"{v:.0f}"
        if len(text) <= 3:
            return text + suffix
    return f"{n:.0e}"  # beyond any real count


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    width: int
    right: bool = False


# Every column in the order drawn: (key, header, right-aligned).
COLUMNS = [("time", "Time", False), ("model", "Model", False), ("user", "User", False), ("team", "Team", False),
           ("key", "Key", False), ("agent", "Agent", False), ("in", "In", True), ("cache", "Cache", True),
           ("out", "Out", True), ("ctx", "Ctx", True), ("req", "Req", True), ("cost", "Cost", True),
           ("status", "Status", False), ("id", "Id", False)]
NAMES = ("model", "user", "team", "key", "agent", "id")
# When the line is too long, in this order: a column goes (None) or a name is cut, in the
# middle, to no less than so many cells. The id is cut before the names: its end (a counter,
# a hash) is what tells ids apart, and fit_middle keeps it.
SHRINK = (("req", None), ("agent", None), ("key", None), ("id", 12), ("ctx", None), ("team", None),
          ("user", 10), ("model", 14), ("status", None), ("id", 8), ("cache", None), ("user", 8), ("model", 8))
# Widths of columns whose values have a bounded form: the same on every view.
FIXED = {"time": 11, "in": 5, "cache": 5, "out": 5, "ctx": 5}


def model_id(r: HistoryRecord) -> str:
    """The model id the request used (kept in the metadata when the directory folded it)."""
    raw = r.metadata.get("model_id") if isinstance(r.metadata, dict) else None
    return raw if isinstance(raw, str) and raw else r.model


def record_values(r: HistoryRecord, tz: ZoneInfo) -> dict[str, str]:
    when = record_time(r, tz)
    return {
        "time": f"{when:%m-%d %H:%M}", "model": model_id(r),
        "user": r.user or missing_key_label("user"), "team": r.team or missing_key_label("team"),
        "key": r.key or "", "agent": r.agent or "",
        "in": short(r.prompt_tokens), "cache": short(r.cached_input_tokens),
        "out": short(r.completion_tokens), "ctx": short(r.context_tokens), "req": str(r.requests),
        "cost": record_money(r.cost_usd), "status": f"{r.status} {r.verdict or ''}".strip(), "id": r.id,
        "_error": "1" if r.status >= 400 else "",
    }


def wanted_columns(spec: QuerySpec, values: list[dict[str, str]]) -> list[str]:
    """The columns worth a place for this view: the row's own key is on every line (left out),
    and team, key, agent and Req only where the page holds more than one value."""
    focused = spec.focus is not None

    def differ(key: str) -> bool:
        return len({v[key] for v in values}) > 1

    keep = []
    for key, _, _ in COLUMNS:
        if key == "model" and focused and spec.group_by == "model" and not differ("model"):
            continue  # (folded ids of one model differ: then the column says which id)
        if key == "user" and (spec.scope == "personal" or (focused and spec.group_by == "user")):
            continue
        if key in ("team", "key", "agent", "req") and not differ(key):
            continue
        keep.append(key)
    return keep


def fit_columns(keys: list[str], values: list[dict[str, str]], width: int) -> list[Column]:
    """The columns `keys` as `width` cells hold them: each as wide as its widest value on the
    page; when the line is too long, SHRINK drops columns and cuts names in its order; what a
    dropped column left goes back to the names."""
    headers = {key: (header, right) for key, header, right in COLUMNS}
    columns = [Column(k, headers[k][0], FIXED.get(k) or max([len(headers[k][0]), *(len(v[k]) for v in values)]),
                      headers[k][1]) for k in keys]
    full = {c.key: c.width for c in columns}

    def spare() -> int:
        return width - sum(c.width + PAD for c in columns)

    for key, least in SHRINK:
        room = spare()
        if room >= 0:
            break
        if least is None:
            columns = [c for c in columns if c.key != key]
        else:
            columns = [replace(c, width=min(c.width, max(least, c.width + room))) if c.key == key else c
                       for c in columns]
    for key in NAMES:  # the room a dropped column left: back to the names cut
        room = spare()
        if room > 0:
            columns = [replace(c, width=min(full[key], c.width + room)) if c.key == key else c for c in columns]
    return columns
