"""The ticket lifecycle, written once as data: statuses, moves, their events.

Rules (read these first; the tables below are the single source of truth,
read by the core's legal-move checker ``server/core/machine.py``, the
counter and display clients' reducers and the report):

- A ticket is issued ``waiting`` (``ticket.issued``). A counter ``call``\\s
  it (-> ``called``); the counter may ``recall`` it (announce again) while
  it is ``called``.
- The citizen arrives: ``start`` (called -> ``serving``). ``complete`` ends
  the service (called or serving -> ``done``; a called ticket may be
  completed directly when the counter never pressed start).
- A called citizen who does not come is a ``no_show`` (called only: once
  serving the citizen is at the counter).
- ``transfer`` sends a called or serving ticket back to ``waiting`` for
  another service or counter; it keeps its number.
- ``requeue`` (过号重排) brings a ``no_show`` back to ``waiting``; the hall
  also checks the return window.
- ``unmiss`` (撤销过号) undoes a ``no_show`` for a short while: the ticket is
  ``called`` again at the same counter.
- ``cancel`` withdraws a waiting ticket. ``close`` is the day's close-out:
  it cancels every ticket still waiting or called (the same event,
  ``ticket.cancelled``, with ``reason: "close_day"``).
- ``rate`` (一次一评) is allowed on a ``done`` ticket, once; it does not
  change the status (the "once" is the core's check).
- A remote ticket (taken by phone) waits for its citizen: ``arrive`` marks
  them present and ``defer`` moves an absent one back when it would have
  been called (both keep it ``waiting``; server/core/remote.py); one passed
  over too often is cancelled (``ticket.cancelled``, ``reason: "absent"``).
- Joint-approval routes (联合审批): completing a step of a route ticket that
  is not its last ``route``\\s it (called or serving -> ``waiting`` at the
  next step's service, ``ticket.routed``); ``route_back`` (材料补正) sends it
  back to an earlier step the same way; ``route_end`` ends the case early
  (called or serving -> ``done``, ``ticket.completed`` with a reason). The
  last step's ``complete`` is an ordinary ``complete``.
- ``done`` and ``cancelled`` are final; ``no_show`` is final unless
  re-queued or undone.

Pure vocabulary: stdlib only, no I/O; the server, the core and the clients
import it alike.
"""

from __future__ import annotations

__all__ = [
    "STATUSES",
    "ACTIVE",
    "COMMANDS",
    "TRANSITIONS",
    "EVENT_OF",
    "ISSUED",
    "STATUS_AFTER",
    "FINAL",
    "LEAVES_COUNTER",
    "allowed_from",
]

STATUSES = ("waiting", "called", "serving", "done", "no_show", "cancelled")

#: Statuses in which a ticket is "at" a counter (the counter's current ticket).
ACTIVE = ("called", "serving")

COMMANDS = (
    "call", "recall", "start", "complete", "no_show",
    "transfer", "requeue", "unmiss", "cancel", "close", "rate", "arrive", "defer",
    "route", "route_back", "route_end",
)

#: (status, command) -> new status. Nothing else is legal.
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
    ("waiting", "arrive"): "waiting",
    ("waiting", "defer"): "waiting",
    ("called", "route"): "waiting",
    ("serving", "route"): "waiting",
    ("called", "route_back"): "waiting",
    ("serving", "route_back"): "waiting",
    ("called", "route_end"): "done",
    ("serving", "route_end"): "done",
}

#: The PROTOCOL event each command emits.
EVENT_OF: dict[str, str] = {
    "call": "ticket.called",
    "recall": "ticket.recalled",
    "start": "ticket.started",
    "complete": "ticket.completed",
    "no_show": "ticket.no_show",
    "transfer": "ticket.transferred",
    "requeue": "ticket.requeued",
    "unmiss": "ticket.no_show_undone",
    "cancel": "ticket.cancelled",
    "close": "ticket.cancelled",
    "rate": "ticket.rated",
    "arrive": "ticket.arrived",
    "defer": "ticket.deferred",
    "route": "ticket.routed",
    "route_back": "ticket.routed",
    "route_end": "ticket.completed",
}

#: The event of a new ticket (it is born ``waiting``).
ISSUED = "ticket.issued"


def _status_after() -> dict[str, str]:
    out = {ISSUED: "waiting"}
    for (_from, command), to in TRANSITIONS.items():
        event = EVENT_OF[command]
        if out.setdefault(event, to) != to:
            raise AssertionError(f"{event} leads to two statuses")  # a table error
    return out


#: Event name -> the status the ticket has after it (every ``ticket.*`` event
#: that changes or keeps a status; one status per event by construction).
STATUS_AFTER: dict[str, str] = _status_after()

#: Statuses no command leaves (``rate`` keeps ``done`` as it is).
FINAL = frozenset(
    s for s in STATUSES
    if all(TRANSITIONS.get((s, c), s) == s for c in COMMANDS)
)

#: Events that take a ticket away from the counter holding it (an active
#: status before, another after): a display clears that counter.
LEAVES_COUNTER = frozenset(
    EVENT_OF[command] for (before, command), after in TRANSITIONS.items()
    if before in ACTIVE and after not in ACTIVE
)


def allowed_from(command: str) -> tuple[str, ...]:
    """The statuses in which ``command`` is legal, in :data:`STATUSES` order."""
    return tuple(s for s in STATUSES if (s, command) in TRANSITIONS)
