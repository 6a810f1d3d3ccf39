"""Helpers shared by the importers of other tools' formats (not a format itself)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TextIO

from .native import BadRecord, json_lines


def first_objects(head: str, limit: int = 20) -> Iterator[Any]:
    """The first JSON values of a JSON-lines head, skipping lines that don't parse."""
    for line in head.splitlines()[:limit]:
        try:
            yield json.loads(line)
        except ValueError:
            continue


def whole_document(head: str) -> Any | None:
    """The head parsed as one JSON document, or None (too long for the head, or not JSON)."""
    try:
        return json.loads(head)
    except ValueError:
        return None


def is_single_document(head: str) -> bool:
    """A JSON array, or one object spread over several lines (pretty-printed)."""
    text = head.lstrip()
    if text.startswith("["):
        return True
    if not text.startswith("{"):
        return False
    try:
        json.loads(text.splitlines()[0])
        return False  # the first line is a whole object: JSON lines
    except ValueError:
        return True


def read_documents(stream: TextIO, head: str) -> Iterator[tuple[int, str, Any]]:
    """(line or element number, raw text, value) for a JSON document (an array yields its
    elements, numbered from 1) or for each line of JSON lines. Malformed JSON → (n, raw, BadRecord)."""
    if is_single_document(head):
        # A single JSON document: json has no streaming reader, so it is read whole.
        raw = stream.read()
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            yield 1, raw[:500], BadRecord(f"malformed JSON document: {exc}")
            return
        items = doc if isinstance(doc, list) else [doc]
        for i, item in enumerate(items, 1):
            yield i, json.dumps(item)[:2000], item
        return
    yield from json_lines(stream)


def as_int(value: Any, name: str) -> int:
    """A count from JSON (an int) or CSV (digits). Anything else is a bad line."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise BadRecord(f"`{name}` must be an integer, got {json.dumps(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise BadRecord(f"`{name}` must be an integer, got {json.dumps(value)}")


def as_json_value(value: Any, name: str) -> Any:
    """A JSON column that CSV exports carry as text."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise BadRecord(f"`{name}` is not valid JSON") from None
    return value


def present(value: Any) -> Any:
    """Empty strings are absent."""
    return None if value == "" else value
