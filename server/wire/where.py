"""Where a citizen goes for a service: its zone, else its counter numbers.

Shared by the printed ticket, the kiosk's ticket screen, the boards and the
demo hall's zones, so all of them say the same thing. Works on the welcome's
plain service and counter objects (``zone``; ``number`` and ``services``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["LABEL", "counter_span", "service_counters", "where_text"]

#: The caption before the place, per language.
LABEL = {"zh": "办理地点", "en": "Go to"}


def counter_span(numbers: Iterable[int]) -> str:
    """Counter numbers as short runs: ``[1, 2, 3, 4, 36]`` -> ``"1-4、36"``."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return "、".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def service_counters(sid: str, counters: Iterable[Mapping[str, Any]]) -> list[int]:
    """The numbers of the counters that serve ``sid``."""
    return [int(c["number"]) for c in counters
            if isinstance(c.get("number"), int) and sid in (c.get("services") or ())]


def where_text(service: Mapping[str, Any], counters: Iterable[Mapping[str, Any]],
               lang: str = "zh") -> str:
    """The place to go for ``service``: its ``zone`` when set, else its counters
    ("1-4、36号窗口" / "Counters 1-4, 36"); "" when neither is known."""
    zone = str(service.get("zone") or "").strip()
    if zone:
        return zone
    numbers = service_counters(str(service.get("id", "")), counters)
    if not numbers:
        return ""
    span = counter_span(numbers)
    if lang == "en":
        return ("Counter " if len(numbers) == 1 else "Counters ") + span.replace("、", ", ")
    return f"{span}号窗口"
