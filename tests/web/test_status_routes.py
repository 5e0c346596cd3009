"""The ticket's live page through a 3-step joint-approval case (联合审批):
"第 2 步 / 共 3 步", the whole route's estimate while waiting, and the window
of each step as it is called, without a reload."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from server.web.status import status_page
from tests.helpers.routehall import RouteHall
from tests.helpers.server import RunningServer, WsClient
from tests.web.test_phone_pages import as_phone


def test_a_waiting_case_shows_its_step_and_the_whole_route() -> None:
    ticket = {"number": "L001", "status": "waiting", "check": "K7Q2M9XA", "ahead": 0,
              "route": ["gjj", "tax", "bdc"], "step": 1, "route_name": "联办测试",
              "eta_route_s": 1500, "wait": {"zh": "约 5 分钟", "en": "about 5 min"}}
    html = status_page("测试大厅", ticket)
    assert "联办测试 · 第 2 步 / 共 3 步" in html and "Step 2 of 3" in html
    assert "全程约 25 分钟" in html and "whole case about 25 min" in html


def test_an_ordinary_ticket_has_no_step_rows_and_a_called_case_no_route_wait() -> None:
    plain = status_page("测试大厅", {"number": "A001", "status": "waiting", "check": "X"})
    assert "<dd id='step' style='display:none'><span class='en'> </span></dd>" in plain
    called = status_page("测试大厅", {"number": "L001", "status": "called", "counter": 3,
                                      "check": "X", "route": ["gjj", "tax"], "step": 0,
                                      "eta_route_s": 600})
    assert "第 1 步 / 共 2 步" in called
    assert "<dd id='route-wait' style='display:none'><span class='en'> </span></dd>" in called


@pytest.mark.browser
def test_the_live_page_follows_the_case_step_by_step(route_hall: RouteHall) -> None:
    srv = route_hall.srv
    with srv.client("kiosk-1") as kiosk:
        ticket = kiosk.request("issue", service="jl")["ticket"]
    asyncio.run(_drive(srv, ticket["check"], route_hall.desks, route_hall.page_ws))


async def _drive(srv: RunningServer, check: str, desks: dict[int, WsClient],
                 page_ws: str) -> None:
    text = "document.getElementById('{}').textContent".format
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = await as_phone(ws, f"{srv.http}/t/{check}")
        await cdp.wait_for(f"{text('step')}.includes('第 1 步 / 共 3 步')")
        assert "全程约" in await cdp.js(text("route-wait"))
        await cdp.wait_for("document.getElementById('live').dataset.state === 'live'")
        await cdp.js("window.__same_page = true")  # gone if the page reloads
        for step, n in enumerate((2, 3, 4)):
            await asyncio.to_thread(desks[n].request, "call_next")
            await cdp.wait_for(f"{text('call-zh')} === '请到 {n} 号窗口'")
            assert f"第 {step + 1} 步 / 共 3 步" in await cdp.js(text("step"))
            await asyncio.to_thread(desks[n].request, "complete")
            if n != 4:
                await cdp.wait_for(f"{text('step')}.includes('第 {step + 2} 步 / 共 3 步')")
        await cdp.wait_for("document.body.dataset.status === 'done'")
        assert await cdp.js("window.__same_page === true")
