"""`import --follow PATH`: keep importing what is appended to a file, or added to a folder, in
every format `import` reads.

Each pass looks at the files that file events name (watchfiles wakes it at once), and at every
file when it starts and every FULL_LOOK_S (in case an event was missed); without file events
(USAGE_TUI_FOLLOW_POLL=1 for network file systems, a full inotify table, no watchfiles) it
looks at every file every PERIOD_S. It reads what is new in each file, and writes it all in ONE transaction with the
files' new positions (follow_positions.py), so a follower killed at any point goes on where its
last commit left it: nothing committed is read twice, nothing is missed.

How a file is read again depends on what its format allows:
- JSON lines of a format whose lines stand alone (native, LiteLLM, OpenAI pages, Claude Code):
  only the complete lines after the position. A last line without its newline waits for it.
- JSON lines whose lines depend on earlier ones (Codex's turn context and running totals, pi),
  and CSV (its header): once the file has not changed for SETTLE_S, it is parsed again from the
  start up to its last complete line, and only the lines after the position are kept.
- Whole documents (a JSON array or object, OpenCode's database): parsed again whole once the
  file has not changed for SETTLE_S (a document half written is not yet a document).
Records are keyed by their id, so a line read again (a file replaced or truncated, a streamed
Claude Code message whose later line completes it) is unchanged or replaced, never counted twice.
"""

from __future__ import annotations

import dataclasses
import io
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..identity import OwnUsageOnly
from ..model import Record, Reject
from ..store import Batch, UsageStore
from . import (
    HEAD_BYTES,
    KEPT_REJECTS_PER_FILE,
    ImportFatal,
    _head,
    _open,
    _parse_open,
    _read_here,
    detect_format,
    format_module,
    not_text,
)
from ._common import is_json_lines
from .follow_positions import FilePosition, cursor_name, goes_on, saved_positions, tail_before
from .gzip_files import is_gzip

# Formats whose JSON lines each parse alone: a chunk of complete lines reads as in the file.
ALONE = frozenset(("native", "litellm", "openai", "claude-code"))
CHUNK_BYTES = 16 << 20  # of one file in one pass; a backlog is read in several passes
PASS_BYTES = 64 << 20  # of all files in one pass (one transaction)
PERIOD_S = 1.0  # longest wait between two looks at the files
# While file events arrive, a pass looks only at the files they name (a Claude Code projects
# folder holds thousands: a look at all of them took 0.15 s on a loaded machine); every file is
# looked at this often all the same, in case an event was missed.
FULL_LOOK_S = 10.0
# A whole document, or a file parsed again from its start, is read once it has not changed for
# this long: a document half written is not one yet, and Codex writes a subagent's replayed
# history in one burst, whose first two token counts tell the replay (codex.py): a pass in the
# middle of the burst would take a replayed count for the child's own.
SETTLE_S = 0.5
REFRESH_RECORDS = 50_000  # records written between two roll-ups (reads stay exact meanwhile)
REFRESH_S = 30.0


