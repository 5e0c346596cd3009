"""What a new Hall checks and starts from: a counter of unknown services or
mode, an unknown transfer placement or a route that is not 2+ ordinary
services is refused by name; a route of exactly two steps is fine; a
command on a route's first step tells the boards of both; a new hall's
boards were told "nothing waiting, nobody open, one default service time",
so a command leaving another service just so tells them nothing."""

from __future__ import annotations

import pytest

from server.core import Hall, NotFound
from tests.core.builders import at, config, counter, make_hall, service
from tests.helpers.fakes import FakeClock


def _hall(**kw: object) -> Hall:
    return Hall(config(**kw), FakeClock(at(9)))  # type: ignore[arg-type]


def test_a_bad_configuration_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"counter 1 serves unknown services \['nope'\]"):
        _hall(counters=[counter(1, ["nope"])])
    with pytest.raises(ValueError, match="counter 1: unknown mode 'x'"):
        _hall(counters=[counter(1, ["gjj"], mode="x")])
    with pytest.raises(ValueError, match="unknown transfer_placement 'x'"):
        _hall(transfer_placement="x")
    with pytest.raises(NotFound, match="unknown service 'nope'"):
        make_hall()[0].issue("nope")


def test_a_route_needs_two_or_more_ordinary_steps() -> None:
    two = [service("gjj", "A"), service("tax", "B"), service("jj", "K", route=("gjj", "tax"))]
    hall = _hall(services=two, counters=[counter(1, ["gjj"]), counter(2, ["tax"])])
    assert hall.issue("jj")[0].data["ticket"]["route"] == ["gjj", "tax"]
    nested = [*two, service("zz", "Z", route=("jj", "gjj"))]
    with pytest.raises(ValueError, match="route zz: needs 2"):
        _hall(services=nested, counters=[counter(1, ["gjj"]), counter(2, ["tax"])])
    one = [service("gjj", "A"), service("jj", "K", route=("gjj",))]
    with pytest.raises(ValueError, match="route jj: needs 2"):
        _hall(services=one, counters=[counter(1, ["gjj"])])


def test_a_command_on_a_routes_first_step_tells_both_boards() -> None:
    two = [service("gjj", "A"), service("tax", "B"), service("jj", "K", route=("gjj", "tax"))]
    hall = _hall(services=two, counters=[counter(1, ["gjj"]), counter(2, ["tax"])])
    changed = [e.data["service"] for e in hall.issue("gjj") if e.name == "queue.changed"]
    assert sorted(changed) == ["gjj", "jj"]


def test_a_new_hall_tells_boards_only_of_what_changed() -> None:
    hall, _clock = make_hall(open_all=False)
    # tax shares counters with gjj: both are re-estimated, gjj is as it started
    changed = [e.data["service"] for e in hall.issue("tax") if e.name == "queue.changed"]
    assert changed == ["tax"]
