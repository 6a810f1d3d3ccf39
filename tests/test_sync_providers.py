"""Issue 25, `usage-tui sync openai|anthropic`: the admin reports fetched from a local fake
server (http.server in a thread, no network) serving the documented pages: paging through
has_more/next_page, 1-hour buckets, a 429 waited out for its Retry-After, a run stopped by an
error resumed from the last complete bucket, the key sent as each API documents."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from usage_tui.cli import cli
from usage_tui.providers_fetch import FetchError, provider, retry_after, sync_report

from .conftest import location
from .test_admin_reports import DIRECTORY

DATA = Path(__file__).parent / "data" / "reports"
USAGE_PAGES = json.loads((DATA / "anthropic_usage_report_pages.json").read_text())
COST_PAGE = json.loads((DATA / "anthropic_cost_report.json").read_text())
KEY = "sk-ant-admin01-test"


class FakeAPI:
    """Serves the fixtures' pages; `script` says what the next answers to a path are
    (429 with Retry-After, 500), then the pages as the real API pages them."""

    def __init__(self):
        self.seen: list[tuple[str, dict, dict]] = []
        self.script: dict[str, list[tuple[int, dict]]] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                api.seen.append((url.path, query, {k.lower(): v for k, v in self.headers.items()}))  # names are case-blind
                planned = api.script.get(url.path)
                if planned:
                    status, headers = planned.pop(0)
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(b'{"error": {"type": "rate_limit_error"}}')
                    return
                body = api.page(url.path, query)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def page(self, path, query):
        if path == "/v1/organizations/usage_report/messages":
            # a resumed run asks from 01:00: the second page's bucket is what comes next
            if query.get("page") == [USAGE_PAGES[0]["next_page"]] or query["starting_at"] == ["2025-08-01T01:00:00Z"]:
                return USAGE_PAGES[1]
            return USAGE_PAGES[0]
        if path == "/v1/organizations/cost_report":
            return COST_PAGE
        if path == "/v1/organization/usage/completions":
            return json.loads((DATA / "openai_usage_page.json").read_text())
        if path == "/v1/organization/costs":
            return json.loads((DATA / "openai_costs_page.json").read_text())
        return None

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    fake = FakeAPI()
    yield fake
    fake.close()


@pytest.fixture
def store(new_store):
    """On SQLite and on PostgreSQL."""
    s = new_store()
    s.load_directory(DIRECTORY)
    return s


NOW = datetime(2025, 8, 2, 0, 30, tzinfo=UTC)  # the 1st is complete, in hours and as a day
SINCE = datetime(2025, 8, 1, tzinfo=UTC)


def total(store):
    return store.execute("SELECT count(*), sum(cost_nano) FROM records").fetchone()


def test_anthropic_pages_a_429_and_the_headers(api, store):
    api.script["/v1/organizations/usage_report/messages"] = [(429, {"Retry-After": "7"})]
    waits = []
    prov = provider("anthropic")
    usage = sync_report(store, prov, prov.reports[0], KEY, SINCE, base=api.url, sleep=waits.append, now=lambda: NOW)
    assert waits == [7.0]
    assert (usage.pages, usage.imported, usage.rejected) == (2, 3, 0)
    asked = [(path, q) for path, q, _ in api.seen]
    assert len(asked) == 3  # the 429, page 1, page 2 (next_page sent back as `page`, as given)
    first = asked[1][1]
    assert first["starting_at"] == ["2025-08-01T00:00:00Z"] and first["ending_at"] == ["2025-08-02T00:00:00Z"]
    assert first["bucket_width"] == ["1h"] and "page" not in first
    assert first["group_by[]"] == ["api_key_id", "workspace_id", "model", "service_tier", "context_window"]
    assert asked[2][1]["page"] == [USAGE_PAGES[0]["next_page"]]
    headers = api.seen[1][2]
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    costs = sync_report(store, prov, prov.reports[1], KEY, SINCE, base=api.url, sleep=waits.append, now=lambda: NOW)
    assert (costs.pages, costs.imported) == (1, 4)
    # as the file import of the same reports (test_admin_reports): 7 records, 4.8 cents in all
    assert total(store) == (7, 48_000_000)
    # the positions: the end of the last complete bucket of each report
    assert store.cursors("sync:anthropic:") == {
        f"sync:anthropic:usage:{api.url}": "2025-08-02T00:00:00Z", f"sync:anthropic:costs:{api.url}": "2025-08-02T00:00:00Z"}
    again = sync_report(store, prov, prov.reports[0], KEY, SINCE, base=api.url, sleep=waits.append, now=lambda: NOW)
    assert again.pages == 0 and len(api.seen) == 4  # nothing new is complete: nothing asked


def test_a_run_stopped_by_an_error_resumes_from_the_last_complete_bucket(api, store):
    path = "/v1/organizations/usage_report/messages"
    prov = provider("anthropic")
    served = {"n": 0}
    original = api.page

    def failing_second(p, q):
        if p == path:
            served["n"] += 1
            if served["n"] == 2:
                return None  # 404: the run stops here
        return original(p, q)

    api.page = failing_second
    with pytest.raises(FetchError, match="HTTP 404"):
        sync_report(store, prov, prov.reports[0], KEY, SINCE, base=api.url, now=lambda: NOW)
    # page 1 (the 00:00 bucket) was written with its position: the end of that bucket
    assert store.cursor(f"sync:anthropic:usage:{api.url}") == "2025-08-01T01:00:00Z"
    assert total(store)[0] == 2
    api.page = original
    result = sync_report(store, prov, prov.reports[0], KEY, SINCE, base=api.url, now=lambda: NOW)
    assert api.seen[-1][1]["starting_at"] == ["2025-08-01T01:00:00Z"] and "page" not in api.seen[-1][1]
    assert (result.pages, result.imported) == (1, 1)
    assert total(store) == (3, 17_685_000 + 13_500_000 + 2_000_000)  # priced (no cost report yet)


def test_openai_through_the_cli_with_the_base_url_from_the_environment(api, store, tmp_path, monkeypatch):
    key_file = tmp_path / "admin.key"
    key_file.write_text("sk-admin-openai\n")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{api.url}/v1")
    result = CliRunner().invoke(cli, ["sync", "openai", "--admin-key-file", str(key_file), "--since", "2025-08-01",
                                      "--db", location(store), "--as", "alice"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("openai usage 2025-08-01T00:00:00Z → ") and lines[0].endswith(
        ": 1 pages, imported 1, replaced 0, unchanged 0, rejected 0")
    assert lines[1].endswith(": 1 pages, imported 3, replaced 0, unchanged 0, rejected 0")
    paths = [p for p, _, _ in api.seen]
    assert paths == ["/v1/organization/usage/completions", "/v1/organization/costs"]
    assert api.seen[0][2]["authorization"] == "Bearer sk-admin-openai"
    assert api.seen[0][1]["bucket_width"] == ["1h"] and api.seen[1][1]["bucket_width"] == ["1d"]
    assert api.seen[0][1]["start_time"] == [str(int(SINCE.timestamp()))]
    # as test_admin_reports: the model's $0.10 on its usage record, image models $0.50
    assert total(store) == (4, 600_000_000)


def test_bad_key_files_and_members_are_refused(api, store, tmp_path):
    empty = tmp_path / "empty.key"
    empty.write_text("\n")
    run = CliRunner().invoke
    result = run(cli, ["sync", "anthropic", "--admin-key-file", str(empty), "--since", "2025-08-01",
                       "--db", location(store), "--as", "alice"])
    assert result.exit_code == 2 and "no admin key in it" in result.stderr
    key = tmp_path / "k"
    key.write_text(KEY)
    result = run(cli, ["sync", "anthropic", "--admin-key-file", str(key), "--since", "yesterday",
                       "--db", location(store), "--as", "alice"])
    assert result.exit_code == 2 and "--since: not a date or time" in result.stderr
    assert api.seen == []


def test_retry_after_seconds_dates_and_bounds():
    now = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)
    assert retry_after("12", now) == 12.0
    assert retry_after("Mon, 07 Dec 2026 10:01:30 GMT", now) == 90.0
    assert retry_after("99999", now) == 3600.0
    assert retry_after("-5", now) == 0.0
    assert retry_after(None, now) == 30.0


def test_follow_polls_each_interval_until_interrupted(api, store, tmp_path, monkeypatch):
    from usage_tui.cli import sync_providers

    waits = []

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(sync_providers, "_sleep", sleep)
    key = tmp_path / "k"
    key.write_text(KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    result = CliRunner().invoke(cli, ["sync", "anthropic", "--admin-key-file", str(key), "--since", "2025-08-01",
                                      "--follow", "--interval", "60", "--db", location(store), "--as", "alice"])
    assert result.exit_code == 0, result.output
    assert waits == [60, 60]
    lines = result.stdout.splitlines()
    # two rounds of both reports (the second sleep is interrupted): the first read the pages, the
    # second found nothing new complete (the positions are at the last complete hour and day)
    assert len(lines) == 4 and lines[0].startswith("anthropic usage ") and lines[1].startswith("anthropic costs ")
    assert ": 2 pages, imported 3," in lines[0] and ": 1 pages, imported 4," in lines[1]
    assert all(": 0 pages," in line for line in lines[2:])
    assert total(store) == (7, 48_000_000)


def test_an_api_error_is_one_line_exit_2_and_a_member_is_refused(api, store, tmp_path, monkeypatch):
    key = tmp_path / "k"
    key.write_text(KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    api.script["/v1/organizations/usage_report/messages"] = [(401, {})]
    args = ["sync", "anthropic", "--admin-key-file", str(key), "--since", "2025-08-01", "--db", location(store)]
    result = CliRunner().invoke(cli, [*args, "--as", "alice"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"usage-tui: error: {api.url}/v1/organizations/usage_report/messages: HTTP 401 ")
    assert len(result.stderr.splitlines()) == 1 and KEY not in result.stderr
    api.page = lambda path, query: "<html>not json</html>"  # a proxy's error page with a 200
    result = CliRunner().invoke(cli, [*args, "--as", "alice"])
    assert result.exit_code == 2 and "the answer is not a page of buckets" in result.stderr
    seen = len(api.seen)
    result = CliRunner().invoke(cli, [*args, "--as", "bob"])
    assert result.exit_code == 3 and "bob may not sync the organization's anthropic reports" in result.stderr
    assert len(api.seen) == seen  # refused before asking anything


def test_has_more_without_a_token_is_an_error_not_a_silent_end(api, store):
    page = {**USAGE_PAGES[0], "next_page": None}  # has_more: true
    api.page = lambda path, query: page
    prov = provider("anthropic")
    with pytest.raises(FetchError, match="has_more without a next_page token"):
        sync_report(store, prov, prov.reports[0], KEY, SINCE, base=api.url, now=lambda: NOW)
    # the page read is written with its position: a rerun goes on from there
    assert store.cursor(f"sync:anthropic:usage:{api.url}") == "2025-08-01T01:00:00Z"
