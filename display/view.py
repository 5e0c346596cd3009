"""The lobby board and counter display widgets: dumb views of a BoardState.

Both views are laid out for a reference size (board 1920x1080, counter
display 800x480) and scale every font and margin with the window, so the
smallest text on a 1080p board is 40 px. Colours keep a contrast of at least
7:1 against the navy background (amber #FFC107 is 10.7:1, white 17.5:1,
the grey #CFD8DC 12.1:1, the panel #102640 still >= 8:1 for all of them).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QFontMetricsF,
    QPainter,
    QPaintEvent,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from display.state import BoardState, Call, call_sentence

__all__ = [
    "NAVY",
    "PANEL",
    "AMBER",
    "WHITE",
    "GREY",
    "FONT_FAMILY",
    "board_font",
    "BoardLabel",
    "NoticeTicker",
    "BoardView",
    "CounterView",
]

NAVY = "#0A1A2F"
PANEL = "#102640"
AMBER = "#FFC107"
WHITE = "#FFFFFF"
GREY = "#CFD8DC"
ONLINE = "#81C784"
OFFLINE = "#FFAB91"
FONT_FAMILY = "WenQuanYi Micro Hei"
STATUS_TEXT = {
    "connecting": "正在连接 Connecting",
    "offline": "连接中断 Offline",
    "refused": "设备被拒绝 Refused (check --device / --token-file)",
}


def board_font(px: int, bold: bool = False, tabular: bool = False) -> QFont:
    """The board's CJK font at ``px`` pixels; ``tabular`` = fixed-width digits."""
    font = QFont(FONT_FAMILY)
    font.setPixelSize(max(1, px))
    font.setBold(bold)
    if tabular:
        # Digits of equal width, so "A011" and "A111" line up on the grid.
        font.setFeature(QFont.Tag("tnum"), 1)
    return font


def _embolden(font: QFont) -> float:
    """The outline width that makes a regular face look bold at this size."""
    return max(1.0, font.pixelSize() / 48)


class BoardLabel(QLabel):
    """A label that draws a bold font bold even when the face has no bold
    weight (WenQuanYi Micro Hei has none and Qt does not embolden it): the
    text is drawn a few times, each a pixel further right, the way FreeType
    emboldens (and Chromium does on the web board). Large glyphs are drawn as
    paths, so the result is kept as a pixmap per text, font and colour: a
    repaint (the flash, 4 renders a second) only copies it."""

    _CACHE = 4  # pixmaps kept: the flash alternates two colours

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ink = QColor(WHITE)
        self.fitted: tuple | None = None  # _fit's last (text, px, width, height, font)
        self._drawn: dict[tuple, QPixmap] = {}

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        font = self.font()
        if not font.bold() or not self.text():
            super().paintEvent(event)
            return
        rect = self.contentsRect()
        key = (self.text(), font.key(), self.ink.rgba(), rect.size().toTuple(),
               int(self.alignment().value), self.devicePixelRatioF())
        pixmap = self._drawn.get(key)
        if pixmap is None:
            pixmap = self._draw(rect.size(), self.devicePixelRatioF())
            if len(self._drawn) >= self._CACHE:
                self._drawn.pop(next(iter(self._drawn)))
            self._drawn[key] = pixmap
        painter = QPainter(self)
        painter.drawPixmap(rect.topLeft(), pixmap)
        painter.end()

    def _draw(self, size: QSize, ratio: float) -> QPixmap:
        font, text, align = self.font(), self.text(), self.alignment()
        pixmap = QPixmap(max(1, round(size.width() * ratio)), max(1, round(size.height() * ratio)))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        metrics = QFontMetricsF(font)
        strokes = max(1, round(2 * _embolden(font)))
        width = metrics.horizontalAdvance(text) + strokes
        if align & Qt.AlignmentFlag.AlignRight:
            x = size.width() - width
        elif align & Qt.AlignmentFlag.AlignHCenter:
            x = (size.width() - width) / 2
        else:
            x = 0.0
        y = (size.height() - metrics.height()) / 2 + metrics.ascent()
        # The glyphs once (large ones are filled paths: slow), then copies.
        glyphs = QPixmap(pixmap.size())
        glyphs.setDevicePixelRatio(ratio)
        glyphs.fill(Qt.GlobalColor.transparent)
        painter = QPainter(glyphs)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        painter.setFont(font)
        painter.setPen(self.ink)
        painter.drawText(QPointF(x, y), text)
        painter.end()
        painter = QPainter(pixmap)
        for dx in range(strokes + 1):
            painter.drawPixmap(QPointF(dx, 0), glyphs)
        painter.end()
        return pixmap


