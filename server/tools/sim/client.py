"""The simulator's websocket client is the shared asyncio client.

Kept so ``from server.tools.sim.client import AsyncClient`` goes on working; the
client itself (reconnect, failover, resend with the same id) lives in
:mod:`server.client.aio`. :func:`hello` is a bare hello-with-retry for
benchmarks that drive raw connections (bench.wire).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from server.client.aio import AsyncClient

__all__ = ["AsyncClient", "hello"]


async def hello(url: str, frame: dict[str, Any],
                **options: Any) -> tuple[ClientConnection, dict[str, Any]]:
    """Connect and send ``frame`` (a hello); the connection and the server's answer.

    A ``rate_limited`` answer (the server's token checks are busy: many
    devices at once, e.g. after a restart) is retried a little later, as
    the protocol says.
    """
    for attempt in range(1, 60):
        ws = await connect(url, **options)
        await ws.send(json.dumps(frame))
        first: dict[str, Any] = json.loads(await ws.recv())
        if first.get("code") != "rate_limited":
            break
        await ws.close()
        await asyncio.sleep(min(1.0, 0.05 * attempt))
    return ws, first
