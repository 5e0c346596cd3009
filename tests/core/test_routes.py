"""Joint-approval routes (联合审批): one number through several services in order."""

from __future__ import annotations

import datetime as dt

import pytest

from server.core import BadRequest, Conflict, Hall
from server.core.model import Ticket
from tests.core.builders import at, config, counter, make_hall, service

# gh -> js -> xf: a three-step route "jj" (基建审批); counter 1 gh, 2 js, 3 xf, 4 gh again.
ROUTE_CFG = config(
    services=[service("gh", "G", default_service_s=600), service("js", "J"),
              service("xf", "X", hours=((dt.time(8, 30), dt.time(12, 0)),
                                        (dt.time(13, 30), dt.time(17, 30)))),
              service("jj", "K", route=("gh", "js", "xf"))],
    counters=[counter(1, ["gh"]), counter(2, ["js"]), counter(3, ["xf"]), counter(4, ["gh"])],
)


def route_hall(start: dt.datetime | None = None) -> Hall:
    hall, _clock = make_hall(ROUTE_CFG, start)
    return hall


def names(events: list) -> list[str]:
    return [ev.name for ev in events if ev.name.startswith("ticket.")]


def issue(hall: Hall, sid: str, priority: str = "normal") -> Ticket:
    events = hall.issue(sid, priority)
    t = hall.ticket(events[0].data["ticket"]["id"])
    assert t is not None
    return t


def test_a_route_ticket_waits_at_its_first_step_with_the_routes_number() -> None:
    hall = route_hall()
    events = hall.issue("jj")
    wire = events[0].data["ticket"]
    assert wire["number"] == "K001"
    assert wire["service"] == "gh"
    assert wire["route"] == ["gh", "js", "xf"] and wire["step"] == 0
    assert wire["route_id"] == "jj"
    assert wire["eta_route_s"] is not None and wire["eta_route_s"] >= wire["eta_s"]
    assert hall.waiting("gh") == 1 and hall.waiting("jj") == 1
    # The route's queue object is that of its first step.
    assert hall.queue_wire("jj") == hall.queue_wire("gh")
    assert any(ev.name == "queue.changed" and ev.data["service"] == "jj" for ev in events)
    # An ordinary ticket carries no route fields.
    plain = hall.issue("js")[0].data["ticket"]
    assert "route" not in plain and "step" not in plain


def test_completing_a_step_moves_it_to_the_head_of_the_next_steps_queue() -> None:
    hall = route_hall()
    early = issue(hall, "js")  # waited at js before the route ticket got there
    later = issue(hall, "js")
    case = issue(hall, "jj", "priority")
    hall.call_next(1)
    hall.start(1)
    events = hall.complete(1)
    assert names(events) == ["ticket.routed"]
    routed = events[0]
    assert routed.data["from_service"] == "gh" and routed.data["to_service"] == "js"
    assert routed.data["from_step"] == 0 and routed.data["counter"] == 1
    wire = routed.data["ticket"]
    assert wire["status"] == "waiting" and wire["step"] == 1 and wire["service"] == "js"
    assert wire["number"] == case.number and wire["priority"] == "priority"
    assert wire["ahead"] == 0
    assert hall.counter_state(1).current is None
    # At the head of js: before the two that were already waiting there.
    assert [t.id for t in hall.queue(2)] == [case.id, early.id, later.id]
    called = hall.call_next(2)
    assert called[0].name == "ticket.called"
    assert called[0].data["ticket"]["number"] == case.number
    assert called[0].data["ticket"]["step"] == 1


def test_the_last_step_completes_the_case() -> None:
    hall = route_hall()
    case = issue(hall, "jj")
    steps = []
    for n in (1, 2, 3):
        called = hall.call_next(n)
        steps.append(called[0].data["ticket"]["step"])
        done = hall.complete(n)
    assert steps == [0, 1, 2]
    assert names(done) == ["ticket.completed"]
    final = hall.ticket(case.id)
    assert final is not None and final.status == "done" and final.step == 2
    assert done[0].data["ticket"]["eta_route_s"] is None
    assert "route_ended" not in done[0].data
    assert hall.waiting("gh") == hall.waiting("js") == hall.waiting("xf") == 0


