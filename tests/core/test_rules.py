"""Core rules written so that a plausible wrong implementation fails.

Production runs the hall on a UTC clock (``HallService``'s default), while
most core tests use a clock already in Shanghai time, where "the local date"
and "the clock's date" are the same thing. The tests here use a **UTC clock**
around the two instants that tell them apart: local midnight in Shanghai
(16:00 UTC) and 00:00 UTC (08:00 in Shanghai). Orders of operations are
exercised in the order that separates two readings of a rule (transfers in
reverse issue order, ...), and boundaries at exactly the limit.
"""

from __future__ import annotations

import datetime as dt

import pytest

from server.core import (
    BadRequest,
    Closed,
    Conflict,
    Expired,
    Forbidden,
    Hall,
    IllegalMove,
    NotFound,
    QuotaReached,
)
from tests.core.builders import config, counter, make_hall, service
from tests.helpers.fakes import FakeClock

UTC = dt.UTC


def utc(hour: int, minute: int = 0, second: int = 0, day: int = 26) -> dt.datetime:
    """An aware UTC datetime on 2026-11-<day> (Shanghai is 8 hours ahead)."""
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def utc_hall(start: dt.datetime, cfg=None) -> tuple[Hall, FakeClock]:
    return make_hall(cfg, start=start)


def numbers(tickets) -> list[str]:
    return [t.number for t in tickets]


# ----------------------------------------------------------- local day, UTC clock
def test_numbers_restart_at_local_midnight_on_a_utc_clock():
    hall, clock = utc_hall(utc(15, 59, 0))  # 23:59 in Shanghai on the 26th
    first = hall.issue("gjj")[0].ticket
    assert (first.number, first.day) == ("A001", dt.date(2026, 11, 26))
    clock.now = utc(16, 0, 1)  # 00:00:01 on the 27th in Shanghai; still the 26th in UTC
    new_day = hall.issue("gjj")[0].ticket
    assert (new_day.number, new_day.day) == ("A001", dt.date(2026, 11, 27))
    assert new_day.issued_at.astimezone(UTC).date() == dt.date(2026, 11, 26)


def test_numbers_do_not_restart_at_utc_midnight():
    hall, clock = utc_hall(utc(23, 59, 0))  # 07:59 on the 27th in Shanghai
    assert hall.issue("gjj")[0].ticket.number == "A001"
    clock.now = utc(0, 0, 1, day=27)  # UTC midnight: 08:00:01, same local day
    later = hall.issue("gjj")[0].ticket
    assert (later.number, later.day) == ("A002", dt.date(2026, 11, 27))
    assert hall.last_numbers == {("gjj", dt.date(2026, 11, 27)): 2}


def _limited(start: dt.datetime) -> tuple[Hall, FakeClock]:
    svc = service("gjj", "A", hours=((dt.time(9), dt.time(17)),), daily_quota=1)
    return make_hall(config([svc], [counter(1, ["gjj"])]), start=start)


@pytest.mark.parametrize(("moment", "open_"), [
    (utc(0, 59, 59), False),   # 08:59:59 local
    (utc(1, 0, 0), True),      # 09:00:00 local: the start is inside
    (utc(8, 59, 59), True),    # 16:59:59 local
    (utc(9, 0, 0), False),     # 17:00:00 local: the end is outside
    (utc(12, 0, 0), False),    # noon UTC = 20:00 local
])
def test_hours_are_local_wall_clock_on_a_utc_clock(moment, open_):
    hall, _clock = _limited(moment)
    if open_:
        assert hall.issue("gjj")[0].ticket.number == "A001"
    else:
        with pytest.raises(Closed):
            hall.issue("gjj")


