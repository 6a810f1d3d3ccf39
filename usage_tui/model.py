"""Records, enums, the query spec and result dataclasses. No I/O here."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

SCOPES = ("personal", "team", "org")
METRICS = ("cost", "requests", "tokens")
GROUPINGS = ("provider", "model", "user", "team", "agent", "key", "verdict")
GRANULARITIES = ("daily", "weekly")
WINDOWS = ("daily", "weekly", "monthly")
ROLES = ("org_admin", "member")

UNATTRIBUTED = "(unattributed)"
NONE_KEY = "(none)"

# Costs are stored as integer nano-dollars so that sums are exact and do not depend on the
# order in which rows are added (rollups and raw records must agree to the last digit).
NANO = 1_000_000_000


# The largest cost of one record: logged (a larger one is a reject) or computed from a price
# (a price that makes one is refused where it is used). See store.MAX_TOTAL for why.
MAX_RECORD_COST_USD = 10**6
MAX_RECORD_COST_NANO = MAX_RECORD_COST_USD * NANO

# Bounds of what a person types (budget set, the directory): finite, and small enough that
# their nano-dollars are exact 64-bit integers. inf, nan and 1e400 are bad input, never a limit.
MAX_LIMIT_USD = 1e9  # a budget per window
MAX_PRICE_PER_MTOK = 1e6  # a [[prices]] entry, USD per million tokens ($1 a token)


def bounded_usd(value: float, maximum: float) -> str | None:
    """Why `value` is not a usable amount (>= 0, finite, at most `maximum`), or None."""
    if not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if value < 0:
        return f"must be >= 0, got {value!r}"
    if value > maximum:
        return f"must be <= {maximum:,.0f}, got {value!r}"
    return None


def usd_to_nano(usd: float) -> int:
    return round(usd * NANO)


def nano_to_usd(nano: int) -> float:
    return nano / NANO


def missing_key_label(group_by: str) -> str:
    """The label of a row whose grouping key is absent (§3)."""
    return UNATTRIBUTED if group_by == "user" else NONE_KEY


@dataclass(slots=True)
class Record:
    """One normalized usage record (§2.1), before attribution."""

    id: str
    ts_us: int  # microseconds since the epoch, UTC
    provider: str
    model: str
    user: str | None = None
    key: str | None = None
    agent: str | None = None
    team: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_input_tokens: int = 0
    context_tokens: int = 0
    requests: int = 1
    cost_usd: float | None = None
    status: int = 200
    verdict: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Tokens written to the provider's prompt cache (part of prompt_tokens). Only used to
    # price them as cache writes; not a §2.1 field of its own.
    cache_write_tokens: int = 0
    # The part of cache_write_tokens written with a 1-hour lifetime (Anthropic bills those at
    # 2x input, 5-minute writes at 1.25x): kept so that a re-price is exact.
    cache_write_1h_tokens: int = 0
    # How the provider processed the request: its service tier (`flex`, `priority`, ...; None
    # is the standard one) and whether it went through a batch API. Both change the price.
    service_tier: str | None = None
    batch: bool = False
    # The 1-based line of the source file the record was read from (None when unknown, e.g.
    # an element of a JSON document). Where it came from, not part of what it says.
    source_line: int | None = None
    # What the source said (a bounded excerpt of its line, or a CSV row's cells), for a reject
    # made after parsing (a member's refused record, §8 keeps the raw text). Never stored.
    raw: str | list[str] | None = field(default=None, compare=False, repr=False)

    @property
    def raw_text(self) -> str:
        """The source text of the record as a reject keeps it ("" when unknown)."""
        return csv_text(self.raw) if isinstance(self.raw, list) else self.raw or ""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens + self.cached_input_tokens


# A rejected line is kept (and shown) as an excerpt of this many characters: one 60 MB junk
# line must not become 60 MB in the rejects table or on the terminal.
REJECT_EXCERPT_CHARS = 1024


def csv_text(row: list[str]) -> str:
    """A CSV row's cells as one line of CSV text."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


def excerpt(raw: str, limit: int = REJECT_EXCERPT_CHARS) -> str:
    """`raw` when it is short, else its first `limit` characters and the whole line's length.
    The length rides in the text (no column of its own: the store's schema stays as it is)."""
    if len(raw) <= limit:
        return raw
    already = _EXCERPT_NOTE.match(raw, limit)  # an excerpt already (kept on a record): once is enough
    if already is not None and already.group(1) == f"{limit:,}":
        return raw
    return f"{raw[:limit]}… [{len(raw):,} characters in all, first {limit:,} kept]"


_EXCERPT_NOTE = re.compile(r"… \[[0-9,]+ characters in all, first ([0-9,]+) kept\]\Z")


