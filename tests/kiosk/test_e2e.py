"""The real kiosk widgets against the real server, over a real link, onto a real printer.

Category -> service -> ticket issued -> the ``file:`` printer got the ESC/POS
bytes, decoded back to a raster of the right size that is not blank; double
tap; server down and up; printer failure reported to the server (event and
/metrics); check-in and language switch through the real link.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from kiosk.app import KioskController
from kiosk.printer import open_printer
from kiosk.state import KioskState
from kiosk.view import KioskWindow
from server.client.qtlink import Link
from tests.helpers.fakes import FakePrinter
from tests.helpers.qt import wait_disconnected
from tests.helpers.server import TOKEN, RunningServer, small_config

pytestmark = pytest.mark.gui


def decode_raster(job: bytes) -> list[tuple[int, int, bytes]]:
    """The GS v 0 raster blocks of an ESC/POS job: (width dots, height dots, bits)."""
    assert job.startswith(b"\x1b@"), "job must start with ESC @"
    blocks, i = [], 0
    while (i := job.find(b"\x1dv0", i)) >= 0:
        xl, xh, yl, yh = job[i + 4:i + 8]
        width_bytes, height = xl + 256 * xh, yl + 256 * yh
        data = job[i + 8:i + 8 + width_bytes * height]
        assert len(data) == width_bytes * height, "truncated raster"
        blocks.append((width_bytes * 8, height, data))
        i += 8 + len(data)
    assert b"\x1dV" in job[i if i > 0 else 0:] or b"\x1dV" in job, "no cut"
    return blocks


@pytest.fixture
def server(tmp_path):
    srv = RunningServer(small_config(f"sqlite:///{tmp_path}/h.db")).start()
    yield srv
    srv.stop()


@pytest.fixture
def links(server, qtbot):
    made: list[Link] = []
    yield made
    for link in made:  # before the server stops: it need not wait for them
        link.close()
    wait_disconnected(qtbot, server)  # the close handshakes ran


def make_kiosk(qtbot, server, printer, links, lang="zh"):
    window = KioskWindow()
    qtbot.addWidget(window)
    window.resize(1080, 1920)
    window.show()
    link = Link(server.url, "kiosk-1", TOKEN("kiosk-1"), parent=window, timeout_ms=3000,
                backoff=(0.05, 0.3))
    links.append(link)
    ctl = KioskController(link, printer, state=KioskState(server_url=server.url, lang=lang),
                          window=window)
    with qtbot.waitSignal(ctl.ready, timeout=10000):
        link.open()
    return ctl


def tap(qtbot, widget):
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_ticket_printed_on_a_file_printer(qtbot, server, links, tmp_path):
    out = tmp_path / "lp0"
    ctl = make_kiosk(qtbot, server, open_printer(f"file:{out}"), links)
    w = ctl.window
    tap(qtbot, w.category_tiles["public"])
    with qtbot.waitSignal(ctl.printed, timeout=10000) as sig:
        tap(qtbot, w.service_tiles["gjj"])
    ticket, error = sig.args
    assert error == "" and ticket["number"] == "A001"
    assert w.page_name() == "ticket" and w.ticket_number.text() == "A001"
    blocks = decode_raster(Path(out).read_bytes())
    assert blocks and all(width == 576 for width, _, _ in blocks)
    height = sum(h for _, h, _ in blocks)
    assert 600 < height < 2500
    black = sum(bin(b).count("1") for _, _, data in blocks for b in data)
    total = sum(len(data) * 8 for _, _, data in blocks)
    assert 0.02 < black / total < 0.6  # ink, but not a black slab
    # The board sees the ticket; the kiosk shows the live count.
    with server.client("board-1") as board:
        assert board.welcome["snapshot"]["queues"]["gjj"]["waiting"] == 1


def test_double_tap_issues_one_ticket(qtbot, server, links):
    printer = FakePrinter()
    ctl = make_kiosk(qtbot, server, printer, links)
    tap(qtbot, ctl.window.category_tiles["public"])
    tile = ctl.window.service_tiles["tax"]
    with qtbot.waitSignal(ctl.printed, timeout=10000):
        tap(qtbot, tile)
        ctl.act("service", "tax")  # the second tap lands before the answer
    qtbot.wait(300)
    assert len(printer.printed) == 1
    with server.client("board-1") as board:
        assert board.welcome["snapshot"]["queues"]["tax"]["waiting"] == 1


def test_server_down_then_up(qtbot, server, links, tmp_path):
    printer = FakePrinter()
    ctl = make_kiosk(qtbot, server, printer, links)
    w = ctl.window
    port = server.port
    tap(qtbot, w.category_tiles["public"])  # a citizen is choosing when the network goes
    with qtbot.waitSignal(ctl.link.status, timeout=10000,
                          check_params_cb=lambda s: s == "offline"):
        server.stop()
    assert w.banner.isVisible() and "Cannot reach the server" in w.banner_alt.text()
    assert not w.service_tiles["gjj"].isEnabled()  # offline greys every action
    tap(qtbot, w.service_tiles["gjj"])
    qtbot.wait(200)
    assert printer.printed == [] and w.page_name() == "services"
    ctl.act("back")
    assert not any(t.isEnabled() for t in w.category_tiles.values())
    assert not w.checkin_button.isEnabled() and not w.priority_button.isEnabled()
    assert not w.requeue_button.isEnabled()
    ctl.act("category", "public")
    again = RunningServer(server.config, port=port).start()
    try:
        qtbot.waitUntil(lambda: ctl.state.online, timeout=15000)
        assert not w.banner.isVisible()
        with qtbot.waitSignal(ctl.printed, timeout=10000) as sig:
            tap(qtbot, w.service_tiles["gjj"])
        assert sig.args[0]["number"] == "A001"  # nothing was issued while it was down
    finally:
        again.stop()


def test_printer_failure_is_reported(qtbot, server, links):
    printer = FakePrinter()
    printer.fail("paper_out", "paper end sensor")
    ctl = make_kiosk(qtbot, server, printer, links)
    with server.client("board-1") as board:
        tap(qtbot, ctl.window.category_tiles["approval"])
        with qtbot.waitSignal(ctl.printed, timeout=10000) as sig:
            tap(qtbot, ctl.window.service_tiles["bdc"])
        assert sig.args[1] == "paper_out"
        assert "打印失败" in ctl.window.ticket_status.text()
        assert ctl.window.ticket_number.text() == "C001"
        qtbot.waitUntil(lambda: ctl.pending_requests == 0, timeout=10000)  # fault sent
        ev = board.wait_event("device.fault", timeout=10)
        assert ev["data"]["device"] == "kiosk-1" and ev["data"]["kind"] == "paper_out"
        assert ev["data"]["ticket"] == "C001"
        metrics = urllib.request.urlopen(server.http + "/metrics", timeout=5).read().decode()
        assert 'qhall_device_faults{device="kiosk-1",kind="paper_out"} 1.0' in metrics
        # Paper back in: the next ticket prints and the fault is cleared.
        printer.recover()
        ctl.state.go_home()
        ctl.act("category", "approval")
        with qtbot.waitSignal(ctl.printed, timeout=10000) as sig:
            tap(qtbot, ctl.window.service_tiles["bdc"])
        assert sig.args[1] == ""
        qtbot.waitUntil(lambda: ctl.pending_requests == 0, timeout=10000)
        cleared = board.wait_event("device.fault", timeout=10)
        assert cleared["data"].get("cleared") is True


def test_check_in_and_language_through_the_server(qtbot, server, links):
    ctl = make_kiosk(qtbot, server, FakePrinter(), links, lang="en")
    w = ctl.window
    assert w.home_title.text() == "Please choose a service"
    tap(qtbot, w.lang_button)
    assert w.home_title.text() == "请选择业务"
    tap(qtbot, w.checkin_button)
    for key in "ZZZZ9999":
        tap(qtbot, w.keypad.keys[key])
    tap(qtbot, w.keypad.submit_button)
    # No such booking (appointments on this server have none): a clear message, no ticket.
    qtbot.waitUntil(lambda: ctl.state.pending is None, timeout=10000)
    assert w.page_name() == "checkin" and "未找到该预约码" in w.checkin_notice_text.text()
