"""Hall unit tests: numbering, hours, quota, dispatch order, transfers,
requeue, ETA, counters, close-out, snapshot and restore."""

from __future__ import annotations

import datetime as dt
import itertools

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
    QueueEmpty,
    QuotaReached,
)
from tests.core.builders import at, config, counter, make_hall, service
from tests.helpers.fakes import FakeClock


def issue(hall: Hall, clock: FakeClock, sid: str = "gjj", priority: str = "normal",
          gap: float = 10, **kw) -> str:
    """Issue a ticket, move the clock on, return the ticket id."""
    events = hall.issue(sid, priority, **kw)
    clock.advance(gap)
    return events[0].ticket.id


def numbers(tickets) -> list[str]:
    return [t.number for t in tickets]


def called(events) -> str:
    ev = events[0]
    assert ev.name == "ticket.called"
    return ev.ticket.number


def drain(hall: Hall, counter_no: int) -> list[str]:
    """call_next + complete until the counter's queue is empty; the numbers called."""
    out = []
    while True:
        try:
            out.append(called(hall.call_next(counter_no)))
        except QueueEmpty:
            return out
        hall.complete(counter_no)


# ------------------------------------------------------------------ numbering
def test_numbers_per_service_prefix_and_three_digits():
    hall, clock = make_hall()
    got = [hall.issue(s)[0].ticket.number for s in ("gjj", "gjj", "tax", "gjj", "bdc")]
    assert got == ["A001", "A002", "B001", "A003", "C001"]
    hall.last_numbers[("gjj", dt.date(2026, 11, 26))] = 999
    assert hall.issue("gjj")[0].ticket.number == "A1000"


def test_issue_event_and_wire_ticket():
    hall, clock = make_hall()
    events = hall.issue("gjj")
    assert [e.name for e in events] == ["ticket.issued", "queue.changed"]
    wire = events[0].data["ticket"]
    assert wire == {
        "id": "t1", "number": "A001", "service": "gjj", "status": "waiting",
        "priority": "normal", "issued_at": "2026-11-26T09:00:00+08:00", "counter": None,
        "ahead": 0, "eta_s": 0, "eta_after": None, "check": "C00001",
    }
    assert events[0].prev_version is None and events[0].ticket.version == 1
    # A ticket issued now: 1 ahead + itself - 2 free counters (1 and 2) = 0 calls.
    assert events[1].data == {"service": "gjj", "waiting": 1, "eta_s": 0, "eta_after": None,
                              "open_counters": 2}
    assert hall.by_check("C00001").id == "t1"
    assert hall.by_check("nope") is None and hall.ticket("nope") is None


def test_numbering_resets_at_shanghai_midnight_not_utc_midnight():
    hall, clock = make_hall(start=at(7, 59, 0))  # 23:59 UTC the day before
    assert hall.issue("gjj")[0].ticket.number == "A001"
    clock.now = at(8, 1)  # UTC midnight passed: same local day, no reset
    assert hall.issue("gjj")[0].ticket.number == "A002"
    clock.now = at(23, 59, 59)
    last = hall.issue("gjj")[0].ticket
    assert (last.number, last.day) == ("A003", dt.date(2026, 11, 26))
    clock.advance(2)  # 00:00:01 on the 27th, Shanghai
    first = hall.issue("gjj")[0].ticket
    assert (first.number, first.day) == ("A001", dt.date(2026, 11, 27))
    assert first.issued_at.astimezone(dt.UTC).date() == dt.date(2026, 11, 26)
    assert hall.last_numbers[("gjj", dt.date(2026, 11, 26))] == 3
    assert hall.last_numbers[("gjj", dt.date(2026, 11, 27))] == 1


def test_numbers_never_reused_after_cancel():
    hall, clock = make_hall()
    tid = issue(hall, clock)
    hall.cancel(tid)
    assert hall.issue("gjj")[0].ticket.number == "A002"


def test_unknown_service_and_bad_arguments():
    hall, clock = make_hall()
    with pytest.raises(NotFound) as info:
        hall.issue("nope")
    assert info.value.code == "not_found"
    with pytest.raises(BadRequest) as info:
        hall.issue("gjj", "vip")
    assert info.value.code == "bad_request"
    with pytest.raises(BadRequest):
        hall.issue("gjj", "normal", slot_start=at(10))
    with pytest.raises(NotFound):
        hall.call_next(99)
    with pytest.raises(NotFound):
        hall.cancel("nope")