def test_route_back_sends_it_to_an_earlier_step_at_the_head() -> None:
    hall = route_hall()
    case = issue(hall, "jj")
    hall.call_next(1)
    hall.complete(1)
    waiting_gh = issue(hall, "gh")
    hall.call_next(2)
    events = hall.route_back(2, 0, "材料不全 missing papers")
    assert names(events) == ["ticket.routed"]
    assert events[0].data["reason"] == "材料不全 missing papers"
    assert events[0].data["from_step"] == 1 and events[0].data["to_service"] == "gh"
    t = hall.ticket(case.id)
    assert t is not None and t.status == "waiting" and t.step == 0 and t.service == "gh"
    assert [x.id for x in hall.queue(1)] == [case.id, waiting_gh.id]
    # Then forward again from there.
    hall.call_next(1)
    assert names(hall.complete(1)) == ["ticket.routed"]
    assert hall.ticket(case.id).step == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("step", [1, 2, -1, True, "0"])
def test_route_back_only_to_an_earlier_step(step: object) -> None:
    hall = route_hall()
    issue(hall, "jj")
    hall.call_next(1)
    hall.complete(1)
    hall.call_next(2)
    before = hall.ticket(hall.counter_state(2).current or "")
    assert before is not None
    version = before.version
    with pytest.raises(BadRequest):
        hall.route_back(2, step, "why")  # type: ignore[arg-type]
    assert before.status == "called" and before.version == version


def test_route_back_and_end_need_a_reason_and_a_route_ticket() -> None:
    hall = route_hall()
    issue(hall, "jj")
    hall.call_next(1)
    hall.complete(1)
    hall.call_next(2)
    with pytest.raises(BadRequest, match="reason"):
        hall.route_back(2, 0, "  ")
    with pytest.raises(BadRequest, match="reason"):
        hall.route_end(2, "")
    hall.complete(2)
    issue(hall, "js")
    hall.call_next(2)
    with pytest.raises(BadRequest, match="not on a joint-approval route"):
        hall.route_end(2, "done")
    with pytest.raises(BadRequest, match="not on a joint-approval route"):
        hall.route_back(2, 0, "why")
    with pytest.raises(Conflict):
        hall.route_end(4, "nothing called")


def test_route_end_finishes_the_case_early() -> None:
    hall = route_hall()
    case = issue(hall, "jj")
    hall.call_next(1)
    hall.complete(1)
    hall.call_next(2)
    hall.start(2)
    events = hall.route_end(2, "不予受理 rejected")
    assert names(events) == ["ticket.completed"]
    assert events[0].data["route_ended"] is True
    assert events[0].data["reason"] == "不予受理 rejected"
    t = hall.ticket(case.id)
    assert t is not None and t.status == "done" and t.step == 1 and t.finished_at is not None
    assert hall.waiting("xf") == 0
    assert hall.counter_state(2).current is None


def test_a_transfer_inside_a_route_keeps_the_route() -> None:
    hall = route_hall()
    case = issue(hall, "jj")
    hall.call_next(1)
    hall.complete(1)  # now at js (step 1)
    hall.call_next(2)
    events = hall.transfer(2, to_counter=4)  # a gh counter helps out with this step
    wire = events[0].data["ticket"]
    assert wire["route"] == ["gh", "js", "xf"] and wire["step"] == 1
    hall.call_next(4)
    routed = hall.complete(4)
    assert names(routed) == ["ticket.routed"]
    assert routed[0].data["to_service"] == "xf"
    t = hall.ticket(case.id)
    assert t is not None and t.service == "xf" and t.step == 2
    hall.call_next(3)
    assert names(hall.complete(3)) == ["ticket.completed"]


