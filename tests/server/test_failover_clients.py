"""Real clients follow a real failover: the Qt link (pytest-qt) and the web
board (headless Chromium), each given both instances' URLs, standby first.

An owner and a standby ``qhall serve`` on PostgreSQL (tests/helpers/failover.py);
the standby names the owner, the client goes there; the owner is SIGKILLed,
the standby takes over and the client resumes there with ``since``: every
call once, seqs without a gap.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from server.client.qtlink import Link
from server.tools.chaos import Instance
from server.tools.pgcluster import PgCluster
from tests.conftest import TEST_PII_KEY
from tests.helpers.failover import TAKEOVER_DEADLINE_S, serve_pair, until
from tests.helpers.server import PIN, TOKEN, WsClient, small_config
from tests.helpers.tools import unavailable
from tests.web.test_webboard import CHROMIUM, Cdp, chromium

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
FAST = {"timeout_ms": 4000, "backoff": (0.05, 0.5)}
NEWEST = "document.getElementById('newest-number').textContent"


@pytest.fixture
def pair(pg_cluster: PgCluster, tmp_path: Path, monkeypatch) -> Iterator[tuple[Instance, Instance]]:
    monkeypatch.setenv("QHALL_PII_KEY", TEST_PII_KEY)
    database = pg_cluster.create_database(f"fc{uuid.uuid4().hex[:12]}")
    with serve_pair(small_config(database), tmp_path) as both:
        yield both


def _call_one(url: str) -> str:
    """Issue a ticket at ``url`` and call it at counter 1; its number."""
    with WsClient(url, "counter-1", TOKEN("counter-1")) as counter, \
            WsClient(url, "kiosk-1", TOKEN("kiosk-1")) as kiosk:
        assert counter.request("login", staff="s001", pin=PIN)["type"] == "ok"
        counter.request("complete")  # the previous ticket, if any (else a conflict: fine)
        assert kiosk.request("issue", service="gjj")["type"] == "ok"
        reply = counter.request("call_next")
        assert reply["type"] == "ok", reply
        return str(reply["ticket"]["number"])


@pytest.mark.gui
def test_the_qt_link_follows_a_real_failover(qtbot, pair) -> None:
    a, b = pair
    link = Link([b.url(), a.url()], "board-1", TOKEN("board-1"), **FAST)
    seen: list[dict] = []
    link.event.connect(seen.append)
    try:
        with qtbot.waitSignal(link.welcomed, timeout=15000):
            link.open()
        assert link.url == a.url()  # the standby named the owner
        first = _call_one(a.url())
        qtbot.waitUntil(lambda: [e["data"]["ticket"]["number"] for e in seen
                                 if e["name"] == "ticket.called"] == [first], timeout=10000)
        a.signal(signal.SIGKILL)
        qtbot.waitUntil(lambda: b.healthz() == (200, "ok\n"),
                        timeout=int(TAKEOVER_DEADLINE_S * 1000))
        second = _call_one(b.url())
        qtbot.waitUntil(lambda: link.online and link.url == b.url(),
                        timeout=int(TAKEOVER_DEADLINE_S * 1000))
        qtbot.waitUntil(lambda: [e["data"]["ticket"]["number"] for e in seen
                                 if e["name"] == "ticket.called"] == [first, second],
                        timeout=10000)
        seqs = [e["seq"] for e in seen]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    finally:
        link.close()


@pytest.mark.browser
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP])
def test_the_web_board_follows_a_real_failover(pair, tmp_path: Path, how) -> None:
    # SIGSTOP: the frozen owner keeps the board's socket open and answers
    # nothing; only the board's own pings tell it to move.
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed (apt install chromium)")
    a, b = pair
    with chromium(tmp_path / "profile") as page_ws:
        asyncio.run(_drive(page_ws, a, b, how))


async def open_board(cdp: Cdp, http: str, servers: list[str], timeout: float) -> str:
    """Open ``http``/board as board-1 given ``servers``; once online, the URL it is on."""
    await cdp.send("Page.navigate", url=f"{http}/board#device=board-1&token=tok-board-1"
                                        f"&mute=1&servers={','.join(servers)}")
    await cdp.wait_for("document.getElementById('status')?.dataset.state === 'online'",
                       timeout=timeout)
    return str(await cdp.js("window.qhallBoard.server()"))


async def _drive(page_ws: str, a: Instance, b: Instance, how: signal.Signals) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        assert await open_board(cdp, f"http://127.0.0.1:{a.port}", [b.url(), a.url()],
                                timeout=20) == a.url()
        first = await asyncio.to_thread(_call_one, a.url())
        await cdp.wait_for(f"{NEWEST} === '{first}'")
        a.signal(how)
        await asyncio.to_thread(until, lambda: b.healthz() == (200, "ok\n"),
                                TAKEOVER_DEADLINE_S, "the standby did not take over")
        second = await asyncio.to_thread(_call_one, b.url())
        await cdp.wait_for(f"{NEWEST} === '{second}'", timeout=TAKEOVER_DEADLINE_S)
        assert await cdp.js("window.qhallBoard.server()") == b.url()
