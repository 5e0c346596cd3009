"""The clock-aware ETA (server/core/eta.py, Hall._estimate): a break ahead,
a counter back after its break, a counter closing, an appointment block,
eta_after and the range; each figure worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from server.core import BadRequest, NotFound, eta
from tests.core.builders import at, config, counter, make_hall, service

_T = dt.time
HALL_HOURS = ((_T(8, 30), _T(12)), (_T(13, 30), _T(17, 30)))


def _lunch_hall(start: dt.datetime, counters: int = 1):
    svc = service("gjj", "A", hours=HALL_HOURS)  # default_service_s 300
    cfg = config([svc], [counter(n, ["gjj"]) for n in range(1, counters + 1)])
    return make_hall(cfg, start)


def _issue(hall, clock, n: int) -> list[str]:
    return [hall.issue("gjj")[0].ticket.id for _ in range(n)]


def test_a_ticket_not_reached_before_the_break_says_after_it():
    hall, clock = _lunch_hall(at(11, 40))
    _issue(hall, clock, 1)
    hall.call_next(1)                    # counter 1 busy, no history: 300 s a ticket
    ids = _issue(hall, clock, 5)
    first = hall.wire_ticket(hall.ticket(ids[0]))
    # 0 ahead + itself = 1 call, 300 s: well before 12:00. Range +-300/sqrt(2):
    # 60-540 s, under 10 minutes wide, so none.
    assert (first["eta_s"], first["eta_after"]) == (300, None)
    assert "eta_low_s" not in first
    last = hall.wire_ticket(hall.ticket(ids[4]))
    # 4 ahead + itself = 5 calls = 1500 s of work; 1200 s until 12:00, the other
    # 300 s after 13:30: 1200 + 5400 (lunch) + 300 = 6900 s, reached after 13:30.
    assert last["eta_s"] == 6900
    assert last["eta_after"] == "2026-11-26T13:30:00+08:00"
    # Range: the 1500 s of work +- 1500/sqrt(6) = 612 s (lunch is certain):
    # 6288..7512 s, widened to whole minutes.
    assert (last["eta_low_s"], last["eta_high_s"]) == (6240, 7560)
    # The estimator before issue #17 ignored the break: 5 x 300 s.
    assert hall.previous_eta_s(hall.ticket(ids[4])) == 1500


def test_a_counter_on_its_lunch_break_is_expected_back():
    hall, clock = _lunch_hall(at(11, 50))
    ids = _issue(hall, clock, 3)
    hall.call_next(1)
    clock.now = at(12, 0, 30)
    hall.complete(1)
    events = hall.close_counter(1)       # the counter goes to lunch
    queue = [e.data for e in events if e.name == "queue.changed"][0]
    # Nobody open now, but counter 1 worked today and its hours resume at
    # 13:30: the 2 waiting tickets + a new one = 3 calls x the mean cycle,
    # now the one measured: call 11:50:00 -> complete 12:00:30 = 630 s.
    cycle = 630
    assert queue["open_counters"] == 0
    assert queue["eta_after"] == "2026-11-26T13:30:00+08:00"
    assert queue["eta_s"] == round(at(13, 30).timestamp() - at(12, 0, 30).timestamp()
                                   + 3 * cycle)
    second = hall.wire_ticket(hall.ticket(ids[2]))
    assert second["eta_after"] == "2026-11-26T13:30:00+08:00"
    assert second["eta_s"] == round(5370 + 2 * cycle)
    # The old estimate: nobody open, counted as one counter from now: 2 calls.
    assert hall.previous_eta_s(hall.ticket(ids[2])) == round(2 * cycle)


def test_a_counter_closing_in_its_hours_is_not_expected_back():
    hall, clock = _lunch_hall(at(9), counters=2)
    _issue(hall, clock, 2)
    hall.call_next(1)
    hall.call_next(2)
    _issue(hall, clock, 3)
    assert hall.queue_wire("gjj")["eta_s"] == 600     # (3 + 1) x 300 / 2 counters
    clock.advance(120)
    hall.complete(1)                     # mean cycle now 120 s
    events = hall.close_counter(1)       # staff logs out at 09:02, hours run on
    queue = [e.data for e in events if e.name == "queue.changed"][0]
    # 3 waiting + a new one = 4 calls x 120 s on counter 2 alone (were
    # counter 1 expected back, 240 s); no break ahead.
    assert queue == {"service": "gjj", "waiting": 3, "eta_s": 480, "eta_after": None,
                     "open_counters": 1}


def test_an_appointment_block_due_before_the_ticket_is_reached_counts_ahead():
    hall, clock = make_hall(config(counters=[counter(1, ["gjj"])]))
    hall.issue("gjj")
    hall.call_next(1)
    ids = [hall.issue("gjj")[0].ticket.id for _ in range(3)]
    mine = ids[2]
    assert hall.wire_ticket(hall.ticket(mine))["eta_s"] == 900   # 2 ahead + itself
    # Three appointments check in after it, for the 09:10 slot (in 600 s): they
    # queue as normal tickets behind it until then, but it is reached only at
    # 900 s: they go first. 6 calls x 300 s.
    for _ in range(3):
        hall.issue("gjj", "appointment", slot_start=at(9, 10))
    assert hall.wire_ticket(hall.ticket(mine))["ahead"] == 2
    assert hall.wire_ticket(hall.ticket(mine))["eta_s"] == 1800
    # A block for 09:40 (2400 s) starts after it is reached: no change.
    hall2, _clock2 = make_hall(config(counters=[counter(1, ["gjj"])]))
    hall2.issue("gjj")
    hall2.call_next(1)
    ids2 = [hall2.issue("gjj")[0].ticket.id for _ in range(3)]
    for _ in range(3):
        hall2.issue("gjj", "appointment", slot_start=at(9, 40))
    assert hall2.wire_ticket(hall2.ticket(ids2[2]))["eta_s"] == 900


def _booked_hall():
    """One counter busy (300 s a ticket, no history), three normal tickets waiting."""
    hall, clock = make_hall(config(counters=[counter(1, ["gjj"])]))
    hall.issue("gjj")
    hall.call_next(1)
    ids = [hall.issue("gjj")[0].ticket.id for _ in range(3)]
    return hall, clock, ids[2]


def test_booked_appointments_due_before_the_ticket_is_reached_count_ahead():
    hall, _clock, mine = _booked_hall()
    assert hall.wire_ticket(hall.ticket(mine))["eta_s"] == 900   # 2 ahead + itself
    assert hall.queue_wire("gjj")["eta_s"] == 1200               # 3 ahead + itself
    # Three booked for the 09:10 slot (in 600 s), none checked in: they go
    # first once it starts, and the ticket is reached only at 900 s.
    events = hall.set_appointments("gjj", [(at(9, 10), 2), (at(9, 10), 1)])
    changed = [e.data for e in events if e.name == "queue.changed"]
    # A ticket issued now: 4 calls + the 3 booked = 7 x 300 s.
    assert changed and changed[0]["eta_s"] == 2100
    assert hall.queue_wire("gjj")["eta_s"] == 2100
    assert hall.wire_ticket(hall.ticket(mine))["eta_s"] == 1800  # (3 + 3) x 300 s
    assert hall.wire_ticket(hall.ticket(mine))["ahead"] == 2     # ahead is who waits now
    # The same again changes nothing (no event); cancelled, the estimate is back.
    assert hall.set_appointments("gjj", [(at(9, 10), 3)]) == []
    events = hall.set_appointments("gjj", [])
    assert [e.data["eta_s"] for e in events if e.name == "queue.changed"] == [1200]
    assert hall.wire_ticket(hall.ticket(mine))["eta_s"] == 900


def test_a_booked_block_after_the_ticket_is_reached_does_not_count():
    hall, _clock, mine = _booked_hall()
    # 09:40 is 2400 s away; the ticket is reached at 900 s, the queue's next at
    # 1200 s. A slot whose check-in window has passed (this service has no
    # late check-in: 08:50) is a miss and does not count either.
    assert hall.set_appointments("gjj", [(at(9, 40), 6), (at(8, 50), 4)]) == []
    assert hall.wire_ticket(hall.ticket(mine))["eta_s"] == 900
    assert hall.queue_wire("gjj")["eta_s"] == 1200


def test_booked_appointments_overtake_a_normal_ticket_at_most_the_interleaving_share():
    hall, _clock, mine = _booked_hall()
    # 20 booked for 09:05: with priority_per_normal = 2 (the default) the
    # counter calls 2 specials per normal call, so the 3 calls to the ticket
    # let at most 6 of them go first: 9 x 300 s.
    assert hall.config.dispatch.priority_per_normal == 2
    hall.set_appointments("gjj", [(at(9, 5), 20)])
    assert hall.wire_ticket(hall.ticket(mine))["eta_s"] == 2700
    # A priority ticket has no such bound: all 20 appointments go before it.
    prio = hall.issue("gjj", "priority")[0].ticket
    # Nothing waits ahead of it (no appointment or priority ticket): 1 call,
    # reached at 09:05 when the slot starts, + the 20 booked = 21 x 300 s.
    assert hall.wire_ticket(prio)["ahead"] == 0
    assert hall.wire_ticket(hall.ticket(prio.id))["eta_s"] == 21 * 300


def test_an_appointment_ticket_is_overtaken_only_by_bookings_for_earlier_slots():
    hall, _clock, _mine = _booked_hall()
    # Checked in early for 09:40: it queues as a normal ticket (4th) until then.
    appt = hall.issue("gjj", "appointment", slot_start=at(9, 40))[0].ticket
    assert hall.wire_ticket(hall.ticket(appt.id))["eta_s"] == 1200   # 3 ahead + itself
    # Bookings for its own slot check in after it and rank behind it once the
    # slot starts; those for 09:10 go first: + 2 x 300 s.
    hall.set_appointments("gjj", [(at(9, 10), 2), (at(9, 40), 5)])
    assert hall.wire_ticket(hall.ticket(appt.id))["eta_s"] == 1800


def test_bad_appointment_counts_change_nothing():
    hall, _clock, mine = _booked_hall()
    with pytest.raises(BadRequest):
        hall.set_appointments("gjj", [(at(9, 10), 3), (dt.datetime(2026, 11, 26, 9, 20), 1)])
    with pytest.raises(BadRequest):
        hall.set_appointments("gjj", [(at(9, 10), -1)])
    with pytest.raises(NotFound):
        hall.set_appointments("nope", [(at(9, 10), 1)])
    assert hall.wire_ticket(hall.ticket(mine))["eta_s"] == 900


def test_the_live_estimate_moves_with_the_queue():
    hall, clock = make_hall(config(counters=[counter(1, ["gjj"])]))
    hall.issue("gjj")
    hall.call_next(1)
    ids = [hall.issue("gjj")[0].ticket.id for _ in range(4)]
    printed = hall.wire_ticket(hall.ticket(ids[3]))["eta_s"]
    assert printed == 1200               # 3 ahead + itself
    clock.advance(60)
    hall.complete(1)                     # the first took 60 s: the mean moves
    hall.call_next(1)
    live = hall.wire_ticket(hall.ticket(ids[3]))
    assert live["ahead"] == 2 and live["eta_s"] == 180   # 2 ahead + itself, 60 s each
    assert hall.by_check(hall.ticket(ids[3]).check).id == ids[3]


# ------------------------------------------------------------- pure functions
def test_schedule_merges_the_services_hours():
    morning = ((_T(8, 30), _T(12)),)
    assert eta.schedule([HALL_HOURS, morning]) == ((30600.0, 43200.0), (48600.0, 63000.0))
    assert eta.schedule([HALL_HOURS, ((_T(8, 30), _T(17, 30)),)]) == ((30600.0, 63000.0),)
    assert eta.schedule([HALL_HOURS, ()]) == ()          # a service open all day


def test_supply_open_closed_and_on_break():
    sched = eta.schedule([HALL_HOURS])
    eleven, half_twelve = 11 * 3600.0, 12.5 * 3600.0
    assert eta.supply(sched, eleven, True, True) == ((0.0, 3600.0), (9000.0, math.inf))
    assert eta.supply(sched, eleven, False, True) == ()       # logged out in its hours
    assert eta.supply(sched, half_twelve, False, True) == ((3600.0, math.inf),)
    assert eta.supply(sched, half_twelve, False, False) == ()  # never came today
    assert eta.supply(sched, 18 * 3600.0, True, True) == ((0.0, math.inf),)
    assert eta.supply((), eleven, True, False) == ((0.0, math.inf),)


def test_drain_reports_the_break_it_waits_out():
    two = eta.Supply(((0.0, 100.0), (400.0, math.inf)))
    assert eta.drain([two], 50) == (50.0, 0.0, 0.0)
    assert eta.drain([two], 150) == (450.0, 400.0, 300.0)
    half = eta.Supply(((0.0, math.inf),), share=0.5, begin=100)
    assert eta.drain([half], 50) == (200.0, 0.0, 0.0)          # 100 s owed, then half
    assert eta.drain([], 50) is None
    assert eta.spread(900, 0, 2) == (360, 1440)                # 900 +- 900/sqrt(3)
    assert eta.spread(300, 0, 1) is None                       # narrower than 10 min


def test_priority_tickets_still_to_come_overtake_a_normal_one():
    hall, clock = make_hall(config(counters=[counter(1, ["gjj"])]))
    hall.issue("gjj")
    hall.call_next(1)
    for _ in range(3):
        hall.issue("gjj", "priority")    # 3 priority tickets in the last 30 minutes
    mine = hall.issue("gjj")[0].ticket
    # 3 ahead + itself = 4 calls x 300 s, plus the priority tickets that will
    # come meanwhile (3 per 1800 s, each 300 s): T = 1200 + T/2, T = 2400.
    assert hall.wire_ticket(mine)["ahead"] == 3
    assert abs(hall.wire_ticket(mine)["eta_s"] - 2400) <= 30
    # A priority ticket is not overtaken by later ones: 2 ahead + itself.
    first = hall.ticket([t.id for t in hall.tickets() if t.priority == "priority"][2])
    assert hall.wire_ticket(first)["eta_s"] == 900


def test_a_ticket_transferred_to_the_counter_comes_first_there():
    hall, clock = make_hall(config(counters=[counter(1, ["gjj"]), counter(2, ["tax"])]))
    hall.issue("gjj")
    hall.call_next(1)                    # counter 1 busy with a gjj ticket
    hall.issue("tax")
    hall.call_next(2)
    hall.transfer(2, to_counter=1)       # the tax ticket now waits for counter 1 only
    mine = hall.issue("gjj")[0].ticket
    # 0 ahead + itself = 1 call x 300 s, but counter 1 owes the transfer 300 s first.
    assert hall.wire_ticket(mine)["eta_s"] == 600
    assert hall.previous_eta_s(mine) == 300  # before: the transfer was not seen
