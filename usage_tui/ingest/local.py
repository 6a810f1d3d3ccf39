"""`usage-tui import --local`: every local coding agent's sessions for the current user, from
each agent's default folder (and the override variable the agent itself honours), imported
source by source, each saying what it found and what it skipped.

| source | where (default) | the agent's own override |
| --- | --- | --- |
| Claude Code | `~/.claude/projects`, `~/.config/claude/projects` | `CLAUDE_CONFIG_DIR` (then `<it>/projects`) |
| Codex | `~/.codex/sessions`, `~/.codex/archived_sessions` | `CODEX_HOME` |
| OpenCode | `~/.local/share/opencode`: `storage/message/**/*.json`, `opencode*.db` | `XDG_DATA_HOME` |
| Gemini CLI | `~/.gemini/tmp/*/chats/**` | `GEMINI_CLI_HOME` (replaces `~`) |
| pi | `~/.pi/agent/sessions` | `PI_CODING_AGENT_DIR` (the agent dir) |
| Amp | `~/.local/share/amp/threads` | none known (`XDG_DATA_HOME` is looked at too) |

Where the folders come from: research/agents/README.md's table, from each agent's source
(Codex's `CODEX_HOME`, gemini-cli config/storage.ts, pi-mono config.ts, OpenCode's
xdg-basedir `Global.Path.data`) and ccusage's adapters' paths.rs. ccusage's own variables
(`OPENCODE_DATA_DIR`, `GEMINI_DATA_DIR`, `PI_AGENT_DIR`, `AMP_DATA_DIR`) are not read here: a
plain folder import (`usage-tui import DIR`) covers any other place.

An event in two files is one record (its id is made of what it says), and an identical copy read
later leaves the record, and the file it names as its source, alone: so the active Codex
rollouts are read before the archived ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..identity import OwnUsageOnly
from ..store import UsageStore
from . import ImportFatal, ImportSummary, import_path


@dataclass
class LocalSource:
    """One agent's sessions on this machine: where it looked and the files it found there."""

    name: str  # as people call the agent
    fmt: str  # the import format
    places: list[Path]
    files: list[str] = field(default_factory=list)


def _files(folder: Path, *patterns: str) -> list[str]:
    """The files under `folder` matching `patterns` (rglob), sorted; none when it is not a folder."""
    if not folder.is_dir():
        return []
    found: set[str] = set()
    for pattern in patterns:
        try:
            found.update(str(p) for p in folder.glob(pattern) if p.is_file())
        except OSError:  # an unreadable folder inside: what could be read is kept
            continue
    return sorted(found)


def _env_path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").strip()
    return Path(value).expanduser() if value else None


def discover(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[LocalSource]:
    """Every agent's places and the usage files found in them (an agent with none has no files)."""
    env = os.environ if env is None else env
    home = home or Path.home()
    data_home = _env_path(env, "XDG_DATA_HOME") or home / ".local" / "share"
    sources = []

    claude_config = _env_path(env, "CLAUDE_CONFIG_DIR")
    claude = [claude_config / "projects"] if claude_config else [
        home / ".claude" / "projects", (_env_path(env, "XDG_CONFIG_HOME") or home / ".config") / "claude" / "projects"]
    sources.append(LocalSource("Claude Code", "claude-code", claude,
                               [f for place in claude for f in _files(place, "**/*.jsonl")]))

    codex_home = _env_path(env, "CODEX_HOME") or home / ".codex"
    codex = [codex_home / "sessions", codex_home / "archived_sessions"]  # a record's source: the active file
    sources.append(LocalSource("Codex", "codex", codex, [f for place in codex for f in _files(place, "**/*.jsonl")]))

    opencode = data_home / "opencode"
    # legacy files first; the database's copy of a message wins either way (opencode.py)
    sources.append(LocalSource("OpenCode", "opencode", [opencode],
                               _files(opencode / "storage" / "message", "**/*.json") + _files(opencode, "opencode*.db")))

    gemini = (_env_path(env, "GEMINI_CLI_HOME") or home) / ".gemini" / "tmp"
    sources.append(LocalSource("Gemini CLI", "gemini", [gemini],
                               _files(gemini, "*/chats/**/*.json", "*/chats/**/*.jsonl")))

    pi = (_env_path(env, "PI_CODING_AGENT_DIR") or home / ".pi" / "agent") / "sessions"
    sources.append(LocalSource("pi", "pi", [pi], _files(pi, "**/*.jsonl")))

    amp = list(dict.fromkeys([data_home / "amp" / "threads", home / ".local" / "share" / "amp" / "threads"]))
    sources.append(LocalSource("Amp", "amp", amp, [f for place in amp for f in _files(place, "**/*.json")]))
    return sources


@dataclass
class LocalImport:
    source: LocalSource
    summary: ImportSummary | None = None
    problem: str | None = None  # why nothing of its files was imported

    @property
    def records(self) -> int:
        s = self.summary
        return 0 if s is None else s.imported + s.replaced + s.unchanged

    def line(self) -> str:
        where = ", ".join(str(p) for p in self.source.places)
        if not self.source.files:
            return f"{self.source.name}: nothing found in {where}"
        files = f"{len(self.source.files):,} file{'s' if len(self.source.files) != 1 else ''}"
        if self.summary is None:
            return f"{self.source.name}: {where}: {files}, none imported ({self.problem})"
        s = self.summary
        skipped = f", {len(s.skipped):,} skipped" if s.skipped else ""
        return (f"{self.source.name}: {where}: {files}{skipped}, {self.records:,} record"
                f"{'s' if self.records != 1 else ''} ({s.line()})")


def import_source(store: UsageStore, source: LocalSource, **options) -> LocalImport:
    """Import one source's files in its own format (`options`: import_path's user, team, viewer,
    guard, on_reject). Files that hold nothing of the format are its problem, not an error."""
    result = LocalImport(source)
    if source.files:
        try:
            result.summary = import_path(store, source.files, source.fmt, **options)
        except ImportFatal as exc:
            result.problem = str(exc).removeprefix(f"{source.files}: ")
    return result


def nothing_found(sources: list[LocalSource]) -> str | None:
    """The error when no source has a file at all, naming where it looked; else None."""
    if any(s.files for s in sources):
        return None
    return f"no coding agent's sessions found (looked in {', '.join(str(p) for s in sources for p in s.places)})"


def run(store: UsageStore, *, out: Callable[[str], None], err: Callable[[str], None], sources: list[LocalSource] | None = None,
        user: str | None = None, team: str | None = None, viewer: str | None = None,
        guard: OwnUsageOnly | None = None) -> int:
    """`import --local`: a line per source (stdout), its rejects and skipped files (stderr), then
    the import's totals. Returns the exit code: 1 when some line was rejected, else 0. Raises
    ImportFatal (exit 2) when no agent's sessions are found at all."""
    sources = discover() if sources is None else sources
    missing = nothing_found(sources)
    if missing is not None:
        raise ImportFatal(missing)
    total = ImportSummary()
    for source in sources:
        result = import_source(store, source, user=user, team=team, viewer=viewer, guard=guard,
                               on_reject=lambda j: err(f"{j.source}:{j.line}: {j.reason}"))
        out(result.line())
        if result.summary is not None:
            for skipped in result.summary.skipped:
                err(f"{skipped}: skipped (not {source.name} usage)")
            for name in ("imported", "replaced", "unchanged", "rejected"):
                setattr(total, name, getattr(total, name) + getattr(result.summary, name))
    out(total.line())
    return 1 if total.rejected else 0
