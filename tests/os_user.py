"""Running usage-tui as a second real OS user (Debian's `nobody`), for tests that need one.

nobody cannot run the tests' interpreter: a venv's python lives under /root (mode 700) and CI
makes its venv in a `mktemp -d` folder (mode 700). So these tests run the system's python of
the same version (same ABI) over a readable copy of usage_tui and of the packages it imports,
built once per session (the `nobody_libs` fixture in conftest).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import usage_tui

SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
RUNUSER = shutil.which("runuser") or shutil.which("/usr/sbin/runuser")
SETPRIV = shutil.which("setpriv") or shutil.which("/usr/bin/setpriv")


# CI sets it (.ci/run): there a test that cannot become nobody fails instead of skipping, so
# that the tests as a second OS user cannot go missing silently (as USAGE_TUI_TEST_REQUIRE_NGINX).
REQUIRE_ENV = "USAGE_TUI_TEST_REQUIRE_OS_USER"


def skip_or_fail() -> None:
    """In a test that needs a second OS user: return when it can run here; else skip, saying
    why, or in CI fail."""
    import pytest

    reason = why_not()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"second-OS-user test required ({REQUIRE_ENV} is set) but it cannot run here: {reason}")
    pytest.skip(f"second-OS-user test: {reason}")


def why_not() -> str | None:
    """Why the tests cannot become nobody here, or None when they can."""
    if os.geteuid() != 0:
        return "runs only as root (it becomes the OS user nobody)"
    if RUNUSER is None or SETPRIV is None:
        return "no runuser or setpriv command"
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return "no OS user nobody"
    if not SYSTEM_PYTHON.exists():
        return f"no {SYSTEM_PYTHON} for nobody to run (same version as the tests' python)"
    return None


# What the CLI and the TUI import, found by running them.
_PROBE = """
import site, sys, json
from click.testing import CliRunner
from usage_tui.cli import cli
import usage_tui.app  # the TUI's packages too: tests open the app as the reader
from usage_tui.ingest import native, litellm, openai, claude_code, native_fast, claude_code_fast  # (msgspec)
from usage_tui.pricing import Pricer
from usage_tui.model import Record
Pricer([]).cost_nano(Record("x", 0, "openai", "gpt-4o", prompt_tokens=1))
CliRunner().invoke(cli, ["--help"])
roots = [p for p in site.getsitepackages()]
tops = set()
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None) or ""
    for root in roots:
        if path.startswith(root + "/"):
            tops.add(path[len(root) + 1:].split("/")[0])
# usage_tui itself is copied from where the tests import it (an installed copy may be older)
tops = {t for t in tops if t != "usage_tui" and not t.startswith(("__editable__", "_distutils_hack"))}
# their metadata too (packages look up their own versions)
from importlib.metadata import distribution, packages_distributions
owners = packages_distributions()
for top in list(tops):
    for name in owners.get(top.removesuffix(".py"), []):
        tops.update(f.parts[0] for f in distribution(name).files or () if f.parts[0].endswith(".dist-info"))
print(json.dumps([roots[0], sorted(tops)]))
"""


def _readable_tree(path: Path) -> None:
    for root, _dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def build_libs(libs: Path) -> Path:
    """Copy usage_tui and what it imports into `libs`, readable by everyone."""
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    site_packages, tops = json.loads(probe.stdout)
    # __pycache__ comes along (copy2 keeps the sources' times, so it stays valid): every
    # 3.11 reads the same bytecode, and without it each run would compile pydantic again
    for top in tops:
        source = Path(site_packages) / top
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, libs / top)
    shutil.copytree(Path(usage_tui.__file__).parent, libs / "usage_tui")
    subprocess.run([str(SYSTEM_PYTHON), "-m", "compileall", "-q", str(libs / "usage_tui")], check=True)
    _readable_tree(libs)
    os.chmod(libs.parent, 0o755)
    return libs
