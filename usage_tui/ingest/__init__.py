"""Ingest: source files → normalized records → the store, in atomic batches.

Each format is a module with `NAME`, `detect(head) -> bool` and
`parse(stream, source, head=..., **options)` yielding `Record`s and `Reject`s. Everything
after parsing (replacement by id, rejects, attribution, prices, rollups) is shared.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

from ..identity import OwnUsageOnly
from ..model import Record, Reject, all_unicode, is_unicode
from ..store import BatchResult, StoreError, UsageStore
from ..store.bulk import BATCH_SIZE, BulkImport
from .gzip_files import GZIP_ERRORS, content_size, open_file
from .report_costs import combined, report_provider

# Formats in the order auto-detection tries them (native last: it is the loosest match).
FORMAT_MODULES = {"litellm": "litellm", "openai": "openai", "claude-code": "claude_code",
                  # issue 25: the providers' admin reports (usage and costs)
                  "openai-costs": "openai_costs", "anthropic": "anthropic_report",
                  # issue 25: local coding agents' sessions
                  "codex": "codex", "opencode": "opencode", "gemini": "gemini", "pi": "pi_agent", "amp": "amp",
                  "native": "native"}
FORMATS = ("auto", *FORMAT_MODULES)
FAST_PATHS = {"claude-code": ".claude_code_fast", "native": ".native_fast"}
FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".ndjson", ".db")  # .db: OpenCode's database (opencode.py)
# Formats whose ids are made to collapse copies in other files (archived, resumed, branched
# sessions): a copy met again in one import is written again, not counted again.
COUNTED_ONCE = frozenset(("claude-code", "codex", "opencode", "gemini", "pi", "amp"))
HEAD_BYTES = 65_536
# A forced format that does not recognise a file's start gets this many rejects before its first
# record; beyond them the file is not that format (its rejects would be junk) and is refused.
TRIAL_REJECTS_MAX = 1_000
# The rejects of one file an import keeps in the store: the first this many, then one line
# saying how many more there were (every one is still reported and counted). A file of junk
# must not fill the disk: 300k bad lines made a 718 MB store.
KEPT_REJECTS_PER_FILE = 10_000


class ImportFatal(Exception):
    """The input cannot be imported at all (missing, unreadable, not a usage file)."""


def format_module(name: str) -> ModuleType | None:
    """The importer for a format, or None when that importer is not installed yet."""
    try:
        return importlib.import_module(f".{FORMAT_MODULES[name]}", __name__)
    except ModuleNotFoundError:
        return None


def detect_format(head: str) -> str | None:
    for name in FORMAT_MODULES:
        module = format_module(name)
        if module is not None and module.detect(head):
            return name
    return None


@dataclass
class ImportSummary:
    imported: int = 0
    replaced: int = 0
    unchanged: int = 0
    rejected: int = 0
    not_kept: int = 0  # rejects counted but not kept in the store (past KEPT_REJECTS_PER_FILE)
    files: int = 0
    skipped: list[str] = field(default_factory=list)
    # a forced format's first reject in a file it did not match (for the error that says so)
    unmatched: Reject | None = None

    def line(self) -> str:
        kept = (f" ({self.rejected - self.not_kept:,} kept: at most {KEPT_REJECTS_PER_FILE:,} a file)"
                if self.not_kept else "")
        return (f"imported {self.imported}, replaced {self.replaced}, unchanged {self.unchanged}, "
                f"rejected {self.rejected}{kept}")


def _read_here(file: Path) -> bool:
    """A folder's file that may be usage: a known suffix, or any gzip file (exports come
    compressed: what is inside is detected, and a file that is not usage is named as skipped)."""
    suffix = file.suffix.lower()
    return suffix in FILE_SUFFIXES or suffix == ".gz"


def _files(path: str) -> list[str]:
    if path == "-":
        return ["-"]
    p = Path(path)
    if p.is_dir():
        every = sorted((f for f in p.rglob("*") if f.is_file()), key=str)  # as strings: a session file before its folder
        found = [str(f) for f in every if _read_here(f)]
        if not found:
            raise ImportFatal(f"{path}: no usage file in this folder: no .jsonl, .ndjson, .json, .csv or .db file "
                              f"(or one of them gzipped){_named_skips([str(f) for f in every])}")
        return found
    if not p.exists():
        raise ImportFatal(f"{path}: no such file")
    if not os.access(p, os.R_OK):
        raise ImportFatal(f"{path}: permission denied")
    return [path]


# Detection reads the first line whole, however long (a record with a long prompt kept as
# metadata), up to this many bytes: beyond it, a "line" is not usage anyway.
DETECT_LINE_MAX = 64 * 1024 * 1024


class _Prefixed(io.RawIOBase):
    """`prefix` (bytes already read from a pipe), then the rest of the pipe."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix, self._rest = memoryview(prefix), rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read1(len(buffer)) if hasattr(self._rest, "read1") else self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _named_skips(files: list[str], shown: int = 5) -> str:
    """ " (skipped: a, b and 3 more)" naming what a folder held that is not usage, or ""."""
    if not files:
        return " (it holds no file)"
    more = f" and {len(files) - shown:,} more" if len(files) > shown else ""
    return f" (skipped: {', '.join(files[:shown])}{more})"


