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


def test_ceiling_sets_the_measured_costs_against_the_targets() -> None:
    # Session 14's light phase: server 0.546 ms, clients 0.953 ms per issue.
    line = wire.ceiling(0.546, 0.953, 2, 10_639.0)
    assert "2 cores sustain ~1,334 issues/s" in line, line
    assert "one server process ~1,832/s" in line, line
    # 0.3x of a 10,639/s raw loop is above 2,400: the bar is the higher one.
    assert "the targets ask 3,192/s" in line and "under 0.627 ms per issue" in line, line
    assert "the server under 0.313 ms" in line, line
    # A slow disk's raw loop leaves 2,400/s as the bar.
    assert "the targets ask 2,400/s" in wire.ceiling(0.3, 0.3, 2, 500.0)
    assert "4 cores sustain ~6,667 issues/s" in wire.ceiling(0.3, 0.3, 4, 500.0)
