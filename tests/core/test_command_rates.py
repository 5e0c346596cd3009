"""Every command reads the arrival rates as of its own moment (``Hall._begin``).

The rates (jumps: tickets issued ahead of the normal group) are counted over
:data:`RATE_WINDOW_S` as of the last command, so a queue's estimate moves only
when something happens. A command that builds a waiting ticket's wire (its
ETA, printed or shown) must read them as of *its own* moment, not the
command's before: here a priority ticket issued at 09:00 leaves the window
at 09:30:00, and the command under test runs at 09:30:01 with no command in
between. As of 09:00 the jump still counts (a normal ticket behind one busy
counter: 300 s + 300/1800 of a call = 350 s); as of the command it does not
(300 s). Each test compares the ETA in the command's own event with the same
ticket read right after the command (which every version reads as of it).

Also: a command that builds no waiting ticket still tells boards of a queue
the window moved; a refused command reads nothing new.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from server.config import HallConfig
from server.core import Hall, NotFound
from server.core.forecast import RATE_WINDOW_S
from server.core.model import Event, Ticket
from tests.core.builders import at, config, counter, make_hall, service
from tests.helpers.fakes import FakeClock

#: Seconds from the jump at 09:00 to the command: its stamp has just left the window.
LATER = RATE_WINDOW_S + 1
#: gjj's ETA for a normal ticket behind its one busy counter, as of the command.
FRESH = 300
#: The same with the 09:00 jump still counted (the previous command's rates).
STALE = 350


def _hall(*counters: tuple[int, list[str]], **dispatch: Any) -> tuple[Hall, FakeClock]:
    """gjj (A) and tax (B), each 300 s; counter 1 serves gjj only and is busy
    with a priority gjj ticket issued at 09:00 (the jump)."""
    return _jump(config([service("gjj", "A"), service("tax", "B")],
                        [counter(1, ["gjj"]), *(counter(n, s) for n, s in counters)],
                        **dispatch), "gjj", 1)


def _jump(cfg: HallConfig, sid: str, at_counter: int) -> tuple[Hall, FakeClock]:
    """A hall at 09:00 whose ``at_counter`` is busy with a priority ``sid`` ticket."""
    hall, clock = make_hall(cfg)
    hall.issue(sid, "priority")
    hall.call_next(at_counter)
    return hall, clock


def _eta(events: list[Event], name: str, field: str = "eta_s") -> tuple[int, str]:
    """An ETA field of the ticket in the command's ``name`` event, and its id."""
    data = next(ev.data for ev in events if ev.name == name)
    return data["ticket"][field], data["ticket"]["id"]


def _live(hall: Hall, tid: str) -> Ticket:
    t = hall.ticket(tid)
    assert t is not None
    return t


def _now_eta(hall: Hall, tid: str) -> int:
    return hall.wire_ticket(_live(hall, tid))["eta_s"]


def test_the_window_as_seen_at_0900_and_right_after_it() -> None:
    # The two figures the tests below tell apart, read from a queue object.
    hall, clock = _hall((2, ["tax"]))
    hall.issue("tax")
    assert hall.queue_wire("gjj")["eta_s"] == STALE
    clock.advance(LATER)
    hall.issue("tax")  # any command: gjj's jump leaves the window, its boards are told
    assert hall.queue_wire("gjj")["eta_s"] == FRESH


def test_a_transferred_ticket_reads_the_rates_as_of_the_transfer() -> None:
    hall, clock = _hall((2, ["tax"]))
    hall.issue("tax")
    hall.call_next(2)
    clock.advance(LATER)
    eta_s, tid = _eta(hall.transfer(2, service="gjj"), "ticket.transferred")
    assert eta_s == _now_eta(hall, tid) == FRESH


def test_a_moved_ticket_reads_the_rates_as_of_the_move() -> None:
    hall, clock = _hall((2, ["tax"]))
    tid = hall.issue("tax")[0].data["ticket"]["id"]
    clock.advance(LATER)
    eta_s, _ = _eta(hall.move(tid, service="gjj"), "ticket.transferred")
    assert eta_s == _now_eta(hall, tid) == FRESH


