"""The web board page: self-contained, and live in headless Chromium.

The browser test runs the real server (tests/helpers/server.py) and drives
Chromium over the DevTools protocol with a tiny client on ``websockets``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from server.web.board import board_html
from tests.helpers.server import PIN, RunningServer, WsClient, small_config
from tests.helpers.tools import unavailable

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_board_html_is_self_contained():
    html = board_html()
    assert html.startswith("<!DOCTYPE html>")
    for element in ("newest-number", "newest-counter", "recent", "waiting", "status",
                    "clock", "notice", "waiting-total"):
        assert f'id="{element}"' in html
    # No external assets: nothing loaded over the network but the websocket.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "location.protocol" in html and "/ws" in html and "speechSynthesis" in html


def test_board_failover_timings_are_the_clients():
    """The board's failover timings (ms) are the Python clients' (s) by value:
    server/client/session.py's table, the asyncio client's and Qt link's probe."""
    from server.client import aio, qtlink, session

    html = board_html()
    ms = {name: int(value) for name, value in re.findall(r"\b([A-Z_]+_MS) = (\d+)\b", html)}
    assert ms["OPEN_MS"] == session.OPEN_S * 1000
    assert ms["AVOID_MS"] == session.AVOID_S * 1000
    assert ms["GONE_STAY_MS"] == session.GONE_STAY_S * 1000
    assert ms["STANDBY_MAX_MS"] == session.STANDBY_BACKOFF_MAX_S * 1000
    assert ms["OWNER_PATIENCE_MS"] == session.OWNER_PATIENCE_S * 1000
    assert ms["PROBE_MS"] == aio.PROBE_S * 1000 == qtlink.PROBE_MS
    assert ms["PROBE_TIMEOUT_MS"] == aio.PROBE_TIMEOUT_S * 1000 == qtlink.PROBE_TIMEOUT_MS


class Cdp:
    """A minimal Chrome DevTools Protocol client for one page target."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # skip events until our answer
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    async def js(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            await asyncio.sleep(0.02)


@contextlib.contextmanager
def chromium(profile: Path):
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--mute-audio", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--window-size=1920,1080", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        yield next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ticket_called(srv: RunningServer, counter: WsClient) -> str:
    """Issue a ticket and call it at the counter (its previous one: no-show)."""
    counter.request("no_show")  # a conflict when the counter has none: fine
    with srv.client("kiosk-1") as kiosk:
        kiosk.request("issue", service="gjj")
    reply = counter.request("call_next")
    assert reply["type"] == "ok", reply
    return reply["ticket"]["number"]


@pytest.mark.browser
def test_web_board_live_in_chromium(tmp_path):
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed (apt-get install chromium)")
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv, \
            chromium(tmp_path / "profile") as page_ws:
        counters = [srv.client(f"counter-{n}") for n in (1, 2, 3)]
        for n, counter in enumerate(counters, 1):
            assert counter.request("login", staff=f"s00{n}", pin=PIN)["type"] == "ok"
        asyncio.run(_drive(srv, counters, page_ws, tmp_path))
        for counter in counters:
            counter.close()


async def _drive(srv: RunningServer, counters: list[WsClient], page_ws: str,
                 tmp_path: Path) -> None:
    counter = counters[0]
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        await cdp.send("Emulation.setDeviceMetricsOverride", width=1920, height=1080,
                       deviceScaleFactor=1, mobile=False)
        # Without credentials in the fragment the page says what is missing.
        await cdp.send("Page.navigate", url=f"{srv.http}/board")
        await cdp.wait_for("document.getElementById('status')?.textContent"
                           ".includes('缺少设备参数')")
        await cdp.send("Page.navigate",
                       url=f"{srv.http}/board#device=board-1&token=tok-board-1&mute=1")
        await cdp.wait_for("document.getElementById('status')?.dataset.state === 'online'")
        text = "document.getElementById('{}').textContent".format
        assert await cdp.js(text("hall-name")) == "测试政务服务中心"
        assert await cdp.js(text("notice")) == "通知：测试通知 test notice"

        # A counter calls: the board shows it.
        number = await asyncio.to_thread(_ticket_called, srv, counter)
        await cdp.wait_for(f"document.getElementById('newest-number').textContent === '{number}'",
                           timeout=10)
        assert await cdp.js("document.getElementById('newest-counter').textContent") == "1号窗口"
        assert await cdp.js("document.getElementById('newest-line').textContent") == \
            f"请 {number} 号到 1 号窗口办理"
        assert await cdp.js("document.getElementById('newest').classList.contains('flash')")

        # More calls fill the recent grid, newest first.
        numbers = [number]
        for i in range(5):
            numbers.append(await asyncio.to_thread(_ticket_called, srv, counters[i % 3]))
        await cdp.wait_for(f"document.getElementById('newest-number').textContent === "
                           f"'{numbers[-1]}'")
        grid = await cdp.js("[...document.querySelectorAll('#recent .num')]"
                            ".map(e => e.textContent).filter(Boolean)")
        assert grid == numbers[-2::-1]
        waiting = await cdp.js("document.querySelector('#waiting .row[data-key=gjj] .count')"
                               ".textContent")
        assert waiting == "0"

        # Connection lost: the server drops the page (4 newer board-1 clients);
        # a call made meanwhile shows after it reconnects with `since`.
        extra = [await asyncio.to_thread(srv.client, "board-1") for _ in range(4)]
        missed = await asyncio.to_thread(_ticket_called, srv, counter)
        await cdp.wait_for(f"document.getElementById('newest-number').textContent === "
                           f"'{missed}'", timeout=10)
        await cdp.wait_for("document.getElementById('status').dataset.state === 'online'")
        last_seq = srv.call(lambda: srv.server.service.last_seq)
        await cdp.wait_for(f"window.qhallBoard.state.lastSeq === {last_seq}")
        assert await cdp.js("document.getElementById('recent').querySelector('.num')"
                            ".textContent") == numbers[-1]
        for client in extra:
            await asyncio.to_thread(client.close)
        await cdp.wait_for("document.getElementById('status').dataset.state === 'online'")
        shot = await cdp.send("Page.captureScreenshot", format="png")
        target = SCREENS if os.environ.get("QHALL_SCREENSHOTS") == "1" else tmp_path
        target.mkdir(parents=True, exist_ok=True)
        (target / "board-web.png").write_bytes(base64.b64decode(shot["data"]))