def test_nothing_is_transferred_to_a_route_itself() -> None:
    hall = route_hall()
    plain = issue(hall, "gh")
    hall.call_next(1)
    with pytest.raises(BadRequest, match="route"):
        hall.transfer(1, service="jj")
    t = hall.ticket(plain.id)
    assert t is not None and t.status == "called" and t.service == "gh"


def test_a_closed_step_keeps_the_ticket_waiting_and_its_eta_says_when_it_opens() -> None:
    hall, clock = make_hall(ROUTE_CFG, at(11, 30))
    case = issue(hall, "jj")
    hall.call_next(1)
    hall.complete(1)
    hall.call_next(2)
    clock.advance(40 * 60)  # 12:10: fire safety (xf) is at lunch
    events = hall.complete(2)
    wire = events[0].data["ticket"]
    assert wire["status"] == "waiting" and wire["service"] == "xf"
    opens = at(13, 30)
    assert wire["eta_after"] == "2026-11-26T13:30:00+08:00"
    assert wire["eta_s"] >= (opens - clock()).total_seconds()
    assert wire["eta_route_s"] >= wire["eta_s"]
    t = hall.ticket(case.id)
    assert t is not None and t.status == "waiting"
    assert hall.ahead(t) == 0


def test_a_restored_hall_keeps_route_and_step() -> None:
    hall, clock = make_hall(ROUTE_CFG)
    case = issue(hall, "jj")
    hall.call_next(1)
    hall.complete(1)
    again = Hall.restore(ROUTE_CFG, clock, hall.tickets(), hall.counter_states(),
                         hall.last_numbers)
    t = again.ticket(case.id)
    assert t is not None and t.route == ("gh", "js", "xf") and t.step == 1
    again.call_next(2)
    assert names(again.complete(2))[0] == "ticket.routed"
    assert issue(again, "jj").number == "K002"


def test_a_hall_refuses_a_bad_route() -> None:
    bad = config(services=[service("gh", "G"), service("jj", "K", route=("gh",))],
                 counters=[counter(1, ["gh"])])
    with pytest.raises(ValueError, match="route jj"):
        make_hall(bad)


def test_a_restored_hall_knows_the_service_times_of_steps_left_before() -> None:
    """A ticket holds only its current step: the restore reads the steps it
    left from the day's events, so the ETA at a step service is the same."""
    from server.core.forecast import route_steps

    hall, clock = make_hall(ROUTE_CFG)
    log: list[dict] = []

    def run(events: list) -> list:
        log.extend({"name": ev.name, "data": ev.data, "at": clock()} for ev in events)
        return events

    for _ in range(2):
        run(hall.issue("jj"))
    for minutes in (25, 35):  # gh (default 600 s) takes 25 and 35 min a step here
        run(hall.call_next(1))
        clock.advance(60)
        run(hall.start(1))
        clock.advance(minutes * 60 - 60)
        run(hall.complete(1))  # routed on to js
    run(hall.issue("gh"))
    waiting = issue(hall, "gh")
    steps = route_steps(log)
    assert [(s.service, s.finished_at - s.called_at) for s in steps] == [
        ("gh", dt.timedelta(minutes=25)), ("gh", dt.timedelta(minutes=35))]
    again = Hall.restore(ROUTE_CFG, clock, hall.tickets(), hall.counter_states(),
                         hall.last_numbers, route_events=log)
    assert again.queue_wire("gh") == hall.queue_wire("gh")
    restored = again.ticket(waiting.id)
    assert restored is not None and again.wire_ticket(restored) == hall.wire_ticket(waiting)
    # Without the events (as before) the restored ETA fell back to the default.
    blind = Hall.restore(ROUTE_CFG, clock, hall.tickets(), hall.counter_states(),
                         hall.last_numbers)
    assert blind.queue_wire("gh")["eta_s"] < hall.queue_wire("gh")["eta_s"]
