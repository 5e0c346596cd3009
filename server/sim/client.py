"""The simulator's websocket client is the shared asyncio client.

Kept so ``from server.sim.client import AsyncClient`` goes on working; the
client itself (reconnect, failover, resend with the same id) lives in
:mod:`server.client.aio`.
"""

from server.client.aio import AsyncClient

__all__ = ["AsyncClient"]
