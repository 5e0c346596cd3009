"""The printed ticket: one white ``QImage`` per ticket, ready for a thermal printer.

The image is as wide as the printer's print head (576 dots for 80 mm paper at
203 dpi, 384 dots for 58 mm) and as tall as its content. Everything is black on
white so :func:`to_monochrome` can turn it into the 1-bit bitmap that ESC/POS
raster printing sends.

Qt needs a ``QGuiApplication`` (or ``QApplication``) before any font can be
measured or drawn: the kiosk app has one, ``qhall print-test`` makes an
offscreen one, tests use pytest-qt's ``qapp`` fixture. Without one,
:func:`render_ticket` raises ``RuntimeError`` instead of crashing inside Qt.

Where things were drawn is stored in the image's text keys
(``qhall.region.<name>`` = ``"x,y,w,h"``) and read back by
:func:`ticket_regions`, so tests and the kiosk screen can find the number or
the QR code without re-doing the layout.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import qrcode
import qrcode.constants
from PIL import Image
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QGuiApplication,
    QImage,
    QPainter,
    QPainterPath,
    QPen,
)

from server.wire.estimate import ahead_text, estimate
from server.wire.readers import parse_time
from server.wire.where import LABEL

__all__ = [
    "PAPER_58MM_PX",
    "PAPER_80MM_PX",
    "qr_matrix",
    "draw_qr",
    "render_ticket",
    "ticket_font_family",
    "ticket_regions",
    "to_monochrome",
]

log = logging.getLogger(__name__)

#: Print-head width in dots of 80 mm paper at 203 dpi.
PAPER_80MM_PX = 576
#: Print-head width in dots of 58 mm paper at 203 dpi.
PAPER_58MM_PX = 384
#: Widths we lay out sensibly; outside this range text no longer fits.
_MIN_WIDTH, _MAX_WIDTH = 320, 832

_PRIORITIES = ("normal", "priority", "appointment")
_LANGS = ("zh", "en")

# Families tried in order; WenQuanYi Micro Hei is what run.sh installs.
_PREFERRED_FAMILIES = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Droid Sans Fallback",
)
# Loaded by hand when fontconfig does not list them (e.g. a bare container).
_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
_family_cache: str | None = None

_REGION_PREFIX = "qhall.region."

# Text per language. Service names and the footer are printed in both
# languages (the selected one first); the rest only in the selected one.
_TEXT = {
    "zh": {
        "priority": "优先",
        "appointment": "预约",
        "issued": "取号时间 {t}",
        "scan": "扫码查看排队进度",
    },
    "en": {
        "priority": "PRIORITY",
        "appointment": "APPOINTMENT",
        "issued": "Issued {t}",
        "scan": "Scan to follow your turn",
    },
}
_FOOTER = {
    "zh": "请留意叫号，过号请凭此票到取号机重新排队",
    "en": "Please watch the board. Missed your call? Re-queue with this ticket at the kiosk.",
}


# ---------------------------------------------------------------------------
# fonts

def _require_app() -> None:
    if QGuiApplication.instance() is None:
        raise RuntimeError(
            "kiosk.ticket needs a QGuiApplication (fonts): create one first, "
            "e.g. QGuiApplication([]) with QT_QPA_PLATFORM=offscreen"
        )


def ticket_font_family() -> str:
    """Return the CJK font family tickets are drawn in.

    Tries the installed families first, then loads known font files, then any
    family that covers Simplified Chinese; falls back to Qt's default family
    (Chinese would print as boxes, so that is logged as an error).

    Raises:
        RuntimeError: no QGuiApplication exists yet.
    """
    global _family_cache
    _require_app()
    if _family_cache is not None:
        return _family_cache
    families = set(QFontDatabase.families())
    chosen = next((f for f in _PREFERRED_FAMILIES if f in families), None)
    if chosen is None:
        for path in _FONT_FILES:
            if os.path.exists(path):
                font_id = QFontDatabase.addApplicationFont(path)
                loaded = QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
                if loaded:
                    chosen = loaded[0]
                    break
    if chosen is None:
        cjk = QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese)
        if cjk:
            chosen = cjk[0]
    if chosen is None:
        chosen = QFont().defaultFamily()
        log.error("no CJK font found (install fonts-wqy-microhei); tickets use %r", chosen)
    _family_cache = chosen
    return chosen


def _font(px: int, bold: bool = False, tabular: bool = False) -> QFont:
    font = QFont(ticket_font_family())
    font.setPixelSize(max(1, px))
    font.setBold(bold)
    if tabular:
        # Tabular figures: every digit the same width, so numbers line up and
        # "A111" is as wide as "A888".
        font.setFeature(QFont.Tag("tnum"), 1)
    return font


def _fit_px(text: str, width: int, start_px: int, min_px: int, **style: bool) -> int:
    """Largest pixel size <= start_px at which ``text`` fits on one line."""
    px = start_px
    while px > min_px and QFontMetrics(_font(px, **style)).horizontalAdvance(text) > width:
        px -= 1
    return px


# ---------------------------------------------------------------------------
# QR code

def qr_matrix(data: str) -> list[list[bool]]:
    """Return the QR code of ``data`` as rows of booleans (True = dark), no border.

    Error correction M: survives a smudge or a fold on thermal paper while the
    code stays small enough for 58 mm tickets.
    """
    if not data:
        raise ValueError("QR data must not be empty")
    code = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    return [[bool(cell) for cell in row] for row in code.get_matrix()]


def draw_qr(painter: QPainter, matrix: Sequence[Sequence[bool]], x: int, y: int,
            module_px: int) -> QRect:
    """Draw ``matrix`` with its top-left corner at (x, y), ``module_px`` per module.

    Modules are filled, unantialiased squares on whole pixels so the code stays
    crisp after 1-bit conversion. Returns the rectangle drawn.
    """
    if module_px < 1:
        raise ValueError(f"module_px must be >= 1, got {module_px}")
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
    black = QColor(0, 0, 0)
    for row, cells in enumerate(matrix):
        for col, dark in enumerate(cells):
            if dark:
                painter.fillRect(x + col * module_px, y + row * module_px,
                                 module_px, module_px, black)
    painter.restore()
    size = len(matrix) * module_px
    return QRect(x, y, size, size)


# ---------------------------------------------------------------------------
# layout

@dataclass
class _Block:
    """One horizontal band of the ticket: its height and how to paint it."""

    name: str
    height: int
    paint: Callable[[QPainter, int], QRect]  # (painter, top y) -> drawn rect


def _text_block(name: str, text: str, font: QFont, width: int, margin: int,
                color: QColor | None = None) -> _Block:
    flags = int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
                | Qt.TextFlag.TextWordWrap)
    bound = QFontMetrics(font).boundingRect(QRect(0, 0, width - 2 * margin, 10_000), flags, text)

    def paint(p: QPainter, top: int) -> QRect:
        rect = QRect(margin, top, width - 2 * margin, bound.height())
        p.setFont(font)
        p.setPen(color or QColor(0, 0, 0))
        p.drawText(rect, flags, text)
        return rect

    return _Block(name, bound.height(), paint)


def _glyph_block(name: str, text: str, font: QFont, width: int, embolden: int = 0) -> _Block:
    """A single line drawn tight to its ink, centred: no wasted paper above/below.

    The glyph outlines are filled and stroked with a pen ``embolden`` px wide:
    CJK fonts usually ship one weight, and Qt's synthetic bold is not applied
    everywhere, so the big number would print thin without this.
    """
    path = QPainterPath()
    path.addText(0, 0, font, text)
    # Put the ink's top-left corner on (0, 0): Qt may start the first glyph a
    # fraction of a pixel off (it differs between the first and later uses of
    # a font), which would change the rasterised pixels from run to run.
    start = path.boundingRect().topLeft()
    path.translate(-start.x(), -start.y())
    ink = path.boundingRect().adjusted(-embolden / 2, -embolden / 2, embolden / 2, embolden / 2)
    ink_rect = ink.toAlignedRect()

    def paint(p: QPainter, top: int) -> QRect:
        dx = (width - ink_rect.width()) // 2 - ink_rect.left()
        dy = top - ink_rect.top()
        p.save()
        p.translate(dx, dy)
        # Unantialiased: the glyphs are big enough not to need it, the result
        # is already 1-bit, and Qt's antialiased path filling differs by a
        # grey level or two between the first and later paints.
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        black = QColor(0, 0, 0)
        p.fillPath(path, black)
        if embolden:
            pen = QPen(black, embolden)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            p.strokePath(path, pen)
        p.restore()
        return ink_rect.translated(dx, dy)

    return _Block(name, ink_rect.height(), paint)


def _marker_block(label: str, font: QFont, width: int) -> _Block:
    """White text on a black pill: the 优先 / 预约 mark, visible at a glance."""
    fm = QFontMetrics(font)
    pad_x, pad_y = fm.height() // 2, fm.height() // 5
    box_w = fm.horizontalAdvance(label) + 2 * pad_x
    box_h = fm.height() + 2 * pad_y

    def paint(p: QPainter, top: int) -> QRect:
        rect = QRect((width - box_w) // 2, top, box_w, box_h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0))
        p.drawRoundedRect(rect, box_h / 4, box_h / 4)
        p.setFont(font)
        p.setPen(QColor(255, 255, 255))
        p.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), label)
        return rect

    return _Block("marker", box_h, paint)


def _rule_block(width: int, margin: int, thickness: int) -> _Block:
    def paint(p: QPainter, top: int) -> QRect:
        rect = QRect(margin, top, width - 2 * margin, thickness)
        p.fillRect(rect, QColor(0, 0, 0))
        return rect

    return _Block("rule", thickness, paint)


def _qr_block(url: str, width: int) -> _Block:
    matrix = qr_matrix(url)
    # Whole pixels per module (crisp squares), about 45 % of the paper wide
    # but at least 3 dots per module so cheap scanners still read it.
    module_px = max(3, round(width * 0.45) // len(matrix))
    size = module_px * len(matrix)

    def paint(p: QPainter, top: int) -> QRect:
        return draw_qr(p, matrix, (width - size) // 2, top, module_px)

    return _Block("qr", size, paint)


def _spacer(height: int) -> _Block:
    return _Block("", height, lambda p, top: QRect())


# ---------------------------------------------------------------------------
# input checks

def _check_ticket(ticket: Mapping[str, Any]) -> None:
    if not isinstance(ticket, Mapping):
        raise ValueError(f"ticket must be a dict (PROTOCOL ticket object), got {type(ticket)}")
    number = ticket.get("number")
    if not isinstance(number, str) or not number.strip():
        raise ValueError(f"ticket.number must be a non-empty string, got {number!r}")
    priority = ticket.get("priority", "normal")
    if priority not in _PRIORITIES:
        raise ValueError(f"ticket.priority must be one of {_PRIORITIES}, got {priority!r}")
    for key in ("ahead", "eta_s"):
        value = ticket.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise ValueError(f"ticket.{key} must be an integer >= 0 or absent, got {value!r}")


def _issue_time(ticket: Mapping[str, Any], now: dt.datetime | None) -> dt.datetime:
    raw = ticket.get("issued_at")
    if raw is None:
        return now or dt.datetime.now().astimezone()
    if not isinstance(raw, str):
        raise ValueError(f"ticket.issued_at must be an ISO 8601 string, got {raw!r}")
    issued = parse_time(raw)
    if issued is None:  # bad, or without an offset: it cannot be placed (wire rule)
        raise ValueError(f"ticket.issued_at {raw!r} is not an ISO 8601 time with an offset")
    return issued


# ---------------------------------------------------------------------------
# public API

def render_ticket(ticket: Mapping[str, Any], hall_name: str, service_name: str,
                  service_name_en: str, status_url: str, lang: str = "zh",
                  width_px: int = PAPER_80MM_PX, now: dt.datetime | None = None,
                  where: str = "") -> QImage:
    """Draw one ticket.

    Args:
        ticket: the PROTOCOL.md ticket object (``number`` required; ``priority``,
            ``ahead``, ``eta_s``, ``issued_at`` used when present).
        hall_name: printed at the top.
        service_name: Chinese service name.
        service_name_en: English service name.
        status_url: the server's ``/t/<check>`` page; the QR code points here.
        lang: ``"zh"`` or ``"en"``: the language of the labels; the service
            name and the footer are bilingual with this language first.
        width_px: print-head width in dots (576 for 80 mm, 384 for 58 mm).
        now: the issue time shown when the ticket has no ``issued_at`` (the
            time shown is the ticket's own ``issued_at``, in its own offset,
            which the server gives in the hall's time zone).
        where: where to go (the service's zone or its counters, see
            :func:`server.wire.where.where_text`); printed under the service name.

    Returns:
        A ``Format_RGB32`` image exactly ``width_px`` wide, black on white.

    Raises:
        ValueError: bad ticket fields, language, width or URL.
        RuntimeError: no QGuiApplication exists.
    """
    _require_app()
    _check_ticket(ticket)
    if lang not in _LANGS:
        raise ValueError(f"lang must be one of {_LANGS}, got {lang!r}")
    if not isinstance(width_px, int) or not _MIN_WIDTH <= width_px <= _MAX_WIDTH:
        raise ValueError(f"width_px must be an integer in {_MIN_WIDTH}..{_MAX_WIDTH} "
                         f"(576 for 80 mm paper, 384 for 58 mm), got {width_px!r}")
    if not status_url:
        raise ValueError("status_url must not be empty (the QR code points to it)")
    issued = _issue_time(ticket, now)
    text = _TEXT[lang]
    w = width_px
    margin = round(w * 0.04)
    inner = w - 2 * margin
    gap = round(w * 0.025)

    blocks: list[_Block] = [_spacer(gap)]
    hall_px = _fit_px(hall_name, inner, round(w / 16), round(w / 24), bold=True)
    blocks.append(_text_block("hall", hall_name, _font(hall_px, bold=True), w, margin))
    blocks += [_spacer(gap), _rule_block(w, margin, max(2, w // 200)), _spacer(gap)]

    first, second = ((service_name, service_name_en) if lang == "zh"
                     else (service_name_en, service_name))
    blocks.append(_text_block("service", first, _font(round(w / 15), bold=True), w, margin))
    if second:
        blocks.append(_text_block("service_alt", second, _font(round(w / 26)), w, margin))
    if where.strip():
        blocks.append(_text_block("where", f"{LABEL[lang]}: {where.strip()}",
                                  _font(round(w / 20), bold=True), w, margin))
    blocks.append(_spacer(gap))

    priority = ticket.get("priority", "normal")
    if priority != "normal":
        blocks += [_marker_block(text[priority], _font(round(w / 18), bold=True), w),
                   _spacer(gap)]

    number = ticket["number"].strip()
    number_px = _fit_px(number, inner, round(w * 0.32), round(w * 0.12),
                        bold=True, tabular=True)
    number_font = _font(number_px, bold=True, tabular=True)
    blocks += [_glyph_block("number", number, number_font, w, embolden=max(2, number_px // 28)),
               _spacer(round(gap * 1.5))]

    info_font = _font(round(w / 20))
    # The same words as the kiosk's tiles and screen and the /t/ page.
    ahead = ticket.get("ahead")
    info: list[str] = []
    if ahead is not None:
        info.append(ahead_text(ahead, lang))
    wait = estimate(ticket, tz=issued.tzinfo)
    if wait is not None:
        info.append(wait.line(lang))
    if info:
        blocks.append(_text_block("info", "\n".join(info), info_font, w, margin))
    stamp = issued.strftime("%Y-%m-%d %H:%M")
    blocks += [_text_block("issued", text["issued"].format(t=stamp), _font(round(w / 26)),
                           w, margin),
               _spacer(gap)]

    blocks += [_qr_block(status_url, w), _spacer(gap // 2),
               _text_block("scan", text["scan"], _font(round(w / 26)), w, margin),
               _spacer(gap), _rule_block(w, margin, 1), _spacer(gap // 2)]

    other = "en" if lang == "zh" else "zh"
    footer = f"{_FOOTER[lang]}\n{_FOOTER[other]}"
    blocks += [_text_block("footer", footer, _font(round(w / 30)), w, margin), _spacer(gap * 2)]

    height = sum(b.height for b in blocks)
    image = QImage(w, height, QImage.Format.Format_RGB32)
    image.fill(QColor(255, 255, 255))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        painter.setPen(QPen(QColor(0, 0, 0)))
        top = 0
        for block in blocks:
            rect = block.paint(painter, top)
            if block.name and block.name != "rule":
                image.setText(_REGION_PREFIX + block.name,
                              f"{rect.x()},{rect.y()},{rect.width()},{rect.height()}")
            top += block.height
    finally:
        painter.end()
    return image


def ticket_regions(image: QImage) -> dict[str, QRect]:
    """Return where :func:`render_ticket` drew each part, by name.

    Names: ``hall``, ``service``, ``service_alt``, ``where``, ``marker`` (priority and
    appointment tickets only), ``number`` (tight to the glyphs), ``info``,
    ``issued``, ``qr`` (the code itself, no quiet zone), ``scan``, ``footer``.
    """
    regions: dict[str, QRect] = {}
    for key in image.textKeys():
        if key.startswith(_REGION_PREFIX):
            x, y, w, h = (int(v) for v in image.text(key).split(","))
            regions[key[len(_REGION_PREFIX):]] = QRect(x, y, w, h)
    return regions


def to_monochrome(image: QImage, threshold: int = 128) -> Image.Image:
    """Convert a ticket image to a 1-bit PIL image for ESC/POS raster printing.

    A plain threshold, no dithering: the ticket is black on white already and
    dithering would turn anti-aliased glyph edges into speckle on thermal paper.

    Args:
        image: any QImage; transparent pixels count as white paper.
        threshold: grey levels below this print black.

    Returns:
        A PIL image in mode ``"1"`` of the same size (0 = black, 255 = white).
    """
    if image.isNull():
        raise ValueError("cannot convert a null QImage")
    if not 1 <= threshold <= 255:
        raise ValueError(f"threshold must be in 1..255, got {threshold}")
    if image.hasAlphaChannel():
        flat = QImage(image.size(), QImage.Format.Format_RGB32)
        flat.fill(QColor(255, 255, 255))
        painter = QPainter(flat)
        painter.drawImage(0, 0, image)
        painter.end()
        image = flat
    gray = image.convertToFormat(QImage.Format.Format_Grayscale8)
    width, height, stride = gray.width(), gray.height(), gray.bytesPerLine()
    data = bytes(gray.constBits())[: stride * height]
    pil = Image.frombuffer("L", (width, height), data, "raw", "L", stride, 1)
    table = [0 if level < threshold else 255 for level in range(256)]
    return pil.point(table, mode="1")
