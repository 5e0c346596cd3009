"""The asyncio client leaves a frozen server (issue 13: "no client left
offline for more than 20 s").

A SIGSTOPped ``qhall serve`` keeps its sockets open: the kernel still
accepts TCP and nothing ever answers. A board sends no requests, so no
request timeout tells it either: only the client's keepalive ping does.
Real processes: two ``qhall serve`` on two SQLite files (each the only
writer of its own file); the board is given both URLs and must move to the
second while the first stays frozen.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from server.client.aio import AsyncClient
from server.config import dumps
from server.reference import demo_token
from server.tools.chaos import Instance, chaos_config
from server.tools.pgcluster import free_port
from tests.conftest import TEST_PII_KEY

pytestmark = pytest.mark.slow

#: The contract's bound on a device being offline: the move must happen within it.
OFFLINE_BOUND_S = 20.0


def _serve(name: str, tmp_path: Path) -> Instance:
    path = tmp_path / f"{name}.toml"
    path.write_text(dumps(chaos_config("main", f"sqlite:///{tmp_path / name}.db")),
                    encoding="utf-8")
    return Instance(name, ["--config", str(path)], free_port(), tmp_path / f"{name}.log",
                    10.0).start()


def test_a_board_on_a_frozen_server_moves_to_the_next_url(tmp_path, monkeypatch):
    monkeypatch.setenv("QHALL_PII_KEY", TEST_PII_KEY)
    a, b = _serve("a", tmp_path), _serve("b", tmp_path)
    try:
        async def main() -> None:
            board = AsyncClient("board-1", None, demo_token("board-1"), timeout_s=5.0,
                                backoff=(0.1, 0.5), ping_s=1.0)
            await board.open([a.url(), b.url()])
            assert board.session is not None and board.session.url == a.url()
            a.signal(signal.SIGSTOP)
            deadline = time.monotonic() + OFFLINE_BOUND_S
            while not (board.session.online and board.session.url == b.url()):
                assert time.monotonic() < deadline, (
                    f"still on {board.session.url} ({board.session.state}) "
                    f"{OFFLINE_BOUND_S:g} s after its server froze")
                await asyncio.sleep(0.05)
            await board.close()

        asyncio.run(main())
    finally:
        a.terminate()
        b.terminate()


def test_ping_s_must_be_positive():
    with pytest.raises(ValueError, match="ping_s"):
        AsyncClient("board-1", token="t", ping_s=0)
