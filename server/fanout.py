"""One flush's websocket frames serialised once, written to every connection.

``websockets.broadcast`` serialises the frame again for every connection
(``protocol.send_text``) and writes each frame with its own
``transport.write`` (a ``send()`` system call): per flush that is clients x
events serialisations and writes, the city server's largest CPU cost. A
server's frames are never masked (RFC 6455 5.1) and the listeners negotiate
no extension (``compression: None`` in ``SERVE_OPTIONS``: per-client deflate
would make every client's bytes different), so the bytes of a text frame are
the same for every connection: :func:`text_frames` builds them once with
websockets' sans-I/O :class:`~websockets.protocol.Protocol` (the same code a
connection uses, so the bytes are the ones it would write) and
:func:`write_all` hands that one buffer to each open transport.

Writing around ``protocol.send_text`` is safe because sending a complete
(``fin``) text frame changes no protocol state; the checks a send makes are
made here per connection: a connection not OPEN (closing or closed) is
skipped, one with a negotiated extension gets its frames through its own
protocol (correct, just not shared), and one sending a fragmented message
is skipped as ``broadcast`` skips it. websockets' own code writes every
frame to the transport as soon as it is made (``send_data`` after each
send), so bytes written here keep their order with the replies and control
frames of the same connection. A reply given in the same loop turn rides in
the same write, ahead of the events (``first``; ``Server._answer``): the
requesting client gets one send() for both, in the order pushing them would.
Backpressure is the transport's: its buffer grows, the server's buffer scan
closes a client too far behind (1013).
tests/server/test_fanout.py pins this against the installed websockets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from websockets.asyncio.server import ServerConnection
from websockets.protocol import OPEN, Protocol, Side

from server.wire import protocol as wire

__all__ = ["Frames", "batches", "text_frames", "write_all"]

log = logging.getLogger("qhall.fanout")

#: A server-side protocol that only ever sends: its writes are the frames.
_ENCODER = Protocol(Side.SERVER)


class Frames:
    """Text messages as one buffer of back-to-back frames (one message per frame)."""

    __slots__ = ("messages", "data")

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = messages
        self.data = text_frames(messages)


def batches(messages: list[bytes]) -> list[bytes]:
    """Join encoded messages into ``batch`` frames, each below the frame limit."""
    if len(messages) == 1:
        return messages
    frames: list[bytes] = []
    parts: list[bytes] = []
    size = 40
    for m in messages:
        if parts and size + len(m) + 1 > wire.MAX_FRAME:
            frames.append(b'{"type":"batch","messages":[' + b",".join(parts) + b"]}")
            parts, size = [], 40
        parts.append(m)
        size += len(m) + 1
    frames.append(b'{"type":"batch","messages":[' + b",".join(parts) + b"]}")
    return frames


def text_frames(messages: list[bytes]) -> bytes:
    """The server's websocket text frames of these UTF-8 messages, back to back."""
    for m in messages:
        _ENCODER.send_text(m)
    return b"".join(_ENCODER.data_to_send())


def write_all(connections: Iterable[ServerConnection], frames: Frames,
              first: dict[ServerConnection, bytes] | None = None) -> None:
    """Write ``frames`` to every open connection: one ``transport.write`` each.

    ``first``: frames a connection gets ahead of these in the same write (its
    replies of this loop turn); each one written is taken out of the dict.
    """
    data = frames.data
    for conn in connections:
        protocol = conn.protocol
        if protocol.state is not OPEN:
            continue  # closing or closed: its close is on its way
        try:
            if conn.send_in_progress is not None:
                log.warning("skipped fan-out: sending a fragmented message")
            elif protocol.extensions:
                for m in frames.messages:  # its frames are its own (e.g. deflate)
                    protocol.send_text(m)
                conn.send_data()
            elif first and conn in first:
                conn.transport.write(first.pop(conn) + data)
            else:
                conn.transport.write(data)
        except Exception as exc:  # one broken connection must not stop the others
            log.warning("skipped fan-out to a connection: %s", exc)
