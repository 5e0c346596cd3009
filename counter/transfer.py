"""Where the counter's current ticket can be transferred: one list of services
and counters, each with its state and queue, filtered by what the staff types.

Plain Python (the dialog in ``counter/view.py`` only shows it). A counter
that is closed or paused is listed, greyed, so the staff sees why it is not
offered: the server refuses such a transfer (``closed``) because nobody
would call the ticket there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from counter.state import CounterModel

__all__ = ["Target", "transfer_choices"]

_STATE_TEXT = {"open": ("开放", "open"), "paused": ("暂停", "paused"),
               "closed": ("未开放", "closed")}


@dataclass(frozen=True)
class Target:
    """One row of the transfer dialog."""

    request: dict[str, Any]  # {"service": id} or {"counter": n}
    label: str  # Chinese name
    label_en: str
    detail: str  # state and queue, both languages
    enabled: bool
    keywords: str  # what the filter matches (lower case)


def transfer_choices(state: CounterModel, text: str = "") -> list[Target]:
    """Services (but the ticket's own), then the other counters, matching ``text``.

    ``text`` matches, case-insensitively, a service's name, English name, id
    or prefix and a counter's name, number and the services it serves.
    """
    own = (state.current or {}).get("service")
    out: list[Target] = []
    for sid, svc in state.services.items():
        if sid == own:
            continue
        waiting = state.queue_waiting.get(sid, 0)
        open_n = state.open_counters.get(sid)
        where = (f" · {open_n} 个窗口开放 {open_n} open" if open_n
                 else " · 暂无窗口开放 no counter open" if open_n == 0 else "")
        name, name_en = str(svc.get("name") or sid), str(svc.get("name_en") or sid)
        out.append(Target(
            {"service": sid}, name, name_en, f"业务 service · {waiting} 人等候 waiting{where}",
            True, " ".join((name, name_en, sid, str(svc.get("prefix") or ""))).lower()))
    for number, info in sorted(state.counters.items()):
        if number == state.counter:
            continue
        status = state.counter_states.get(number, "closed")
        zh, en = _STATE_TEXT.get(status, (status, status))
        name = str(info.get("name") or f"{number}号窗口")
        served = "、".join(state.service_name(s) for s in info.get("services", ()))
        waiting = state.counter_waiting(number)
        out.append(Target(
            {"counter": number}, name, f"Counter {number}",
            f"{zh} {en} · {waiting} 人等候 waiting · {served}", status == "open",
            " ".join((name, str(number), f"counter {number}", served,
                      *info.get("services", ()))).lower()))
    words = text.strip().lower().split()
    return [t for t in out if all(w in t.keywords for w in words)]
