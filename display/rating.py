"""``qhall evaluator``: the 好差评 rating pad next to a counter (800x480, touch).

Three parts in one small module:

* :class:`RatingState` (plain Python, no Qt objects): applies the link's messages and
  the citizen's tap; tested without widgets.
* :class:`RatingView` (dumb widgets): idle ("3号窗口 · 王芳 为您服务"), the
  five levels 非常满意 … 非常不满意 with a face and a colour each (green to
  red), and the thank-you; emits ``rated(score)``.
* :class:`RatingPad` (wiring): link → state → view, taps → ``rate`` requests,
  a timer that returns to idle.

The pad's counter comes from the server's welcome (the device's counter in
the hall configuration), never from the command line. It offers a rating
after ``ticket.completed`` at its counter, once per ticket ("一次一评"); a
ticket already rated (here or replayed) is never offered again.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractButton,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

__all__ = [
    "LEVELS",
    "REASONS",
    "RATE_TIMEOUT_S",
    "THANKS_S",
    "RatingState",
    "RatingView",
    "RatingPad",
    "configure",
    "run",
]

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
    def on_welcome(self, msg: dict[str, Any]) -> None:
        self.online = True
        self.counter = msg.get("counter")
        hall = msg.get("hall") or {}
        self.hall_name = hall.get("name", "")
        names = {c.get("number"): c.get("name", "") for c in hall.get("counters", [])}
        self.counter_name = names.get(self.counter, f"{self.counter}号窗口")
        snap = ((msg.get("snapshot") or {}).get("counters") or {}).get(str(self.counter)) or {}
        self.counter_state = snap.get("state", "closed")
        self.staff = (snap.get("staff") or {}).get("name")

    def on_status(self, status: str) -> None:
        self.online = status == "online"

    def on_event(self, msg: dict[str, Any]) -> None:
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

    def on_reply(self, reply: dict[str, Any]) -> None:
        """The server's answer to the ``rate`` request."""
        if self.mode != "sending":
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


# ---------------------------------------------------------------------- view

FONT_FAMILY = "WenQuanYi Micro Hei"
BLUE = "#0B4F9C"


def _font(px: int, bold: bool = False) -> QFont:
    font = QFont(FONT_FAMILY)
    font.setPixelSize(max(1, px))
    font.setBold(bold)
    return font


