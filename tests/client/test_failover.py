"""Clients move (issue 13): the Qt link, a counter on it, and the asyncio client
follow a hall from one server instance to another.

Real parts: the real dispatch server (``RunningServer``) as owner, before and
after the failover, on one SQLite file (the first is stopped before the second
starts, so only one ever writes). A minimal real websockets server plays the
standby (tests/helpers/wsserver.py, ``standby=True``), so each step is under
the test's control: every hello gets error ``standby`` naming the owner, then
close 1013, as ../shared/PROTOCOL.md says. Real owner and standby processes
on PostgreSQL: tests/server/test_failover_clients.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from counter.app import CounterController
from counter.view import CounterWindow
from server.client.aio import AsyncClient
from server.client.qtlink import Link
from tests.helpers.server import PIN, TOKEN, RunningServer, small_config
from tests.helpers.wsserver import LoopbackServer

FAST = {"timeout_ms": 4000, "backoff": (0.05, 0.3)}


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'hall.db'}"


@pytest.fixture
def cleanup(qtbot):
    """Things to stop at the end, newest first: links close on this (Qt)
    thread; servers stop on another while Qt runs, so the links can answer
    the servers' closing handshakes instead of letting them time out."""
    stack: list[Callable[[], object]] = []
    yield stack
    for undo in reversed(stack):
        if isinstance(getattr(undo, "__self__", None), Link):
            undo()
            continue
        worker = threading.Thread(target=undo)
        worker.start()
        qtbot.waitUntil(lambda w=worker: not w.is_alive(), timeout=30000)


def standby_of(owner: str | None, cleanup: list) -> LoopbackServer:
    stub = LoopbackServer()
    stub.standby = True
    stub.standby_owner = owner
    stub.start()
    cleanup.append(stub.shutdown)
    return stub


def start_server(db: str, cleanup: list, port: int = 0) -> RunningServer:
    srv = RunningServer(small_config(db), port=port).start()
    cleanup.append(srv.stop)
    return srv


def take_over(old: RunningServer, stub: LoopbackServer, db: str, cleanup: list) -> RunningServer:
    """The owner dies; the standby's port now serves the hall (same store)."""
    port = stub.port
    stub.stop()
    old.stop()
    return start_server(db, cleanup, port)


def called_numbers(events: list[dict]) -> list[str]:
    return [e["data"]["ticket"]["number"] for e in events if e["name"] == "ticket.called"]


def test_standby_sends_the_link_to_the_owner_it_names(qtbot, db, cleanup):
    owner = start_server(db, cleanup)
    standby = standby_of(owner.url, cleanup)
    nobody = standby_of(None, cleanup)  # a standby that does not know the owner
    link = Link([standby.url, nobody.url, owner.url], "board-1", TOKEN("board-1"), **FAST)
    cleanup.append(link.close)
    with qtbot.waitSignal(link.welcomed, timeout=10000):
        link.open()
    assert link.url == owner.url
    assert [h["device"] for h in standby.hellos] == ["board-1"]
    assert nobody.hellos == []  # skipped: the standby named the owner