def test_naive_clock_is_refused():
    hall = Hall(config(), lambda: dt.datetime(2026, 11, 26, 9))
    with pytest.raises(ValueError, match="aware"):
        hall.issue("gjj")


# -------------------------------------------------------------- hours, quota
def _hours_hall(start):
    svc = service("gjj", "A", hours=((dt.time(8, 30), dt.time(12)),
                                     (dt.time(13, 30), dt.time(17, 30))), daily_quota=2)
    return make_hall(config([svc, service("tax", "B")], [counter(1, ["gjj", "tax"])]), start)


@pytest.mark.parametrize(("hour", "minute", "open_"), [
    (8, 29, False), (8, 30, True), (11, 59, True), (12, 0, False), (13, 0, False),
    (13, 30, True), (17, 29, True), (17, 30, False), (22, 0, False),
])
def test_service_hours(hour, minute, open_):
    hall, clock = _hours_hall(at(hour, minute))
    if open_:
        assert hall.issue("gjj")[0].ticket.number == "A001"
    else:
        with pytest.raises(Closed) as info:
            hall.issue("gjj")
        assert info.value.code == "closed" and "08:30-12:00" in str(info.value)
    assert hall.issue("tax")[0].ticket.number == "B001"  # no hours: always open


def test_daily_quota_and_reset_next_day():
    hall, clock = _hours_hall(at(9))
    hall.issue("gjj")
    hall.issue("gjj")
    with pytest.raises(QuotaReached) as info:
        hall.issue("gjj")
    assert info.value.code == "quota_reached"
    clock.now = at(9, day=27)
    assert hall.issue("gjj")[0].ticket.number == "A001"


# ------------------------------------------------------------- dispatch order
def test_ordered_mode_takes_first_service_first():
    hall, clock = make_hall()
    issue(hall, clock, "tax")
    issue(hall, clock, "gjj")
    issue(hall, clock, "tax")
    assert numbers(hall.queue(1)) == ["A001", "B001", "B002"]
    assert numbers(hall.queue(2)) == ["B001", "B002", "A001"]
    assert called(hall.call_next(1)) == "A001"
    assert called(hall.call_next(2)) == "B001"


def test_oldest_mode_mixes_services_by_age():
    cfg = config(counters=[counter(1, ["gjj", "tax"], mode="oldest")])
    hall, clock = make_hall(cfg)
    issue(hall, clock, "tax")
    issue(hall, clock, "gjj")
    issue(hall, clock, "tax")
    assert numbers(hall.queue(1)) == ["B001", "A001", "B002"]
    assert drain(hall, 1) == ["B001", "A001", "B002"]


def test_oldest_mode_still_puts_priority_first():
    cfg = config(counters=[counter(1, ["gjj", "tax"], mode="oldest")])
    hall, clock = make_hall(cfg)
    issue(hall, clock, "tax")
    issue(hall, clock, "gjj", "priority")
    assert drain(hall, 1) == ["A001", "B001"]


def test_groups_transfer_then_started_appointment_then_priority_then_normal():
    hall, clock = make_hall(config(priority_per_normal=10))
    issue(hall, clock, "gjj")                      # A001 normal
    issue(hall, clock, "gjj", "priority")          # A002 priority
    issue(hall, clock, "gjj", "appointment", slot_start=at(9))   # A003 slot started
    issue(hall, clock, "gjj", "appointment", slot_start=at(11))  # A004 slot later
    issue(hall, clock, "tax")                      # B001, goes to counter 1 by transfer
    hall.call_next(2)
    hall.transfer(2, to_counter=1)
    clock.advance(10)
    assert numbers(hall.queue(1)) == ["B001", "A003", "A002", "A001", "A004"]
    clock.now = at(11)  # A004's slot starts: it joins the appointments
    assert numbers(hall.queue(1)) == ["B001", "A003", "A004", "A002", "A001"]
    assert drain(hall, 1) == ["B001", "A003", "A004", "A002", "A001"]


def test_fifo_within_a_group_even_across_same_instant():
    hall, clock = make_hall()
    for _ in range(12):
        hall.issue("gjj")  # same clock instant: seqno breaks the tie
    assert drain(hall, 1) == [f"A{i:03d}" for i in range(1, 13)]


