"""More core rules pinned against a plausible wrong version (issue #20, mutation run).

Found by mutating ``server/core``: each test fails for a mutant that the
rest of tests/core let through: 撤销过号 (unmiss) and 重呼 (recall) events,
tickets returned from a closed or long-paused counter (several at once),
close-out and cancel of a ticket that once was at a counter, appointment
counts, the missed list's last second, the earlier estimator the simulator
compares against. Through ``server.core.Hall`` only.
"""

from __future__ import annotations

import datetime as dt

import pytest

from server.core import BadRequest, Conflict, Expired, Forbidden, Hall, NotFound
from tests.core.builders import at, config, counter, make_hall, service


def _no_show_at(hall: Hall, number: int = 1) -> str:
    tid = hall.issue("gjj")[0].ticket.id
    hall.call_next(number)
    hall.no_show(number)
    return tid


# ----------------------------------------------------------------- unmiss
def test_unmiss_makes_the_ticket_the_counters_called_ticket_again():
    hall, clock = make_hall()
    tid = _no_show_at(hall)
    before = hall.counter_state(1).version
    clock.advance(10)
    events = hall.unmiss(1, tid)
    undone = events[0]
    assert undone.name == "ticket.no_show_undone"
    assert (undone.data["counter"], undone.data["counter_name"]) == (1, "1号窗口")
    assert undone.counter is not None
    assert (undone.counter.current, undone.counter.version) == (tid, before + 1)
    assert hall.counter_state(1).version == before + 1
    t = hall.ticket(tid)
    assert (t.status, t.finished_at, t.started_at) == ("called", None, None)
    assert undone.data["ticket"]["status"] == "called"


def test_unmiss_refusals_say_who_and_how_long():
    hall, clock = make_hall()
    tid = _no_show_at(hall)
    with pytest.raises(Forbidden) as info:
        hall.unmiss(2, tid)
    assert str(info.value) == "ticket A001 was marked no-show at counter 1, not 2"
    clock.advance(31)
    with pytest.raises(Expired) as info:
        hall.unmiss(1, tid)
    assert str(info.value) == ("the no-show of A001 can only be undone within 30 s; "
                               "re-queue it from the missed list instead")


# ----------------------------------------------------------------- recall
def test_recall_event_carries_the_counter_and_its_message_names_the_command():
    hall, _clock = make_hall()
    with pytest.raises(Conflict) as info:
        hall.recall(1)
    assert str(info.value) == "1号窗口 has no current ticket to recall; call one first"
    hall.issue("gjj")
    hall.call_next(1)
    recalled = hall.recall(1)[0]
    assert recalled.counter is not None and recalled.counter.number == 1
    assert recalled.counter.current == recalled.ticket.id


# ------------------------------------------------- returns from a counter
def _targeted_at(hall: Hall, to: int, via: int = 3) -> str:
    """A gjj ticket transferred from counter ``via`` to counter ``to``."""
    tid = hall.issue("gjj")[0].ticket.id
    hall.call(via, tid)
    hall.transfer(via, to_counter=to)
    return tid


def _shared() -> Hall:
    cfg = config(counters=(counter(1, ["gjj"]), counter(2, ["gjj"]), counter(3, ["gjj"])),
                 transfer_timeout=60)
    return make_hall(cfg)


def test_paused_counters_past_the_timeout_all_return_their_tickets():
    hall, clock = _shared()
    first = _targeted_at(hall, 1)
    second = _targeted_at(hall, 2)
    hall.pause(1)
    hall.pause(2)
    clock.advance(60)
    events = [e for e in hall.expire_transfers() if e.name == "ticket.transferred"]
    assert sorted(e.ticket.id for e in events) == sorted([first, second])
    for ev in events:
        assert ev.data["reason"] == "transfer_timeout" and ev.data["to_counter"] is None
        assert ev.ticket.version == ev.prev_version + 1
        assert hall.ticket(ev.ticket.id).target_counter is None
    assert [t.id for t in hall.queue(3)] == [first, second]


