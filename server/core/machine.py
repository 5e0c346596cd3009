"""The ticket state machine: every legal move of a ticket, as data.

Rules (read these first; the table below is the single source of truth):

- A ticket is issued ``waiting``. A counter ``call``\\s it (-> ``called``);
  the counter may ``recall`` it (announce again) while it is ``called``.
- The citizen arrives: ``start`` (called -> ``serving``). ``complete`` ends
  the service (called or serving -> ``done``; a called ticket may be
  completed directly when the counter never pressed start).
- A called citizen who does not come is a ``no_show`` (called only: once
  serving the citizen is at the counter).
- ``transfer`` sends a called or serving ticket back to ``waiting`` for
  another service or counter; it keeps its number.
- ``requeue`` (过号重排) brings a ``no_show`` back to ``waiting``; the hall
  also checks the return window (``Dispatch.no_show_return_s``).
- ``unmiss`` undoes a ``no_show`` for a short while (the counter pressed
  过号 by mistake): the ticket is ``called`` again at the same counter; the
  hall checks the window and that the counter is free.
- ``cancel`` withdraws a waiting ticket. ``close`` is the day's close-out:
  it cancels every ticket still waiting or called.
- ``rate`` (一次一评) is allowed on a ``done`` ticket, once; it does not
  change the state. The "once" is checked here too (see :func:`check`).
- ``done`` and ``cancelled`` are final; ``no_show`` is final unless
  re-queued.

Anything not in :data:`TRANSITIONS` raises :class:`IllegalMove`, whose wire
code is ``conflict``.
"""

from __future__ import annotations

from typing import Any

from server.core.errors import Conflict

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

STATES = ("waiting", "called", "serving", "done", "no_show", "cancelled")
COMMANDS = (
    "call", "recall", "start", "complete", "no_show",
    "transfer", "requeue", "unmiss", "cancel", "close", "rate",
)

#: (state, command) -> new state. Nothing else is legal.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("waiting", "call"): "called",
    ("waiting", "cancel"): "cancelled",
    ("waiting", "close"): "cancelled",
    ("called", "recall"): "called",
    ("called", "start"): "serving",
    ("called", "complete"): "done",
    ("called", "no_show"): "no_show",
    ("called", "transfer"): "waiting",
    ("called", "close"): "cancelled",
    ("serving", "complete"): "done",
    ("serving", "transfer"): "waiting",
    ("no_show", "requeue"): "waiting",
    ("no_show", "unmiss"): "called",
    ("done", "rate"): "done",
}

#: States no command leaves (``rate`` keeps ``done`` as it is).
FINAL = frozenset(
    s for s in STATES
    if all(TRANSITIONS.get((s, c), s) == s for c in COMMANDS)
)

# Readable verbs for the messages.
_VERB = {
    "call": "call", "recall": "recall", "start": "start serving",
    "complete": "complete", "no_show": "mark as no-show", "transfer": "transfer",
    "requeue": "re-queue", "unmiss": "undo the no-show of", "cancel": "cancel",
    "close": "close out", "rate": "rate",
}


def allowed_from(command: str) -> tuple[str, ...]:
    """The states in which ``command`` is legal, in :data:`STATES` order."""
    return tuple(s for s in STATES if (s, command) in TRANSITIONS)


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