@pytest.mark.parametrize(("per_normal", "expected"), [
    (2, ["P1", "P2", "N1", "P3", "P4", "N2", "P5", "N3"]),
    (1, ["P1", "N1", "P2", "N2", "P3", "N3", "P4", "P5"]),
    (0, ["N1", "N2", "N3", "P1", "P2", "P3", "P4", "P5"]),
])
def test_interleaving_bounds_priority_runs(per_normal, expected):
    hall, clock = make_hall(config(priority_per_normal=per_normal))
    names = {}
    for i in range(1, 4):
        names[issue(hall, clock)] = f"N{i}"
    for i in range(1, 6):
        names[issue(hall, clock, priority="priority")] = f"P{i}"
    assert [names[t.id] for t in hall.queue(1)] == expected
    got = []
    while True:
        try:
            got.append(names[hall.call_next(1)[0].ticket.id])
        except QueueEmpty:
            break
        hall.complete(1)
    assert got == expected


def test_interleaving_counts_appointments_and_is_per_counter():
    hall, clock = make_hall(config(priority_per_normal=1))
    issue(hall, clock, "gjj")                          # A001
    issue(hall, clock, "gjj", "appointment")           # A002, no slot: started
    issue(hall, clock, "gjj", "priority")              # A003
    issue(hall, clock, "gjj", "priority")              # A004
    assert called(hall.call_next(1)) == "A002"  # counter 1: streak 1
    assert called(hall.call_next(2)) == "A003"  # counter 2 has its own streak
    hall.complete(1)
    hall.complete(2)
    assert hall.counter_state(1).streak == 1
    assert called(hall.call_next(1)) == "A001"  # counter 1 owes a normal one
    assert hall.counter_state(1).streak == 0


def test_priority_without_normal_waiting_does_not_build_a_streak():
    hall, clock = make_hall(config(priority_per_normal=1))
    for _ in range(3):
        issue(hall, clock, priority="priority")
        called(hall.call_next(1))
        hall.complete(1)
    assert hall.counter_state(1).streak == 0
    issue(hall, clock, priority="priority")  # A004
    issue(hall, clock)                        # A005
    assert called(hall.call_next(1)) == "A004"


def test_counter_must_be_open_and_free_to_call():
    hall, clock = make_hall(open_all=False)
    issue(hall, clock)
    issue(hall, clock)
    with pytest.raises(Conflict, match="closed; log in"):
        hall.call_next(1)
    hall.open_counter(1, "s1", "王芳")
    hall.pause(1, "午休")
    with pytest.raises(Conflict, match="paused; resume"):
        hall.call_next(1)
    hall.resume(1)
    hall.call_next(1)
    with pytest.raises(IllegalMove, match="still has ticket A001") as info:
        hall.call_next(1)
    assert info.value.code == "conflict"
    hall.complete(1)
    assert called(hall.call_next(1)) == "A002"


def test_queue_empty():
    hall, clock = make_hall()
    with pytest.raises(QueueEmpty) as info:
        hall.call_next(1)
    assert info.value.code == "queue_empty"
    issue(hall, clock, "bdc")
    with pytest.raises(QueueEmpty):
        hall.call_next(1)  # counter 1 does not serve bdc


def test_specific_call():
    hall, clock = make_hall()
    issue(hall, clock)
    second = issue(hall, clock)
    bdc = issue(hall, clock, "bdc")
    with pytest.raises(Forbidden):
        hall.call(1, bdc)
    events = hall.call(1, second)
    assert called(events) == "A002"
    assert events[0].data["counter_name"] == "1号窗口"
    assert hall.ticket(second).calls == 1 and hall.ticket(second).staff == "s1"
    with pytest.raises(IllegalMove):
        hall.call(2, second)  # already called


# ----------------------------------------------------------------- transfer
def _transfer_setup(placement):
    hall, clock = make_hall(config(transfer_placement=placement))
    issue(hall, clock, "tax")   # B001 09:00:00
    issue(hall, clock, "gjj")   # A001 09:00:10
    issue(hall, clock, "tax")   # B002 09:00:20
    hall.call_next(1)           # counter 1 takes A001
    hall.start(1)
    clock.advance(60)
    return hall, clock


