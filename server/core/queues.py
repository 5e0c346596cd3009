"""The hall's waiting tickets: sorted lists per service and per counter.

Rules (the dispatch rules themselves are in ``server/core/hall.py``):

- Every waiting ticket is in exactly one list, its *home*: the list of the
  counter it was transferred to, or one of its service's three group lists
  (:class:`ServiceQueue`: appointments whose slot has started, ``priority``,
  ``normal``). An appointment whose slot has not started waits in the normal
  list and in :attr:`Queues.pending` until :meth:`Queues.promote` moves it.
- A list is sorted by :class:`Entry` (rank band, rank key, seqno, id): that
  order is the dispatch order within it, ties broken deterministically.
- A call costs O(log n) plus a short memmove, never a scan of the day.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import NamedTuple

from server.core.model import Ticket

__all__ = ["Entry", "Group", "ServiceQueue", "Pick", "Head", "Queues", "live_head", "next_streak",
           "rank_after"]


class Entry(NamedTuple):
    """A waiting ticket's place in its list (tuple order = dispatch order)."""

    band: int  # rank band: 0 ahead of every fresh ticket of its group (transfers, returns)
    key: float  # rank key: issue (or transfer) time, or a key placed between two others
    seqno: int
    ticket_id: str

    @classmethod
    def of(cls, t: Ticket) -> Entry:
        return cls(t.rank[0], t.rank[1], t.seqno, t.id)


class Group(IntEnum):
    """The dispatch group of a called ticket (for the interleaving count)."""

    TARGETED = 0  # transferred to this counter: outside the rule
    APPOINTMENT = 1  # an appointment whose slot has started
    PRIORITY = 2
    NORMAL = 3


class ServiceQueue(NamedTuple):
    """One service's three group lists, in dispatch order of the groups."""

    appointments: list[Entry]
    priority: list[Entry]
    normal: list[Entry]


class Pick(NamedTuple):
    """The next ticket for a counter and where it was found."""

    entry: Entry
    home: list[Entry]
    group: Group
    normal_waiting: bool  # a normal ticket the counter could call was waiting


#: Reads the head of a list (the live one, or a simulated position in it).
Head = Callable[[list[Entry]], Entry | None]


