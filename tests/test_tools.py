"""The strict switch: a missing tool skips locally and fails under QHALL_REQUIRE_TOOLS."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import tools

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", ["", "0"])
def test_without_the_switch_a_missing_tool_skips(monkeypatch, value):
    monkeypatch.setenv(tools.STRICT_ENV, value)
    with pytest.raises(pytest.skip.Exception, match="no-such-tool"):
        tools.require_tool("no-such-tool-qhall", "apt-get install it")


def test_under_the_switch_a_missing_tool_fails(monkeypatch):
    monkeypatch.setenv(tools.STRICT_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="no-such-tool.*QHALL_REQUIRE_TOOLS"):
        tools.require_tool("no-such-tool-qhall", "apt-get install it")
    with pytest.raises(pytest.fail.Exception, match="PulseAudio did not start"):
        tools.unavailable("PulseAudio did not start here")


def test_a_present_tool_is_found(monkeypatch):
    monkeypatch.setenv(tools.STRICT_ENV, "1")
    assert tools.require_tool("sh", "-").endswith("/sh")


def test_ci_sets_the_switch_and_runs_the_readme_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert "export QHALL_REQUIRE_TOOLS=1" in script
    assert "\n./run.sh test\n" in script and "-eq 5" in script
