"""The TUI in a real terminal (issue 27): `usage-tui` as installed, in a pseudo-terminal of
80 x 24, as a new user runs it first (a fresh HOME: it builds the demo store), a few keys, `q`,
and a clean exit (status 0, the terminal given back, no traceback).

The other TUI tests drive the App through Textual's Pilot, which never starts a terminal
driver; this one goes through the one a user gets (the Linux driver: raw mode, the alternate
screen, key sequences read from the tty).
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

USAGE_TUI = Path(sys.executable).parent / "usage-tui"
ANSI = re.compile(rb"\x1b(\[[0-9;?<=>]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])")


class Terminal:
    """A pseudo-terminal of 80 x 24 running `argv` as its session leader."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     preexec_fn=controlling_tty, close_fds=True)
        os.close(slave)
        self.output = b""

    def read(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            self.output += chunk

    def text(self) -> str:
        """What was written, without the escape sequences (words a screen showed, in order)."""
        return ANSI.sub(b"", self.output).decode("utf-8", "replace")

    def wait_for(self, pattern: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        start = len(self.output)
        while time.monotonic() < deadline:
            self.read(0.2)
            if re.search(pattern, ANSI.sub(b"", self.output[start:]).decode("utf-8", "replace")):
                return
            assert self.proc.poll() is None, f"usage-tui ended ({self.proc.returncode}): {self.text()[-2000:]}"
        raise AssertionError(f"{pattern!r} never showed; the screen had: {self.text()[-2000:]}")

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path):
    assert USAGE_TUI.exists(), f"no {USAGE_TUI}: install the package (pip install -e .)"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGE_TUI_", "XDG_", "TEXTUAL", "PG"))}
    env.update(HOME=str(home), TERM="xterm-256color", LANG="C.UTF-8")
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    term = Terminal([str(USAGE_TUI)], env, tmp_path)
    yield term
    term.close()


def test_the_tui_in_a_real_terminal(terminal):
    terminal.wait_for(r"Cost per day", seconds=120)  # the first run builds the demo store first
    terminal.read(1.0)  # settled
    assert "\x1b[?1049h" in terminal.output.decode("utf-8", "replace")  # the alternate screen
    terminal.press("m")  # next metric: requests
    terminal.wait_for(r"Requests per day")
    terminal.press("w")  # weekly
    terminal.wait_for(r"Requests per week")
    terminal.press("3")  # the org scope: you are alice, an org admin
    terminal.wait_for(r"Requests per week\s*—\s*org")
    terminal.press("?")  # every key
    terminal.wait_for(r"esc to close")
    terminal.press("\x1b")  # esc: back
    terminal.read(1.0)
    terminal.press("q")
    assert terminal.proc.wait(20) == 0
    terminal.read(1.0)
    shown = terminal.output.decode("utf-8", "replace")
    assert shown.rstrip().endswith("\x1b[?1049l") or "\x1b[?1049l" in shown[-400:]  # the screen given back
    assert "Traceback" not in terminal.text()
