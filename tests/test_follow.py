"""`import --follow PATH` with real files: appends, a partial last line, truncation, replacement,
a folder gaining files, a restart from the saved positions, every format `import` reads
followed piece by piece ending where a plain import ends, and kill -9 of the follower while a
writer appends (nothing committed lost, nothing counted twice). Expected values by hand."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.ingest import follow as follow_module
from usage_tui.ingest import import_path
from usage_tui.ingest.follow import Follower
from usage_tui.store import Store

from .conftest import DIRECTORY

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def no_settling(monkeypatch):
    """Documents and first lines are read as soon as seen (their wait is for writers that are
    slower than these tests)."""
    monkeypatch.setattr(follow_module, "SETTLE_S", 0.0)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "usage.db")
    s.load_directory(DIRECTORY)
    yield s
    s.close()


def line(i: int, tokens: int | None = None, user: str = "bob") -> str:
    return json.dumps({"id": f"n{i}", "ts": f"2026-03-01T10:{i % 60:02d}:00Z", "provider": "openai",
                       "model": "gpt-4o", "user": user, "prompt_tokens": i if tokens is None else tokens,
                       "completion_tokens": 1}) + "\n"


def counts(totals) -> tuple[int, int, int, int]:
    return totals.imported, totals.replaced, totals.unchanged, totals.rejected


def tokens(store) -> dict[str, int]:
    return dict(store.execute("SELECT id, prompt_tokens FROM records ORDER BY id").fetchall())


def append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def test_appends_and_a_partial_last_line(tmp_path, store):
    f = tmp_path / "usage.jsonl"
    f.write_text(line(1) + line(2))
    follower = Follower(store, str(f))
    assert counts(follower.scan()[0]) == (2, 0, 0, 0)
    assert counts(follower.scan()[0]) == (0, 0, 0, 0)
    partial = line(3)
    append(f, line(4, 40) + partial[:20])  # a whole line, then the start of the next
    assert counts(follower.scan()[0]) == (1, 0, 0, 0)
    assert tokens(store) == {"n1": 1, "n2": 2, "n4": 40}
    append(f, partial[20:-1])  # the rest of it, still without its newline: it waits
    assert follower.scan()[0].files == 0
    append(f, "\n")
    assert counts(follower.scan()[0]) == (1, 0, 0, 0)
    assert tokens(store) == {"n1": 1, "n2": 2, "n3": 3, "n4": 40}
    # a bad line appended is a reject numbered as the file's line (line 5)
    rejects = []
    follower.on_reject = rejects.append
    append(f, '{"id": "n5", "ts": "yesterday"}\n' + line(6))
    assert counts(follower.scan()[0]) == (1, 0, 0, 1)
    assert [(r.line, r.source) for r in rejects] == [(5, str(f))]
    position = json.loads(store.cursor("follow:" + str(f.resolve())))
    assert position["offset"] == f.stat().st_size and position["line"] == 6


def test_truncated_rewritten_and_replaced_files_are_read_from_the_start(tmp_path, store):
    f = tmp_path / "usage.jsonl"
    f.write_text(line(1) + line(2))
    follower = Follower(store, str(f))
    follower.scan()
    # truncated, then one shorter line: read from the start
    f.write_text(line(3))
    assert counts(follower.scan()[0]) == (1, 0, 0, 0)
    # rewritten in place past the old offset (same inode, larger): the bytes before the old
    # offset differ, so it is read from the start: n3 again (changed: replaced) and n7, n8 new
    size = f.stat().st_size
    f.write_text(line(3, 33) + line(7) + line(8))
    assert f.stat().st_size > size
    assert counts(follower.scan()[0]) == (2, 1, 0, 0)
    # replaced by another file (rename over it: another inode) holding the same lines and one more
    new = tmp_path / "new.jsonl"
    new.write_text(line(3, 33) + line(7) + line(8) + line(9))
    os.replace(new, f)
    assert counts(follower.scan()[0]) == (1, 0, 3, 0)
    assert tokens(store) == {"n1": 1, "n2": 2, "n3": 33, "n7": 7, "n8": 8, "n9": 9}


def test_a_folder_gaining_files_and_a_restart_from_the_saved_positions(tmp_path, store):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.jsonl").write_text(line(1))
    (folder / "notes.txt").write_text("not followed: not a usage file name\n")
    skipped = []
    follower = Follower(store, str(folder), on_skip=skipped.append)
    assert counts(follower.scan()[0]) == (1, 0, 0, 0)
    (folder / "sub").mkdir()
    (folder / "sub" / "b.jsonl").write_text(line(2) + line(3))
    (folder / "junk.jsonl").write_text('{"hello": "world"}\n')
    assert counts(follower.scan()[0]) == (2, 0, 0, 0)
    append(folder / "junk.jsonl", '{"still": "not usage"}\n')
    follower.scan()
    assert skipped == [str(folder / "junk.jsonl")]  # said once
    # the follower stops; lines are appended meanwhile; a new follower goes on from the positions
    append(folder / "a.jsonl", line(4))
    append(folder / "sub" / "b.jsonl", line(5))
    restarted = Follower(store, str(folder))
    assert counts(restarted.scan()[0]) == (2, 0, 0, 0)  # nothing read twice: no unchanged
    assert sorted(tokens(store)) == ["n1", "n2", "n3", "n4", "n5"]


def test_a_streamed_claude_code_message_completed_in_a_later_pass(tmp_path, store):
    """Claude Code writes a streamed message as several lines of one id, the last complete: a
    pass between them stores the first, the next replaces it. One record, the final counts."""
    def message(out: int, uuid: str) -> str:
        return json.dumps({"type": "assistant", "sessionId": "s1", "uuid": uuid, "parentUuid": None,
                           "timestamp": "2026-03-01T10:00:00Z", "requestId": "req_1",
                           "message": {"id": "msg_1", "model": "claude-sonnet-4-5", "role": "assistant",
                                       "usage": {"input_tokens": 10, "output_tokens": out,
                                                 "cache_read_input_tokens": 0}}}) + "\n"
    f = tmp_path / "projects" / "-home-dev" / "s1.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text(message(1, "u1"))
    follower = Follower(store, str(tmp_path / "projects"))
    assert counts(follower.scan()[0]) == (1, 0, 0, 0)
    append(f, message(250, "u2"))
    assert counts(follower.scan()[0]) == (0, 1, 0, 0)
    assert store.execute("SELECT id, completion_tokens FROM records").fetchall() == [("msg_1:req_1", 250)]


SAMPLES = [
    "litellm_12_rows.jsonl", "litellm_12_rows.csv", "litellm_12_rows.json", "claude-code/projects",
    "agents/codex/daily-home/sessions", "agents/codex/subagent-home/sessions", "agents/pi/sessions",
    "agents/gemini/tmp", "agents/amp/threads", "openai_cookbook_usage_buckets.json",
]


def written_in_pieces(source: Path, target: Path, follower_scan, rng: random.Random) -> None:
    """Copy `source` to `target` as a writer would: line-based files in random pieces (cuts
    anywhere, mid-line too) with a pass of the follower after each; JSON documents whole."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for f in files:
        out = target / f.relative_to(source) if source.is_dir() else target
        out.parent.mkdir(parents=True, exist_ok=True)
        data = f.read_bytes()
        if f.suffix == ".json":
            tmp = out.with_name(out.name + ".part")
            tmp.write_bytes(data)
            os.replace(tmp, out)
            follower_scan()
            continue
        # Codex writes a subagent's replayed history (up to its second token count) in one burst
        first = burst_end(data) if "codex" in str(f) else 1
        cuts = sorted(rng.sample(range(first, len(data)), min(6, len(data) - first)))
        start = 0
        for cut in [*cuts, len(data)]:
            with out.open("ab") as handle:
                handle.write(data[start:cut])
            start = cut
            follower_scan()