class _Scaled(QWidget):
    """A widget whose registered labels' fonts scale with its size."""

    REF_W = 1920
    REF_H = 1080

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fonts: list[tuple[QWidget, int, bool, bool]] = []
        self._colors: dict[int, str] = {}
        self.scale = 1.0
        self.setAutoFillBackground(True)
        self.setStyleSheet(f"background-color: {NAVY};")

    def _label(self, name: str, px: int, color: str = WHITE, bold: bool = False,
               tabular: bool = False, align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
               parent: QWidget | None = None) -> QLabel:
        label = BoardLabel(parent or self)
        label.setObjectName(name)
        label.setAlignment(align | Qt.AlignmentFlag.AlignVCenter)
        # Ignored: a long text never forces the window bigger than the screen.
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._register(label, px, bold, tabular)
        self._color(label, color)
        return label

    def _register(self, widget: QWidget, px: int, bold: bool = False,
                  tabular: bool = False) -> None:
        self._fonts.append((widget, px, bold, tabular))
        widget.setFont(board_font(round(px * self.scale), bold, tabular))

    def _color(self, label: QWidget, color: str) -> None:
        # Only touch the style sheet on change: the views re-render 4x a second.
        if self._colors.get(id(label)) != color:
            self._colors[id(label)] = color
            label.setStyleSheet(f"color: {color}; background: transparent;")
            if isinstance(label, BoardLabel):
                label.ink = QColor(color)
                label.update()

    def _forget(self, widget: QWidget) -> None:
        self._fonts = [f for f in self._fonts if f[0] is not widget]
        self._colors.pop(id(widget), None)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        size = event.size()
        ref_w, ref_h = self._reference(size.width(), size.height())
        self.scale = min(size.width() / ref_w, size.height() / ref_h)
        for widget, px, bold, tabular in self._fonts:
            widget.setFont(board_font(round(px * self.scale), bold, tabular))
        self._rescaled()
        super().resizeEvent(event)

    def _reference(self, width: int, height: int) -> tuple[int, int]:
        """The size the design's pixel values are for (per orientation)."""
        return self.REF_W, self.REF_H

    def _rescaled(self) -> None:
        """Subclasses scale margins here."""

    def _px(self, value: float) -> int:
        return max(0, round(value * self.scale))


