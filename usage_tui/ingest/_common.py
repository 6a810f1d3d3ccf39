"""Helpers shared by the importers of other tools' formats (not a format itself): the JSON
layout of a file (JSON lines or one document), counts, and messages in the source's names."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, TextIO

from .native import BadRecord, dumped, json_lines, parse_json, shown


def first_objects(head: str, limit: int = 20) -> Iterator[Any]:
    """The first JSON values of a JSON-lines head, skipping lines that don't parse."""
    key = (head, limit)
    with _HEADS_LOCK:
        memo = _HEADS.get(key)
        if memo is None:  # each format's detect() reads the same head: its lines are parsed once
            if len(_HEADS) >= 8:
                _HEADS.clear()
            memo = _HEADS[key] = ([], iter(head.splitlines()[:limit]))
    done, lines = memo
    i = 0
    while True:  # lazily: a detect() that stops at the first line it knows parses no more
        with _HEADS_LOCK:
            if i == len(done):
                line = next(lines, None)
                if line is None:
                    return
                value = parse_json(line)
                done.append(None if isinstance(value, BadRecord) else (value,))
            item = done[i]
        if item is not None:
            yield item[0]
        i += 1


# Heads whose lines first_objects parsed, and how far: (values so far, lines left). A folder of
# 1,941 Claude Code logs spent ~0.9 s CPU parsing their heads once per format (issue 28).
_HEADS: dict[tuple[str, int], tuple[list, Iterator[str]]] = {}
_HEADS_LOCK = threading.Lock()


def whole_document(head: str) -> Any | None:
    """The head parsed as one JSON document, or None (too long for the head, or not JSON)."""
    value = parse_json(head)
    return None if isinstance(value, BadRecord) else value


def is_json_lines(head: str) -> bool:
    """JSON lines, rather than one JSON document (an array, or an object over several lines).
    A first line that is malformed or longer than the head does not make a JSON-lines file one
    document: the lines after it still show objects."""
    text = head.lstrip()
    if text.startswith("["):
        return False
    lines = text.splitlines()
    if len(lines) <= 1 or next(first_objects(lines[0]), None) is not None:
        return True
    if lines[0].strip() == "{" or whole_document(text) is not None:
        return False
    return any(isinstance(v, dict) for v in first_objects("\n".join(lines[1:])))


def head_values(head: str) -> list[Any]:
    """The JSON values a head shows whole (for detection)."""
    if is_json_lines(head):
        return list(first_objects(head))
    doc = whole_document(head)
    if doc is None:
        return []
    return doc[:20] if isinstance(doc, list) else [doc]


def json_values(stream: TextIO, head: str) -> Iterator[tuple[int, str, Any]]:
    """(line number, raw, value) per JSON line, or (element number, raw, value) per element of a
    JSON document (an array yields its elements, numbered from 1). Malformed JSON → (n, raw,
    BadRecord). Text that is neither is read as lines, each a malformed one."""
    if is_json_lines(head) or not head.lstrip().startswith(("[", "{")):
        yield from json_lines(stream)
        return
    # A single JSON document: json has no streaming reader, so it is read whole.
    raw = stream.read()
    doc = parse_json(raw)
    if isinstance(doc, BadRecord):
        yield 1, raw[:500], BadRecord(str(doc).replace("malformed JSON", "malformed JSON document", 1))
        return
    items = doc if isinstance(doc, list) else [doc]
    for i, item in enumerate(items, 1):
        yield i, dumped(item), item


def source_names(exc: BadRecord, names: dict[str, str]) -> BadRecord:
    """A native validation message with the source format's own field names."""
    text = str(exc)
    for native, theirs in names.items():
        text = text.replace(f"`{native}`", f"`{theirs}`")
    return BadRecord(text)


def as_int(value: Any, name: str) -> int:
    """A count from JSON (an int) or CSV (digits). Anything else is a bad line."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise BadRecord(f"`{name}` must be an integer, got {shown(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise BadRecord(f"`{name}` must be an integer, got {shown(value)}")


def as_json_value(value: Any, name: str) -> Any:
    """A JSON column that CSV exports carry as text."""
    if isinstance(value, str):
        if not value.strip():
            return None
        parsed = parse_json(value)
        if isinstance(parsed, BadRecord):
            raise BadRecord(f"`{name}` is not valid JSON ({parsed})")
        return parsed
    return value


def present(value: Any) -> Any:
    """Empty strings are absent."""
    return None if value == "" else value
