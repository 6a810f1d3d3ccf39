"""`usage-tui import --follow PATH`: the follower (ingest/follow.py) in a terminal. A status
line on stderr (records/s, lag); Ctrl-C stops after the pass being written; the totals on
stdout."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import click

from ..identity import OwnUsageOnly
from ..store import UsageStore
from .common import notice


def follow_path(store: UsageStore, path: str, fmt: str, *, user: str | None, team: str | None, viewer: str,
                guard: OwnUsageOnly | None) -> int:
    """Follow until interrupted; returns the exit code (1 when some line was rejected).
    USAGE_TUI_FOLLOW_POLL=1 looks every second instead of waiting for file events (file systems
    whose changes raise none: NFS, SMB, some container mounts)."""
    from ..ingest.follow import Follower, FollowTotals

    follower = Follower(store, path, fmt, user=user, team=team, viewer=viewer, guard=guard,
                        on_reject=lambda j: click.echo(f"{j.source}:{j.line}: {j.reason}", err=True),
                        on_skip=lambda f: click.echo(f"{f}: skipped (not a recognised usage file)", err=True))
    stop = threading.Event()
    tty = sys.stderr.isatty()
    started = time.monotonic()
    total = FollowTotals()

    def interrupted(*_: object) -> None:
        if stop.is_set():  # a second Ctrl-C: at once (the pass being written rolls back, its positions too)
            raise KeyboardInterrupt
        stop.set()

    def status(passed: FollowTotals) -> None:
        total.add(passed)
        if not passed.files:
            return
        rate = passed.records / max(time.monotonic() - status.last, 1e-3)
        status.last = time.monotonic()
        line = (f"{time.strftime('%H:%M:%S')} {total.line()} ({rate:,.0f} records/s, "
                f"lag {passed.lag_s:.2f} s, {len(follower.positions)} files)")
        if tty:
            click.echo(f"\r\x1b[Kusage-tui: following {path}: {line}", err=True, nl=False)
        else:
            notice(f"following {path}: {line}")

    status.last = started  # type: ignore[attr-defined]
    previous = {s: signal.signal(s, interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    if tty:
        click.echo(f"usage-tui: following {path} (Ctrl-C stops)", err=True)
    try:
        follower.run(stop, status, poll=os.environ.get("USAGE_TUI_FOLLOW_POLL") == "1", on_notice=notice)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if tty:
            click.echo("", err=True)
    click.echo(total.line())
    return 1 if total.rejected else 0


def followed_before(store: UsageStore, path: str | None) -> bool:
    """Whether `import --follow` kept positions for PATH (a file, or files of a folder) in this store."""
    from ..ingest.follow_positions import cursor_name

    if path in (None, "-") or not Path(path).exists():
        return False
    base = cursor_name(path)
    return any(name == base or name.startswith(base + os.sep) for name in store.cursors(base))


def import_new(store: UsageStore, path: str, fmt: str, *, user: str | None, team: str | None, viewer: str,
               guard: OwnUsageOnly | None) -> int:
    """A plain import of followed files: what was added since their positions, and files new to
    the folder (what came before the positions is in the store already, unchanged)."""
    from ..ingest.follow import Follower

    follower = Follower(store, path, fmt, user=user, team=team, viewer=viewer, guard=guard,
                        on_reject=lambda j: click.echo(f"{j.source}:{j.line}: {j.reason}", err=True),
                        on_skip=lambda f: click.echo(f"{f}: skipped (not a recognised usage file)", err=True))
    notice(f"{path} was followed (import --follow): reading only what was added since the positions it kept")
    total = follower.catch_up()
    click.echo(total.line())
    return 1 if total.rejected else 0