@pytest.mark.parametrize(("placement", "order"), [
    ("head", ["A001", "B001", "B002"]),
    ("issue_time", ["B001", "A001", "B002"]),
    ("tail", ["B001", "B002", "A001"]),
])
def test_transfer_placement(placement, order):
    hall, clock = _transfer_setup(placement)
    events = hall.transfer(1, service="tax")
    ev = events[0]
    assert ev.name == "ticket.transferred"
    assert ev.data["from_counter"] == 1 and ev.data["to_service"] == "tax"
    assert ev.data["to_counter"] is None
    wire = ev.data["ticket"]
    assert (wire["number"], wire["service"], wire["status"]) == ("A001", "tax", "waiting")
    assert wire["counter"] is None and wire["ahead"] == order.index("A001")
    changed = {e.data["service"]: e.data["waiting"] for e in events if e.name == "queue.changed"}
    assert changed == {"tax": 3}  # gjj's count did not change at the transfer itself
    assert hall.counter_state(1).current is None
    assert numbers(hall.queue(2)) == order
    assert drain(hall, 2) == order


def test_head_transfers_keep_their_own_order():
    hall, clock = make_hall(config(transfer_placement="head"))
    for _ in range(3):
        issue(hall, clock, "tax")
    issue(hall, clock, "gjj")
    issue(hall, clock, "gjj")
    for _ in range(2):
        hall.call_next(1)
        clock.advance(5)
        hall.transfer(1, service="tax")
    assert numbers(hall.queue(2)) == ["A001", "A002", "B001", "B002", "B003"]


def test_transfer_to_a_counter_is_only_for_that_counter_and_first_there():
    hall, clock = make_hall()
    issue(hall, clock, "gjj")  # A001
    issue(hall, clock, "tax")  # B001
    issue(hall, clock, "tax")  # B002
    hall.call_next(2)  # counter 2 prefers tax: B001
    events = hall.transfer(2, to_counter=1)
    assert events[0].data["ticket"]["to_counter"] == 1
    assert hall.ticket(events[0].ticket.id).service == "tax"
    assert numbers(hall.queue(2)) == ["B002", "A001"]
    assert numbers(hall.queue(1)) == ["B001", "A001", "B002"]
    hall.call_next(2)
    hall.complete(2)
    assert called(hall.call_next(2)) == "A001"  # B001 is not counter 2's to take
    with pytest.raises(Forbidden):
        hall.call(3, events[0].ticket.id)
    assert called(hall.call_next(1)) == "B001"


def test_transfer_refusals():
    hall, clock = make_hall()
    with pytest.raises(BadRequest):
        hall.transfer(1)
    with pytest.raises(Conflict, match="no current ticket"):
        hall.transfer(1, service="tax")
    issue(hall, clock)
    hall.call_next(1)
    with pytest.raises(BadRequest):
        hall.transfer(1, to_counter=1)
    with pytest.raises(NotFound):
        hall.transfer(1, service="nope")
    with pytest.raises(NotFound):
        hall.transfer(1, to_counter=42)
    assert hall.ticket("t1").status == "called"


# ------------------------------------------------------------------ requeue
def test_requeue_goes_back_the_configured_places():
    hall, clock = make_hall(config(requeue_places=3))
    first = issue(hall, clock)
    for _ in range(5):
        issue(hall, clock)
    hall.call_next(1)
    clock.advance(60)
    ev = hall.no_show(1)[0]
    assert (ev.name, ev.data["counter"]) == ("ticket.no_show", 1)
    clock.advance(600)
    events = hall.requeue(first)
    assert events[0].name == "ticket.requeued"
    assert events[0].data["ticket"]["ahead"] == 3 and events[0].data["counter"] == 1
    assert numbers(hall.queue(1)) == ["A002", "A003", "A004", "A001", "A005", "A006"]
    assert hall.ticket(first).number == "A001"


def test_requeue_with_few_waiting_goes_to_the_tail():
    hall, clock = make_hall(config(requeue_places=3))
    first = issue(hall, clock)
    issue(hall, clock)
    hall.call_next(1)
    hall.no_show(1)
    hall.requeue(first)
    assert numbers(hall.queue(1)) == ["A002", "A001"]
    hall.call_next(1)
    hall.complete(1)
    hall.call_next(1)
    hall.no_show(1)
    hall.requeue(first)  # nobody else waiting
    assert numbers(hall.queue(1)) == ["A001"]


