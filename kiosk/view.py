"""The kiosk's widgets: they render a :class:`~kiosk.state.KioskState` and emit intents.

Nothing here decides anything: which tile is enabled, what a notice says and
when to go home all come from the state. The window only lays things out so
they read well on a 1080x1920 portrait or 1920x1080 landscape touch screen:
sizes scale with the shorter side of the window (1080 px = scale 1), tiles
re-flow between one and three columns, and every touch target stays at
least :data:`MIN_TOUCH` px.

:class:`KioskWindow` signal ``intent(str, object)``:
    ``("touch", None)`` any press; ``("lang", None)``; ``("category", id)``;
    ``("service", id)``; ``("back", None)``; ``("checkin", None)``;
    ``("priority", None)``; ``("priority_confirm", None)``; ``("key", char)``;
    ``("delete", None)``; ``("clear", None)``; ``("submit", None)``;
    ``("ticket", None)`` (a tap on the ticket screen); 过号重排: ``("requeue", None)``
    (open it), ``("requeue_submit", None)`` (the typed number), ``("scan", text)``
    (what the ticket scanner typed before its suffix, on any screen, also while
    the search box has focus: kiosk/scanner.py).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kiosk.keypad import Keypad
from kiosk.scanner import ScanReader
from kiosk.slot import MessageSlot
from kiosk.slot import restyle as _restyle
from kiosk.state import (
    CATEGORIES,
    CODE_MIN,
    POPULAR,
    SEARCH_MAX,
    SEARCH_RESULTS,
    KioskState,
    ServiceTile,
    read_scan,
)
from kiosk.ticket import draw_qr, qr_matrix

__all__ = ["BLUE", "FONT_FAMILIES", "GREEN", "AMBER", "RED", "MIN_TOUCH", "KioskWindow",
           "Tile", "qr_pixmap"]

BLUE, GREEN, AMBER, RED = "#0B4F9C", "#2E7D32", "#F9A825", "#C62828"
FONT_FAMILIES = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "sans-serif"]
#: Smallest touch target, in pixels.
MIN_TOUCH = 60

_PAGES = ("home", "services", "search", "ticket", "checkin", "priority", "requeue")
#: Every message the check-in screen can show (text key, arguments): its
#: message slot is as tall as the longest of them.
CHECKIN_MESSAGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("code_short", {"n": CODE_MIN}), ("code_not_found", {}), ("code_expired", {}),
    ("code_early", {"when": "2026-11-27 09:30"}), ("code_early_plain", {}), ("code_used", {}),
    ("no_answer", {}), ("offline", {}), ("issuing", {}), ("rate_limited", {}),
    ("failed", {"msg": "x" * 40}),
)
#: Every message the 过号重排 screen can show, likewise.
REQUEUE_MESSAGES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("requeue_short", {}), ("requeue_unreadable", {}), ("requeue_late", {}),
    ("requeue_not_missed", {}), ("requeue_unknown", {}), ("no_answer", {}), ("offline", {}),
    ("issuing", {}), ("rate_limited", {}), ("closed", {}), ("quota_detail", {}),
    ("failed", {"msg": "x" * 40}),
)


def _style(s: float) -> str:
    """The window's style sheet at scale ``s`` (1.0 for a 1080 px short side)."""
    def px(n: float) -> int:
        return max(1, round(n * s))

    return f"""
KioskWindow, #page, #tiles {{ background: #F4F6F9; }}
QLabel {{ color: #1A1A1A; background: transparent; }}
#header {{ background: {BLUE}; }}
#header QLabel {{ color: white; }}
#hallName {{ font-size: {px(44)}px; font-weight: bold; }}
#clock {{ font-size: {px(44)}px; }}
#langButton {{ background: white; color: {BLUE}; border: none; border-radius: {px(10)}px;
    font-size: {px(34)}px; font-weight: bold; padding: 0 {px(24)}px; }}
#banner {{ background: {RED}; }}
#banner QLabel {{ color: white; font-size: {px(34)}px; font-weight: bold; }}
#bannerAlt {{ font-size: {px(26)}px; }}
#notice {{ border-radius: {px(10)}px; }}
#notice[level="info"] {{ background: #DCE8F6; }}
#notice[level="warn"] {{ background: {AMBER}; }}
#notice[level="error"] {{ background: {RED}; }}
#notice[level="error"] QLabel {{ color: white; }}
#noticeText {{ font-size: {px(36)}px; font-weight: bold; }}
#noticeAlt {{ font-size: {px(26)}px; }}
#footer {{ background: #E3E8EF; }}
#footerText {{ font-size: {px(28)}px; color: #4A5563; }}
#title {{ font-size: {px(56)}px; font-weight: bold; color: {BLUE}; }}
#subtitle {{ font-size: {px(32)}px; color: #4A5563; }}
#priorityBanner {{ background: {AMBER}; border-radius: {px(10)}px;
    font-size: {px(36)}px; font-weight: bold; padding: {px(12)}px; }}
#connecting {{ font-size: {px(44)}px; color: #4A5563; }}
#searchButton {{ background: white; color: {BLUE}; border: {px(3)}px solid {BLUE};
    border-radius: {px(12)}px; font-size: {px(34)}px; font-weight: bold;
    padding: 0 {px(28)}px; }}
#popularCaption {{ font-size: {px(30)}px; font-weight: bold; color: {BLUE}; }}
#query {{ background: white; border: {px(3)}px solid {BLUE}; border-radius: {px(12)}px;
    font-size: {px(52)}px; font-weight: bold; color: {BLUE}; padding: {px(6)}px {px(16)}px; }}
QPushButton {{ font-size: {px(32)}px; }}
Tile {{ background: white; border: {px(2)}px solid #C9D3E0; border-radius: {px(16)}px; }}
Tile:pressed {{ background: #DCE8F6; }}
Tile:disabled {{ background: #ECEEF1; border-color: #DDE1E6; }}
Tile[kind="category"] {{ border-left: {px(14)}px solid {BLUE}; }}
Tile[kind="action"] {{ background: {BLUE}; border: none; }}
Tile[kind="action"] QLabel {{ color: white; }}
Tile[kind="priority"] {{ background: {GREEN}; border: none; }}
Tile[kind="priority"] QLabel {{ color: white; }}
Tile[kind="action"] #tileSub, Tile[kind="priority"] #tileSub {{ color: #E8EEF6; }}
Tile[kind="category"] #tileTitle {{ font-size: {px(60)}px; }}
Tile[kind="category"] #tileMeta {{ font-size: {px(38)}px; font-weight: bold; }}
#tileTitle {{ font-size: {px(52)}px; font-weight: bold; }}
Tile[kind="service"] #tileTitle {{ font-size: {px(40)}px; }}
Tile[kind="service"] #tileSub {{ font-size: {px(24)}px; }}
Tile[kind="service"] #tileMeta {{ font-size: {px(28)}px; }}
Tile[dense="true"] #tileTitle {{ font-size: {px(32)}px; }}
Tile[dense="true"] #tileSub {{ font-size: {px(22)}px; }}
Tile[dense="true"] #tileMeta {{ font-size: {px(24)}px; }}
#tileSub {{ font-size: {px(28)}px; color: #4A5563; }}
#tileMeta {{ font-size: {px(32)}px; color: {BLUE}; }}
#tileMeta[level="error"] {{ color: {RED}; font-weight: bold; }}
#tileTitle:disabled, #tileSub:disabled {{ color: #8A94A3; }}
#backButton {{ background: white; color: {BLUE}; border: {px(3)}px solid {BLUE};
    border-radius: {px(12)}px; font-size: {px(36)}px; font-weight: bold;
    padding: 0 {px(30)}px; }}
#pageTitle {{ font-size: {px(48)}px; font-weight: bold; color: {BLUE}; }}
#pageTitleAlt {{ font-size: {px(28)}px; color: #4A5563; }}
#ticketStatus {{ border-radius: {px(12)}px; padding: {px(16)}px; font-size: {px(44)}px;
    font-weight: bold; color: white; background: {GREEN}; }}
#ticketStatus[level="error"] {{ background: {RED}; }}
#ticketStatus[level="info"] {{ background: {BLUE}; }}
#ticketStatusAlt {{ font-size: {px(28)}px; color: #4A5563; }}
#ticketNumber {{ color: {BLUE}; }}
#ticketMark {{ background: {AMBER}; border-radius: {px(10)}px; font-size: {px(36)}px;
    font-weight: bold; padding: {px(6)}px {px(24)}px; }}
#ticketService {{ font-size: {px(52)}px; font-weight: bold; }}
#ticketServiceAlt {{ font-size: {px(30)}px; color: #4A5563; }}
#ticketInfo {{ font-size: {px(40)}px; }}
#ticketWhere {{ font-size: {px(44)}px; font-weight: bold; color: {BLUE}; }}
#ticketWhereAlt {{ font-size: {px(28)}px; color: #4A5563; }}
#ticketNote {{ font-size: {px(32)}px; color: {RED}; }}
#ticketHint {{ font-size: {px(28)}px; color: #4A5563; }}
#scanHint {{ font-size: {px(28)}px; color: #4A5563; }}
#code {{ background: white; border: {px(3)}px solid {BLUE}; border-radius: {px(12)}px;
    font-size: {px(72)}px; font-weight: bold; color: {BLUE}; padding: {px(10)}px; }}
QPushButton[role="key"] {{ background: white; border: {px(2)}px solid #C9D3E0;
    border-radius: {px(12)}px; font-size: {px(44)}px; font-weight: bold; color: #1A1A1A; }}
QPushButton[role="key"]:pressed {{ background: #DCE8F6; }}
#key_submit {{ background: {GREEN}; color: white; border: none; font-size: {px(38)}px; }}
#key_submit:disabled {{ background: #9BBF9D; }}
#key_clear, #key_delete {{ font-size: {px(34)}px; }}
#priorityText {{ font-size: {px(40)}px; }}
#priorityCheck {{ font-size: {px(36)}px; color: #7A4F00; background: #FFF3CD;
    border-radius: {px(10)}px; padding: {px(20)}px; }}
#confirmPriority {{ background: {GREEN}; color: white; border: none; border-radius: {px(16)}px;
    font-size: {px(44)}px; font-weight: bold; }}
"""


