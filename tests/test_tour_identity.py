"""The README's tour keeps you alice (issue 27): `usage-tui sample` makes you alice, the org
admin; loading sample_data/directory.toml, as the tour does next, used to give alice back the
login `alice` and leave you nobody (org scope refused, your personal view $0.00). The demo
directory as shipped, loaded onto the demo store, now keeps alice's login yours; any other
directory, or the demo one onto a store that is not the demo, is loaded as written."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.identity import os_login

DEMO = Path(__file__).resolve().parent.parent / "sample_data" / "directory.toml"
NOTE = (f"usage-tui: the demo directory on the demo store: alice's login stays {os_login()} (yours), "
        "as `usage-tui sample` set it\n")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def org_requests(db: str):
    result = run("spend", "summary", "--scope", "org", "--metric", "requests", "--format", "json", "--db", db)
    return result.exit_code, json.loads(result.stdout)["totals"]["requests"] if result.exit_code == 0 else None


def test_the_tour_in_its_order_keeps_you_alice(tmp_path, monkeypatch):
    monkeypatch.setenv("USAGE_TUI_NOW", "2026-11-24T12:00:00Z")
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    db = str(tmp_path / "usage.db")
    assert run("sample", "--events", "300", "--db", db).exit_code == 0
    assert org_requests(db) == (0, 300 + 31)  # the events and bob's burst
    loaded = run("directory", "load", str(DEMO), "--db", db)
    assert (loaded.exit_code, loaded.stderr) == (0, NOTE)
    assert org_requests(db) == (0, 331)  # still alice: the org scope is yours
    # a directory of your own, made from the demo's (alice's login edited), is loaded as written
    own = tmp_path / "own.toml"
    own.write_text(DEMO.read_text().replace('login = "alice"', 'login = "alice-elsewhere"'))
    loaded = run("directory", "load", str(own), "--db", db)
    assert (loaded.exit_code, loaded.stderr) == (0, "")
    assert org_requests(db)[0] == 3  # you are nobody now: the org scope is refused


def test_onto_a_store_that_is_not_the_demo_the_demo_directory_is_loaded_as_written(tmp_path, monkeypatch):
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    db = str(tmp_path / "usage.db")
    loaded = run("directory", "load", str(DEMO), "--db", db)  # a new store, not the demo
    assert (loaded.exit_code, loaded.stderr) == (0, "")
    assert org_requests(db)[0] == (0 if os_login() == "alice" else 3)  # alice is the login `alice`
