"""The command line through click's CliRunner: outputs, formats and exit codes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.store import SCHEMA_VERSION
from usage_tui.store import sqlite as store_module

from .conftest import location, make_schema_2, write


@pytest.fixture
def store(engine_store):
    """The CLI tests run on SQLite and on PostgreSQL (--db postgresql://…): the same outputs."""
    return engine_store


@pytest.fixture
def db(store, monkeypatch):
    write(store,
          {"id": "1", "ts": "2026-11-20T09:00:00Z", "provider": "openai", "model": "gpt-x", "user": "alice",
           "prompt_tokens": 1000, "completion_tokens": 200, "cost_usd": 1.5},
          {"id": "2", "ts": "2026-11-21T09:00:00Z", "provider": "acme", "model": "mystery", "user": "alice",
           "prompt_tokens": 10, "requests": 2},
          {"id": "3", "ts": "2026-11-21T09:00:00Z", "provider": "openai", "model": "gpt-x", "user": "bob",
           "cost_usd": 0.25})
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    return location(store)


def run(*args, **kw):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def test_help_answers_for_every_command():
    for args in ([], ["spend", "summary"], ["import"], ["directory", "load"], ["sample"]):
        result = run(*args, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_json_defaults(db):
    result = run("spend", "summary", "--db", db, "--as", "alice", "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["since"], out["until"], out["tz"]) == ("2026-10-26", "2026-11-24", "Europe/Berlin")
    assert (out["metric"], out["group_by"], out["granularity"]) == ("cost", "model", "daily")
    assert len(out["series"]) == 30
    assert out["totals"]["requests"] == 3 and out["totals"]["unpriced_requests"] == 2
    assert [(r["row"], r["cost_usd"]) for r in out["rows"]] == [("gpt-x", 1.5), ("mystery", 0.0)]


def test_viewer_from_environment(db, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_USER", "bob")
    out = json.loads(run("spend", "summary", "--db", db, "--format", "json").output)
    assert out["viewer"] == "bob" and out["totals"]["cost_usd"] == 0.25


def test_table_format_warns_about_unpriced(db):
    result = run("spend", "summary", "--db", db, "--as", "alice")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "Cost per day — personal (alice) · 2026-10-26 … 2026-11-24 (Europe/Berlin)"
    assert lines[1].startswith("Total: $1.50 · 3 requests")
    assert any(line.startswith("gpt-x") and "100.0%" in line for line in lines)
    assert "2 requests are unpriced" in result.output


def test_csv_format(db):
    result = run("spend", "summary", "--db", db, "--as", "alice", "--scope", "org", "--group-by", "user",
                 "--metric", "requests", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["row"], r["requests"], r["share"]) for r in rows] == [("alice", "3", "0.75"), ("bob", "1", "0.25")]


@pytest.mark.parametrize("args, message", [
    (["--since", "2026-13-01"], "is not a valid date"),
    (["--since", "yesterday"], "is not a date"),
    (["--since", "2026-11-10", "--until", "2026-11-01"], "is after"),
    (["--tz", "Nowhere/City"], "unknown time zone"),
    (["--scope", "team"], "team scope needs a team"),
])
def test_bad_input_exits_2_with_one_line(db, args, message):
    result = CliRunner().invoke(cli, ["spend", "summary", "--db", db, "--as", "alice", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["spend", "summary", "--group-by", "colour"],
     "usage-tui: error: Invalid value for '--group-by': 'colour' is not one of"),
    (["spend", "summary", "--format", "xml"], "usage-tui: error: Invalid value for '--format'"),
    (["spend", "summary", "--bogus"], "usage-tui: error: No such option '--bogus'."),
    (["budget", "check"], "usage-tui: error: Missing argument 'USER'. (see usage-tui budget check --help)"),
    (["budget", "set", "bob", "--limit-usd", "5", "--window", "yearly"],
     "usage-tui: error: Invalid value for '--window'"),
])
def test_usage_errors_are_one_line_exit_2(db, args, message):
    # §3: every error is one line on stderr, click's own usage errors included.
    result = CliRunner().invoke(cli, [*args, "--db", db], prog_name="usage-tui")
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output


def test_options_before_the_command_apply_to_it(db):
    # `usage-tui --db X --as bob spend summary` is the same as giving them after the command.
    before = run("--db", db, "--as", "bob", "spend", "summary", "--format", "json")
    after = run("spend", "summary", "--db", db, "--as", "bob", "--format", "json")
    assert before.exit_code == 0 and before.output == after.output
    assert json.loads(before.output)["viewer"] == "bob"
    # the command's own option wins
    own = json.loads(run("--db", db, "--as", "bob", "spend", "summary", "--as", "alice", "--format", "json").output)
    assert own["viewer"] == "alice"


@pytest.mark.parametrize("args", [["--scope", "org"], ["--scope", "team", "--team", "platform"]])
def test_member_asking_wider_scope_gets_exit_3_and_no_data(db, args):
    result = CliRunner().invoke(cli, ["spend", "summary", "--db", db, "--as", "bob", "--format", "json", *args])
    assert result.exit_code == 3
    assert "may not view" in result.output and "{" not in result.output


def test_team_admin_other_team_exit_3(db):
    result = CliRunner().invoke(cli, ["spend", "summary", "--db", db, "--as", "carol", "--scope", "team",
                                      "--team", "research"])
    assert result.exit_code == 3


def test_missing_store_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["spend", "summary", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no usage store" in result.output


def test_import_exit_codes_and_summary(tmp_path, db):
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "n1", "ts": "2026-11-22T10:00:00Z", "provider": "p", "model": "m"}\n')
    result = run("import", str(good), "--db", db)
    assert result.exit_code == 0 and result.output.strip() == "imported 1, replaced 0, unchanged 0, rejected 0"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "n2", "ts": "2026-11-22T10:00:00Z", "provider": "p", "model": "m"}\nnope\n')
    result = CliRunner().invoke(cli, ["import", str(bad), "--db", db])
    assert result.exit_code == 1
    assert f"{bad}:2: malformed JSON" in result.output
    assert result.output.strip().endswith("imported 1, replaced 0, unchanged 0, rejected 1")
    assert CliRunner().invoke(cli, ["import", str(tmp_path / "none.jsonl"), "--db", db]).exit_code == 2


@pytest.mark.parametrize("engine", ["sqlite"])  # an SQLite file's lock (PostgreSQL: tests/test_postgres.py)
def test_import_into_a_store_another_writer_holds_is_one_line_exit_2(tmp_path, db, monkeypatch):
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 100)  # read when the store opens: waits 0.1 s
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "n1", "ts": "2026-11-22T10:00:00Z", "provider": "p", "model": "m"}\n')
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        result = CliRunner().invoke(cli, ["import", str(good), "--db", db])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.exit_code == 2
    assert result.output.startswith("usage-tui: error: the store is busy: another process has been writing "
                                    "to it for over 100 ms (database is locked); batches already committed "
                                    "are kept, try again when it is done")
    assert result.output.count("\n") == 1
    assert run("import", str(good), "--db", db).exit_code == 0  # once it is free, the import runs


