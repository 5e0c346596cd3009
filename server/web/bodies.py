"""Request bodies on the websocket port (the JSON API's POSTs).

``websockets`` parses only the opening handshake, which has no body: a
request with ``Content-Length`` other than 0 is dropped before the server
sees it. The integration API (``POST /api/v1/...``) needs small JSON
bodies on the same port, so the server's connections use
:class:`BodyConnection`: its protocol reads the request line and headers as
``websockets`` does and then, for a ``Content-Length`` of at most
:data:`MAX_BODY` bytes, the body, kept on the request as ``body``. Larger
bodies get 413, chunked ones 411; nothing else changes (a websocket upgrade
has no body).
"""

from __future__ import annotations

import http
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import InvalidMessage
from websockets.http11 import Request, parse_headers, parse_line
from websockets.protocol import CONNECTING, Protocol
from websockets.server import ServerProtocol

__all__ = ["BodyConnection", "BodyRequest", "MAX_BODY", "body_of"]

#: The largest request body read (the API's requests are a few hundred bytes).
MAX_BODY = 16 * 1024


@dataclass
class BodyRequest(Request):
    """A request with the body that followed its headers (b"" for none)."""

    body: bytes = b""


class _Refuse(Exception):
    def __init__(self, status: http.HTTPStatus, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _parse_request(read_line: Any, read_exact: Any) -> Generator[None, None, BodyRequest]:
    line = yield from parse_line(read_line)
    try:
        raw_method, raw_path, raw_protocol = bytes(line).split(b" ", 2)
    except ValueError:
        raise ValueError("invalid HTTP request line") from None
    if raw_protocol not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise ValueError("unsupported protocol")
    headers = yield from parse_headers(read_line)
    if "Transfer-Encoding" in headers:
        raise _Refuse(http.HTTPStatus.LENGTH_REQUIRED, "send a Content-Length body\n")
    lengths = set(headers.get_all("Content-Length"))
    if len(lengths) > 1 or not all(v.isdigit() for v in lengths):
        raise ValueError("bad Content-Length")
    length = int(next(iter(lengths))) if lengths else 0
    if length > MAX_BODY:
        raise _Refuse(http.HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                      f"request body over {MAX_BODY} bytes\n")
    body = (yield from read_exact(length)) if length else b""
    return BodyRequest(raw_path.decode("ascii"), headers, raw_method.decode("ascii"),
                       raw_protocol.decode("ascii"), body=bytes(body))


class _BodyProtocol(ServerProtocol):
    """``ServerProtocol`` whose handshake parser also reads a small body."""

    def parse(self) -> Generator[None]:
        if self.state is CONNECTING:
            try:
                request = yield from _parse_request(self.reader.read_line,
                                                    self.reader.read_exact)
            except _Refuse as exc:
                self.handshake_exc = InvalidMessage(exc.text.strip())
                self.send_response(self.reject(exc.status, exc.text))
                yield
            except Exception as exc:  # as websockets: not HTTP, close quietly
                self.handshake_exc = InvalidMessage("did not receive a valid HTTP request")
                self.handshake_exc.__cause__ = exc
                self.send_eof()
                self.parser = self.discard()
                next(self.parser)
                yield
            self.events.append(request)
        yield from Protocol.parse(self)


class BodyConnection(ServerConnection):
    """The server's connection class (``serve(create_connection=...)``)."""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        # No byte has been read yet: restart the parser as the body-aware one.
        protocol.__class__ = _BodyProtocol
        protocol.parser = protocol.parse()
        next(protocol.parser)
        super().__init__(protocol, *args, **kwargs)


def body_of(request: Request) -> bytes:
    """The body read with ``request`` (b"" when none)."""
    return request.body if isinstance(request, BodyRequest) else b""
