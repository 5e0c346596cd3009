"""server.client.qtlink.Link against the real dispatch server: connect, request,
server restart, automatic reconnect and resync with ``since``."""

from __future__ import annotations

import pytest

from server.client.qtlink import Link
from tests.helpers.server import PIN, TOKEN, RunningServer, small_config

FAST = {"timeout_ms": 3000, "backoff": (0.05, 0.3)}


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'link.db'}"


def _request(qtbot, link: Link, kind: str, **fields) -> dict:
    reply = link.request(kind, **fields)
    with qtbot.waitSignal(reply.done, timeout=5000) as blocker:
        pass
    return blocker.args[0]


def test_link_with_real_server_survives_restart(qtbot, db):
    srv = RunningServer(small_config(db)).start()
    port = srv.port
    board = Link(srv.url, "board-1", TOKEN("board-1"), **FAST)
    counter = Link(srv.url, "counter-1", TOKEN("counter-1"), **FAST)
    seen: list[dict] = []
    board.event.connect(seen.append)
    try:
        for link in (board, counter):
            with qtbot.waitSignal(link.welcomed, timeout=15000):
                link.open()
        assert counter.role == "counter" and counter.counter == 1
        assert _request(qtbot, counter, "login", staff="s001", pin=PIN)["type"] == "ok"
        with srv.client("kiosk-1") as kiosk:
            kiosk.request("issue", service="gjj")
            kiosk.request("issue", service="gjj")
        reply = _request(qtbot, counter, "call_next")
        assert reply["type"] == "ok" and reply["ticket"]["number"] == "A001"
        qtbot.waitUntil(lambda: any(e["name"] == "ticket.called" for e in seen), timeout=3000)
        before = board.last_seq

        # The server goes away; the links notice and keep trying.
        with qtbot.waitSignal(board.status, timeout=5000,
                              check_params_cb=lambda s: s != "online"):
            srv.stop()
        # Events happen while the board is away (a second server, same db).
        srv = RunningServer(small_config(db), port=port).start()
        with qtbot.waitSignal(counter.welcomed, timeout=10000):
            pass
        reply = _request(qtbot, counter, "complete")
        assert reply["type"] == "ok", reply
        reply = _request(qtbot, counter, "call_next")
        assert reply["ticket"]["number"] == "A002"
        qtbot.waitUntil(lambda: board.online, timeout=10000)
        qtbot.waitUntil(
            lambda: any(e["name"] == "ticket.called" and e["data"]["ticket"]["number"] == "A002"
                        for e in seen), timeout=5000)
        after = [e["seq"] for e in seen if e["seq"] > before]
        # Every event after the restart point arrived once, in order, no gap.
        assert after == list(range(before + 1, before + 1 + len(after)))
        # The staff session belongs to the counter: still logged in after restart.
        assert _request(qtbot, counter, "queue")["type"] == "ok"
    finally:
        board.close()
        counter.close()
        srv.stop()
