"""`usage-tui import --local` (issue 25): every local coding agent's default folder under a fake
HOME (built from tests/data/agents and tests/data/claude-code), each agent's own override
variable, and exit 2 naming where it looked when nothing is there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.ingest.local import discover

DATA = Path(__file__).resolve().parent / "data"
AGENTS = DATA / "agents"
OVERRIDES = ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "GEMINI_CLI_HOME",
             "PI_CODING_AGENT_DIR")


def fake_home(home: Path) -> Path:
    """Every agent's folder where the agent writes it by default."""
    shutil.copytree(DATA / "claude-code" / "projects", home / ".claude" / "projects")
    shutil.copytree(AGENTS / "codex" / "snapshot-home", home / ".codex")
    shutil.copytree(AGENTS / "opencode" / "data", home / ".local" / "share" / "opencode")
    shutil.copytree(AGENTS / "gemini" / "resumed-tmp", home / ".gemini" / "tmp")
    (home / ".gemini" / "tmp" / "project-a" / "logs.json").write_text("[]")  # not a chat: not read
    shutil.copytree(AGENTS / "pi" / "branched-sessions", home / ".pi" / "agent" / "sessions")
    shutil.copytree(AGENTS / "amp" / "threads", home / ".local" / "share" / "amp" / "threads")
    return home


@pytest.fixture
def env(monkeypatch, tmp_path, store):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USAGE_TUI_USER", "alice")
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    return home


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_local_imports_every_agents_default_folder(env, store):
    home = fake_home(env)
    result = run("import", "--local", "--db", str(store.path))
    assert result.exit_code == 1, result.output  # OpenCode's bad row is a reject
    share = home / ".local" / "share"
    assert result.stdout.splitlines() == [
        # tests/data/claude-code: 3 transcripts (one a subagent's), 5 records (test_real_exports)
        f"Claude Code: {home}/.claude/projects, {home}/.config/claude/projects: 3 files, 5 records "
        "(imported 5, replaced 0, unchanged 0, rejected 0)",
        f"Codex: {home}/.codex/sessions, {home}/.codex/archived_sessions: 4 files, 3 records "
        "(imported 3, replaced 0, unchanged 0, rejected 0)",
        f"OpenCode: {share}/opencode: 4 files, 2 records (imported 2, replaced 0, unchanged 0, rejected 1)",
        f"Gemini CLI: {home}/.gemini/tmp: 2 files, 1 record (imported 1, replaced 0, unchanged 0, rejected 0)",
        f"pi: {home}/.pi/agent/sessions: 2 files, 1 record (imported 1, replaced 0, unchanged 0, rejected 0)",
        f"Amp: {share}/amp/threads: 2 files, 3 records (imported 3, replaced 0, unchanged 0, rejected 0)",
        "imported 15, replaced 0, unchanged 0, rejected 1",
    ]
    assert result.stderr.splitlines() == [
        f"{share}/opencode/opencode.db:2: message msg_bad: malformed JSON: Expecting value"]
    count = store.conn.execute("SELECT count(*), count(DISTINCT user_raw) FROM records").fetchone()
    assert count == (15, 1)
    # the sources are named by format, so `rejects --source` and the history say where a record came from
    formats = dict(store.conn.execute(
        "SELECT s.format, count(*) FROM records r JOIN sources s ON s.id = r.source_id GROUP BY 1"))
    assert formats == {"claude-code": 5, "codex": 3, "opencode": 2, "gemini": 1, "pi": 1, "amp": 3}

    codex_sources = {path for (path,) in store.conn.execute(
        "SELECT s.path FROM records r JOIN sources s ON s.id = r.source_id WHERE s.format = 'codex'")}
    assert {Path(p).relative_to(home / ".codex").parts[0] for p in codex_sources} == {"sessions"}  # not the archive

    again = run("import", "--local", "--db", str(store.path))
    assert again.stdout.splitlines()[-1] == "imported 0, replaced 0, unchanged 15, rejected 1"


def test_local_with_nothing_found_exits_2_naming_where_it_looked(env, store):
    result = run("import", "--local", "--db", str(store.path))
    assert result.exit_code == 2
    share = env / ".local" / "share"
    assert result.stderr == (
        f"usage-tui: error: no coding agent's sessions found (looked in {env}/.claude/projects, "
        f"{env}/.config/claude/projects, {env}/.codex/sessions, {env}/.codex/archived_sessions, "
        f"{share}/opencode, {env}/.gemini/tmp, {env}/.pi/agent/sessions, {share}/amp/threads)\n")


