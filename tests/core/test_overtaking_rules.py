"""Who overtakes a waiting ticket (``Forecast.estimate`` and ``_overtaking``),
by the rules of its docstring: appointments checked in for a later slot that
start before the ticket is reached, bookings not checked in yet whose slot
starts by then, for a normal ticket at most ``priority_per_normal`` of them
per call it waits for; nobody overtakes a ticket transferred to a counter, a
started appointment, or one a free counter takes at once; an appointment
ticket is overtaken only by bookings for earlier slots.

The hall: one service (300 s a ticket, check-in up to 15 min late), counter 1
(and counter 2 when asked) serving it, 09:00.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from server.config import Appointments
from server.core import Hall
from server.core.model import Ticket
from tests.core.builders import at, config, counter, make_hall, service
from tests.helpers.fakes import FakeClock


def hall_of(counters: int = 1, **dispatch: Any) -> tuple[Hall, FakeClock]:
    cfg = config([service("gjj", "A", appointments=Appointments(late_checkin_min=15))],
                 [counter(n, ["gjj"]) for n in range(1, counters + 1)], **dispatch)
    return make_hall(cfg)


def issue(hall: Hall, priority: str = "normal", slot: dt.datetime | None = None) -> Ticket:
    t = hall.ticket(hall.issue("gjj", priority, slot)[0].data["ticket"]["id"])
    assert t is not None
    return t


def wire(hall: Hall, t: Ticket) -> dict[str, Any]:
    return hall.wire_ticket(t)


def busy(hall: Hall, clock: FakeClock, n: int = 1) -> None:
    """Counter ``n`` takes a ticket of its own (then a second passes)."""
    issue(hall)
    hall.call_next(n)
    clock.advance(1)


def test_a_ticket_a_free_counter_takes_at_once_waits_for_no_booking() -> None:
    hall, _clock = hall_of()
    # Two bookings of 08:50, still within their check-in window: they would go
    # first (a priority ticket has no interleaving bound), but counter 1 is free.
    hall.set_appointments("gjj", [(at(8, 50), 2)])
    t = issue(hall, "priority")
    assert wire(hall, t)["eta_s"] == 0


def test_nobody_overtakes_a_ticket_transferred_to_a_counter() -> None:
    hall, clock = hall_of(counters=2)
    busy(hall, clock, 2)
    issue(hall)
    hall.call_next(1)
    hall.transfer(1, to_counter=2)
    t = next(x for x in hall.tickets() if x.target_counter == 2)
    busy(hall, clock, 1)
    base = wire(hall, t)
    # One call to wait for (counter 2's ticket), 300 s: nobody else.
    assert base["to_counter"] == 2 and base["eta_s"] == 300
    # A booking and a checked-in appointment, both due within a minute: they go
    # ahead of the service's queue, not ahead of a counter's own transfers.
    hall.set_appointments("gjj", [(at(9, 0, 30), 3)])
    issue(hall, "appointment", at(9, 0, 40))
    assert wire(hall, t)["eta_s"] == base["eta_s"]


def test_a_started_appointment_is_overtaken_by_nobody() -> None:
    hall, clock = hall_of()
    busy(hall, clock)
    t = issue(hall, "appointment", at(8, 55))  # its slot has started: first group
    # One call to wait for (counter 1's), 300 s; nothing is added.
    assert wire(hall, t)["eta_s"] == 300


def test_an_appointment_starting_exactly_when_the_ticket_is_reached_overtakes_it() -> None:
    hall, clock = hall_of()
    busy(hall, clock)
    t = issue(hall)
    # t is reached in 300 s (09:05:01); an appointment for exactly then, checked
    # in after t, goes first: one more call.
    issue(hall, "appointment", at(9, 5, 1))
    assert wire(hall, t)["eta_s"] == 600


def test_an_appointment_ranked_before_a_normal_ticket_is_counted_once() -> None:
    hall, clock = hall_of()
    busy(hall, clock)
    issue(hall, "appointment", at(9, 5))  # checked in first: already ahead of t
    clock.advance(1)
    t = issue(hall)
    shown = wire(hall, t)
    assert shown["ahead"] == 1
    assert shown["eta_s"] == 600  # itself and the one ahead, nobody more


def test_a_priority_ticket_is_overtaken_by_every_appointment_due() -> None:
    hall, clock = hall_of()
    busy(hall, clock)
    issue(hall, "appointment", at(9, 5))  # checked in before it, slot in 5 min
    clock.advance(1)
    t = issue(hall, "priority")
    shown = wire(hall, t)
    # The appointment still queues as normal (behind t) but starts before t is
    # reached (09:05:02): it goes first.
    assert shown["ahead"] == 0
    assert shown["eta_s"] == 600


@pytest.mark.parametrize(("slot", "eta_s"), [
    (at(9, 4, 59) + dt.timedelta(milliseconds=500), 600),  # half a second before its own: first
    (at(9, 5), 300),                                       # its own slot: checks in after it
    (at(9, 5, 30), 300),                                   # a later slot
])
def test_an_appointment_ticket_is_overtaken_only_by_bookings_for_earlier_slots(
        slot: dt.datetime, eta_s: int) -> None:
    hall, clock = hall_of()
    busy(hall, clock)
    clock.advance(-1)  # 09:00: t is reached in 300 s, at its slot
    t = issue(hall, "appointment", at(9, 5))
    hall.set_appointments("gjj", [(slot, 1), (at(9, 20), 1)])
    assert wire(hall, t)["eta_s"] == eta_s


def test_bookings_fill_only_the_room_appointments_leave_a_normal_ticket() -> None:
    hall, clock = hall_of(priority_per_normal=1)
    busy(hall, clock)
    t = issue(hall)
    issue(hall, "appointment", at(9, 1))   # behind t, due before t is reached
    hall.set_appointments("gjj", [(at(9, 2), 2)])
    # One call to wait for, one special per call: the appointment fills it.
    assert wire(hall, t)["eta_s"] == 600


def test_bookings_come_on_top_of_the_appointments_and_widen_the_range() -> None:
    hall, clock = hall_of()  # two specials per call
    busy(hall, clock)
    t = issue(hall)
    issue(hall, "appointment", at(9, 1))
    hall.set_appointments("gjj", [(at(9, 2), 1)])
    shown = wire(hall, t)
    # Itself, the appointment and the booking: 3 calls; the range counts them
    # all: 900 -/+ 900 / sqrt(4) to whole minutes.
    assert (shown["eta_s"], shown["eta_low_s"], shown["eta_high_s"]) == (900, 420, 1380)


def test_a_break_ending_within_the_first_second_is_the_resumption_time() -> None:
    hours = ((dt.time(8, 30), dt.time(12, 0)), (dt.time(13, 30), dt.time(17, 30)))
    hall, clock = make_hall(config([service("gjj", "A", hours=hours)], [counter(1, ["gjj"])]),
                            at(11))
    busy(hall, clock)         # counter 1 worked today: back after lunch
    issue(hall)
    t = issue(hall)
    clock.advance(at(13, 29, 59).timestamp() - clock().timestamp())
    shown = wire(hall, t)
    assert shown["eta_after"] == "2026-11-26T13:30:00+08:00"
    assert shown["eta_s"] == 1 + 2 * 300  # two calls: counter 1's ticket, the one ahead