def burst_end(data: bytes) -> int:
    """The end of the line of the second token count with usage (codex.py's replay test)."""
    end, seen = 0, 0
    for raw in data.splitlines(keepends=True):
        end += len(raw)
        seen += b'"token_count"' in raw and b'"total_token_usage"' in raw
        if seen == 2:
            return min(end, len(data) - 1)
    return 1


def stored_records(store) -> dict:
    cur = store.execute("SELECT id, ts_us, provider, model, user, key, team, prompt_tokens, completion_tokens, "
                        "cached_input_tokens, cache_write_tokens, cost_nano, status FROM records")
    return {row[0]: row[1:] for row in cur}


@pytest.mark.parametrize("sample", SAMPLES)
def test_followed_piece_by_piece_ends_as_a_plain_import(tmp_path, sample):
    source = DATA / sample
    followed = Store(tmp_path / "followed.db")
    followed.load_directory(DIRECTORY)
    target = tmp_path / ("in" if source.is_dir() else f"in{''.join(source.suffixes)}")
    if source.is_dir():
        target.mkdir()
    else:
        target.write_bytes(b"")
    follower = Follower(followed, str(target))
    written_in_pieces(source, target, follower.scan, random.Random(sample))
    follower.scan()
    plain = Store(tmp_path / "plain.db")
    plain.load_directory(DIRECTORY)
    import_path(plain, str(source))
    expected = stored_records(plain)
    assert expected  # the sample holds usage
    assert stored_records(followed) == expected
    plain.close()
    followed.close()


