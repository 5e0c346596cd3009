"""What counters give a service over time and how recent arrivals weigh
(``Forecast.supplies``, ``_rate``/``_expire``), and when an appointment counts
as started (``Queues.group_list``, ``Queues.promote``):

* an estimate read later without any command in between sees the clock move
  (a counter's lunch break comes closer);
* an ``ordered`` counter serves a later service once it has cleared *all* its
  earlier services' queues, and their new arrivals *all* come first;
* a jump (priority ticket) counts for :data:`RATE_WINDOW_S` seconds, the
  stamp exactly that old included; a restored hall reads no older one;
* an appointment has started from its slot start on (inclusive); a call
  promotes the due appointments of every service of the counter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.core import Hall
from server.core.forecast import RATE_WINDOW_S
from server.core.model import Ticket
from tests.core.builders import at, config, counter, make_hall, service

HOURS = ((dt.time(8, 30), dt.time(12, 0)), (dt.time(13, 30), dt.time(17, 30)))


def test_an_estimate_read_later_without_a_command_follows_the_clock() -> None:
    hall, clock = make_hall(config([service("gjj", "A", hours=HOURS)], [counter(1, ["gjj"])]),
                            at(11))
    hall.issue("gjj")
    hall.call_next(1)
    assert hall.queue_wire("gjj")["eta_s"] == 300
    clock.advance(58 * 60)  # 11:58, nothing happened: 120 s before lunch, then from 13:30
    later = hall.queue_wire("gjj")
    assert (later["eta_s"], later["eta_after"]) == (120 + 5400 + 180, "2026-11-26T13:30:00+08:00")


def test_an_ordered_counter_clears_all_its_earlier_services_first() -> None:
    cfg = config([service("s1", "A"), service("s2", "B"), service("s3", "C")],
                 [counter(1, ["s1", "s2", "s3"])])
    hall, _clock = make_hall(cfg)
    hall.issue("s1")
    hall.call_next(1)              # counter 1 busy
    hall.issue("s1")
    hall.issue("s2")
    # s3 after s1's and s2's queues (300 + 300 s); from then on half its
    # time: s1's 2 arrivals and s2's 1 in the last 1800 s bring
    # (2 + 1) x 300 / 1800 = 0.5 of work a second. Its ticket's 300 s: 600 s.
    assert hall.queue_wire("s3")["eta_s"] == 600 + 600


def _jump_then_one_waiting(at_s: float) -> tuple[Hall, dict[str, Any], Ticket]:
    """A priority ticket at 09:00 (called: counter 1 busy), a normal one
    ``at_s`` seconds later: the hall, the ``ticket.issued`` wire, the ticket."""
    hall, clock = make_hall(config([service("gjj", "A")], [counter(1, ["gjj"])]))
    hall.issue("gjj", "priority")
    hall.call_next(1)
    clock.advance(at_s)
    issued = hall.issue("gjj")[0].data["ticket"]
    t = hall.ticket(issued["id"])
    assert t is not None
    return hall, issued, t


def test_a_jump_counts_for_the_window_its_last_second_included() -> None:
    # Within the window the jump rate (1 per 1800 s) adds 300/1800, then
    # 350/1800 of a call: 350 s. A second later the stamp is gone: 300 s.
    hall, _issued, t = _jump_then_one_waiting(RATE_WINDOW_S)
    assert hall.wire_ticket(t)["eta_s"] == 350
    hall, _issued, t = _jump_then_one_waiting(RATE_WINDOW_S + 1)
    assert hall.wire_ticket(t)["eta_s"] == 300


# Pins a bug found by mutation testing (session 6), fixed since: Hall.issue builds
# ticket.issued (wire_ticket) before _queue_events advances the forecast's rates to now, so
# the issued ticket's ETA counts the jumps as of the previous command (here one that left
# the window a second ago): 350 s, then 300 s for the same ticket with no command in
# between
def test_the_issued_ticket_reads_the_rates_as_of_its_own_command() -> None:
    hall, issued, t = _jump_then_one_waiting(RATE_WINDOW_S + 1)
    assert issued["eta_s"] == hall.wire_ticket(t)["eta_s"] == 300


def test_a_restored_hall_reads_no_jump_older_than_the_window() -> None:
    hall, _issued, t = _jump_then_one_waiting(RATE_WINDOW_S + 600)  # the jump is 40 min old
    now = at(9) + dt.timedelta(seconds=RATE_WINDOW_S + 600)
    again = Hall.restore(hall.config, lambda: now, hall.tickets(), hall.counter_states())
    assert again.wire_ticket(t)["eta_s"] == hall.wire_ticket(t)["eta_s"] == 300


def test_an_appointment_issued_at_its_slot_start_has_started() -> None:
    hall, clock = make_hall(config([service("gjj", "A")], [counter(1, ["gjj"])]))
    hall.issue("gjj")
    hall.call_next(1)
    normal = hall.ticket(hall.issue("gjj")[0].data["ticket"]["id"])
    assert normal is not None
    clock.advance(300)
    hall.issue("gjj", "appointment", at(9, 5))  # exactly at its slot
    assert hall.ahead(normal) == 1              # its group comes first at once


def test_a_call_promotes_the_due_appointments_of_every_service() -> None:
    hall, clock = make_hall()  # counter 1: gjj then tax (ordered)
    hall.issue("tax")                            # B001, normal
    clock.advance(10)
    hall.issue("tax", "appointment", at(9, 5))   # B002, slot in 5 min: normal till then
    clock.advance(290)
    # 09:05: gjj has no appointment at all; tax's is due and goes first.
    assert hall.call_next(1)[0].data["ticket"]["number"] == "B002"
