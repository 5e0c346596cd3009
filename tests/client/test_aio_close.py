"""AsyncClient.close ends with a closing handshake even while the server's
frames are still coming: the client reads on to the server's close frame
(before, a client that stopped reading paused its socket with frames queued
and its close waited out the close timeout, then aborted)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.client.aio import AsyncClient
from server.features import default_features
from server.serve import Server
from server.service import HallService
from server.store import Store
from tests.helpers.server import TOKEN, small_config


def test_close_completes_the_handshake_with_frames_in_flight(tmp_path: Path) -> None:
    async def main() -> tuple[object, int | None]:
        config = small_config(f"sqlite:///{tmp_path / 'hall.db'}")
        with Store(config.database) as store:
            server = Server(HallService(config, store, features=default_features()))
            port = await server.start("127.0.0.1", 0)
            try:
                board = AsyncClient("board-1", token=TOKEN("board-1"), timeout_s=10.0)
                await board.open(f"ws://127.0.0.1:{port}/ws", batch=False)
                ws = board.ws
                assert ws is not None
                seq = board.welcome["seq"]
                # A burst of events (one frame each) on its way as the board closes.
                server.broadcast([{"type": "event", "seq": seq + i, "name": "queue.changed",
                                   "data": {"service": "gjj", "waiting": i}}
                                  for i in range(1, 201)])
                await board.close()
                return ws.protocol.close_rcvd, ws.close_code
            finally:
                await server.stop()

    close_rcvd, code = asyncio.run(main())
    assert close_rcvd is not None and code == 1000  # the server's close frame, read
