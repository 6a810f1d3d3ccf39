"""`usage-tui sync litellm --from DSN`: tail LiteLLM's own database (ingest/litellm_sync.py).
Progress and status go to stderr; the summary line to stdout."""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from .common import (
    db_option,
    fail,
    handles_errors,
    identity_of,
    notice,
    open_store,
    require_writable,
    viewer_option,
)
from .sync import sync

_DURATION = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)\s*(ms|s|m|h|d)?")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, None: 1}
MAX_OVERLAP = timedelta(days=7)  # a window larger than this is re-read on every poll: a typo


def parse_duration(value: str, name: str, low_s: float, high_s: float) -> float:
    """`10m`, `90s`, `1h`, `1d`, `500ms`, or seconds; bounded (one line naming the option otherwise)."""
    match = _DURATION.fullmatch((value or "").strip())
    if not match:
        fail(f'{name}: "{value}" is not a duration (e.g. 10s, 10m, 1h)')
    seconds = float(match[1]) * _UNIT_S[match[2]]
    if not low_s <= seconds <= high_s:
        fail(f"{name}: {value} is out of range ({low_s:g} s to {high_s:g} s)")
    return seconds


def parse_since(value: str) -> datetime:
    """A date (its UTC midnight) or an ISO 8601 time (UTC unless it names its offset), as the
    naive UTC time LiteLLM's TIMESTAMP(3) columns hold."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f'--since: "{value}" is not a date (YYYY-MM-DD) or an ISO 8601 time')
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


@sync.command("litellm")
@click.option("--from", "dsn", required=True, metavar="DSN",
              help="LiteLLM's database, as its DATABASE_URL: postgresql://USER:PASSWORD@HOST:PORT/DB "
                   "(?schema=NAME for tables outside the default schema). Read only.")
@click.option("--since", metavar="DATE", default=None,
              help="Where the first run starts (YYYY-MM-DD, UTC): default all of the table. Later runs "
                   "go on from the position kept in the store.")
@click.option("--overlap", metavar="DURATION", default="10m", show_default=True,
              help="How far behind its position each pass looks again for rows LiteLLM committed late "
                   "(it writes spend logs in batches, after the request's startTime).")
@click.option("--follow", is_flag=True, help="Keep reading new rows until interrupted (Ctrl-C).")
@click.option("--every", metavar="DURATION", default="10s", show_default=True, help="With --follow: how often.")
@db_option
@viewer_option
@handles_errors
def sync_litellm(dsn: str, since: str | None, overlap: str, follow: bool, every: str, db: Path | None,
                 as_user: str | None) -> None:
    """Read LiteLLM's LiteLLM_SpendLogs table into the store, from where the last run stopped.

    Rows are mapped as `import` maps LiteLLM's exports, keyed by request_id (read twice, a row
    is unchanged). Org admins and the store's owner only: the rows are everyone's usage.
    """
    from ..ingest.litellm_sync import SpendLogSync, SyncTotals
    from ..store.litellm_spendlogs import SpendLogs, SpendLogsError, parse_source

    window = timedelta(seconds=parse_duration(overlap, "--overlap", 0, MAX_OVERLAP.total_seconds()))
    period = parse_duration(every, "--every", 0.1, 86_400)
    start = parse_since(since) if since is not None else None
    store = open_store(db, create=True)
    identity_of(store, as_user).require_admin("sync LiteLLM's usage into the store")
    require_writable(store)
    try:
        logs = SpendLogs(parse_source(dsn))
    except SpendLogsError as exc:
        fail(str(exc))
    syncer = SpendLogSync(store, logs, overlap=window, since=start)
    if syncer.position is not None and start is not None:
        notice(f"--since is for the first run: going on from {syncer.position.start.isoformat()} "
               "(the position kept in the store)")
    stop = threading.Event()
    shown = sys.stderr.isatty()

    def progress(so_far: SyncTotals) -> None:
        if shown:
            click.echo(f"\rusage-tui: {logs.source.shown}: {syncer.total.rows:,} rows read…", err=True,
                       nl=False)

    def interrupted(*_: object) -> None:
        if stop.is_set():  # a second Ctrl-C: now (the page being written rolls back, its position too)
            raise KeyboardInterrupt
        stop.set()  # the first: after the page being written

    previous = signal.signal(signal.SIGINT, interrupted) if follow else None
    try:
        while True:
            began = time.monotonic()
            try:
                if logs.broken:
                    logs.reconnect()
                passed = syncer.run_once(on_page=progress)
            except SpendLogsError as exc:
                if not follow:
                    fail(str(exc))
                notice(f"{exc}; trying again in {period:g} s")  # a restarted database is not the end
                passed = SyncTotals()
            if shown:
                click.echo("\r\x1b[K", err=True, nl=False)
            if follow and (passed.rows or shown):
                at = syncer.position.start.isoformat(timespec="seconds") if syncer.position else "-"
                notice(f"{time.strftime('%H:%M:%S')} {passed.line()} (at {at}, "
                       f"{passed.rows / max(time.monotonic() - began, 1e-6):,.0f} rows/s)")
            if not follow or stop.wait(period):
                break
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        logs.close()
    # every page committed, a pass cut short by a database error included
    click.echo(syncer.total.line())
    sys.exit(1 if syncer.total.rejected else 0)
