"""What a call and a login change, exactly: the called ticket (its counter,
no target any more, one more call), the counter's version (one more per
change: the store's optimistic check), the event's fields; a login needs a
staff id that is a non-empty string, and a change of staff keeps the time
the counter has been open since."""

from __future__ import annotations

import pytest

from server.core import BadRequest
from tests.core.builders import make_hall


def test_a_call_raises_the_counters_version_by_exactly_one() -> None:
    hall, _clock = make_hall()
    hall.issue("gjj")
    before = hall.counter_state(1).version
    called = hall.call_next(1)[0]
    assert hall.counter_state(1).version == before + 1
    assert called.counter is not None and called.counter.version == before + 1
    assert called.data["counter"] == 1 and called.data["counter_name"] == "1号窗口"


def test_every_call_of_a_ticket_counts() -> None:
    hall, _clock = make_hall()
    tid = hall.issue("gjj")[0].data["ticket"]["id"]
    hall.call_next(1)
    hall.no_show(1)
    hall.requeue(tid)
    assert hall.call_next(1)[0].data["ticket"]["id"] == tid
    t = hall.ticket(tid)
    assert t is not None and t.calls == 2


def test_a_ticket_transferred_to_a_counter_has_no_target_once_called_there() -> None:
    hall, _clock = make_hall()
    tid = hall.issue("gjj")[0].data["ticket"]["id"]
    hall.call_next(1)
    hall.transfer(1, to_counter=2)
    assert hall.ticket(tid).target_counter == 2  # type: ignore[union-attr]
    called = hall.call_next(2)[0]
    assert called.ticket is not None and called.ticket.target_counter is None
    assert hall.ticket(tid).target_counter is None  # type: ignore[union-attr]


@pytest.mark.parametrize("staff_id", ["", None, 5])
def test_a_login_needs_a_staff_id_string(staff_id: object) -> None:
    hall, _clock = make_hall(open_all=False)
    with pytest.raises(BadRequest):
        hall.open_counter(1, staff_id, "王芳")  # type: ignore[arg-type]
    assert hall.counter_state(1).state == "closed"


def test_a_counter_is_open_since_its_login_not_since_a_change_of_staff() -> None:
    hall, clock = make_hall(open_all=False)
    opened_at = clock()
    hall.open_counter(1, "s1", "王芳")
    assert hall.counter_state(1).since == opened_at
    clock.advance(300)
    hall.open_counter(1, "s2", "李强")  # another staff member takes over
    state = hall.counter_state(1)
    assert (state.staff_id, state.since) == ("s2", opened_at)


def test_a_login_at_a_paused_counter_clears_its_pause_reason() -> None:
    hall, _clock = make_hall()
    hall.pause(1, "午休")
    hall.open_counter(1, "s9", "员工9")
    state = hall.counter_state(1)
    assert (state.state, state.reason) == ("open", "")
