"""The asyncio client's opening: bounded by ``OPEN_S``, and a refused URL
told apart from a frozen one (issue 13).

At a frozen (SIGSTOPped) instance the kernel still accepts TCP, so the
opening handshake waited the whole request timeout (5 s in chaos) before the
next URL was tried: now ``OPEN_S``. A URL whose connect is refused is gone
(nothing listens: the process is dead, and chaos restarts it within seconds):
passed over ``GONE_STAY_S``, not ``AVOID_S``. Real loopback sockets: a
listening socket that never accepts (tests/helpers/deadurls.py), a closed
port, and a real hall server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.client.aio import AsyncClient
from server.client.session import AVOID_S, GONE_STAY_S, OPEN_S
from tests.helpers.deadurls import frozen_url, refused_url
from tests.helpers.server import TOKEN, RunningServer, small_config

#: Far longer than OPEN_S: only the opening's own bound leaves the frozen URL in time.
TIMEOUT_S = 12.0


@pytest.fixture
def hall(tmp_path: Path) -> Iterator[RunningServer]:
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'hall.db'}")) as srv:
        yield srv


def _steps(client: AsyncClient) -> list[str]:
    assert client.session is not None
    return [what for _, what in client.session.trail]


def test_a_frozen_url_costs_open_s_before_the_next_is_tried(hall) -> None:
    async def main() -> None:
        with frozen_url() as frozen:
            client = AsyncClient("board-1", None, token=TOKEN("board-1"), timeout_s=TIMEOUT_S,
                                 backoff=(0.05, 0.2), ping_s=None)
            t0 = time.monotonic()
            await client.open([frozen, hall.url])
            took = time.monotonic() - t0
            try:
                assert client.session is not None and client.session.url == hall.url
                # OPEN_S, the backoff and a welcome; before: the 12 s timeout.
                assert OPEN_S - 0.2 <= took < OPEN_S + 2.0, took
                steps = _steps(client)
                assert f"no upgrade from {frozen} within {OPEN_S:g} s" in steps, steps
                assert not client.session._reachable(0)  # found down: AVOID_S
                assert 0 not in client.session._gone
            finally:
                await client.close()

    asyncio.run(main())


def test_a_refused_url_is_gone_for_gone_stay_s_only(hall) -> None:
    assert GONE_STAY_S < AVOID_S
    refused = refused_url()

    async def main() -> None:
        client = AsyncClient("board-1", None, token=TOKEN("board-1"), timeout_s=TIMEOUT_S,
                             backoff=(0.05, 0.2), ping_s=None)
        await client.open([refused, hall.url])
        try:
            session = client.session
            assert session is not None and session.url == hall.url
            steps = _steps(client)
            assert any(s.startswith(f"lost {refused} (") and
                       s.endswith(f", gone: passed over {GONE_STAY_S:g} s") for s in steps), steps
            found = session._unreachable[0]
            assert not session._reachable(0)
            await asyncio.sleep(max(0.0, found + GONE_STAY_S - time.monotonic()) + 0.05)
            assert session._reachable(0)  # before: passed over for AVOID_S
        finally:
            await client.close()

    asyncio.run(main())