def test_local_says_what_it_skipped(env, store):
    sessions = env / ".codex" / "sessions"
    sessions.mkdir(parents=True)
    shutil.copy(AGENTS / "codex/gpt54-home/sessions/2026/03/10/rollout-2026-03-10T09-00-00-0199a1b2-0000-7000-8000-"
                         "00000000000d.jsonl", sessions / "rollout-a.jsonl")
    (sessions / "notes.jsonl").write_text('{"note": "not a rollout"}\n')
    (env / ".pi" / "agent" / "sessions").mkdir(parents=True)
    (env / ".pi" / "agent" / "sessions" / "x.jsonl").write_text("{}\n")
    result = run("import", "--local", "--db", str(store.path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == (f"Codex: {sessions}, {env}/.codex/archived_sessions: 2 files, 1 skipped, 1 record "
                        "(imported 1, replaced 0, unchanged 0, rejected 0)")
    assert lines[4] == (f"pi: {env}/.pi/agent/sessions: 1 file, none imported (nothing in them is pi usage "
                        "(no line was recognised as --format pi; try --format auto))")
    assert lines[0] == f"Claude Code: nothing found in {env}/.claude/projects, {env}/.config/claude/projects"
    assert f"{sessions}/notes.jsonl: skipped (not Codex usage)" in result.stderr.splitlines()


def test_each_agents_own_override_variable(monkeypatch, tmp_path):
    home, other = tmp_path / "home", tmp_path / "elsewhere"
    monkeypatch.setenv("HOME", str(home))
    for name in OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    env = {"CLAUDE_CONFIG_DIR": str(other / "claude"), "CODEX_HOME": str(other / "codex"),
           "XDG_DATA_HOME": str(other / "data"), "GEMINI_CLI_HOME": str(other / "g"),
           "PI_CODING_AGENT_DIR": str(other / "pi-agent")}
    places = {s.name: [str(p) for p in s.places] for s in discover(env, home)}
    assert places == {
        "Claude Code": [f"{other}/claude/projects"],
        "Codex": [f"{other}/codex/sessions", f"{other}/codex/archived_sessions"],
        "OpenCode": [f"{other}/data/opencode"],
        "Gemini CLI": [f"{other}/g/.gemini/tmp"],
        "pi": [f"{other}/pi-agent/sessions"],
        "Amp": [f"{other}/data/amp/threads", f"{home}/.local/share/amp/threads"],
    }
    fake_home(home)
    found = {s.name: len(s.files) for s in discover({}, home)}
    # OpenCode: 3 legacy message files and the database (storage/session is not read); Gemini:
    # the chats only (logs.json is not one)
    assert found == {"Claude Code": 3, "Codex": 4, "OpenCode": 4, "Gemini CLI": 2, "pi": 2, "Amp": 2}


def test_local_takes_no_path_and_no_format(env, store):
    for args in (["import", "--local", "x.jsonl"], ["import"], ["import", "--local", "--format", "codex"]):
        result = run(*args, "--db", str(store.path))
        assert result.exit_code == 2
        assert result.stderr == ("usage-tui: error: import takes a FILE|DIR|- or --local (which detects each "
                                 "agent's format), not both, not neither\n")


def test_local_on_each_engine(engine_store, tmp_path):
    """The same sessions into SQLite and PostgreSQL. Token sums by hand: Claude Code 15,835 /
    49,000 / 1,900 (tests/data/make_claude_code_samples.py), Codex 110 / 110 / 17, OpenCode
    161 / 30 / 242, Gemini 3,808 / 11,526 / 942, pi 120 / 10 / 50, Amp 1,601 / 23,572 / 270."""
    from usage_tui.ingest import local

    home = fake_home(tmp_path / "home")
    out, err = [], []
    code = local.run(engine_store, out=out.append, err=err.append, sources=discover({}, home), viewer="carol")
    assert code == 1 and len(err) == 1 and out[-1] == "imported 15, replaced 0, unchanged 0, rejected 1"
    totals = engine_store.totals()
    assert (totals["requests"], totals["prompt_tokens"], totals["cached_input_tokens"],
            totals["completion_tokens"]) == (15, 21_635, 84_248, 3_421)
