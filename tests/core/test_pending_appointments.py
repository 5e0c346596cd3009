"""Appointments waiting for their slot (server/core/queues.py: in the normal
list and in ``pending`` until promoted): one cancelled before its slot
leaves nothing behind; once its slot has started it is ahead of the normal
tickets even before any command promoted it; a ticket no longer waiting
has nobody ahead."""

from __future__ import annotations

import pytest

from server.core import QueueEmpty
from tests.core.builders import at, make_hall


def test_an_appointment_cancelled_before_its_slot_leaves_nothing_behind() -> None:
    hall, clock = make_hall()
    appt = hall.issue("bdc", "appointment", slot_start=at(10))[0].data["ticket"]["id"]
    hall.cancel(appt)
    clock.advance(60)
    walk_in = hall.issue("bdc")[0].data["ticket"]["id"]
    clock.now = at(10)
    assert hall.call_next(3)[0].data["ticket"]["id"] == walk_in
    hall.complete(3)
    with pytest.raises(QueueEmpty):
        hall.call_next(3)


def test_an_appointment_whose_slot_started_is_first_before_any_command() -> None:
    hall, clock = make_hall()
    hall.issue("bdc")
    hall.issue("bdc")
    appt = hall.issue("bdc", "appointment", slot_start=at(10))[0].data["ticket"]["id"]
    t = hall.ticket(appt)
    assert t is not None and hall.ahead(t) == 2
    clock.now = at(10)
    assert hall.ahead(t) == 0
    assert hall.wire_ticket(t)["ahead"] == 0


def test_a_called_ticket_has_nobody_ahead() -> None:
    hall, _clock = make_hall()
    hall.issue("bdc")
    called = hall.call_next(3)[0]
    assert called.data["ticket"]["ahead"] == 0
    assert called.ticket is not None and hall.ahead(called.ticket) == 0
