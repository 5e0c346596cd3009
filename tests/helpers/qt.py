"""Qt-side waits on a running test server (instead of fixed qtbot.wait pauses)."""

from __future__ import annotations

from typing import Any

__all__ = ["wait_disconnected"]


def wait_disconnected(qtbot: Any, server: Any, timeout_ms: int = 10_000) -> None:
    """Let the Qt event loop run until ``server`` (a RunningServer) has no client left:
    the apps' links have sent their close frames and the server has seen them."""
    if server.loop is None:  # already stopped: nothing can be waiting on it
        return
    qtbot.waitUntil(lambda: not server.call(lambda: len(server.server.clients)),
                    timeout=timeout_ms)
