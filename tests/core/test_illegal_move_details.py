"""IllegalMove's documented attributes (the ticket, the command, the state)
and its reason: "already rated" only for rating a done ticket; a ticket
given by its id is named by it. A supervisor's move of a ticket that is
not waiting is refused as the ``transfer`` it is."""

from __future__ import annotations

import pytest

from server.core import machine
from server.core.machine import IllegalMove
from server.core.model import Ticket
from tests.core.builders import make_hall


def test_a_refused_move_names_the_ticket_the_command_and_the_state() -> None:
    t = Ticket(id="t1", number="A001", service="gjj", status="done")
    with pytest.raises(IllegalMove) as refused:
        machine.check(t, "call")
    assert (refused.value.ticket, refused.value.command, refused.value.state) == (t, "call", "done")
    assert "already been rated" not in str(refused.value)
    assert "call is only allowed when it is waiting" in str(refused.value)


def test_only_rating_a_rated_ticket_says_it_was_rated() -> None:
    t = Ticket(id="t1", number="A001", service="gjj", status="done", rating=4)
    with pytest.raises(IllegalMove, match="already been rated") as refused:
        machine.check(t, "rate")
    assert refused.value.ticket is t
    assert "already been rated" not in str(IllegalMove(t, "rate", "waiting"))


def test_a_ticket_given_by_its_id_is_named_by_it() -> None:
    refused = IllegalMove("t77", "call", "done")
    assert "cannot call ticket t77: it is done" in str(refused)


def test_moving_a_called_ticket_is_refused_as_a_transfer() -> None:
    hall, _clock = make_hall()
    tid = hall.issue("gjj")[0].data["ticket"]["id"]
    hall.call_next(1)
    with pytest.raises(IllegalMove) as refused:
        hall.move(tid, service="tax")
    assert (refused.value.command, refused.value.state) == ("transfer", "called")
