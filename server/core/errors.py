"""Refusals of the core, each carrying its PROTOCOL wire error code.

The server turns any :class:`CoreError` into ``{"type": "error", "code":
exc.code, "message": str(exc), **exc.details}``; messages are written for the
person at the counter or kiosk: what happened and what to do. ``details`` are
structured fields a client reads instead of the text (a ``closed`` check-in's
``opens_at``).
"""

from __future__ import annotations

__all__ = [
    "CoreError",
    "BadRequest",
    "NotFound",
    "Closed",
    "QuotaReached",
    "QueueEmpty",
    "Conflict",
    "Forbidden",
    "Expired",
]


class CoreError(Exception):
    """A command the core refuses. ``code`` is the PROTOCOL error code;
    ``details`` are extra JSON fields of the error reply (docs/PROTOCOL.md)."""

    code = "internal"

    def __init__(self, message: str, *, code: str | None = None,
                 details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details: dict[str, str] = dict(details or {})


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
