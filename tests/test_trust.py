"""Who sees what (README "Who sees what", issue 14): each line of the contract, in process.

Another OS user is played by replacing identity.process_uid and identity.os_login: the stores
of these tests belong to root (uid 0, who runs the tests), so a process uid of 4242 does not
own them. The end-to-end test with a real second OS user is tests/test_os_user_e2e.py.

The directory is tests/conftest.py's: alice is an org admin, bob, carol and dave are members,
carol administers the platform team; k_bob is bob's key, k_team carol's; bob has $10 weekly.
"""

from __future__ import annotations

import json
import os
import pwd
import stat

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from usage_tui import identity
from usage_tui.cli import cli
from usage_tui.server import create_server_app
from usage_tui.store import Store

from .conftest import write

NOW = "2026-11-24T12:00:00Z"
OTHER_UID = 4242  # not root, not the stores' owner


@pytest.fixture
def become(monkeypatch):
    """Play the OS user `login` (uid OTHER_UID unless told); $USER and $LOGNAME say otherwise."""
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    monkeypatch.delenv("USAGE_TUI_USER", raising=False)
    monkeypatch.delenv("USAGE_TUI_DB", raising=False)
    monkeypatch.setenv("USAGE_TUI_NOW", NOW)

    def play(login: str, uid: int = OTHER_UID) -> None:
        monkeypatch.setattr(identity, "process_uid", lambda: uid)
        monkeypatch.setattr(identity, "os_login", lambda uid=None: login)

    return play


@pytest.fixture
def db(store):
    # bob $12 this week (over his $10), alice $3, carol $1 through her key
    write(store,
          {"id": "b1", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 12.0},
          {"id": "a1", "ts": "2026-11-23T11:00:00Z", "provider": "p", "model": "m", "user": "alice", "cost_usd": 3.0},
          {"id": "c1", "ts": "2026-11-23T12:00:00Z", "provider": "p", "model": "m", "key": "k_team", "cost_usd": 1.0})
    store.close()
    return str(store.path)


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env)


