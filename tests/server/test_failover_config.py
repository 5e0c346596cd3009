"""``[failover] lease_s`` in a hall config (issue 13): read, checked, round-tripped,
and one lease per process (``qhall serve --lease-s`` still overrides it)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import ConfigError, Failover, dumps, parse
from server.halls import DEFAULT_LEASE_S, lease_of
from server.tools.pgcluster import free_port
from tests.test_config import BASE

ROOT = Path(__file__).resolve().parents[2]


def test_lease_defaults_to_five_seconds_and_reads_a_number() -> None:
    assert parse(BASE).failover == Failover(5.0) and DEFAULT_LEASE_S == 5.0
    assert parse(BASE + "\n[failover]\nlease_s = 10\n").failover.lease_s == 10.0
    assert parse(BASE + "\n[failover]\nlease_s = 2.5\n").failover.lease_s == 2.5


def test_lease_round_trips_through_dumps() -> None:
    config = parse(BASE + "\n[failover]\nlease_s = 7.5\n")
    assert parse(dumps(config)) == config


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("lease_s = 0.5", "failover.lease_s (line 52): must be between 1 and 60 seconds, got 0.5"),
        ("lease_s = 61", "failover.lease_s (line 52): must be between 1 and 60 seconds, got 61"),
        ('lease_s = "10s"', "failover.lease_s (line 52): must be a number of seconds, "
                            "got string '10s'"),
        ("lease_s = true", "failover.lease_s (line 52): must be a number of seconds, "
                           "got boolean true"),
        ("lease = 10", "failover.lease (line 52): unknown key (did you mean 'lease_s'?)"),
    ],
)
def test_bad_lease_is_refused_with_its_place(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(BASE + "\n[failover]\n" + line + "\n")
    assert info.value.errors == [message]


def test_the_halls_of_one_process_share_one_lease() -> None:
    a = parse(BASE + "\n[failover]\nlease_s = 5\n")
    b = dataclasses.replace(a, id="other")
    assert lease_of([a, b]) == 5.0
    c = dataclasses.replace(a, id="third", failover=Failover(8.0))
    with pytest.raises(ValueError, match=r"main: 5, other: 5, third: 8"):
        lease_of([a, b, c])


def test_serve_refuses_halls_that_disagree_on_the_lease(tmp_path: Path) -> None:
    one = parse(BASE + "\n[failover]\nlease_s = 10\n")
    paths = []
    for n, config in enumerate([one, dataclasses.replace(one, id="two", failover=Failover())]):
        path = tmp_path / f"h{n}.toml"
        path.write_text(dumps(dataclasses.replace(
            config, database=f"sqlite:///{tmp_path / 'city.db'}")), encoding="utf-8")
        paths += ["--config", str(path)]
    done = subprocess.run([sys.executable, "-m", "server", "serve", *paths,
                           "--port", str(free_port())],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "share one lease" in done.stderr
