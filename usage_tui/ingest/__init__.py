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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

from ..identity import OwnUsageOnly
from ..model import Record, Reject
from ..store import Store, StoreError

# Formats in the order auto-detection tries them (native last: it is the loosest match).
FORMAT_MODULES = {"litellm": "litellm", "openai": "openai", "claude-code": "claude_code", "native": "native"}
FORMATS = ("auto", *FORMAT_MODULES)
FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".ndjson")
BATCH_SIZE = 10_000  # records per transaction: 20k gained ~7% speed for +80 MB RSS at 1M
SORT_WINDOW_BATCHES = 4  # batches' worth of staged rows sorted by time before they are written
# Records appended between two roll-ups during an import. A third thread (its own connection)
# sums them while this one parses and the writer appends (SQLite releases the GIL), then adds the
# sums in one short transaction between two batches: parsing is the slowest of the three, so the
# roll-up mostly costs no time. Each roll-up passes over the rollup tables once: fewer, larger
# ones cost less at 10M records.
ROLLUP_EVERY = 500_000
_ROW_TIME = itemgetter(1)  # a staged row's ts_us
HEAD_BYTES = 65_536
# A forced format that does not recognise a file's start gets this many rejects before its first
# record; beyond them the file is not that format (its rejects would be junk) and is refused.
TRIAL_REJECTS_MAX = 1_000
IMPORT_SWITCH_INTERVAL_S = 0.0001


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
    files: int = 0
    skipped: list[str] = field(default_factory=list)
    # a forced format's first reject in a file it did not match (for the error that says so)
    unmatched: Reject | None = None

    def line(self) -> str:
        return (f"imported {self.imported}, replaced {self.replaced}, unchanged {self.unchanged}, "
                f"rejected {self.rejected}")


def _files(path: str) -> list[str]:
    if path == "-":
        return ["-"]
    p = Path(path)
    if p.is_dir():
        found = sorted(str(f) for f in p.rglob("*") if f.is_file() and f.suffix.lower() in FILE_SUFFIXES)
        if not found:
            raise ImportFatal(f"{path}: no .jsonl, .json or .csv files in this folder")
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


def _open(path: str) -> tuple[BinaryIO, int]:
    """The input as a buffered reader whose buffer holds at least its whole first line (up to
    DETECT_LINE_MAX), so that `_head` shows detection a complete line whatever its length."""
    if path == "-":
        stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
        reader = io.BufferedReader(stdin, HEAD_BYTES)
        size = 0
    else:
        try:
            reader, size = open(path, "rb", buffering=HEAD_BYTES), os.path.getsize(path)
        except OSError as exc:
            raise ImportFatal(f"{path}: {exc.strerror}") from None
    head = reader.peek(HEAD_BYTES)
    if not head or b"\n" in head:
        return reader, size
    first = reader.readline(DETECT_LINE_MAX)  # a first line longer than the head
    buffer = max(HEAD_BYTES, len(first) + HEAD_BYTES)
    if path == "-":
        return io.BufferedReader(_Prefixed(first, reader), buffer), size
    reader.close()
    return open(path, "rb", buffering=buffer), size


