"""The server's stop and detach: each part stopped once, nothing left running."""

from __future__ import annotations

import asyncio
from pathlib import Path

from server.features import default_features
from server.serve import Server
from server.service import HallService
from server.store import Store
from tests.helpers.server import small_config


def test_detach_then_stop_stops_the_webhook_workers_once(tmp_path: Path) -> None:
    """detach (stepping down) starts the workers' stop; a stop after it waits
    for that same stop instead of stopping them again."""

    async def main() -> tuple[int, bool]:
        config = small_config(f"sqlite:///{tmp_path / 'hall.db'}")
        with Store(config.database) as store:
            server = Server(HallService(config, store, features=default_features()))
            await server.start("127.0.0.1", 0)
            stops = 0
            real_stop = server.citizen.stop

            async def counted() -> None:
                nonlocal stops
                stops += 1
                await real_stop()

            server.citizen.stop = counted  # type: ignore[method-assign]
            server.detach(1012, "stepping down")
            await server.stop()
            stopping = server._citizen_stop
            return stops, stopping is not None and stopping.done()

    assert asyncio.run(main()) == (1, True)