def test_closed_counters_found_by_the_ticker_all_return_their_tickets():
    hall, clock = _shared()
    first = _targeted_at(hall, 1)
    second = _targeted_at(hall, 2)
    # a restart restores the counters closed (their staff logged out meanwhile)
    restored = Hall.restore(hall.config, clock, hall.tickets(),
                            [{"number": 3, "state": "open", "staff_id": "s3"}])
    events = [e for e in restored.expire_transfers() if e.name == "ticket.transferred"]
    assert sorted(e.ticket.id for e in events) == sorted([first, second])
    assert {e.data["reason"] for e in events} == {"counter_closed"}
    assert all(e.ticket is not None and e.prev_version is not None for e in events)
    assert [t.id for t in restored.queue(3)] == [first, second]


def test_closing_a_counter_stamps_when_and_returns_its_transfers():
    hall, clock = _shared()
    tid = _targeted_at(hall, 1)
    clock.advance(5)
    events = hall.close_counter(1)
    assert hall.counter_state(1).since == clock.now
    assert events[0].counter.since == clock.now
    back = [e for e in events if e.name == "ticket.transferred"]
    assert [e.ticket.id for e in back] == [tid]
    assert back[0].prev_version == back[0].ticket.version - 1
    assert hall.ticket(tid).status == "waiting" and hall.ahead(hall.ticket(tid)) == 0


# ------------------------------------ tickets that were once at a counter
def test_cancel_and_close_out_of_a_transferred_ticket_name_no_counter():
    hall, _clock = make_hall()
    a = hall.issue("gjj")[0].ticket.id
    b = hall.issue("gjj")[0].ticket.id
    hall.call(1, a)
    hall.transfer(1, service="tax")
    hall.call(1, b)
    hall.transfer(1, service="bdc")
    cancelled = hall.cancel(a)[0]
    assert cancelled.data["counter"] is None and hall.ticket(a).counter == 1
    closed = [e for e in hall.close_day() if e.name == "ticket.cancelled"]
    assert [(e.ticket.id, e.data["counter"]) for e in closed] == [(b, None)]
    assert closed[0].counter is None


def test_close_out_of_a_called_ticket_frees_its_counter():
    hall, _clock = make_hall()
    tid = hall.issue("gjj")[0].ticket.id
    hall.call_next(1)
    closed = [e for e in hall.close_day() if e.name == "ticket.cancelled"]
    assert [(e.ticket.id, e.data["counter"]) for e in closed] == [(tid, 1)]
    assert closed[0].counter is not None and closed[0].counter.current is None


def test_rating_keeps_the_ticket_done():
    hall, _clock = make_hall()
    tid = hall.issue("gjj")[0].ticket.id
    hall.call_next(1)
    hall.complete(1)
    rated = hall.rate(1, tid, 4)[0]
    assert (rated.ticket.status, hall.ticket(tid).status, rated.ticket.rating) == (
        "done", "done", 4)


# ------------------------------------------------------------ small queries
def test_service_queries_refuse_unknown_services():
    hall, _clock = make_hall()
    for query in (hall.waiting, hall.open_counters):
        with pytest.raises(NotFound):
            query("nope")
    assert (hall.waiting("gjj"), hall.open_counters("gjj")) == (0, 2)


def test_missed_lists_a_no_show_until_the_last_second_of_its_window():
    hall, clock = make_hall(config(no_show_return_s=120))
    tid = _no_show_at(hall)
    clock.advance(120)
    assert [t.id for t in hall.missed()] == [tid]
    clock.advance(1)
    assert hall.missed() == []


def test_by_number_reads_the_hall_day_on_a_utc_clock():
    start = dt.datetime(2026, 11, 26, 16, 30, tzinfo=dt.UTC)  # 00:30 on the 27th locally
    hall, _clock = make_hall(start=start)
    tid = hall.issue("gjj")[0].ticket.id
    assert hall.by_number("a001").id == tid
    assert hall.by_check("no-such-code") is None


# -------------------------------------------------------- appointment counts
def test_appointment_counts_accept_zero_and_refuse_booleans_and_naive_times():
    svc = service("gjj", "A")
    hall, _clock = make_hall(config([svc], [counter(1, ["gjj"])]))
    assert hall.set_appointments("gjj", [(at(10), 0)]) == []
    with pytest.raises(BadRequest) as info:
        hall.set_appointments("gjj", [(at(10), True)])
    assert str(info.value) == "appointment count must be a whole number >= 0, got True"
    with pytest.raises(BadRequest) as info:
        hall.set_appointments("gjj", [(dt.datetime(2026, 11, 26, 10), 1)])
    assert str(info.value) == "slot start must carry a timezone"


