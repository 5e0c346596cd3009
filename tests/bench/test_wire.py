"""bench.wire's RSS phase: a fresh server whose hall holds ``--rss-tickets``
tickets, the count printed in the RSS line (a small run of the real phase)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import wire


def test_rss_tickets_defaults_to_a_reference_day() -> None:
    args = wire.parser().parse_args([])
    assert (args.rss_tickets, args.connections) == (7000, 2000)
    assert wire.parser().parse_args(["--rss-tickets", "50"]).rss_tickets == 50


def test_negative_rss_tickets_are_refused() -> None:
    with pytest.raises(SystemExit):
        wire.main(["--rss-tickets", "-1", "--service-only"])


@pytest.mark.slow
def test_rss_line_reports_the_tickets_the_fresh_hall_holds(tmp_path: Path) -> None:
    args = wire.parser().parse_args(["--rss-tickets", "60", "--connections", "30",
                                     "--window", "4"])
    line = wire.rss_phase(tmp_path, args.rss_tickets, args.connections, args.window)
    assert "its hall holding 60 tickets issued over the wire" in line, line
    assert "with 30 display connections open" in line, line
    figures = re.search(r"(\d+) MB idle, (\d+) MB with", line)
    assert figures is not None, line
    assert 0 < float(figures[1]) <= float(figures[2]), line
