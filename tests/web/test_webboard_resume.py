"""The web board sends its last welcome's ``resume`` back: the instance it
moves to lets it in without a token check (real servers, real Chromium)."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect

from tests.helpers.server import RunningServer, small_config
from tests.web.test_webboard import Cdp, chromium

ONLINE = "document.getElementById('status')?.dataset.state === 'online'"


def _auth(srv: RunningServer) -> tuple[int, float]:
    """(token checks run in the auth pool, hellos let in by a ticket)."""
    def read() -> tuple[int, float]:
        resumed = srv.server.metrics.auth.labels("resumed")._value.get()
        return srv.server.auth.checked, resumed
    result: tuple[int, float] = srv.call(read)
    return result


@pytest.mark.browser
def test_the_board_comes_back_with_its_ticket_and_no_token_check(tmp_path):
    db = f"sqlite:///{tmp_path / 'hall.db'}"
    with RunningServer(small_config(db)) as a, RunningServer(small_config(db)) as b, \
            chromium(tmp_path / "profile") as page_ws:
        asyncio.run(_drive(page_ws, a, b))


async def _drive(page_ws: str, a: RunningServer, b: RunningServer) -> None:
    async with connect(page_ws, max_size=2**26) as ws:
        cdp = Cdp(ws)
        await cdp.send("Page.navigate", url=f"{a.http}/board#device=board-1&token=tok-board-1"
                                            f"&mute=1&servers={a.url},{b.url}")
        await cdp.wait_for(ONLINE)
        assert (await asyncio.to_thread(_auth, a), await asyncio.to_thread(_auth, b)) == \
            ((1, 0), (0, 0))
        # a steps aside (1012): the board says hello again, with its ticket.
        await asyncio.to_thread(a.call, lambda: [
            a.server._close_client(c, 1012, "going away") for c in list(a.server.clients)])
        for _ in range(200):
            counts = [await asyncio.to_thread(_auth, s) for s in (a, b)]
            if sum(resumed for _, resumed in counts) >= 1:
                break
            await asyncio.sleep(0.05)  # polling the servers' counters, with a deadline
        await cdp.wait_for(ONLINE)
        counts = [await asyncio.to_thread(_auth, s) for s in (a, b)]
        assert sum(resumed for _, resumed in counts) == 1
        assert sum(checked for checked, _ in counts) == 1  # only the first hello's
