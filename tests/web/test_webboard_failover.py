"""The web board follows its hall to another server instance (issue 13).

``/board#...&servers=URL1,URL2``: the page tries the servers in turn, goes to
the owner a standby names, and after the owner dies resumes on the next one
with ``since``. Real server (before and after, one SQLite file; the first stops
before the second starts), real headless Chromium; the standby is played by a
minimal websockets server (tests/helpers/wsserver.py, ``standby=True``).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.client import connect

from server.client.session import GONE_STAY_S, OPEN_S
from tests.helpers.deadurls import frozen_url, refused_url
from tests.helpers.server import PIN, RunningServer, small_config
from tests.helpers.wsserver import LoopbackServer
from tests.web.test_webboard import Cdp, _ticket_called, chromium

NEWEST = "document.getElementById('newest-number').textContent"


@pytest.mark.browser
def test_web_board_follows_a_failover(tmp_path):
    db = f"sqlite:///{tmp_path / 'hall.db'}"
    standby = LoopbackServer()
    standby.standby = True
    owner = RunningServer(small_config(db)).start()
    standby.standby_owner = owner.url
    standby.start()
    servers: list[RunningServer] = [owner]
    try:
        with chromium(tmp_path / "profile") as page_ws:
            asyncio.run(_drive(page_ws, standby, servers, db))
    finally:
        standby.shutdown()
        for srv in servers:
            srv.stop()


async def _drive(page_ws: str, standby: LoopbackServer, servers: list[RunningServer],
                 db: str) -> None:
    owner = servers[0]
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        # The standby is listed first: it names the owner, the page goes there.
        await cdp.send("Page.navigate", url=f"{owner.http}/board#device=board-1&token=tok-board-1"
                                            f"&mute=1&servers={standby.url},{owner.url}")
        await cdp.wait_for("document.getElementById('status')?.dataset.state === 'online'")
        assert await cdp.js("window.qhallBoard.server()") == owner.url
        assert [h["device"] for h in standby.hellos] == ["board-1"]

        counter = await asyncio.to_thread(owner.client, "counter-1")
        assert (await asyncio.to_thread(counter.request, "login", staff="s001",
                                        pin=PIN))["type"] == "ok"
        first = await asyncio.to_thread(_ticket_called, owner, counter)
        await cdp.wait_for(f"{NEWEST} === '{first}'")
        await asyncio.to_thread(counter.close)

        # The owner dies; the standby's address now serves the hall.
        port = standby.port
        await asyncio.to_thread(standby.stop)
        await asyncio.to_thread(owner.stop)
        new_owner = await asyncio.to_thread(
            lambda: RunningServer(small_config(db), port=port).start())
        servers.append(new_owner)
        counter = await asyncio.to_thread(new_owner.client, "counter-1")
        second = await asyncio.to_thread(_ticket_called, new_owner, counter)
        assert second != first
        await cdp.wait_for(f"{NEWEST} === '{second}'", timeout=20)
        assert await cdp.js("window.qhallBoard.server()") == new_owner.url
        last_seq = new_owner.call(lambda: new_owner.server.service.last_seq)
        await cdp.wait_for(f"window.qhallBoard.state.lastSeq === {last_seq}")
        # Both calls on the board, newest first: nothing lost, nothing twice.
        recent = await cdp.js("[...document.querySelectorAll('#recent .num')]"
                              ".map(e => e.textContent).filter(Boolean)")
        assert recent[:1] == [first] and recent.count(first) == 1
        await asyncio.to_thread(counter.close)


@pytest.mark.browser
def test_web_board_goes_to_an_owner_found_down_that_took_the_hall_since(tmp_path):
    # The owner A was found down (refused: restarting); the standby B names
    # it, saying A took the hall 0 s ago, so after it was found down: the
    # board goes back to A at once. Before, it stayed on B, refused again and
    # again, until A's "found down" was AVOID_MS (10 s) old.
    page = RunningServer(small_config(f"sqlite:///{tmp_path / 'page.db'}")).start()
    owner = LoopbackServer({"board-1": ("tok-board-1", "board", None)})
    owner.start()
    owner.stop()  # its port known, nothing listening: found down
    standby = LoopbackServer()
    standby.standby = True
    standby.standby_owner = owner.url
    standby.standby_owner_for = 0.0
    standby.start()
    try:
        with chromium(tmp_path / "profile") as page_ws:
            asyncio.run(_back_to_owner(page_ws, page, owner, standby))
    finally:
        standby.shutdown()
        owner.shutdown()
        page.stop()


async def _back_to_owner(page_ws: str, page: RunningServer, owner: LoopbackServer,
                         standby: LoopbackServer) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        await cdp.send("Page.navigate", url=f"{page.http}/board#device=board-1&"
                                            f"token=tok-board-1&mute=1&servers={owner.url},"
                                            f"{standby.url}")
        await cdp.wait_for(f"window.qhallBoard.trail.some(s => s[1].startsWith("
                           f"'standby {standby.url}'))")
        await asyncio.to_thread(owner.start)  # restarted, and took the hall
        await cdp.wait_for("document.getElementById('status')?.dataset.state === 'online'")
        assert await cdp.js("window.qhallBoard.server()") == owner.url
        steps = await cdp.js("window.qhallBoard.trail.map(s => s[1])")
        going = f"standby {standby.url} (owner {owner.url}, found down but took the hall " \
                "since: going)"
        assert going in steps, steps
        assert f"standby {standby.url} (owner {owner.url}, found down: staying)" not in steps


@pytest.mark.browser
def test_web_board_leaves_a_frozen_server_after_open_ms_and_a_refused_one_is_gone(tmp_path):
    # A frozen server (the kernel accepts TCP, the upgrade is never
    # answered): left after OPEN_MS; before, after SILENT_MS (10-15 s). A
    # refused one (killed): gone, passed over GONE_STAY_MS only.
    page = RunningServer(small_config(f"sqlite:///{tmp_path / 'page.db'}")).start()
    try:
        with frozen_url() as frozen, chromium(tmp_path / "profile") as page_ws:
            asyncio.run(_past_dead_servers(page_ws, page, frozen, refused_url()))
    finally:
        page.stop()


async def _past_dead_servers(page_ws: str, page: RunningServer, frozen: str,
                             refused: str) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        t0 = time.monotonic()
        await cdp.send("Page.navigate", url=f"{page.http}/board#device=board-1&"
                                            f"token=tok-board-1&mute=1&servers={frozen},"
                                            f"{refused},{page.url}")
        await cdp.wait_for("document.getElementById('status')?.dataset.state === 'online'",
                           timeout=OPEN_S + 5)
        assert time.monotonic() - t0 < OPEN_S + 4  # OPEN_S, two backoffs, a welcome
        assert await cdp.js("window.qhallBoard.server()") == page.url
        steps = await cdp.js("window.qhallBoard.trail.map(s => s[1])")
        assert f"no upgrade from {frozen} within {OPEN_S:g} s" in steps, steps
        assert f"lost {refused} (1006), gone: passed over {GONE_STAY_S:g} s" in steps, steps


@pytest.mark.browser
def test_web_board_goes_back_to_the_standby_when_the_owner_it_named_is_gone(tmp_path):
    # The standby B names A, whose port refuses connections (killed, its
    # lease not yet out): the board goes back to B (which learns first who
    # serves next), not on to C, of unknown state (frozen here: 3 s lost).
    page = RunningServer(small_config(f"sqlite:///{tmp_path / 'page.db'}")).start()
    owner = refused_url()
    standby = LoopbackServer()
    standby.standby = True
    standby.standby_owner = owner
    standby.start()
    try:
        with frozen_url() as third, chromium(tmp_path / "profile") as page_ws:
            asyncio.run(_back_to_standby(page_ws, page, standby, owner, third))
    finally:
        standby.shutdown()
        page.stop()


async def _back_to_standby(page_ws: str, page: RunningServer, standby: LoopbackServer,
                           owner: str, third: str) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        await cdp.send("Page.navigate", url=f"{page.http}/board#device=board-1&"
                                            f"token=tok-board-1&mute=1&servers={standby.url},"
                                            f"{owner},{third}")
        back = f"back to the standby {standby.url}"
        steps_js = "window.qhallBoard.trail.map(s => s[1])"
        await cdp.wait_for(f"(t => t.indexOf({back!r}) >= 0 && "
                           f"t.length > t.indexOf({back!r}) + 1)({steps_js})")
        steps = await cdp.js(steps_js)
        assert f"lost {owner} (1006), gone: passed over {GONE_STAY_S:g} s" in steps, steps
        at = steps.index(back)
        assert steps[at + 1] == f"connect {standby.url}", steps
        assert f"connect {third}" not in steps, steps
