"""The native format (§2.1): JSON lines or CSV with the record's own field names."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from ..model import MAX_RECORD_COST_USD, REJECT_EXCERPT_CHARS, Record, Reject, csv_text, excerpt

NAME = "native"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_END_US = (datetime(9999, 12, 31, tzinfo=UTC) - _EPOCH) // _US + 86_400_000_000  # 10000-01-01 UTC

STRING_FIELDS = ("user", "key", "agent", "team", "verdict")
TOKEN_FIELDS = ("prompt_tokens", "completion_tokens", "cached_input_tokens", "context_tokens")
KNOWN_FIELDS = frozenset(("id", "ts", "provider", "model", "requests", "cost_usd", "status")
                         + STRING_FIELDS + TOKEN_FIELDS)

# Every native field: (name, unit, meaning), as `import --help` and docs/importing.md list them.
FIELDS = (
    ("id", "text, required", "the request's id; a later line with the same id replaces the record"),
    ("ts", "ISO 8601, required", "when the request was made; without an offset it is UTC"),
    ("provider", "text, required", "who served it: openai, anthropic, ..."),
    ("model", "text, required", "the model as the provider names it"),
    ("user", "text", "who made it (a directory user id)"),
    ("key", "text", "the API or virtual key used (a directory key id)"),
    ("agent", "text", "the agent that made it (a directory agent id)"),
    ("team", "text", "the team it is charged to (a directory team id)"),
    ("prompt_tokens", "tokens", "input tokens not read from the provider's cache (cache writes included)"),
    ("completion_tokens", "tokens", "output tokens (reasoning included)"),
    ("cached_input_tokens", "tokens", "input tokens read from the provider's cache"),
    ("context_tokens", "tokens", "the part of the input injected as context (at most prompt + cached)"),
    ("requests", "count, default 1", "how many requests the record stands for"),
    ("cost_usd", "US dollars", "the logged cost; absent: priced from the price table"),
    ("status", "HTTP status, default 200", "the request's outcome (100-599)"),
    ("verdict", "text", "a gateway's decision, e.g. allowed or blocked"),
)
# Token counts under names the format does not know would import as 0 tokens: their native name.
TOKEN_SYNONYMS = {"input_tokens": "prompt_tokens", "output_tokens": "completion_tokens",
                  "cached_tokens": "cached_input_tokens", "cache_read_input_tokens": "cached_input_tokens",
                  "input_cached_tokens": "cached_input_tokens"}


class BadRecord(ValueError):
    """A line that is not a valid record; the message is the reason shown to the user."""


# Deeper JSON than this is a broken line, not usage: json raises RecursionError at ~1,000
# levels, and values kept as metadata are written out again later (json.dumps recurses too,
# from a deeper stack): a metadata value nesting deeper than this makes its line a reject.
MAX_JSON_DEPTH = 64


def too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a parsed JSON value nests deeper than `limit` (iterative, containers only: ~60 µs
    for a 4 KB LiteLLM row with 200 brackets, about one json.loads of it)."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > limit:
            return True
        for child in (item.values() if type(item) is dict else item):
            if type(child) is dict or type(child) is list:  # json gives exactly these
                stack.append((child, level + 1))
    return False


def parse_json(text: str) -> Any:
    """`text` parsed as JSON, or a BadRecord saying why it is not usable JSON: malformed,
    nested so deep that json gives up (~1,000 levels), or an integer too long for Python
    (4,300+ digits). What is kept of a value is bounded further by `to_record`."""
    try:
        return json.loads(text)
    except RecursionError:
        return BadRecord(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    except ValueError as exc:  # JSONDecodeError has .msg; the int-digits limit is a plain ValueError
        return BadRecord(f"malformed JSON: {getattr(exc, 'msg', None) or exc}")


def dumped(value: Any, limit: int = 2000) -> str:
    """A parsed value as JSON text for a reject's excerpt; never raises."""
    try:
        return json.dumps(value)[:limit]
    except (RecursionError, ValueError):
        return "(not shown: nested too deeply)"


