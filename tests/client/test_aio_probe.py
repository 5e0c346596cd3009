"""The asyncio client leaves a server that froze after upgrading its socket.

A ``qhall serve`` SIGSTOPped between the upgrade and the welcome (in ``qhall
chaos`` that is common: a kill every few seconds) reads nothing more, the
device's hello and pings included. The welcome may take 15 s where a
takeover is under way (``OWNER_PATIENCE_S``), so waiting it out cost a
device 15 s per frozen server; the client now pings until the welcome and
leaves a server whose pong does not come within ``PROBE_TIMEOUT_S``, a probe
every ``PROBE_S`` (was every 3 s with a 3 s timeout: a freeze after +9 s of
a 15 s wait went unseen until the welcome deadline). A server only slow to
welcome (alive) still gets its whole wait: tests/server/
test_failover_patience.py (the owner answers 5 s after the hello there).
A server alive but silent (no welcome in its wait) sends the device on with
``OWNER_PATIENCE_S`` for the next server's welcome.

The frozen server is a websockets server that stops reading its socket after
the hello (``transport.pause_reading``): like a stopped process, its kernel
buffers whatever comes and nothing answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from server.client.aio import PROBE_S, PROBE_TIMEOUT_S, AsyncClient
from server.client.session import OWNER_PATIENCE_S
from tests.helpers.server import TOKEN, RunningServer, small_config

#: The contract's bound on a device being offline; the welcome wait given
#: below is far longer, so only leaving the frozen server meets it.
OFFLINE_BOUND_S = 20.0
WELCOME_WAIT_S = 120.0


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[RunningServer]:
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv:
        yield srv


@contextlib.asynccontextmanager
async def frozen_after_upgrade(after_s: float = 0.0) -> AsyncIterator[tuple[str, list[str]]]:
    """A server that upgrades, reads the hello, answers pings for ``after_s``
    more, then reads nothing more."""
    thaw = asyncio.Event()
    hellos: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        hellos.append(str(await ws.recv()))
        if after_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.recv(), after_s)  # nothing comes: pongs go out
        ws.transport.pause_reading()  # frozen: pings stay unread, no pong
        await thaw.wait()
        ws.transport.resume_reading()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}/ws", hellos
        finally:
            thaw.set()


def test_a_device_leaves_a_server_that_froze_after_the_upgrade(hall) -> None:
    assert PROBE_S * 2 < OFFLINE_BOUND_S

    async def main() -> None:
        async with frozen_after_upgrade() as (frozen_url, hellos):
            client = AsyncClient("board-1", None, token=TOKEN("board-1"),
                                 timeout_s=WELCOME_WAIT_S, backoff=(0.05, 0.2), ping_s=None)
            async with asyncio.timeout(OFFLINE_BOUND_S):
                await client.open([frozen_url, hall.url])
            assert client.session is not None
            steps = [what for _, what in client.session.trail]
            assert client.session.online and client.session.url == hall.url, steps
            assert len(hellos) == 1, steps  # it did reach the frozen one first
            assert any(f"lost {frozen_url} (no pong within" in s for s in steps), steps
            await client.close()

    asyncio.run(main())


def test_a_freeze_after_the_first_pong_is_found_before_a_short_welcome_wait(hall) -> None:
    # The server answers the first probe, then freezes. A 3 s probe (and
    # 3 s timeout) would next ask at +3 s and give up at +6 s: the 5 s
    # welcome deadline came first, and the frozen server was not marked
    # down. Now the next probe goes at +1 s and is given up at +3 s.
    wait_s = 5.0
    assert PROBE_S + PROBE_TIMEOUT_S < wait_s

    async def main() -> None:
        async with frozen_after_upgrade(after_s=0.5) as (frozen_url, hellos):
            client = AsyncClient("board-1", None, token=TOKEN("board-1"), timeout_s=wait_s,
                                 backoff=(0.05, 0.2), ping_s=None)
            async with asyncio.timeout(OFFLINE_BOUND_S):
                await client.open([frozen_url, hall.url])
            assert client.session is not None
            steps = [what for _, what in client.session.trail]
            assert client.session.online and client.session.url == hall.url, steps
            assert len(hellos) == 1, steps
            assert f"lost {frozen_url} (no pong within {PROBE_TIMEOUT_S:g} s)" in steps, steps
            assert not any(s.startswith(f"no welcome from {frozen_url}") for s in steps), steps
            await client.close()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def silent_after_upgrade() -> AsyncIterator[str]:
    """A live server that reads everything (pongs every ping) and welcomes nobody."""
    async def handler(ws: ServerConnection) -> None:
        async for _ in ws:
            pass

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


def test_after_a_server_alive_but_silent_the_next_one_gets_owner_patience(hall) -> None:
    # Alive (every probe answered) yet no welcome in its wait: a takeover is
    # under way (a standby holding the hello past its bound, a new owner
    # loading), so the next server's welcome may take OWNER_PATIENCE_S.
    # Before, it got the timeout (5 s in chaos; 1 s here).
    async def main() -> None:
        async with silent_after_upgrade() as silent_url:
            client = AsyncClient("board-1", None, token=TOKEN("board-1"), timeout_s=1.0,
                                 backoff=(0.05, 0.2), ping_s=None)
            async with asyncio.timeout(OFFLINE_BOUND_S):
                with contextlib.suppress(TimeoutError):  # open() waits 1 s; the session goes on
                    await client.open([silent_url, hall.url])
                while client.session is None or not client.session.online:
                    await asyncio.sleep(0.05)
            steps = [what for _, what in client.session.trail]
            assert client.session.url == hall.url, steps
            assert f"no welcome from {silent_url} within 1 s" in steps, steps
            assert not any("no pong" in s for s in steps), steps  # alive: not left as frozen
            assert (f"open {hall.url}, hello sent (a server gave no welcome: a takeover is "
                    f"under way: {OWNER_PATIENCE_S:g} s for a welcome)") in steps, steps
            await client.close()

    asyncio.run(main())


def test_a_live_server_slow_to_welcome_keeps_the_device(hall) -> None:
    # The live hall answers pings while the welcome is held back: the client
    # must not leave it (the proxy holds the welcome for two probes).
    from tests.server.test_failover_patience import StandbyAndSlowOwner

    async def main() -> None:
        fake = StandbyAndSlowOwner(hall.url, delay=PROBE_TIMEOUT_S * 2 + 1)
        async with fake.running():
            client = AsyncClient("board-1", None, token=TOKEN("board-1"),
                                 timeout_s=WELCOME_WAIT_S, backoff=(0.05, 0.2), ping_s=None)
            await client.open([fake.owner_url])
            assert client.session is not None
            steps = [what for _, what in client.session.trail]
            assert fake.visits == 1 and fake.welcomed == 1, steps
            assert not any("no pong" in s for s in steps), steps
            await client.close()

    asyncio.run(main())