def test_quota_is_per_local_day_on_a_utc_clock():
    svc = service("gjj", "A", daily_quota=1)
    hall, clock = make_hall(config([svc], [counter(1, ["gjj"])]), start=utc(15, 0))
    hall.issue("gjj")                      # 23:00 local on the 26th
    clock.now = utc(0, 30, day=27)         # UTC day changed, local day (27th 08:30) too
    hall.issue("gjj")
    clock.now = utc(15, 59, 59, day=27)    # still the 27th locally: quota used up
    with pytest.raises(QuotaReached):
        hall.issue("gjj")
    clock.now = utc(16, 0, 0, day=27)      # local midnight: a fresh quota
    assert hall.issue("gjj")[0].ticket.number == "A001"


def test_stats_count_the_local_day_on_a_utc_clock():
    hall, clock = utc_hall(utc(15, 0))     # 23:00 local, the 26th
    hall.issue("gjj")
    hall.call_next(1)
    hall.complete(1)
    clock.now = utc(15, 59, 59)
    assert hall.stats(1)["served"] == 1
    clock.now = utc(16, 0, 0)              # local midnight: yesterday's work is not today's
    assert hall.stats(1)["served"] == 0
    hall.issue("gjj")
    hall.call_next(1)
    hall.complete(1)
    clock.now = utc(0, 0, 1, day=27)       # UTC midnight: same local day
    assert hall.stats(1)["served"] == 1 and hall.stats()["served"] == 1


def test_wire_times_are_in_the_hall_zone_whatever_the_clock():
    hall, _clock = utc_hall(utc(16, 30))
    wire = hall.issue("gjj")[0].data["ticket"]
    assert wire["issued_at"] == "2026-11-27T00:30:00+08:00"


# ------------------------------------------------------------ transfer order
def _two_held(placement: str) -> tuple[Hall, FakeClock]:
    """A001 at counter 1 and A002 at counter 2 (both called), then B001, B002 waiting."""
    hall, clock = make_hall(config(transfer_placement=placement))
    hall.issue("gjj")        # A001 09:00:00
    clock.advance(10)
    hall.issue("gjj")        # A002 09:00:10
    clock.advance(10)
    assert hall.call_next(1)[0].ticket.number == "A001"
    assert hall.call_next(2)[0].ticket.number == "A002"  # no tax waiting yet
    hall.issue("tax")        # B001 09:00:20
    clock.advance(10)
    hall.issue("tax")        # B002 09:00:30
    clock.advance(10)
    return hall, clock


def test_head_transfers_in_reverse_issue_order_go_by_transfer_time():
    hall, clock = _two_held("head")
    hall.transfer(2, service="tax")   # A002 first ...
    clock.advance(5)
    hall.transfer(1, service="tax")   # ... then A001
    assert numbers(hall.queue(2)) == ["A002", "A001", "B001", "B002"]
    order = []
    for _ in range(4):
        order.append(hall.call_next(2)[0].ticket.number)
        hall.complete(2)
    assert order == ["A002", "A001", "B001", "B002"]


@pytest.mark.parametrize(("placement", "where", "order"), [
    ("tail", {"service": "tax"}, ["B001", "B002", "A002", "A001"]),
    ("issue_time", {"service": "tax"}, ["A001", "A002", "B001", "B002"]),
    ("head", {"to_counter": 3}, ["A002", "A001"]),   # transfers to a counter: by time
])
def test_other_transfers_in_reverse_issue_order(placement, where, order):
    hall, clock = _two_held(placement)
    hall.open_counter(3, "s3", "员工3")
    hall.transfer(2, **where)          # A002 first ...
    clock.advance(5)
    hall.transfer(1, **where)          # ... then A001
    looked_at = 3 if "to_counter" in where else 2
    assert numbers(hall.queue(looked_at)) == order


def test_head_transfer_keeps_its_priority_group():
    hall, clock = make_hall(config(transfer_placement="head"))
    hall.issue("gjj")                        # A001 normal
    clock.advance(10)
    hall.call_next(1)
    hall.issue("tax", "priority")            # B001 priority
    clock.advance(10)
    hall.transfer(1, service="tax")          # A001 normal: head of the *normal* group
    assert numbers(hall.queue(2)) == ["B001", "A001"]


