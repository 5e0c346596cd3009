"""The web board through a 3-step joint-approval case (联合审批) in headless
Chromium: one number, announced at each step's counter in turn."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from tests.helpers.routehall import RouteHall
from tests.helpers.server import RunningServer, WsClient
from tests.web.test_webboard import Cdp


@pytest.mark.browser
def test_the_board_calls_one_number_at_each_step(route_hall: RouteHall) -> None:
    srv = route_hall.srv
    with srv.client("kiosk-1") as kiosk:
        asyncio.run(_drive(srv, kiosk, route_hall.desks, route_hall.page_ws))


async def _drive(srv: RunningServer, kiosk: WsClient, desks: dict[int, WsClient],
                 page_ws: str) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        await cdp.send("Page.navigate",
                       url=f"{srv.http}/board#device=board-1&token=tok-board-1&mute=1")
        await cdp.wait_for("document.getElementById('status')?.dataset.state === 'online'")
        issued = await asyncio.to_thread(kiosk.request, "issue", service="jl")
        number = issued["ticket"]["number"]
        text = "document.getElementById('{}').textContent".format
        for step, n in enumerate((2, 3, 4)):
            reply = await asyncio.to_thread(desks[n].request, "call_next")
            assert reply["ticket"]["number"] == number and reply["ticket"]["step"] == step
            await cdp.wait_for(f"{text('newest-counter')} === '{n}号窗口'")
            assert await cdp.js(text("newest-number")) == number
            assert await cdp.js(text("newest-line")) == f"请 {number} 号到 {n} 号窗口办理"
            done = await asyncio.to_thread(desks[n].request, "complete")
            assert done["ticket"]["status"] == ("done" if n == 4 else "waiting")
