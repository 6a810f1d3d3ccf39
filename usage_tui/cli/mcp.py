"""`usage-tui mcp`: the MCP server (stdio) for AI agents; the tools are usage_tui/mcp_server.py's."""

from __future__ import annotations

from pathlib import Path

import click

from .common import db_option, handles_errors, identity_of, open_store, viewer_option


@click.command("mcp")
@db_option
@viewer_option
@handles_errors
def mcp(db: Path | None, as_user: str | None) -> None:
    """Serve usage and budgets to an AI agent over the Model Context Protocol (stdio).

    Tools: spend_summary, spend_records, budget_status, budget_explain, list_dimensions; their
    arguments are this CLI's options and their results its --format json documents. Read-only.
    The viewer is you (your OS login; --as as elsewhere): an agent sees what you may see, and a
    refused scope is a tool error with the CLI's message. Add it to Claude Code with
    `claude mcp add usage-tui -- usage-tui mcp` (docs/scripts-and-agents.md).
    """
    from ..mcp_server import Tools, build_server

    store = open_store(db, readonly=True)
    identity_of(store, as_user)  # a refused --as or an unknown user: exit 3 / 2 now, not at the first call
    build_server(Tools(store, as_user)).run("stdio")
