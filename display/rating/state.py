"""What the rating pad shows, and its rules, in plain Python (no Qt)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["FREE_TEXT_MAX", "LEVELS", "RATE_TIMEOUT_S", "REASONS", "THANKS_S", "RatingState"]

log = logging.getLogger("qhall.evaluator")

#: score, Chinese, English, colour (green to red)
LEVELS = (
    (5, "非常满意", "Very satisfied", "#2E7D32"),
    (4, "满意", "Satisfied", "#7CB342"),
    (3, "基本满意", "Fairly satisfied", "#F9A825"),
    (2, "不满意", "Dissatisfied", "#EF6C00"),
    (1, "非常不满意", "Very dissatisfied", "#C62828"),
)
#: Why a citizen is dissatisfied: the common 差评 causes of GB/T 39734-2020
#: (政务服务评价工作指南), Chinese and English. Asked after a 2 or a 1.
REASONS = (
    ("服务态度差", "Poor attitude"),
    ("办事效率低", "Slow service"),
    ("业务不熟悉", "Unsure of the rules"),
    ("一次性告知不到位", "Not told all at once"),
    ("等候时间长", "Long wait"),
    ("环境设施差", "Poor facilities"),
    ("其他", "Other"),
)
#: Longest free text sent with the reasons (the server takes 200 characters).
FREE_TEXT_MAX = 120
#: Unrated after this long, the pad goes back to idle (the citizen left).
RATE_TIMEOUT_S = 60.0
#: The thank-you stays this long.
THANKS_S = 4.0
#: Remembered rated/offered tickets (bounded: a pad runs for weeks).
_MEMORY = 500


class RatingState:
    """What the pad shows. ``mode``: ``idle``, ``rate``, ``reason`` (after a
    1 or 2: why?), ``sending``, ``thanks``.

    Link messages use the apps' one vocabulary: :meth:`apply_welcome`,
    :meth:`apply_event`, :meth:`apply_reply`, :meth:`set_status`. The pad's
    only clock is UI time (its timeouts); it shows no hall time.

    Args:
        clock: monotonic seconds (injected for tests).
        rate_timeout_s: how long the five buttons wait for a tap.
        thanks_s: how long the thank-you stays.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 rate_timeout_s: float = RATE_TIMEOUT_S, thanks_s: float = THANKS_S) -> None:
        self.clock = clock
        self.rate_timeout_s = rate_timeout_s
        self.thanks_s = thanks_s
        self.counter: int | None = None
        self.counter_name = ""
        self.hall_name = ""
        self.staff: str | None = None
        self.counter_state = "closed"
        self.online = False
        self.mode = "idle"
        self.ticket: dict[str, Any] | None = None
        self.message = ""
        self.deadline: float | None = None
        self.score: int | None = None  # chosen, waiting for its reason
        self.reasons: list[str] = []  # chosen REASONS (Chinese), in list order
        self.free_text = ""
        self.outbox: dict[str, Any] | None = None  # a rate the pad must send
        self._done: list[str] = []  # tickets rated or offered (one rating per ticket)

    # -- link messages --------------------------------------------------------
    def apply_welcome(self, msg: dict[str, Any]) -> None:
        self.online = True
        self.counter = msg.get("counter")
        hall = msg.get("hall") or {}
        self.hall_name = hall.get("name", "")
        names = {c.get("number"): c.get("name", "") for c in hall.get("counters", [])}
        self.counter_name = names.get(self.counter, f"{self.counter}号窗口")
        snap = ((msg.get("snapshot") or {}).get("counters") or {}).get(str(self.counter)) or {}
        self.counter_state = snap.get("state", "closed")
        self.staff = (snap.get("staff") or {}).get("name")

    def set_status(self, status: str) -> None:
        """The link's status: ``connecting``, ``online``, ``offline`` or ``refused``."""
        self.online = status == "online"

    def apply_event(self, msg: dict[str, Any]) -> None:
        name, data = msg.get("name"), msg.get("data") or {}
        if self.counter is None or data.get("counter") != self.counter:
            return
        if name == "counter.opened":
            self.counter_state = "open"
            self.staff = (data.get("staff") or {}).get("name")
        elif name == "counter.closed":
            self.counter_state, self.staff = "closed", None
        elif name == "counter.paused":
            self.counter_state = "paused"
        elif name == "counter.resumed":
            self.counter_state = "open"
        elif name == "ticket.called" and self.mode in ("rate", "reason", "thanks"):
            # The next citizen is called here: the last one has gone.
            called = (data.get("ticket") or {}).get("id")
            if not self.ticket or called != self.ticket.get("id"):
                if self.mode == "reason":
                    self.outbox = self._request()  # keep the score already given
                    self.mode, self.deadline = "sending", None
                else:
                    self._enter("idle", None)
        elif name == "ticket.completed":
            ticket = data.get("ticket") or {}
            if ticket.get("id") and ticket["id"] not in self._done:
                self._remember(ticket["id"])
                self.ticket, self.message = ticket, ""
                self._enter("rate", self.rate_timeout_s)
        elif name == "ticket.rated":
            tid = (data.get("ticket") or {}).get("id")
            if tid:
                self._remember(tid)
            if self.mode == "rate" and self.ticket and self.ticket.get("id") == tid:
                self._enter("thanks", self.thanks_s)

    # -- the citizen ----------------------------------------------------------
    def tap(self, score: int) -> dict[str, Any] | None:
        """A tap on a level: the ``rate`` request to send, or None (nothing to rate)."""
        if self.mode != "rate" or self.ticket is None or score not in range(1, 6):
            return None
        self.score = score
        if score <= 2:
            # 不满意 / 非常不满意: ask why before sending (the follow-up needs it).
            self.reasons, self.free_text = [], ""
            self._enter("reason", self.rate_timeout_s)
            return None
        self.mode, self.deadline = "sending", None
        return self._request()

    def toggle_reason(self, reason: str) -> None:
        """Tick or untick one of :data:`REASONS` (its Chinese text)."""
        if self.mode != "reason" or reason not in (zh for zh, _ in REASONS):
            return
        if reason in self.reasons:
            self.reasons.remove(reason)
        else:
            self.reasons.append(reason)
        order = [zh for zh, _ in REASONS]
        self.reasons.sort(key=order.index)
        self._enter("reason", self.rate_timeout_s)  # still choosing: restart the wait

    def set_free_text(self, text: str) -> None:
        if self.mode == "reason":
            self.free_text = " ".join(text.split())[:FREE_TEXT_MAX]
            self._enter("reason", self.rate_timeout_s)

    def reason_text(self) -> str:
        """What goes in ``reason``: "服务态度差、等候时间长；free text" ("" if nothing)."""
        chosen = "、".join(self.reasons)
        return "；".join(part for part in (chosen, self.free_text) if part)

    def submit_reason(self) -> dict[str, Any] | None:
        """Send the chosen score with the reasons (none is fine too)."""
        if self.mode != "reason":
            return None
        self.mode, self.deadline = "sending", None
        return self._request()

    def back_to_levels(self) -> None:
        """From the reasons back to the five levels (a wrong tap)."""
        if self.mode == "reason":
            self.score = None
            self._enter("rate", self.rate_timeout_s)

    def take_outbox(self) -> dict[str, Any] | None:
        """A ``rate`` the pad must send by itself (the citizen left mid-reason)."""
        request, self.outbox = self.outbox, None
        return request

    def _request(self) -> dict[str, Any]:
        assert self.ticket is not None and self.score is not None
        request: dict[str, Any] = {"type": "rate", "ticket": self.ticket["id"],
                                   "score": self.score}
        reason = self.reason_text() if self.score <= 2 else ""
        if reason:
            request["reason"] = reason
        return request

    def apply_reply(self, request: dict[str, Any], reply: dict[str, Any]) -> None:
        """The server's answer to ``request`` (a ``rate`` this state made).

        A late answer about another ticket than the one on screen changes nothing.
        """
        if self.mode != "sending" or self.ticket is None \
                or request.get("ticket") != self.ticket.get("id"):
            return
        if reply.get("type") == "ok" or reply.get("code") == "conflict":
            # conflict: already rated (e.g. a resend that raced): thank anyway.
            self.message = ""
            self._enter("thanks", self.thanks_s)
        elif reply.get("code") in ("timeout", "offline", "internal"):
            self.message = "网络异常，请再点一次 Network problem, please tap again"
            # A 1 or 2 goes back to its reasons (kept), so one tap resends it.
            again = "reason" if self.score is not None and self.score <= 2 else "rate"
            self._enter(again, self.rate_timeout_s)
        else:
            log.warning("rating refused: %s %s", reply.get("code"), reply.get("message"))
            self.message = ""
            self._enter("idle", None)

    def tick(self) -> bool:
        """Advance timeouts; True if the mode changed."""
        if self.deadline is not None and self.clock() >= self.deadline:
            if self.mode == "reason":
                # The score was given: send it with whatever reasons were ticked.
                self.outbox = self._request()
                self.mode, self.deadline = "sending", None
                return True
            self._enter("idle", None)
            return True
        return False

    # -- texts ------------------------------------------------------------------
    def idle_text(self) -> str:
        if self.counter_state == "open" and self.staff:
            return f"{self.counter_name} · {self.staff} 为您服务"
        if self.counter_state == "paused":
            return f"{self.counter_name} · 暂停服务 Paused"
        if self.counter_state == "closed":
            return f"{self.counter_name} · 窗口已关闭 Closed"
        return f"{self.counter_name} · 欢迎 Welcome"

    def _enter(self, mode: str, seconds: float | None) -> None:
        self.mode = mode
        self.deadline = None if seconds is None else self.clock() + seconds
        if mode == "idle":
            self.ticket, self.score, self.reasons, self.free_text = None, None, [], ""

    def _remember(self, tid: str) -> None:
        if tid not in self._done:
            self._done.append(tid)
            del self._done[:-_MEMORY]
