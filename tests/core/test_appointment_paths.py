"""An appointment ticket with a slot through every path that puts a ticket
back in a queue (a supervisor's move, a transfer to a service, the return
from a closed or long-paused counter, a route's next step): it waits as a
normal ticket until its slot starts, then in the appointments' group,
called before the normal ones (dispatch rule: appointments first; a ticket
returned from a counter is at the head of its group anyway)."""

from __future__ import annotations

from server.core import Hall
from server.core.model import Event, Ticket
from tests.core.builders import at, make_hall
from tests.core.test_routes import ROUTE_CFG
from tests.helpers.fakes import FakeClock

SLOT = at(10)


def _appointment(hall: Hall, clock: FakeClock, rival: str) -> str:
    """A normal ticket of ``rival`` first, then a minute later an appointment of gjj."""
    hall.issue(rival)
    clock.advance(60)
    return str(hall.issue("gjj", "appointment", slot_start=SLOT)[0].data["ticket"]["id"])


def _first_after_slot(hall: Hall, clock: FakeClock, counter: int, sid: str) -> str:
    """Once the slot starts (the rival issued earlier still waiting): the id
    of the ticket ``counter`` calls."""
    clock.now = SLOT
    ev = hall.call_next(counter)[0]
    assert ev.data["ticket"]["service"] == sid
    return str(ev.data["ticket"]["id"])


def _sent_to_counter_2(hall: Hall, clock: FakeClock) -> str:
    """The appointment, called at counter 1 and sent to counter 2 only; a normal
    gjj ticket issued meanwhile waits too."""
    tid = _appointment(hall, clock, "bdc")
    hall.call_next(1)
    hall.issue("gjj")
    hall.transfer(1, to_counter=2)
    return tid


def _reasons(events: list[Event]) -> list[object]:
    return [e.data.get("reason") for e in events if e.name == "ticket.transferred"]


def test_an_appointment_moved_before_its_slot_waits_for_it_then_goes_first() -> None:
    hall, clock = make_hall()
    tid = _appointment(hall, clock, "bdc")
    hall.move(tid, service="bdc")
    assert hall.waiting("bdc") == 2
    assert _first_after_slot(hall, clock, 3, "bdc") == tid


def test_an_appointment_transferred_to_a_service_goes_first_there_once_its_slot_starts() -> None:
    hall, clock = make_hall()
    tid = _appointment(hall, clock, "bdc")
    hall.call_next(1)
    hall.transfer(1, service="bdc")
    assert _first_after_slot(hall, clock, 3, "bdc") == tid


def test_an_appointment_back_from_a_closed_counter_rejoins_its_group() -> None:
    hall, clock = make_hall()
    tid = _sent_to_counter_2(hall, clock)
    hall.close_counter(2)
    assert hall.waiting("gjj") == 2
    assert _first_after_slot(hall, clock, 1, "gjj") == tid


def test_an_appointment_back_from_a_long_paused_counter_rejoins_its_group() -> None:
    hall, clock = make_hall()
    tid = _sent_to_counter_2(hall, clock)
    hall.pause(2)
    clock.advance(hall.config.dispatch.transfer_timeout)
    events = hall.expire_transfers()
    assert _reasons(events) == ["transfer_timeout"]
    assert _first_after_slot(hall, clock, 1, "gjj") == tid


def test_an_appointment_waiting_for_a_counter_closed_at_restore_rejoins_its_group() -> None:
    hall, clock = make_hall()
    tid = _sent_to_counter_2(hall, clock)
    tickets = hall.tickets()
    # restored with counter 2 closed (not given): the next tick returns its ticket
    restored = Hall.restore(hall.config, clock, tickets, [hall.counter_state(1)])
    events = restored.expire_transfers()
    assert _reasons(events) == ["counter_closed"]
    assert _first_after_slot(restored, clock, 1, "gjj") == tid


def test_an_appointment_on_a_route_joins_its_next_step_by_its_slot() -> None:
    hall = Hall(ROUTE_CFG, FakeClock(at(9)))
    for c in (1, 2, 3, 4):
        hall.open_counter(c, f"s{c}", f"员工{c}")
    case = hall.issue("jj", "appointment", slot_start=at(9))[0].data["ticket"]["id"]
    hall.call_next(1)
    hall.complete(1)
    t = hall.ticket(case)
    assert isinstance(t, Ticket) and (t.service, t.step, t.status) == ("js", 1, "waiting")
    assert hall.call_next(2)[0].data["ticket"]["id"] == case


def test_an_ordinary_ticket_carries_no_route_id() -> None:
    hall, _clock = make_hall()
    t = hall.ticket(hall.issue("gjj")[0].data["ticket"]["id"])
    assert t is not None and (t.route, t.step, t.route_id) == ((), 0, "")
