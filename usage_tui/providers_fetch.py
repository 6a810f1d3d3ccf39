"""Fetching the providers' admin reports (issue 25): OpenAI's organization usage and costs,
Anthropic's usage and cost reports, page after page, into the store, from where the last run
stopped. Headless: `usage-tui sync openai|anthropic` (cli/sync_providers.py) is its command.

- The base URL is the official SDKs': OPENAI_BASE_URL (default https://api.openai.com/v1, the
  `/v1` included, as the openai package has it) and ANTHROPIC_BASE_URL (default
  https://api.anthropic.com; the paths add `/v1`). A proxy, or a test's fake server.
- The admin key goes as each API documents: `Authorization: Bearer <key>` (OpenAI);
  `x-api-key: <key>` with `anthropic-version: 2023-06-01` (Anthropic).
- Pages: `has_more` and `next_page`, an opaque token sent back as `page`.
- Usage in 1-hour buckets by default (`bucket_width`); costs in days (the only width both cost
  endpoints have). Only complete buckets are asked for: the span ends at the last full hour
  (day, for costs) before now.
- A 429 is waited out for its Retry-After (seconds, or an HTTP date), at most MAX_RETRIES times
  in a row and MAX_WAIT_S each; any other error status stops the run with one line.
- Each page's records are written with the position after its last bucket in one transaction
  (store.write_batches(cursors=)): a run stopped at any point resumes from the last complete
  bucket it wrote, and never writes one twice. A cost and a usage report of the same days share
  their dollars (ingest/report_costs.py), as in a file import.

HTTP with the standard library's urllib: httpx is only a test dependency of this package."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from .model import Record, Reject
from .store import Batch

MAX_RETRIES = 8  # 429s in a row before the run gives up
MAX_WAIT_S = 3600.0  # the longest Retry-After honoured (a larger one is waited this long)
DEFAULT_WAIT_S = 30.0  # a 429 without Retry-After
TIMEOUT_S = 60.0
MAX_PAGES = 100_000  # a server that never says has_more: false is a broken one
ANTHROPIC_VERSION = "2023-06-01"
BUCKET_WIDTHS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
# Bucket limits per request, the documented maxima of each width (usage endpoints of both).
LIMITS = {"1m": 1440, "1h": 168, "1d": 31}


class FetchError(Exception):
    """The provider's API cannot be read (the message is one line for the user)."""


@dataclass
class Report:
    """One report of a provider: where, how asked, and how its pages become records."""

    name: str  # usage | costs
    path: str
    width: str
    params: Callable[[datetime, datetime], list[tuple[str, str]]]
    records: Callable[[dict, Any], Iterator[Record | tuple[str, Exception, Any]]]
    bucket_end: Callable[[dict], datetime | None]


@dataclass
class Provider:
    name: str
    base_env: str
    default_base: str
    headers: Callable[[str], dict[str, str]]
    reports: list[Report] = field(default_factory=list)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else None
    except ValueError:
        return None


def _unix_end(bucket: dict) -> datetime | None:
    end = bucket.get("end_time")
    return datetime.fromtimestamp(end, UTC) if type(end) is int and 0 <= end < 253_402_300_800 else None


def _anthropic_records(page: dict, directory: Any) -> Iterator[Record | tuple[str, Exception, Any]]:
    from .ingest.anthropic_report import _bucket_records
    for b, bucket in enumerate(page.get("data") or [], 1):
        for item in _bucket_records(bucket, directory):
            yield item if isinstance(item, Record) else (f"bucket {b}: {item[0]}", item[1], item[2])


def _openai_usage_records(page: dict, directory: Any) -> Iterator[Record | tuple[str, Exception, Any]]:
    from .ingest.openai import _page
    yield from _page(page, directory)


def _openai_cost_records(page: dict, directory: Any) -> Iterator[Record | tuple[str, Exception, Any]]:
    from .ingest.openai_costs import _bucket
    for b, bucket in enumerate(page.get("data") or [], 1):
        for item in _bucket(bucket, directory):
            yield item if isinstance(item, Record) else (f"bucket {b}: {item[0]}", item[1], item[2])


