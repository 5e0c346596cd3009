"""HallService without the network: restore after a restart keeps dispatch exact."""

from __future__ import annotations

from server.features import default_features
from server.service import HallService, Session
from server.store import Store
from tests.helpers.server import PIN, small_config


def _req(svc: HallService, session: Session, kind: str, rid: str, **fields) -> dict:
    reply = svc.handle(session, {"type": kind, "id": rid, **fields})
    return reply.message


def test_priority_interleaving_survives_a_restart(db_url):
    """Two priority calls in a row at counter 2 (priority_per_normal = 2): after a
    restart the next call is still the waiting normal ticket, not a third priority."""
    cfg = small_config(db_url)
    kiosk, desk = Session(cfg.device("kiosk-1")), Session(cfg.device("counter-2"))
    with Store(cfg.database) as store:
        svc = HallService(cfg, store, features=default_features())
        assert _req(svc, desk, "login", "l", staff="s002", pin=PIN)["type"] == "ok"
        _req(svc, kiosk, "issue", "n1", service="gjj")
        for i in range(4):
            _req(svc, kiosk, "issue", f"p{i}", service="gjj", priority="priority")
        for i in range(2):
            called = _req(svc, desk, "call_next", f"c{i}")["ticket"]
            assert called["priority"] == "priority"
            _req(svc, desk, "complete", f"d{i}")
    with Store(cfg.database) as store:
        again = HallService(cfg, store, features=default_features())  # a restarted server
        nxt = _req(again, desk, "call_next", "c-after")["ticket"]
    assert nxt["priority"] == "normal" and nxt["number"] == "A001"
