"""The pure dispatch core: tickets, the state machine, the hall.

No I/O, no database, no asyncio, no Qt; the clock is injected. See
``server/core/hall.py`` for the dispatch rules and ``machine.py`` for the
ticket state machine.
"""

from server.core.hall import Hall
from server.core.machine import COMMANDS, STATES, TRANSITIONS, IllegalMove
from server.core.model import PRIORITIES, STATUSES, CounterState, Event, Ticket
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
    "Hall",
    "Ticket",
    "Event",
    "CounterState",
    "CoreError",
    "IllegalMove",
    "BadRequest",
    "NotFound",
    "Closed",
    "QuotaReached",
    "QueueEmpty",
    "Conflict",
    "Forbidden",
    "Expired",
    "STATES",
    "STATUSES",
    "PRIORITIES",
    "COMMANDS",
    "TRANSITIONS",
]
