"""Which instance failures a client's outage overlapped (``qhall chaos``'s split).

``qhall chaos`` kills (SIGKILL) or freezes (SIGSTOP) an instance every few
seconds, and a device's outage may span one failure or several: a victim
owning many halls is still being taken over when the next kill lands. The
target "no client offline for more than 20 s" stays as it is; this split
shows where the time goes.

An instance's *failure* runs from its SIGKILL / SIGSTOP (or from finding it
exited by itself) until it is back: woken (SIGCONT), or restarted and
answering HTTP again (``ready``). An outage is classed by how many failures
overlapped it: :data:`SINGLE` (one), :data:`OVERLAPPING` (two or more) or
:data:`NO_FAILURE` (none: the device lost its server for another reason).
Pure functions on event lists, so the rules are tested without processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

__all__ = ["SINGLE", "OVERLAPPING", "NO_FAILURE", "CLASSES", "Failure", "failures",
           "overlapping", "classify", "struck"]

SINGLE = "single failure"
OVERLAPPING = "overlapping failures"
NO_FAILURE = "no instance failure"
#: In the order the report prints them.
CLASSES = (SINGLE, OVERLAPPING, NO_FAILURE)

#: Instance events that begin a failure, and what ends each.
_BEGINS = {"SIGKILL": "ready", "SIGSTOP": "SIGCONT", "exited": "ready"}


@dataclasses.dataclass(frozen=True)
class Failure:
    """Instance ``instance`` down (``how``: SIGKILL, SIGSTOP, exited) from
    ``began`` to ``ended`` (``None``: not back by the end of the run)."""

    instance: str
    how: str
    began: float
    ended: float | None

    def overlaps(self, start: float, end: float) -> bool:
        """Whether this failure was under way at some moment of ``[start, end]``."""
        return self.began <= end and (self.ended is None or self.ended >= start)


def failures(events: Iterable[tuple[float, str, str]]) -> list[Failure]:
    """Every failure in ``events`` (``(at, instance, what)``, any order), by start.

    ``what``: ``SIGKILL``, ``SIGSTOP``, ``exited`` begin a failure;
    ``SIGCONT`` ends a SIGSTOP, ``ready`` (answering HTTP after a spawn) ends
    a SIGKILL or an exit. Anything else (``spawn``...) changes nothing, and
    so does an end with no failure under way (the first ``ready``).
    """
    out: list[Failure] = []
    under_way: dict[str, tuple[str, float]] = {}  # instance -> (how, began)
    for at, instance, what in sorted(events, key=lambda e: e[0]):
        current = under_way.get(instance)
        if what in _BEGINS:
            if current is not None and _BEGINS[current[0]] == "ready" and what == "exited":
                continue  # a killed process found gone: the same failure
            if current is not None:  # a frozen one killed: the freeze ends there
                out.append(Failure(instance, current[0], current[1], at))
            under_way[instance] = (what, at)
        elif current is not None and _BEGINS[current[0]] == what:
            out.append(Failure(instance, current[0], current[1], at))
            del under_way[instance]
    out += [Failure(instance, how, began, None) for instance, (how, began) in under_way.items()]
    return sorted(out, key=lambda f: f.began)


def overlapping(start: float, end: float, found: Iterable[Failure]) -> list[Failure]:
    """The failures under way at some moment of the outage ``[start, end]``."""
    return [f for f in found if f.overlaps(start, end)]


def struck(start: float, end: float, found: Iterable[Failure]) -> bool:
    """Whether a failure began while the device was already offline (a kill
    that lengthened an outage, not the one that began it)."""
    return any(start < f.began <= end for f in found)


def classify(start: float, end: float, found: Iterable[Failure]) -> str:
    """:data:`SINGLE`, :data:`OVERLAPPING` or :data:`NO_FAILURE` for the outage ``[start, end]``."""
    n = len(overlapping(start, end, found))
    return NO_FAILURE if n == 0 else SINGLE if n == 1 else OVERLAPPING