def test_requeue_window_expires():
    hall, clock = make_hall(config(no_show_return_s=1800))
    tid = issue(hall, clock)
    with pytest.raises(IllegalMove):
        hall.requeue(tid)  # waiting, not a no-show
    hall.call_next(1)
    hall.no_show(1)
    clock.advance(1801)
    with pytest.raises(Expired) as info:
        hall.requeue(tid)
    assert info.value.code == "expired"
    assert hall.ticket(tid).status == "no_show"


# ---------------------------------------------------------------------- ETA
def test_eta_default_without_history_and_open_counters():
    hall, clock = make_hall()  # gjj: counters 1 and 2 open, default 300 s
    for _ in range(3):
        issue(hall, clock)
    # Calls before a new ticket starts = ahead + itself - free counters.
    # Counter 2 prefers tax, but nobody waits for tax: it gives gjj all its time.
    assert hall.eta_s("gjj") == 300          # (3 + 1 - 2) calls x 300 / 2 counters
    assert hall.wire_ticket(hall.ticket("t3"))["eta_s"] == 150  # (2 + 1 - 2) x 300 / 2
    events = hall.close_counter(2)
    assert [e.name for e in events] == ["counter.closed", "queue.changed", "queue.changed"]
    # (3 + 1 - 1 free) x 300 / 1 counter; 3 calls: a range of +-900/2 (1/sqrt(3 + 1))
    queues = {e.data["service"]: e.data for e in events[1:]}
    assert queues["gjj"] == {"service": "gjj", "waiting": 3, "eta_s": 900, "eta_low_s": 420,
                             "eta_high_s": 1380, "eta_after": None, "open_counters": 1}
    assert queues["tax"]["open_counters"] == 1
    hall.close_counter(1)
    assert hall.eta_s("gjj") == 1200  # nobody open: (3 + 1) x 300 as one counter
    assert hall.eta_s("bdc") == 0     # nobody waiting, counter 3 free


def test_eta_uses_rolling_mean_of_last_20():
    hall, clock = make_hall()
    hall.close_counter(2)
    for i in range(25):
        issue(hall, clock)
        hall.call_next(1)
        hall.start(1)
        clock.advance(1000 if i < 5 else 60)  # the first five fall out of the window
        events = hall.complete(1)
        assert events[0].name == "ticket.completed"
    assert hall.mean_service_s("gjj") == 60
    for _ in range(4):
        issue(hall, clock)
    assert hall.eta_s("gjj") == 240
    assert hall.wire_ticket(hall.ticket("t29"))["ahead"] == 3
    assert hall.wire_ticket(hall.ticket("t29"))["eta_s"] == 180


def test_complete_without_start_counts_from_the_call():
    hall, clock = make_hall()
    hall.close_counter(2)
    for _ in range(3):
        issue(hall, clock)
    hall.call_next(1)
    assert hall.eta_s("gjj") == 900  # (2 ahead + itself) x 300 default, counter 1 busy
    clock.advance(90)
    events = hall.complete(1)
    assert hall.mean_service_s("gjj") == 90
    # the waiting count did not change but the ETA did: boards hear of it.
    # gjj: (2 + 1 - 1 free counter) calls x 90 s / 1 counter; tax (nobody
    # waiting): counter 1 is free again, so a new tax ticket would not wait.
    queues = [e.data for e in events if e.name == "queue.changed"]
    assert [{k: q[k] for k in ("service", "waiting", "eta_s")} for q in queues] == [
        {"service": "gjj", "waiting": 2, "eta_s": 180},
        {"service": "tax", "waiting": 0, "eta_s": 0}]


def test_eta_counts_the_walk_up_as_counter_time():
    hall, clock = make_hall()
    hall.close_counter(2)
    issue(hall, clock, gap=0)
    hall.call_next(1)
    clock.advance(60)            # the citizen walks up
    hall.start(1)
    clock.advance(120)           # served
    hall.complete(1)
    assert hall.mean_service_s("gjj") == 120   # service time: start -> complete
    issue(hall, clock)
    issue(hall, clock)
    # cycle time (call -> complete) 180 s; (2 + 1 - 1 free) calls x 180 / 1 counter
    assert hall.eta_s("gjj") == 360
    hall.call_next(1)
    # t3: 0 ahead + itself, counter 1 busy: 1 x 180
    assert hall.wire_ticket(hall.ticket("t3"))["eta_s"] == 180


