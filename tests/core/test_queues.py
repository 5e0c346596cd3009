"""The waiting structures on their own: entries, group lists, dispatch choice."""

from __future__ import annotations

import datetime as dt

from server.core.model import Ticket
from server.core.queues import Entry, Group, Queues, live_head, next_streak, rank_after
from tests.core.builders import at


def ticket(tid: str, seqno: int, minute: int, priority: str = "normal",
           service: str = "gjj", **kw: object) -> Ticket:
    issued = at(9, minute)
    return Ticket(id=tid, number=f"A{seqno:03d}", service=service, priority=priority,
                  issued_at=issued, seqno=seqno, rank=(1, issued.timestamp()), **kw)


def test_entries_sort_in_dispatch_order_and_name_their_fields() -> None:
    early, late = ticket("a", 1, 0), ticket("b", 2, 5)
    head = ticket("c", 3, 9)
    head.rank = (0, head.rank[1])  # band 0: a transfer to the head
    entries = sorted([Entry.of(late), Entry.of(early), Entry.of(head)])
    assert [e.ticket_id for e in entries] == ["c", "a", "b"]
    assert entries[1] == Entry(1, at(9).timestamp(), 1, "a")


def test_groups_positions_and_an_appointment_waiting_for_its_slot() -> None:
    q = Queues(["gjj"], [1, 2])
    now = at(9, 10)
    normal = ticket("n", 1, 0)
    prio = ticket("p", 2, 1, "priority")
    appt = ticket("s", 3, 2, "appointment", slot_start=at(9, 30))
    for t in (normal, prio, appt):
        q.insert(t, now)
    assert q.waiting["gjj"] == 3
    assert q.in_normal(normal) and q.in_normal(appt) and not q.in_appointments(appt)
    assert [e.ticket_id for e in q.services["gjj"].normal] == ["n", "s"]
    assert q.position(prio) == 0 and q.position(normal) == 1 and q.position(appt) == 2
    q.promote(["gjj"], at(9, 29))
    assert q.in_normal(appt)
    q.promote(["gjj"], at(9, 30))  # its slot starts: it goes first of all
    assert q.in_appointments(appt) and q.pending["gjj"] == []
    assert q.position(appt) == 0 and q.position(prio) == 1
    q.remove(appt)
    assert q.waiting["gjj"] == 2 and "s" not in q.home


def test_choose_interleaves_per_counter_and_targets_come_first() -> None:
    q = Queues(["gjj", "tax"], [1, 2])
    now = at(9, 10)
    for t in (ticket("n1", 1, 0), ticket("p1", 2, 1, "priority"), ticket("p2", 3, 2, "priority")):
        q.insert(t, now)
    pick = q.choose(1, ("gjj", "tax"), True, 1, 0, live_head)
    assert pick is not None and pick.entry.ticket_id == "p1" and pick.group == Group.PRIORITY
    assert pick.normal_waiting and next_streak(0, pick.group, True) == 1
    pick = q.choose(1, ("gjj", "tax"), True, 1, 1, live_head)  # limit reached: the normal one
    assert pick is not None and pick.entry.ticket_id == "n1" and pick.group == Group.NORMAL
    targeted = ticket("t1", 4, 3, target_counter=2)
    q.insert(targeted, now)
    pick = q.choose(2, ("tax",), True, 1, 1, live_head)
    assert pick is not None and pick.group == Group.TARGETED and pick.home is q.targeted[2]
    assert next_streak(1, Group.TARGETED, True) == 1
    assert q.choose(1, ("tax",), True, 1, 0, live_head) is None


def test_rank_after_places_between_neighbours() -> None:
    lst = [Entry(1, 10.0, 1, "a"), Entry(1, 20.0, 2, "b"), Entry(1, 30.0, 3, "c")]
    now = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    assert rank_after(lst, 2, now) == (1, 25.0)
    assert rank_after(lst, 0, now) == (1, 9.0)
    assert rank_after(lst, 9, now) == (1, 31.0)
    assert rank_after([], 2, now) == (1, now.timestamp())
