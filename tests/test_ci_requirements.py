"""What CI must not skip: tests that skip on a developer's machine when something is missing
(nginx, a second OS user, the README's tools) fail in CI instead, where .ci/run sets a variable
for each (issue 27: the multi-OS-user tests could skip silently in CI)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _pytest.outcomes import Failed, Skipped

from . import os_user

CI_RUN = Path(__file__).resolve().parent.parent / ".ci" / "run"


@pytest.mark.parametrize("variable", ["USAGE_TUI_TEST_REQUIRE_NGINX", "USAGE_TUI_TEST_REQUIRE_OS_USER",
                                      "USAGE_TUI_TEST_REQUIRE_README_TOOLS"])
def test_ci_sets_each_requirement(variable):
    assert re.search(rf"^export {variable}=1\b", CI_RUN.read_text(), re.M), f".ci/run does not export {variable}"


def test_a_second_os_user_missing_skips_here_and_fails_in_ci(monkeypatch):
    monkeypatch.setattr(os_user, "why_not", lambda: "runs only as root (it becomes the OS user nobody)")
    monkeypatch.delenv(os_user.REQUIRE_ENV, raising=False)
    with pytest.raises(Skipped, match="second-OS-user test: runs only as root"):
        os_user.skip_or_fail()
    monkeypatch.setenv(os_user.REQUIRE_ENV, "1")
    with pytest.raises(Failed, match="required .* cannot run here: runs only as root"):
        os_user.skip_or_fail()
    monkeypatch.setattr(os_user, "why_not", lambda: None)
    os_user.skip_or_fail()  # it can: nothing happens
