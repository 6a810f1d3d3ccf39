"""A folder of many small files is written in full batches, not one transaction a file (issue
28: a Claude Code folder is ~1,900 files of ~10 requests), with the counts of writing the files
one after another, and nothing good lost when a later file stops the import."""

from __future__ import annotations

import json

import pytest

from usage_tui.ingest import ImportFatal, import_path
from usage_tui.store import Store


def line(rid: str, tokens: int, day: int = 1) -> str:
    return json.dumps({"id": rid, "ts": f"2026-11-{day:02d}T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                       "user": "alice", "prompt_tokens": tokens, "completion_tokens": 1}) + "\n"


def counting_writes(store: Store) -> list[int]:
    """Wrap the store's transaction of staged batches; each call's record count is kept."""
    calls: list[int] = []
    write = store._write

    def counted(staged, rejects, cursors=None):
        calls.append(sum(batch.rows for batch in staged))
        return write(staged, rejects, cursors)

    store._write = counted
    return calls


def test_many_small_files_are_written_in_few_transactions(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    for f in range(120):  # 120 files of 3 records: 360 records, one window
        (folder / f"f{f:03d}.jsonl").write_text("".join(line(f"r{f}-{i}", 10 + i) for i in range(3)))
    store = Store(tmp_path / "s.db")
    calls = counting_writes(store)
    summary = import_path(store, str(folder))
    assert (summary.files, summary.imported, summary.replaced, summary.unchanged) == (120, 360, 0, 0)
    assert calls == [360]  # before: 120 transactions of 3
    assert store.record_count() == 360
    # every token is there: 120 files x (10 + 11 + 12) prompt tokens
    assert store.totals()["prompt_tokens"] == 120 * 33


@pytest.mark.parametrize(("second", "expected"), [
    (11, (3, 1, 0)),  # another version of the record in a later file: imported, then replaced
    (10, (3, 0, 1)),  # the same record again: imported, then unchanged
])
def test_an_id_in_two_files_counts_as_files_written_one_after_another(tmp_path, second, expected):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.jsonl").write_text(line("same", 10) + line("a-only", 5))
    (folder / "b.jsonl").write_text(line("b-only", 7) + line("same", second))
    store = Store(tmp_path / "s.db")
    summary = import_path(store, str(folder))
    assert (summary.imported, summary.replaced, summary.unchanged) == expected
    # the later file's version is the one kept: 5 + 7 + second
    assert store.totals()["prompt_tokens"] == 12 + second
    assert store.record_count() == 3


def test_a_file_that_stops_the_import_keeps_what_the_files_before_it_staged(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.jsonl").write_text(line("a1", 10) + line("a2", 20))
    # a gzip header, then no deflate data: read after a.jsonl, a fatal error
    (folder / "b.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"garbage" * 10)
    store = Store(tmp_path / "s.db")
    with pytest.raises(ImportFatal, match="not a readable gzip file"):
        import_path(store, str(folder))
    assert store.record_count() == 2 and store.totals()["prompt_tokens"] == 30
    assert store.pending_rollups() is None  # rolled up as at the end of an import


def test_progress_moves_forward_only_and_reaches_the_whole_folder(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    for f in range(5):
        (folder / f"f{f}.jsonl").write_text("".join(line(f"r{f}-{i}", 1) for i in range(4)))
    total = sum(p.stat().st_size for p in folder.iterdir())
    seen: list[tuple[int, int]] = []
    import_path(Store(tmp_path / "s.db"), str(folder), on_progress=lambda done, of: seen.append((done, of)))
    assert seen and all(of == total for _, of in seen)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen})  # strictly increasing
    assert seen[-1][0] == total


def test_ctrl_c_keeps_what_the_files_before_it_staged(tmp_path, monkeypatch):
    from usage_tui import ingest

    folder = tmp_path / "logs"
    folder.mkdir()
    for name, tokens in (("a", 10), ("b", 20), ("c", 40)):
        (folder / f"{name}.jsonl").write_text(line(f"{name}1", tokens) + line(f"{name}2", tokens))
    real_open = ingest._open

    def interrupted(path):
        if path.endswith("c.jsonl"):  # Ctrl-C while the third file is opened
            raise KeyboardInterrupt
        return real_open(path)

    monkeypatch.setattr(ingest, "_open", interrupted)
    store = Store(tmp_path / "s.db")
    with pytest.raises(KeyboardInterrupt):
        import_path(store, str(folder))
    assert store.record_count() == 4 and store.totals()["prompt_tokens"] == 60  # a and b, not c
    assert store.pending_rollups() is None