def test_import_from_a_real_pipe(db):
    # `zcat big.jsonl.gz | usage-tui import -`: stdin is a pipe, which cannot seek or tell.
    lines = "".join(f'{{"id": "p{i}", "ts": "2026-11-22T10:00:00Z", "provider": "p", "model": "m"}}\n'
                    for i in range(3)) + "not json\n"
    proc = subprocess.run([sys.executable, "-m", "usage_tui", "import", "-", "--db", db], input=lines,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip() == "imported 3, replaced 0, unchanged 0, rejected 1"
    assert proc.stderr.strip() == "<stdin>:4: malformed JSON: Expecting value"


def test_import_from_stdin_with_user_fill(db):
    line = '{"id": "s1", "ts": "2026-11-22T10:00:00Z", "provider": "p", "model": "m", "cost_usd": 2}\n'
    result = run("import", "-", "--user", "bob", "--db", db, input=line)
    assert result.exit_code == 0
    out = json.loads(run("spend", "summary", "--db", db, "--as", "bob", "--format", "json").output)
    assert out["totals"]["cost_usd"] == 2.25


def test_import_team_fill_applies_only_to_records_without_a_team(db):
    lines = ('{"id": "t1", "ts": "2026-11-22T10:00:00Z", "provider": "p", "model": "m", "user": "bob"}\n'
             '{"id": "t2", "ts": "2026-11-22T10:00:00Z", "provider": "p", "model": "m", "user": "bob", '
             '"team": "platform"}\n')
    result = run("import", "-", "--team", "research", "--db", db, input=lines)
    assert result.exit_code == 0
    out = json.loads(run("spend", "summary", "--db", db, "--as", "alice", "--scope", "org", "--group-by", "team",
                         "--metric", "requests", "--format", "json").output)
    # t1 named no team: --team fills it (ahead of bob's primary team, platform); t2 keeps its own.
    # platform: the fixture's 1 + 2 (alice) + 1 (bob) requests, and t2 = 5; research: t1 = 1
    assert {r["row"]: r["requests"] for r in out["rows"]} == {"platform": 5, "research": 1}


def test_directory_load_errors_change_nothing(tmp_path, db):
    bad = tmp_path / "dir.toml"
    bad.write_text('[[users]]\nid = "x"\nrole = "member"\n[[keys]]\nid = "k"\nowner = "nobody"\n')
    result = CliRunner().invoke(cli, ["directory", "load", str(bad), "--db", db])
    assert result.exit_code == 2
    assert 'keys[0] ("k"): owner "nobody" is not a user' in result.output
    out = json.loads(run("spend", "summary", "--db", db, "--as", "alice", "--format", "json").output)
    assert out["tz"] == "Europe/Berlin"  # the old directory is still in force


def test_directory_load_reports_counts(db):
    result = run("directory", "load", "sample_data/directory.toml", "--db", db)
    assert result.exit_code == 0
    assert "25 users, 4 teams, 6 keys, 4 agents, 4 budgets, 1 prices; re-attributed 3 records" in result.output


def test_sample_builds_a_deterministic_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    outputs = []
    for name in ("a.db", "b.db"):
        path = str(tmp_path / name)
        assert run("sample", "--events", "500", "--db", path).exit_code == 0
        outputs.append(run("spend", "summary", "--db", path, "--as", "alice", "--scope", "org",
                           "--format", "json").output)
    assert outputs[0] == outputs[1]
    out = json.loads(outputs[0])
    assert out["totals"]["requests"] == 500 + 31  # the events plus bob's over-budget burst
    assert out["totals"]["unpriced_requests"] > 0  # acme-finetune-v2 has no price


def test_sample_refuses_to_overwrite_imported_data(db):
    result = CliRunner().invoke(cli, ["sample", "--db", db])
    assert result.exit_code == 2 and "--force" in result.output


def test_kt_and_usage_tui_are_the_same_group():
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts") if e.name in ("kt", "usage-tui")}
    assert scripts == {"kt": "usage_tui.cli:cli", "usage-tui": "usage_tui.cli:cli"}


def test_rejects_lists_bad_lines_newest_first(tmp_path, db):
    bad = tmp_path / "bad.jsonl"
    # a native record after the bad lines: a forced format with no record at all in a file whose
    # start it does not recognise refuses the file whole, keeping no rejects (tests/test_real_exports.py)
    bad.write_text('nope\n{"id": "x"}\n{"id": "ok", "ts": "2026-11-20T10:00:00Z", "provider": "p", "model": "m"}\n')
    CliRunner().invoke(cli, ["import", str(bad), "--db", db, "--format", "native"])
    result = run("rejects", "--db", db, "--source", str(bad))
    assert result.output.splitlines() == [
        f"{bad}:2: missing required field `ts`", '    {"id": "x"}',
        f"{bad}:1: malformed JSON: Expecting value", "    nope"]
    assert run("rejects", "--db", db, "--source", "other.jsonl").output == "No rejected lines.\n"


def test_focused_table_title_names_the_row(db):
    result = run("spend", "summary", "--db", db, "--as", "alice", "--focus", "gpt-x")
    assert result.output.splitlines()[0].startswith("Cost per day — model gpt-x · 2026-10-26")


@pytest.mark.parametrize("engine", ["sqlite"])  # an SQLite file written by schema 2
def test_a_store_upgrade_is_announced_on_stderr_once(db, store):
    make_schema_2(store)
    first = CliRunner().invoke(cli, ["spend", "summary", "--db", db, "--as", "alice", "--format", "json"])
    assert first.exit_code == 0
    assert first.stderr == f"usage-tui: upgrading {db} from schema 2 to {SCHEMA_VERSION} (once; about 30 s per million records)\n"
    assert json.loads(first.stdout)["totals"]["requests"] == 3  # stdout is the answer only
    again = CliRunner().invoke(cli, ["spend", "summary", "--db", db, "--as", "alice", "--format", "json"])
    assert again.exit_code == 0 and again.stderr == ""


def test_the_bare_command_opens_the_store_once_and_the_tui_reads_that_store(db, monkeypatch, tmp_path):
    """It opened it for the viewer, then the TUI opened it again (and a first run built the demo
    in a third)."""
    from usage_tui.app import UsageApp
    from usage_tui.store.postgres import PostgresStore

    opened: list = []  # every store object built, on either engine

    def counting(cls):
        real_init = cls.__init__

        def counting_init(self, path, **kwargs):
            opened.append(self)
            real_init(self, path, **kwargs)
        monkeypatch.setattr(cls, "__init__", counting_init)

    counting(store_module.Store)
    counting(PostgresStore)
    ran: list[UsageApp] = []
    monkeypatch.setattr(UsageApp, "run", lambda self, *args, **kwargs: ran.append(self))
    monkeypatch.setenv("USAGE_TUI_USER", "bob")
    result = run("--db", db)
    assert result.exit_code == 0, result.output
    assert len(opened) == 1
    assert [(app.store, app.viewer) for app in ran] == [(opened[0], "bob")]

    fresh = tmp_path / "first-run.db"  # no store yet: the demo is built, and that store is the TUI's
    opened.clear()
    result = run("--db", str(fresh))
    assert result.exit_code == 0, result.output
    assert len(opened) == 1 and ran[-1].store is opened[0] and opened[0].path == fresh
    assert ran[-1].store.record_count() > 0
