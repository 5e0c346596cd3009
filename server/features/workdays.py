"""Working days (Monday to Friday; public holidays are out of scope): booking
windows and follow-up due dates count in them."""

from __future__ import annotations

import datetime as dt

__all__ = ["add_working_days", "working_days_between"]


def working_days_between(a: dt.date, b: dt.date) -> int:
    """Working days (Mon-Fri) ``d`` with ``a < d <= b``; 0 when ``b <= a``."""
    if b <= a:
        return 0
    days = (b - a).days
    weeks, rest = divmod(days, 7)
    count = weeks * 5
    for i in range(1, rest + 1):
        if (a + dt.timedelta(days=weeks * 7 + i)).weekday() < 5:
            count += 1
    return count


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The working day ``n`` working days after ``day`` (``n >= 0``)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    while n > 0 or day.weekday() >= 5:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day
