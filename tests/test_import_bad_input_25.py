"""Issue 25, bad input found in the import paths: --team/--user typos refused with "did you
mean", a folder without usage is an error naming what it skipped, gzip read (in a folder and
alone, a cut-short one keeps what came before), and a LiteLLM row whose error code is 429 but
says no `failure` is stored as that failure."""

from __future__ import annotations

import gzip
import json
import zlib

from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.ingest import import_path
from usage_tui.store import Store


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def line(rid, tokens=10, user="alice"):
    return json.dumps({"id": rid, "ts": "2026-12-01T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
                       "user": user, "prompt_tokens": tokens}) + "\n"


def ids(store):
    return sorted(r[0] for r in store.conn.execute("SELECT id FROM records"))


def test_import_team_and_user_typos_are_refused_with_did_you_mean(store, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(line("1"))
    db = store.path
    result = run("import", path, "--db", db, "--as", "alice", "--team", "platfrom")
    assert result.exit_code == 2
    assert 'unknown team "platfrom" (did you mean "platform"?)' in result.stderr
    result = run("import", path, "--db", db, "--as", "alice", "--team", "nosuchteam")
    assert result.exit_code == 2 and 'unknown team "nosuchteam"' in result.stderr
    result = run("import", path, "--db", db, "--as", "alice", "--user", "alcie")
    assert result.exit_code == 2
    assert 'unknown user "alcie" (did you mean "alice"?)' in result.stderr
    assert ids(store) == []  # nothing imported by a refused command
    assert run("import", path, "--db", db, "--as", "alice", "--team", "research").exit_code == 0
    assert ids(store) == ["1"]


def test_without_a_directory_any_team_is_taken(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(line("1"))
    result = run("import", path, "--db", tmp_path / "bare.db", "--team", "anything", "--user", "someone")
    assert result.exit_code == 0, result.output


def test_a_folder_without_usage_is_exit_2_naming_what_it_skipped(store, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "README.md").write_text("notes\n")
    result = run("import", folder, "--db", store.path)
    assert result.exit_code == 2
    assert f"{folder}: no usage file in this folder" in result.stderr and "README.md" in result.stderr
    (folder / "config.json").write_text('{"theme": "dark"}\n')  # read, not usage
    result = run("import", folder, "--db", store.path)
    assert result.exit_code == 2
    assert result.stderr == (f"usage-tui: error: {folder}: no usage file in this folder "
                             f"(skipped: {folder / 'config.json'})\n")


def test_gzip_files_are_read_in_a_folder_and_alone(store, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    # two gzip members one after the other (what `gzip -c more >> a.jsonl.gz` makes): both read
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(line("g1", 5).encode()) + gzip.compress(line("g2", 7).encode()))
    (folder / "b.jsonl").write_text(line("p1", 11))
    summary = import_path(store, str(folder))
    assert (summary.imported, summary.files, summary.skipped) == (3, 2, [])
    (total,) = store.conn.execute("SELECT sum(prompt_tokens) FROM records").fetchone()
    assert total == 5 + 7 + 11
    alone = tmp_path / "export.gz"  # named without .jsonl: the content says what it is
    alone.write_bytes(gzip.compress(line("g3", 3).encode()))
    result = run("import", alone, "--db", store.path)
    assert result.exit_code == 0 and result.stdout.strip() == "imported 1, replaced 0, unchanged 0, rejected 0"
    assert ids(store) == ["g1", "g2", "g3", "p1"]


def test_a_gzip_file_cut_short_keeps_the_lines_before_and_says_so(tmp_path):
    text = "".join(line(f"r{i:05d}", 1) for i in range(20_000)).encode()
    packed = gzip.compress(text)
    cut = packed[: len(packed) // 2]
    # what is readable before the cut, by a decompressor of its own: whole lines only
    inflater = zlib.decompressobj(wbits=31)
    readable = inflater.decompress(cut)
    whole = readable.count(b"\n")
    assert 0 < whole < 20_000
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(cut)
    store = Store(tmp_path / "u.db")
    result = run("import", path, "--db", store.path)
    assert result.exit_code == 1
    assert result.stdout.strip() == f"imported {whole}, replaced 0, unchanged 0, rejected 1"
    assert f"{path}:{whole + 1}: gzip data cut short or corrupt" in result.stderr
    (count,) = store.conn.execute("SELECT count(*) FROM records").fetchone()
    assert count == whole


def test_a_litellm_row_with_error_code_429_and_no_failure_status_is_a_429(store, tmp_path):
    base = {"request_id": "r-ok", "startTime": "2026-12-01T10:00:00Z", "model": "gpt-4o-mini",
            "custom_llm_provider": "openai", "prompt_tokens": 0, "completion_tokens": 0, "spend": 0,
            "api_key": "k", "metadata": {"error_information": None}}
    refused = {**base, "request_id": "r-429",
               "metadata": {"error_information": {"error_code": "429", "error_class": "RateLimitError"}}}
    failed = {**base, "request_id": "r-fail", "status": "failure",
              "metadata": {"error_information": {"error_code": "not a status"}}}
    path = tmp_path / "spend.json"
    path.write_text(json.dumps([base, refused, failed]))
    summary = import_path(store, str(path))
    assert summary.imported == 3
    stored = dict(store.conn.execute("SELECT id, status FROM records"))
    assert stored == {"r-ok": 200, "r-429": 429, "r-fail": 500}
