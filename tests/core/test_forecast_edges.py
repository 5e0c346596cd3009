"""The forecast's edges (server/core/forecast.py) that tell two plausible
rules apart: a booked slot's check-in window, an appointment issued exactly
at its slot start, and what a counter serving several services gives each."""

from __future__ import annotations

import datetime as dt

from server.config import Appointments
from server.core import Hall
from tests.core.builders import at, config, counter, make_hall, service


def _busy_hall(late_min: int | None = None):
    """One counter busy (300 s a ticket), two normal tickets waiting, 09:00."""
    appt = Appointments(late_checkin_min=late_min) if late_min is not None else None
    hall, clock = make_hall(config([service("gjj", "A", appointments=appt)],
                                   [counter(1, ["gjj"])]))
    hall.issue("gjj")
    hall.call_next(1)
    for _ in range(2):
        hall.issue("gjj")
    return hall, clock


def test_a_booking_whose_check_in_window_closes_now_is_a_miss() -> None:
    hall, _clock = _busy_hall()  # no late check-in: the window closes at the slot start
    base = hall.queue_wire("gjj")["eta_s"]
    assert base == 900                                   # 2 ahead + itself
    assert hall.set_appointments("gjj", [(at(9, 0), 2)]) == []   # starts now: missed
    assert hall.set_appointments("gjj", [(at(9, 0, 1), 2)])      # a second later: due
    assert hall.queue_wire("gjj")["eta_s"] == base + 2 * 300


def test_a_late_check_in_window_keeps_a_started_slot_due_to_its_last_second() -> None:
    hall, _clock = _busy_hall(late_min=15)
    base = hall.queue_wire("gjj")["eta_s"]
    assert hall.set_appointments("gjj", [(at(8, 45), 3)]) == []  # closed exactly now
    assert hall.queue_wire("gjj")["eta_s"] == base
    assert hall.set_appointments("gjj", [(at(8, 45, 1), 3)])
    assert hall.queue_wire("gjj")["eta_s"] == base + 3 * 300


def test_an_appointment_issued_at_its_slot_start_jumps_live_and_restored() -> None:
    hall, clock = make_hall(config([service("gjj", "A")], [counter(1, ["gjj"])]),
                            open_all=False)
    hall.issue("gjj", "appointment", slot_start=at(9))  # issued exactly at 09:00
    hall.issue("gjj")
    live = hall.queue_wire("gjj")
    restored = Hall.restore(hall.config, clock, hall.tickets(), hall.counter_states(),
                            hall.last_numbers)
    assert restored.queue_wire("gjj") == live
    # the jump counts: more than the same queue with a plain ticket first
    plain, _ = make_hall(config([service("gjj", "A")], [counter(1, ["gjj"])]),
                         open_all=False)
    plain.issue("gjj")
    plain.issue("gjj")
    assert live["eta_s"] > plain.queue_wire("gjj")["eta_s"]
    later, _ = make_hall(config([service("gjj", "A")], [counter(1, ["gjj"])]),
                         open_all=False)
    later.issue("gjj", "appointment", slot_start=at(9) + dt.timedelta(seconds=1))
    later.issue("gjj")
    assert later.queue_wire("gjj")["eta_s"] == plain.queue_wire("gjj")["eta_s"]


def test_an_oldest_mode_counter_shares_itself_by_waiting_work() -> None:
    # Counter 1 serves gjj and tax, oldest first; counter 2 only tax (closed).
    cfg = config([service("gjj", "A"), service("tax", "B")],
                 [counter(1, ["gjj", "tax"], mode="oldest"), counter(2, ["tax"])])
    hall, _clock = make_hall(cfg, open_all=False)
    hall.open_counter(1, "s1", "王芳")
    hall.issue("gjj")
    hall.call_next(1)                      # busy: nobody is served at once
    alone = hall.queue_wire("gjj")["eta_s"]
    assert alone == 300                    # one call: the counter's current one ends
    for _ in range(3):
        hall.issue("tax")                  # 3 x 300 s of tax work shares the counter
    shared = hall.queue_wire("gjj")["eta_s"]
    # gjj's own load (1 x 300) against 300 + 900: a quarter of the counter
    assert shared == 4 * 300


def test_an_ordered_counter_serves_a_later_service_after_the_earlier_ones() -> None:
    cfg = config([service("gjj", "A"), service("tax", "B")],
                 [counter(1, ["gjj", "tax"]), counter(2, ["gjj"])])
    hall, _clock = make_hall(cfg, open_all=False)
    hall.open_counter(1, "s1", "王芳")
    hall.issue("tax")
    hall.call_next(1)                      # counter 1 busy with tax
    before = hall.queue_wire("tax")["eta_s"]
    for _ in range(2):
        hall.issue("gjj")
    after = hall.queue_wire("tax")["eta_s"]
    # counter 1 (the only one open for gjj) clears gjj's 2 x 300 s first; the
    # arrivals of gjj in the window also take a share of its time
    assert after > before + 2 * 300 - 1
    hall.open_counter(2, "s2", "李强")     # a second gjj counter halves counter 1's part
    assert hall.queue_wire("tax")["eta_s"] < after