# ------------------------------------------- the earlier estimator (baseline)
def _one_counter() -> tuple[Hall, object]:
    svc = service("gjj", "A", default_service_s=300)
    return make_hall(config([svc], [counter(1, ["gjj"])]))


def test_previous_estimate_is_people_ahead_times_the_mean_over_open_counters():
    hall, _clock = _one_counter()
    first = hall.issue("gjj")[0].ticket
    # a free open counter takes the first ticket at once
    assert hall.previous_eta_s(first) == 0
    second = hall.issue("gjj")[0].ticket
    third = hall.issue("gjj")[0].ticket
    hall.call_next(1)  # the counter is busy with the first one now
    assert hall.previous_eta_s(hall.ticket(second.id)) == 300
    assert hall.previous_eta_s(hall.ticket(third.id)) == 600
    # tickets that do not wait have no estimate
    assert hall.previous_eta_s(hall.ticket(first.id)) == 0


def test_previous_estimate_without_an_open_counter_counts_one_counter():
    hall, _clock = _one_counter()
    hall.close_counter(1)
    waiting = [hall.issue("gjj")[0].ticket for _ in range(2)]
    assert [hall.previous_eta_s(hall.ticket(t.id)) for t in waiting] == [300, 600]


# -------------------------------------------- estimates after a restart
def test_a_restored_hall_estimates_like_the_live_one_after_transfers_between_services():
    """Arrival and jump rates are rebuilt from the tickets, each counted for the
    service it was issued for (its number's prefix), not the one it waits for now."""
    cfg = config(counters=(counter(1, ["gjj", "tax"]), counter(2, ["tax", "gjj"]),
                           counter(3, ["bdc"])))
    hall, clock = make_hall(cfg)
    for _ in range(3):
        hall.issue("gjj", "priority")
        clock.advance(40)
        hall.issue("tax")
        clock.advance(40)
        hall.issue("bdc")
    for _ in range(2):
        hall.call_next(3)
        hall.transfer(3, service="gjj")
    hall.call_next(1)
    hall.call_next(2)
    live = hall.snapshot()["queues"]
    restored = Hall.restore(cfg, clock, hall.tickets(), hall.counter_states(),
                            hall.last_numbers)
    assert restored.snapshot()["queues"] == live
    assert [restored.wire_ticket(t) for t in restored.tickets()] == [
        hall.wire_ticket(t) for t in hall.tickets()]


# ------------------------------------------ counter states given to restore
def _restored_counter(item) -> object:
    hall, clock = make_hall(open_all=False)
    return Hall.restore(hall.config, clock, [], [item]).counter_state(1)


def test_restore_reads_a_counter_mapping_with_a_staff_sub_mapping():
    since = at(8, 30)
    cs = _restored_counter({"number": 1, "state": "open", "staff": {"id": "s9", "name": "李"},
                            "reason": "", "streak": 2, "version": 7, "since": since})
    assert (cs.number, cs.state, cs.staff_id, cs.staff_name, cs.streak, cs.version,
            cs.since) == (1, "open", "s9", "李", 2, 7, since)


def test_restore_fills_what_a_counter_mapping_leaves_out():
    cs = _restored_counter({"number": 1, "state": "paused", "staff_id": "s1",
                            "staff": "not a mapping"})
    assert (cs.staff_id, cs.staff_name, cs.reason, cs.streak, cs.version, cs.since) == (
        "s1", None, "", 0, 1, None)


def test_restore_reads_a_counter_row_object_without_a_streak():
    class Row:  # the store's own rows: attributes, no streak
        number, state, staff_id, staff_name, version = 1, "open", "s1", "王", 4
        reason, since = "", at(8)

    cs = _restored_counter(Row())
    assert (cs.state, cs.staff_id, cs.staff_name, cs.streak, cs.version, cs.since) == (
        "open", "s1", "王", 0, 4, at(8))


def test_restore_refuses_an_unknown_counter_state_by_name():
    with pytest.raises(ValueError) as info:
        _restored_counter({"number": 1, "state": "asleep"})
    assert str(info.value) == "counter 1: unknown state 'asleep'"