def test_a_requeued_ticket_reads_the_rates_as_of_the_requeue() -> None:
    # Counter 2 marks a gjj ticket no-show and closes (no free counter left).
    hall, clock = _hall((2, ["gjj"]), no_show_return_s=3600)
    tid = hall.issue("gjj")[0].data["ticket"]["id"]
    hall.call_next(2)
    hall.no_show(2)
    hall.close_counter(2)
    clock.advance(LATER)
    eta_s, _ = _eta(hall.requeue(tid), "ticket.requeued")
    assert eta_s == _now_eta(hall, tid) == FRESH


@pytest.mark.parametrize("how", ["close", "ticker"])
def test_a_ticket_back_from_its_counter_reads_the_rates_as_of_its_return(how: str) -> None:
    # Counter 2 transfers a tax ticket to gjj at counter 3; later counter 3
    # closes, or the ticker finds it paused past transfer_timeout (600 s).
    hall, clock = _hall((2, ["tax"]), (3, ["tax"]))
    hall.issue("tax")
    hall.call_next(2)
    tid = hall.transfer(2, service="gjj", to_counter=3)[0].data["ticket"]["id"]
    if how == "ticker":
        hall.pause(3)
    clock.advance(LATER)
    events = hall.close_counter(3) if how == "close" else hall.expire_transfers()
    eta_s, _ = _eta(events, "ticket.transferred")
    assert eta_s == _now_eta(hall, tid) == FRESH


@pytest.mark.parametrize("command", ["arrived", "requeue"])
def test_an_arrived_remote_ticket_reads_the_rates_as_of_its_arrival(command: str) -> None:
    # 我已到达 on the phone (arrived), or the kiosk's scanner (requeue of its QR).
    hall, clock = _hall()
    tid = hall.issue("gjj", remote=True)[0].data["ticket"]["id"]
    clock.advance(LATER)
    eta_s, _ = _eta(getattr(hall, command)(tid), "ticket.arrived")
    assert eta_s == _now_eta(hall, tid) == FRESH


# ---------------------------------------------------------------- routes
# Route "jj": step 1 at gjj (counter 1), step 2 at tax (counter 2). A priority
# tax ticket at 09:00 keeps counter 2 busy, so a route ticket's wait at tax
# (and the route's remaining estimate) counts tax's jump while it is in the
# window.

ROUTE = config([service("gjj", "A"), service("tax", "B"),
                service("jj", "J", route=("gjj", "tax"))],
               [counter(1, ["gjj"]), counter(2, ["tax"])])


def _route_hall() -> tuple[Hall, FakeClock]:
    return _jump(ROUTE, "tax", 2)


def _route_eta(events: list[Event], name: str) -> tuple[int, str]:
    return _eta(events, name, "eta_route_s")


def _now_route_eta(hall: Hall, tid: str) -> int | None:
    return hall.route_eta_s(_live(hall, tid))


def test_a_routed_ticket_reads_the_rates_as_of_the_step_it_left() -> None:
    hall, clock = _route_hall()
    hall.issue("jj")
    hall.call_next(1)
    clock.advance(LATER)  # the step took 1801 s: gjj's mean cycle is that now
    events = hall.complete(1)
    eta_s, tid = _eta(events, "ticket.routed")
    assert eta_s == _now_eta(hall, tid) == FRESH
    route_s, _ = _route_eta(events, "ticket.routed")
    assert route_s == _now_route_eta(hall, tid) == FRESH + 300


