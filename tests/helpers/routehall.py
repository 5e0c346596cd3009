"""A running route hall (联合审批, ``jl``: counters 2, 3 and 4 in turn) with
headless Chromium and its three desks logged in: what the web board's and
the live page's step-by-step tests share (``tests/web/test_board_routes.py``,
``tests/web/test_status_routes.py``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.helpers.server import PIN, RunningServer, WsClient
from tests.helpers.tools import unavailable
from tests.server.test_routes_e2e import route_config
from tests.web.test_webboard import CHROMIUM, chromium

__all__ = ["STEPS", "RouteHall", "route_hall"]

#: The counters of the case's steps, in order.
STEPS = (2, 3, 4)


@dataclasses.dataclass
class RouteHall:
    srv: RunningServer
    page_ws: str  # Chromium's DevTools websocket of its page
    desks: dict[int, WsClient]  # counter number -> its logged-in desk


@contextmanager
def route_hall(tmp_path: Path) -> Iterator[RouteHall]:
    """The server, Chromium and the desks of :data:`STEPS` (staff s00N at counter N)."""
    if not os.path.exists(CHROMIUM):
        unavailable("chromium is not installed (apt-get install chromium)")
    with ExitStack() as stack:
        srv = stack.enter_context(RunningServer(route_config(f"sqlite:///{tmp_path / 'hall.db'}")))
        page_ws = stack.enter_context(chromium(tmp_path / "profile"))
        desks = {}
        for n in STEPS:
            desks[n] = desk = srv.client(f"counter-{n}")
            stack.callback(desk.close)
            assert desk.request("login", staff=f"s00{n}", pin=PIN)["type"] == "ok"
        yield RouteHall(srv, page_ws, desks)