def _open(path: str) -> tuple[BinaryIO, int]:
    """The input as a buffered reader whose buffer holds at least its whole first line (up to
    DETECT_LINE_MAX), so that `_head` shows detection a complete line whatever its length."""
    if path == "-":
        stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
        reader = io.BufferedReader(stdin, HEAD_BYTES)
        size = 0
    else:
        try:
            reader, size = open_file(path, HEAD_BYTES), os.path.getsize(path)
        except OSError as exc:
            raise ImportFatal(f"{path}: {exc.strerror}") from None
    try:
        head = reader.peek(HEAD_BYTES)
        if not head or b"\n" in head:
            return reader, size
        first = reader.readline(DETECT_LINE_MAX)  # a first line longer than the head
    except GZIP_ERRORS as exc:
        reader.close()
        raise ImportFatal(f"{path}: not a readable gzip file ({exc})") from None
    buffer = max(HEAD_BYTES, len(first) + HEAD_BYTES)
    if path == "-":
        return io.BufferedReader(_Prefixed(first, reader), buffer), size
    reader.close()
    return open_file(path, buffer), size


def _head(raw: BinaryIO) -> str:
    """The start of the input as text, for detection: at least HEAD_BYTES (or the whole first
    line). Raises UnicodeDecodeError when the input is not text from its start (a NUL byte or
    bytes that are not UTF-8 on its first line: gzip, SQLite, UTF-16...); a bad line later
    on is one reject, found by the parser."""
    head = raw.peek(HEAD_BYTES)
    if head.startswith(b"SQLite format 3\x00"):  # issue 25: OpenCode's database, read by path (opencode.py)
        database = format_module("opencode").database_head(getattr(raw, "name", None))
        if database is not None:
            return database
    first = head.lstrip(b"\r\n").split(b"\n", 1)[0]
    if b"\x00" in first:
        raise UnicodeDecodeError("utf-8", first, first.index(b"\x00"), first.index(b"\x00") + 1, "NUL byte")
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.end < len(first) or len(first) < len(head.lstrip(b"\r\n")):  # not merely cut by the head's end
            raise
    return head.decode("utf-8-sig", errors="ignore")


def iter_file(path: str, fmt: str, **options) -> Iterator[Record | Reject]:
    """Parse one file (or `-`) in the given format (`auto` detects it)."""
    raw, _ = _open(path)
    with raw:
        yield from _parse_open(raw, path, fmt, options)


