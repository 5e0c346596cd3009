"""The board after hall flows: a transferred ticket leaves its old counter
(counter display, hero and history; in the Qt reducer and the web board in
headless Chromium), and 撤销过号 puts the ticket back on its counter."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from display.state import BoardState
from tests.display.sample import called, event, welcome
from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, RunningServer, small_config
from tests.web.test_webboard import Cdp, chromium


def test_transfer_takes_the_call_off_the_old_counter_everywhere():
    state = BoardState(FakeClock(), counter=3)
    state.apply_welcome(welcome([("A011", 5)]))
    state.apply_event(called("A012", 3, seq=101))
    assert state.newest.number == "A012"
    state.apply_event(event("ticket.transferred", 102,
                            ticket={"id": "id-A012", "number": "A012"},
                            from_counter=3, to_service="tax", to_counter=None))
    assert state.counter_screen().mode == "idle"
    assert state.newest.number == "A011"  # the hero no longer sends anyone to counter 3
    assert [(c.number, c.counter) for c in state.recent] == [("A011", 5)]


def test_a_returned_transfer_leaves_other_calls_alone():
    state = BoardState(FakeClock())
    state.apply_welcome(welcome([("A011", 5), ("A012", 3)]))
    # Waiting for counter 4, which closed: it never called A012 there.
    state.apply_event(event("ticket.transferred", 101,
                            ticket={"id": "id-A099", "number": "A099"}, from_counter=4,
                            to_service="gjj", to_counter=None, reason="counter_closed"))
    assert [(c.number, c.counter) for c in state.recent] == [("A011", 5), ("A012", 3)]


def test_no_show_undone_puts_the_ticket_back_on_its_counter():
    state = BoardState(FakeClock(), counter=3)
    state.apply_welcome(welcome())
    state.apply_event(called("A012", 3, seq=101))
    state.apply_event(event("ticket.no_show", 102, ticket={"id": "id-A012", "number": "A012"},
                            counter=3))
    assert state.counter_screen().mode == "idle"
    state.apply_event(event("ticket.no_show_undone", 103,
                            ticket={"id": "id-A012", "number": "A012", "counter": 3},
                            counter=3, counter_name="3号窗口"))
    assert state.counter_screen().number == "A012"


@pytest.mark.browser
def test_web_board_drops_a_transferred_call(tmp_path):
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv, \
            chromium(tmp_path / "profile") as page_ws, srv.client("kiosk-1") as kiosk:
        c1, c2 = srv.client("counter-1"), srv.client("counter-2")
        for n, c in ((1, c1), (2, c2)):
            assert c.request("login", staff=f"s00{n}", pin=PIN)["type"] == "ok"
        kiosk.request("issue", service="gjj")
        kiosk.request("issue", service="gjj")
        first = c2.request("call_next")["ticket"]["number"]
        second = c1.request("call_next")["ticket"]["number"]

        async def drive() -> None:
            async with connect(page_ws, max_size=2**26) as ws:
                cdp = Cdp(ws)
                await cdp.send("Page.navigate",
                               url=f"{srv.http}/board#device=board-1&token=tok-board-1&mute=1")
                hero = "document.getElementById('newest-number').textContent"
                await cdp.wait_for(f"{hero} === '{second}'")
                await asyncio.to_thread(c1.request, "transfer", service="tax")
                await cdp.wait_for(f"{hero} === '{first}'")
                grid = await cdp.js("[...document.querySelectorAll('#recent .num')]"
                                    ".map(e => e.textContent).filter(Boolean)")
                assert second not in grid

        asyncio.run(drive())
        c1.close()
        c2.close()
