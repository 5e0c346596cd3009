"""The web lobby board served at ``GET /board``.

One self-contained HTML page (inline CSS and JS, no external assets) with
the lobby board's layout. It connects to ``/ws`` on the same host (``wss:``
when the page came over https) as a display device whose id and token come
from the URL fragment, which browsers never send to the server or put in
logs: ``/board#device=board-1&token=SECRET``. Options in the fragment:
``mute=1`` (no browser speech), ``repeat=N`` (say each call N times, default 2),
``notice=TEXT`` (override the hall's notice), ``servers=URL1,URL2`` (the
hall's server instances, tried in turn; default the page's own ``/ws``).

It reconnects with backoff, sending ``since`` so missed calls are replayed;
with several servers it follows the rules of ``server/client/session.py``: a
standby's ``owner`` is tried next when listed, any other loss moves to the next
URL. It speaks calls with the Web Speech API (zh-CN) where the browser has it.
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["board_html"]


@functools.cache
def board_html() -> str:
    """The HTML of ``/board`` (read once from the packaged ``board.html``)."""
    return resources.files("server.web").joinpath("board.html").read_text(encoding="utf-8")
