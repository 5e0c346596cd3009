"""UTC time helpers, written once for the server, the store and the clients.

Rules:

* Every time inside qhall is an *aware* datetime; the default clock is
  :func:`utcnow`. Hall-local dates and wire strings are derived from it
  with the hall's timezone where they are shown.
* The database holds naive UTC (SQLite has no zone): :func:`naive_utc`
  converts on the way in and refuses a naive time (it cannot be placed),
  :func:`aware_utc` converts on the way out.
"""

from __future__ import annotations

import datetime as dt
from typing import overload

__all__ = ["utcnow", "naive_utc", "aware_utc"]


def utcnow() -> dt.datetime:
    """Now, as an aware UTC datetime (the default clock everywhere)."""
    return dt.datetime.now(dt.UTC)


@overload
def naive_utc(value: dt.datetime, what: str = ...) -> dt.datetime: ...
@overload
def naive_utc(value: None, what: str = ...) -> None: ...
def naive_utc(value: dt.datetime | None, what: str = "time") -> dt.datetime | None:
    """Aware datetime -> naive UTC for the database; ``None`` passes.

    Raises:
        TypeError: not a datetime. ValueError: a naive datetime.
    """
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@overload
def aware_utc(value: dt.datetime) -> dt.datetime: ...
@overload
def aware_utc(value: None) -> None: ...
def aware_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Naive UTC from the database -> aware UTC; ``None`` passes."""
    return None if value is None else value.replace(tzinfo=dt.UTC)