def _parse_open(raw: BinaryIO, path: str, fmt: str, options: dict) -> Iterator[Record | Reject]:
    source = "<stdin>" if path == "-" else path
    try:
        head = _head(raw)
    except UnicodeDecodeError:
        raise ImportFatal(f"{source}: not a usage file (binary data)") from None
    if fmt == "auto":
        detected = detect_format(head)
        if detected is None:
            raise ImportFatal(f"{source}: not a usage file (no known format recognised; name one with --format)")
        fmt = detected
    module = format_module(fmt)
    if module is None:
        raise ImportFatal(f"--format {fmt}: this importer is not available in this version")
    if fmt in FAST_PATHS:  # issue 28: the same records and rejects, decoded from bytes by msgspec
        yield from importlib.import_module(FAST_PATHS[fmt], __name__).parse_bytes(raw, source, head=head, **options)
        return
    # surrogateescape: a byte that is not UTF-8 makes its own line a reject (the readers check
    # each line), not the whole file fatal after earlier batches were committed.
    stream = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        yield from module.parse(stream, source, head=head, **options)
    except UnicodeDecodeError as exc:
        raise ImportFatal(f"{source}: not a usage file (not UTF-8 text: {exc.reason})") from None
    finally:
        stream.detach()  # the caller owns `raw`: don't let the wrapper close it


