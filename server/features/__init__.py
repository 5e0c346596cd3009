"""Features: requests beyond the core's, plugged into the hall service.

Each is a class built from a ``server.service.api.Context`` that implements
the ``Feature`` protocol (its request handlers, and ``loaded`` for each core
built from the store). They import only the service API (plus server.wire,
server.config and server.core types); the entry points compose them.
"""

from __future__ import annotations

from server.features.booking import Bookings
from server.features.ratings import FollowUps
from server.features.report import Stats
from server.service.api import FeatureFactory

__all__ = ["default_features"]


def default_features() -> tuple[FeatureFactory, ...]:
    """Every feature of a serving hall: appointments (预约), 好差评 follow-ups,
    ``stats``."""
    return (Bookings.feature, FollowUps, Stats)