def _head(raw: BinaryIO) -> str:
    """The start of the input as text, for detection: at least HEAD_BYTES (or the whole first
    line). Raises UnicodeDecodeError when the input is not text from its start (a NUL byte or
    bytes that are not UTF-8 on its first line: gzip, SQLite, UTF-16...); a bad line later
    on is one reject, found by the parser."""
    head = raw.peek(HEAD_BYTES)
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
    store: Store,
    path: str,
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
    files = _files(path)
    sizes = {f: (os.path.getsize(f) if f != "-" else 0) for f in files}
    total_bytes = sum(sizes.values())
    # Claude Code ids written so far in this import: a subagent's message is in its own file and
    # in the session's progress lines (two files), and the summary counts records, not copies.
    options = {"user": user, "team": team, "viewer": viewer, "guard": guard, "counted": set()}
    in_folder = Path(path).is_dir() if path != "-" else False
    # Batches are written by one writer thread (its own connection) while this thread parses
    # and stages the next ones: SQLite releases the GIL while it works, so the two overlap.
    # After each SQLite call the writer needs the GIL back, and waits for this thread to be
    # told to give it up: a switch interval of 0.1 ms instead of 5 ms cut those waits, and
    # a 200k-record import from 7.9 to 6.2 s. Restored afterwards (it is process-wide).
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(IMPORT_SWITCH_INTERVAL_S)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-tui-import") as writer, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage-tui-rollup") as roller:
            roll = _RollUps(store, roller)
            options["roll"] = roll
            try:
                recognised = _import_files(store, files, fmt, in_folder, sizes, total_bytes, options, summary,
                                           on_reject, on_progress, batch_size, writer)
            except (ImportFatal, StoreError):
                roll.finish()
                writer.submit(store.refresh_rollups).result()  # what committed before the error
                raise
            else:
                # The batches appended records only: the last of them are rolled up now, sorted
                # by the rollups' keys (an interrupted import leaves them to the next one).
                roll.finish()
                writer.submit(store.refresh_rollups).result()
            finally:
                roll.close()
                writer.submit(store.close).result()  # the writer thread's connection
    finally:
        sys.setswitchinterval(switch_interval)
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


class _RollUps:
    """Rolls up what an import appended, every ROLLUP_EVERY records, on its own thread (and
    connection), one roll-up at a time; its errors surface at the next one or at the end."""

    def __init__(self, store: Store, roller: ThreadPoolExecutor) -> None:
        self.store, self.roller = store, roller
        self.appended = 0
        self.running: Future | None = None

    def appended_batch(self, records: int) -> None:
        self.appended += records
        if self.appended >= ROLLUP_EVERY and (self.running is None or self.running.done()):
            self.finish()
            self.appended = 0
            self.running = self.roller.submit(self.store.refresh_rollups)

    def finish(self) -> None:
        running, self.running = self.running, None
        if running is not None:
            running.result()

    def close(self) -> None:
        if self.running is not None:
            self.running.exception()  # wait; the error (if any) was not this one's to raise
        self.roller.submit(self.store.close).result()


def _import_files(store: Store, files: list[str], fmt: str, in_folder: bool, sizes: dict[str, int],
                  total_bytes: int, options: dict, summary: ImportSummary,
                  on_reject: Callable[[Reject], None] | None, on_progress: Callable[[int, int], None] | None,
                  batch_size: int, writer: ThreadPoolExecutor) -> int:
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
            matched = _import_file(store, raw, file, source_fmt, options, summary, on_reject,
                                   (lambda pos, base=done_bytes: on_progress(base + pos, total_bytes))
                                   if on_progress else None, batch_size, writer, on_trial=not detected)
            if matched:
                summary.files += 1
                recognised += not detected
            elif in_folder:
                summary.skipped.append(file)
        done_bytes += sizes[file]
    return recognised


_TEXT_FIELDS = ("id", "provider", "model", "user", "key", "agent", "team", "verdict", "service_tier")


def nul_in_text(record: Record) -> str | None:
    """Why a record cannot be stored as text, or None: a NUL character (JSON's \\u0000) in one
    of its text fields. PostgreSQL's text cannot hold one, and no name or id really has one:
    a bad line on both engines alike, rather than a failed batch on one of them."""
    for name in _TEXT_FIELDS:
        value = getattr(record, name)
        if value is not None and "\x00" in value:
            return f"NUL character in `{name}` (not text)"
    return None


