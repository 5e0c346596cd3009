"""The invariants of a hall after a load run, checked on plain data.

A run's clients know what they were told (acknowledged tickets, the calls
each board saw, the seqs each board read); the store knows what happened
(its event log). :func:`check` compares the two and names every violation,
per invariant, so ``qhall loadtest --halls`` can print each one per hall;
:func:`stored_events` reads one hall's log. Pure functions of their input:
the tests plant violations in hand-made data.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.wire.lifecycle import STATUS_AFTER

__all__ = ["INVARIANTS", "BoardView", "check", "stored_events"]

#: Each invariant's key and what it says, in the order they are printed.
INVARIANTS: dict[str, str] = {
    "numbers": "no number issued twice per service and day",
    "called_once": "no ticket called twice (unless sent back to waiting between)",
    "seq": "the hall's event seqs are contiguous (stored log and every board's stream)",
    "boards": "every board saw every call of its hall exactly once, in order",
    "acked": "every acknowledged ticket exists in the store",
}

#: Events that put a ticket back in ``waiting``: it may be called again after one.
_BACK_TO_WAITING = frozenset(name for name, status in STATUS_AFTER.items()
                             if status == "waiting" and name != "ticket.issued")


@dataclass
class BoardView:
    """What one board saw: calls after its welcome's seq, and its seq stream."""

    welcome_seq: int
    calls: Sequence[str]
    gaps: int = 0  # seqs skipped in its stream
    repeats: int = 0  # seqs seen again or out of order


def stored_events(database: str, hall: str) -> list[dict[str, Any]]:
    """Every stored event of ``hall``, in seq order."""
    from server.store import Store

    store = Store(database)
    try:
        events: list[dict[str, Any]] = []
        while True:
            page = store.events_since(hall, events[-1]["seq"] if events else 0, limit=10000)
            if not page:
                return events
            events += page
    finally:
        store.close()


def check(events: Iterable[Mapping[str, Any]], acked: Iterable[str],
          boards: Mapping[str, BoardView], zone: dt.tzinfo) -> dict[str, list[str]]:
    """Every violation per invariant (keys of :data:`INVARIANTS`; empty lists: it holds).

    Args:
        events: the hall's stored events (``seq``, ``name``, ``at``, ``data``).
        acked: ids of the tickets whose ``issue`` was answered ``ok``.
        boards: per board, what it saw.
        zone: the hall's time zone (a number is unique per hall-local day).
    """
    problems: dict[str, list[str]] = {key: [] for key in INVARIANTS}
    log = list(events)
    seqs = [int(e["seq"]) for e in log]
    if seqs != list(range(1, len(seqs) + 1)):
        missing = sorted(set(range(1, (max(seqs) if seqs else 0) + 1)) - set(seqs))
        problems["seq"].append(f"stored seqs not 1..{len(seqs)}: {len(missing)} missing "
                               f"(first {missing[:3]}), {len(seqs) - len(set(seqs))} repeated")
    issued: set[str] = set()
    numbers: collections.Counter[tuple[str, str, str]] = collections.Counter()
    calls: list[tuple[int, str]] = []
    callable_again: collections.Counter[str] = collections.Counter()
    called_times: collections.Counter[str] = collections.Counter()
    twice: list[str] = []
    for e in log:
        data = e["data"] if isinstance(e["data"], Mapping) else {}
        ticket = data.get("ticket")
        if not isinstance(ticket, Mapping):
            continue
        tid = str(ticket.get("id"))
        if e["name"] == "ticket.issued":
            issued.add(tid)
            day = e["at"].astimezone(zone).date().isoformat()
            numbers[(day, str(ticket.get("service")), str(ticket.get("number")))] += 1
        elif e["name"] == "ticket.called":
            calls.append((int(e["seq"]), tid))
            called_times[tid] += 1
            if called_times[tid] > 1 + callable_again[tid]:
                twice.append(tid)
        elif e["name"] in _BACK_TO_WAITING:
            callable_again[tid] += 1
    repeated = sorted(k for k, n in numbers.items() if n > 1)
    if repeated:
        problems["numbers"].append(f"{len(repeated)} number(s) issued twice: {repeated[:3]}")
    if twice:
        problems["called_once"].append(f"{len(twice)} ticket(s) called twice: {twice[:3]}")
    lost = [t for t in acked if t not in issued]
    if lost:
        problems["acked"].append(f"{len(lost)} acknowledged ticket(s) not stored: {lost[:3]}")
    for name, board in sorted(boards.items()):
        if board.gaps or board.repeats:
            problems["seq"].append(f"board {name}: {board.gaps} seq(s) skipped, "
                                   f"{board.repeats} repeated or out of order")
        expected = [tid for seq, tid in calls if seq > board.welcome_seq]
        seen = list(board.calls)
        if seen != expected:
            unseen = collections.Counter(expected) - collections.Counter(seen)
            extra = collections.Counter(seen) - collections.Counter(expected)
            order = "" if unseen or extra else ", out of order"
            problems["boards"].append(
                f"board {name}: saw {len(seen)} of {len(expected)} calls "
                f"({sum(unseen.values())} missing, {sum(extra.values())} extra{order})")
    return problems
