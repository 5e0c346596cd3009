"""The ticket state machine: the core's legal-move checker.

The lifecycle itself (statuses, the transition table, which event each
command emits, the rules in prose) is written once in
``server/wire/lifecycle.py``; this module checks a command against it and
says why a move is refused. On top of the table the core checks that
``rate`` happens once (see :func:`check`); the hall checks the windows of
``requeue`` and ``unmiss``.

Anything not in :data:`TRANSITIONS` raises :class:`IllegalMove`, whose wire
code is ``conflict``.
"""

from __future__ import annotations

from typing import Any

from server.wire import lifecycle
from server.wire.errors import Conflict
from server.wire.lifecycle import COMMANDS, FINAL, TRANSITIONS, allowed_from

__all__ = [
    "STATES",
    "COMMANDS",
    "TRANSITIONS",
    "FINAL",
    "IllegalMove",
    "allowed_from",
    "check",
    "legal",
]

#: The lifecycle's statuses (the core calls them states).
STATES = lifecycle.STATUSES

# Readable verbs for the messages.
_VERB = {
    "call": "call", "recall": "recall", "start": "start serving",
    "complete": "complete", "no_show": "mark as no-show", "transfer": "transfer",
    "requeue": "re-queue", "unmiss": "undo the no-show of", "cancel": "cancel",
    "close": "close out", "rate": "rate", "arrive": "mark the arrival of",
    "defer": "move back",
    "route": "send on along its route",
    "route_back": "send back along its route", "route_end": "end the route of",
}


def legal(state: str, command: str) -> bool:
    """Whether the table allows ``command`` in ``state``."""
    return (state, command) in TRANSITIONS


class IllegalMove(Conflict):
    """A command that the transition table does not allow in this state.

    Attributes:
        ticket: the ticket (or its id/number) the command was aimed at.
        command: the command, one of :data:`COMMANDS`.
        state: the ticket's state at the time.
    """

    def __init__(
        self, ticket: Any, command: str, state: str, message: str | None = None
    ) -> None:
        self.ticket = ticket
        self.command = command
        self.state = state
        if message is None:
            label = getattr(ticket, "number", None) or str(ticket)
            where = allowed_from(command)
            if command == "rate" and state == "done":
                reason = "it has already been rated (one rating per service)"
            elif where:
                reason = f"{command} is only allowed when it is {' or '.join(where)}"
            else:
                reason = f"{command} is never allowed"
            verb = _VERB.get(command, command)
            message = f"cannot {verb} ticket {label}: it is {state}; {reason}"
        super().__init__(message)


def check(ticket: Any, command: str) -> str:
    """The state ``command`` moves ``ticket`` to, or raise :class:`IllegalMove`.

    ``ticket`` needs ``status`` (and ``rating`` for ``rate``). Nothing is
    changed: the hall applies the move together with its other fields.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; expected one of {COMMANDS}")
    state = ticket.status
    new = TRANSITIONS.get((state, command))
    if new is None:
        raise IllegalMove(ticket, command, state)
    if command == "rate" and getattr(ticket, "rating", None) is not None:
        raise IllegalMove(ticket, command, state)
    return new
