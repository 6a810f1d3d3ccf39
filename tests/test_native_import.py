"""Native import (§2.1, §8): every kind of bad line, rejects kept, good lines still imported."""

from __future__ import annotations

import json
import sys

import pytest

from usage_tui.ingest import ImportFatal, import_path
from usage_tui.ingest.native import BadRecord, to_record

GOOD = {"id": "g", "ts": "2026-11-20T10:00:00Z", "provider": "openai", "model": "gpt-4o"}

BAD_JSON_CASES = [
    ('{"id": "x", "ts": ', "malformed JSON"),
    ('["an", "array"]', "not a JSON object"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "id"}), "missing required field `id`"),
    (json.dumps({**GOOD, "id": ""}), "missing required field `id`"),
    (json.dumps({**GOOD, "id": "x" * 257}), "longer than 256"),
    (json.dumps({**GOOD, "id": 7}), "`id` must be a string"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "ts"}), "missing required field `ts`"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "provider"}), "missing required field `provider`"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "model"}), "missing required field `model`"),
    (json.dumps({**GOOD, "ts": "yesterday"}), "`ts` must be an ISO 8601 timestamp"),
    (json.dumps({**GOOD, "ts": "2026-11-31T10:00:00Z"}), "`ts` is not a valid timestamp"),
    (json.dumps({**GOOD, "ts": "2026-11-20"}), "`ts` must be an ISO 8601 timestamp with a time"),
    (json.dumps({**GOOD, "ts": "1970-01-01T00:59:59+01:00"}), "`ts` is before 1970-01-01T00:00:00Z"),
    (json.dumps({**GOOD, "prompt_tokens": "12"}), '`prompt_tokens` must be an integer, got "12"'),
    (json.dumps({**GOOD, "completion_tokens": 1.5}), "`completion_tokens` must be an integer, got 1.5"),
    (json.dumps({**GOOD, "cached_input_tokens": True}), "`cached_input_tokens` must be an integer, got true"),
    (json.dumps({**GOOD, "context_tokens": -1}), "`context_tokens` must be >= 0"),
    (json.dumps({**GOOD, "prompt_tokens": 3, "cached_input_tokens": 1, "context_tokens": 5}),
     "`context_tokens` (5) exceeds prompt + cached input tokens (4)"),
    (json.dumps({**GOOD, "requests": 0}), "`requests` must be >= 1"),
    (json.dumps({**GOOD, "cost_usd": -0.1}), "`cost_usd` must be a finite number >= 0"),
    (json.dumps({**GOOD, "cost_usd": "0.1"}), "`cost_usd` must be a number"),
    ('{"id": "g", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m", "cost_usd": NaN}',
     "`cost_usd` must be a finite number"),
    (json.dumps({**GOOD, "status": 99}), "`status` must be >= 100"),
    (json.dumps({**GOOD, "status": 600}), "`status` must be an HTTP status 100-599"),
    (json.dumps({**GOOD, "status": "200"}), "`status` must be an integer"),
    (json.dumps({**GOOD, "prompt_tokens": 2**64}),  # past SQLite's integers: a reject, not a crash
     "`prompt_tokens` must be <= 1_000_000_000_000, got 18_446_744_073_709_551_616"),
    (json.dumps({**GOOD, "requests": 10**12 + 1}), "`requests` must be <= 1_000_000_000_000"),
    (json.dumps({**GOOD, "cost_usd": 1e300}), "`cost_usd` must be <= 1_000_000, got 1e+300"),
    (json.dumps({**GOOD, "user": 5}), "`user` must be a string"),
    (json.dumps({**GOOD, "verdict": ["allow"]}), "`verdict` must be a string"),
]


