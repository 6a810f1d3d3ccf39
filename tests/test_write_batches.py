"""The store's write interface (write_batches, write_batch, bulk_import, cursors: schema 8), on
both engines. Every expected count is worked out by hand in the comments."""

from __future__ import annotations

import dataclasses

import pytest

from usage_tui.ingest.native import to_record
from usage_tui.model import Reject
from usage_tui.store import Batch, BatchResult, StoreError

BASE = {"ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m", "user": "alice"}


def rec(rid: str, **fields):
    return to_record({**BASE, "id": rid, **fields})


def huge(rid: str):
    """A record of 2**62 prompt tokens: two of them take the store's total past 2**63 - 1."""
    return dataclasses.replace(rec(rid), prompt_tokens=2**62)


def ids(store) -> dict[str, int]:
    return dict(store.execute("SELECT id, prompt_tokens FROM records").fetchall())


def test_the_batches_of_one_call_count_as_if_written_one_after_another(engine_store):
    store = engine_store
    a = Batch([rec("r1", prompt_tokens=1), rec("r2", prompt_tokens=2)], [Reject("in.jsonl", 3, "bad line", "x")])
    b = Batch([rec("r1", prompt_tokens=10), rec("r3", prompt_tokens=3), rec("r3", prompt_tokens=30)],
              [Reject("in.jsonl", 7, "bad line", "y")])
    c = Batch([rec("r2", prompt_tokens=2), rec("r1", prompt_tokens=10)])
    # a: r1 and r2 are new. b: r1 again with other content (a's r1 is stored by then): replaced;
    # r3 new, its second line winning within the batch. c: r2 and r1 as stored: unchanged.
    assert store.write_batches([a, b, c]) == [BatchResult(2, 0, 0), BatchResult(1, 1, 0), BatchResult(0, 0, 2)]
    assert ids(store) == {"r1": 10, "r2": 2, "r3": 30}
    assert sorted(r["line"] for r in store.rejects()) == [3, 7]
    assert store.totals()["prompt_tokens"] == 42 and store.totals()["requests"] == 3  # exact before a roll-up
    store.refresh_rollups()
    assert store.pending_rollups() is None
    assert store.totals()["prompt_tokens"] == 42 and store.totals()["requests"] == 3
    # The same call again: everything is as stored.
    assert store.write_batches([a, b, c]) == [BatchResult(0, 1, 1), BatchResult(0, 1, 1), BatchResult(0, 0, 2)]
    # (a's r1 with 1 token replaces the stored 10 and b's puts 10 back: replaced both times.)
    assert ids(store) == {"r1": 10, "r2": 2, "r3": 30}


@pytest.mark.parametrize("engine", ["sqlite"])  # SQLite's rollups are deferred (schema 7)
def test_write_batches_leaves_its_records_pending_and_write_batch_rolls_up(engine_store):
    store = engine_store
    store.write_batches([Batch([rec("r1"), rec("r2")])])
    assert store.pending_rollups() == 0  # the rollups hold records through rowid 0: none
    assert store.refresh_rollups() == 2 and store.pending_rollups() is None
    store.write_batch([rec("r3")], None)
    assert store.pending_rollups() is None and store.record_count() == 3


def test_a_cursor_is_saved_with_its_records_and_read_back(engine_store):
    store = engine_store
    assert store.cursor("follow:dev:1") is None and store.cursors("follow:") == {}
    saved = {"follow:dev:1": '{"offset": 120}', "follow:dev:2": '{"offset": 7}', "sync:litellm:db": '{"id": 9}'}
    assert store.write_batches([Batch([rec("r1")])], cursors=saved) == [BatchResult(1, 0, 0)]
    assert store.cursor("follow:dev:1") == '{"offset": 120}'
    assert store.cursors("follow:dev:") == {"follow:dev:1": '{"offset": 120}', "follow:dev:2": '{"offset": 7}'}
    assert store.cursors("") == saved and store.cursors("follow:dev:3") == {}
    # The next batch moves one position; the others stay.
    assert store.write_batch([rec("r2")], None, cursors={"follow:dev:1": '{"offset": 240}'}) == BatchResult(1, 0, 0)
    assert store.cursors("follow:") == {"follow:dev:1": '{"offset": 240}', "follow:dev:2": '{"offset": 7}'}
    # A position with no records (a followed file that grew by nothing but a bad line).
    assert store.write_batches([], cursors={"follow:dev:2": '{"offset": 9}'}) == []
    assert store.cursor("follow:dev:2") == '{"offset": 9}' and store.record_count() == 2
    store.clear_records()  # the positions go with the records they covered
    assert store.cursors("") == {}


def test_a_failed_call_keeps_the_old_cursor_and_none_of_its_batches(engine_store):
    store = engine_store
    store.write_batches([Batch([rec("r0")])], cursors={"follow:f": "old"})
    # Each batch alone fits; the second takes the total past 2**63 - 1: the whole call is refused.
    with pytest.raises(StoreError, match="these batches would take the store's total"):
        store.write_batches([Batch([huge("a")]), Batch([huge("b")])], cursors={"follow:f": "new"})
    assert store.cursor("follow:f") == "old"
    assert ids(store) == {"r0": 0}
    assert store.totals()["prompt_tokens"] == 0 and store.totals()["requests"] == 1


@pytest.mark.parametrize("name, value", [
    ("", "v"), ("n", ""), ("a\x00b", "v"), ("n", "v\x00"), ("x" * 1_001, "v"), ("n", "v" * (2**20 + 1)),
    ("\ud800", "v"),
])
def test_a_cursor_that_is_not_storable_text_is_refused_and_nothing_written(engine_store, name, value):
    store = engine_store
    with pytest.raises(StoreError, match="nothing was written"):
        store.write_batches([Batch([rec("r1")])], cursors={name: value})
    assert store.record_count() == 0 and store.cursors("") == {}


def test_bulk_import_commits_the_cursors_with_the_last_batch(engine_store):
    store = engine_store
    source = store.source_id("native", "/in.jsonl")
    written: list[tuple[int, int]] = []
    with store.bulk_import(batch_size=2, on_written=lambda r, pos: written.append((r.imported, pos))) as bulk:
        bulk.add([rec(f"r{i}") for i in range(5)], source, 100)
        bulk.flush(100, cursors={"follow:in": "5"})  # 5 staged rows: batches of 2, 2 and 1
        bulk.settle()
        bulk.flush(110, cursors={"follow:in": "6"})  # nothing staged: the cursor alone
        bulk.settle()
        bulk.finish()
    assert written == [(2, 100), (2, 100), (1, 100), (0, 110)]
    assert store.cursor("follow:in") == "6" and store.record_count() == 5 and store.pending_rollups() is None


def test_a_bulk_batch_that_fails_leaves_the_cursor_it_carried_unsaved(engine_store):
    store = engine_store
    store.write_batches([], cursors={"follow:in": "old"})
    with pytest.raises(StoreError, match="would take the store's total"):
        with store.bulk_import(batch_size=10) as bulk:
            bulk.add([huge("a"), huge("b")], None)
            bulk.flush(cursors={"follow:in": "new"})
            bulk.settle()
    assert store.cursor("follow:in") == "old" and store.record_count() == 0
