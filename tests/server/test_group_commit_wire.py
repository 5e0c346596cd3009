"""Group commit and fan-out over the real websockets server: pipelined
requests keep their order, a failed group commit sends nothing but the same
error to each, and a board fed only by events ends equal to the snapshot."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from server.service import GROUP_FAILED
from server.store import Store
from tests.helpers.server import PIN, TOKEN, RunningServer, WsClient, small_config

NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # 10:00 in the hall


def _burst(client: WsClient, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send every request before reading any reply; the replies in arrival order."""
    for req in requests:
        client.send_raw(json.dumps(req))
    wanted = {r["id"] for r in requests}
    order: list[dict[str, Any]] = []
    while len(order) < len(requests):
        msg = client.recv(10)
        if msg.get("type") in ("ok", "error") and msg.get("re") in wanted:
            order.append(msg)
    return order


def _board_state(events: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """What a board knows from events alone: each queue's state, the last seq."""
    queues: dict[str, Any] = {}
    last = 0
    for ev in events:
        assert ev["seq"] == last + 1 or last == 0, "events arrive gap-free, in order"
        last = ev["seq"]
        if ev["name"] == "queue.changed":
            queues[ev["data"]["service"]] = {k: v for k, v in ev["data"].items()
                                             if k != "service"}
    return queues, last


def test_pipelined_requests_keep_their_order_and_boards_match_the_snapshot(tmp_path):
    cfg = small_config(f"sqlite:///{tmp_path / 'w.db'}")
    with RunningServer(cfg, clock=lambda: NOW) as srv:
        board = srv.client("board-1")
        k1, k2 = srv.client("kiosk-1"), srv.client("kiosk-2")
        start = board.welcome["seq"]
        burst = [{"type": "issue", "id": f"a{i}", "service": ("gjj", "tax")[i % 2]}
                 for i in range(24)]
        replies = _burst(k1, burst)
        assert [r["re"] for r in replies] == [r["id"] for r in burst]  # answered in order
        gjj = [r["ticket"]["number"] for r in replies if r["ticket"]["service"] == "gjj"]
        assert gjj == [f"A{n:03d}" for n in range(1, 13)]  # numbered in arrival order
        more = _burst(k2, [{"type": "issue", "id": f"b{i}", "service": "bdc"}
                           for i in range(6)])
        assert [r["ticket"]["number"] for r in more] == [f"C{n:03d}" for n in range(1, 7)]
        fresh = srv.client("board-2")
        last_seq = fresh.welcome["seq"]
        while not board.events or board.events[-1]["seq"] < last_seq:
            board.recv(10)
        queues, last = _board_state([e for e in board.events if e["seq"] > start])
        assert last == last_seq
        snap = fresh.welcome["snapshot"]["queues"]
        assert queues == {sid: {k: v for k, v in q.items() if k != "issued"}
                          for sid, q in snap.items() if sid in queues}
        assert set(queues) == {"gjj", "tax", "bdc"}


def test_a_failed_group_commit_sends_the_same_error_and_no_event(tmp_path):
    cfg = small_config(f"sqlite:///{tmp_path / 'w.db'}")
    with RunningServer(cfg, clock=lambda: NOW) as srv:
        board = srv.client("board-1")
        kiosk = srv.client("kiosk-1")
        seq = board.welcome["seq"]
        with Store(cfg.database) as other:  # the same file, as an operator's tool would
            with other.transaction(write=True) as conn:
                conn.execute(sa.text("CREATE TRIGGER refuse AFTER INSERT ON tickets "
                                     "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"))
            burst = [{"type": "issue", "id": f"x{i}", "service": "gjj"} for i in range(8)]
            replies = _burst(kiosk, burst)
            assert replies == [{"type": "error", "re": f"x{i}", "code": "internal",
                                "message": GROUP_FAILED} for i in range(8)]
            assert kiosk.request("ping")["seq"] == seq
            with other.transaction(write=True) as conn:
                conn.execute(sa.text("DROP TRIGGER refuse"))
        # Nothing was stored or remembered: the resends are served now, in order.
        again = _burst(kiosk, burst)
        assert [r["ticket"]["number"] for r in again] == [f"A{n:03d}" for n in range(1, 9)]
        first = board.wait_event("ticket.issued")
        assert first["seq"] == seq + 1 and first["data"]["ticket"]["number"] == "A001"


def test_a_request_after_a_login_waits_for_the_pin_check(tmp_path):
    cfg = small_config(f"sqlite:///{tmp_path / 'w.db'}")
    with RunningServer(cfg, clock=lambda: NOW) as srv:
        kiosk = srv.client("kiosk-1")
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
        desk = WsClient(srv.url, "counter-2", TOKEN("counter-2"))
        replies = _burst(desk, [{"type": "login", "id": "l", "staff": "s002", "pin": PIN},
                                {"type": "call_next", "id": "c"},
                                {"type": "queue", "id": "q"}])
        assert [r["re"] for r in replies] == ["l", "c", "q"]
        assert replies[1]["type"] == "ok" and replies[1]["ticket"]["number"] == "A001"
        assert replies[2] == {"type": "ok", "re": "q", "waiting": []}
