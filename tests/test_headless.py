"""The headless core loads without Textual (DESIGN §6)."""

import subprocess
import sys


def test_headless_modules_do_not_import_textual():
    code = (
        "import sys\n"
        "import usage_tui.model, usage_tui.store, usage_tui.directory, usage_tui.pricing, usage_tui.query\n"
        "import usage_tui.ingest, usage_tui.ingest.native, usage_tui.cli\n"
        "import importlib.util\n"
        "for name in ('usage_tui.budget', 'usage_tui.ingest.litellm', 'usage_tui.ingest.openai',\n"
        "             'usage_tui.ingest.claude_code'):\n"
        "    if importlib.util.find_spec(name):\n"
        "        __import__(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
