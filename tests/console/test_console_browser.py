"""The console in headless Chromium against the real server: log in, watch a
call reach the floor, acknowledge an alert, close a 差评 follow-up."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.console.client import PASSWORD, console_config
from tests.helpers.server import PIN, RunningServer, WsClient
from tests.helpers.tools import unavailable
from tests.web.test_webboard import CHROMIUM, SCREENS, Cdp, chromium

#: The contract: a call shows on the floor within 1 s of call_next.
FLOOR_DEADLINE_S = 1.0


def _call(srv: RunningServer, counter: WsClient) -> tuple[str, str]:
    with srv.client("kiosk-1") as kiosk:
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
    reply = counter.request("call_next")
    assert reply["type"] == "ok", reply
    return reply["ticket"]["id"], reply["ticket"]["number"]


def _serve_and_rate_badly(srv: RunningServer, counter: WsClient, ticket: str) -> None:
    assert counter.request("complete")["type"] == "ok"
    with srv.client("evaluator-1") as pad:
        reply = pad.request("rate", ticket=ticket, score=1, reason="态度差 attitude")
        assert reply["type"] == "ok", reply


def _fault(srv: RunningServer) -> None:
    with srv.client("kiosk-2") as kiosk:
        assert kiosk.request("report_fault", kind="paper_out", message="缺纸")["type"] == "ok"


async def _shot(cdp: Cdp, name: str, tmp_path: Path) -> None:
    shot = await cdp.send("Page.captureScreenshot", format="png")
    target = SCREENS if os.environ.get("QHALL_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    (target / name).write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.browser
def test_console_in_chromium(tmp_path):
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed (apt-get install chromium)")
    with RunningServer(console_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv, \
            chromium(tmp_path / "profile") as page_ws:
        counter = srv.client("counter-1")
        assert counter.request("login", staff="s001", pin=PIN)["type"] == "ok"
        asyncio.run(_drive(srv, counter, page_ws, tmp_path))
        counter.close()
        audit = [(r.action, r.target.split(":")[0])
                 for r in srv.store.console.audit_log(srv.config.id)]
        assert ("ack", "alert") in audit and ("followup_close", "followup") in audit
        assert [c.status for c in srv.store.followups.with_status(srv.config.id, None)] == \
            ["closed"]


async def _drive(srv: RunningServer, counter: WsClient, page_ws: str, tmp_path: Path) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        await cdp.send("Emulation.setDeviceMetricsOverride", width=1920, height=1080,
                       deviceScaleFactor=1, mobile=False)
        await cdp.send("Page.navigate", url=f"{srv.http}/console")
        await cdp.wait_for("!document.getElementById('login').classList.contains('hidden')")
        # A wrong password says so and stays on the form.
        await cdp.js("document.getElementById('staff').value = 's005';"
                     "document.getElementById('password').value = 'nope';"
                     "document.getElementById('login').requestSubmit()")
        await cdp.wait_for("document.getElementById('login-error').textContent"
                           ".includes('wrong id or password')")
        await cdp.js(f"document.getElementById('password').value = {PASSWORD!r};"
                     "document.getElementById('login').requestSubmit()")
        await cdp.wait_for("document.querySelectorAll('#tiles .tile').length === 4")
        assert "陈静" in await cdp.js("document.getElementById('me').textContent")

        # A call reaches the floor, pushed, within the contract's second.
        ticket, number = await asyncio.to_thread(_call, srv, counter)
        await cdp.wait_for("document.querySelector('#tiles .tile[data-counter=\"1\"] .current')"
                           f".textContent.startsWith('{number}')", timeout=FLOOR_DEADLINE_S)

        # A device fault raises an alert; acknowledging it marks it.
        await asyncio.to_thread(_fault, srv)
        alert = "#alerts li[data-key^=\"fault:kiosk-2:paper_out\"]"
        await cdp.wait_for(f"!!document.querySelector('{alert} button')")
        await _shot(cdp, "console-floor.png", tmp_path)
        await cdp.js(f"document.querySelector('{alert} button').click()")
        await cdp.wait_for(f"document.querySelector('{alert}').classList.contains('acked')")

        # A 差评 opens a follow-up; it is closed with the citizen's verdict.
        await asyncio.to_thread(_serve_and_rate_badly, srv, counter, ticket)
        await cdp.wait_for("!!document.querySelector('#alerts li[data-key^=\"bad:\"]')")
        await cdp.js("document.querySelector('#tabs button[data-tab=followups]').click()")
        row = "#followups tr[data-followup]"
        await cdp.wait_for(f"!!document.querySelector('{row} input')")
        await cdp.js(f"document.querySelector('{row} input').value = '已回访并致歉 called back';"
                     f"document.querySelector('{row} select').value = 'satisfied';"
                     f"document.querySelector('{row} button').click()")
        await cdp.wait_for("!document.getElementById('confirm').classList.contains('hidden')")
        assert number in await cdp.js("document.getElementById('confirm-text').textContent")
        await cdp.js("document.getElementById('confirm-yes').click()")
        await cdp.wait_for(f"document.querySelector('{row}')?.textContent.includes('已结 closed')")
        assert "[满意 satisfied] 已回访并致歉" in await cdp.js(
            f"document.querySelector('{row}').textContent")
        await _shot(cdp, "console-followups.png", tmp_path)