class NoticeTicker(QWidget):
    """A line of text scrolling right to left, forever."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self._text = ""
        self.offset = 0.0
        self.speed = 3.0  # px per tick at scale 1
        self.scale = 1.0
        self._timer = QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._step)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 (QLabel-like)
        if text != self._text:
            self._text = text
            self.offset = 0.0
            self.update()

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _step(self) -> None:
        width = self.fontMetrics().horizontalAdvance(self._text)
        self.offset += self.speed * max(self.scale, 0.3)
        # Gone off the left edge: come back in from the right.
        if self.offset > width:
            self.offset = -float(self.width())
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(PANEL))
        painter.setFont(self.font())
        painter.setPen(QColor(WHITE))
        margin = 32 * self.scale
        rect = QRectF(margin - self.offset, 0, 100000, self.height())
        painter.setClipRect(QRectF(margin, 0, self.width() - 2 * margin, self.height()))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                         self._text)
        painter.end()


class _StatusMixin:
    """A discreet connection dot, with words only when not online."""

    def _status_widgets(self, owner: _Scaled, parent: QWidget, px: int) -> QHBoxLayout:
        self.status_dot = owner._label("status-dot", px, ONLINE, parent=parent)
        self.status_dot.setText("●")
        self.status_dot.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.status_label = owner._label("status", px, OFFLINE, parent=parent,
                                         align=Qt.AlignmentFlag.AlignRight)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Preferred,
                                        QSizePolicy.Policy.Preferred)
        box = QHBoxLayout()
        box.setSpacing(8)
        box.addWidget(self.status_label)
        box.addWidget(self.status_dot)
        return box

    def _render_status(self, owner: _Scaled, status: str) -> None:
        online = status == "online"
        owner._color(self.status_dot, ONLINE if online else OFFLINE)
        self.status_label.setText("" if online else STATUS_TEXT.get(status, status))
        self.status_label.setVisible(not online)
        self.status_dot.setToolTip("已连接 Online" if online else STATUS_TEXT.get(status, status))


class BoardView(_Scaled, _StatusMixin):
    """The lobby board: header, newest call, last calls, waiting, notice.

    Each orientation has its own layout at full size: landscape (reference
    1920x1080) puts the waiting column beside the calls, portrait (reference
    1080x1920) stacks hero, history and waiting, with the hero's number on a
    line of its own. The hero shrinks to fit any number and counter name; the
    history shows as many rows as the screen has room for.
    """

    #: History cells built (more than any screen shows).
    MAX_CELLS = 30
    #: A history row's height, in reference pixels.
    ROW_PX = 84

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("board")
        self.setWindowTitle("qhall 叫号屏 Lobby board")
        self.portrait = False
        root = QVBoxLayout(self)
        self._root = root

        # Header: hall name, connection, date + clock.
        header = QHBoxLayout()
        self.hall_label = self._label("hall-name", 60, WHITE, bold=True)
        header.addWidget(self.hall_label, 3)
        header.addLayout(self._status_widgets(self, self, 40))
        self.clock_label = self._label("clock", 52, WHITE, tabular=True,
                                       align=Qt.AlignmentFlag.AlignRight)
        # The clock always gets its full width; the hall name yields.
        self.clock_label.setSizePolicy(QSizePolicy.Policy.Preferred,
                                       QSizePolicy.Policy.Preferred)
        header.addWidget(self.clock_label, 0)
        root.addLayout(header, 0)

        body = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self._body = body
        left = QVBoxLayout()
        self._left = left

        # The newest call, very large.
        self.newest_frame = QFrame(self)
        self.newest_frame.setObjectName("newest")
        self.newest_frame.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        newest = QVBoxLayout(self.newest_frame)
        self._newest_layout = newest
        self._hero = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.newest_number = self._label("newest-number", 190, AMBER, bold=True,
                                         tabular=True, align=Qt.AlignmentFlag.AlignRight,
                                         parent=self.newest_frame)
        self.newest_arrow = self._label("newest-arrow", 150, GREY,
                                        align=Qt.AlignmentFlag.AlignHCenter,
                                        parent=self.newest_frame)
        self.newest_counter = self._label("newest-counter", 150, WHITE, bold=True,
                                          parent=self.newest_frame)
        self._hero.addWidget(self.newest_number, 5)
        self._hero.addWidget(self.newest_arrow, 2)
        self._hero.addWidget(self.newest_counter, 6)
        newest.addLayout(self._hero, 3)
        self.newest_line = self._label("newest-line", 72, WHITE,
                                       align=Qt.AlignmentFlag.AlignHCenter,
                                       parent=self.newest_frame)
        self.newest_line_en = self._label("newest-line-en", 44, GREY,
                                          align=Qt.AlignmentFlag.AlignHCenter,
                                          parent=self.newest_frame)
        newest.addWidget(self.newest_line, 1)
        newest.addWidget(self.newest_line_en, 1)
        left.addWidget(self.newest_frame, 9)

        # The calls before it, newest first, filling columns top to bottom.
        self.grid_frame = QWidget(self)
        self.grid_frame.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        grid = QGridLayout(self.grid_frame)
        self._grid = grid
        self.recent_cells: list[tuple[QLabel, QLabel]] = []
        self._cell_layouts: list[QHBoxLayout] = []
        for i in range(self.MAX_CELLS):
            cell = QHBoxLayout()
            number = self._label(f"recent-number-{i}", 64, AMBER, bold=True, tabular=True,
                                 parent=self.grid_frame)
            counter = self._label(f"recent-counter-{i}", 56, WHITE, parent=self.grid_frame)
            cell.addWidget(number, 2)
            cell.addWidget(counter, 3)
            self._cell_layouts.append(cell)
            self.recent_cells.append((number, counter))
        self._grid_shape = (0, 0)
        left.addWidget(self.grid_frame, 11)
        body.addLayout(left, 2)

        # Waiting column.
        self.waiting_frame = QFrame(self)
        self.waiting_frame.setObjectName("waiting")
        self.waiting_frame.setStyleSheet(f"QFrame#waiting {{ background-color: {PANEL}; }}")
        waiting = QVBoxLayout(self.waiting_frame)
        self._waiting_layout = waiting
        self.waiting_title = self._label("waiting-title", 56, WHITE, bold=True,
                                         parent=self.waiting_frame)
        self.waiting_title.setText("等候人数")
        self.waiting_title_en = self._label("waiting-title-en", 40, GREY,
                                            parent=self.waiting_frame)
        self.waiting_title_en.setText("Waiting")
        self.waiting_title_en.setAlignment(Qt.AlignmentFlag.AlignLeft
                                           | Qt.AlignmentFlag.AlignBottom)
        title = QHBoxLayout()
        title.addWidget(self.waiting_title, 3)
        title.addWidget(self.waiting_title_en, 2)
        waiting.addLayout(title)
        self.waiting_grid = QGridLayout()
        waiting.addLayout(self.waiting_grid)
        waiting.addStretch(1)
        total = QHBoxLayout()
        self.total_caption = self._label("waiting-total-caption", 44, GREY,
                                         parent=self.waiting_frame)
        self.total_caption.setText("合计 Total")
        self.total_label = self._label("waiting-total", 64, AMBER, bold=True, tabular=True,
                                       align=Qt.AlignmentFlag.AlignRight,
                                       parent=self.waiting_frame)
        total.addWidget(self.total_caption, 3)
        total.addWidget(self.total_label, 2)
        waiting.addLayout(total)
        self.waiting_rows: dict[str, tuple[QLabel, QLabel, QLabel]] = {}
        self._waiting_keys: list[str] = []
        body.addWidget(self.waiting_frame, 1)
        root.addLayout(body, 1)

        self.notice = NoticeTicker(self)
        self._register(self.notice, 44)
        root.addWidget(self.notice, 0)
        self._rescaled()
        self.resize(self.REF_W, self.REF_H)

    def _reference(self, width: int, height: int) -> tuple[int, int]:
        return (1080, 1920) if height > width else (self.REF_W, self.REF_H)

    def _rescaled(self) -> None:
        s = self._px
        portrait = self.height() > self.width()
        if portrait != self.portrait or not self._grid_shape[0]:
            self.portrait = portrait
            vertical = QBoxLayout.Direction.TopToBottom
            self._body.setDirection(vertical if portrait else QBoxLayout.Direction.LeftToRight)
            # Portrait: the number on a line of its own, "→ 39号窗口" under it.
            self._hero.setDirection(vertical if portrait else QBoxLayout.Direction.LeftToRight)
            self.newest_arrow.setVisible(not portrait)
            centre = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter
            self.newest_number.setAlignment(
                centre if portrait else Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.newest_counter.setAlignment(
                centre if portrait else Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            self._body.setStretch(0, 5 if portrait else 2)
            self._body.setStretch(1, 2 if portrait else 1)
            self._left.setStretch(0, 10 if portrait else 9)
            self._left.setStretch(1, 10 if portrait else 11)
            self._grid_shape = (0, 0)
        self._root.setContentsMargins(s(40), s(16), s(40), 0)
        self._root.setSpacing(s(16))
        self._body.setSpacing(s(32))
        self._left.setSpacing(s(12))
        self._grid.setHorizontalSpacing(s(40))
        self._grid.setVerticalSpacing(s(4))
        self._grid.setContentsMargins(s(24), 0, s(24), s(8))
        self._newest_layout.setContentsMargins(s(24), s(8), s(24), s(16))
        self._waiting_layout.setContentsMargins(s(36), s(24), s(36), s(24))
        self._waiting_layout.setSpacing(s(4))
        self.waiting_grid.setVerticalSpacing(s(2))
        for i in range(len(self._waiting_keys)):
            # A gap between rows, not between a name and its English name.
            self.waiting_grid.setRowMinimumHeight(2 * i + 1, 0)
        self.notice.scale = self.scale
        self.notice.setFixedHeight(s(84))
        radius = s(20)
        self.newest_frame.setStyleSheet(
            f"QFrame#newest {{ background-color: {PANEL}; border-radius: {radius}px; }}")
        self.waiting_frame.setStyleSheet(
            f"QFrame#waiting {{ background-color: {PANEL}; border-radius: {radius}px; }}")

    def _activate(self) -> None:
        # The frames' own layouts too: each is the top layout of its widget.
        for layout in (self._root, self._newest_layout, self._grid, self._waiting_layout):
            layout.activate()

    def history_shape(self) -> tuple[int, int]:
        """(columns, rows) of history the screen has room for."""
        columns = 1 if self.portrait else 2
        height = self.grid_frame.height() - self._px(8)
        rows = max(3, height // max(1, self._px(self.ROW_PX)))
        return columns, min(rows, self.MAX_CELLS // columns)

    def _relayout_history(self) -> None:
        shape = self.history_shape()
        if shape == self._grid_shape:
            return
        self._grid_shape = shape
        columns, rows = shape
        for cell in self._cell_layouts:
            self._grid.removeItem(cell)
        for i, cell in enumerate(self._cell_layouts):
            shown = i < columns * rows
            if shown:
                self._grid.addLayout(cell, i % rows, i // rows)
            for label in self.recent_cells[i]:
                label.setVisible(shown and self.isVisible())
        for r in range(self.MAX_CELLS):
            self._grid.setRowStretch(r, 1 if r < rows else 0)

    # -- render ------------------------------------------------------------

    # render(state) is the views' contract (ARCHITECTURE.md); it shadows
    # QWidget.render, which Qt's own grab()/painting never calls from Python.
    def render(self, state: BoardState) -> None:  # type: ignore[override]
        """Show ``state``; cheap enough to call several times a second."""
        self.hall_label.setText(state.hall_name or "qhall")
        _fit(self.hall_label, self._px(60), self.hall_label.width())
        self.clock_label.setText(state.clock_text())
        self._render_status(self, state.status)
        # Fitting texts needs the real widths: lay out now, not at the next paint.
        self._activate()
        self._relayout_history()
        self._activate()
        self._render_newest(state)
        self._render_recent(state.previous)
        self._render_waiting(state)
        self.notice.setText("通知：" + state.notice)

    def _render_newest(self, state: BoardState) -> None:
        call = state.newest
        if call is None:
            self.newest_number.setText("")
            self.newest_arrow.setText("")
            self.newest_counter.setText("")
            self.newest_line.setText("欢迎光临，请取号等候")
            self.newest_line_en.setText("Welcome - please take a ticket and wait for your number")
            return
        self.newest_number.setText(call.number)
        self.newest_arrow.setText("→")
        self.newest_counter.setText(("→ " if self.portrait else "") + call.counter_name)
        self.newest_line.setText(call_sentence(call.number, call.counter, call.counter_name))
        self.newest_line_en.setText(
            f"{'Recall: ' if call.recall else ''}Number {call.number}, "
            f"please go to counter {call.counter}")
        self._fit_hero()
        for label in (self.newest_line, self.newest_line_en):
            _fit(label, label.font().pixelSize(), self.newest_frame.contentsRect().width()
                 - self._px(48))
        # Flash: the number and the counter swap amber and white.
        alternate = state.flash_on()
        self._color(self.newest_number, WHITE if alternate else AMBER)
        self._color(self.newest_counter, AMBER if alternate else WHITE)

    def _fit_hero(self) -> None:
        """Shrink the hero's number and counter to fit the panel (any length)."""
        room = self.newest_frame.contentsRect().width() - self._px(48)
        base = {self.newest_number: 190, self.newest_arrow: 150, self.newest_counter: 150}
        fonts = {w: board_font(self._px(px), w.font().bold(), w is self.newest_number)
                 for w, px in base.items()}
        if self.portrait:
            for widget in (self.newest_number, self.newest_counter):
                _fit(widget, fonts[widget].pixelSize(), room, widget.height())
            return
        # Landscape: one row; widths follow the texts, all shrink by one factor.
        gap = self._px(24)
        advances = {w: _advance(fonts[w], w.text()) + gap for w in base}
        k = min(1.0, room / max(1, sum(advances.values())))
        for i, widget in enumerate(base):
            widget.setFont(board_font(max(1, int(fonts[widget].pixelSize() * k)),
                                      widget.font().bold(), widget is self.newest_number))
            self._hero.setStretch(i, max(1, advances[widget]))

    def _render_recent(self, calls: list[Call]) -> None:
        shown = self._grid_shape[0] * self._grid_shape[1]
        for i, (number, counter) in enumerate(self.recent_cells):
            call = calls[i] if i < len(calls) and i < shown else None
            number.setText(call.number if call else "")
            counter.setText(f"→ {call.counter_name}" if call else "")
            if call is not None:
                for label, px in ((number, 64), (counter, 56)):
                    _fit(label, self._px(px), label.width())

    def _render_waiting(self, state: BoardState) -> None:
        rows = state.waiting_rows()
        keys = [row.key for row in rows]
        if keys != self._waiting_keys:
            self._rebuild_waiting(rows)
        for row in rows:
            name, name_en, count = self.waiting_rows[row.key]
            name.setText(row.name)
            name_en.setText(row.name_en)
            count.setText(str(row.waiting))
        self.total_label.setText(str(state.total_waiting()))

    def _rebuild_waiting(self, rows: list) -> None:
        for widgets in self.waiting_rows.values():
            for widget in widgets:
                self._forget(widget)
                widget.deleteLater()
        self.waiting_rows = {}
        parent = self.waiting_frame
        for i, row in enumerate(rows):
            name = self._label(f"waiting-name-{row.key}", 48, WHITE, parent=parent)
            name_en = self._label(f"waiting-name-en-{row.key}", 40, GREY, parent=parent)
            count = self._label(f"waiting-count-{row.key}", 72, AMBER, bold=True, tabular=True,
                                align=Qt.AlignmentFlag.AlignRight, parent=parent)
            self.waiting_grid.addWidget(name, 2 * i, 0)
            self.waiting_grid.addWidget(name_en, 2 * i + 1, 0)
            self.waiting_grid.addWidget(count, 2 * i, 1, 2, 1)
            self.waiting_rows[row.key] = (name, name_en, count)
            if self.isVisible():  # added to a shown window: show now, not later
                for widget in (name, name_en, count):
                    widget.show()
        self.waiting_grid.setColumnStretch(0, 3)
        self.waiting_grid.setColumnStretch(1, 2)
        self._waiting_keys = [row.key for row in rows]


