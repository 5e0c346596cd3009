"""Remote tickets (taken by phone): a place in line, called only when present.

A remote ticket is issued like a kiosk ticket (hours, quota, numbering) and
waits in its place, but the counter's ``call_next`` passes over it while its
citizen is not present. Passed over when it would have been called, it
moves back ``Dispatch.requeue_places`` places (``ticket.deferred``); the
third time it is passed over it expires (``ticket.cancelled`` with
``reason: "absent"``). The citizen becomes present by tapping 我已到达 on the
ticket's page or by scanning the ticket at a kiosk (``ticket.arrived``).
A counter may still call it by name (``call``), which needs no presence.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from server.core import machine
from server.core.model import Event, Ticket

# ``hall`` below is the server.core.hall.Hall that calls these (it imports
# this module, so the type is not imported back).

__all__ = ["MAX_DEFERRALS", "absent", "pass_over", "arrive"]

#: Moves back an absent remote ticket gets before it expires.
MAX_DEFERRALS = 2


def absent(t: Ticket) -> bool:
    """Whether ``call_next`` must pass this ticket over (remote, not present)."""
    return t.remote and not t.present


def pass_over(hall: Any, t: Ticket, now: dt.datetime) -> Event:
    """An absent remote ticket was due: move it back, or let it expire."""
    if t.deferrals >= MAX_DEFERRALS:
        new = machine.check(t, "cancel")
        hall._queues.remove(t)
        prev = hall._bump(t, new)
        t.finished_at = now
        return hall._ticket_event("ticket.cancelled", t, prev, None, counter=None,
                                  reason="absent")
    new = machine.check(t, "defer")
    hall._queues.remove(t)
    rank = hall._back_rank(t, now)
    prev = hall._bump(t, new)
    t.rank = rank
    t.deferrals += 1
    hall._queues.insert(t, now)
    return hall._ticket_event("ticket.deferred", t, prev, None, counter=None,
                              places=hall.config.dispatch.requeue_places,
                              deferrals=t.deferrals)


def arrive(hall: Any, t: Ticket) -> list[Event]:
    """The citizen of a remote ticket is here: ``ticket.arrived`` (once).

    Raises:
        IllegalMove: the ticket is not waiting or not remote.
    """
    if not t.remote:
        raise machine.IllegalMove(t, "arrive", t.status, f"ticket {t.number} was taken at "
                                  "the hall; it needs no arrival")
    new = machine.check(t, "arrive")
    if t.present:
        return []
    hall._begin(hall._now())
    prev = hall._bump(t, new)
    t.present = True
    return [hall._ticket_event("ticket.arrived", t, prev, None, counter=None),
            *hall._queue_events(())]

