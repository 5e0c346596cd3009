"""The web board (/board) in headless Chromium at 1920x1080 and 1080x1920, on
the demo hall: no overflow with its longest ticket number and counter name,
portrait laid out for itself, history rows follow the screen, zone boards."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from server.reference import DEMO_PIN, demo_config, demo_token
from tests.helpers.fakes import FakeClock
from tests.helpers.server import RunningServer, WsClient
from tests.web.test_webboard import SCREENS, Cdp, chromium

pytestmark = [pytest.mark.browser]

CFG = demo_config("sqlite://")  # replaced per test
T0 = dt.datetime(2026, 11, 26, 1, 41, tzinfo=dt.UTC)  # Thursday 09:41 in Shanghai
#: Counters that serve both services with the longest prefixes (DB, ZB:
#: five-character numbers) and have the longest names in the demo hall.
FAR = [c for c in CFG.counters if {"db", "zb"} <= set(c.services)]
assert FAR and all(len(c.name) == max(len(d.name) for d in CFG.counters) for c in FAR)

# Every element that must not overflow: the hero and each shown history row.
OVERFLOW = ("[...document.querySelectorAll('#newest-call, #newest-line, #newest-line-en, "
            "#recent .call:not([hidden])')].filter(e => e.scrollWidth > e.clientWidth)"
            ".concat([...document.querySelectorAll('header, main, #left, #newest, #side, "
            "#recent')].filter(e => e.scrollWidth > e.clientWidth"
            " || e.scrollHeight > e.clientHeight + 1))"
            ".map(e => e.id || e.tagName + ' ' + e.textContent)")


def client(srv: RunningServer, device: str) -> WsClient:
    return srv.client(device, token=demo_token(device))


def call_far(srv: RunningServer, clock: FakeClock) -> list[tuple[str, str]]:
    """Six five-character numbers called at the far counters; (number, counter name)."""
    calls = []
    desks = [client(srv, f"counter-{c.number}") for c in FAR]
    try:
        for desk, counter in zip(desks, FAR, strict=True):
            reply = desk.request("login", staff=f"s{counter.number:03d}", pin=DEMO_PIN)
            assert reply["type"] == "ok", reply
        with client(srv, "kiosk-1") as kiosk:
            for i in range(6):
                service = "db" if i % 2 else "zb"
                assert kiosk.request("issue", service=service)["type"] == "ok"
        for i in range(6):
            desk, counter = desks[i % len(desks)], FAR[i % len(FAR)]
            desk.request("complete")  # its previous ticket, if any (a conflict otherwise)
            clock.advance(30)  # calls in order: the snapshot lists the newest first
            reply = desk.request("call_next")
            assert reply["type"] == "ok", reply
            calls.append((reply["ticket"]["number"], counter.name))
    finally:
        for desk in desks:
            desk.close()
    return calls


@pytest.fixture
def hall(tmp_path):
    import dataclasses

    config = dataclasses.replace(CFG, database=f"sqlite:///{tmp_path / 'hall.db'}")
    clock = FakeClock(T0)
    with RunningServer(config, clock=clock) as srv:
        yield srv, clock


def test_web_board_fits_both_orientations(hall, tmp_path):
    hall, clock = hall
    calls = call_far(hall, clock)
    assert max(len(n) for n, _ in calls) == 5
    with chromium(tmp_path / "profile") as page_ws:
        asyncio.run(_check(hall, calls, page_ws, tmp_path))


async def _open(cdp: Cdp, srv: RunningServer, width: int, height: int, extra: str = "") -> None:
    await cdp.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                   deviceScaleFactor=1, mobile=False)
    # A new document each time (a fragment-only change would keep the old one).
    await cdp.send("Page.navigate", url="about:blank")
    await cdp.wait_for("location.href === 'about:blank'")
    await cdp.send("Page.navigate", url=f"{srv.http}/board#device=board-1"
                                        f"&token={demo_token('board-1')}&mute=1{extra}")
    await cdp.wait_for("document.getElementById('status')?.dataset.state === 'online'")
    await cdp.wait_for("window.qhallBoard.state.recent.length > 0 || "
                       "window.qhallBoard.state.lastSeq !== null")


async def _check(srv: RunningServer, calls: list[tuple[str, str]], page_ws: str,
                 tmp_path: Path) -> None:
    newest, newest_counter = calls[-1]
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        rows = {}
        for width, height in ((1920, 1080), (1080, 1920)):
            await _open(cdp, srv, width, height)
            await cdp.wait_for(f"document.getElementById('newest-number').textContent "
                               f"=== '{newest}'")
            assert await cdp.js("document.getElementById('newest-counter').textContent") \
                == newest_counter
            assert await cdp.js(OVERFLOW) == [], (width, height)
            assert await cdp.js("document.documentElement.scrollWidth <= innerWidth && "
                                "document.documentElement.scrollHeight <= innerHeight")
            shown = await cdp.js("[...document.querySelectorAll('#recent .call:not([hidden])')]"
                                 ".length")
            rows[(width, height)] = shown
            history = await cdp.js("[...document.querySelectorAll('#recent .num')]"
                                   ".map(e => e.textContent).filter(Boolean)")
            assert history == [n for n, _ in calls[-2::-1]]
            # every shown row is at least a line of its text tall (none squeezed)
            assert await cdp.js(
                "[...document.querySelectorAll('#recent .call:not([hidden])')].every(e => "
                "e.clientHeight >= parseFloat(getComputedStyle(e.firstChild).fontSize))")
            px = await cdp.js("parseFloat(getComputedStyle(document.querySelector("
                              "'#recent .num')).fontSize)")
            assert px >= 56, px  # portrait too: readable at 5 m
            if height > width:  # number above counter, waiting under the calls
                assert await cdp.js(
                    "document.getElementById('newest-number').getBoundingClientRect().bottom <= "
                    "document.getElementById('newest-counter').getBoundingClientRect().top")
                assert await cdp.js(
                    "document.getElementById('side').getBoundingClientRect().top >= "
                    "document.getElementById('recent').getBoundingClientRect().bottom")
            shot = await cdp.send("Page.captureScreenshot", format="png")
            name = "board-web.png" if width > height else "board-web-portrait.png"
            target = SCREENS if os.environ.get("QHALL_SCREENSHOTS") == "1" else tmp_path
            (target / name).write_bytes(base64.b64decode(shot["data"]))
        assert rows[(1920, 1080)] == 10 and rows[(1080, 1920)] >= 6
        await _open(cdp, srv, 1920, 1200)  # a taller screen shows more history
        assert await cdp.js("document.querySelectorAll('#recent .call:not([hidden])').length") \
            > rows[(1920, 1080)]

        # Limited to zone A (approval): the intermediary calls are not its news.
        await _open(cdp, srv, 1920, 1080, "&zone=A%E5%8C%BA")
        assert await cdp.js("document.getElementById('newest-number').textContent") == ""
        assert await cdp.js("[...document.querySelectorAll('#waiting .row')]"
                            ".map(e => e.dataset.key)") == ["approval"]
        await _open(cdp, srv, 1920, 1080, "&category=intermediary")
        assert await cdp.js("document.getElementById('newest-number').textContent") == newest
