"""Server-level paths no ordinary session exercises, on the real websocket server.

* the day rollover from the server's own ticker (``close_day`` at the hall's
  local midnight, broadcast to the boards) with an injected UTC clock;
* the slow-client close 1013: a client that never reads is cut off once its
  unsent output passes the bound, and the others carry on;
* the too-long-gap replay: a ``since`` older than the replay window gets the
  snapshot only (no partial replay); one inside it gets every missed event.

The bounds are module constants of ``server.serve``; the tests shrink them
(``monkeypatch``) so that the paths are reached with a few kilobytes.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from server import serve
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, TOKEN, RunningServer, small_config


def utc(hour: int, minute: int = 0, second: int = 0, day: int = 26) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=dt.UTC)


def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utc(15, 0))  # 23:00 in Shanghai


@pytest.fixture
def hall(db_url, clock, monkeypatch) -> Iterator[RunningServer]:
    monkeypatch.setattr(serve, "TICK_S", 0.02)
    with RunningServer(small_config(db_url), clock=clock) as srv:
        yield srv


# ------------------------------------------------------------------ rollover
def test_the_ticker_closes_the_day_at_local_midnight(hall, clock):
    with hall.client("kiosk-1") as kiosk, hall.client("counter-2") as desk, \
            hall.client("board-1") as board:
        assert desk.request("login", staff="s002", pin=PIN)["type"] == "ok"
        kiosk.request("issue", service="gjj")                   # A001
        kiosk.request("issue", service="gjj")                   # A002
        assert desk.request("call_next")["ticket"]["number"] == "A001"
        clock.now = utc(16, 0, 1)                               # 00:00:01 local, the 27th
        got = [board.wait_event("ticket.cancelled")["data"] for _ in range(2)]
        assert [d["ticket"]["number"] for d in got] == ["A001", "A002"]
        assert {d["reason"] for d in got} == {"close_day"}
        fresh = kiosk.request("issue", service="gjj")["ticket"]
        assert fresh["number"] == "A001" and fresh["issued_at"].startswith("2026-11-27T00:00")
        stats = desk.request("stats")
        assert stats["stats"]["served"] == 0


def _count_ticks(srv: RunningServer) -> list[dt.datetime]:
    """Record the service clock at each of the ticker's upkeep calls."""
    seen: list[dt.datetime] = []

    def install() -> None:
        service = srv.server.service
        real = service.tick

        def counted() -> list:
            seen.append(service.clock())
            return real()

        service.tick = counted

    srv.call(install)
    return seen


def test_the_ticker_leaves_the_day_alone_at_utc_midnight(hall, clock):
    ticks = _count_ticks(hall)
    clock.now = utc(23, 30)                                     # 07:30 local, the 27th
    with hall.client("kiosk-1") as kiosk, hall.client("board-1") as board:
        wait_until(lambda: any(t == clock.now for t in ticks), what="a tick on the 27th")
        kiosk.request("issue", service="gjj")                   # A001 of the 27th
        clock.now = utc(0, 0, 1, day=27)                        # UTC midnight, 08:00:01 local
        wait_until(lambda: ticks.count(clock.now) >= 2, what="ticks past UTC midnight")
        second = kiosk.request("issue", service="gjj")["ticket"]
        assert second["number"] == "A002"
        board.request("ping")
        assert not any(e["name"] == "ticket.cancelled" for e in board.events)


# ---------------------------------------------------------------- slow client
def test_a_client_that_never_reads_is_closed_1013(db_url, monkeypatch):
    monkeypatch.setattr(serve, "MAX_BUFFER", 16 * 1024)
    with RunningServer(small_config(db_url)) as srv:
        with srv.client("kiosk-1") as kiosk, srv.client("board-1") as board:
            # A board on a tiny receive window whose reader never runs.
            sock = socket.create_connection(("127.0.0.1", srv.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            with connect(srv.url, sock=sock, max_queue=1, open_timeout=10) as slow:
                code = _starve(srv, slow, kiosk, board)
            assert code == 1013
            metrics = srv.call(lambda: srv.server.metrics.render().decode())
            assert 'reason="too slow"' in metrics


def _starve(srv: RunningServer, slow, kiosk, board) -> int | None:
    """Make the server write to ``slow`` until it gives up; return the close code
    ``slow`` finds once it reads its backlog at last."""
    slow.send(json.dumps({"type": "hello", "id": "h", "protocol": 1, "device": "board-2",
                          "token": TOKEN("board-2"), "since": None}))

    def registered() -> bool:
        return bool(srv.call(lambda: srv.server.by_device.get("board-2")))

    wait_until(registered, what="the slow board to be registered")

    def shrink() -> None:  # a slow network: little room in the kernel either
        for c in srv.server.by_device["board-2"]:
            c.ws.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    srv.call(shrink)
    # Every issue goes to every board: soon past the bound.
    last = ""
    for i in range(2000):
        last = kiosk.request("issue", service="gjj")["ticket"]["number"]
        if i % 20 == 0 and not registered():
            break
    wait_until(lambda: not registered(), what="the slow board to be dropped")
    # The fast board got everything and is still served.
    board.wait_event("ticket.issued", where=lambda e: e["data"]["ticket"]["number"] == last)
    try:
        while True:
            slow.recv(timeout=10)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


# ------------------------------------------------------------------- replay
def _after_welcome(srv: RunningServer, since: int) -> list[dict]:
    """Events a board reconnecting with ``since`` gets before its first reply."""
    with srv.client("board-1", since=since) as board:
        board.request("ping")
        return [e for e in board.events]


def test_replay_inside_the_window_and_snapshot_only_past_it(db_url, monkeypatch):
    monkeypatch.setattr(serve, "REPLAY_MAX", 4)
    with RunningServer(small_config(db_url)) as srv, srv.client("kiosk-1") as kiosk:
        for _ in range(3):                     # 2 events each: issued + queue.changed
            kiosk.request("issue", service="gjj")
        last = kiosk.request("ping")["seq"]
        assert last == 6
        inside = _after_welcome(srv, last - 4)
        assert [e["seq"] for e in inside] == [3, 4, 5, 6]
        assert [e["name"] for e in inside] == ["ticket.issued", "queue.changed"] * 2
        past = _after_welcome(srv, last - 5)   # one more than the window: none at all
        assert past == []
        assert _after_welcome(srv, 0) == []
        assert _after_welcome(srv, last) == []  # nothing missed