def qr_pixmap(data: str, size_px: int) -> QPixmap:
    """A QR code as a pixmap about ``size_px`` square (whole pixels per module,
    a quiet zone of 2 modules), black on white."""
    matrix = qr_matrix(data)
    modules = len(matrix) + 4
    module_px = max(2, size_px // modules)
    side = module_px * modules
    image = QImage(side, side, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    draw_qr(painter, matrix, 2 * module_px, 2 * module_px, module_px)
    painter.end()
    return QPixmap.fromImage(image)


def _label(name: str, parent: QWidget | None = None, wrap: bool = True,
           align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignCenter) -> QLabel:
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(wrap)
    label.setAlignment(align)
    return label


class Tile(QPushButton):
    """A large touch tile: a title, a smaller second line and a figures line.

    The labels let the press through to the button, so the whole tile is the
    touch target.
    """

    def __init__(self, kind: str, key: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.setProperty("kind", kind)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(MIN_TOUCH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 8, 16, 8)
        layout.setSpacing(2)
        self.title = _label("tileTitle", self)
        self.sub = _label("tileSub", self)
        self.meta = _label("tileMeta", self)
        for label in (self.title, self.sub, self.meta):
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            layout.addWidget(label)
        self.meta.setProperty("level", "normal")

    def set_texts(self, title: str, sub: str = "", meta: str = "",
                  meta_level: str = "normal") -> None:
        self.title.setText(title)
        self.sub.setText(sub)
        self.sub.setVisible(bool(sub))
        self.meta.setText(meta)
        self.meta.setVisible(bool(meta))
        _restyle(self.meta, "level", meta_level)


def _back_row(window: KioskWindow, parent: QWidget) -> tuple[QHBoxLayout, QPushButton,
                                                             QLabel, QLabel]:
    """The top row of every inner screen: back button top-left, then the title."""
    row = QHBoxLayout()
    back = QPushButton(parent)
    back.setObjectName("backButton")
    back.setMinimumHeight(MIN_TOUCH)
    back.clicked.connect(lambda: window.intent.emit("back", None))
    titles = QVBoxLayout()
    title = _label("pageTitle", parent, align=Qt.AlignmentFlag.AlignLeft)
    alt = _label("pageTitleAlt", parent, align=Qt.AlignmentFlag.AlignLeft)
    titles.addWidget(title)
    titles.addWidget(alt)
    row.addWidget(back)
    row.addSpacing(24)
    row.addLayout(titles, 1)
    return row, back, title, alt


class KioskWindow(QWidget):
    """The whole kiosk screen: header, offline banner, the pages, notice, footer."""

    intent = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("kiosk")
        self.setWindowTitle("qhall kiosk")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        font = QFont()
        font.setFamilies(FONT_FAMILIES)
        self.setFont(font)
        self._scale = 0.0
        self.landscape = False
        self._state: KioskState | None = None
        self._grid_key: tuple = ()
        self._qr_key: tuple = ()
        self.service_tiles: dict[str, Tile] = {}
        self._pads: list[QBoxLayout] = []  # the pages' layouts: margins scale

        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        root.addWidget(self._build_header())
        root.addWidget(self._build_banner())
        self.stack = QStackedWidget(self)
        # Ignored: the stack's size hint is the largest of all its pages, which
        # would grow the window past the screen; it takes what is left instead
        # and each page is laid out to fit it (tests/kiosk/test_fit.py).
        self.stack.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        root.addWidget(self.stack, 1)
        self.pages: dict[str, QWidget] = {}
        for name, build in (("home", self._build_home), ("services", self._build_services),
                            ("search", self._build_search),
                            ("ticket", self._build_ticket), ("checkin", self._build_checkin),
                            ("priority", self._build_priority),
                            ("requeue", self._build_requeue)):
            page = QWidget(self.stack)
            page.setObjectName("page")
            page.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
            build(page)
            self.stack.addWidget(page)
            self.pages[name] = page
        root.addWidget(self._build_notice())
        # The ticket scanner types like a keyboard wherever the focus is: the
        # window (no field focused, or a button), the search box, the 过号重排 field.
        self.scanner = ScanReader(self, lambda text: read_scan(text) is not None)
        self.scanner.scanned.connect(lambda text: self.intent.emit("scan", text))
        self.scanner.watch(self)
        self.scanner.watch(self.query_edit, field=True)
        self.scanner.watch(self.scan_input, field=True)
        root.addWidget(self._build_footer())
        self.resize(1080, 1920)
        self._apply_layout()

    # -- building ---------------------------------------------------------
    def _build_header(self) -> QWidget:
        header = QFrame(self)
        header.setObjectName("header")
        row = QHBoxLayout(header)
        row.setContentsMargins(32, 16, 24, 16)
        self.hall_name = _label("hallName", header, wrap=False,
                                align=Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.clock = _label("clock", header, wrap=False)
        self.lang_button = QPushButton(header)
        self.lang_button.setObjectName("langButton")
        self.lang_button.setMinimumSize(MIN_TOUCH * 2, MIN_TOUCH + 20)
        self.lang_button.clicked.connect(lambda: self.intent.emit("lang", None))
        row.addWidget(self.hall_name, 1)
        row.addWidget(self.clock)
        row.addSpacing(24)
        row.addWidget(self.lang_button)
        return header

    def _build_banner(self) -> QWidget:
        self.banner = QFrame(self)
        self.banner.setObjectName("banner")
        col = QVBoxLayout(self.banner)
        col.setContentsMargins(24, 12, 24, 12)
        self.banner_text = _label("bannerText", self.banner)
        self.banner_alt = _label("bannerAlt", self.banner)
        col.addWidget(self.banner_text)
        col.addWidget(self.banner_alt)
        self.banner.hide()
        return self.banner

    def _build_notice(self) -> QWidget:
        holder = QWidget(self)
        holder.setObjectName("page")
        holder.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        outer = QVBoxLayout(holder)
        outer.setContentsMargins(32, 0, 32, 16)
        self.notice = QFrame(holder)
        self.notice.setObjectName("notice")
        self.notice.setProperty("level", "info")
        col = QVBoxLayout(self.notice)
        col.setContentsMargins(24, 12, 24, 12)
        self.notice_text = _label("noticeText", self.notice)
        self.notice_alt = _label("noticeAlt", self.notice)
        col.addWidget(self.notice_text)
        col.addWidget(self.notice_alt)
        outer.addWidget(self.notice)
        self.notice_holder = holder
        holder.hide()
        return holder

    def _build_footer(self) -> QWidget:
        footer = QFrame(self)
        footer.setObjectName("footer")
        row = QHBoxLayout(footer)
        row.setContentsMargins(32, 14, 32, 14)
        self.footer_text = _label("footerText", footer,
                                  align=Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.footer_text)
        self.footer = footer
        return footer

    def _build_home(self, page: QWidget) -> None:
        col = QVBoxLayout(page)
        self._pads.append(col)
        col.setContentsMargins(40, 32, 40, 24)
        col.setSpacing(20)
        self.home_title = _label("title", page)
        self.home_sub = _label("subtitle", page)
        self.priority_banner = _label("priorityBanner", page)
        self.priority_banner.hide()
        self.connecting = _label("connecting", page)
        top = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(self.home_title)
        titles.addWidget(self.home_sub)
        top.addLayout(titles, 1)
        self.search_button = QPushButton(page)
        self.search_button.setObjectName("searchButton")
        self.search_button.clicked.connect(lambda: self.intent.emit("search", None))
        top.addWidget(self.search_button)
        col.addLayout(top)
        col.addWidget(self.priority_banner)
        col.addWidget(self.connecting, 1)
        # 常用业务: the day's busiest services, one tap from home.
        self.popular_row = QWidget(page)
        popular = QHBoxLayout(self.popular_row)
        popular.setContentsMargins(0, 0, 0, 0)
        popular.setSpacing(16)
        self.popular_caption = _label("popularCaption", self.popular_row)
        popular.addWidget(self.popular_caption)
        self.popular_tiles: list[Tile] = []
        for i in range(POPULAR):
            tile = Tile("service", "", self.popular_row)
            tile.setObjectName(f"popular_{i}")
            _restyle(tile, "dense", "true")
            tile.clicked.connect(lambda _=False, t=tile: self.intent.emit("service", t.key))
            popular.addWidget(tile, 1)
            self.popular_tiles.append(tile)
        col.addWidget(self.popular_row)
        self.category_grid = QGridLayout()
        self.category_grid.setSpacing(24)
        self.category_tiles: dict[str, Tile] = {}
        for cid in CATEGORIES:
            tile = Tile("category", cid, page)
            tile.setObjectName(f"category_{cid}")
            tile.clicked.connect(lambda _=False, c=cid: self.intent.emit("category", c))
            self.category_tiles[cid] = tile
        col.addLayout(self.category_grid, 3)
        actions = QHBoxLayout()
        actions.setSpacing(24)
        self.checkin_button = Tile("action", "checkin", page)
        self.checkin_button.setObjectName("checkinButton")
        self.checkin_button.clicked.connect(lambda: self.intent.emit("checkin", None))
        self.priority_button = Tile("priority", "priority", page)
        self.priority_button.setObjectName("priorityButton")
        self.priority_button.clicked.connect(lambda: self.intent.emit("priority", None))
        self.requeue_button = Tile("action", "requeue", page)
        self.requeue_button.setObjectName("requeueButton")
        self.requeue_button.clicked.connect(lambda: self.intent.emit("requeue", None))
        actions.addWidget(self.checkin_button)
        actions.addWidget(self.priority_button)
        actions.addWidget(self.requeue_button)
        col.addLayout(actions, 1)

    def _build_services(self, page: QWidget) -> None:
        col = QVBoxLayout(page)
        self._pads.append(col)
        col.setContentsMargins(40, 24, 40, 24)
        col.setSpacing(20)
        row, self.services_back, self.services_title, self.services_alt = _back_row(self, page)
        col.addLayout(row)
        self.services_scroll = QScrollArea(page)
        self.services_scroll.setWidgetResizable(True)
        self.services_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.tiles_box = QWidget()
        self.tiles_box.setObjectName("tiles")
        self.service_grid = QGridLayout(self.tiles_box)
        self.service_grid.setContentsMargins(0, 0, 0, 0)
        self.service_grid.setSpacing(16)
        self.services_scroll.setWidget(self.tiles_box)
        col.addWidget(self.services_scroll, 1)

    def _build_ticket(self, page: QWidget) -> None:
        col = QVBoxLayout(page)
        self._pads.append(col)
        col.setContentsMargins(40, 32, 40, 24)
        col.setSpacing(16)
        self.ticket_status = _label("ticketStatus", page)
        self.ticket_status_alt = _label("ticketStatusAlt", page)
        col.addWidget(self.ticket_status)
        col.addWidget(self.ticket_status_alt)
        self.ticket_body = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        text = QVBoxLayout()
        text.setSpacing(12)
        self.ticket_mark = _label("ticketMark", page, wrap=False)
        self.ticket_number = _label("ticketNumber", page, wrap=False)
        self.ticket_service = _label("ticketService", page)
        self.ticket_service_alt = _label("ticketServiceAlt", page)
        self.ticket_where = _label("ticketWhere", page)
        self.ticket_where_alt = _label("ticketWhereAlt", page)
        self.ticket_info = _label("ticketInfo", page)
        self.ticket_note = _label("ticketNote", page)
        text.addStretch(1)
        text.addWidget(self.ticket_mark, 0, Qt.AlignmentFlag.AlignHCenter)
        for w in (self.ticket_number, self.ticket_service, self.ticket_service_alt,
                  self.ticket_where, self.ticket_where_alt, self.ticket_info, self.ticket_note):
            text.addWidget(w)
        text.addStretch(1)
        qr = QVBoxLayout()
        qr.addStretch(1)
        self.ticket_qr = _label("ticketQr", page, wrap=False)
        self.scan_hint = _label("scanHint", page)
        qr.addWidget(self.ticket_qr)
        qr.addWidget(self.scan_hint)
        qr.addStretch(1)
        self.ticket_body.addLayout(text, 3)
        self.ticket_body.addLayout(qr, 2)
        col.addLayout(self.ticket_body, 1)
        self.ticket_hint = _label("ticketHint", page)
        col.addWidget(self.ticket_hint)

    def _build_search(self, page: QWidget) -> None:
        col = QVBoxLayout(page)
        row, self.search_back, self.search_title, self.search_alt = _back_row(self, page)
        col.addLayout(row)
        self.query_edit = QLineEdit(page)
        self.query_edit.setObjectName("query")
        self.query_edit.setMaxLength(SEARCH_MAX)
        # A keyboard or an IME (Chinese) types here as well as the keys below.
        self.query_edit.textEdited.connect(lambda t: self.intent.emit("query_text", t))
        col.addWidget(self.query_edit)
        self.search_hint = _label("subtitle", page)
        col.addWidget(self.search_hint)
        self.search_body = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        results = QWidget(page)
        self.result_grid = QGridLayout(results)
        self.result_grid.setContentsMargins(0, 0, 0, 0)
        self.result_grid.setSpacing(12)
        self.result_tiles: list[Tile] = []
        for i in range(SEARCH_RESULTS):
            tile = Tile("service", "", results)
            tile.setObjectName(f"result_{i}")
            _restyle(tile, "dense", "true")
            tile.clicked.connect(lambda _=False, t=tile: self.intent.emit("service", t.key))
            self.result_grid.addWidget(tile, i // 2, i % 2)
            self.result_tiles.append(tile)
        self.search_none = _label("subtitle", results)
        self.result_grid.addWidget(self.search_none, 0, 0, 1, 2)
        # Few results stay tile-sized at the top instead of filling the page.
        self.result_grid.setRowStretch((SEARCH_RESULTS + 1) // 2, 1)
        self.search_body.addWidget(results, 3)
        self.letters = QWidget(page)
        grid = QGridLayout(self.letters)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(8)
        self.letter_keys: dict[str, QPushButton] = {}
        for r, line in enumerate(("QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM")):
            for c, ch in enumerate(line):
                key = QPushButton(ch, self.letters)
                key.setObjectName(f"letter_{ch}")
                key.setProperty("role", "key")
                key.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
                key.clicked.connect(lambda _=False, x=ch: self.intent.emit("query_key", x.lower()))
                grid.addWidget(key, r, c)
                self.letter_keys[ch] = key
        for name, column, span, intent in (("delete", 7, 1, "query_delete"),
                                           ("clear", 8, 2, "query_clear")):
            key = QPushButton(self.letters)
            key.setObjectName(f"query_{name}")
            key.setProperty("role", "key")
            key.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            key.clicked.connect(lambda _=False, i=intent: self.intent.emit(i, None))
            grid.addWidget(key, 2, column, 1, span)
            self.letter_keys[name] = key
        self.search_body.addWidget(self.letters, 2)
        col.addLayout(self.search_body, 1)
        self._pads.append(col)

    def _build_checkin(self, page: QWidget) -> None:
        col = QVBoxLayout(page)
        row, self.checkin_back, self.checkin_title, self.checkin_alt = _back_row(self, page)
        col.addLayout(row)
        self.checkin_hint = _label("subtitle", page)
        self.code = _label("code", page, wrap=False)
        # Portrait: hint, code, message, keypad from top to bottom; landscape:
        # the keypad on the right, so it keeps its height on a 768 px screen.
        self.checkin_body = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        # Ignored widths: the columns split 2:3 by stretch alone, whatever the
        # message says (a longer one must not narrow the keypad).
        left_box = QWidget(page)
        left_box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        left = QVBoxLayout(left_box)
        left.setContentsMargins(0, 0, 0, 0)
        left.addWidget(self.checkin_hint)
        left.addWidget(self.code)
        # The check-in message has a slot of its own, always laid out at the
        # height of the longest message: showing one never moves the keys.
        self.checkin_slot = MessageSlot(left_box)
        self.checkin_notice = self.checkin_slot.frame
        self.checkin_notice_text = self.checkin_slot.text
        self.checkin_notice_alt = self.checkin_slot.alt
        left.addWidget(self.checkin_slot)
        left.addStretch(1)
        self.checkin_body.addWidget(left_box, 2)
        col.addLayout(self.checkin_body, 1)
        self.keypad = Keypad(page)
        self.keypad.key.connect(lambda c: self.intent.emit("key", c))
        self.keypad.delete.connect(lambda: self.intent.emit("delete", None))
        self.keypad.clear.connect(lambda: self.intent.emit("clear", None))
        self.keypad.submit.connect(lambda: self.intent.emit("submit", None))
        self.keypad.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.checkin_body.addWidget(self.keypad, 3)
        self._pads.append(col)

    def _build_requeue(self, page: QWidget) -> None:
        col = QVBoxLayout(page)
        row, self.requeue_back, self.requeue_title, self.requeue_alt = _back_row(self, page)
        col.addLayout(row)
        # As check-in: hint, number and result above the keypad in portrait,
        # beside it in landscape (the keys keep their height on a 768 px screen).
        self.requeue_body = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        left_box = QWidget(page)
        left_box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        left = QVBoxLayout(left_box)
        left.setContentsMargins(0, 0, 0, 0)
        self.requeue_hint = _label("subtitle", left_box)
        self.requeue_code = _label("code", left_box, wrap=False)
        # The ticket scanner is a keyboard: it types the QR's text and Enter
        # into whatever has focus, which on this page is this (tiny) field.
        self.scan_input = QLineEdit(left_box)
        self.scan_input.setObjectName("scanInput")
        self.scan_input.setFixedSize(2, 2)
        self.scan_input.returnPressed.connect(self._scanned)
        # Its messages and the result share one slot, as tall as the tallest
        # of them: the keypad never moves (see _reserve_slots).
        self.requeue_slot = MessageSlot(left_box)
        self.requeue_result = _label("ticketInfo", self.requeue_slot)
        self.requeue_slot.add(self.requeue_result)
        left.addWidget(self.requeue_hint)
        left.addWidget(self.requeue_code)
        left.addWidget(self.requeue_slot)
        left.addWidget(self.scan_input)
        left.addStretch(1)
        self.requeue_body.addWidget(left_box, 2)
        col.addLayout(self.requeue_body, 1)
        self.requeue_keypad = Keypad(page)
        self.requeue_keypad.key.connect(lambda c: self.intent.emit("key", c))
        self.requeue_keypad.delete.connect(lambda: self.intent.emit("delete", None))
        self.requeue_keypad.clear.connect(lambda: self.intent.emit("clear", None))
        self.requeue_keypad.submit.connect(lambda: self.intent.emit("requeue_submit", None))
        self.requeue_keypad.setSizePolicy(QSizePolicy.Policy.Ignored,
                                          QSizePolicy.Policy.Expanding)
        self.requeue_body.addWidget(self.requeue_keypad, 3)
        self._pads.append(col)

    def _scanned(self) -> None:
        text = self.scan_input.text()
        self.scan_input.clear()
        if text.strip():
            self.intent.emit("scan", text)

    def _render_requeue(self, state: KioskState) -> None:
        first, second = state.both("requeue_title")
        self.requeue_title.setText(first)
        self.requeue_alt.setText(second)
        self.requeue_back.setText(f"‹ {state.text('back')}")
        self.requeue_hint.setText("\n".join(state.both("requeue_hint")))
        self.requeue_code.setText(" ".join(state.code) if state.code else "_ " * 4)
        self._reserve_slots(state)
        lines = state.requeue_lines()
        self.requeue_result.setText("\n".join(lines))
        self.requeue_result.setVisible(bool(lines) and state.notice is None)
        self.requeue_keypad.set_labels(state.text("clear"), state.text("requeue_submit"),
                                       state.text("delete"))
        self.requeue_keypad.set_busy(state.pending is not None or not state.online)
        self.scan_input.setEnabled(state.online)
        if self.isActiveWindow() and not self.scan_input.hasFocus():
            self.scan_input.setFocus()

    def _build_priority(self, page: QWidget) -> None:
        col = QVBoxLayout(page)
        self._pads.append(col)
        col.setContentsMargins(40, 24, 40, 40)
        col.setSpacing(32)
        row, self.priority_back, self.priority_title, self.priority_alt = _back_row(self, page)
        col.addLayout(row)
        col.addStretch(1)
        self.priority_who = _label("priorityText", page)
        self.priority_who_alt = _label("subtitle", page)
        self.priority_check = _label("priorityCheck", page)
        for w in (self.priority_who, self.priority_who_alt, self.priority_check):
            col.addWidget(w)
        col.addStretch(1)
        self.confirm_priority = QPushButton(page)
        self.confirm_priority.setObjectName("confirmPriority")
        self.confirm_priority.setMinimumHeight(MIN_TOUCH * 3)
        self.confirm_priority.clicked.connect(lambda: self.intent.emit("priority_confirm", None))
        col.addWidget(self.confirm_priority)

    # -- events -----------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        # Presses no button took end up here (buttons' own intents touch the
        # state themselves): they restart the idle timeout, and on the ticket
        # screen any tap returns home. (No application-wide event filter: it
        # would run Python for every event of every widget.)
        self.intent.emit("touch", None)
        if self.stack.currentWidget() is self.pages["ticket"]:
            self.intent.emit("ticket", None)
        super().mousePressEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: N802, A002 - Qt API
        # A scanner that ends with Tab, while a button has the focus: the
        # button takes Tab for focus and asks its parents (up to here).
        if self.scanner.end():
            return True
        return super().focusNextPrevChild(next)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._apply_layout()

    def _apply_layout(self) -> None:
        w, h = max(1, self.width()), max(1, self.height())
        landscape = w > h
        # 1.0 at 1080x1920 or 1920x1080; either side may be the tight one.
        scale = max(0.5, min(2.0, min(min(w, h) / 1080, max(w, h) / 1920)))
        if abs(scale - self._scale) > 0.01:
            self._scale = scale
            self.setStyleSheet(_style(scale))
        if landscape != self.landscape or not self.category_grid.count():
            self.landscape = landscape
            for i, cid in enumerate(CATEGORIES):
                tile = self.category_tiles[cid]
                self.category_grid.removeWidget(tile)
                if landscape:
                    self.category_grid.addWidget(tile, 0, i)
                else:
                    self.category_grid.addWidget(tile, i, 0)
            direction = (QBoxLayout.Direction.LeftToRight if landscape
                         else QBoxLayout.Direction.TopToBottom)
            for body in self._bodies():
                body.setDirection(direction)
            for keypad in (self.keypad, self.requeue_keypad):
                keypad.set_columns(8 if landscape else 6)
            self._grid_key = ()

        def px(n: float, least: int = 0) -> int:
            return max(least, round(n * scale))

        for pad in self._pads:
            pad.setContentsMargins(px(40), px(24), px(40), px(24))
            pad.setSpacing(px(20))
        for body in self._bodies():
            body.setSpacing(px(32))
        tall = px(200 if not landscape else 170, MIN_TOUCH)
        for tile in self.category_tiles.values():
            tile.setMinimumHeight(tall)
        for tile in (self.checkin_button, self.priority_button, self.requeue_button):
            tile.setMinimumHeight(px(150 if not landscape else 120, MIN_TOUCH))
        for tile in self.popular_tiles:
            tile.setMinimumHeight(px(110, MIN_TOUCH))
        for tile in self.result_tiles:
            tile.setMinimumHeight(px(110, MIN_TOUCH))
        self.search_button.setMinimumSize(px(260, MIN_TOUCH * 2), px(100, MIN_TOUCH))
        self.query_edit.setMinimumHeight(px(100, MIN_TOUCH))
        self.lang_button.setMinimumHeight(px(80, MIN_TOUCH))
        for back in (self.services_back, self.checkin_back, self.priority_back, self.search_back,
                     self.requeue_back):
            back.setMinimumSize(px(200, MIN_TOUCH), px(100, MIN_TOUCH))
        for code in (self.code, self.requeue_code):
            code.setMinimumHeight(px(120, MIN_TOUCH))
        for key in (*self.keypad.findChildren(QPushButton),
                    *self.requeue_keypad.findChildren(QPushButton), *self.letter_keys.values()):
            key.setMinimumHeight(px(88, MIN_TOUCH))
        self.confirm_priority.setMinimumHeight(px(180, MIN_TOUCH))
        if self._state is not None:
            self.render(self._state)

    def _bodies(self) -> tuple[QBoxLayout, ...]:
        """The pages' bodies that turn sideways in landscape."""
        return (self.ticket_body, self.checkin_body, self.search_body, self.requeue_body)

    def _reserve_slots(self, state: KioskState) -> None:
        """Size the check-in and 过号重排 message slots for the longest message
        each can show (both languages): their height never follows the message."""
        width = self.width() - 2 * round(40 * self._scale)
        if self.landscape:  # the left column of a 2:3 split
            width = (width - round(32 * self._scale)) * 2 // 5
        self.checkin_slot.reserve(state, width, self._scale, CHECKIN_MESSAGES)
        # The result: the number, people ahead and the estimate (3 lines).
        self.requeue_result.ensurePolished()
        result = 3 * self.requeue_result.fontMetrics().lineSpacing()
        self.requeue_slot.reserve(state, width, self._scale, REQUEUE_MESSAGES, floor=result)

    # -- rendering --------------------------------------------------------
    # render(state) is the views' contract (docs/ARCHITECTURE.md); it shadows
    # QWidget.render(device), which nothing here calls from Python.
    def render(self, state: KioskState) -> None:  # type: ignore[override]
        """Show ``state``. Cheap enough to call on every change and every second."""
        self._state = state
        hall = state.hall or {}
        self.hall_name.setText(str(hall.get("name") or "qhall"))
        self.clock.setText(state.clock_text())
        self.lang_button.setText("English" if state.lang == "zh" else "中文")
        self._render_banner(state)
        notice = str(hall.get("notice") or "")
        self.footer_text.setText(notice)
        self.footer.setVisible(bool(notice))
        page = {"home": self._render_home, "services": self._render_services,
                "search": self._render_search,
                "ticket": self._render_ticket, "checkin": self._render_checkin,
                "priority": self._render_priority, "requeue": self._render_requeue}[state.screen]
        page(state)
        self._render_notice(state)  # after the page: check-in sizes its slot first
        self.stack.setCurrentWidget(self.pages[state.screen])

    def _render_banner(self, state: KioskState) -> None:
        if state.online:
            self.banner.hide()
            return
        # Always in both languages: whoever stands here must understand it.
        key = "refused" if state.refused is not None else "offline"
        self.banner_text.setText(state.text(key, "zh"))
        self.banner_alt.setText(state.text(key, "en"))
        self.banner.show()

    def _render_notice(self, state: KioskState) -> None:
        slot = {"checkin": self.checkin_slot, "requeue": self.requeue_slot}.get(state.screen)
        if slot is not None:
            # Its own reserved slot (see MessageSlot), never the bottom bar.
            self.notice_holder.hide()
            slot.show_notice(state)
            return
        if state.notice is None or state.screen == "ticket" or (
                not state.online and state.notice.key == "offline"):
            self.notice_holder.hide()
            return
        other = "en" if state.lang == "zh" else "zh"
        self.notice_text.setText(state.notice_text())
        self.notice_alt.setText(state.notice_text(other))
        _restyle(self.notice, "level", state.notice.level)
        self.notice_holder.show()

    def _render_home(self, state: KioskState) -> None:
        first, second = state.both("choose")
        self.home_title.setText(first)
        self.home_sub.setText(second)
        self.priority_banner.setVisible(state.priority)
        self.priority_banner.setText(state.text("priority_active"))
        tiles = {t.id: t for t in state.category_tiles()}
        have_hall = state.hall is not None
        self.connecting.setVisible(not have_hall)
        self.connecting.setText("\n".join(state.both("connecting")))
        for cid, widget in self.category_tiles.items():
            tile = tiles.get(cid)
            widget.setVisible(tile is not None)
            widget.setEnabled(state.online)  # offline: every action greys
            if tile is None:
                continue
            names = (tile.name, tile.name_en) if state.lang == "zh" else (tile.name_en, tile.name)
            widget.set_texts(names[0], names[1], state.text("waiting_n", n=tile.waiting))
        for widget, key in ((self.checkin_button, "appointment"),
                            (self.priority_button, "priority"),
                            (self.requeue_button, "requeue")):
            first, second = state.both(key)
            widget.set_texts(first, second)
            widget.setVisible(have_hall)
        self.checkin_button.setEnabled(state.online)
        self.priority_button.setEnabled(state.online and not state.priority)
        self.requeue_button.setEnabled(state.online)
        self.search_button.setText("⌕ " + state.text("search"))
        self.search_button.setVisible(have_hall)
        self.search_button.setEnabled(state.online)
        popular = state.popular_tiles() if have_hall else []
        self.popular_row.setVisible(bool(popular))
        self.popular_caption.setText("\n".join(state.both("popular")))
        self._fill_tiles(state, self.popular_tiles, popular, sub=False)

    def _fill_tiles(self, state: KioskState, widgets: list[Tile], tiles: list[ServiceTile],
                    sub: bool = True) -> None:
        """Show ``tiles`` on the first of ``widgets``, hide the rest."""
        for i, widget in enumerate(widgets):
            widget.setVisible(i < len(tiles))
            if i < len(tiles):
                widget.key = tiles[i].id
                self._render_service_tile(state, widget, tiles[i], sub=sub)

    def _render_search(self, state: KioskState) -> None:
        first, second = state.both("search_title")
        if state.priority:
            first = f"{first} · {state.text('priority')}"
        self.search_title.setText(first)
        self.search_alt.setText(second)
        self.search_back.setText(f"‹ {state.text('back')}")
        if self.query_edit.text() != state.query:
            self.query_edit.setText(state.query)
        self.search_hint.setText(state.text("search_hint"))
        tiles = state.search_tiles()
        self._fill_tiles(state, self.result_tiles, tiles)
        self.search_none.setVisible(bool(state.query.strip()) and not tiles)
        self.search_none.setText("\n".join(state.both("search_none")))
        self.letter_keys["delete"].setText("⌫")
        self.letter_keys["clear"].setText(state.text("clear"))

    def _render_services(self, state: KioskState) -> None:
        zh, en = CATEGORIES.get(state.category or "", ("", ""))
        first, second = (zh, en) if state.lang == "zh" else (en, zh)
        if state.priority:
            first = f"{first} · {state.text('priority')}"
        self.services_title.setText(first)
        self.services_alt.setText(second)
        self.services_back.setText(f"‹ {state.text('back')}")
        tiles = state.service_tiles()
        columns = (4 if len(tiles) > 9 else 3) if self.landscape else 2
        key = (state.category, columns, tuple(t.id for t in tiles))
        if key != self._grid_key:
            self._relayout_services(tiles, columns)
            self._grid_key = key
        for tile in tiles:
            self._render_service_tile(state, self.service_tiles[tile.id], tile)

    def _relayout_services(self, tiles: list[ServiceTile], columns: int) -> None:
        while self.service_grid.count():
            item = self.service_grid.takeAt(0)
            old = item.widget() if item is not None else None
            if old is not None:
                old.hide()
        for i, tile in enumerate(tiles):
            widget = self.service_tiles.get(tile.id)
            if widget is None:
                widget = Tile("service", tile.id, self.tiles_box)
                widget.setObjectName(f"service_{tile.id}")
                widget.clicked.connect(lambda _=False, s=tile.id: self.intent.emit("service", s))
                self.service_tiles[tile.id] = widget
            widget.setMinimumHeight(max(MIN_TOUCH * 2, round(150 * self._scale)))
            _restyle(widget, "dense", "true" if columns >= 4 else "false")
            self.service_grid.addWidget(widget, i // columns, i % columns)
            widget.show()
        rows = (len(tiles) + columns - 1) // columns
        for r in range(max(rows, 1) + 1):
            self.service_grid.setRowStretch(r, 1 if r < rows else 0)
        # Few tiles: keep them tile-sized instead of stretched over the page.
        if rows < 4:
            self.service_grid.setRowStretch(rows, 4 - rows)

    def _render_service_tile(self, state: KioskState, widget: Tile, tile: ServiceTile,
                             sub: bool = True) -> None:
        names = (tile.name, tile.name_en) if state.lang == "zh" else (tile.name_en, tile.name)
        if not sub:
            names = (names[0], "")
        if tile.reason is None:
            # The shared estimate: the same words as the ticket and /t/ page.
            est = tile.estimate.text(state.lang) if tile.estimate is not None else ""
            meta = state.text("tile_wait", n=tile.waiting, est=est) if est \
                else state.text("waiting_n", n=tile.waiting)
            level = "normal"
        else:
            meta = state.text(tile.reason)
            if tile.reason == "closed" and tile.hours:
                meta += " · " + state.text("closed_hours", hours=tile.hours)
            level = "error"
        widget.set_texts(names[0], names[1], meta, level)
        widget.setEnabled(tile.enabled and state.pending is None)

    def _render_ticket(self, state: KioskState) -> None:
        ticket = state.ticket or {}
        failed = state.print_state == "failed"
        printing = state.print_state == "printing"
        key = "print_failed" if failed else "printing" if printing else "take"
        first, second = state.both(key)
        self.ticket_status.setText(first)
        self.ticket_status_alt.setText(second)
        _restyle(self.ticket_status, "level",
                 "error" if failed else "info" if printing else "ok")
        priority = ticket.get("priority", "normal")
        mark = {"priority": "priority_mark", "appointment": "appointment_mark"}.get(priority)
        self.ticket_mark.setVisible(mark is not None)
        if mark is not None:
            self.ticket_mark.setText(state.text(mark))
        number_font = QFont()
        number_font.setFamilies(FONT_FAMILIES)
        number_font.setPixelSize(max(40, round((200 if self.landscape else 260) * self._scale)))
        number_font.setBold(True)
        number_font.setFeature(QFont.Tag("tnum"), 1)
        self.ticket_number.setFont(number_font)
        self.ticket_number.setText(str(ticket.get("number", "")))
        svc = state.services.get(str(ticket.get("service")), {})
        names = (str(svc.get("name", ticket.get("service", ""))), str(svc.get("name_en", "")))
        if state.lang == "en":
            names = (names[1] or names[0], names[0])
        self.ticket_service.setText(names[0])
        self.ticket_service_alt.setText(names[1])
        sid = str(ticket.get("service", ""))
        other = "en" if state.lang == "zh" else "zh"
        where = state.where_line(sid)
        self.ticket_where.setText(where)
        self.ticket_where_alt.setText(state.where_line(sid, other) if where else "")
        self.ticket_where.setVisible(bool(where))
        self.ticket_where_alt.setVisible(bool(where) and self.ticket_where_alt.text() != where)
        self.ticket_info.setText("\n".join(state.ticket_lines()))
        self.ticket_note.setText(state.ticket_note)
        self.ticket_note.setVisible(bool(state.ticket_note))
        # The QR code waits until the print job is done: both need the same
        # (slow, pure-Python) QR encoding, and the paper is the critical path.
        url = state.ticket_url if not printing else ""
        base = 420 if not failed else (640 if not self.landscape else 480)
        size = max(120, round(base * self._scale))
        if (url, size) != self._qr_key:
            self._qr_key = (url, size)
            self.ticket_qr.setPixmap(qr_pixmap(url, size) if url else QPixmap())
        self.ticket_qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.scan_hint.setText("\n".join(state.both("scan")))
        self.ticket_hint.setText("  ".join(state.both("tap_return")))

    def _render_checkin(self, state: KioskState) -> None:
        self._reserve_slots(state)
        first, second = state.both("checkin_title")
        self.checkin_title.setText(first)
        self.checkin_alt.setText(second)
        self.checkin_back.setText(f"‹ {state.text('back')}")
        self.checkin_hint.setText("  ".join(state.both("checkin_hint")))
        self.code.setText(" ".join(state.code) if state.code else "_ " * 8)
        self.keypad.set_labels(state.text("clear"), state.text("checkin_submit"),
                               state.text("delete"))
        self.keypad.set_busy(state.pending is not None or not state.online)

    def _render_priority(self, state: KioskState) -> None:
        first, second = state.both("priority_title")
        self.priority_title.setText(first)
        self.priority_alt.setText(second)
        self.priority_back.setText(f"‹ {state.text('back')}")
        who, who_alt = state.both("priority_who")
        self.priority_who.setText(who)
        self.priority_who_alt.setText(who_alt)
        self.priority_check.setText("\n".join(state.both("priority_check")))
        self.confirm_priority.setText(state.text("priority_confirm"))
        self.confirm_priority.setEnabled(state.online)

    # -- for tests --------------------------------------------------------
    def page_name(self) -> str:
        """The name of the page on screen."""
        current = self.stack.currentWidget()
        return next(n for n, p in self.pages.items() if p is current)
