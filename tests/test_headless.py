"""The headless core loads without Textual (architecture §6)."""

import json
import subprocess
import sys

# Every module of the core, required by name: one that went missing fails the import below
# instead of being skipped. Modules added later are found by walking the package as well.
HEADLESS = [
    "usage_tui", "usage_tui.budget", "usage_tui.cli", "usage_tui.cli.budget", "usage_tui.cli.common",
    "usage_tui.cli.directory", "usage_tui.cli.imports", "usage_tui.cli.serve", "usage_tui.cli.spend",
    "usage_tui.cli.store", "usage_tui.clock", "usage_tui.directory", "usage_tui.fmt",
    "usage_tui.history", "usage_tui.ingest", "usage_tui.ingest._common", "usage_tui.ingest.claude_code", "usage_tui.ingest.litellm",
    "usage_tui.ingest.native", "usage_tui.ingest.openai", "usage_tui.ingest._agent", "usage_tui.ingest.codex",
    "usage_tui.ingest.opencode", "usage_tui.ingest.gemini", "usage_tui.ingest.pi_agent", "usage_tui.ingest.amp",
    "usage_tui.ingest.local", "usage_tui.model", "usage_tui.pricing",
    "usage_tui.query", "usage_tui.sample", "usage_tui.server", "usage_tui.store", "usage_tui.view_options",
    # issue 26: the JSON documents, per-period cells, budget explain, the TUI's command, MCP
    "usage_tui.json_docs", "usage_tui.query_periods", "usage_tui.budget_explain", "usage_tui.view_command",
    "usage_tui.mcp_server", "usage_tui.cli.mcp",
]
# The TUI, and `python -m usage_tui`, which runs the command line when imported.
NOT_HEADLESS = ("usage_tui.app", "usage_tui.widgets", "usage_tui.__main__")

CODE = """
import importlib, json, pkgutil, sys
import usage_tui
required = json.loads(sys.argv[1])
found = [m.name for m in pkgutil.walk_packages(usage_tui.__path__, "usage_tui.")
         if not m.name.startswith(tuple(json.loads(sys.argv[2])))]
for name in [*required, *found]:
    importlib.import_module(name)
print(json.dumps({"imported": sorted(set(required) | set(found)),
                  "textual": sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))}))
"""


def test_headless_modules_do_not_import_textual():
    out = subprocess.run([sys.executable, "-c", CODE, json.dumps(HEADLESS), json.dumps(NOT_HEADLESS)],
                         capture_output=True, text=True, check=True)
    answer = json.loads(out.stdout)
    assert set(HEADLESS) <= set(answer["imported"])
    assert answer["textual"] == []