# ----------------------------------------------------------------- boundaries
def test_requeue_window_includes_its_last_second():
    hall, clock = make_hall(config(no_show_return_s=600))
    tid = hall.issue("gjj")[0].ticket.id
    hall.call_next(1)
    hall.no_show(1)
    clock.advance(600)  # exactly the window: still allowed
    assert hall.requeue(tid)[0].name == "ticket.requeued"
    hall.call_next(1)
    hall.no_show(1)
    clock.advance(600.5)
    with pytest.raises(Expired):
        hall.requeue(tid)


def test_appointment_whose_slot_starts_now_is_in_the_appointment_group():
    hall, clock = make_hall(config(priority_per_normal=5))
    hall.issue("gjj")                                     # A001 normal, oldest
    clock.advance(10)
    hall.issue("gjj", "appointment", slot_start=clock.now + dt.timedelta(seconds=60))
    clock.advance(60)                                     # slot_start == now
    assert hall.call_next(1)[0].ticket.number == "A002"


def test_appointment_before_its_slot_queues_as_normal_by_issue_time():
    hall, clock = make_hall()
    hall.issue("gjj", "appointment", slot_start=clock.now + dt.timedelta(hours=1))  # A001
    clock.advance(10)
    hall.issue("gjj")                                     # A002
    clock.advance(10)
    assert numbers(hall.queue(1)) == ["A001", "A002"]
    hall.issue("gjj", "appointment", slot_start=clock.now + dt.timedelta(hours=1))  # A003
    assert numbers(hall.queue(1)) == ["A001", "A002", "A003"]
    clock.advance(3600)                                   # both slots started
    assert numbers(hall.queue(1)) == ["A001", "A003", "A002"]


def test_interleaving_allows_exactly_priority_per_normal_in_a_row():
    hall, clock = make_hall(config(priority_per_normal=1))
    hall.issue("gjj")                           # A001 normal
    for _ in range(3):
        clock.advance(10)
        hall.issue("gjj", "priority")           # A002..A004
    order = []
    for _ in range(4):
        order.append(hall.call_next(2)[0].ticket.number)
        hall.complete(2)
    assert order == ["A002", "A001", "A003", "A004"]


def test_close_day_cancels_in_issue_order_across_services():
    hall, clock = make_hall()
    hall.issue("tax")   # B001 09:00
    clock.advance(10)
    hall.issue("gjj")   # A001 09:00:10
    clock.advance(10)
    hall.issue("bdc")   # C001
    cancelled = [e.data["ticket"]["number"] for e in hall.close_day()
                 if e.name == "ticket.cancelled"]
    assert cancelled == ["B001", "A001", "C001"]



# ------------------------------------------------------------ exact figures
def test_counter_stats_are_exact():
    hall, clock = make_hall()
    for _ in range(4):
        hall.issue("gjj")
    done = []
    for service_s in (60, 121):                 # two served at counter 2: mean 90.5 -> 90
        t = hall.call_next(2)[0].ticket
        hall.start(2)
        clock.advance(service_s)
        hall.complete(2)
        done.append(t.id)
    hall.call_next(2)
    hall.no_show(2)
    hall.rate(2, done[0], 3)                     # satisfied from 3 up
    hall.rate(2, done[1], 2)
    assert hall.stats(2) == {"counter": 2, "served": 2, "no_shows": 1, "avg_service_s": 90,
                             "rated": 2, "satisfied": 1, "waiting": 1}
    assert hall.stats(1)["served"] == 0 and hall.stats(1)["avg_service_s"] is None
    assert hall.stats()["served"] == 2 and hall.stats()["counter"] is None