def test_a_counter_of_two_busy_services_gives_each_a_share():
    cfg = config(counters=[counter(1, ["gjj"]), counter(2, ["tax"]),
                           counter(3, ["gjj", "tax"], mode="oldest")])
    hall, clock = make_hall(cfg)
    for sid in ("gjj", "tax", "gjj"):
        issue(hall, clock, sid)
    for c in (1, 2, 3):
        hall.call_next(c)        # every counter busy, nobody waiting
    for sid in ("gjj", "gjj", "gjj", "tax"):
        issue(hall, clock, sid)
    # gjj, a new ticket: (3 ahead + itself) x 300 = 1200 s of work. Counter 1
    # gives all its time; counter 3 its share of the waiting work, the new
    # ticket included: (3+1) x 300 / ((3+1) x 300 + 1 tax x 300) = 0.8.
    assert hall.eta_s("gjj") == 667      # 1200 / 1.8
    # tax: (1 + 1) x 300 = 600 s; counter 3 gives 600 / (600 + 3 x 300) = 0.4.
    assert hall.eta_s("tax") == 429      # 600 / 1.4
    # (Counting counter 3 fully for both, gjj would say 1200 / 2 = 600 and tax
    # 600 / 2 = 300: too optimistic by the time it owes the other service.)
    events = hall.pause(3)
    # paused counters serve nobody: 1200 / 1 and 600 / 1
    assert {e.data["service"]: e.data["eta_s"] for e in events
            if e.name == "queue.changed"} == {"gjj": 1200, "tax": 600}


def test_an_ordered_counter_helps_a_later_service_after_its_earlier_ones():
    cfg = config(counters=[counter(1, ["gjj"]), counter(2, ["tax", "gjj"])])
    hall, clock = make_hall(cfg)
    issue(hall, clock, "gjj")
    issue(hall, clock, "tax")
    hall.call_next(1)
    hall.call_next(2)            # both busy
    issue(hall, clock, "gjj")
    issue(hall, clock, "gjj")
    # Nobody waits for tax, but tax tickets keep coming (1 in the last 30 min,
    # 300 s each): counter 2 keeps 1/6 of its time for them, gives gjj 5/6.
    # (2+1) x 300 s of work / (1 + 5/6) = 491.
    assert hall.eta_s("gjj") == 491
    issue(hall, clock, "tax")
    events = hall.issue("tax")   # tax's queue moves gjj's estimate: boards hear of it
    # tax: (2 + 1) x 300 / counter 2 = 900. gjj: (2 + 1) x 300 = 900 s of work;
    # counter 2 first clears its part of tax (2 x 300 / 1 tax counter = 600 s)
    # while counter 1 alone gives gjj 600 s; then counter 2 gives gjj what the
    # new tax arrivals leave (3 in 30 min x 300 s: 1/2): 600 + 300 / 1.5 = 800.
    assert [(e.data["service"], e.data["eta_s"]) for e in events
            if e.name == "queue.changed"] == [("tax", 900), ("gjj", 800)]


# ------------------------------------------------------------------ counters
def test_counter_events_and_idempotent_state_changes():
    hall, clock = make_hall(open_all=False)
    events = hall.open_counter(3, "s9", "李强")
    assert events[0].name == "counter.opened"
    assert events[0].data == {"counter": 3, "staff": {"id": "s9", "name": "李强"}}
    assert events[0].counter.state == "open"
    assert hall.pause(3, "午休")[0].data == {"counter": 3, "reason": "午休"}
    assert hall.pause(3) == []
    assert hall.resume(3)[0].data == {"counter": 3}
    assert hall.resume(3) == []
    issue(hall, clock, "bdc")
    hall.call_next(3)
    with pytest.raises(Conflict, match="still has ticket C001"):
        hall.close_counter(3)
    hall.complete(3)
    assert hall.close_counter(3)[0].data == {"counter": 3}
    assert hall.close_counter(3) == []
    with pytest.raises(Conflict):
        hall.pause(3)
    with pytest.raises(Conflict):
        hall.resume(3)