class Queues:
    """Every waiting ticket of a hall, in the lists dispatch reads.

    Args:
        services: the hall's service ids.
        counters: the hall's counter numbers.
    """

    def __init__(self, services: Iterable[str], counters: Iterable[int]) -> None:
        sids = tuple(services)
        self.services: dict[str, ServiceQueue] = {
            sid: ServiceQueue([], [], []) for sid in sids}
        self.targeted: dict[int, list[Entry]] = {n: [] for n in counters}
        # Appointments queued as normal until their slot starts: (slot ts, entry).
        self.pending: dict[str, list[tuple[float, Entry]]] = {sid: [] for sid in sids}
        self.home: dict[str, list[Entry]] = {}  # ticket id -> the list holding it
        self.waiting: dict[str, int] = {sid: 0 for sid in sids}

    def group_list(self, t: Ticket, now: dt.datetime) -> list[Entry]:
        """The list a waiting ticket belongs in (by its target, priority and slot)."""
        if t.target_counter is not None:
            return self.targeted[t.target_counter]
        lists = self.services[t.service]
        if t.priority == "appointment":
            started = t.slot_start is None or t.slot_start <= now
            return lists.appointments if started else lists.normal
        return lists.priority if t.priority == "priority" else lists.normal

    def in_normal(self, t: Ticket) -> bool:
        """Whether ``t`` waits in its service's normal list."""
        return self.home.get(t.id) is self.services[t.service].normal

    def in_appointments(self, t: Ticket) -> bool:
        """Whether ``t`` waits in its service's started-appointments list."""
        return self.home.get(t.id) is self.services[t.service].appointments

    def insert(self, t: Ticket, now: dt.datetime) -> None:
        entry = Entry.of(t)
        lst = self.group_list(t, now)
        insort(lst, entry)
        self.home[t.id] = lst
        if self._is_pending(t, lst):
            insort(self.pending[t.service], (_slot_ts(t), entry))
        self.waiting[t.service] += 1

    def remove(self, t: Ticket) -> None:
        entry = Entry.of(t)
        lst = self.home.pop(t.id)
        del lst[bisect_left(lst, entry)]
        if self._is_pending(t, lst):
            pending = self.pending[t.service]
            del pending[bisect_left(pending, (_slot_ts(t), entry))]
        self.waiting[t.service] -= 1

    def promote(self, services: Iterable[str], now: dt.datetime) -> None:
        """Move appointments whose slot has started from the normal to their own group."""
        stamp = now.timestamp()
        for sid in services:
            pending = self.pending[sid]
            if not pending or pending[0][0] > stamp:
                continue
            lists = self.services[sid]
            while pending and pending[0][0] <= stamp:
                _slot, entry = pending.pop(0)
                del lists.normal[bisect_left(lists.normal, entry)]
                insort(lists.appointments, entry)
                self.home[entry.ticket_id] = lists.appointments

    def position(self, t: Ticket) -> int:
        """How many entries come before waiting ``t``: in its counter's list, or in
        its service's groups before its own and earlier in its own."""
        lst = self.home[t.id]
        pos = bisect_left(lst, Entry.of(t))
        if t.target_counter is not None:
            return pos
        for group_list in self.services[t.service]:
            if group_list is lst:
                break
            pos += len(group_list)
        return pos

    def choose(self, counter: int, services: tuple[str, ...], ordered: bool, limit: int,
               streak: int, head: Head) -> Pick | None:
        """The next ticket for a counter (dispatch rules 1-4 of ``hall.py``).

        Args:
            counter: the counter's number (its transfers come first).
            services: the counter's services, in its order.
            ordered: ``ordered`` mode (a later service only when the earlier
                ones are empty) rather than ``oldest`` (all together).
            limit: ``Dispatch.priority_per_normal``.
            streak: the counter's interleaving count.
            head: reads a list's head (:func:`live_head`, or a simulation's).
        """
        targeted = self.targeted[counter]
        first = head(targeted)
        if first is not None:
            return Pick(first, targeted, Group.TARGETED, False)
        scopes = tuple((s,) for s in services) if ordered else (services,)
        for scope in scopes:
            queues = [self.services[s] for s in scope]
            special = _best(head, [q.appointments for q in queues])
            group = Group.APPOINTMENT
            if special is None:
                special = _best(head, [q.priority for q in queues])
                group = Group.PRIORITY
            normal = _best(head, [q.normal for q in queues])
            if special is not None and (normal is None or streak < limit):
                return Pick(special[0], special[1], group, normal is not None)
            if normal is not None:
                return Pick(normal[0], normal[1], Group.NORMAL, True)
        return None

    def _is_pending(self, t: Ticket, lst: list[Entry]) -> bool:
        """An appointment waiting in the normal list for its slot to start."""
        return (t.priority == "appointment" and t.target_counter is None
                and lst is self.services[t.service].normal)


def _slot_ts(t: Ticket) -> float:
    assert t.slot_start is not None  # pending appointments have a slot
    return t.slot_start.timestamp()


def live_head(lst: list[Entry]) -> Entry | None:
    """The head of a live list."""
    return lst[0] if lst else None


def _best(head: Head, lists: list[list[Entry]]) -> tuple[Entry, list[Entry]] | None:
    best: tuple[Entry, list[Entry]] | None = None
    for lst in lists:
        h = head(lst)
        if h is not None and (best is None or h < best[0]):
            best = (h, lst)
    return best


def next_streak(streak: int, group: Group, normal_waiting: bool) -> int:
    """The interleaving count after calling a ticket of ``group``."""
    if group == Group.TARGETED:
        return streak  # transfers to the counter are outside the rule
    if group == Group.NORMAL or not normal_waiting:
        return 0
    return streak + 1


def rank_after(lst: list[Entry], places: int, now: dt.datetime) -> tuple[int, float]:
    """A rank that sorts right after the first ``places`` entries of ``lst``."""
    if not lst:
        return (1, now.timestamp())
    k = min(max(places, 0), len(lst))
    if k == 0:
        return (lst[0].band, lst[0].key - 1.0)
    a = lst[k - 1]
    if k < len(lst) and lst[k].band == a.band:
        return (a.band, (a.key + lst[k].key) / 2)
    return (a.band, a.key + 1.0)
