"""`usage-tui sync openai` and `usage-tui sync anthropic`: a provider's admin reports (usage and
costs) fetched into the store from where the last run stopped (usage_tui/providers_fetch.py);
`--follow` keeps fetching. Registered on the `sync` group (cli/sync.py)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from .common import db_option, fail, handles_errors, identity_of, open_store, require_writable, viewer_option
from .sync import sync


def _since(value: str) -> datetime:
    """A UTC date (its midnight) or an ISO 8601 time; one without an offset is UTC."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since: not a date or time: {value!r} (e.g. 2026-12-01 or 2026-12-01T09:00:00Z)")
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _admin_key(path: Path) -> str:
    """The admin key, the file's first line: never shown, never taken from the command line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--admin-key-file {path}: {getattr(exc, 'strerror', None) or exc}")
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not key or any(c.isspace() or not c.isprintable() for c in key):
        fail(f"--admin-key-file {path}: no admin key in it (one line, the key alone)")
    return key


_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic"}
_sleep = time.sleep  # --follow's wait (a name of this module's own: tests replace it, not time.sleep)


def _command(name: str, key_doc: str):
    @sync.command(name, help=(
        f"Fetch {_NAMES[name]}'s usage and cost reports into the store, page by page, from where the last "
        "run stopped (its position is kept in the store) to the last complete bucket. A 429 is waited out "
        "(Retry-After). Exit 0, or 1 when some rows were rejected, 2 when the API could not be read. "
        "docs/importing.md says how the reports combine."))
    @click.option("--admin-key-file", "key_file", type=click.Path(path_type=Path, dir_okay=False), required=True,
                  help=f"A file holding the organization's admin key ({key_doc}).")
    @click.option("--since", "since", required=True, metavar="DATE",
                  help="Fetch from this UTC date or time on (a saved position later than it wins: a rerun "
                       "resumes from the last complete bucket).")
    @click.option("--bucket-width", type=click.Choice(["1h", "1d", "1m"]), default="1h", show_default=True,
                  help="The usage report's buckets (costs come in days).")
    @click.option("--follow", is_flag=True, help="Keep fetching: each --interval, what completed since.")
    @click.option("--interval", type=click.IntRange(10, 86_400), default=900, show_default=True, metavar="SECONDS",
                  help="With --follow, the wait between two fetches.")
    @db_option
    @viewer_option
    @handles_errors
    def command(key_file: Path, since: str, bucket_width: str, follow: bool, interval: int, db: Path | None,
                as_user: str | None) -> None:
        from ..providers_fetch import FetchError, provider, sync_report

        start = _since(since)
        key = _admin_key(key_file)
        store = open_store(db, create=True)
        require_writable(store)
        identity_of(store, as_user).require_admin(f"sync the organization's {name} reports")
        prov = provider(name, bucket_width)
        rejected = False
        try:
            while True:
                try:
                    for report in prov.reports:
                        result = sync_report(store, prov, report, key, start)
                        for reject in result.rejects:
                            click.echo(f"{reject.source}:{reject.line}: {reject.reason}", err=True)
                        click.echo(result.line(name))
                        rejected = rejected or bool(result.rejected)
                except FetchError as exc:
                    fail(str(exc))
                if not follow:
                    break
                _sleep(interval)
        except KeyboardInterrupt:  # --follow's way out: what was fetched is committed, with its position
            pass
        sys.exit(1 if rejected else 0)

    return command


openai = _command("openai", "Authorization: Bearer; base URL $OPENAI_BASE_URL, default https://api.openai.com/v1")
anthropic = _command("anthropic", "x-api-key with anthropic-version; base URL $ANTHROPIC_BASE_URL, default "
                     "https://api.anthropic.com")