def test_counter_follows_a_failover_and_stays_logged_in(qtbot, db, cleanup):
    owner = start_server(db, cleanup)
    standby = standby_of(owner.url, cleanup)
    # The counter lists the standby first: it is sent on to the owner.
    link = Link([standby.url, owner.url], "counter-1", TOKEN("counter-1"), **FAST)
    cleanup.append(link.close)
    window = CounterWindow()
    qtbot.addWidget(window)
    desk = CounterController(link, window=window, debounce_ms=20)
    board = Link([owner.url, standby.url], "board-1", TOKEN("board-1"), **FAST)
    cleanup.append(board.close)
    seen: list[dict] = []
    board.event.connect(seen.append)
    with qtbot.waitSignal(board.welcomed, timeout=10000):
        board.open()
    link.open()
    qtbot.waitUntil(lambda: desk.state.online, timeout=10000)
    assert link.url == owner.url

    desk.login("s001", PIN)
    qtbot.waitUntil(lambda: desk.state.logged_in and not desk.state.busy, timeout=8000)
    with owner.client("kiosk-1") as kiosk:
        for _ in range(2):
            assert kiosk.request("issue", service="gjj")["type"] == "ok"
    qtbot.waitUntil(lambda: len(desk.state.waiting or ()) == 2, timeout=8000)
    window.trigger("call_next")
    qtbot.waitUntil(lambda: (desk.state.current or {}).get("number") == "A001", timeout=8000)
    qtbot.waitUntil(lambda: called_numbers(seen) == ["A001"], timeout=8000)
    before = board.last_seq
    assert before is not None

    new_owner = take_over(owner, standby, db, cleanup)
    qtbot.waitUntil(lambda: desk.state.online and link.url == new_owner.url, timeout=20000)
    qtbot.waitUntil(lambda: not desk.state.busy, timeout=8000)
    # Still logged in, still serving A001: the hall moved, the desk did not notice.
    assert desk.state.logged_in and desk.state.current["number"] == "A001"
    window.trigger("start")
    qtbot.waitUntil(lambda: (desk.state.current or {}).get("status") == "serving", timeout=8000)
    window.trigger("complete")
    qtbot.waitUntil(lambda: desk.state.current is None and not desk.state.busy, timeout=8000)
    window.trigger("call_next")
    qtbot.waitUntil(lambda: (desk.state.current or {}).get("number") == "A002", timeout=8000)

    # The board moved too, resumed with since: every event once, in order.
    qtbot.waitUntil(lambda: board.online and board.url == new_owner.url, timeout=20000)
    qtbot.waitUntil(lambda: called_numbers(seen) == ["A001", "A002"], timeout=8000)
    after = [e["seq"] for e in seen if e["seq"] > before]
    assert after == list(range(before + 1, before + 1 + len(after)))


async def _until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_async_client_follows_a_failover_and_resends_with_the_same_id(db, cleanup):
    owner = start_server(db, cleanup)
    standby = standby_of(owner.url, cleanup)
    fast = {"timeout_s": 20.0, "backoff": (0.05, 0.3)}

    async def main() -> None:
        seen: list[dict] = []
        board = AsyncClient("board-1", seen.append, TOKEN("board-1"), **fast)
        kiosk = AsyncClient("kiosk-1", None, TOKEN("kiosk-1"), **fast)
        try:
            await board.open(f"{standby.url},{owner.url}")
            assert board.session is not None and board.session.url == owner.url
            await kiosk.open([owner.url, standby.url], batch=False)
            first = await kiosk.request("issue", service="gjj")
            assert first["ticket"]["number"] == "A001"
            await _until(lambda: any(e["name"] == "ticket.issued" for e in seen))

            # Sent just as the owner goes away: executed there or not, the
            # new owner's answer is the one and only outcome (same id).
            lost = asyncio.ensure_future(kiosk.request("issue", service="gjj"))
            new_owner = await asyncio.to_thread(take_over, owner, standby, db, cleanup)
            second = await lost
            assert second["type"] == "ok", second
            assert second["ticket"]["number"] == "A002"
            third = await kiosk.request("issue", service="gjj")
            assert third["ticket"]["number"] == "A003"  # A002 was issued once
            assert kiosk.session is not None and kiosk.session.url == new_owner.url

            await _until(lambda: [e["data"]["ticket"]["number"] for e in seen
                                  if e["name"] == "ticket.issued"] == ["A001", "A002", "A003"])
            seqs = [e["seq"] for e in seen]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # once each, in order
            assert board.session is not None and board.session.url == new_owner.url
        finally:
            await kiosk.close()
            await board.close()

    asyncio.run(main())


def test_link_goes_to_an_owner_found_down_that_took_the_hall_since(qtbot, cleanup):
    # The owner was found down (refused: restarting); the standby names it
    # and says it took the hall 0 s ago, after it was found down: the link
    # goes back to it. Before, it stayed on the standby, refused again and
    # again, until the owner's "found down" was AVOID_S (10 s) old.
    owner = LoopbackServer({"board-1": ("tok-board-1", "board", None)})
    owner.start()
    owner.stop()  # its port known, nothing listening: found down
    cleanup.append(owner.shutdown)
    standby = standby_of(owner.url, cleanup)
    standby.standby_owner_for = 0.0
    link = Link([owner.url, standby.url], "board-1", "tok-board-1", **FAST)
    cleanup.append(link.close)
    link.open()
    qtbot.waitUntil(lambda: len(standby.hellos) >= 1, timeout=10000)
    with qtbot.waitSignal(link.welcomed, timeout=10000):
        owner.start()  # restarted, and took the hall
    assert link.url == owner.url
    steps = link.trail
    assert f"standby {standby.url} (owner {owner.url}, found down but took the hall " \
           "since: going)" in steps, steps
    assert not any("found down: staying" in step for step in steps), steps