@pytest.mark.parametrize(("score", "ok"), [(0, False), (1, True), (5, True), (6, False)])
def test_rating_scores_run_from_one_to_five(score, ok):
    hall, clock = make_hall()
    tid = hall.issue("gjj")[0].ticket.id
    hall.call_next(1)
    hall.complete(1)
    if ok:
        assert hall.rate(1, tid, score)[0].data["score"] == score
        assert hall.ticket(tid).rating == score
    else:
        with pytest.raises(BadRequest, match="1 to 5"):
            hall.rate(1, tid, score)
        assert hall.ticket(tid).rating is None


def test_close_day_stamps_the_time_it_closed():
    hall, clock = make_hall()
    tid = hall.issue("gjj")[0].ticket.id
    clock.advance(3600)
    hall.close_day()
    assert hall.ticket(tid).finished_at == clock.now


def test_error_messages_say_what_and_why():
    """Messages reach staff screens: they name the command, the ticket, the limits."""
    hall, clock = make_hall()
    for command in ("recall", "start", "complete", "no_show", "transfer"):
        with pytest.raises(Conflict, match=command.replace("_", "-")):
            getattr(hall, command)(1) if command != "transfer" else hall.transfer(1, "tax")
    tid = hall.issue("gjj")[0].ticket.id
    hall.call_next(1)
    hall.complete(1)
    with pytest.raises(Forbidden, match="A001.*counter 1, not 2"):
        hall.rate(2, tid, 4)


# ------------------------------------------------- events and counter versions
def test_counter_state_events_carry_the_new_state_and_one_version_step():
    hall, clock = make_hall(open_all=False)
    opened = hall.open_counter(1, "s1", "员工1")[0]
    assert (opened.name, opened.counter.state, opened.counter.version) == \
        ("counter.opened", "open", 2)
    paused = hall.pause(1, "午休")[0]
    assert (paused.name, paused.counter.state, paused.counter.reason, paused.counter.version) == \
        ("counter.paused", "paused", "午休", 3)
    resumed = hall.resume(1)[0]
    assert (resumed.name, resumed.data) == ("counter.resumed", {"counter": 1})
    assert (resumed.counter.state, resumed.counter.reason, resumed.counter.version) == \
        ("open", "", 4)
    closed = hall.close_counter(1)[0]
    assert (closed.name, closed.data) == ("counter.closed", {"counter": 1})
    assert (closed.counter.state, closed.counter.staff_id, closed.counter.staff_name,
            closed.counter.reason, closed.counter.version) == ("closed", None, None, "", 5)
    assert hall.counter_state(1).version == 5
    with pytest.raises(Conflict, match="1号窗口 is closed; log in first"):
        hall.resume(1)


def test_close_counter_refuses_while_a_ticket_is_held_and_says_how_to_go_on():
    hall, clock = make_hall()
    hall.issue("gjj")
    hall.call_next(1)
    with pytest.raises(Conflict, match="A001 .called.; complete it, mark it no-show or "
                                       "transfer it before closing"):
        hall.close_counter(1)
    assert hall.counter_state(1).state == "open"


def test_cancel_event_and_time():
    hall, clock = make_hall()
    tid = hall.issue("gjj")[0].ticket.id
    clock.advance(90)
    events = hall.cancel(tid)
    ev = events[0]
    assert (ev.name, ev.data["counter"], ev.counter) == ("ticket.cancelled", None, None)
    assert ev.ticket.status == "cancelled" and hall.ticket(tid).finished_at == clock.now
    assert [e.name for e in events[1:]] == ["queue.changed"]


def test_specific_call_refusals_say_why():
    hall, clock = make_hall()
    hall.issue("bdc")                                    # C001: counter 3 only
    tid = hall.ticket("t1").id
    with pytest.raises(Forbidden, match="1号窗口 does not serve bdc"):
        hall.call(1, tid)
    hall.issue("gjj")
    hall.call_next(2)                                    # A001 (t2) at counter 2
    hall.transfer(2, to_counter=1)
    with pytest.raises(Forbidden, match="A001 was transferred to counter 1"):
        hall.call(2, "t2")
    called = hall.call(1, "t2")[0]
    assert called.ticket.called_at == clock.now


