"""The forecast on its own terms: what it learns from the hall's commands."""

from __future__ import annotations

import datetime as dt

from server.core.forecast import HISTORY, Forecast, service_time
from server.core.model import Ticket
from tests.core.builders import at, make_hall


def _forecast(hall) -> Forecast:
    return hall._forecast  # the hall's own: fed by its commands


def test_completions_feed_the_means_and_the_history_is_bounded() -> None:
    hall, clock = make_hall()
    fc = _forecast(hall)
    default = float(hall.config.service("gjj").default_service_s)
    assert fc.mean_service_s("gjj") == default == fc.cycle_s("gjj")
    for _ in range(HISTORY + 5):
        hall.issue("gjj")
        hall.call_next(1)
        clock.advance(60)
        hall.start(1)
        clock.advance(120)
        hall.complete(1)
    assert fc.mean_service_s("gjj") == hall.mean_service_s("gjj") == 120.0
    assert fc.cycle_s("gjj") == 180.0  # call to complete: the counter's time


def test_service_time_from_start_or_call() -> None:
    t = Ticket(id="x", number="A001", service="gjj", called_at=at(9), finished_at=at(9, 5))
    assert service_time(t) == 300.0
    t.started_at = at(9, 1)
    assert service_time(t) == 240.0
    assert service_time(Ticket(id="y", number="A002", service="gjj")) == 0.0


def test_a_restored_hall_estimates_the_same() -> None:
    hall, clock = make_hall()
    for k in range(6):
        hall.issue("gjj" if k % 2 else "tax", "priority" if k == 3 else "normal")
        clock.advance(30)
    hall.call_next(1)
    clock.advance(200)
    hall.complete(1)
    hall.set_appointments("gjj", [(clock() + dt.timedelta(minutes=10), 2)])
    restored = type(hall).restore(hall.config, clock, hall.tickets(), hall.counter_states(),
                                  hall.last_numbers)
    restored.set_appointments("gjj", [(clock() + dt.timedelta(minutes=10), 2)])
    for sid in ("gjj", "tax", "bdc"):
        assert restored.queue_wire(sid) == hall.queue_wire(sid)
        assert _forecast(restored).cycle_s(sid) == _forecast(hall).cycle_s(sid)