# -------------------------------------------------------------- requeue
def test_requeue_event_names_the_counter_that_missed_it_and_refusal_says_how_long():
    hall, clock = make_hall(config(no_show_return_s=600))
    tid = _no_show_at(hall)
    requeued = hall.requeue(tid)[0]
    assert (requeued.name, requeued.data["counter"]) == ("ticket.requeued", 1)
    hall.call_next(1)
    hall.no_show(1)
    clock.advance(601)
    with pytest.raises(Expired) as info:
        hall.requeue(tid)
    assert str(info.value) == ("ticket A001 missed its call more than 10 min ago; "
                               "please take a new ticket")


def test_requeue_of_an_appointment_goes_back_into_the_appointment_group():
    svc = service("gjj", "A")
    hall, clock = make_hall(config([svc], [counter(1, ["gjj"])]))
    normal = hall.issue("gjj")[0].ticket.id
    appt = hall.issue("gjj", "appointment", slot_start=clock.now)[0].ticket.id
    hall.call_next(1)
    assert hall.ticket(appt).status == "called"
    hall.no_show(1)
    hall.requeue(appt)
    assert [t.id for t in hall.queue(1)] == [appt, normal]


# ------------------------------------------------------------- snapshots
def test_snapshot_counts_todays_issues_by_the_hall_day_on_a_utc_clock():
    start = dt.datetime(2026, 11, 26, 15, 59, tzinfo=dt.UTC)  # 23:59 locally
    hall, clock = make_hall(start=start)
    hall.issue("gjj")
    clock.now = dt.datetime(2026, 11, 26, 16, 1, tzinfo=dt.UTC)  # the 27th locally
    hall.issue("tax")
    queues = hall.snapshot()["queues"]
    assert (queues["gjj"]["issued"], queues["tax"]["issued"]) == (0, 1)


def test_snapshot_counters_and_recent_calls_name_the_counter():
    hall, _clock = make_hall()
    hall.close_counter(3)
    hall.issue("gjj")
    hall.call_next(2)
    snap = hall.snapshot()
    assert snap["counters"]["2"]["name"] == "2号窗口"
    assert snap["counters"]["3"] == {"name": "3号窗口", "state": "closed", "staff": None,
                                     "reason": "", "current": None}
    assert [(c["counter"], c["counter_name"]) for c in snap["recent_calls"]] == [
        (2, "2号窗口")]


def test_restore_keeps_check_codes_and_numbers_no_ticket_holds():
    hall, clock = make_hall()
    t = hall.issue("gjj")[0].ticket
    day = t.day
    restored = Hall.restore(hall.config, clock, hall.tickets(), hall.counter_states(),
                            {("tax", day): 7, ("bdc", day): 0})
    assert restored.by_check(t.check).id == t.id
    assert restored.issue("tax")[0].ticket.number == "B008"
    assert restored.issue("bdc")[0].ticket.number == "C001"


def test_pause_without_reason_and_no_show_events_carry_the_counter():
    hall, _clock = make_hall()
    paused = hall.pause(3)[0]
    assert (paused.data["reason"], paused.counter.reason) == ("", "")
    hall.issue("gjj")
    hall.call_next(1)
    missed = hall.no_show(1)[0]
    assert missed.counter is not None and missed.counter.current is None


def test_start_complete_and_transfer_events_carry_the_counter_one_version_on():
    hall, _clock = make_hall()
    hall.issue("gjj")
    hall.issue("gjj")
    hall.call_next(1)
    version = hall.counter_state(1).version
    started = hall.start(1)[0]
    assert (started.data["counter"], started.counter.number) == (1, 1)
    done = hall.complete(1)[0]
    assert (done.data["counter"], done.counter.current, done.counter.version) == (
        1, None, version + 1)
    hall.call_next(1)
    version = hall.counter_state(1).version
    moved = hall.transfer(1, service="tax")[0]
    assert (moved.counter.current, moved.counter.version) == (None, version + 1)
    assert hall.counter_state(1).version == version + 1
    with pytest.raises(Conflict) as info:
        hall.complete(1)
    assert str(info.value) == "1号窗口 has no current ticket to complete; call one first"
    with pytest.raises(Conflict) as info:
        hall.start(1)
    assert str(info.value) == "1号窗口 has no current ticket to start; call one first"
