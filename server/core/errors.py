"""The core's refusals, as the core has always exported them.

The classes live in :mod:`server.wire.errors` (one error tree, one root
``QhallError``, every wire code once); the core imports them from there and
this module keeps ``server.core.errors`` importable for existing callers.
"""

from __future__ import annotations

from server.wire.errors import (
    BadRequest,
    Closed,
    Conflict,
    CoreError,
    Expired,
    Forbidden,
    NotFound,
    QueueEmpty,
    QuotaReached,
)

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