def test_the_command_stops_on_ctrl_c_and_rejects_what_it_cannot_follow(tmp_path):
    db = tmp_path / "usage.db"
    f = tmp_path / "usage.jsonl"
    f.write_text(line(1))
    env = {**os.environ, "USAGE_TUI_DB": str(db)}
    proc = subprocess.Popen([sys.executable, "-m", "usage_tui", "import", "--follow", str(f)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: count_in(db) == 1)
        append(f, line(2) + line(3))
        wait_for(lambda: count_in(db) == 3)  # (bench/live_files.py measures how soon: p99 well under 2 s)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == "imported 3, replaced 0, unchanged 0, rejected 0\n"
    assert "Traceback" not in err

    runner = CliRunner()
    for args, message in ((["import", "--follow", "-"], "--follow reads a FILE or DIR"),
                          (["import", "--follow", str(tmp_path / "missing.jsonl")], "no such file or folder"),
                          (["import", "--follow", "--local"], "--follow reads a FILE or DIR")):
        result = runner.invoke(cli, ["--db", str(db), *args])
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines() == [f"usage-tui: error: {result.stderr.split('error: ')[1].strip()}"]
        assert message in result.stderr
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"hello": "world"}\n')
    result = runner.invoke(cli, ["--db", str(db), "import", "--follow", str(junk)])
    assert result.exit_code == 2
    assert result.stderr == f"usage-tui: error: {junk}: not a usage file (no known format recognised; name one with --format)\n"


