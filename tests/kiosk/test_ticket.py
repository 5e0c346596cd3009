"""Ticket image layout: size, regions, language, priority mark, QR code, 1-bit conversion."""

from __future__ import annotations

import datetime as dt

import pytest
from PIL import ImageChops
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage

from kiosk.ticket import (
    PAPER_58MM_PX,
    PAPER_80MM_PX,
    qr_matrix,
    render_ticket,
    ticket_font_family,
    ticket_regions,
    to_monochrome,
)

HALL = "滁州市政务服务中心"
URL = "http://127.0.0.1:8765/t/K7Q2M9"


def make_ticket(**over):
    ticket = {"id": "t1", "number": "A001", "service": "gjj", "status": "waiting",
              "priority": "normal", "issued_at": "2026-11-26T09:00:01+08:00",
              "counter": None, "ahead": 4, "eta_s": 600, "check": "K7Q2M9"}
    ticket.update(over)
    return ticket


def render(qapp, ticket=None, **kw):
    args = dict(hall_name=HALL, service_name="公积金", service_name_en="Housing provident fund",
                status_url=URL)
    args.update(kw)
    return render_ticket(ticket or make_ticket(), **args)


def dark(image: QImage, rect: QRect, level: int = 128) -> int:
    """Number of pixels darker than ``level`` inside ``rect``."""
    count = 0
    for y in range(rect.top(), rect.top() + rect.height()):
        for x in range(rect.left(), rect.left() + rect.width()):
            if QColor(image.pixel(x, y)).lightness() < level:
                count += 1
    return count


def changed(a: QImage, b: QImage) -> int:
    """Printed dots that differ between two same-sized images (after 1-bit conversion).

    Qt may place the big number's outline a 1/64 px differently on the first
    use of a font, which flips a handful of edge dots: "the same" below means
    a few dots at most, "different" means hundreds.
    """
    assert a.size() == b.size()
    return ImageChops.logical_xor(to_monochrome(a), to_monochrome(b)).histogram()[255]


SAME = 20       # dots: rasterisation noise
DIFFERENT = 200  # dots: visibly different drawing


def ink_rows(image: QImage, top: int, bottom: int) -> list[int]:
    """Rows in [top, bottom) that hold at least one dark pixel (sampled every 2 px)."""
    rows = []
    for y in range(top, bottom):
        if any(QColor(image.pixel(x, y)).lightness() < 128 for x in range(0, image.width(), 2)):
            rows.append(y)
    return rows


@pytest.mark.parametrize(("width", "low", "high"),
                         [(PAPER_80MM_PX, 600, 1300), (PAPER_58MM_PX, 400, 900)])
def test_size_fits_paper(qapp, width, low, high):
    image = render(qapp, width_px=width)
    assert image.width() == width
    assert low <= image.height() <= high


def test_cjk_font_is_used(qapp):
    assert ticket_font_family() in ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC",
                                    "Source Han Sans SC", "Droid Sans Fallback")


def test_regions_in_reading_order_and_inside_image(qapp):
    image = render(qapp)
    regions = ticket_regions(image)
    order = ["hall", "service", "service_alt", "number", "info", "issued", "qr", "scan",
             "footer"]
    assert set(order) <= set(regions)
    assert "marker" not in regions  # a normal ticket has no priority mark
    bounds = image.rect()
    for name in order:
        assert bounds.contains(regions[name]), name
    tops = [regions[name].top() for name in order]
    assert tops == sorted(tops)
    # Nothing overlaps vertically: each band ends before the next starts.
    for a, b in zip(order, order[1:], strict=False):
        assert regions[a].bottom() < regions[b].top(), (a, b)


def test_hall_name_in_top_band_and_margin_blank(qapp):
    image = render(qapp)
    hall = ticket_regions(image)["hall"]
    assert hall.top() < image.height() * 0.1
    assert dark(image, hall) > 200
    # The paper above the hall name is blank: no stray ink at the tear edge.
    assert ink_rows(image, 0, hall.top()) == []