def _anthropic_params(width: str, group_by: tuple[str, ...]) -> Callable[[datetime, datetime], list]:
    def params(start: datetime, end: datetime) -> list[tuple[str, str]]:
        return [("starting_at", _iso(start)), ("ending_at", _iso(end)), ("bucket_width", width),
                ("limit", str(LIMITS[width])), *(("group_by[]", g) for g in group_by)]
    return params


def _openai_params(width: str, group_by: tuple[str, ...], limit: int) -> Callable[[datetime, datetime], list]:
    def params(start: datetime, end: datetime) -> list[tuple[str, str]]:
        return [("start_time", str(int(start.timestamp()))), ("end_time", str(int(end.timestamp()))),
                ("bucket_width", width), ("limit", str(limit)), *(("group_by", g) for g in group_by)]
    return params


def provider(name: str, width: str = "1h") -> Provider:
    """The reports `usage-tui sync <name>` reads, usage in buckets of `width`."""
    if name == "anthropic":
        return Provider("anthropic", "ANTHROPIC_BASE_URL", "https://api.anthropic.com",
                        lambda key: {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}, [
            Report("usage", "/v1/organizations/usage_report/messages", width,
                   _anthropic_params(width, ("api_key_id", "workspace_id", "model", "service_tier", "context_window")),
                   _anthropic_records, lambda b: _parse_iso(b.get("ending_at"))),
            Report("costs", "/v1/organizations/cost_report", "1d",
                   lambda s, e: [("starting_at", _iso(s)), ("ending_at", _iso(e)), ("bucket_width", "1d"),
                                 ("group_by[]", "workspace_id"), ("group_by[]", "description")],
                   _anthropic_records, lambda b: _parse_iso(b.get("ending_at")))])
    if name == "openai":
        return Provider("openai", "OPENAI_BASE_URL", "https://api.openai.com/v1",
                        lambda key: {"Authorization": f"Bearer {key}"}, [
            Report("usage", "/organization/usage/completions", width,
                   _openai_params(width, ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
                                  LIMITS[width]),
                   _openai_usage_records, _unix_end),
            Report("costs", "/organization/costs", "1d",
                   _openai_params("1d", ("project_id", "line_item"), 180), _openai_cost_records, _unix_end)])
    raise ValueError(f"unknown provider {name!r}")


def retry_after(value: str | None, now: datetime) -> float:
    """Seconds to wait from a Retry-After header: seconds, or an HTTP date; bounded."""
    if value is None or not value.strip():
        return DEFAULT_WAIT_S
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(text) - now).total_seconds()
        except (TypeError, ValueError):
            return DEFAULT_WAIT_S
    if seconds != seconds:  # nan
        return DEFAULT_WAIT_S
    return min(max(seconds, 0.0), MAX_WAIT_S)


