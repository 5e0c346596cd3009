"""Today's counter layout laid over the configuration (server/core/dayplan.py)."""

from __future__ import annotations

import dataclasses

import pytest

from server.config import Service
from server.core import dayplan
from server.wire.errors import BadRequest, NotFound
from tests.helpers.server import small_config


def test_an_assignment_replaces_the_counters_services_for_the_day() -> None:
    cfg = small_config("sqlite://")
    today = dayplan.assign(cfg, {4: ("gjj", "bdc")})
    assert today.counter(4).services == ("gjj", "bdc")
    assert [c.services for c in today.counters[:3]] == [c.services for c in cfg.counters[:3]]
    assert dayplan.assign(cfg, {}) is cfg
    # Gone from the configuration since: the assignment no longer applies.
    assert dayplan.assign(cfg, {4: ("nope",), 9: ("gjj",)}).counters == cfg.counters


def test_impossible_assignments_are_refused() -> None:
    cfg = small_config("sqlite://")
    route = Service("route", "联办", "Joint", "R", "approval", route=("gjj", "tax"))
    cfg = dataclasses.replace(cfg, services=(*cfg.services, route))
    dayplan.check(cfg, 2, ("tax", "gjj"))
    with pytest.raises(NotFound):
        dayplan.check(cfg, 9, ("gjj",))
    for bad in ((), ("gjj", "gjj"), ("nope",), ("route",)):
        with pytest.raises(BadRequest):
            dayplan.check(cfg, 2, bad)
