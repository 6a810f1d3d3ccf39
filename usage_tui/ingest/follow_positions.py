"""Where `import --follow` is in each file it follows, kept in the store's cursors table and
committed with the records read up to there (store.write_batches(cursors=)).

A position is the file's identity (device, inode), the size it had, how far it was read (the
offset just after the last complete line, and how many lines that is, for rejects' line
numbers), its format, and the last bytes before the offset. Those bytes tell a file rewritten
in place (truncated, then written past the old offset before the follower looked again) from
one that was appended to: a different identity, a smaller size or other bytes mean the file
is read again from its start (records are keyed by id: what was read before is unchanged).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

CURSOR_PREFIX = "follow:"
TAIL_BYTES = 32


@dataclass(frozen=True)
class FilePosition:
    dev: int
    ino: int
    size: int
    offset: int  # bytes read: just after the last complete line (whole-file formats: the size)
    line: int  # lines up to the offset
    fmt: str
    tail: str  # hex of the TAIL_BYTES bytes before the offset

    def dumps(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> FilePosition | None:
        try:
            value = json.loads(text)
            return cls(int(value["dev"]), int(value["ino"]), int(value["size"]), int(value["offset"]),
                       int(value["line"]), str(value["fmt"]), str(value["tail"]))
        except (ValueError, KeyError, TypeError):
            return None  # not ours (hand-edited): the file is read again from its start


def cursor_name(path: str | Path) -> str:
    return CURSOR_PREFIX + str(Path(path).resolve())


def saved_positions(cursors: dict[str, str]) -> dict[str, FilePosition]:
    """store.cursors(prefix) → {resolved path: position}."""
    found = {}
    for name, value in cursors.items():
        position = FilePosition.loads(value)
        if position is not None:
            found[name[len(CURSOR_PREFIX):]] = position
    return found


def tail_before(handle: BinaryIO, offset: int) -> str:
    start = max(0, offset - TAIL_BYTES)
    handle.seek(start)
    return handle.read(offset - start).hex()


def goes_on(position: FilePosition | None, stat: os.stat_result, handle: BinaryIO) -> FilePosition | None:
    """`position` when the file is the one it was taken of and has only grown since; else None
    (replaced, truncated, rewritten: read it from the start)."""
    if position is None or (stat.st_dev, stat.st_ino) != (position.dev, position.ino):
        return None
    if stat.st_size < position.offset or tail_before(handle, position.offset) != position.tail:
        return None
    return position
