"""The lifecycle table: consistent with the protocol, and what the Hall does."""

from __future__ import annotations

from server.core import machine
from server.wire import lifecycle, protocol
from tests.core.builders import config, make_hall, service


def test_events_are_protocol_events() -> None:
    ticket_events = {n for n in protocol.EVENT_NAMES if n.startswith("ticket.")}
    assert set(lifecycle.EVENT_OF.values()) | {lifecycle.ISSUED} == ticket_events
    assert set(lifecycle.STATUS_AFTER) == ticket_events
    assert set(lifecycle.EVENT_OF) == set(lifecycle.COMMANDS)


def test_every_cell_names_known_statuses_and_commands() -> None:
    for (before, command), after in lifecycle.TRANSITIONS.items():
        assert before in lifecycle.STATUSES and after in lifecycle.STATUSES
        assert command in lifecycle.COMMANDS
        assert lifecycle.STATUS_AFTER[lifecycle.EVENT_OF[command]] == after


def test_derived_sets() -> None:
    assert lifecycle.FINAL == {"done", "cancelled"}
    assert lifecycle.LEAVES_COUNTER == {"ticket.completed", "ticket.no_show",
                                        "ticket.transferred", "ticket.cancelled",
                                        "ticket.routed"}
    assert lifecycle.allowed_from("complete") == ("called", "serving")
    assert lifecycle.allowed_from("unmiss") == ("no_show",)
    assert lifecycle.allowed_from("issue") == ()


def test_the_core_checks_against_this_table() -> None:
    assert machine.TRANSITIONS is lifecycle.TRANSITIONS
    assert machine.STATES is lifecycle.STATUSES


def test_the_hall_emits_the_tables_events_and_statuses() -> None:
    """Drive one ticket through every command; each event and status is the table's."""
    hall, _clock = make_hall(config(services=[
        service("gjj", "A"), service("tax", "B"), service("bdc", "C"),
        service("rt", "R", route=("gjj", "tax", "bdc"))]))
    seen: list[tuple[str, str]] = []

    def run(events: list) -> None:
        for ev in events:
            if ev.name.startswith("ticket."):
                status = ev.data["ticket"]["status"]
                assert lifecycle.STATUS_AFTER[ev.name] == status, ev.name
                seen.append((ev.name, status))

    run(hall.issue("gjj"))
    tid = hall.tickets()[0].id
    run(hall.call_next(1))
    run(hall.recall(1))
    run(hall.no_show(1))
    run(hall.unmiss(1, tid))
    run(hall.no_show(1))
    run(hall.requeue(tid))
    run(hall.call_next(1))
    run(hall.start(1))
    run(hall.transfer(1, service="tax"))
    run(hall.call_next(2))
    run(hall.complete(2))
    run(hall.rate(2, tid, 5))
    run(hall.issue("gjj"))
    run(hall.cancel(hall.tickets()[-1].id))
    # A remote ticket: passed over while absent (defer), then present (arrive).
    far = hall.issue("gjj", remote=True)
    run(far)
    run(hall.issue("gjj"))
    run(hall.call_next(1))
    run(hall.arrived(far[0].ticket.id))
    run(hall.issue("gjj"))
    run(hall.close_day())
    # A joint-approval route: routed on, sent back, ended early.
    run(hall.issue("rt"))
    run(hall.call_next(1))
    run(hall.complete(1))
    run(hall.call_next(2))
    run(hall.route_back(2, 0, "材料补正"))
    run(hall.call_next(1))
    run(hall.route_end(1, "ended early"))
    names = {name for name, _status in seen}
    assert names == set(lifecycle.STATUS_AFTER)