def valid_text(text: str) -> str:
    """`text` with lone surrogates (bytes that were not UTF-8, or JSON escapes such as
    \\ud800) replaced by U+FFFD, and NUL by U+2400: what SQLite and terminals can take."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text.replace("\x00", "\u2400")


def is_unicode(text: str) -> bool:
    """Whether `text` is Unicode text UTF-8 can hold: no lone surrogate (a JSON escape such as
    \\ud800, or a byte that was not UTF-8, read with surrogateescape). SQLite and PostgreSQL
    refuse to store one (UnicodeEncodeError in the middle of a write)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def all_unicode(value: Any) -> bool:
    """Whether every string in a JSON value (keys and values, at any depth) is_unicode. Walked
    with a stack of its own: no recursion however deep the value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            if not is_unicode(item):
                return False
        elif type(item) is dict:
            stack.extend(item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return True


@dataclass(frozen=True, slots=True)
class Reject:
    """A line that could not be imported: where it was and why. `raw` is kept as a bounded
    excerpt (see `excerpt`)."""

    source: str
    line: int
    reason: str
    raw: str

    def __post_init__(self) -> None:
        raw = self.raw
        if len(raw) > REJECT_EXCERPT_CHARS:
            raw = excerpt(raw)
        if not raw.isascii() or "\x00" in raw:
            # Bytes that were not UTF-8 arrive as lone surrogates (surrogateescape): shown as
            # U+FFFD, since SQLite text and terminals take only valid UTF-8.
            raw = valid_text(raw)
        if raw is not self.raw:
            object.__setattr__(self, "raw", raw)
        for name in ("source", "reason"):  # a file name may hold bytes that are not UTF-8 too
            value = getattr(self, name)
            if name == "reason" and len(value) > REJECT_EXCERPT_CHARS:  # reasons quote values
                value = excerpt(value)
            if not value.isascii():
                value = valid_text(value)
            if value is not getattr(self, name):
                object.__setattr__(self, name, value)


@dataclass(frozen=True)
class QuerySpec:
    viewer: str
    scope: str = "personal"
    team: str | None = None
    metric: str = "cost"
    group_by: str = "model"
    granularity: str = "daily"
    since: date | None = None
    until: date | None = None
    tz: str | None = None
    search: str | None = None
    focus: str | None = None


@dataclass
class Totals:
    cost_nano: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_input_tokens: int = 0
    context_tokens: int = 0
    unpriced_requests: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens + self.cached_input_tokens

    @property
    def cost_usd(self) -> float:
        return nano_to_usd(self.cost_nano)

    def add(self, other: Totals) -> None:
        self.cost_nano += other.cost_nano
        self.requests += other.requests
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.context_tokens += other.context_tokens
        self.unpriced_requests += other.unpriced_requests

    def metric(self, metric: str) -> float | int:
        if metric == "cost":
            return self.cost_usd
        if metric == "requests":
            return self.requests
        return self.tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "cost_usd": self.cost_usd,
            "requests": self.requests,
            "tokens": self.tokens,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "context_tokens": self.context_tokens,
            "unpriced_requests": self.unpriced_requests,
        }


@dataclass
class Row:
    key: str
    totals: Totals
    share: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, **self.totals.as_dict(), "share": self.share}


@dataclass
class SeriesPoint:
    bucket: date
    value: float | int


@dataclass
class QueryResult:
    spec: QuerySpec
    tz: str
    since: date
    until: date
    totals: Totals
    series: list[SeriesPoint]
    rows: list[Row]
    path: str = "rollup"  # which path answered: "rollup" or "records"
    rows_in_view: int = 0  # rows before --search filtered them (to say "none match" apart from "empty")

    def as_json(self) -> dict[str, Any]:
        """The exact `spend summary --format json` shape of §3."""
        s = self.spec
        scope: dict[str, Any] = {"kind": s.scope}
        if s.scope == "team":
            scope["team"] = s.team
        return {
            "viewer": s.viewer,
            "scope": scope,
            "metric": s.metric,
            "group_by": s.group_by,
            "granularity": s.granularity,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "tz": self.tz,
            "focus": s.focus,
            "search": s.search,
            "totals": self.totals.as_dict(),
            "series": [{"bucket": p.bucket.isoformat(), "value": p.value} for p in self.series],
            "rows": [r.as_dict() for r in self.rows],
        }

IMPORT_FORMATS = ("native", "litellm", "openai", "openai-costs", "anthropic", "claude-code", "codex", "opencode",
                  "gemini", "pi", "amp")
FORMAT_NAMES = ("auto", *IMPORT_FORMATS)


HISTORY_ORDERS = ("time", "cost")


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One stored record as the request history shows it: what the source said (`user_raw`,
    `team_raw`, `cost_logged_nano`), what attribution and pricing made of it (`user`, `team`,
    `cost_nano`; None = unattributed / no team / unpriced) and where it came from."""

    id: str
    ts_us: int
    provider: str
    model: str
    user: str | None
    team: str | None
    user_raw: str | None
    team_raw: str | None
    key: str | None
    agent: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_input_tokens: int
    context_tokens: int
    cache_write_tokens: int
    requests: int
    cost_logged_nano: int | None
    cost_nano: int | None
    status: int
    verdict: str | None
    metadata: dict[str, Any]
    cache_write_1h_tokens: int
    service_tier: str | None
    batch: bool
    source_line: int | None
    source_format: str | None
    source_path: str | None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens + self.cached_input_tokens

    @property
    def cost_usd(self) -> float | None:
        return None if self.cost_nano is None else nano_to_usd(self.cost_nano)

    @property
    def context_share(self) -> float | None:
        """The part of the input tokens (uncached + cached) injected by context."""
        inputs = self.prompt_tokens + self.cached_input_tokens
        return self.context_tokens / inputs if inputs else None


@dataclass
class HistoryPage:
    """One page of a history, newest (or costliest) first; `after` continues it (keyset)."""

    records: list[HistoryRecord]
    after: tuple[int, str] | None  # (sort value, id) of the last record; None: no more pages
