"""bench.commit runs both sides (the baseline from git, this tree) and prints the ratios."""

import re

import pytest

from bench.commit import main


def test_a_tiny_run_prints_both_sides_and_the_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    # HEAD, not main: a CI checkout may have no main branch
    assert main(["--commits", "5", "--rounds", "1", "--no-postgres", "--baseline-ref", "HEAD",
                 "--sync", "normal"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"SQLite file \(WAL\), 5 commits x 1 rounds, synchronous=NORMAL on both "
                     r"sides:", out), out
    assert re.search(r"old \(HEAD [0-9a-f]+\) +[\d.]+ us CPU/commit .*\[synchronous=NORMAL\]",
                     out), out
    assert re.search(r"new \(this tree\) +[\d.]+ us CPU/commit .*\[synchronous=NORMAL\]", out), out
    assert re.search(r"ratio new/old: CPU per commit \d+\.\d\dx, commits/s \d+\.\d\dx", out), out


def test_the_sync_setting_is_forced_on_both_sides(capsys: pytest.CaptureFixture[str]) -> None:
    # The baseline's code hard-codes NORMAL: FULL must still reach its connections.
    assert main(["--commits", "3", "--rounds", "1", "--no-postgres", "--baseline-ref", "HEAD",
                 "--sync", "FULL"]) == 0
    out = capsys.readouterr().out
    assert out.count("[synchronous=FULL]") == 2, out