def test_a_ticket_sent_back_reads_the_rates_as_of_route_back() -> None:
    # The route ticket reaches tax (counter 2) first; then a priority gjj ticket
    # keeps counter 1 busy, and counter 2 sends the route ticket back to gjj.
    hall, clock = make_hall(ROUTE)
    tid = hall.issue("jj")[0].data["ticket"]["id"]
    hall.call_next(1)
    clock.advance(300)  # a 300 s step: gjj's mean cycle stays 300 s
    hall.complete(1)
    hall.call_next(2)
    hall.issue("gjj", "priority")   # the jump, 09:05
    hall.call_next(1)
    clock.advance(LATER)
    events = hall.route_back(2, 0, "材料不全")
    eta_s, _ = _eta(events, "ticket.routed")
    assert eta_s == _now_eta(hall, tid) == FRESH


# The route's remaining estimate of a called or serving ticket reads the
# later step's wait (tax, behind its busy counter): 0 + gjj's cycle 300 +
# tax's wait + tax's cycle 300.
ROUTE_FRESH = 300 + FRESH + 300


def test_a_called_route_ticket_reads_the_rates_as_of_the_call() -> None:
    hall, clock = _route_hall()
    hall.issue("jj")
    clock.advance(LATER)
    route_s, tid = _route_eta(hall.call_next(1), "ticket.called")
    assert route_s == _now_route_eta(hall, tid) == ROUTE_FRESH


def test_a_route_ticket_called_by_name_reads_the_rates_as_of_the_call() -> None:
    hall, clock = _route_hall()
    tid = hall.issue("jj")[0].data["ticket"]["id"]
    clock.advance(LATER)
    route_s, _ = _route_eta(hall.call(1, tid), "ticket.called")
    assert route_s == _now_route_eta(hall, tid) == ROUTE_FRESH


@pytest.mark.parametrize(("command", "event"), [("recall", "ticket.recalled"),
                                              ("start", "ticket.started")])
def test_a_called_route_ticket_reads_the_rates_as_of_a_recall_or_start(
        command: str, event: str) -> None:
    hall, clock = _route_hall()
    hall.issue("jj")
    hall.call_next(1)
    clock.advance(LATER)
    route_s, tid = _route_eta(getattr(hall, command)(1), event)
    assert route_s == _now_route_eta(hall, tid) == ROUTE_FRESH


def test_an_undone_no_show_reads_the_rates_as_of_the_undo() -> None:
    # The no-show is 11 s before the jump leaves the window, the undo 1 s after.
    hall, clock = _route_hall()
    hall.issue("jj")
    hall.call_next(1)
    clock.advance(LATER - 11)
    hall.no_show(1)
    clock.advance(11)
    route_s, tid = _route_eta(hall.unmiss(1, hall.missed(1)[0].id), "ticket.no_show_undone")
    assert route_s == _now_route_eta(hall, tid) == ROUTE_FRESH


# ------------------------------------------------- boards, refusals, groups

def _queue(events: list[Event], sid: str) -> dict[str, Any] | None:
    return next((ev.data for ev in events
                 if ev.name == "queue.changed" and ev.data["service"] == sid), None)


def test_a_command_with_no_waiting_ticket_tells_boards_what_the_window_moved() -> None:
    # start, recall, rate and an arrival read the rates as of their moment too;
    # a queue that moved with them is announced, so boards match a snapshot.
    hall, clock = _hall((2, ["tax"]))
    hall.issue("tax")
    hall.call_next(2)
    assert hall.queue_wire("gjj")["eta_s"] == STALE
    clock.advance(LATER)
    events = hall.start(2)
    assert [ev.name for ev in events] == ["ticket.started", "queue.changed"]
    assert _queue(events, "gjj") == {"service": "gjj", **hall.queue_wire("gjj")}
    assert hall.queue_wire("gjj")["eta_s"] == FRESH


