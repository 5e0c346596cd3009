"""The console in headless Chromium against the real server: log in, watch a
call reach the floor, acknowledge an alert, close a 差评 follow-up."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.console.client import PASSWORD, admin_config, closed_with, console_config
from tests.helpers.failover import until
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


async def _login_form(ws: Any, srv: RunningServer) -> Cdp:
    """The console's login form in a 1920x1080 page."""
    cdp = Cdp(ws)
    await cdp.send("Emulation.setDeviceMetricsOverride", width=1920, height=1080,
                   deviceScaleFactor=1, mobile=False)
    await cdp.send("Page.navigate", url=f"{srv.http}/console")
    await cdp.wait_for("!document.getElementById('login').classList.contains('hidden')")
    return cdp


async def _drive(srv: RunningServer, counter: WsClient, page_ws: str, tmp_path: Path) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = await _login_form(ws, srv)
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


@pytest.mark.browser
def test_console_configuration_in_chromium(tmp_path):
    """An admin adds a staff member, who logs in at a counter without a restart;
    and revokes a device, whose open connection is then closed."""
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed (apt-get install chromium)")
    with RunningServer(admin_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv, \
            chromium(tmp_path / "profile") as page_ws:
        board = srv.client("board-2")
        asyncio.run(_configure(srv, board, page_ws, tmp_path))
        # The PIN typed at 赵敏's first login is stored once its scrypt ran (off the loop).
        until(lambda: not srv.server.service.config.staff_member("s009").reset, 10,
              "the PIN set at first login stored")
        actions = [(r.action, r.detail.get("op")) for r in
                   reversed(srv.store.console.audit_log(srv.config.id))
                   if r.action in ("config", "secret_set")]
        assert sorted(actions, key=str) == sorted([
            ("config", "staff_add"), ("secret_set", None), ("config", "device_revoke"),
            ("config", "device_add")], key=str)
        assert srv.store.configs.assignments(srv.config.id, srv.server.service.today()) == {
            4: ("gjj",)}


async def _confirm(cdp: Cdp) -> None:
    await cdp.wait_for("!document.getElementById('confirm').classList.contains('hidden')")
    await cdp.js("document.getElementById('confirm-yes').click()")


async def _configure(srv: RunningServer, board: WsClient, page_ws: str, tmp_path: Path) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = await _login_form(ws, srv)
        await cdp.js("document.getElementById('staff').value = 's005';"
                     f"document.getElementById('password').value = {PASSWORD!r};"
                     "document.getElementById('login').requestSubmit()")
        await cdp.wait_for("!document.getElementById('config-tab').classList.contains('hidden')")
        await cdp.js("document.getElementById('config-tab').click()")
        await cdp.wait_for("document.querySelectorAll('#cfg-staff tr[data-staff]').length === 5")

        # Add 赵敏 s009 (counter role): she sets her PIN at her first login.
        await cdp.js("document.getElementById('new-staff-id').value = 's009';"
                     "document.getElementById('new-staff-name').value = '赵敏';"
                     "document.getElementById('new-staff-go').click()")
        await _confirm(cdp)
        await cdp.wait_for("!!document.querySelector('#cfg-staff tr[data-staff=\"s009\"]')")
        assert "待本人设置" in await cdp.js(
            "document.querySelector('#cfg-staff tr[data-staff=\"s009\"]').textContent")

        def counter_login() -> dict[str, Any]:
            with srv.client("counter-2") as counter:
                return counter.request("login", staff="s009", pin="2468")

        assert (await asyncio.to_thread(counter_login))["type"] == "ok"
        await cdp.wait_for("document.querySelector('#tiles .tile[data-counter=\"2\"]')"
                           ".textContent.includes('赵敏')")

        # Revoke board-2: its open connection is closed.
        await cdp.js("document.querySelector('#config-tab').click()")
        row = "#cfg-devices tr[data-device=\"board-2\"]"
        await cdp.wait_for(f"!!document.querySelector('{row} button')")
        await cdp.js(f"document.querySelector('{row} button').click()")
        await _confirm(cdp)
        assert await asyncio.to_thread(closed_with, board) == 1008
        await cdp.wait_for(f"!document.querySelector('{row}')")

        # A new device: its token shown once, as text and as a QR code.
        await cdp.js("document.getElementById('new-device-id').value = 'kiosk-9';"
                     "document.getElementById('new-device-role').value = 'kiosk';"
                     "document.getElementById('new-device-go').click()")
        await _confirm(cdp)
        await cdp.wait_for("!document.getElementById('token-box').classList.contains('hidden')")
        token = await cdp.js("document.getElementById('token-text').textContent")
        assert await cdp.js("document.getElementById('token-qr').naturalWidth > 0")

        def kiosk_hello() -> str:
            with srv.client("kiosk-9", token=token) as kiosk:
                return str(kiosk.welcome["type"])

        assert await asyncio.to_thread(kiosk_hello) == "welcome"
        await _shot(cdp, "console-config.png", tmp_path)
        # A refused edit shows check-config's words and changes nothing.
        hours = "#cfg-services tr[data-service=\"gjj\"]"
        await cdp.js(f"document.querySelector('{hours} input').value = '25:00-12:00';"
                     f"document.querySelector('{hours} button').click()")
        await _confirm(cdp)
        await cdp.wait_for("document.getElementById('cfg-error').textContent"
                           ".includes(\"must be 'HH:MM-HH:MM'\")")
        assert srv.server.service.config.service("gjj").hours == ()
        # An extra counter for a service today, from the floor.
        await cdp.js("document.querySelector('#tabs button[data-tab=floor]').click();"
                     "document.getElementById('assign-counter').value = '4';"
                     "for (const o of document.getElementById('assign-services').options)"
                     " o.selected = o.value === 'gjj';"
                     "document.getElementById('assign-go').click()")
        await _confirm(cdp)
        await cdp.wait_for("document.querySelector('#tiles .tile[data-counter=\"4\"] .svcs')"
                           ".textContent.startsWith('今日指派 today: gjj')")
        # A waiting ticket moved to an open counter (赵敏's, still logged in at 2).
        def issue() -> str:
            with srv.client("kiosk-1") as kiosk:
                return str(kiosk.request("issue", service="tax")["ticket"]["id"])

        ticket = await asyncio.to_thread(issue)
        row = f"#waiting tr[data-ticket=\"{ticket}\"]"
        await cdp.wait_for(f"!!document.querySelector('{row} select')")
        # The assignment's own "Done" may still be in the toast: clear it, so
        # the wait below is for this move's answer.
        await cdp.js("document.getElementById('toast').textContent = '';"
                     f"document.querySelector('{row} select').value = 'counter:2';"
                     f"document.querySelector('{row} button').click()")
        await _confirm(cdp)
        await cdp.wait_for("document.querySelector('#toast').textContent.includes('Done')")
        assert srv.call(lambda: srv.server.service.hall.ticket(ticket).target_counter) == 2
        await cdp.js("document.querySelector('#tabs button[data-tab=audit]').click()")
        await cdp.wait_for("document.querySelectorAll('#audit tr[data-audit] button').length >= 3")
        await _shot(cdp, "console-audit.png", tmp_path)