def test_recall_and_start():
    hall, clock = make_hall()
    issue(hall, clock)
    with pytest.raises(Conflict):
        hall.recall(1)
    hall.call_next(1)
    ev = hall.recall(1)[0]
    assert ev.name == "ticket.recalled"
    assert ev.data["counter"] == 1 and ev.data["counter_name"] == "1号窗口"
    assert ev.ticket.calls == 2
    started = hall.start(1)[0]
    assert started.name == "ticket.started" and started.data["counter"] == 1
    with pytest.raises(IllegalMove):
        hall.recall(1)  # serving: the citizen is here


def test_rate_once_at_its_counter():
    hall, clock = make_hall()
    tid = issue(hall, clock)
    hall.call_next(1)
    with pytest.raises(IllegalMove):
        hall.rate(1, tid, 5)  # not done yet
    hall.complete(1)
    for bad in (0, 6, "5", True, 4.5):
        with pytest.raises(BadRequest):
            hall.rate(1, tid, bad)
    with pytest.raises(Forbidden):
        hall.rate(2, tid, 5)
    ev = hall.rate(1, tid, 4)[0]
    assert ev.name == "ticket.rated" and ev.data["score"] == 4 and ev.data["counter"] == 1
    with pytest.raises(IllegalMove, match="already been rated"):
        hall.rate(1, tid, 5)
    assert hall.stats(1)["rated"] == 1 and hall.stats(1)["served"] == 1


# ------------------------------------------------------------------ close-out
def test_close_day_cancels_waiting_and_called_but_not_serving():
    hall, clock = make_hall()
    for sid in ("gjj", "gjj", "tax", "bdc"):
        issue(hall, clock, sid)
    hall.call_next(1)            # A001 called
    hall.call_next(3)            # C001 called ...
    hall.start(3)                # ... and serving
    events = hall.close_day()
    cancelled = [e for e in events if e.name == "ticket.cancelled"]
    assert [e.data["ticket"]["number"] for e in cancelled] == ["A001", "A002", "B001"]
    assert all(e.data["reason"] == "close_day" for e in cancelled)
    assert cancelled[0].data["counter"] == 1 and cancelled[0].counter.current is None
    changed = {e.data["service"]: e.data["waiting"] for e in events if e.name == "queue.changed"}
    assert changed == {"gjj": 0, "tax": 0}
    assert hall.ticket("t4").status == "serving"
    assert hall.counter_state(1).current is None
    assert hall.close_day() == []


# ------------------------------------------------------------------ snapshot
def test_snapshot_shape_and_recent_calls_newest_first():
    hall, clock = make_hall()
    hall.pause(2, "break")
    for _ in range(25):
        issue(hall, clock)
        hall.call_next(1)
        clock.advance(5)
        hall.complete(1)
    issue(hall, clock)
    issue(hall, clock, "tax")
    hall.call_next(1)
    snap = hall.snapshot()
    # counter 1 busy, counter 2 paused: a new ticket waits for counter 1.
    # gjj: 1 call x 5 s cycle; tax: (1 ahead + itself) x 300 (no tax history).
    # open_counters: counter 2 is paused. tax: counter 1 keeps 26 gjj issues in
    # 30 min x 5 s for gjj first, gives tax the rest (0.928): 600 / 0.928 = 647;
    # 2 calls, a range of 647 +- 647/sqrt(3). issued: today's numbers per service.
    assert snap["queues"] == {
        "gjj": {"waiting": 0, "eta_s": 5, "eta_after": None, "open_counters": 1,
                "issued": 26},
        "tax": {"waiting": 1, "eta_s": 647, "eta_low_s": 240, "eta_high_s": 1080,
                "eta_after": None, "open_counters": 1, "issued": 1},
        "bdc": {"waiting": 0, "eta_s": 0, "eta_after": None, "open_counters": 1,
                "issued": 0}}
    assert set(snap["counters"]) == {"1", "2", "3"}
    c1 = snap["counters"]["1"]
    assert c1["state"] == "open" and c1["staff"] == {"id": "s1", "name": "员工1"}
    assert c1["current"]["number"] == "A026"
    assert snap["counters"]["2"]["state"] == "paused"
    assert snap["counters"]["2"]["reason"] == "break"
    assert snap["counters"]["2"]["current"] is None
    recent = snap["recent_calls"]
    assert len(recent) == 20
    assert [r["ticket"]["number"] for r in recent[:3]] == ["A026", "A025", "A024"]
    assert recent[0]["counter"] == 1 and recent[0]["counter_name"] == "1号窗口"
    assert recent[0]["at"].endswith("+08:00")
    assert [r["at"] for r in recent] == sorted((r["at"] for r in recent), reverse=True)