def _import_file(store: Store, raw: BinaryIO, file: str, fmt: str, options: dict, summary: ImportSummary,
                 on_reject: Callable[[Reject], None] | None, on_progress: Callable[[int], None] | None,
                 batch_size: int, writer: ThreadPoolExecutor, on_trial: bool = False) -> bool:
    """Stream one file into the store, a batch (one transaction) at a time. This thread parses
    and stages (the Python work); `writer` runs a batch's SQL while this thread works on the
    next one. One batch at a time is in the writer, so a failed batch stops the import before
    any later one commits.

    `on_trial`: a forced format that did not recognise the file's start. Its rejects are held
    back until a line parses as a record of the format; when none does (or more than
    TRIAL_REJECTS_MAX lines are rejects first), the file is not that format: nothing of it is
    written or reported, and this returns False (the caller says so). Else True."""
    source_id: int | None = None  # created with the first batch: a file that is not ours leaves no trace
    held: list[Reject] | None = [] if on_trial else None
    batch: list[Record] = []
    rejects: list[Reject] = []
    pending: list[tuple[Future, int, bool]] = []  # (write, file position, whether it counts)

    def settle() -> None:
        """Wait for the batch being written; its errors surface here."""
        while pending:
            future, position, counts = pending.pop()
            result = future.result()
            if not counts:
                continue
            summary.imported += result.imported
            summary.replaced += result.replaced
            summary.unchanged += result.unchanged
            if on_progress is not None and file != "-":
                on_progress(position)

    # Records in any order (merged exports) would make every batch touch pages all over the
    # rollups and time indexes: the staged rows of SORT_WINDOW_BATCHES batches are sorted by
    # time before they are cut into batches, so each batch covers a fraction of the time span
    # (1M shuffled realistic records: see bench/RESULTS.md). The last line of an id in the
    # window wins, as within a batch; each batch is still one transaction.
    window: dict[str, tuple] = {}

    def flush() -> None:
        if guard is not None:
            batch[:], refused = guard.screen(store, batch, "<stdin>" if file == "-" else file)
            summary.rejected += len(refused)
            rejects.extend(refused)
            for item in refused:
                if on_reject is not None:
                    on_reject(item)
        nonlocal source_id
        if source_id is None:
            source_id = store.source_id(fmt, "<stdin>" if file == "-" else str(Path(file).resolve()))
        repeats: list[Record] = []
        if counted is not None:  # written earlier in this import: written again, not counted again
            repeats = [r for r in batch if r.id in counted]
            if repeats:
                batch[:] = [r for r in batch if r.id not in counted]
            counted.update(r.id for r in batch)
        store.stage_rows(batch, source_id, window)
        if repeats:  # after what the window holds (an earlier line of the same id may be there)
            write_window()
            position = raw.tell() if file != "-" else 0
            pending.append((writer.submit(store.write_staged, store.stage_batch(repeats, source_id), []),
                            position, False))
        batch.clear()
        if len(window) >= batch_size * SORT_WINDOW_BATCHES:
            write_window()

    def write_window() -> None:
        rows = sorted(window.values(), key=_ROW_TIME)
        window.clear()
        for start in range(0, max(len(rows), 1), batch_size):
            staged = store.staged_batch(rows[start:start + batch_size])
            settle()
            # The position is for the progress bar of files; a pipe (stdin) has none: tell() fails.
            position = raw.tell() if file != "-" else 0
            pending.append((writer.submit(store.write_staged, staged, rejects.copy()), position, True))
            rejects.clear()
            if roll is not None:
                roll.appended_batch(min(batch_size, len(rows) - start))

    def report(reject: Reject) -> None:
        summary.rejected += 1
        rejects.append(reject)
        if on_reject is not None:
            on_reject(reject)

    user, team, guard = options.get("user"), options.get("team"), options.get("guard")
    counted: set[str] | None = options.get("counted") if fmt == "claude-code" else None
    roll: _RollUps | None = options.get("roll")
    parse_options = {k: v for k, v in options.items() if k not in ("guard", "counted", "roll")}
    try:
        for item in _parse_open(raw, file, fmt, parse_options):
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
            problem = nul_in_text(item)
            if problem is not None:
                report(Reject("<stdin>" if file == "-" else file, item.source_line or 0, problem, item.raw_text))
                continue
            if item.user is None and user is not None:
                item.user = user
            if item.team is None and team is not None:
                item.team = team
            batch.append(item)
            if len(batch) >= batch_size:
                flush()
        if held is not None:
            summary.unmatched = summary.unmatched or (held[0] if held else None)
            return False
        if batch or rejects:
            flush()
        if window or rejects:
            write_window()
    finally:
        settle()
    return True
