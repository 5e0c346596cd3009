"""The served pages work under their Content-Security-Policy, in headless Chromium.

The policy allows each page's own inline style and script by hash and nothing
else: the page must look and run as before, and a script injected into it
must not run.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from tests.helpers.server import RunningServer, small_config
from tests.web.test_webboard import Cdp, chromium

pytestmark = [pytest.mark.browser]

INJECT = ("(() => { const s = document.createElement('script'); "
          "s.textContent = 'window.injected = 1'; document.body.appendChild(s); "
          "return window.injected === undefined; })()")


async def _check(page_ws: str, board: str, status: str) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        await cdp.send("Page.navigate", url=status)
        await cdp.wait_for("document.readyState === 'complete' && "
                           "!!document.querySelector('header')")
        # the inline <style> applied: the header is the hall blue
        assert await cdp.js("getComputedStyle(document.querySelector('header'))"
                            ".backgroundColor") == "rgb(11, 79, 156)"
        assert await cdp.js("document.getElementById('number').textContent") == "A001"
        assert await cdp.js(INJECT) is True  # an injected inline script is refused
        await cdp.send("Page.navigate", url=board)
        # the board's own inline script runs and its websocket connects ('self')
        await cdp.wait_for("document.getElementById('status')?.dataset.state === 'online'")
        assert await cdp.js(INJECT) is True


def test_status_page_and_board_run_under_their_csp(tmp_path):
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv, \
            chromium(tmp_path / "profile") as page_ws:
        with srv.client("kiosk-1") as kiosk:
            check = kiosk.request("issue", service="gjj")["ticket"]["check"]
        asyncio.run(_check(page_ws, f"{srv.http}/board#device=board-1&token=tok-board-1&mute=1",
                           f"{srv.http}/t/{check}"))