def test_number_is_very_large_and_dark(qapp):
    image = render(qapp)
    number = ticket_regions(image)["number"]
    rows = ink_rows(image, number.top(), number.bottom() + 1)
    # Glyph height measured from the pixels, not from the layout's own claim.
    assert rows[-1] - rows[0] >= 0.2 * image.width()
    assert dark(image, number) > 0.25 * number.width() * number.height()
    # Bigger than anything else on the ticket.
    service = ticket_regions(image)["service"]
    assert number.height() > 2.5 * service.height()


def test_long_number_still_fits(qapp):
    image = render(qapp, make_ticket(number="A12345"))
    number = ticket_regions(image)["number"]
    assert number.left() >= 0 and number.right() < image.width()


def test_long_hall_name_wraps_inside_width(qapp):
    long_name = "安徽省滁州市人民政府政务服务中心不动产登记与公积金联合办事大厅"
    short = ticket_regions(render(qapp))["hall"]
    image = render(qapp, hall_name=long_name)
    hall = ticket_regions(image)["hall"]
    assert image.width() == PAPER_80MM_PX
    assert hall.height() > short.height()  # two lines rather than cut off


def test_english_differs_but_number_stays(qapp):
    zh = render(qapp, lang="zh")
    en = render(qapp, lang="en")
    zr, er = ticket_regions(zh), ticket_regions(en)
    assert changed(zh.copy(zr["info"]), en.copy(er["info"])) > DIFFERENT
    assert changed(zh.copy(zr["service"]), en.copy(er["service"])) > DIFFERENT
    # The number is the same drawing in both languages.
    assert zr["number"] == er["number"]
    assert changed(zh.copy(zr["number"]), en.copy(er["number"])) <= SAME


@pytest.mark.parametrize("priority", ["priority", "appointment"])
def test_priority_and_appointment_marked(qapp, priority):
    image = render(qapp, make_ticket(priority=priority))
    marker = ticket_regions(image).get("marker")
    assert marker is not None
    # A black pill with white text: mostly dark.
    assert dark(image, marker) > 0.5 * marker.width() * marker.height()
    assert marker.bottom() < ticket_regions(image)["number"].top()


def test_priority_and_appointment_marks_differ(qapp):
    a = render(qapp, make_ticket(priority="priority"))
    b = render(qapp, make_ticket(priority="appointment"))
    ra, rb = ticket_regions(a)["marker"], ticket_regions(b)["marker"]
    assert changed(a.copy(ra.intersected(rb)), b.copy(ra.intersected(rb))) > DIFFERENT


