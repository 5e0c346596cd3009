"""After a standby names an owner found down, a device stays on that standby.

Three URLs: A is down (connection refused: a killed owner), B is a standby
that names A for its first hellos (A's lease has not run out) and then
serves the hall (it took over: a proxy to a real hall server), C is another
instance whose state the device cannot know (it may be frozen, costing a
whole timeout; here it counts visits and names A too). Before, the device
left B for C after B's refusal; now it says hello to B again (B, a server
of this project, holds such a hello until it has taken the hall or seen who
did: tests/server/test_failover_hold.py) and never goes to C. The asyncio
client and the web board (headless Chromium) obey the same rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from server.client.aio import AsyncClient
from tests.helpers.server import TOKEN, RunningServer, free_port, small_config
from tests.helpers.tools import unavailable
from tests.server.test_failover_clients import open_board
from tests.server.test_failover_patience import _pipe, _port
from tests.web.test_webboard import CHROMIUM, Cdp, chromium

#: B's refusals naming the dead A before it has taken the hall.
REFUSALS = 2


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[RunningServer]:
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv:
        yield srv


class DeadOwnerTwoStandbys:
    """A (nothing listens), B (names A ``refusals`` times, then serves
    ``upstream``) and C (always names A)."""

    def __init__(self, upstream: str, refusals: int) -> None:
        self.upstream = upstream
        self.refusals = refusals
        self.dead_url = f"ws://127.0.0.1:{free_port()}/ws"
        self.b_url = self.c_url = ""
        self.b_visits = self.c_visits = 0

    @property
    def urls(self) -> list[str]:
        return [self.dead_url, self.b_url, self.c_url]

    @contextlib.asynccontextmanager
    async def running(self):
        async with serve(self._b, "127.0.0.1", 0) as b, serve(self._c, "127.0.0.1", 0) as c:
            self.b_url = f"ws://127.0.0.1:{_port(b)}/ws"
            self.c_url = f"ws://127.0.0.1:{_port(c)}/ws"
            yield self

    async def _refuse(self, ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "error", "re": hello["id"], "code": "standby",
                                  "owner": self.dead_url, "message": "standby"}))
        await ws.close(1013, "standby")

    async def _b(self, ws: ServerConnection) -> None:
        self.b_visits += 1
        if self.b_visits <= self.refusals:
            await self._refuse(ws)
            return
        with contextlib.suppress(ConnectionClosed):
            async with connect(self.upstream) as up:
                await asyncio.gather(_pipe(ws, up), _pipe(up, ws))

    async def _c(self, ws: ServerConnection) -> None:
        self.c_visits += 1
        await self._refuse(ws)


def test_the_asyncio_client_stays_on_the_standby_that_named_a_dead_owner(hall) -> None:
    async def main() -> tuple[list[str], int, int]:
        fake = DeadOwnerTwoStandbys(hall.url, REFUSALS)
        async with fake.running():
            client = AsyncClient("board-1", None, token=TOKEN("board-1"), timeout_s=20.0,
                                 backoff=(0.05, 0.2))
            await client.open(fake.urls)  # A first: refused, found down
            assert client.session is not None
            steps = [what for _, what in client.session.trail]
            on = client.session.url
            await client.close()
        assert on == fake.b_url, steps
        return steps, fake.b_visits, fake.c_visits

    steps, b_visits, c_visits = asyncio.run(main())
    assert c_visits == 0, steps  # before: B's first refusal sent it to C
    assert b_visits == REFUSALS + 1, steps
    assert any("found down: staying" in s for s in steps), steps


@pytest.mark.browser
def test_the_web_board_stays_on_the_standby_that_named_a_dead_owner(
        hall, tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed (apt install chromium)")

    async def main(page_ws: str) -> tuple[int, int]:
        fake = DeadOwnerTwoStandbys(hall.url, REFUSALS)
        async with fake.running(), connect(page_ws, max_size=2**26) as ws:
            on = await open_board(Cdp(ws), hall.http, fake.urls, timeout=40)
            assert on == fake.b_url
        return fake.b_visits, fake.c_visits

    with chromium(tmp_path / "profile") as page_ws:
        b_visits, c_visits = asyncio.run(main(page_ws))
    assert c_visits == 0  # before: B's first refusal sent it to C
    assert b_visits == REFUSALS + 1