def _get(url: str, headers: dict[str, str], sleep: Callable[[float], None], now: Callable[[], datetime]) -> dict:
    for _attempt in range(MAX_RETRIES + 1):
        request = urllib.request.Request(url, headers={**headers, "Accept": "application/json",
                                                       "User-Agent": "usage-tui"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                body = response.read(64 * 1024 * 1024 + 1)
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                sleep(retry_after(exc.headers.get("Retry-After"), now()))
                continue
            detail = exc.read(300).decode("utf-8", "replace").replace("\n", " ")
            raise FetchError(f"{_shown(url)}: HTTP {exc.code} {exc.reason}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise FetchError(f"{_shown(url)}: {getattr(exc, 'reason', exc)}") from None
        if len(body) > 64 * 1024 * 1024:
            raise FetchError(f"{_shown(url)}: a page over 64 MiB")
        try:
            page = json.loads(body)
        except (ValueError, RecursionError):
            raise FetchError(f"{_shown(url)}: the answer is not JSON") from None
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            raise FetchError(f"{_shown(url)}: the answer is not a page of buckets")
        return page
    raise FetchError(f"{_shown(url)}: still rate limited (429) after {MAX_RETRIES} waits")


def _shown(url: str) -> str:
    return url.split("?", 1)[0]


def pages(base: str, report: Report, start: datetime, end: datetime, headers: dict[str, str], *,
          sleep: Callable[[float], None] = time.sleep, now: Callable[[], datetime] | None = None) -> Iterator[dict]:
    """Every page of `report` for [start, end), following next_page."""
    now = now or (lambda: datetime.now(UTC))
    params = report.params(start, end)
    token: str | None = None
    for _ in range(MAX_PAGES):
        query = params + ([("page", token)] if token else [])
        page = _get(f"{base.rstrip('/')}{report.path}?{urllib.parse.urlencode(query)}", headers, sleep, now)
        yield page
        if not page.get("has_more"):
            return
        token = page.get("next_page")
        if not isinstance(token, str) or not token:  # more, and no way to ask for it: not a silent end
            raise FetchError(f"{report.path}: has_more without a next_page token")
    raise FetchError(f"{report.path}: more than {MAX_PAGES:,} pages")


def floor_to(when: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + (when - epoch) // width * width


@dataclass
class SyncResult:
    report: str
    start: datetime
    end: datetime
    pages: int = 0
    imported: int = 0
    replaced: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)

    def line(self, provider_name: str) -> str:
        return (f"{provider_name} {self.report} {_iso(self.start)} → {_iso(self.end)}: {self.pages} pages, "
                f"imported {self.imported}, replaced {self.replaced}, unchanged {self.unchanged}, "
                f"rejected {self.rejected}")


def public_url(base: str) -> str:
    """The base URL as kept in the store (positions, sources): without a user or password in it."""
    parts = urllib.parse.urlsplit(base.rstrip("/"))
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def cursor_name(prov: Provider, report: Report, base: str) -> str:
    return f"sync:{prov.name}:{report.name}:{public_url(base)}"


def sync_report(store: Any, prov: Provider, report: Report, key: str, since: datetime, *,
                base: str | None = None, sleep: Callable[[float], None] = time.sleep,
                now: Callable[[], datetime] | None = None) -> SyncResult:
    """Fetch `report` from its saved position (else `since`) to the last complete bucket,
    writing each page with the position after it."""
    from .ingest.report_costs import combined

    now_fn = now or (lambda: datetime.now(UTC))
    base = base or os.environ.get(prov.base_env) or prov.default_base
    name = cursor_name(prov, report, base)
    saved = _parse_iso(store.cursor(name))
    start = max(since, saved) if saved else since
    end = floor_to(now_fn(), BUCKET_WIDTHS[report.width])
    result = SyncResult(report.name, start, end)
    if start >= end:
        return result
    source = store.source_id(prov.name, f"sync {report.name}: {public_url(base)}{report.path}")
    directory = store.directory()
    for page in pages(base, report, start, end, prov.headers(key), sleep=sleep, now=now_fn):
        result.pages += 1
        records: list[Record] = []
        rejects: list[Reject] = []
        last_end = None
        for item in report.records(page, directory):
            if isinstance(item, Record):
                records.append(item)
            else:
                where, exc, part = item
                rejects.append(Reject(f"sync {prov.name} {report.name}", result.pages, f"page {result.pages}: {where}{exc}",
                                      json.dumps(part)[:2000]))
        for bucket in page["data"]:
            bucket_end = report.bucket_end(bucket) if isinstance(bucket, dict) else None
            if bucket_end is not None and (last_end is None or bucket_end > last_end):
                last_end = bucket_end
        written, changed = combined(store, prov.name, [(r, source) for r in records])
        cursors = {name: _iso(min(last_end, end))} if last_end is not None else None
        counted, _ = store.write_batches([Batch([r for r, _ in written], rejects, source),
                                          Batch([r for r, _ in changed], (), source)], cursors=cursors)
        result.imported += counted.imported
        result.replaced += counted.replaced
        result.unchanged += counted.unchanged
        result.rejected += len(rejects)
        result.rejects.extend(rejects)
    if saved is None or saved < end:  # every page read: the span is done, even its empty end
        store.write_batches([], cursors={name: _iso(end)})
    return result