def import_path(
    store: UsageStore,
    path: str | list[str],
    fmt: str = "auto",
    *,
    user: str | None = None,
    team: str | None = None,
    viewer: str | None = None,
    guard: OwnUsageOnly | None = None,
    on_reject: Callable[[Reject], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportSummary:
    """Import a file, a folder (recursively) or stdin. Good records land in batches; each bad
    one is reported through `on_reject` and kept in the rejects table. With a `guard` (a
    member's import), the records it refuses are rejects too."""
    summary = ImportSummary()
    files = _files(path) if isinstance(path, str) else list(path)  # issue 25: import --local names its files
    sizes = {f: (content_size(f) if f != "-" else 0) for f in files}
    total_bytes = sum(sizes.values())
    # Claude Code ids written so far in this import: a subagent's message is in its own file and
    # in the session's progress lines (two files), and the summary counts records, not copies.
    options = {"user": user, "team": team, "viewer": viewer, "guard": guard, "counted": set(),
               "directory": store.directory()}
    in_folder = not isinstance(path, str) or (Path(path).is_dir() if path != "-" else False)

    shown = [0]  # bytes the progress shows read: files end (parsed) and batches commit (written)

    def advance(position: int | None) -> None:
        if on_progress is not None and position is not None and position > shown[0]:
            shown[0] = position
            on_progress(position, total_bytes)

    def written(result: BatchResult, position: int | None) -> None:
        summary.imported += result.imported
        summary.replaced += result.replaced
        summary.unchanged += result.unchanged
        advance(position)

    # This thread parses and stages; the store's bulk writer writes and rolls up on threads of
    # its own (store/bulk.py). Files end without a write: what they staged is written in full
    # batches, and at the end, or before a file that stops the import or Ctrl-C is reported:
    # what the files before it staged is written, as when each file was written at its end.
    with store.bulk_import(batch_size=batch_size, on_written=written) as bulk:
        try:
            recognised = _import_files(store, files, fmt, in_folder, sizes, options, summary, on_reject, bulk,
                                       advance)
        except (ImportFatal, KeyboardInterrupt):
            bulk.complete()
            raise
        except StoreError:
            bulk.finish()  # what committed before the error
            raise
        bulk.complete()
    if isinstance(path, str) and in_folder and fmt == "auto" and not summary.files:
        raise ImportFatal(f"{path}: no usage file in this folder{_named_skips(summary.skipped)}")
    # A forced format that found nothing of its own is a mistake, not an empty import.
    if fmt != "auto" and not recognised and not (summary.imported or summary.replaced or summary.unchanged
                                                  or summary.rejected):
        what = "them" if in_folder else "it"
        first = summary.unmatched
        why = (f"line {first.line}: {first.reason}" if first is not None
               else f"no line was recognised as --format {fmt}")
        raise ImportFatal(f"{'<stdin>' if path == '-' else path}: nothing in {what} is {fmt} usage "
                          f"({why}; try --format auto)")
    return summary


def _import_files(store: UsageStore, files: list[str], fmt: str, in_folder: bool, sizes: dict[str, int],
                  options: dict, summary: ImportSummary, on_reject: Callable[[Reject], None] | None,
                  bulk: BulkImport, advance: Callable[[int | None], None]) -> int:
    """Import each file; returns how many of them a forced format recognised as its own."""
    done_bytes = 0
    recognised = 0
    for file in files:
        raw, _ = _open(file)
        with raw:
            source_name = "<stdin>" if file == "-" else file
            try:
                head = _head(raw)
            except UnicodeDecodeError:
                head = None
            source_fmt = fmt if fmt != "auto" else (detect_format(head) if head is not None else None)
            if source_fmt is None or head is None:
                if in_folder:  # a folder may hold other files: skip them, and say so
                    summary.skipped.append(file)
                    continue
                if head is None:
                    raise ImportFatal(f"{source_name}: not a usage file (binary data)")
                raise ImportFatal(f"{source_name}: not a usage file (no known format recognised; "
                                  "name one with --format)")
            forced = format_module(fmt) if fmt != "auto" else None
            detected = forced is None or forced.detect(head)
            recognised += forced is not None and detected
            matched = _import_file(store, raw, file, source_fmt, options, summary, on_reject, done_bytes, bulk,
                                   on_trial=not detected)
            advance(done_bytes + sizes[file])
            if matched:
                summary.files += 1
                recognised += not detected
            elif in_folder:
                summary.skipped.append(file)
        done_bytes += sizes[file]
    return recognised


_TEXT_FIELDS = ("id", "provider", "model", "user", "key", "agent", "team", "verdict", "service_tier")


def not_text(record: Record) -> str | None:
    """Why a record cannot be stored as text, or None: a NUL character (JSON's \\u0000) in one
    of its text fields (PostgreSQL's text cannot hold one, and no name or id really has one),
    or a lone surrogate (not Unicode: a JSON escape such as \\ud800, or a byte that was not
    UTF-8) in a text field or anywhere in its metadata. A bad line on both engines alike,
    rather than a failed batch. (Metadata is stored as JSON, which spells a NUL as \\u0000.)"""
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        if value is None:
            continue
        if not value.isascii() and not is_unicode(value):
            return f"not valid Unicode text in `{name}`"
        if "\x00" in value:
            return f"NUL character in `{name}` (not text)"
    for name, value in record.metadata.items():  # (keys are what the source named its fields)
        if not name.isascii() and not is_unicode(name):
            return "not valid Unicode text in a field's name"
        if type(value) is str:  # the common case, without a call
            if not value.isascii() and not is_unicode(value):
                return f"not valid Unicode text in `{name}`"
        elif not all_unicode(value):
            return f"not valid Unicode text in `{name}`"
    return None


def _combine_reports(store: UsageStore, held: dict[str, list], bulk: BulkImport) -> None:
    """The providers' report records this import read, with the dollars of cost and usage
    reports of the same days shared (report_costs.py, against what the store holds of those
    days once the rest of this import is committed); stored records whose dollars change are
    written again, not counted again."""
    bulk.flush()
    bulk.settle()
    for provider, incoming in held.items():
        written, changed = combined(store, provider, incoming)
        for records, counted in ((written, True), (changed, False)):
            by_source: dict[int | None, list[Record]] = {}
            for record, source in records:
                by_source.setdefault(source, []).append(record)
            for source, group in by_source.items():
                (bulk.add if counted else bulk.add_uncounted)(group, source)
    bulk.flush()
    bulk.settle()


def _gzip_checked(items: Iterator[Record | Reject], file: str) -> Iterator[Record | Reject]:
    """The items, then one reject where gzip data ends early or is corrupt: what was read
    before it is kept (a cut-short download is common), the rest of the file cannot be read."""
    line = 0
    try:
        for item in items:
            line = max(line, (item.line if isinstance(item, Reject) else item.source_line) or 0)
            yield item
    except GZIP_ERRORS as exc:
        yield Reject(file, line + 1, f"gzip data cut short or corrupt ({exc}): the lines before it were read, "
                                     "none after", "")


def _import_file(store: UsageStore, raw: BinaryIO, file: str, fmt: str, options: dict, summary: ImportSummary,
                 on_reject: Callable[[Reject], None] | None, done_bytes: int, bulk: BulkImport,
                 on_trial: bool = False) -> bool:
    """Stream one file into the store's bulk writer, a batch at a time (the writer commits
    each in one transaction; a failed batch stops the import before any later one commits).

    `on_trial`: a forced format that did not recognise the file's start. Its rejects are held
    back until a line parses as a record of the format; when none does (or more than
    TRIAL_REJECTS_MAX lines are rejects first), the file is not that format: nothing of it is
    written or reported, and this returns False (the caller says so). Else True.

    Rejects go to the bulk writer as they come (it writes them in bounded batches); past
    KEPT_REJECTS_PER_FILE of them only one more is kept, saying how many were not."""
    source_id: int | None = None  # created with the first batch: a file that is not ours leaves no trace
    held: list[Reject] | None = [] if on_trial else None
    batch: list[Record] = []
    kept = 0
    first_not_kept: Reject | None = None
    not_kept = 0

    def position() -> int | None:
        """Where the file is read to, for the progress bar; a pipe (stdin) has none: tell() fails."""
        return None if file == "-" else done_bytes + raw.tell()

    def flush() -> None:
        if guard is not None:
            batch[:], refused = guard.screen(store, batch, "<stdin>" if file == "-" else file)
            for item in refused:
                report(item)
        nonlocal source_id
        if source_id is None:
            source_id = store.source_id(fmt, "<stdin>" if file == "-" else str(Path(file).resolve()))
        repeats: list[Record] = []
        if counted is not None:  # written earlier in this import: written again, not counted again
            repeats = [r for r in batch if r.id in counted]
            if repeats:
                batch[:] = [r for r in batch if r.id not in counted]
            counted.update(r.id for r in batch)
        bulk.add(batch, source_id, position())
        if repeats:
            bulk.add_uncounted(repeats, source_id, position())
        batch.clear()

    def report(reject: Reject) -> None:
        nonlocal kept, first_not_kept, not_kept
        summary.rejected += 1
        if kept < KEPT_REJECTS_PER_FILE:
            kept += 1
            bulk.reject((reject,))
        else:
            first_not_kept = first_not_kept or reject
            not_kept += 1
        if on_reject is not None:
            on_reject(reject)

    user, team, guard = options.get("user"), options.get("team"), options.get("guard")
    counted: set[str] | None = options.get("counted") if fmt in COUNTED_ONCE else None
    parse_options = {k: v for k, v in options.items() if k not in ("guard", "counted")}
    # The providers' reports are held a batch at a time, and at the file's end, then written with
    # their dollars shared (report_costs.py: against the store, so any cut of them is exact); a
    # member's import (guard) adds only their own records, as written.
    reports: dict[str, list] | None = {} if guard is None else None
    try:
        for item in _gzip_checked(_parse_open(raw, file, fmt, parse_options), file):
            if isinstance(item, Reject):
                if held is not None:
                    held.append(item)
                    if len(held) > TRIAL_REJECTS_MAX:
                        break
                    continue
                report(item)
                continue
            if held is not None:  # a record of the format: the file is one after all
                for reject in held:
                    report(reject)
                held = None
            if item.user is None and user is not None:
                item.user = user
            if item.team is None and team is not None:
                item.team = team
            problem = not_text(item)
            if problem is not None:
                report(Reject("<stdin>" if file == "-" else file, item.source_line or 0, problem, item.raw_text))
                continue
            provider = report_provider(item) if reports is not None else None
            if provider is not None:
                if source_id is None:
                    source_id = store.source_id(fmt, "<stdin>" if file == "-" else str(Path(file).resolve()))
                held_reports = reports.setdefault(provider, [])
                held_reports.append((item, source_id))
                if len(held_reports) >= bulk.batch_size:
                    _combine_reports(store, {provider: reports.pop(provider)}, bulk)
                continue
            batch.append(item)
            if len(batch) >= bulk.batch_size:
                flush()
        if held is not None:
            summary.unmatched = summary.unmatched or (held[0] if held else None)
            return False
        if batch:
            flush()
        if reports:
            _combine_reports(store, reports, bulk)
        if first_not_kept is not None:
            summary.not_kept += not_kept
            bulk.reject((Reject(first_not_kept.source, first_not_kept.line,
                                f"{not_kept:,} rejected lines from this one on were not kept: only the first "
                                f"{KEPT_REJECTS_PER_FILE:,} of a file are kept in each import", first_not_kept.raw),))
        bulk.end_file()
    finally:
        bulk.settle()
    return True
