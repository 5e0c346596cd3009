"""A route ticket moving to its next step (``Hall._route``, ``ticket.routed``):
it waits at the head of its priority group there - before a ticket a
supervisor moved in earlier, which waits by issue time - with no start or
finish time of the step it left, and the event carries the freed counter for
the store."""

from __future__ import annotations

from tests.core.test_routes import issue, route_hall


def test_the_next_step_is_joined_at_the_head_before_moved_tickets() -> None:
    hall = route_hall()
    moved = issue(hall, "gh")           # issued first, then moved to js's queue
    t = issue(hall, "jj")
    hall.move(moved.id, service="js")
    hall.call_next(1)
    hall.start(1)
    events = hall.complete(1)           # gh done: on to js
    routed = next(e for e in events if e.name == "ticket.routed")
    assert routed.ticket is not None and routed.ticket.service == "js"
    assert (routed.ticket.started_at, routed.ticket.finished_at) == (None, None)
    assert routed.counter is not None and routed.counter.number == 1
    assert routed.counter.current is None     # the counter is free again
    assert hall.call_next(2)[0].ticket.id == t.id