class FaceButton(QAbstractButton):
    """A big coloured button: a face (smile to frown), the level in Chinese and English."""

    def __init__(self, score: int, zh: str, en: str, colour: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.score, self.zh, self.en, self.colour = score, zh, en, QColor(colour)
        self.setText(f"{zh} {en}")
        self.setMinimumSize(120, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def paintEvent(self, _event: Any) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(4, 4, -4, -4)
        fill = self.colour.darker(120) if self.isDown() else self.colour
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(fill)
        p.drawRoundedRect(r, 18, 18)
        # the face: a white disc, two eyes, a mouth whose curve goes from a
        # smile (5) through a straight line (3) to a frown (1)
        d = min(r.width() * 0.62, r.height() * 0.42)
        c = QPointF(r.center().x(), r.top() + r.height() * 0.08 + d / 2)
        p.setBrush(QColor("white"))
        p.drawEllipse(c, d / 2, d / 2)
        p.setBrush(fill)
        for dx in (-0.17, 0.17):
            p.drawEllipse(QPointF(c.x() + dx * d, c.y() - 0.1 * d), d * 0.065, d * 0.065)
        pen = QPen(fill, max(2.0, d * 0.07))
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        bend = (self.score - 3) * 0.09 * d
        mouth = QPainterPath(QPointF(c.x() - 0.22 * d, c.y() + 0.17 * d))
        mouth.quadTo(QPointF(c.x(), c.y() + 0.17 * d + 2 * bend),
                     QPointF(c.x() + 0.22 * d, c.y() + 0.17 * d))
        p.drawPath(mouth)
        # the words
        p.setPen(QColor("white"))
        top = c.y() + d / 2 + r.height() * 0.04
        zh_h = r.height() * 0.16
        # One size for all five (sized for the longest, 非常不满意), so none shouts.
        p.setFont(_font(int(min(zh_h * 0.8, r.width() / 5.6)), bold=True))
        p.drawText(QRectF(r.left(), top, r.width(), zh_h), Qt.AlignmentFlag.AlignCenter, self.zh)
        p.setFont(_font(int(min(r.height() * 0.065, r.width() / 9))))
        p.drawText(QRectF(r.left() + 4, top + zh_h, r.width() - 8, r.bottom() - top - zh_h),
                   Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                   | Qt.TextFlag.TextWordWrap, self.en)
        p.end()


class RatingView(QWidget):
    """The pad's screen: four pages (idle, rate, reason, thanks).

    Signals: ``rated(score)`` on a level, ``reason_toggled(zh)``,
    ``free_text(text)``, ``reason_submitted()`` and ``reason_back()`` on the
    reason page.
    """

    rated = Signal(int)
    reason_toggled = Signal(str)
    free_text = Signal(str)
    reason_submitted = Signal()
    reason_back = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("qhall 评价器")
        self.resize(800, 480)
        self.setStyleSheet("background:#FFFFFF;")
        self.stack = QStackedLayout(self)

        self.idle_page = QWidget()
        lay = QVBoxLayout(self.idle_page)
        self.idle_hall = QLabel()
        self.idle_hall.setStyleSheet(f"color:{BLUE};")
        self.idle_label = QLabel()
        self.idle_label.setWordWrap(True)
        self.idle_hint = QLabel("服务结束后请您评价 Please rate our service when done")
        self.idle_hint.setStyleSheet("color:#666;")
        self.status = QLabel()
        self.status.setStyleSheet("color:#C62828;")
        for w in (self.idle_hall, self.idle_label, self.idle_hint, self.status):
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addStretch(1)
        for w in (self.idle_hall, self.idle_label, self.idle_hint):
            lay.addWidget(w)
        lay.addStretch(1)
        lay.addWidget(self.status)

        self.rate_page = QWidget()
        lay = QVBoxLayout(self.rate_page)
        self.title = QLabel("请对本次服务进行评价")
        self.subtitle = QLabel("Please rate our service")
        self.ticket_label = QLabel()
        for w in (self.title, self.subtitle, self.ticket_label):
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setStyleSheet(f"color:{BLUE};")
        self.subtitle.setStyleSheet("color:#555;")
        self.ticket_label.setStyleSheet("color:#555;")
        self.retry = QLabel()
        self.retry.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.retry.setStyleSheet("color:#C62828;")
        row = QHBoxLayout()
        row.setSpacing(10)
        self.buttons: dict[int, FaceButton] = {}
        for score, zh, en, colour in LEVELS:
            b = FaceButton(score, zh, en, colour)
            b.clicked.connect(lambda _=False, s=score: self.rated.emit(s))
            self.buttons[score] = b
            row.addWidget(b)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addLayout(row, 1)
        lay.addWidget(self.ticket_label)
        lay.addWidget(self.retry)

        self.reason_page = QWidget()
        lay = QVBoxLayout(self.reason_page)
        self.reason_title = QLabel("请告诉我们哪里不满意（可多选）")
        self.reason_subtitle = QLabel("What went wrong? (choose any)")
        self.reason_title.setStyleSheet(f"color:{BLUE};")
        self.reason_subtitle.setStyleSheet("color:#555;")
        for w in (self.reason_title, self.reason_subtitle):
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lay.addWidget(w)
        grid = QGridLayout()
        grid.setSpacing(8)
        self.reason_buttons: dict[str, QPushButton] = {}
        for i, (zh, en) in enumerate(REASONS):
            rb = QPushButton(f"{zh}\n{en}")
            rb.setObjectName(f"reason-{i}")
            rb.setCheckable(True)
            # Ignored width: four equal columns, whatever the text.
            rb.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
            rb.setStyleSheet(
                "QPushButton { background:#F4F6F9; color:#1A1A1A; border:2px solid #C9D3E0;"
                " border-radius:10px; }"
                " QPushButton:checked { background:#EF6C00; color:white; border-color:#EF6C00; }")
            rb.clicked.connect(lambda _=False, r=zh: self.reason_toggled.emit(r))
            self.reason_buttons[zh] = rb
            grid.addWidget(rb, i // 4, i % 4)
        for column in range(4):
            grid.setColumnStretch(column, 1)
        lay.addLayout(grid, 1)
        self.reason_edit = QLineEdit()
        self.reason_edit.setObjectName("reason-text")
        self.reason_edit.setMaxLength(FREE_TEXT_MAX)
        self.reason_edit.setPlaceholderText("其他意见（可不填）Other comments (optional)")
        self.reason_edit.textEdited.connect(self.free_text.emit)
        lay.addWidget(self.reason_edit)
        actions = QHBoxLayout()
        self.reason_back_button = QPushButton("‹ 返回 Back")
        self.reason_back_button.setObjectName("reason-back")
        self.reason_back_button.clicked.connect(self.reason_back.emit)
        self.reason_submit = QPushButton("提交评价 Submit")
        self.reason_submit.setObjectName("reason-submit")
        self.reason_submit.setStyleSheet(
            "QPushButton { background:#2E7D32; color:white; border:none; border-radius:10px; }")
        self.reason_submit.clicked.connect(self.reason_submitted.emit)
        for action in (self.reason_back_button, self.reason_submit):
            action.setMinimumHeight(60)
        actions.addWidget(self.reason_back_button, 1)
        actions.addWidget(self.reason_submit, 2)
        lay.addLayout(actions)

        self.thanks_page = QWidget()
        lay = QVBoxLayout(self.thanks_page)
        self.thanks = QLabel("感谢您的评价")
        self.thanks_en = QLabel("Thank you")
        self.thanks.setStyleSheet("color:#2E7D32;")
        self.thanks_en.setStyleSheet("color:#2E7D32;")
        for w in (self.thanks, self.thanks_en):
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addStretch(1)
        lay.addWidget(self.thanks)
        lay.addWidget(self.thanks_en)
        lay.addStretch(1)

        for page in (self.idle_page, self.rate_page, self.reason_page, self.thanks_page):
            self.stack.addWidget(page)
        self._fonts()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fonts()

    def _fonts(self) -> None:
        # Everything scales with the window (reference 800x480).
        k = min(self.width() / 800, self.height() / 480)
        self.idle_hall.setFont(_font(int(26 * k)))
        self.idle_label.setFont(_font(int(44 * k), bold=True))
        self.idle_hint.setFont(_font(int(22 * k)))
        self.status.setFont(_font(int(18 * k)))
        self.title.setFont(_font(int(34 * k), bold=True))
        self.subtitle.setFont(_font(int(20 * k)))
        self.ticket_label.setFont(_font(int(18 * k)))
        self.retry.setFont(_font(int(18 * k)))
        self.reason_title.setFont(_font(int(30 * k), bold=True))
        self.reason_subtitle.setFont(_font(int(18 * k)))
        for rb in self.reason_buttons.values():
            rb.setFont(_font(int(20 * k), bold=True))
        self.reason_edit.setFont(_font(int(22 * k)))
        self.reason_edit.setMinimumHeight(int(56 * k))
        for action in (self.reason_back_button, self.reason_submit):
            action.setFont(_font(int(24 * k), bold=True))
        self.thanks.setFont(_font(int(64 * k), bold=True))
        self.thanks_en.setFont(_font(int(36 * k)))

    # render(state) is the views' contract (docs/ARCHITECTURE.md); it shadows
    # QWidget.render(device), which nothing here calls from Python.
    def render(self, state: RatingState) -> None:  # type: ignore[override]
        """Show ``state``."""
        sending = self.reason_page if state.score is not None and state.score <= 2 \
            else self.rate_page
        page = {"idle": self.idle_page, "rate": self.rate_page, "reason": self.reason_page,
                "sending": sending, "thanks": self.thanks_page}[state.mode]
        self.stack.setCurrentWidget(page)
        self.idle_hall.setText(state.hall_name)
        self.idle_label.setText(state.idle_text())
        self.status.setText("" if state.online else "连接中断 Offline")
        number = (state.ticket or {}).get("number")
        self.ticket_label.setText(f"{number} · {state.counter_name}" if number else "")
        self.retry.setText(state.message)
        for b in self.buttons.values():
            b.setEnabled(state.mode == "rate")
        for zh, rb in self.reason_buttons.items():
            rb.setChecked(zh in state.reasons)
            rb.setEnabled(state.mode == "reason")
        if self.reason_edit.text() != state.free_text and not self.reason_edit.hasFocus():
            self.reason_edit.setText(state.free_text)
        for w in (self.reason_edit, self.reason_back_button, self.reason_submit):
            w.setEnabled(state.mode == "reason")


# ---------------------------------------------------------------------- wiring


class RatingPad:
    """Wires a link (``server.client.qtlink.Link`` or a FakeLink), a state and a view."""

    TICK_MS = 250

    def __init__(self, link: Any, state: RatingState, view: RatingView) -> None:
        self.link, self.state, self.view = link, state, view
        self.refusal: dict[str, Any] | None = None
        self._replies: list[Any] = []  # keep reply objects alive until done
        link.welcomed.connect(self._welcome)
        link.event.connect(self._event)
        link.status.connect(self._status)
        link.refused.connect(self._refused)
        view.rated.connect(self.tap)
        view.reason_toggled.connect(lambda r: self._do(self.state.toggle_reason, r))
        view.free_text.connect(lambda t: self._do(self.state.set_free_text, t))
        view.reason_back.connect(lambda: self._do(self.state.back_to_levels))
        view.reason_submitted.connect(lambda: self._send(self.state.submit_reason()))
        self.timer = QTimer(view)
        self.timer.timeout.connect(self._tick)
        self.timer.start(self.TICK_MS)
        view.render(state)

    def tap(self, score: int) -> None:
        self._send(self.state.tap(score))

    def _do(self, action: Callable[..., None], *args: Any) -> None:
        action(*args)
        self.view.render(self.state)

    def _send(self, request: dict[str, Any] | None) -> None:
        if request is not None:
            kind = request.pop("type")
            reply = self.link.request(kind, **request)
            self._replies.append(reply)
            reply.done.connect(lambda message, r=reply: self._reply(r, message))
        self.view.render(self.state)

    def _reply(self, reply: Any, message: dict[str, Any]) -> None:
        if reply in self._replies:
            self._replies.remove(reply)
        self.state.on_reply(message)
        self.view.render(self.state)

    def _welcome(self, msg: dict[str, Any]) -> None:
        self.state.on_welcome(msg)
        self.view.render(self.state)

    def _event(self, msg: dict[str, Any]) -> None:
        self.state.on_event(msg)
        self._send(self.state.take_outbox())

    def _status(self, status: str) -> None:
        self.state.on_status(status)
        self.view.render(self.state)

    def _refused(self, msg: dict[str, Any]) -> None:
        self.refusal = msg
        self.state.online = False
        self.view.render(self.state)

    def _tick(self) -> None:
        if self.state.tick():
            self._send(self.state.take_outbox())

    def stop(self) -> None:
        self.timer.stop()


# ---------------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``qhall evaluator`` options."""
    from server.client.bootstrap import add_server_options

    parser.add_argument("--counter", type=int, default=None, metavar="N",
                        help="the pad of counter N: device evaluator-N (default 1)")
    add_server_options(parser, device_default=None,
                       device_help="device id (default evaluator-N); its counter comes from "
                                   "the hall configuration")
    parser.add_argument("--fullscreen", action="store_true", help="run full screen")


def run(args: argparse.Namespace) -> int:
    """Run the rating pad until its window is closed."""
    if args.counter is not None and args.counter < 1:
        print("qhall evaluator: --counter must be a positive counter number", file=sys.stderr)
        return 2
    from server.client.bootstrap import resolve_server_options

    device = args.device or f"evaluator-{args.counter or 1}"
    try:
        server = resolve_server_options(args, device)
    except ValueError as exc:
        print(f"qhall evaluator: {exc}", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from server.client.qtlink import Link

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    view = RatingView()
    link = Link(server.urls, server.device, server.token)
    pad = RatingPad(link, RatingState(), view)
    if args.fullscreen:
        view.showFullScreen()
    else:
        view.show()
    link.open()
    code = app.exec()
    pad.stop()
    link.close()
    if pad.refusal is not None:
        print(f"qhall evaluator: refused by the server: {pad.refusal.get('code')} "
              f"{pad.refusal.get('message', '')}", file=sys.stderr)
        return 1
    return int(code)
