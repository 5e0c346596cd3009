"""Readers of wire data: the one lenient way clients read a time or a counter.

Pure (stdlib only). A client must survive whatever a server of another
version sends, so a reader never raises: a value it cannot read is
``None`` and the caller keeps what it had (or uses its own clock).

Rules:

* A time on the wire is ISO 8601 **with its offset** (the server writes
  hall-local times with ``+08:00``). A time without an offset cannot be
  placed: it is not read (``None``), never guessed as UTC, which would be
  hours off for a hall east or west of Greenwich.
* A counter is named by its number: an integer (``true``/``false`` are not
  numbers), a string of ASCII digits (snapshot keys are ``"3"``), or a
  counter object with a ``number``. Anything else (``" 3"``, ``"²"``,
  ``{"number": {"number": 3}}``) is not a counter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["parse_time", "counter_number"]


def parse_time(value: Any) -> dt.datetime | None:
    """An aware datetime from an ISO 8601 wire time; ``None`` if absent, bad or naive."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def counter_number(value: Any) -> int | None:
    """A counter number from an int, an ASCII digit string or a counter object."""
    if isinstance(value, dict):
        value = value.get("number")
        if isinstance(value, dict):
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None
