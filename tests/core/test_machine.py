"""The transition table, checked cell by cell, on its own and through the Hall."""

from __future__ import annotations

import itertools

import pytest

from server.core import Conflict, CoreError, Hall, IllegalMove, machine, remote
from server.core.model import Ticket
from tests.core.builders import config, make_hall, service

# Written out independently of machine.TRANSITIONS on purpose: a change to the
# table must be a deliberate change here too.
EXPECTED = {
    ("waiting", "call"): "called",
    ("waiting", "cancel"): "cancelled",
    ("waiting", "close"): "cancelled",
    ("called", "recall"): "called",
    ("called", "start"): "serving",
    ("called", "complete"): "done",
    ("called", "no_show"): "no_show",
    ("called", "transfer"): "waiting",
    ("called", "close"): "cancelled",
    ("serving", "complete"): "done",
    ("serving", "transfer"): "waiting",
    ("no_show", "requeue"): "waiting",
    ("no_show", "unmiss"): "called",
    ("done", "rate"): "done",
    ("waiting", "arrive"): "waiting",  # a remote ticket's citizen is here
    ("waiting", "defer"): "waiting",  # an absent remote ticket moves back
    ("called", "route"): "waiting",
    ("serving", "route"): "waiting",
    ("called", "route_back"): "waiting",
    ("serving", "route_back"): "waiting",
    ("called", "route_end"): "done",
    ("serving", "route_end"): "done",
}
CELLS = list(itertools.product(machine.STATES, machine.COMMANDS))


def test_table_is_exactly_the_expected_one():
    assert machine.TRANSITIONS == EXPECTED
    assert set(machine.STATES) == {"waiting", "called", "serving", "done", "no_show",
                                   "cancelled"}
    assert machine.FINAL == {"done", "cancelled"}


@pytest.mark.parametrize(("state", "command"), CELLS)
def test_machine_cell(state, command):
    t = Ticket(id="x", number="A007", service="gjj", status=state)
    if (state, command) in EXPECTED:
        assert machine.check(t, command) == EXPECTED[(state, command)]
        assert machine.legal(state, command)
        assert t.status == state  # check() never changes the ticket
    else:
        with pytest.raises(IllegalMove) as info:
            machine.check(t, command)
        err = info.value
        assert (err.ticket, err.command, err.state) == (t, command, state)
        assert err.code == "conflict"
        assert isinstance(err, CoreError) and isinstance(err, Conflict)
        assert "A007" in str(err) and state in str(err)


def test_rate_only_once():
    t = Ticket(id="x", number="A007", service="gjj", status="done")
    assert machine.check(t, "rate") == "done"
    t.rating = 4
    with pytest.raises(IllegalMove, match="already been rated"):
        machine.check(t, "rate")


def test_unknown_command_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown command"):
        machine.check(Ticket(id="x", number="A1", service="gjj"), "teleport")


def test_allowed_from_lists_states_in_order():
    assert machine.allowed_from("complete") == ("called", "serving")
    assert machine.allowed_from("transfer") == ("called", "serving")
    assert machine.allowed_from("close") == ("waiting", "called")


# ------------------------------------------------------------- through the Hall
ROUTE_COMMANDS = ("route", "route_back", "route_end")


def _route_hall():
    """The default hall plus route "rt": gjj, gjj again, bdc (counter 1 serves gjj)."""
    return make_hall(config(services=[service("gjj", "A"), service("tax", "B"),
                                      service("bdc", "C"),
                                      service("rt", "R", route=("gjj", "gjj", "bdc"))]))


def _ticket_in(hall: Hall, clock, state: str, remote: bool = False, route: bool = False) -> str:
    """Issue a gjj ticket (taken by phone when ``remote``: its citizen absent;
    ``route``: an "rt" ticket at its second step, gjj) and drive it (at
    counter 1) into ``state``; its id."""
    tid = hall.issue("rt" if route else "gjj", remote=remote)[0].ticket.id
    if route:
        hall.call_next(1)
        hall.complete(1)
    clock.advance(30)
    if state == "cancelled":
        hall.cancel(tid)
    elif state != "waiting":
        hall.call(1, tid)
        clock.advance(30)
        if state in ("serving", "done"):
            hall.start(1)
            clock.advance(60)
        if state == "done" and route:
            hall.route_end(1, "done early")
        elif state == "done":
            hall.complete(1)
        elif state == "no_show":
            hall.no_show(1)
    assert hall.ticket(tid).status == state
    return tid


def _apply(hall: Hall, command: str, tid: str, now=None):
    if command == "call":
        return hall.call(2, tid)
    if command in ("recall", "start", "complete", "no_show"):
        return getattr(hall, command)(1)
    if command == "transfer":
        return hall.transfer(1, service="tax")
    if command == "unmiss":
        return hall.unmiss(1, tid)
    if command in ("requeue", "cancel"):
        return getattr(hall, command)(tid)
    if command == "close":
        return hall.close_day()
    if command == "rate":
        return hall.rate(1, tid, 5)
    if command == "arrive":
        return hall.arrived(tid)
    if command == "defer":  # what call_next does to an absent remote ticket that is due
        return [remote.pass_over(hall, hall.ticket(tid), now)]
    if command == "route":  # completing a step that is not the route's last
        return hall.complete(1)
    if command == "route_back":
        return hall.route_back(1, 0, "材料补正")
    if command == "route_end":
        return hall.route_end(1, "ended early")
    raise AssertionError(command)


@pytest.mark.parametrize(("state", "command"), CELLS)
def test_hall_cell(state, command):
    route = command in ROUTE_COMMANDS
    hall, clock = _route_hall() if route else make_hall()
    tid = _ticket_in(hall, clock, state, remote=command in ("arrive", "defer"), route=route)
    before = hall.ticket(tid).copy()
    if (state, command) in EXPECTED:
        events = _apply(hall, command, tid, clock())
        after = hall.ticket(tid)
        assert after.status == EXPECTED[(state, command)]
        assert after.version == before.version + 1
        mine = [e for e in events if e.ticket is not None and e.ticket.id == tid]
        assert len(mine) == 1
        assert mine[0].prev_version == before.version
        assert mine[0].ticket.status == after.status
        assert mine[0].data["ticket"]["status"] == after.status
    elif command == "close":
        events = _apply(hall, command, tid)  # the close-out skips what it may not close
        assert all(e.ticket is None or e.ticket.id != tid for e in events)
        assert hall.ticket(tid) == before
    else:
        with pytest.raises(Conflict):
            _apply(hall, command, tid, clock())
        assert hall.ticket(tid) == before  # nothing changed