def summary(db: str, *args: str, env: dict | None = None) -> dict:
    result = run("spend", "summary", "--db", db, "--format", "json", "--since", "2026-11-20",
                 "--until", "2026-11-24", *args, env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- 1. the viewer comes from the process's uid; impersonation is for admins and the owner ----------
def test_os_login_comes_from_the_uid_not_the_environment(monkeypatch):
    monkeypatch.setenv("USER", "alice")
    monkeypatch.setenv("LOGNAME", "alice")
    assert identity.os_login(os.getuid()) == pwd.getpwuid(os.getuid()).pw_name
    assert identity.os_login(65534) == "nobody"  # Debian's nobody: the password database, not $USER
    assert identity.os_login(3_999_999) == "uid-3999999"  # no entry: a name no login matches


def test_the_viewer_is_the_directory_user_of_the_os_login(db, become):
    become("bob")  # $USER=alice changes nothing
    assert summary(db)["viewer"] == "bob"
    assert summary(db)["totals"]["cost_usd"] == 12.0  # bob's own b1


def test_a_member_may_not_impersonate(db, become):
    become("bob")
    by_option = run("spend", "summary", "--db", db, "--as", "alice")
    assert (by_option.exit_code, by_option.stderr) == (
        3, "usage-tui: error: bob (OS login bob) may not act as alice with --as: only org admins and "
           "the store's owner may\n")
    by_env = run("budget", "set", "bob", "--limit-usd", "1000", "--window", "weekly", "--db", db,
                 env={"USAGE_TUI_USER": "alice"})
    assert (by_env.exit_code, by_env.stderr) == (
        3, "usage-tui: error: bob (OS login bob) may not act as alice with USAGE_TUI_USER: only org "
           "admins and the store's owner may\n")
    assert run("budget", "status", "--db", db, "--as", "alice").exit_code == 3
    assert run("budget", "check", "alice", "--db", db, env={"USAGE_TUI_USER": "alice"}).exit_code == 3
    assert summary(db, "--as", "bob")["viewer"] == "bob"  # naming yourself is not impersonating


def test_an_org_admin_and_the_store_owner_may_impersonate(db, become):
    become("alice")  # an org admin by OS login, not the owner
    assert summary(db, "--as", "bob")["totals"]["cost_usd"] == 12.0
    become("ops", uid=0)  # the owner (root here), not in the directory
    assert summary(db)["viewer"] == "ops"
    assert summary(db)["totals"]["cost_usd"] == 0  # ops has no usage, and no wider scope by itself
    assert run("spend", "summary", "--db", db, "--scope", "org").exit_code == 3
    # as alice, the org scope: $12 + $3 + $1 = $16
    assert summary(db, "--scope", "org", env={"USAGE_TUI_USER": "alice"})["totals"]["cost_usd"] == 16.0


def test_sample_makes_the_os_login_alice(tmp_path, become):
    become("zed", uid=os.getuid())
    path = str(tmp_path / "demo.db")
    built = run("sample", "--events", "50", "--db", path)
    assert built.exit_code == 0, built.output
    assert "You are alice (org admin)" in built.stdout
    assert summary(path)["viewer"] == "alice"
    users = Store(path).directory().users
    assert users["alice"].login == "zed"


# -- 2. administrative commands: an org admin or the store's owner -------------------------------------
def test_a_member_may_not_administer(db, become, tmp_path):
    become("bob")
    hostile = tmp_path / "hostile.toml"
    hostile.write_text('[[users]]\nid = "bob"\nlogin = "bob"\nrole = "org_admin"\n')
    refusals = {
        ("directory", "load", str(hostile)): "bob may not load the directory",
        ("budget", "set", "bob", "--limit-usd", "1000", "--window", "weekly"): "bob may not set budgets",
        ("rejects",): "bob may not read the rejected lines",
        ("sample", "--force", "--events", "10"): "bob may not rebuild the store",
    }
    for args, message in refusals.items():
        result = run(*args, "--db", db)
        assert (result.exit_code, result.stderr) == (
            3, f"usage-tui: error: {message} (org admins or the store's owner only)\n"), args
    # nothing changed: bob is still a member over his $10 budget, every record is there
    store = Store(db)
    assert store.directory().users["bob"].role == "member"
    assert store.budget_overrides() == {} and store.record_count() == 3


def test_admins_and_the_owner_administer(db, become, tmp_path):
    become("alice")  # org admin, not the owner
    assert run("budget", "set", "dave", "--limit-usd", "5", "--window", "daily", "--db", db).exit_code == 0
    assert run("rejects", "--db", db).stdout == "No rejected lines.\n"
    become("ops", uid=0)  # the owner, in no directory
    assert run("rejects", "--db", db).exit_code == 0
    assert run("budget", "set", "carol", "--limit-usd", "7", "--window", "weekly", "--db", db).exit_code == 0
    # the owner acting as bob has bob's rights
    as_bob = run("budget", "set", "carol", "--limit-usd", "9", "--window", "weekly", "--db", db, "--as", "bob")
    assert as_bob.exit_code == 3
    assert Store(db).budget_overrides() == {"dave": (5.0, "daily"), "carol": (7.0, "weekly")}


# -- 3. a member's import adds only their own usage ------------------------------------------------------
def test_a_member_imports_only_their_own_usage(db, become, tmp_path):
    become("bob")
    lines = [
        {"id": "n1", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "cost_usd": 2.0},  # no identity
        {"id": "n2", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "user": "alice", "cost_usd": 999999},
        {"id": "n3", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "key": "k_team", "cost_usd": 1.0},
        {"id": "b1", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 0.0},
        {"id": "a1", "ts": "2026-11-23T11:00:00Z", "provider": "p", "model": "m", "user": "bob", "cost_usd": 0.0},
        {"id": "n4", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "key": "k_bob", "cost_usd": 0.5},
        {"id": "n5", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "agent": "bot", "cost_usd": 0.5},
    ]
    source = tmp_path / "mine.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run("import", str(source), "--db", db)
    assert result.exit_code == 1
    assert result.stdout == "imported 2, replaced 0, unchanged 0, rejected 5\n"
    expected_rejects = [  # in line order
        f"{source}:2: bob may not import usage attributed to alice",
        f"{source}:3: bob may not import usage attributed to carol",  # k_team's owner
        f'{source}:4: bob may not replace record "b1", their own: only org admins and the store\'s owner '
        "replace stored usage",  # his week at $0 would lift his budget
        f'{source}:5: bob may not replace record "a1", attributed to alice',
        f"{source}:7: bob may not import usage attributed to dave",  # the agent bot's manager
    ]
    assert result.stderr.splitlines() == expected_rejects
    store = Store(db)
    users = {rid: user for rid, user in store.conn.execute("SELECT id, user FROM records")}
    # n1 became bob's, n4 is his key's; alice's a1, carol's c1 and bob's own b1 untouched
    assert users == {"b1": "bob", "a1": "alice", "c1": "carol", "n1": "bob", "n4": "bob"}
    cost = dict(store.conn.execute("SELECT id, cost_nano FROM records"))
    assert (cost["a1"], cost["b1"]) == (3_000_000_000, 12_000_000_000)
    store.close()
    # still over budget: $12 (b1) + $2 (n1) + $0.50 (n4) = $14.50 ≥ $10
    assert run("budget", "check", "bob", "--db", db).exit_code == 75
    # importing the same file again: what he added is unchanged (identical), the rest refused again
    again = run("import", str(source), "--db", db)
    assert (again.exit_code, again.stdout) == (1, "imported 0, replaced 0, unchanged 2, rejected 5\n")
    assert again.stderr.splitlines() == expected_rejects
    refused = run("import", str(source), "--db", db, "--user", "alice")
    assert (refused.exit_code, refused.stderr) == (3, "usage-tui: error: bob may not import usage attributed to alice\n")


def test_admins_and_the_owner_import_anything(db, become, tmp_path):
    source = tmp_path / "any.jsonl"
    source.write_text(json.dumps({"id": "x1", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m",
                                  "user": "carol", "cost_usd": 1.0}) + "\n")
    become("alice")
    assert run("import", str(source), "--db", db).stdout == "imported 1, replaced 0, unchanged 0, rejected 0\n"
    become("ops", uid=0)
    source.write_text(json.dumps({"id": "b1", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m",
                                  "user": "bob", "cost_usd": 1.0}) + "\n")
    assert run("import", str(source), "--db", db).stdout == "imported 0, replaced 1, unchanged 0, rejected 0\n"


# -- 4. the file is the wall ---------------------------------------------------------------------------
def test_new_stores_are_owner_only(tmp_path):
    store = Store(tmp_path / "new.db")
    write(store, {"id": "r", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "cost_usd": 1.0})
    for name in ("new.db", "new.db-wal", "new.db-shm"):  # the writer is still connected: all three exist
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    store.close()


# -- budget check: one rule for unknown users (issue 13) ------------------------------------------------
def test_budget_check_tells_only_admins_who_is_unknown(db, become):
    become("bob")  # a member: the no-budget answer, as /check without the token
    member = run("budget", "check", "nobody", "--db", db)
    assert (member.exit_code, member.stdout) == (0, "200 OK\n")
    become("alice")
    admin = run("budget", "check", "nobody", "--db", db)
    assert (admin.exit_code, admin.stderr) == (
        2, 'usage-tui: error: unknown user "nobody" (not in the directory, no budget)\n')


# -- 5, 6, 7. HTTP ---------------------------------------------------------------------------------------
TOKEN = "s3cret-admin-token"
BOB_DECISION = {"user": "bob", "over": True, "retry_after_s": 471_600, "window_end": "2026-11-30T00:00:00+01:00"}
NO_BUDGET = {"over": False, "retry_after_s": None, "window_end": None}


@pytest.fixture
def http(db, become):
    become("ops", uid=0)
    with TestClient(create_server_app(db, token=TOKEN)) as client:
        yield client


def test_check_without_the_token_answers_only_the_decision(http):
    # bob: $12 ≥ $10 this week; Retry-After from Tue 12:00Z to Sun 23:00Z = 5 d 11 h = 471,600 s
    over = http.get("/v1/budget/check", params={"user": "bob"})
    assert (over.status_code, over.headers["retry-after"], over.json()) == (429, "471600", BOB_DECISION)
    # a known user without a budget and a user nobody knows: the same answer
    for user in ("alice", "nosuchuser"):
        r = http.get("/v1/budget/check", params={"user": user})
        assert (r.status_code, r.json()) == (200, {"user": user, **NO_BUDGET})
    wrong = http.get("/v1/budget/check", params={"user": "bob"}, headers={"Authorization": "Bearer guess"})
    assert wrong.json() == BOB_DECISION


def test_check_with_the_token_answers_the_status(http):
    admin = {"Authorization": f"Bearer {TOKEN}"}
    over = http.get("/v1/budget/check", params={"user": "bob"}, headers=admin)
    assert (over.status_code, over.json()["spent_usd"], over.json()["limit_usd"]) == (429, 12.0, 10.0)
    unknown = http.get("/v1/budget/check", params={"user": "nosuchuser"}, headers=admin)
    assert (unknown.status_code, unknown.json()) == (
        404, {"error": 'unknown user "nosuchuser" (not in the directory, no budget)'})


def test_a_repeated_query_parameter_is_a_400(http):
    for query in ("user=bob&user=alice", "user=alice&user=bob", "user=bob&x=1&x=2"):
        r = http.get(f"/v1/budget/check?{query}")
        assert r.status_code == 400, query
    assert http.get("/v1/budget/check?user=bob&user=alice").json() == {
        "error": "query parameter given more than once: user"}


def test_the_user_header_is_read_only_when_trusted(db, become):
    become("ops", uid=0)
    with TestClient(create_server_app(db)) as plain:
        assert plain.get("/v1/budget/auth", headers={"X-User": "bob"}).status_code == 403  # no key
    with TestClient(create_server_app(db, trust_user_header=True)) as trusted:
        over = trusted.get("/v1/budget/auth", headers={"X-User": "bob"})
        assert (over.status_code, over.headers["retry-after"]) == (403, "471600")
        assert trusted.get("/v1/budget/auth", headers={"X-User": "alice"}).status_code == 204
        unknown = trusted.get("/v1/budget/auth", headers={"X-User": "mallory"})
        assert (unknown.status_code, unknown.json()) == (403, {"error": 'unknown user "mallory" in X-User'})
    with TestClient(create_server_app(db, allow_unknown_keys=True)) as lenient:
        assert lenient.get("/v1/budget/auth").status_code == 204
        assert lenient.get("/v1/budget/auth", headers={"x-api-key": "sk-unknown"}).status_code == 204
        assert lenient.get("/v1/budget/auth", headers={"x-api-key": "k_bob"}).status_code == 403  # known: decides


@pytest.mark.parametrize("breakage", ["bad clock", "store gone", "store corrupt"])
def test_internal_errors_are_503_everywhere(db, become, monkeypatch, breakage):
    become("ops", uid=0)
    with TestClient(create_server_app(db, token=TOKEN)) as client:
        if breakage == "bad clock":
            monkeypatch.setenv("USAGE_TUI_NOW", "not-a-time")
        elif breakage == "store gone":
            os.remove(db)
        else:
            with open(db, "r+b") as f:
                f.write(b"\0" * 4096)  # the header and first page: no longer SQLite
        answers = {
            "check": client.get("/v1/budget/check", params={"user": "bob"}),
            "check (admin)": client.get("/v1/budget/check", params={"user": "bob"},
                                        headers={"Authorization": f"Bearer {TOKEN}"}),
            "auth": client.get("/v1/budget/auth", headers={"x-api-key": "k_bob"}),
            "healthz": client.get("/healthz"),
        }
    for name, r in answers.items():
        assert r.status_code == 503, (name, r.status_code, r.text)
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert isinstance(body.get("error"), str) and body["error"], (name, body)


# -- review: a directory id is never a login ----------------------------------------------------------
def test_a_login_that_is_only_a_directory_id_gets_no_role(tmp_path, directory_doc, become):
    """Reviewer's repro: directory user id "nobody" is an org admin (and a team admin) with login
    "nob.adm"; the OS user nobody is not listed by login. Acting as "nobody" would take that
    user's roles, so every command is refused (exit 3), impersonation included."""
    directory_doc["users"].append({"id": "nobody", "login": "nob.adm", "role": "org_admin", "teams": []})
    directory_doc["teams"][1]["admins"] = ["nobody"]
    s = Store(tmp_path / "squat.db")
    s.load_directory(directory_doc)
    write(s, {"id": "x1", "ts": "2026-11-23T10:00:00Z", "provider": "p", "model": "m", "user": "nobody",
              "team": "research", "cost_usd": 4.0})
    s.close()
    db = str(tmp_path / "squat.db")
    become("nobody")
    refusal = ('usage-tui: error: OS login nobody is not in the directory, and the directory user "nobody" '
               "has login nob.adm: refusing to act as them (list your login in the directory)\n")
    for args in (("--scope", "org"), ("--scope", "team", "--team", "research"), ("--as", "alice"), ()):
        result = run("spend", "summary", "--db", db, *args)
        assert (result.exit_code, result.stderr) == (3, refusal), args
    assert run("budget", "status", "--db", db, "--all").exit_code == 3
    # a login that is neither a login nor an id in the directory: personal scope, no role
    become("zed")
    assert summary(db)["viewer"] == "zed"
    assert run("spend", "summary", "--db", db, "--scope", "org").exit_code == 3
    assert run("spend", "summary", "--db", db, "--as", "alice").exit_code == 3
    # the store's owner not listed by login may still name a viewer explicitly
    become("nobody", uid=0)
    assert summary(db, "--as", "alice", "--scope", "org")["totals"]["cost_usd"] == 4.0


def test_a_member_may_not_charge_another_team_or_anothers_key(db, become, tmp_path):
    """Reviewer's repro: bob (team platform) imported a record charged to another team and one
    on alice's key with himself as user; both were accepted. A member's record must carry one of
    their teams (or none) and a key that is theirs or unknown to the directory."""
    become("bob")
    row = {"ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m"}
    lines = [
        {"id": "n2", **row, "team": "research", "cost_usd": 500},            # not bob's team
        {"id": "n3", **row, "user": "bob", "key": "k_team", "cost_usd": 700},  # carol's key
        {"id": "n4", **row, "user": "bob", "key": "k_orphan", "cost_usd": 1},  # a known key nobody owns
        {"id": "n5", **row, "team": "platform", "key": "k_bob", "cost_usd": 2},  # his team, his key
        {"id": "n6", **row, "key": "gk_unknown", "cost_usd": 3},               # a key the directory doesn't know
    ]
    source = tmp_path / "charge.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = run("import", str(source), "--db", db)
    assert (result.exit_code, result.stdout) == (1, "imported 2, replaced 0, unchanged 0, rejected 3\n")
    assert result.stderr.splitlines() == [
        f'{source}:1: bob may not import usage charged to team "research": only their own teams',
        f'{source}:2: bob may not import usage on key "k_team" (carol\'s): only their own keys',
        f'{source}:3: bob may not import usage on key "k_orphan" (not theirs): only their own keys',
    ]
    store = Store(db)
    assert sorted(r[0] for r in store.conn.execute("SELECT id FROM records")) == ["a1", "b1", "c1", "n5", "n6"]
    store.close()
    source.write_text(json.dumps({"id": "n7", **row, "cost_usd": 1}) + "\n")
    refused = run("import", str(source), "--db", db, "--team", "research")
    assert (refused.exit_code, refused.stderr) == (
        3, 'usage-tui: error: bob may not import usage charged to team "research": only their own teams\n')
    assert run("import", str(source), "--db", db, "--team", "platform").exit_code == 0


def test_auth_refuses_two_different_gateway_keys(db, become):
    """Reviewer's repro: `Authorization: Bearer <a key within budget>` beside `x-api-key: <bob's
    key, over budget>` answered 204 (the bearer key won) while bob's key alone is 403. Two
    different keys are a 403 (fail closed), whatever the server's options; one key sent in both
    headers is that key."""
    become("ops", uid=0)
    both = {"Authorization": "Bearer k_team", "x-api-key": "k_bob"}
    for options in ({}, {"allow_unknown_keys": True}, {"trust_user_header": True}):
        with TestClient(create_server_app(db, **options)) as client:
            assert client.get("/v1/budget/auth", headers={"x-api-key": "k_bob"}).status_code == 403
            assert client.get("/v1/budget/auth", headers={"Authorization": "Bearer k_team"}).status_code == 204
            refused = client.get("/v1/budget/auth", headers={**both, "X-User": "alice"})
            assert (refused.status_code, refused.json()) == (
                403, {"error": "two different gateway keys (Authorization: Bearer and x-api-key)"}), options
            same = client.get("/v1/budget/auth", headers={"Authorization": "Bearer k_bob", "x-api-key": "k_bob"})
            assert (same.status_code, same.headers["retry-after"]) == (403, "471600"), options


def test_a_members_refused_record_keeps_its_raw_line(db, become, tmp_path):
    """Reviewer's repro: the rejects table kept only {"id", "user"} of a member's refused record;
    architecture §8 keeps the raw text (bounded to 1,024 characters as every reject is)."""
    become("bob")
    row = {"id": "n2", "ts": "2026-11-24T08:00:00Z", "provider": "p", "model": "m", "user": "alice",
           "cost_usd": 5.0, "note": "alice secret project"}
    long_row = {**row, "id": "n3", "note": "x" * 2000}
    source = tmp_path / "theirs.jsonl"
    source.write_text(json.dumps(row) + "\n" + json.dumps(long_row) + "\n")
    assert run("import", str(source), "--db", db).exit_code == 1
    table = tmp_path / "theirs.csv"
    table.write_text("id,ts,provider,model,user,cost_usd\nn4,2026-11-24T08:00:00Z,p,m,alice,5\n")
    assert run("import", str(table), "--db", db).exit_code == 1
    store = Store(db)
    kept = {(r["line"], r["raw"]) for r in store.rejects()}
    store.close()
    long_text = json.dumps(long_row)
    assert kept == {
        (1, json.dumps(row)),
        (2, f"{long_text[:1024]}… [{len(long_text):,} characters in all, first 1,024 kept]"),
        (2, "n4,2026-11-24T08:00:00Z,p,m,alice,5"),
    }


def test_the_store_owner_reads_the_budgets_they_set(db, become):
    """Reviewer's repro: as root not in the directory (the store's owner), `budget set` worked but
    `budget status bob` and `budget status --all` were exit 3. Who may set budgets may read them."""
    become("ops", uid=0)
    assert run("budget", "set", "carol", "--limit-usd", "7", "--window", "weekly", "--db", db).exit_code == 0
    bob = run("budget", "status", "bob", "--db", db, "--format", "json")
    assert bob.exit_code == 0, bob.output
    # bob: $12 (b1) of his $10 weekly budget
    assert (json.loads(bob.stdout)["spent_usd"], json.loads(bob.stdout)["limit_usd"]) == (12.0, 10.0)
    every = run("budget", "status", "--all", "--db", db, "--format", "json")
    assert every.exit_code == 0, every.output
    # carol's $1 is through her key k_team
    assert {s["user"]: (s["spent_usd"], s["limit_usd"]) for s in json.loads(every.stdout)["budgets"]} == {
        "bob": (12.0, 10.0), "carol": (1.0, 7.0)}
    # as bob, the owner has bob's rights: his own budget only
    assert run("budget", "status", "carol", "--db", db, "--as", "bob").exit_code == 3


def test_a_login_shared_by_two_stored_users_is_refused(tmp_path, directory_doc, become):
    """`directory load` refuses two users with one login (tests/test_bad_input.py); a directory
    stored before that check (load_directory does not check) may hold them: refused, not the
    first one taken."""
    directory_doc["users"].append({"id": "bob2", "login": "bob", "role": "org_admin", "teams": []})
    s = Store(tmp_path / "twice.db")
    s.load_directory(directory_doc)
    s.close()
    become("bob")
    result = run("spend", "summary", "--db", str(tmp_path / "twice.db"))
    assert (result.exit_code, result.stderr) == (
        3, "usage-tui: error: OS login bob is the login of 2 directory users (bob, bob2): refusing to pick one "
           "(fix the directory: one login, one user)\n")
