"""A kiosk's ``requeue`` of a remote ticket is its citizen's arrival
(docs/PROTOCOL.md): ``{ticket, arrived: true}`` and ``ticket.arrived``; read
again while present and waiting, the same answer and nothing changes; a real
过号重排 has no ``arrived``; a present ticket no longer waiting is refused like
any requeue. In-process (HallService, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.features.phone import RemoteTickets
from tests.helpers.server import PIN
from tests.service.test_service_rules import Desk, utc


@pytest.fixture
def desk(db_url: str) -> Iterator[Desk]:
    d = Desk(db_url, utc(1, 0))  # 09:00 in Shanghai
    yield d
    d.store.close()


def remote(desk: Desk, phone: str, service: str = "gjj") -> dict:
    ticket, _events = RemoteTickets(desk.svc).issue(service, phone)  # as the phone API does
    assert ticket["remote"] is True and ticket["present"] is False
    return ticket


def test_a_kiosk_reading_a_remote_ticket_confirms_the_arrival_once(desk: Desk) -> None:
    first, second = remote(desk, "13800000001"), remote(desk, "13800000002")
    reply = desk.send("kiosk-1", "requeue", "r1", check=first["check"])
    assert reply.message["type"] == "ok" and reply.message["re"] == "r1"
    assert reply.message["arrived"] is True
    assert (reply.message["ticket"]["id"], reply.message["ticket"]["present"],
            reply.message["ticket"]["status"]) == (first["id"], True, "waiting")
    assert [e["name"] for e in reply.events] == ["ticket.arrived"]
    seq = desk.store.last_seq(desk.config.id)
    # Read again: the same answer, named by its own id, and nothing changes.
    again = desk.send("kiosk-1", "requeue", "r2", check=first["check"])
    assert again.message == {"type": "ok", "re": "r2", "arrived": True,
                             "ticket": desk.svc.hall.wire_ticket(desk.svc.hall.ticket(
                                 first["id"]))}
    assert again.message["ticket"]["present"] is True and again.events == []
    assert desk.store.last_seq(desk.config.id) == seq
    # The printed number typed at the kiosk does the same for the other one.
    by_number = desk.send("kiosk-1", "requeue", "r3", number=second["number"]).message
    assert (by_number["arrived"], by_number["ticket"]["id"]) == (True, second["id"])


def test_a_real_requeue_has_no_arrived_and_a_called_arrival_is_refused(desk: Desk) -> None:
    assert desk.send("counter-2", "login", "l2", staff="s002", pin=PIN).message["type"] == "ok"
    walk_in = desk.send("kiosk-1", "issue", "i1", service="gjj").message["ticket"]
    desk.send("counter-2", "call_next", "c1")
    desk.send("counter-2", "no_show", "n1")
    back = desk.send("kiosk-1", "requeue", "r1", check=walk_in["check"])
    assert back.message["type"] == "ok" and "arrived" not in back.message
    names = [e["name"] for e in back.events]
    assert "ticket.requeued" in names and "ticket.arrived" not in names
    # A remote ticket that arrived and was called is no waiting arrival any more.
    mine = remote(desk, "13800000003")
    desk.send("kiosk-1", "requeue", "r2", check=mine["check"])
    called = desk.send("counter-2", "call_next", "c2").message["ticket"]
    assert called["id"] in (walk_in["id"], mine["id"])
    if called["id"] == walk_in["id"]:
        desk.send("counter-2", "complete", "d2")
        called = desk.send("counter-2", "call_next", "c3").message["ticket"]
    assert called["id"] == mine["id"]
    refused = desk.send("kiosk-1", "requeue", "r3", check=mine["check"]).message
    assert (refused["type"], refused["code"]) == ("error", "conflict")