def _advance(font: QFont, text: str) -> int:
    """The width ``text`` takes in ``font``, with room for the synthetic bold."""
    extra = _embolden(font) if font.bold() else 0
    return QFontMetrics(font).horizontalAdvance(text) + math.ceil(2 * extra)


def _fit(label: QLabel, px: int, width: int, height: int = 0) -> None:
    """Give ``label`` the largest font up to ``px`` in which its text fits
    ``width`` (and ``height`` when given)."""
    font = label.font()
    asked = (label.text(), px, width, height, font.key())
    if isinstance(label, BoardLabel) and label.fitted == asked:
        return  # same text, same room, font unchanged: nothing to measure (4 renders/s)
    tabular = font.isFeatureSet(QFont.Tag("tnum"))
    if height > 0:
        px = min(px, max(1, int(height / 1.2)))  # a line is about 1.2 em tall
    want = board_font(px, font.bold(), tabular)
    advance = _advance(want, label.text())
    if 0 < width < advance:
        want = board_font(max(1, int(px * width / advance) - 1), font.bold(), tabular)
    if want.pixelSize() != font.pixelSize():
        label.setFont(want)
    if isinstance(label, BoardLabel):
        label.fitted = (label.text(), px, width, height, label.font().key())


class CounterView(_Scaled, _StatusMixin):
    """The small display above one counter (800x480 reference)."""

    REF_W = 800
    REF_H = 480

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("counter-display")
        self.setWindowTitle("qhall 窗口屏 Counter display")
        root = QVBoxLayout(self)
        self._root = root
        self.name_label = self._label("counter-name", 72, WHITE, bold=True,
                                      align=Qt.AlignmentFlag.AlignHCenter)
        root.addWidget(self.name_label, 2)
        # The connection dot floats in the corner, outside the layout, so the
        # counter name stays centred.
        self.status_box = QWidget(self)
        self.status_box.setLayout(self._status_widgets(self, self.status_box, 28))
        self.number_label = self._label("counter-number", 190, AMBER, bold=True, tabular=True,
                                        align=Qt.AlignmentFlag.AlignHCenter)
        root.addWidget(self.number_label, 5)
        self.line_label = self._label("counter-line", 56, WHITE,
                                      align=Qt.AlignmentFlag.AlignHCenter)
        self.line_en_label = self._label("counter-line-en", 40, GREY,
                                         align=Qt.AlignmentFlag.AlignHCenter)
        root.addWidget(self.line_label, 1)
        root.addWidget(self.line_en_label, 1)
        self._rescaled()
        self.resize(self.REF_W, self.REF_H)

    def _rescaled(self) -> None:
        s = self._px
        self._root.setContentsMargins(s(16), s(8), s(16), s(16))
        self._root.setSpacing(0)
        self._place_status()

    def _place_status(self) -> None:
        self.status_box.adjustSize()
        margin = self._px(12)
        self.status_box.move(self.width() - self.status_box.width() - margin, margin)

    def render(self, state: BoardState) -> None:  # type: ignore[override]
        """Show this counter's screen from ``state``."""
        screen = state.counter_screen()
        # Bilingual like every line here; shrunk to fit a long counter name.
        self.name_label.setText(f"{screen.counter_name}  Counter {screen.counter}")
        _fit(self.name_label, self._px(72), self.width() - self._px(32))
        self._render_status(self, state.status)
        if screen.mode == "ticket":
            number = screen.number or ""
            self._set_big(number, 190, bold=True, tabular=True)
            newest = state.newest
            alternate = (newest is not None and newest.counter == screen.counter
                         and newest.number == number and state.flash_on())
            self._color(self.number_label, WHITE if alternate else AMBER)
            if screen.serving:
                self.line_label.setText(f"正在办理 {number} 号")
                self.line_en_label.setText(f"Now serving {number}")
            else:
                self.line_label.setText(f"请 {number} 号办理")
                self.line_en_label.setText(f"Now calling {number}")
        elif screen.mode == "paused":
            # Paused: the clerk is coming back (say why, when they said).
            self._set_big("暂停服务", 130, bold=True)
            self._color(self.number_label, AMBER)
            self.line_label.setText(f"暂停原因：{screen.reason}" if screen.reason
                                    else "请稍候，或到其他窗口办理")
            self.line_en_label.setText("Paused - please wait or use another counter")
            self._color(self.line_label, AMBER)
        elif screen.mode == "closed":
            # Closed: nobody is coming back today; send people elsewhere.
            self._set_big("窗口已关闭", 110, bold=True)
            self._color(self.number_label, GREY)
            self.line_label.setText("请到其他窗口办理")
            self.line_en_label.setText("Closed - please use another counter")
            self._color(self.line_label, WHITE)
        else:
            self._set_big("欢迎", 150, bold=True)
            self._color(self.number_label, WHITE)
            self.line_label.setText("欢迎光临，请留意叫号")
            self.line_en_label.setText("Welcome - please wait for your number")
        if screen.mode == "ticket" or screen.mode == "idle":
            self._color(self.line_label, WHITE)
        room = self.width() - self._px(32)
        for label, px in ((self.line_label, 56), (self.line_en_label, 40)):
            _fit(label, self._px(px), room)  # a long reason or English line still fits
        self._place_status()

    def _set_big(self, text: str, px: int, bold: bool, tabular: bool = False) -> None:
        # The big label's size depends on what it shows (a number or words).
        self.number_label.setText(text)
        font = (self.number_label, px, bold, tabular)
        if font not in self._fonts:
            self._fonts = [f for f in self._fonts if f[0] is not self.number_label]
            self._register(*font)