def module_grid(image: QImage, rect: QRect, size: int) -> list[list[bool]]:
    """Read a QR code back from the image: the centre pixel of each module."""
    module = rect.width() // size
    return [[QColor(image.pixel(rect.left() + c * module + module // 2,
                                rect.top() + r * module + module // 2)).lightness() < 128
             for c in range(size)] for r in range(size)]


@pytest.mark.parametrize("width", [PAPER_80MM_PX, PAPER_58MM_PX])
def test_qr_code_matches_status_url(qapp, width):
    image = render(qapp, width_px=width)
    rect = ticket_regions(image)["qr"]
    matrix = qr_matrix(URL)
    size = len(matrix)
    assert rect.width() == rect.height() and rect.width() % size == 0
    assert rect.width() // size >= 3  # at least 3 dots per module: readable
    assert module_grid(image, rect, size) == matrix
    # The three finder patterns (7x7: dark ring, light ring, dark 3x3 centre).
    grid = module_grid(image, rect, size)
    for r0, c0 in ((0, 0), (0, size - 7), (size - 7, 0)):
        block = [row[c0:c0 + 7] for row in grid[r0:r0 + 7]]
        assert all(block[0]) and all(block[6])
        assert all(row[0] and row[6] for row in block)
        assert not any(block[1][1:6]) and not any(block[5][1:6])
        assert all(all(row[2:5]) for row in block[2:5])
    # The quiet zone left and right of the code is white.
    assert dark(image, QRect(rect.left() - 12, rect.top(), 12, rect.height())) == 0
    assert dark(image, QRect(rect.right() + 1, rect.top(), 12, rect.height())) == 0


def test_qr_follows_url(qapp):
    other = "http://127.0.0.1:8765/t/ZZZZ99"
    image = render(qapp, status_url=other)
    rect = ticket_regions(image)["qr"]
    assert module_grid(image, rect, len(qr_matrix(other))) == qr_matrix(other)
    assert qr_matrix(other) != qr_matrix(URL)


def test_issue_time_from_ticket_else_now(qapp):
    now_a = dt.datetime(2026, 11, 26, 9, 0)
    now_b = dt.datetime(2026, 11, 27, 15, 45)
    # With issued_at, `now` changes nothing.
    assert changed(render(qapp, now=now_a), render(qapp, now=now_b)) <= SAME
    bare = make_ticket()
    del bare["issued_at"]
    a, b = render(qapp, bare, now=now_a), render(qapp, bare, now=now_b)
    ra, rb = ticket_regions(a)["issued"], ticket_regions(b)["issued"]
    assert ra == rb
    assert changed(a.copy(ra), b.copy(rb)) > DIFFERENT // 4  # a few digits differ
    assert changed(render(qapp, bare, now=now_a), a) <= SAME  # the same input, the same ticket


def test_ahead_and_eta_change_the_info_lines(qapp):
    base = render(qapp)
    other = render(qapp, make_ticket(ahead=12, eta_s=1500))
    rb, ro = ticket_regions(base)["info"], ticket_regions(other)["info"]
    assert rb == ro
    assert changed(base.copy(rb), other.copy(ro)) > DIFFERENT // 4
    nothing = render(qapp, make_ticket(ahead=None, eta_s=None))
    assert "info" not in ticket_regions(nothing)


@pytest.mark.parametrize(("over", "kw", "needle"), [
    ({"number": ""}, {}, "number"),
    ({"number": 7}, {}, "number"),
    ({"priority": "vip"}, {}, "priority"),
    ({"ahead": -1}, {}, "ahead"),
    ({"eta_s": "600"}, {}, "eta_s"),
    ({"issued_at": "yesterday"}, {}, "issued_at"),
    ({"issued_at": "2026-11-26T09:00:01"}, {}, "offset"),  # naive: cannot be placed
    ({"issued_at": 20261126}, {}, "issued_at"),
    ({}, {"lang": "fr"}, "lang"),
    ({}, {"width_px": 100}, "width_px"),
    ({}, {"status_url": ""}, "status_url"),
])
def test_bad_input_is_a_clear_error(qapp, over, kw, needle):
    with pytest.raises(ValueError, match=needle):
        render(qapp, make_ticket(**over), **kw)


def test_to_monochrome_thresholds_without_dither(qapp):
    image = QImage(4, 1, QImage.Format.Format_ARGB32)
    image.setPixelColor(0, 0, QColor(100, 100, 100))      # dark grey -> black
    image.setPixelColor(1, 0, QColor(200, 200, 200))      # light grey -> white
    image.setPixelColor(2, 0, QColor(0, 0, 0, 0))         # transparent -> paper white
    image.setPixelColor(3, 0, QColor(0, 0, 0))
    mono = to_monochrome(image)
    assert mono.mode == "1" and mono.size == (4, 1)
    assert [mono.getpixel((x, 0)) for x in range(4)] == [0, 255, 255, 0]
    assert [to_monochrome(image, threshold=90).getpixel((x, 0)) for x in range(4)] == [
        255, 255, 255, 0]


def test_to_monochrome_of_ticket_keeps_size_and_ink(qapp):
    image = render(qapp)
    mono = to_monochrome(image)
    assert mono.size == (image.width(), image.height())
    histogram = mono.histogram()
    fraction = histogram[0] / (mono.width * mono.height)
    assert 0.05 < fraction < 0.5
    # Only pure black and white: no grey levels.
    assert histogram[0] + histogram[255] == mono.width * mono.height


def test_to_monochrome_rejects_null(qapp):
    with pytest.raises(ValueError, match="null"):
        to_monochrome(QImage())


def test_ticket_prints_where_to_go(qapp):
    image = render(qapp, where="B区 37-43号窗口")
    regions = ticket_regions(image)
    assert regions["where"].top() > regions["service_alt"].top()
    assert regions["where"].bottom() < regions["number"].top()
    assert dark(image, regions["where"]) > 200
    assert "where" not in ticket_regions(render(qapp))  # no place known: no line