# ------------------------------------------------------------------- restore
def _script(hall: Hall, clock: FakeClock) -> None:
    for i in range(30):
        hall.issue(("gjj", "tax", "bdc")[i % 3], ("normal", "priority", "normal")[i % 3])
        clock.advance(7)
    hall.issue("gjj", "appointment", slot_start=at(9, 30))
    for c in (1, 2, 3):
        hall.call_next(c)
    hall.start(1)
    clock.advance(100)
    hall.complete(1)
    hall.no_show(2)
    hall.transfer(3, to_counter=1)
    hall.call_next(1)
    hall.transfer(1, service="bdc")
    hall.call_next(2)
    hall.pause(3, "meeting")
    hall.requeue(hall.tickets()[[t.status for t in hall.tickets()].index("no_show")].id)
    clock.advance(50)


def _restored(hall: Hall, clock: FakeClock, next_id: int) -> Hall:
    ids = itertools.count(next_id)
    codes = itertools.count(next_id)
    return Hall.restore(hall.config, clock, tickets=hall.tickets(),
                        counters=hall.counter_states(), last_numbers=dict(hall.last_numbers),
                        ids=lambda: f"t{next(ids)}", codes=lambda: f"C{next(codes):05d}")


def _observe(hall: Hall) -> dict:
    return {"snapshot": hall.snapshot(),
            "queues": {c: [t.id for t in hall.queue(c)] for c in (1, 2, 3)},
            "tickets": sorted((t.id, t.status, t.version, t.rank) for t in hall.tickets()),
            "etas": {s: hall.eta_s(s) for s in ("gjj", "tax", "bdc")}}


def test_restore_rebuilds_an_identical_hall():
    hall, clock = make_hall()
    _script(hall, clock)
    copy = _restored(hall, clock, next_id=32)
    assert _observe(copy) == _observe(hall)
    # And it goes on identically: same commands, same events.
    for h in (hall, copy):
        h.resume(3)
    clock.now = at(9, 31)  # the appointment's slot has started
    for step in ("call_next", "complete", "call_next", "transfer", "call_next"):
        outs = []
        for h in (hall, copy):
            for c in (1, 2, 3):
                try:
                    if step == "transfer":
                        evs = h.transfer(c, service="gjj")
                    else:
                        evs = getattr(h, step)(c)
                except (QueueEmpty, Conflict):
                    evs = []
                outs.append([(e.name, e.data, e.prev_version) for e in evs])
            outs.append([(e.name, e.data) for e in h.issue("tax")])
        half = len(outs) // 2
        assert outs[:half] == outs[half:]
        clock.advance(30)
    assert _observe(copy) == _observe(hall)


def test_restore_does_not_touch_the_given_tickets_and_derives_numbers():
    hall, clock = make_hall()
    _script(hall, clock)
    tickets = hall.tickets()
    before = [t.copy() for t in tickets]
    copy = Hall.restore(hall.config, clock, tickets=tickets, counters=[
        {"number": 1, "state": "open", "staff": {"id": "s1", "name": "员工1"}},
    ])
    assert tickets == before
    assert copy.last_numbers == hall.last_numbers
    assert copy.counter_state(2).state == "closed"
    # counter 2's current ticket comes from the tickets even though it is closed here
    assert copy.counter_state(2).current == hall.counter_state(2).current


def test_restore_refuses_inconsistent_state():
    hall, clock = make_hall()
    issue(hall, clock)
    issue(hall, clock)
    hall.call_next(1)
    tickets = hall.tickets()
    tickets[1].status, tickets[1].counter = "called", 1
    with pytest.raises(ValueError, match="two current tickets"):
        Hall.restore(hall.config, clock, tickets=tickets)
    with pytest.raises(ValueError, match="unknown counter"):
        Hall.restore(hall.config, clock, tickets=[], counters=[{"number": 77}])
