"""`usage-tui import` (files, folders, stdin) and `usage-tui rejects` (the lines it refused)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..identity import OwnUsageOnly
from ..model import FORMAT_NAMES, REJECT_EXCERPT_CHARS, excerpt
from ..query import ScopeError
from .common import db_option, fail, handles_errors, identity_of, open_store, require_writable, viewer_option

REJECTS_LIMIT_MAX = 1_000_000  # lines one `rejects` lists, at most


def _native_fields_help() -> str:
    """The native fields as `import --help` lists them (\b keeps click from rewrapping them)."""
    from ..ingest.native import FIELDS
    width = max(len(name) for name, _, _ in FIELDS)
    lines = [f"  {name:<{width}}  {meaning} [{unit}]" for name, unit, meaning in FIELDS]
    return ("Native records are JSON lines, or CSV with these column names. Other fields are kept as "
            "metadata, but a token count under another name (input_tokens, output_tokens, any *tokens* "
            "name on a line with none of the four token fields) is a reject.\n\n\b\n"
            + "\n".join(lines) + "\n\nEvery format, where each tool keeps it by default and what is inferred: "
            "docs/importing.md.")


@click.command("import", epilog=_native_fields_help())
@click.argument("path", metavar="FILE|DIR|-", required=False)
@click.option("--local", is_flag=True, help="Instead of PATH: every local coding agent's sessions (Claude Code, "
              "Codex, OpenCode, Gemini CLI, pi, Amp) from their default folders.")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES), default="auto", show_default=True,
              help="Input format; auto detects it from the content.")
@click.option("--user", metavar="U", default=None, help="User for records that name none.")
@click.option("--team", metavar="T", default=None, help="Team for records that name none.")
@click.option("--follow", is_flag=True, help="Keep importing what is appended to FILE or added to DIR until "
              "interrupted (Ctrl-C); a rerun goes on where the last one stopped (positions kept in the store).")
@db_option
@viewer_option
@handles_errors
def import_(path: str | None, local: bool, fmt: str, user: str | None, team: str | None, follow: bool,
            db: Path | None, as_user: str | None) -> None:
    """Import usage records from a file, a folder (recursively) or stdin (-).

    Bad lines are reported as FILE:LINE: reason and kept in the store's rejects table; the
    good lines still import. Exit 0 when every line was good, 1 when some were rejected,
    2 when the input could not be read at all. A member (not an org admin, not the store's
    owner) only adds their own usage: records of others, and replacements, are rejects.
    `--local` finds every local coding agent's sessions and imports them, a line per agent
    (exit 2 when none is found).
    """
    from ..ingest import ImportFatal, import_path

    if (path is None) == (not local) or (local and fmt != "auto"):
        fail("import takes a FILE|DIR|- or --local (which detects each agent's format), not both, not neither")
    store = open_store(db, create=True)
    identity = identity_of(store, as_user)
    _check_names(store.directory(), identity, user, team)
    guard = None
    if not identity.may_administer:  # a member imports only their own usage (§2.4)
        if user is not None and user != identity.viewer:
            raise ScopeError(f"{identity.viewer} may not import usage attributed to {user}")
        guard = OwnUsageOnly(identity.viewer, store.directory())
        if team is not None and team not in guard.teams():
            raise ScopeError(f'{identity.viewer} may not import usage charged to team "{team}": only their own teams')
    from .import_follow import follow_path, followed_before, import_new
    if follow or followed_before(store, path):  # issue 24: ingest/follow.py (a plain import: only what is new)
        if local or path == "-":
            fail("--follow reads a FILE or DIR (it keeps a position in each): not stdin, not --local")
        options = {"user": user, "team": team, "viewer": identity.viewer, "guard": guard}
        try:
            sys.exit(follow_path(store, path, fmt, **options) if follow else import_new(store, path, fmt, **options))
        except ImportFatal as exc:
            fail(str(exc))
    if local:
        from ..ingest import local as local_agents
        try:
            sys.exit(local_agents.run(store, out=click.echo, err=lambda text: click.echo(text, err=True), user=user,
                                      team=team, viewer=identity.viewer, guard=guard))
        except ImportFatal as exc:
            fail(str(exc))
    show_progress = sys.stderr.isatty() and path != "-"
    bar = None
    last = [0]

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if not show_progress or total < 1_000_000:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="Importing", file=sys.stderr, show_eta=True)
            bar.__enter__()
        bar.update(done - last[0])
        last[0] = done

    def reject(j) -> None:
        click.echo(f"{j.source}:{j.line}: {j.reason}", err=True)

    try:
        summary = import_path(store, path, fmt, user=user, team=team,
                              viewer=identity.viewer, guard=guard,
                              on_reject=reject, on_progress=progress)
    except ImportFatal as exc:
        fail(str(exc))
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    for skipped in summary.skipped:
        click.echo(f"{skipped}: skipped (not a recognised usage file)", err=True)
    click.echo(summary.line())
    sys.exit(1 if summary.rejected else 0)


def _check_names(directory, identity, user: str | None, team: str | None) -> None:
    """--user and --team name directory entries: a typo would attribute every record that names
    none to nobody the directory knows (exit 2, as `spend summary --team` refuses one). A store
    without a directory knows nobody to compare with; a member is offered only their own teams."""
    import difflib

    def hint(word: str, choices) -> str:
        close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.5)
        return f' (did you mean "{close[0]}"?)' if close else ""

    if team is not None and directory.teams and team not in directory.teams:
        mine = directory.teams if identity.may_administer else \
            (directory.users[identity.viewer].teams if identity.viewer in directory.users else ())
        fail(f'--team: unknown team "{team}"{hint(team, mine)}')
    if user is not None and directory.users and user not in directory.users:
        known = directory.users if identity.may_administer else (identity.viewer,)
        fail(f'--user: unknown user "{user}"{hint(user, known)}')


@click.command()
@click.option("--source", metavar="FILE", default=None, help="Only lines rejected from FILE.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, REJECTS_LIMIT_MAX),
              help="How many to show.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "jsonl"]), default="text", show_default=True,
              help="json: {schema, rejects: [{source, line, reason, raw}], more}; jsonl: a reject a line.")
@click.option("--clear", "clear", is_flag=False, flag_value="", default=None, metavar="[SOURCE]",
              help="Forget the rejected lines (of SOURCE only, when given) instead of listing them.")
@db_option
@viewer_option
@handles_errors
def rejects(source: str | None, limit: int, fmt: str, clear: str | None, db: Path | None,
            as_user: str | None) -> None:
    """List rejected lines, newest first, as FILE:LINE: reason and the raw text (org admins
    and the store's owner: the lines may hold anyone's usage). An import keeps the first
    10,000 rejected lines of a file, then one saying how many more were not kept. `--clear`
    forgets them (the same people only)."""
    from ..json_docs import reject_doc, rejects_doc

    store = open_store(db)
    identity = identity_of(store, as_user)
    if clear is not None:
        if source is not None and clear and source != clear:
            fail(f"--clear {clear} and --source {source} name two sources: give one")
        target = clear or source
        require_writable(store)
        cleared = store.clear_rejects(target, by=identity)  # the store refuses whoever may not
        click.echo(f"Cleared {cleared:,} rejected line{'s' if cleared != 1 else ''}"
                   + (f" of {target}." if target else "."))
        return
    identity.require_admin("read the rejected lines")
    rows = store.rejects(source, limit + 1)
    more = len(rows) > limit
    docs = []
    for row in rows[:limit]:
        raw = row["raw"]  # bounded here too: older versions kept whole lines (what fits the
        if len(raw) > REJECT_EXCERPT_CHARS + 80:  # excerpt and its length note is shown as is)
            raw = excerpt(raw)
        docs.append(reject_doc(row["source"], row["line"], row["reason"], raw))
    if fmt == "json":
        click.echo(json.dumps(rejects_doc(docs, more), indent=2))
    elif fmt == "jsonl":
        for doc in docs:
            click.echo(json.dumps(doc))
    elif not docs:
        click.echo("No rejected lines.")
    else:
        for doc in docs:
            click.echo(f"{doc['source']}:{doc['line']}: {doc['reason']}\n    {doc['raw']}")