def test_every_bad_kind_is_reported_with_file_line_and_reason(store, tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps({**GOOD, "id": "first"})]
    lines += [text for text, _ in BAD_JSON_CASES]
    lines += ["", json.dumps({**GOOD, "id": "last", "extra": 1, "prompt_tokens": 10**12, "cost_usd": 1e6})]
    path.write_text("\n".join(lines) + "\n")
    seen = []
    summary = import_path(store, str(path), on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (2, len(BAD_JSON_CASES))
    for reject, (text, reason), line in zip(seen, BAD_JSON_CASES, range(2, 100), strict=False):
        assert reject.line == line
        assert reason in reject.reason, (text, reject.reason)
        assert reject.raw == text
    assert store.conn.execute("SELECT count(*) FROM rejects").fetchone()[0] == len(BAD_JSON_CASES)
    again = import_path(store, str(path))
    assert (again.imported, again.replaced, again.unchanged, again.rejected) == (0, 0, 2, len(BAD_JSON_CASES))
    assert store.conn.execute("SELECT count(*) FROM rejects").fetchone()[0] == len(BAD_JSON_CASES)


def test_csv_cells_are_parsed_and_empty_means_absent(store, tmp_path):
    path = tmp_path / "u.csv"
    path.write_text(
        "id,ts,provider,model,user,prompt_tokens,completion_tokens,cost_usd,status,note\n"
        "c1,2026-11-20T10:00:00Z,openai,gpt-4o,bob,12,3,,,hello\n"
        "c2,2026-11-20T10:00:00Z,openai,gpt-4o,,1.5,3,,,\n"
        "c3,2026-11-20T10:00:00Z,openai,gpt-4o,,-2,3,,,\n"
        "c4,2026-11-20T10:00:00Z,openai,gpt-4o,,1,3,0.25,404,\n"
        "c5,2026-11-20T10:00:00Z,openai\n"
        "c6,2026-11-20T10:00:00Z,openai,gpt-4o,,99999999999999999999,3,,,\n")
    seen = []
    summary = import_path(store, str(path), on_reject=seen.append)
    assert (summary.imported, summary.rejected) == (2, 4)
    assert [(j.line, j.reason) for j in seen] == [
        (3, '`prompt_tokens` must be an integer, got "1.5"'),
        (4, "`prompt_tokens` must be >= 0, got -2"),
        (6, "expected 10 columns, found 3"),
        (7, "`prompt_tokens` must be <= 1_000_000_000_000, got 99_999_999_999_999_999_999"),
    ]
    rows = store.conn.execute("SELECT id, user_raw, prompt_tokens, cost_logged_nano, status, metadata "
                              "FROM records ORDER BY id").fetchall()
    assert rows == [("c1", "bob", 12, None, 200, '{"note": "hello"}'), ("c4", None, 1, 250_000_000, 404, None)]


def test_naive_timestamp_is_utc_and_offsets_are_honoured():
    assert to_record({**GOOD, "ts": "2026-11-20T10:00:00"}).ts_us == to_record(GOOD).ts_us
    # 11:00 at +01:00 is 10:00 UTC
    assert to_record({**GOOD, "ts": "2026-11-20T11:00:00+01:00"}).ts_us == to_record(GOOD).ts_us
    assert to_record(GOOD).ts_us == 1_795_168_800_000_000  # 2026-11-20T10:00:00Z, by `date -d … +%s`


def test_defaults():
    r = to_record(GOOD)
    assert (r.prompt_tokens, r.completion_tokens, r.cached_input_tokens, r.context_tokens, r.requests,
            r.status, r.cost_usd) == (0, 0, 0, 0, 1, 200, None)


def test_not_an_object_raises_bad_record():
    with pytest.raises(BadRecord):
        to_record([1, 2])


def test_fatal_inputs(store, tmp_path):
    with pytest.raises(ImportFatal, match="no such file"):
        import_path(store, str(tmp_path / "nope.jsonl"))
    binary = tmp_path / "x.jsonl"
    binary.write_bytes(b"\x89PNG\x00\x00\x01")
    with pytest.raises(ImportFatal, match="not a usage file"):
        import_path(store, str(binary))
    prose = tmp_path / "notes.txt"
    prose.write_text("dear diary\n")
    with pytest.raises(ImportFatal, match="not a usage file"):
        import_path(store, str(prose))
    with pytest.raises(ImportFatal, match="no .jsonl"):
        import_path(store, str(tmp_path / "empty_dir") if (tmp_path / "empty_dir").mkdir() is None else "")


def test_folder_import_is_recursive_and_skips_foreign_files(store, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.jsonl").write_text(json.dumps({**GOOD, "id": "1"}) + "\n")
    (tmp_path / "a" / "b" / "two.jsonl").write_text(json.dumps({**GOOD, "id": "2"}) + "\n")
    (tmp_path / "a" / "b" / "other.json").write_text('{"hello": "world"}\n')
    summary = import_path(store, str(tmp_path / "a"))
    assert (summary.imported, summary.files) == (2, 2)
    assert summary.skipped == [str(tmp_path / "a" / "b" / "other.json")]


def test_batches_commit_separately(store, tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({**GOOD, "id": f"n{i}"}) + "\n" for i in range(25)))
    progress, writes = [], []
    write = store._write
    store._write = lambda staged, rejects, cursors=None: writes.append([b.rows for b in staged]) or write(
        staged, rejects, cursors)
    summary = import_path(store, str(path), batch_size=10, on_progress=lambda done, total: progress.append((done, total)))
    assert summary.imported == 25
    assert writes == [[10], [10], [5]]  # one transaction each
    size = path.stat().st_size
    assert progress[-1] == (size, size)


def test_import_restores_the_switch_interval(store, tmp_path):
    before = sys.getswitchinterval()
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}) + "\n")
    assert import_path(store, str(good), "native").imported == 1
    assert sys.getswitchinterval() == before
    with pytest.raises(ImportFatal):
        import_path(store, str(tmp_path / "missing.jsonl"), "native")
    assert sys.getswitchinterval() == before


