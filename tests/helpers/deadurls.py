"""Server URLs where nobody answers, as a device sees a failed instance.

``frozen_url()``: the kernel accepts the TCP connection (a listening socket's
backlog) and nothing ever answers the websocket upgrade, as at a SIGSTOPped
``qhall serve``. ``refused_url()``: nothing listens on the port, so the
connect is refused at once, as at a killed one.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

from tests.helpers.server import free_port


@contextlib.contextmanager
def frozen_url() -> Iterator[str]:
    """A ws:// URL whose connect succeeds and whose upgrade is never answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # and never accept(): the backlog completes handshakes
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/ws"


def refused_url() -> str:
    """A ws:// URL on a loopback port nothing listens on (free right now)."""
    return f"ws://127.0.0.1:{free_port()}/ws"
