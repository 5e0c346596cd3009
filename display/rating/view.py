"""The rating pad's widgets: dumb, they show a :class:`RatingState` and emit taps."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
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

from display.rating.state import FREE_TEXT_MAX, LEVELS, REASONS, RatingState

__all__ = ["FaceButton", "RatingView"]

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