def test_rate_and_recall_announce_a_queue_the_window_moved() -> None:
    hall, clock = _hall((2, ["tax"]))
    done = hall.issue("tax")[0].data["ticket"]["id"]
    hall.call_next(2)
    hall.complete(2)
    hall.issue("tax")
    hall.call_next(2)
    clock.advance(LATER)
    rated = hall.rate(2, done, 5)
    assert [ev.name for ev in rated] == ["ticket.rated", "queue.changed"]
    assert _queue(rated, "gjj") is not None and _queue(rated, "gjj")["eta_s"] == FRESH

    hall2, clock2 = _hall((2, ["tax"]))
    hall2.issue("tax")
    hall2.call_next(2)
    clock2.advance(LATER)
    recalled = hall2.recall(2)
    assert [ev.name for ev in recalled] == ["ticket.recalled", "queue.changed"]
    assert _queue(recalled, "gjj") is not None and _queue(recalled, "gjj")["eta_s"] == FRESH


def test_an_arrival_announces_a_queue_the_window_moved() -> None:
    hall, clock = _hall((2, ["tax"]))
    tid = hall.issue("tax", remote=True)[0].data["ticket"]["id"]
    clock.advance(LATER)
    events = hall.arrived(tid)
    gjj = _queue(events, "gjj")
    assert gjj is not None and gjj["eta_s"] == FRESH
    assert hall.arrived(tid) == []  # already here: nothing happens, nothing is read


def test_a_refused_command_reads_no_new_rates() -> None:
    # Boards were told 350 s; a refusal after the window moved changes nothing:
    # a new board's snapshot still says what the others were told.
    hall, clock = _hall((2, ["tax"]))
    hall.issue("tax")
    told = hall.queue_wire("gjj")
    clock.advance(LATER)
    for refused in (lambda: hall.issue("nope"), lambda: hall.move("nope", service="gjj")):
        try:
            refused()
        except NotFound:
            pass
        else:
            raise AssertionError("not refused")
    assert _queue(hall.close_counter(2), "gjj") is not None  # a real command: gjj moves
    assert told["eta_s"] == STALE and hall.queue_wire("gjj")["eta_s"] == FRESH


def test_an_idle_command_reads_no_new_rates() -> None:
    # Pausing a paused counter, resuming an open one, closing a closed one and
    # the same appointments again change nothing: no rates, no events.
    hall, clock = _hall((2, ["tax"]))
    hall.issue("tax")
    hall.pause(2)
    clock.advance(LATER)
    assert hall.pause(2) == []
    assert hall.resume(1) == []
    assert hall.set_appointments("gjj", []) == []
    assert hall.queue_wire("gjj")["eta_s"] == STALE
    assert _queue(hall.resume(2), "gjj") is not None  # a real change: gjj is told
    assert hall.queue_wire("gjj")["eta_s"] == FRESH


def test_in_a_group_each_command_reads_its_own_moment_and_the_flush_tells_all() -> None:
    hall, clock = _hall((2, ["tax"]))
    hall.issue("tax")
    hall.call_next(2)
    hall.defer_queue_events()
    clock.advance(LATER)
    eta_s, tid = _eta(hall.transfer(2, service="gjj"), "ticket.transferred")
    assert eta_s == _now_eta(hall, tid) == FRESH
    flushed = hall.flush_queue_events()
    gjj = _queue(flushed, "gjj")
    assert gjj is not None and gjj["eta_s"] == FRESH + 300  # the transferred ticket waits too


def test_what_a_failed_command_moved_is_told_by_the_next_one() -> None:
    # The id generator keeps returning an id in use: the issue at 09:30:01
    # fails after the window moved gjj. The next command (a pause at tax's
    # counter, which does not serve gjj) still tells gjj's boards.
    cfg = config([service("gjj", "A"), service("tax", "B")],
                 [counter(1, ["gjj"]), counter(2, ["tax"])])
    clock, codes = FakeClock(at(9)), itertools.count()
    hall = Hall(cfg, clock, ids=lambda: "t1", codes=lambda: f"C{next(codes)}")
    for c in (1, 2):
        hall.open_counter(c, f"s{c}", f"员工{c}")
    hall.issue("gjj", "priority")
    hall.call_next(1)
    clock.advance(LATER)
    with pytest.raises(RuntimeError):
        hall.issue("tax")
    gjj = _queue(hall.pause(2), "gjj")
    assert gjj is not None and gjj["eta_s"] == FRESH
