"""ClientSession keeps the last welcome's ``resume`` and sends it in the next hello
(the server taking the hall over then skips the token's scrypt check)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.client.session import ONLINE, WAITING, ClientSession, Send
from server.wire.protocol import CLOSE_SERVICE_RESTART

A, B = "ws://a:8765/ws", "ws://b:8765/ws"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _hello(session: ClientSession) -> dict[str, Any]:
    (frame,) = [a for a in session.connected() if isinstance(a, Send)]
    hello: dict[str, Any] = json.loads(frame.text)
    return hello


def _welcome(session: ClientSession, hello: dict[str, Any], **extra: Any) -> None:
    session.receive(json.dumps({"type": "welcome", "re": hello["id"], "role": "display",
                                "seq": 3, "hall": {}, "snapshot": {}, **extra}))
    assert session.state == ONLINE


def _lose(session: ClientSession, clock: Clock) -> None:
    session.lost(CLOSE_SERVICE_RESTART)
    assert session.state == WAITING
    deadline = session.next_deadline()
    assert deadline is not None
    clock.now = deadline
    session.tick()


def test_the_next_hello_carries_the_last_welcomes_ticket():
    clock = Clock()
    session = ClientSession([A, B], "board-1", "tok", clock=clock, rand=lambda: 0.0)
    session.open()
    first = _hello(session)
    assert "resume" not in first and first["token"] == "tok"
    _welcome(session, first, resume="r1.1.first")
    _lose(session, clock)
    second = _hello(session)
    assert second["resume"] == "r1.1.first" and second["token"] == "tok"
    _welcome(session, second, resume="r1.2.second")
    _lose(session, clock)
    assert _hello(session)["resume"] == "r1.2.second"


@pytest.mark.parametrize("value", ["absent", None, 7, ["r1.1.first"], {"t": "r1.1.first"}])
def test_a_welcome_without_a_string_ticket_leaves_none_to_send(value):
    clock = Clock()
    session = ClientSession([A, B], "board-1", "tok", clock=clock, rand=lambda: 0.0)
    session.open()
    _welcome(session, _hello(session), resume="r1.1.first")
    _lose(session, clock)
    _welcome(session, _hello(session), **({} if value == "absent" else {"resume": value}))
    _lose(session, clock)
    assert "resume" not in _hello(session)