def count_in(db: Path) -> int:
    """Records committed in the follower's store, read without opening it as a store (a Store
    would create or upgrade it, racing the follower that is creating it)."""
    import sqlite3

    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute("SELECT count(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:  # no records table yet
        return 0


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not seen in time"
        time.sleep(0.05)


def test_kill_9_of_the_follower_loses_nothing_and_counts_nothing_twice(tmp_path):
    """A writer appends 3,000 lines in bursts; the follower is killed with SIGKILL part-way, and a
    new one started: the store ends with exactly the 3,000 records, and the new follower imports
    exactly those the killed one had not committed (it reads nothing twice: 0 unchanged)."""
    db = tmp_path / "usage.db"
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(DATA / "litellm_12_rows.jsonl", folder / "litellm.jsonl")  # another format beside
    env = {**os.environ, "USAGE_TUI_DB": str(db)}
    command = [sys.executable, "-m", "usage_tui", "import", "--follow", str(folder)]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: count_in(db) == 12)
    total = 3_000
    with (folder / "a.jsonl").open("a") as a, (folder / "b.jsonl").open("a") as b:
        for i in range(total):
            (a if i % 3 else b).write(line(i))
            if i % 100 == 99:
                a.flush()
                b.flush()
                time.sleep(0.02)
            if i == total // 2:
                a.flush()
                b.flush()
                wait_for(lambda: count_in(db) > 12)  # the follower has committed some of them
                first.send_signal(signal.SIGKILL)
                first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    committed = count_in(db) - 12
    assert 0 < committed < total
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: count_in(db) == total + 12)
    finally:
        second.send_signal(signal.SIGINT)
        out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert out == f"imported {total - committed}, replaced 0, unchanged 0, rejected 0\n"
    s = Store(db)
    assert s.execute("SELECT count(*), sum(prompt_tokens) FROM records WHERE id LIKE 'n%'").fetchone() == (
        total, total * (total - 1) // 2)
    s.close()


def test_a_plain_import_of_followed_files_reads_only_what_is_new(tmp_path, store):
    f = tmp_path / "usage.jsonl"
    f.write_text(line(1) + line(2))
    Follower(store, str(f)).scan()
    append(f, line(3))
    other = tmp_path / "other.jsonl"  # never followed: a plain import reads it whole, as always
    other.write_text(line(1) + line(9))
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(store.path), "import", str(f)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "imported 1, replaced 0, unchanged 0, rejected 0\n"
    assert "reading only what was added since the positions it kept" in result.stderr
    result = runner.invoke(cli, ["--db", str(store.path), "import", str(other)])
    assert result.stdout == "imported 1, replaced 0, unchanged 1, rejected 0\n"
    assert tokens(store) == {"n1": 1, "n2": 2, "n3": 3, "n9": 9}


@pytest.mark.parametrize("engine", ["postgres"])
def test_following_into_a_postgresql_store(tmp_path, new_store, engine):
    """The same positions and transactions on the central store: append, partial line, restart."""
    pg = new_store()
    pg.load_directory(DIRECTORY)
    f = tmp_path / "usage.jsonl"
    f.write_text(line(1) + line(2) + line(3)[:10])
    assert counts(Follower(pg, str(f)).scan()[0]) == (2, 0, 0, 0)
    append(f, line(3)[10:] + line(4))
    restarted = Follower(pg, str(f))
    assert counts(restarted.scan()[0]) == (2, 0, 0, 0)
    f.write_text(line(5))  # truncated: from the start
    assert counts(restarted.scan()[0]) == (1, 0, 0, 0)
    assert tokens(pg) == {"n1": 1, "n2": 2, "n3": 3, "n4": 4, "n5": 5}
    assert json.loads(pg.cursor("follow:" + str(f.resolve())))["line"] == 1


def test_a_line_longer_than_one_read_is_one_reject(tmp_path, store, monkeypatch):
    monkeypatch.setattr(follow_module, "CHUNK_BYTES", 256)
    f = tmp_path / "usage.jsonl"
    long = json.dumps({"id": "huge", "ts": "2026-03-01T10:00:00Z", "provider": "openai", "model": "gpt-4o",
                       "note": "x" * 600}) + "\n"
    f.write_text(line(1) + long[:300])  # the long line, still being written
    rejects = []
    follower = Follower(store, str(f), on_reject=rejects.append)
    assert counts(follower.scan()[0]) == (1, 0, 0, 0)
    assert counts(follower.scan()[0]) == (0, 0, 0, 0)  # no newline yet: it waits, reads nothing
    append(f, long[300:] + line(3))
    totals = follower.scan()[0]
    while True:  # (a pass reads at most 256 bytes of the file)
        more = follower.scan()[0]
        if not more.files:
            break
        totals.add(more)
    assert counts(totals) == (1, 0, 0, 1)
    assert [(r.line, r.reason) for r in rejects] == [(2, "line longer than 256 bytes: not read")]
    assert sorted(tokens(store)) == ["n1", "n3"]


def test_a_pass_woken_by_file_events_looks_at_the_files_they_name(tmp_path, store):
    folder = tmp_path / "logs"
    folder.mkdir()
    a, b = folder / "a.jsonl", folder / "b.jsonl"
    a.write_text(line(1))
    b.write_text(line(2))
    follower = Follower(store, str(folder))
    assert counts(follower.scan()[0]) == (2, 0, 0, 0)
    append(a, line(3))
    append(b, line(4))
    assert counts(follower.scan(only={str(a)})[0]) == (1, 0, 0, 0)  # b's event has not come yet
    assert sorted(tokens(store)) == ["n1", "n2", "n3"]
    assert counts(follower.scan(only={str(tmp_path / "elsewhere.jsonl")})[0]) == (0, 0, 0, 0)
    assert counts(follower.scan()[0]) == (1, 0, 0, 0)  # a look at every file finds b's line
    # a document that is still being written waits to settle; a quiet wake (no event) reads it
    follower.settle_s = 0.3
    doc = folder / "page.json"
    doc.write_text((DATA / "litellm_12_rows.json").read_text())
    assert counts(follower.scan(only={str(doc)})[0]) == (0, 0, 0, 0)
    time.sleep(0.4)
    assert counts(follower.scan(only=set())[0]) == (12, 0, 0, 0)


def test_a_gzipped_export_in_a_followed_folder_is_read_as_what_it_holds(tmp_path, store):
    import gzip

    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "litellm.jsonl.gz").write_bytes(gzip.compress((DATA / "litellm_12_rows.jsonl").read_bytes()))
    follower = Follower(store, str(folder))
    assert counts(follower.scan()[0]) == (12, 0, 0, 0)
    # a new export replaces it with two more rows (the gzip is read whole again: 12 unchanged)
    rows = (DATA / "litellm_12_rows.jsonl").read_text().splitlines()
    more = [json.loads(r) | {"request_id": json.loads(r)["request_id"] + "-b"} for r in rows[:2]]
    text = "\n".join([*rows, *(json.dumps(m) for m in more)]) + "\n"
    (folder / "litellm.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    assert counts(follower.scan()[0]) == (2, 0, 12, 0)