def test_illegal_moves_name_the_ticket_the_state_and_where_it_is_allowed():
    hall, clock = make_hall()
    tid = hall.issue("gjj")[0].ticket.id
    with pytest.raises(IllegalMove) as info:
        hall.requeue(tid)
    err = info.value
    assert (err.command, err.state, err.code) == ("requeue", "waiting", "conflict")
    assert err.ticket.number == "A001"
    assert str(err).startswith("cannot re-queue ticket A001: it is waiting; requeue is only "
                               "allowed when it is no_show")
    hall.call_next(1)
    hall.complete(1)
    hall.rate(1, tid, 5)
    with pytest.raises(IllegalMove, match="already been rated"):
        hall.rate(1, tid, 4)


def test_queries_on_unknown_names_and_defaults():
    hall, clock = make_hall()
    with pytest.raises(NotFound):
        hall.waiting("nope")
    assert hall.mean_service_s("gjj") == 300.0 and isinstance(hall.mean_service_s("gjj"), float)
    assert hall.by_check("C00001") is None


# ------------------------------------------------------------------ restore
def test_restore_puts_a_serving_ticket_back_at_its_counter():
    hall, clock = make_hall()
    hall.issue("gjj")
    hall.call_next(1)
    hall.start(1)
    again = Hall.restore(hall.config, clock, hall.tickets(), hall.counter_states())
    assert again.counter_state(1).current == "t1"
    with pytest.raises(IllegalMove):
        again.call_next(1)                             # still busy with its serving ticket


def test_restore_takes_the_highest_number_from_tickets_or_given_numbers():
    hall, clock = make_hall()
    for _ in range(3):
        hall.issue("gjj")
    day = clock.now.date()
    given = Hall.restore(hall.config, clock, hall.tickets(), hall.counter_states(),
                         last_numbers={("gjj", day): 7})
    assert given.issue("gjj")[0].ticket.number == "A008"
    lower = Hall.restore(hall.config, clock, hall.tickets(), hall.counter_states(),
                         last_numbers={("gjj", day): 1})
    assert lower.issue("gjj")[0].ticket.number == "A004"
    none_given = Hall.restore(hall.config, clock, hall.tickets(), hall.counter_states())
    assert none_given.last_numbers == {("gjj", day): 3}


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: setattr(t, "status", "lost"), "unknown status 'lost'"),
    (lambda t: setattr(t, "service", "nope"), "unknown service 'nope'"),
    (lambda t: setattr(t, "target_counter", 42), "targets unknown counter"),
])
def test_restore_says_what_is_inconsistent(change, message):
    hall, clock = make_hall()
    hall.issue("gjj")
    tickets = hall.tickets()
    change(tickets[0])
    with pytest.raises(ValueError, match=message):
        Hall.restore(hall.config, clock, tickets, hall.counter_states())


def test_restore_refuses_a_ticket_twice_and_a_held_ticket_at_an_unknown_counter():
    hall, clock = make_hall()
    hall.issue("gjj")
    hall.call_next(1)
    twice = hall.tickets() * 2
    with pytest.raises(ValueError, match="appears twice"):
        Hall.restore(hall.config, clock, twice, hall.counter_states())
    stray = hall.tickets()
    stray[0].counter = 42
    with pytest.raises(ValueError, match="called at unknown counter"):
        Hall.restore(hall.config, clock, stray, hall.counter_states())


def test_default_ids_and_check_codes():
    """Without injected generators: uuid4 hex ids, 8-character base32 check codes."""

    clock = FakeClock(utc(1))
    hall = Hall(config(), clock)
    tickets = [hall.issue("gjj")[0].ticket for _ in range(20)]
    assert all(len(t.id) == 32 and int(t.id, 16) >= 0 for t in tickets)
    codes = {t.check for t in tickets}
    assert len(codes) == 20
    assert all(len(c) == 8 and set(c) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for c in codes)
