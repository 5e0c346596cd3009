"""One estimate of the wait, in words, for every place a citizen reads it.

The kiosk's service tiles and ticket screen, the printed ticket and the
phone's ``/t/`` page all call :func:`estimate` on the same wire fields, so
they can never disagree (a tile saying "No wait" while the ticket says
"about 7 min"). Pure and stdlib only, like ``server/wire/protocol.py``: the
clients import it.

Fields read (any may be absent; see docs/PROTOCOL.md):

* ``eta_s``: seconds; 0 means the ticket is called any moment.
* ``eta_low_s`` / ``eta_high_s``: a range, shown when it spans minutes.
* ``eta_after``: ISO time; nothing happens before it (a break, the service
  or a counter opening): "约 13:40 后".
* ``open_counters`` (queue objects; for a ticket, its service's queue): 0
  with no ``eta_after`` means no counter serves it now; the estimate says
  so instead of inventing a wait.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Estimate", "estimate", "ahead_text"]


@dataclass(frozen=True)
class Estimate:
    """``kind``: ``soon``, ``minutes``, ``range``, ``after`` or ``no_counter``."""

    kind: str
    minutes: int = 0
    high: int = 0
    at: str = ""  # "13:40" (hall time) for ``after``

    def text(self, lang: str = "zh") -> str:
        """The estimate alone: "约 7 分钟" / "about 7 min"."""
        zh = lang != "en"
        if self.kind == "soon":
            return "即将叫号" if zh else "soon"
        if self.kind == "range":
            return (f"约 {self.minutes}-{self.high} 分钟" if zh
                    else f"about {self.minutes}-{self.high} min")
        if self.kind == "after":
            return f"约 {self.at} 后" if zh else f"after about {self.at}"
        if self.kind == "no_counter":
            return ("暂无窗口办理，开放后叫号" if zh
                    else "no counter open now; called once one opens")
        return f"约 {self.minutes} 分钟" if zh else f"about {self.minutes} min"

    def line(self, lang: str = "zh") -> str:
        """As a sentence: "预计等候 约 7 分钟" / "Estimated wait: about 7 min"."""
        if lang == "en":
            return f"Estimated wait: {self.text('en')}"
        return f"预计等候 {self.text('zh')}"

    def both(self) -> str:
        """Chinese first, English second (for bilingual places like /t/)."""
        return f"{self.text('zh')} {self.text('en')}"


def _minutes(seconds: Any) -> int | None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        return None
    return max(1, math.ceil(seconds / 60))


def _after(value: Any, tz: dt.tzinfo | None) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        return ""
    if at.tzinfo is not None and tz is not None:
        at = at.astimezone(tz)
    return at.strftime("%H:%M")


def estimate(obj: Mapping[str, Any], queue: Mapping[str, Any] | None = None,
             tz: dt.tzinfo | None = None) -> Estimate | None:
    """The estimate of a ticket or queue object (None: nothing to say).

    Args:
        obj: a ticket or queue object from the wire.
        queue: for a ticket, its service's queue object (``open_counters``).
        tz: the hall's time zone for ``eta_after`` (default: the time's own offset).
    """
    at = _after(obj.get("eta_after"), tz)
    if at:
        return Estimate("after", at=at)
    open_counters = obj.get("open_counters")
    if open_counters is None and queue is not None:
        open_counters = queue.get("open_counters")
    if open_counters == 0:
        return Estimate("no_counter")
    eta = obj.get("eta_s")
    if isinstance(eta, bool) or not isinstance(eta, int | float):
        return None
    if eta <= 0:
        return Estimate("soon")
    low, high = _minutes(obj.get("eta_low_s")), _minutes(obj.get("eta_high_s"))
    if low is not None and high is not None and high > low:
        return Estimate("range", minutes=low, high=high)
    return Estimate("minutes", minutes=_minutes(eta) or 1)


def ahead_text(ahead: int, lang: str = "zh") -> str:
    """People ahead of a ticket, honest when it is next but counters are busy."""
    if lang == "en":
        if ahead == 0:
            return "You are next in line"
        return "1 person ahead of you" if ahead == 1 else f"{ahead} people ahead of you"
    return "下一位就是您" if ahead == 0 else f"前面等候 {ahead} 人"
