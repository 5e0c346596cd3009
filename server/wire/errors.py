"""Every error qhall puts on the wire, under one root with its wire ``code``.

Pure vocabulary (stdlib only), shared by the server, the core and the
clients. An error's ``code`` is the PROTOCOL error code
(:data:`server.wire.protocol.ERROR_CODES`); every code has exactly one
class here, and ``str(exc)`` is the message for the person at the counter
or kiosk: what happened and what to do. The server answers any
:class:`QhallError` with ``{"type": "error", "code": exc.code,
"message": str(exc), **exc.details}`` and never exposes anything else.

The tree::

    QhallError                      internal
    ├── ProtocolError               (code given per instance, mostly bad_request)
    │   ├── Unauthorized            unauthorized
    │   ├── RateLimited             rate_limited
    │   ├── UnsupportedProtocol     unsupported_protocol
    │   └── Standby                 standby
    └── CoreError                   (internal unless a subclass says)
        ├── BadRequest              bad_request
        ├── NotFound                not_found
        ├── Closed                  closed
        ├── QuotaReached            quota_reached
        ├── QueueEmpty              queue_empty
        ├── Conflict                conflict
        │   └── IllegalMove         (server.core.machine: a move the
        │                            lifecycle table does not allow)
        ├── Forbidden               forbidden
        └── Expired                 expired

:class:`ProtocolError` refuses a frame or request before the core sees it
(malformed, unknown type, not allowed for the role); :class:`CoreError` is
a command the core refuses. Only a ``code=`` given to an instance can
differ from its class's code (a frame refused as ``bad_request`` is a
:class:`ProtocolError`, not a :class:`BadRequest`, which is the core's).
"""

from __future__ import annotations

__all__ = [
    "QhallError",
    "ProtocolError",
    "Unauthorized",
    "RateLimited",
    "UnsupportedProtocol",
    "Standby",
    "CoreError",
    "BadRequest",
    "NotFound",
    "Closed",
    "QuotaReached",
    "QueueEmpty",
    "Conflict",
    "Forbidden",
    "Expired",
    "by_code",
    "declared",
]


class QhallError(Exception):
    """The root of every qhall error; ``code`` is its PROTOCOL error code.

    ``details`` are structured fields of the error reply beside the text, a
    client reads them instead of parsing the message (a ``closed``
    check-in's ``opens_at``; docs/PROTOCOL.md).
    """

    code = "internal"

    def __init__(self, message: str, *, code: str | None = None,
                 details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details: dict[str, str] = dict(details or {})


class ProtocolError(QhallError):
    """A message the server must refuse before the core sees it.

    ``re`` is the request id when one could be read, so the reply names it.
    """

    def __init__(self, code: str, message: str, re: str | None = None) -> None:
        super().__init__(message, code=code)
        self.message = message
        self.re = re


class Unauthorized(ProtocolError):
    """Unknown device, bad token, or a staff login that failed."""

    code = "unauthorized"

    def __init__(self, message: str, re: str | None = None) -> None:
        super().__init__(self.code, message, re)


class RateLimited(ProtocolError):
    """Too many requests or failed logins: try again later."""

    code = "rate_limited"

    def __init__(self, message: str, re: str | None = None) -> None:
        super().__init__(self.code, message, re)


class UnsupportedProtocol(ProtocolError):
    """The client speaks a protocol version the server does not."""

    code = "unsupported_protocol"

    def __init__(self, message: str, re: str | None = None) -> None:
        super().__init__(self.code, message, re)


class Standby(ProtocolError):
    """This instance is a standby; the client moves to the hall's owner."""

    code = "standby"

    def __init__(self, message: str, re: str | None = None) -> None:
        super().__init__(self.code, message, re)


class CoreError(QhallError):
    """A command the core refuses. ``code`` is the PROTOCOL error code."""


class BadRequest(CoreError):
    """An argument is malformed (unknown priority, score out of range...)."""

    code = "bad_request"


class NotFound(CoreError):
    """Unknown service, counter or ticket."""

    code = "not_found"


class Closed(CoreError):
    """The service is outside its hours."""

    code = "closed"


class QuotaReached(CoreError):
    """The service's daily quota of tickets is used up."""

    code = "quota_reached"


class QueueEmpty(CoreError):
    """Nobody is waiting for this counter."""

    code = "queue_empty"


class Conflict(CoreError):
    """The command does not fit the current state (of a counter or ticket)."""

    code = "conflict"


class Forbidden(CoreError):
    """This counter may not act on that ticket."""

    code = "forbidden"


class Expired(CoreError):
    """Too late: e.g. a no-show re-queued after the return window."""

    code = "expired"


def _classes(root: type[QhallError]) -> list[type[QhallError]]:
    out = [root]
    for sub in root.__subclasses__():
        out += _classes(sub)
    return out


def declared() -> list[tuple[str, type[QhallError]]]:
    """``(code, class)`` for every class of the tree that declares a code.

    Classes that only refine another (``ProtocolError``, ``CoreError``,
    ``IllegalMove``) declare none. Each code appears once (tests check it).
    """
    return [(cls.__dict__["code"], cls) for cls in _classes(QhallError) if "code" in cls.__dict__]


def by_code(code: str) -> type[QhallError]:
    """The class of a wire error code (:class:`QhallError` for unknown ones)."""
    return next((cls for c, cls in declared() if c == code), QhallError)