def shown(value: Any, limit: int = 200) -> str:
    """A bad value as a reason quotes it: JSON, at most `limit` characters (a 60 MB `ts` must
    not make a 60 MB reason)."""
    text = dumped(value, limit + 1)
    return text if len(text) <= limit else text[:limit] + "…"


def text_problem(line: str) -> str | None:
    """Why a line of input is not text, or None. Lines are decoded with surrogateescape, so a
    byte that is not UTF-8 is a lone surrogate here and rejects its line only."""
    if line.isascii():
        return "NUL byte in the line (not text)" if "\x00" in line else None
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not UTF-8 text (at character {exc.start + 1} of the line)"
    return "NUL byte in the line (not text)" if "\x00" in line else None


def parse_ts(value: Any, name: str = "ts") -> int:
    """ISO 8601 timestamp → microseconds since the epoch (UTC). A naive timestamp is UTC."""
    if not isinstance(value, str) or len(value) < 16 or value[10] not in "Tt ":
        raise BadRecord(f"`{name}` must be an ISO 8601 timestamp with a time, got {shown(value)}")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise BadRecord(f"`{name}` is not a valid timestamp: {shown(value)}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    us = (dt - _EPOCH) // _US
    if us < 0:  # the rollups number quarter-hours and days from the epoch, and SQLite's integer
        # division truncates toward zero: a negative time would land in the wrong bucket
        raise BadRecord(f"`{name}` is before 1970-01-01T00:00:00Z: {shown(value)}")
    if us >= _END_US:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC: no date can hold it
        raise BadRecord(f"`{name}` is after 9999-12-31T23:59:59Z: {shown(value)}")
    return us


# Upper bounds of one record: a count of a trillion or a cost of a million dollars in one
# record is a broken line, not usage, and a reject. With them, the store holds at least 9,223
# records at the maximum cost (2**63 - 1 nano-dollars, ~$9.2 billion, is what its totals may
# reach: store.MAX_TOTAL, checked on every write) and 9.2 million at the maximum count.
MAX_COUNT = 10**12
MAX_COST_USD = MAX_RECORD_COST_USD  # 10**6


def _bounded(name: str, number: int, minimum: int) -> int:
    if number < minimum:
        raise BadRecord(f"`{name}` must be >= {minimum}, got {number}")
    if number > MAX_COUNT:
        raise BadRecord(f"`{name}` must be <= {MAX_COUNT:_}, got {number:_}")
    return number


def _int_json(obj: dict, name: str, default: int, minimum: int) -> int:
    value = obj.get(name)
    if value is None:
        return default
    # bool is an int in Python; "12", 1.5 and true are all bad lines (§2.1 Types)
    if type(value) is not int:
        raise BadRecord(f"`{name}` must be an integer, got {shown(value)}")
    if minimum <= value <= MAX_COUNT:  # the common case, without a call
        return value
    return _bounded(name, value, minimum)


def _int_csv(obj: dict, name: str, default: int, minimum: int) -> int:
    value = obj.get(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise BadRecord(f"`{name}` must be an integer, got {shown(value)}") from None
    return _bounded(name, number, minimum)


def _cost(value: Any, from_csv: bool) -> float | None:
    if value is None:
        return None
    if from_csv:
        try:
            value = float(value.strip())
        except ValueError:
            raise BadRecord(f"`cost_usd` must be a number, got {shown(value)}") from None
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"`cost_usd` must be a number, got {shown(value)}")
    if not math.isfinite(value) or value < 0:
        raise BadRecord(f"`cost_usd` must be a finite number >= 0, got {value}")
    if value > MAX_COST_USD:
        raise BadRecord(f"`cost_usd` must be <= {MAX_COST_USD:_}, got {value!r}")
    return float(value)


def _string(obj: dict, name: str, required: bool) -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise BadRecord(f"missing required field `{name}`")
        return None
    if not isinstance(value, str):
        raise BadRecord(f"`{name}` must be a string, got {shown(value)}")
    if not value.isascii():  # a JSON escape such as \ud800 is no text SQLite can store
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRecord(f"`{name}` is not valid Unicode text (a lone surrogate)") from None
    return value


def to_record(obj: Any, from_csv: bool = False) -> Record:
    """Validate one parsed object against §2.1 and normalize it. Raises BadRecord."""
    if not isinstance(obj, dict):
        raise BadRecord("not a JSON object")
    rid = _string(obj, "id", True)
    if len(rid) > 256:
        raise BadRecord(f"`id` is longer than 256 characters ({len(rid)})")
    if obj.get("ts") in (None, ""):
        raise BadRecord("missing required field `ts`")
    ts_us = parse_ts(obj["ts"])
    provider = _string(obj, "provider", True)
    model = _string(obj, "model", True)
    as_int = _int_csv if from_csv else _int_json
    prompt = as_int(obj, "prompt_tokens", 0, 0)
    completion = as_int(obj, "completion_tokens", 0, 0)
    cached = as_int(obj, "cached_input_tokens", 0, 0)
    context = as_int(obj, "context_tokens", 0, 0)
    if context > prompt + cached:
        raise BadRecord(f"`context_tokens` ({context}) exceeds prompt + cached input tokens ({prompt + cached})")
    status = as_int(obj, "status", 200, 100)
    if status > 599:
        raise BadRecord(f"`status` must be an HTTP status 100-599, got {status}")
    extra = {} if obj.keys() <= KNOWN_FIELDS else {  # the common case, without a loop
        k: v for k, v in obj.items() if k not in KNOWN_FIELDS and not (from_csv and v is None)}
    if extra:
        misplaced_tokens(obj, extra, from_csv)
    for name, value in extra.items():  # kept as metadata, written out again with json.dumps
        if (type(value) is dict or type(value) is list) and too_deep(value, MAX_JSON_DEPTH - 1):
            raise BadRecord(f"JSON nested deeper than {MAX_JSON_DEPTH} levels (in `{name}`)")
    return Record(
        id=rid, ts_us=ts_us, provider=provider, model=model,
        user=_string(obj, "user", False), key=_string(obj, "key", False),
        agent=_string(obj, "agent", False), team=_string(obj, "team", False),
        prompt_tokens=prompt, completion_tokens=completion, cached_input_tokens=cached,
        context_tokens=context, requests=as_int(obj, "requests", 1, 1),
        cost_usd=_cost(obj.get("cost_usd"), from_csv), status=status,
        verdict=_string(obj, "verdict", False), metadata=extra,
    )


def _is_count(value: Any, from_csv: bool) -> bool:
    if from_csv:
        return isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit()
    return not isinstance(value, bool) and isinstance(value, int | float)


def misplaced_tokens(obj: dict, extra: dict, from_csv: bool = False) -> None:
    """A count under a token name the format does not know is a BadRecord, never a silent 0 (it
    would be kept as metadata): `input_tokens`, `output_tokens`... where their native field is
    absent, and any `*tokens*` name when the line has no native token field at all."""
    has_native = any(obj.get(name) not in (None, "") for name in TOKEN_FIELDS)
    for name, value in extra.items():
        if "tokens" not in name.lower() or not _is_count(value, from_csv):
            continue
        native = TOKEN_SYNONYMS.get(name.lower())
        if native is not None and obj.get(native) in (None, ""):
            raise BadRecord(f"`{name}` is not a native field: token counts go in `{native}` "
                            f"(the token fields are {', '.join(TOKEN_FIELDS)})")
        if not has_native:
            raise BadRecord(f"`{name}` is not a native field, and the line has none of "
                            f"{', '.join(TOKEN_FIELDS)}: its tokens would import as 0")


def json_lines(stream: TextIO) -> Iterator[tuple[int, str, Any]]:
    """(line number, raw line, parsed value) for each non-blank line; a malformed line's value
    is a BadRecord saying so, for the caller to turn into a reject."""
    for number, line in enumerate(stream, 1):
        raw = line.rstrip("\r\n")
        if not raw.strip():
            continue
        problem = text_problem(raw)
        yield number, raw, BadRecord(problem) if problem else parse_json(raw)


def parse_jsonl(stream: TextIO, source: str, **_: Any) -> Iterator[Record | Reject]:
    for number, raw, obj in json_lines(stream):
        try:
            if isinstance(obj, BadRecord):
                raise obj
            record = to_record(obj)
        except BadRecord as exc:
            yield Reject(source, number, str(exc), raw)
            continue
        record.source_line, record.raw = number, excerpt(raw)
        yield record


def row_excerpt(row: list[str]) -> str | list[str]:
    """A CSV row's cells as a record keeps them for a later reject: the cells themselves (no
    copy) when short, else a bounded excerpt of the row's text."""
    return row if sum(map(len, row)) <= REJECT_EXCERPT_CHARS else excerpt(csv_text(row))


def csv_rows(stream: TextIO) -> Iterator[tuple[int, int, list[str] | BadRecord]]:
    """(first line, last line, cells) of each CSV row after the header, which comes first as
    (0, 0, header). A row the csv module refuses (a cell over its field limit) or that is not
    text is a BadRecord instead of its cells, and the rows after it still come."""
    reader = csv.reader(stream)
    end = 0
    header = True
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield start, end, BadRecord(f"not a CSV row: {exc}")
            continue
        end = reader.line_num
        problem = next((p for p in map(text_problem, row) if p), None) if row else None
        if header:
            header = False
            yield 0, 0, ([] if problem else row)
        else:
            yield start, end, BadRecord(problem) if problem else row


def parse_csv(stream: TextIO, source: str, **_: Any) -> Iterator[Record | Reject]:
    rows = csv_rows(stream)
    first = next(rows, None)
    if first is None or isinstance(first[2], BadRecord):
        return
    header = [h.strip() for h in first[2]]
    width = len(header)
    for _start, number, row in rows:
        if isinstance(row, BadRecord):
            yield Reject(source, number, str(row), "")
            continue
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != width:
            yield Reject(source, number, f"expected {width} columns, found {len(row)}", csv_text(row))
            continue
        obj = {h: (c if c != "" else None) for h, c in zip(header, row, strict=True)}
        try:
            record = to_record(obj, from_csv=True)
        except BadRecord as exc:
            yield Reject(source, number, str(exc), csv_text(row))
            continue
        record.source_line, record.raw = number, row_excerpt(row)
        yield record


def looks_like_csv(head: str) -> bool:
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    return not first.startswith(("{", "[")) and "id" in [c.strip() for c in first.split(",")]


def parse(stream: TextIO, source: str, head: str = "", **options: Any) -> Iterator[Record | Reject]:
    """Native JSONL or CSV, told apart by the first line (a CSV header names `id`)."""
    if looks_like_csv(head):
        return parse_csv(stream, source)
    return parse_jsonl(stream, source)


def detect(head: str) -> bool:
    """Native JSONL: an object with `id`, `ts`, `provider` and `model`; or a CSV naming them."""
    if looks_like_csv(head):
        cols = {c.strip() for c in head.lstrip().splitlines()[0].split(",")}
        return {"id", "ts", "provider", "model"} <= cols
    # A bad first line must not hide a usage file: any of the first lines may show it.
    for line in head.splitlines()[:20]:
        obj = parse_json(line)
        if isinstance(obj, dict) and {"id", "ts", "provider", "model"} <= obj.keys():
            return True
    return False
