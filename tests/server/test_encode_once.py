"""Each committed event is JSON-encoded once for every client that receives
it, and each reply once for the idempotency store, the reply memory and the
wire together (counted on the real server)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest

from server.wire import protocol
from tests.helpers.server import RunningServer, small_config

NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # 10:00 in the hall


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each kind of message (``event:<name>``, ``ok``) was encoded."""
    counted: Counter[str] = Counter()
    real_encode, real_bytes = protocol.encode, protocol.encode_bytes

    def kind(message: dict[str, Any]) -> str:
        return (f"event:{message['name']}" if message.get("type") == "event"
                else str(message.get("type")))

    def encode(message: dict[str, Any]) -> str:
        counted[kind(message)] += 1
        return real_encode(message)

    def encode_bytes(message: dict[str, Any]) -> bytes:
        counted[kind(message)] += 1
        return real_bytes(message)

    monkeypatch.setattr(protocol, "encode", encode)
    monkeypatch.setattr(protocol, "encode_bytes", encode_bytes)
    return counted


def test_an_event_is_encoded_once_for_all_its_clients(tmp_path, encodes) -> None:
    cfg = small_config(f"sqlite:///{tmp_path / 'e.db'}")
    with RunningServer(cfg, clock=lambda: NOW) as srv:
        watchers = [srv.client(d) for d in ("board-1", "board-2", "cdisplay-1", "cdisplay-2",
                                            "cdisplay-3", "cdisplay-4")]
        kiosk = srv.client("kiosk-1")
        encodes.clear()
        reply = kiosk.request("issue", service="gjj")
        assert reply["type"] == "ok"
        for w in watchers:
            w.wait_event("ticket.issued")
            w.wait_event("queue.changed")
        # Seven clients got each event; each was encoded once. The reply too,
        # though it is also stored and remembered for a resend.
        assert encodes == {"event:ticket.issued": 1, "event:queue.changed": 1, "ok": 1}
        # A resend gets the remembered text: nothing encoded again.
        again = kiosk.request("issue", id=reply["re"], service="gjj")
        assert again == reply
        assert encodes["ok"] == 1
        for w in [*watchers, kiosk]:
            w.close()


def test_the_stored_and_remembered_reply_is_the_text_sent(tmp_path, encodes) -> None:
    cfg = small_config(f"sqlite:///{tmp_path / 'r.db'}")
    with RunningServer(cfg) as srv:  # real time: live_replies reads by the real clock
        kiosk = srv.client("kiosk-1")
        reply = kiosk.request("issue", id="one", service="tax")
        stored = dict(((d, r), text) for d, r, text in srv.store.live_replies(cfg.id))
        assert json.loads(stored[("kiosk-1", "one")]) == reply
        kiosk.close()
    # Restarted: the reply comes from the store's text, as it was sent.
    with RunningServer(cfg) as srv:
        kiosk = srv.client("kiosk-1")
        assert kiosk.request("issue", id="one", service="tax") == reply
        kiosk.close()


def test_event_data_is_encoded_once_for_the_store_and_the_wire(tmp_path, monkeypatch) -> None:
    """The event row's JSON text is the one the wire frame carries: the data
    is not encoded a second time for the clients (one ``json.dumps`` of it)."""
    dumped: list[Any] = []
    real_dumps = json.dumps

    def dumps(obj: Any, *args: Any, **kwargs: Any) -> str:
        dumped.append(obj)
        return real_dumps(obj, *args, **kwargs)

    cfg = small_config(f"sqlite:///{tmp_path / 'd.db'}")
    with RunningServer(cfg, clock=lambda: NOW) as srv:
        board, kiosk = srv.client("board-1"), srv.client("kiosk-1")
        monkeypatch.setattr(json, "dumps", dumps)
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
        issued = board.wait_event("ticket.issued")
        board.wait_event("queue.changed")
        monkeypatch.undo()
        stored = srv.store.events_since(cfg.id, issued["seq"] - 1, limit=1)[0]
        board.close()
        kiosk.close()
    assert stored["data"] == issued["data"]
    # Encoded on its own (the store's row) or inside a message (the wire).
    times = sum(1 for obj in dumped if obj == issued["data"]
                or (isinstance(obj, dict) and obj.get("data") == issued["data"]))
    assert times == 1
