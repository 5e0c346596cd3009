"""``Store.commit`` in steps: check and shape the batch first, then write it.

Everything that can fail on bad input happens in :func:`prepare`, before the
transaction, which then only executes statements (:func:`write`):

1. :func:`assign_seqs` advances the hall's ``last_seq`` by the number of
   events (the UPDATE row-locks the hall on PostgreSQL, so concurrent commits
   of one hall queue up there and each gets the next block of seqs);
2. :func:`write_tickets`: new tickets take their numbers by compare-and-set
   on the numbering row (``last_number = n - 1 -> n``; inserted for number
   1), a run of consecutive numbers of one series in one step (``first - 1
   -> last``: a group of issues), and are inserted in one ``executemany``;
   then a changed one is written ``WHERE version = prev``;
3. the event rows;
4. the counter rows: each counter an event carries (``Event.counter``,
   the core's state after it) is upserted, the last state winning;
5. the idempotency replies (one per request of a group), then the caller's own ``extra`` writes.

A lost race in 2 raises ``StaleState`` and the transaction rolls back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.engine import Connection

from server.core.model import Event
from server.store.convert import check_key, counter_row, ticket_params
from server.store.errors import StaleState
from server.store.prepared import PURGE_REPLIES, Prepared, Raw

__all__ = ["Batch", "TicketWrite", "Write", "prepare", "write"]

#: More writes run on the commit's connection, inside its transaction (the
#: store's own bookings and follow-ups modules make them).
Write = Callable[[Connection], None]


@dataclasses.dataclass
class TicketWrite:
    """One ticket row to write: new (insert) or changed since ``prev`` (update)."""

    new: bool
    params: dict[str, Any]
    prev: int | None


@dataclasses.dataclass
class Batch:
    """One commit, checked and shaped into rows (``when``: naive UTC)."""

    hall: str
    when: dt.datetime
    tickets: list[TicketWrite]
    counters: dict[int, dict[str, Any]]
    events: list[dict[str, Any]]
    replies: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    extra: Write | None = None

    @property
    def empty(self) -> bool:
        return not self.events and not self.replies and self.extra is None


def _event_json(event: Event) -> str:
    if not isinstance(event, Event):
        raise TypeError(f"commit() takes Event objects, not {type(event).__name__}")
    check_key(event.name, "event name")
    if not isinstance(event.data, dict):
        raise TypeError(f"{event.name}: event data must be a dict")
    try:
        return json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{event.name}: event data is not JSON: {error}") from None


def _ticket_write(hall: str, event: Event) -> TicketWrite | None:
    t, prev = event.ticket, event.prev_version
    if t is None:
        if prev is not None:
            raise ValueError(f"{event.name}: prev_version given without a ticket")
        return None
    if prev is not None and t.version <= prev:
        raise ValueError(
            f"{event.name}: ticket {t.id} version {t.version} must be above "
            f"prev_version {prev}"
        )
    return TicketWrite(prev is None, ticket_params(hall, t), prev)


def prepare(hall: str, events: Iterable[Event], when: dt.datetime,
            replies: list[dict[str, Any]] | None = None, extra: Write | None = None) -> Batch:
    """Check the events and shape their rows (no I/O; raises ValueError/TypeError)."""
    batch = Batch(hall, when, [], {}, [], list(replies or ()), extra)
    written: set[tuple[str, int]] = set()
    for event in events:
        data = _event_json(event)
        op = _ticket_write(hall, event)
        # The same ticket state attached to two events is written once.
        if op is not None and (op.params["id"], op.params["version"]) not in written:
            written.add((op.params["id"], op.params["version"]))
            batch.tickets.append(op)
        if event.counter is not None:
            batch.counters[int(event.counter.number)] = counter_row(hall, event.counter, when)
        batch.events.append({"hall": hall, "name": event.name, "data": data, "at": when,
                             "ticket": event.ticket.id if event.ticket is not None else None})
    return batch


def write(conn: Connection, sql: dict[str, Prepared], batch: Batch, purge: bool) -> None:
    """Run the batch's statements on ``conn`` (inside its transaction)."""
    raw = Raw(conn)
    try:
        if batch.events:
            assign_seqs(raw, sql, batch.hall, batch.events)
        write_tickets(raw, sql, batch.hall, batch.tickets)
        if batch.events:
            raw.executemany(sql["event_insert"], batch.events)
        if batch.counters:
            raw.executemany(sql["counter_upsert"], list(batch.counters.values()))
        if batch.replies:
            if purge:
                conn.execute(PURGE_REPLIES, {"now": batch.when})
            raw.executemany(sql["reply_insert"], batch.replies)
    finally:
        raw.close()
    if batch.extra is not None:
        batch.extra(conn)


def assign_seqs(raw: Raw, sql: dict[str, Prepared], hall: str,
                rows: list[dict[str, Any]]) -> None:
    """Give the event rows the hall's next seqs (no gaps, none shared)."""
    params = {"h": hall, "n": len(rows)}
    row = raw.execute(sql["advance_seq"], params).fetchone()
    if row is None:  # the hall's first event ever
        raw.execute(sql["hall_first"], {"id": hall, "last_seq": 0})
        row = raw.execute(sql["advance_seq"], params).fetchone()
    first = int(row[0]) - len(rows) + 1
    for i, event_row in enumerate(rows):
        event_row["seq"] = first + i


def write_tickets(raw: Raw, sql: dict[str, Prepared], hall: str,
                  ops: list[TicketWrite]) -> None:
    """New tickets (their numbers taken, then one insert for all), then the
    updates in order (an update never needs to come before an insert)."""
    new = [op.params for op in ops if op.new]
    if new:
        take_numbers(raw, sql, new)
        raw.executemany(sql["ticket_insert"], new)
    for op in ops:
        if op.new:
            continue
        params = {**op.params, "t_id": op.params["id"], "t_hall": hall, "t_prev": op.prev}
        if raw.execute(sql["ticket_update"], params).rowcount != 1:
            raise StaleState(
                f"ticket {params['number']} ({params['t_id']}) changed since version {op.prev}"
            )


def take_numbers(raw: Raw, sql: dict[str, Prepared], rows: list[dict[str, Any]]) -> None:
    """Take the numbers of these new tickets, one compare-and-set per series:
    a series' numbers in a commit must run on from its last one without a gap
    or a repeat (a group of issues), else another issue came first."""
    series: dict[tuple[Any, Any, Any], list[dict[str, Any]]] = {}
    for params in rows:
        if params["seqno"] < 1:
            raise ValueError(
                f"ticket {params['id']}: number must start at 1, got {params['seqno']}")
        # A route ticket's number is from its route's series, not its first step's.
        key = (params["hall"], params.get("route_id") or params["service"], params["day"])
        series.setdefault(key, []).append(params)
    for (hall, service, day), run in series.items():
        first, last = run[0]["seqno"], run[-1]["seqno"]
        if [p["seqno"] for p in run] != list(range(first, last + 1)):
            raise StaleState(f"numbers {', '.join(p['number'] for p in run)} of {service} on "
                             f"{day} do not run on one by one (another issue came first)")
        if first == 1:  # a concurrent first issue collides on the primary key
            raw.execute(sql["number_first"], {"hall": hall, "service": service, "day": day,
                                              "last_number": last})
            continue
        done = raw.execute(sql["number_cas"], {
            "n_hall": hall, "n_service": service, "n_day": day,
            "n_prev": first - 1, "n_next": last}).rowcount
        if done != 1:
            raise StaleState(
                f"number {run[0]['number']} of {service} on {day} "
                f"is not the next one (another issue came first)")