@dataclass
class FollowTotals:
    imported: int = 0
    replaced: int = 0
    unchanged: int = 0
    rejected: int = 0
    files: int = 0  # files read in the pass
    lag_s: float | None = None  # the longest, in the pass: from the file's last change to the commit

    def add(self, other: FollowTotals) -> None:
        for name in ("imported", "replaced", "unchanged", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def records(self) -> int:
        return self.imported + self.replaced + self.unchanged

    def line(self) -> str:
        return (f"imported {self.imported}, replaced {self.replaced}, unchanged {self.unchanged}, "
                f"rejected {self.rejected}")


@dataclass
class _Read:
    """What one pass read of one file, and where that leaves it."""
    file: str
    key: str  # the resolved path: the position's name
    position: FilePosition
    mtime: float
    bytes: int
    more: bool  # the file has more complete lines than this pass read
    records: list[Record] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


class Follower:
    """Follows PATH (a file or a folder) into `store`; `scan` is one pass, `run` the loop."""

    def __init__(self, store: UsageStore, path: str, fmt: str = "auto", *, user: str | None = None,
                 team: str | None = None, viewer: str | None = None, guard: OwnUsageOnly | None = None,
                 on_reject: Callable[[Reject], None] | None = None,
                 on_skip: Callable[[str], None] | None = None) -> None:
        self.root = Path(path)
        if path == "-" or not self.root.exists():
            raise ImportFatal(f"{path}: no such file or folder to follow" if path != "-"
                              else "--follow reads files: stdin has no position to keep")
        self.folder = self.root.is_dir()
        self.store, self.fmt = store, fmt
        self.user, self.team, self.viewer, self.guard = user, team, viewer, guard
        self.on_reject, self.on_skip = on_reject, on_skip
        self.positions = saved_positions(store.cursors(cursor_name(self.root)))
        self._looked: dict[str, tuple[int, int, int, int]] = {}  # file → (dev, ino, size, mtime_ns) last read
        self._skipped: set[str] = set()  # files of the folder said to be no usage
        self._source_ids: dict[tuple[str, str], int] = {}
        self._kept_rejects: dict[str, int] = {}
        self._unrolled = 0
        self._last_refresh = time.monotonic()
        self.settle_s = SETTLE_S  # 0 for a one-off pass (a plain import): nothing is being written
        self._root_abs = self.root.absolute()
        self._waiting: set[str] = set()  # files (absolute) to look at again without an event: not settled yet

    # -- the files --------------------------------------------------------------------------------
    def files(self) -> list[str]:
        if not self.folder:
            return [str(self.root)] if self.root.is_file() else []
        return sorted(str(f) for f in self.root.rglob("*") if _read_here(f) and f.is_file())

    def named(self, paths: Iterable[str]) -> list[str]:
        """The files of the folder among `paths` (absolute, as file events name them), spelled as
        the folder's listing spells them."""
        found = set()
        for path in paths:
            try:
                inside = Path(path).relative_to(self._root_abs)
            except ValueError:
                continue
            file = self.root / inside
            if _read_here(file) and file.is_file():
                found.add(str(file))
        return sorted(found)

    def scan(self, only: Iterable[str] | None = None) -> tuple[FollowTotals, bool]:
        """One pass: what is new in every file (or in the files `only` names, absolute paths
        from file events), committed in one transaction. Returns its totals and whether more is
        waiting (a backlog larger than one pass reads)."""
        reads: list[_Read] = []
        budget, more = PASS_BYTES, False
        files = self.files() if only is None or not self.folder else self.named({*only, *self._waiting})
        for file in files:
            if budget < CHUNK_BYTES:
                more = True
                break
            try:
                read = self._read(file)
            except FileNotFoundError:  # gone between the listing and the read
                continue
            except PermissionError as exc:
                raise ImportFatal(f"{file}: {exc.strerror}") from None
            if read is not None:
                reads.append(read)
                budget -= read.bytes
                more = more or read.more
        return self._write(reads), more

    def _read(self, file: str) -> _Read | None:
        stat = os.stat(file)
        seen = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if self._looked.get(file) == seen:
            return None
        key = str(Path(file).resolve())
        with open(file, "rb") as plain:  # positions are in the file's own bytes (gzip: compressed)
            position = goes_on(self.positions.get(key), stat, plain)
        if position is not None and position.offset == stat.st_size:
            self._looked[file] = seen
            return None
        compressed = is_gzip(file)  # read whole, as what it holds, like a document
        with _open(file)[0] as handle:
            try:
                head = _head(handle)
            except UnicodeDecodeError:
                head = None
            fmt = position.fmt if position is not None else self._format(file, head, stat)
            if fmt is None:
                if time.time() - stat.st_mtime >= self.settle_s:
                    self._looked[file] = seen  # looked at again when it changes
                else:
                    self._waiting.add(str(Path(file).absolute()))
                return None
            if compressed:
                read = self._read_document(file, key, fmt, stat)
            elif head is not None and fmt in ALONE and head.lstrip().startswith("{") and is_json_lines(head):
                read = self._read_lines(file, key, handle, head, fmt, position, stat)
            elif head is not None and not head.startswith("SQLite format 3") and (
                    is_json_lines(head) or not head.lstrip().startswith(("[", "{"))):
                read = self._read_again(file, key, handle, fmt, position, stat)
            else:
                read = self._read_document(file, key, fmt, stat)
        if read is not None and not read.more:
            self._looked[file] = seen
        if read is None and time.time() - stat.st_mtime < self.settle_s:
            self._waiting.add(str(Path(file).absolute()))  # (a document, or a file read again, not settled)
        else:
            self._waiting.discard(str(Path(file).absolute()))
        return read

    def _format(self, file: str, head: str | None, stat: os.stat_result) -> str | None:
        """The file's format, once it shows one. None while it does not: its first line is not
        complete yet, a document is still being written, or it is not usage (a file of a
        folder: skipped and said once; looked at again if it changes)."""
        fmt = self.fmt if self.fmt != "auto" else (detect_format(head) if head else None)
        if fmt is not None and format_module(fmt) is not None:
            return fmt
        settled = time.time() - stat.st_mtime >= self.settle_s
        if head is None and settled and not self.folder:
            raise ImportFatal(f"{file}: not a usage file (binary data)")
        if not head or "\n" not in head.rstrip("\n") and not settled:
            return None  # nothing, or a first line being written: wait for more
        if head.lstrip().startswith(("[", "{")) and not settled:
            return None  # a document being written
        if not self.folder:
            raise ImportFatal(f"{file}: not a usage file (no known format recognised; name one with --format)")
        if file not in self._skipped:
            self._skipped.add(file)
            if self.on_skip is not None:
                self.on_skip(file)
        return None

    def _options(self) -> dict:
        return {"user": self.user, "team": self.team, "viewer": self.viewer}

    def _read_lines(self, file, key, handle, head, fmt, position, stat) -> _Read | None:
        """The complete lines after the position (a format whose lines parse alone)."""
        offset, line = (position.offset, position.line) if position is not None else (0, 0)
        handle.seek(offset)
        data = handle.read(min(stat.st_size - offset, CHUNK_BYTES))
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) == CHUNK_BYTES:
            return self._skip_long_line(file, key, handle, fmt, offset, line, stat, data)
        if cut == 0:
            return None  # a last line without its newline: it waits for it
        chunk = data[:cut]
        stream = io.TextIOWrapper(io.BytesIO(chunk), encoding="utf-8-sig" if offset == 0 else "utf-8",
                                  errors="surrogateescape", newline="")
        module = format_module(fmt)
        records, rejects = [], []
        for item in module.parse(stream, file, head=head, **self._options()):
            if isinstance(item, Reject):
                rejects.append(dataclasses.replace(item, line=item.line + line))
            else:
                if item.source_line is not None:
                    item.source_line += line
                records.append(item)
        new = FilePosition(stat.st_dev, stat.st_ino, stat.st_size, offset + cut, line + chunk.count(b"\n"), fmt,
                           tail_before(handle, offset + cut))
        return _Read(file, key, new, stat.st_mtime, cut, offset + len(data) < stat.st_size, records, rejects)

    def _skip_long_line(self, file, key, handle, fmt, offset, line, stat, data) -> _Read | None:
        """A line longer than one read is not usage: one reject, and the position moves past its
        newline (or waits for it) instead of reading it again and again."""
        handle.seek(offset + len(data))
        end = offset + len(data)
        while block := handle.read(1 << 20):
            found = block.find(b"\n")
            if found >= 0:
                end += found + 1
                break
            end += len(block)
        else:
            return None
        reject = Reject(file, line + 1, f"line longer than {CHUNK_BYTES:,} bytes: not read",
                        data[:200].decode("utf-8", "replace"))
        new = FilePosition(stat.st_dev, stat.st_ino, max(stat.st_size, end), end, line + 1, fmt, tail_before(handle, end))
        return _Read(file, key, new, stat.st_mtime, CHUNK_BYTES, end < stat.st_size, [], [reject])

    def _read_again(self, file, key, handle, fmt, position, stat) -> _Read | None:
        """Lines that depend on earlier ones (or CSV): the file parsed again from its start up to
        its last complete line, keeping the lines after the position."""
        if time.time() - stat.st_mtime < self.settle_s:
            return None
        handle.seek(0)
        data = handle.read(stat.st_size)
        cut = data.rfind(b"\n") + 1
        if cut == 0 or (position is not None and cut <= position.offset):
            return None
        done = position.line if position is not None else 0
        reader = io.BufferedReader(io.BytesIO(data[:cut]), HEAD_BYTES)
        records, rejects = [], []
        for item in _parse_open(reader, file, fmt, self._options()):
            if isinstance(item, Reject):
                if item.line > done:
                    rejects.append(item)
            elif item.source_line is None or item.source_line > done:
                records.append(item)
        new = FilePosition(stat.st_dev, stat.st_ino, stat.st_size, cut, data.count(b"\n", 0, cut), fmt,
                           tail_before(handle, cut))
        return _Read(file, key, new, stat.st_mtime, cut, False, records, rejects)

    def _read_document(self, file, key, fmt, stat) -> _Read | None:
        """A whole document, once it stopped changing: read again whole (ids dedupe)."""
        if time.time() - stat.st_mtime < self.settle_s:
            return None
        raw, _ = _open(file)
        with raw:
            items = list(_parse_open(raw, file, fmt, self._options()))
        with open(file, "rb") as plain:
            tail = tail_before(plain, stat.st_size)
        new = FilePosition(stat.st_dev, stat.st_ino, stat.st_size, stat.st_size, 0, fmt, tail)
        return _Read(file, key, new, stat.st_mtime, stat.st_size, False,
                     [r for r in items if isinstance(r, Record)], [r for r in items if isinstance(r, Reject)])

    # -- writing ------------------------------------------------------------------------------------
    def _screened(self, read: _Read) -> tuple[list[Record], list[Reject]]:
        """As `import` screens a file's records: the --user/--team defaults, text the store can
        hold, a member's own usage only; rejects kept up to KEPT_REJECTS_PER_FILE a file."""
        records, rejects = [], list(read.rejects)
        for record in read.records:
            if record.user is None and self.user is not None:
                record.user = self.user
            if record.team is None and self.team is not None:
                record.team = self.team
            problem = not_text(record)
            if problem is not None:
                rejects.append(Reject(read.file, record.source_line or 0, problem, record.raw_text))
                continue
            records.append(record)
        if self.guard is not None:
            records, refused = self.guard.screen(self.store, records, read.file)
            rejects.extend(refused)
        return records, rejects

    def _write(self, reads: list[_Read]) -> FollowTotals:
        totals = FollowTotals(files=len(reads))
        if not reads:
            return totals
        batches, cursors, reported = [], {}, []
        for read in reads:
            records, rejects = self._screened(read)
            kept = self._kept_rejects.get(read.key, 0)
            room = max(KEPT_REJECTS_PER_FILE - kept, 0)
            self._kept_rejects[read.key] = kept + min(room, len(rejects))
            if records or rejects:  # (lines that are not usage, such as a session's user turns, move only the position)
                batches.append(Batch(records, rejects[:room], self._source_id(read.position.fmt, read.key)))
            cursors[cursor_name(read.key)] = read.position.dumps()
            reported.extend(rejects)
        results = self.store.write_batches(batches, cursors=cursors)
        committed = time.time()
        for read in reads:
            self.positions[read.key] = read.position
        for result in results:
            totals.imported += result.imported
            totals.replaced += result.replaced
            totals.unchanged += result.unchanged
        totals.rejected = len(reported)
        totals.lag_s = max(max(committed - read.mtime, 0.0) for read in reads)
        for reject in reported:
            if self.on_reject is not None:
                self.on_reject(reject)
        self._unrolled += totals.records
        self._refresh(force=False)
        return totals

    def _source_id(self, fmt: str, key: str) -> int:
        if (fmt, key) not in self._source_ids:
            self._source_ids[(fmt, key)] = self.store.source_id(fmt, key)
        return self._source_ids[(fmt, key)]

    def _refresh(self, force: bool) -> None:
        """Roll up what was appended, now and then (write_batches leaves it pending)."""
        if self._unrolled and (force or self._unrolled >= REFRESH_RECORDS
                               or time.monotonic() - self._last_refresh >= REFRESH_S):
            self.store.refresh_rollups()
            self._unrolled = 0
            self._last_refresh = time.monotonic()

    # -- the loop -----------------------------------------------------------------------------------
    def catch_up(self, on_pass: Callable[[FollowTotals], None] | None = None) -> FollowTotals:
        """Read what is new now, in passes until none is left (a plain re-import of followed files)."""
        self.settle_s = 0.0
        total = FollowTotals()
        try:
            while True:
                passed, more = self.scan()
                total.add(passed)
                if on_pass is not None:
                    on_pass(passed)
                if not more:
                    return total
        finally:
            self._refresh(force=True)

    def run(self, stop: threading.Event, on_pass: Callable[[FollowTotals], None] | None = None, *,
            period: float = PERIOD_S, poll: bool = False,
            on_notice: Callable[[str], None] | None = None) -> FollowTotals:
        """Follow until `stop` is set; returns the totals. Each pass's totals go to `on_pass`."""
        total = FollowTotals()
        try:
            for only in self._wakes(stop, period, poll, on_notice):
                while not stop.is_set():
                    passed, more = self.scan(only)
                    total.add(passed)
                    if on_pass is not None:
                        on_pass(passed)
                    if not more:
                        break
                if stop.is_set():
                    break
        finally:
            self._refresh(force=True)
        return total

    def _wakes(self, stop: threading.Event, period: float, poll: bool,
               on_notice: Callable[[str], None] | None) -> Iterator[set[str] | None]:
        """When to look, and at what: None for every file (at the start, when polling, and every
        FULL_LOOK_S while watching: the net under a missed event), or the paths file events
        named (a quiet `period`: none, only the files waiting to settle)."""
        yield None
        if not poll:
            try:
                from watchfiles import watch

                target = self.root if self.folder else self.root.resolve().parent
                full = time.monotonic()
                for changes in watch(target, stop_event=stop, debounce=50, step=20, rust_timeout=int(period * 1000),
                                     yield_on_timeout=True, raise_interrupt=False, recursive=self.folder,
                                     watch_filter=None):
                    if time.monotonic() - full >= FULL_LOOK_S:
                        full = time.monotonic()
                        yield None
                    else:
                        yield {path for _, path in changes}
                return
            except (ImportError, OSError, RuntimeError) as exc:
                if stop.is_set():
                    return
                if on_notice is not None:
                    on_notice(f"cannot watch {self.root} for changes ({exc}): looking every {period:g} s instead")
        while not stop.wait(period):
            yield None