def test_records_in_any_order_are_written_sorted_within_a_window_and_the_last_line_of_an_id_wins(store, tmp_path):
    # batch_size 3: windows of 4 batches (12 staged rows) are sorted by time before they are cut
    # into batches. 30 lines: 28 ids in reverse time order, "twice" on lines 2 and 5 (one
    # window: the later line wins, one record), "again" on lines 1 and 25 (two windows: the
    # second replaces the first).
    lines = [{"id": "again", "ts": "2026-11-30T00:00:00Z", "provider": "p", "model": "m", "prompt_tokens": 1}]
    for i in range(29):
        lines.append({"id": f"r{i}", "ts": f"2026-11-{28 - i % 28:02d}T{i % 24:02d}:00:00Z", "provider": "p",
                      "model": "m", "user": "alice", "prompt_tokens": 10})
    lines[1] = {**lines[1], "id": "twice", "prompt_tokens": 2}
    lines[4] = {**lines[4], "id": "twice", "prompt_tokens": 3}
    lines[24] = {**lines[0], "prompt_tokens": 5}
    path = tmp_path / "shuffled.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in lines))
    summary = import_path(store, str(path), batch_size=3)
    # 30 lines - "twice" once more - "again" once more = 28 records; the second "again" replaced.
    assert (summary.imported, summary.replaced, summary.unchanged) == (28, 1, 0)
    conn = store.conn
    assert dict(conn.execute("SELECT id, prompt_tokens FROM records WHERE id IN ('twice', 'again')")) == {
        "twice": 3, "again": 5}
    # 26 records of r (29 minus the three lines overwritten) × 10 + twice 3 + again 5 = 268
    assert conn.execute("SELECT SUM(prompt_tokens) FROM records").fetchone()[0] == 268
    assert conn.execute("SELECT SUM(prompt_tokens) FROM roll_org_day WHERE dim = 7").fetchone()[0] == 268
    # The first window (lines 1-15: 14 records) was cut into batches of 3 in time order; its
    # first 12 rows by rowid are its first 4 batches ("again", the latest, was in the fifth and
    # was replaced later), and they follow each other in time though the lines did not.
    first = [ts for (ts,) in conn.execute("SELECT ts_us FROM records ORDER BY rowid LIMIT 12")]
    batches = [first[i:i + 3] for i in range(0, 12, 3)]
    assert all(max(a) <= min(b) for a, b in zip(batches, batches[1:], strict=False))
