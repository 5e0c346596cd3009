"""Kiosk widgets driven through the controller with a FakeLink and a FakePrinter."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QPushButton

from kiosk.view import MIN_TOUCH
from server.tools.screens.kiosk import sample_welcome

pytestmark = pytest.mark.gui

T0 = dt.datetime(2026, 11, 26, 1, 41, tzinfo=dt.UTC)  # 09:41 in Shanghai: all open


def ticket(number="P012", service="gjj", **over):
    t = {"id": f"id-{number}", "number": number, "service": service, "status": "waiting",
         "priority": "normal", "issued_at": "2026-11-26T09:41:00+08:00", "counter": None,
         "ahead": 5, "eta_s": 420, "check": "ABCDEFGH"}
    t.update(over)
    return t


def click(qtbot, widget):
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def issue(qtbot, ctl, service="gjj", category="public"):
    click(qtbot, ctl.window.category_tiles[category])
    assert ctl.window.page_name() == "services"
    click(qtbot, ctl.window.service_tiles[service])
    return ctl.link.unanswered("issue")


def test_category_service_ticket_printed(qtbot, kiosk):
    w = kiosk.window
    assert w.page_name() == "home"
    assert "人等候" in w.category_tiles["public"].meta.text()
    [req] = issue(qtbot, kiosk)
    assert req.message["service"] == "gjj"
    with qtbot.waitSignal(kiosk.printed, timeout=5000) as sig:
        kiosk.link.answer(req, ticket=ticket())
    assert sig.args[1] == ""
    assert w.page_name() == "ticket"
    assert w.ticket_number.text() == "P012"
    assert "请取走号票" in w.ticket_status.text()
    assert w.ticket_where.text() == "办理地点: B区 37-43号窗口"  # the demo hall's zone
    assert w.ticket_where.isVisible() and w.ticket_where_alt.text().startswith("Go to: ")
    assert not w.ticket_qr.pixmap().isNull()
    [image] = kiosk.printer.printed
    assert image.width() == 576 and image.height() > 600


def test_double_tap_sends_one_request(qtbot, kiosk):
    click(qtbot, kiosk.window.category_tiles["public"])
    tile = kiosk.window.service_tiles["gjj"]
    kiosk.window.intent.emit("service", "gjj")  # first tap
    kiosk.window.intent.emit("service", "gjj")  # second tap, before the answer
    assert not tile.isEnabled()  # tiles wait for the answer
    assert len(kiosk.link.sent) == 1


def test_disabled_tiles_show_their_reason(qtbot, kiosk):
    kiosk.link.push_event("ticket.issued", {"ticket": ticket("N030", "rlzy")})  # quota 30
    click(qtbot, kiosk.window.category_tiles["approval"])
    tile = kiosk.window.service_tiles["rlzy"]
    assert not tile.isEnabled() and tile.meta.text() == "已满号"
    kiosk.clock.now = dt.datetime(2026, 11, 26, 4, 30, tzinfo=dt.UTC)  # 12:30 lunch
    kiosk.render()
    tile = kiosk.window.service_tiles["qydj"]
    assert not tile.isEnabled() and "未到办理时间" in tile.meta.text()
    assert "13:30" in tile.meta.text()


def test_live_counts(qtbot, kiosk):
    click(qtbot, kiosk.window.category_tiles["public"])
    kiosk.link.push_event("queue.changed", {"service": "gjj", "waiting": 42, "eta_s": 600})
    assert "等候 42 人 · 约 10 分钟" == kiosk.window.service_tiles["gjj"].meta.text()


def test_language_switch(qtbot, kiosk):
    w = kiosk.window
    assert w.home_title.text() == "请选择业务"
    click(qtbot, w.lang_button)
    assert w.home_title.text() == "Please choose a service"
    assert w.category_tiles["approval"].title.text() == "Approval"
    assert w.lang_button.text() == "中文"
    click(qtbot, w.category_tiles["public"])
    assert w.service_tiles["gjj"].title.text() == "Housing fund withdrawal"
    assert "waiting" in w.service_tiles["gjj"].meta.text()


def test_offline_banner_in_both_languages(qtbot, kiosk):
    kiosk.link.set_status("offline")
    w = kiosk.window
    assert w.banner.isVisible()
    assert "无法连接服务器" in w.banner_text.text()
    assert "Cannot reach the server" in w.banner_alt.text()
    # Offline greys every action, in both languages' screens.
    assert not any(t.isEnabled() for t in w.category_tiles.values())
    assert not w.checkin_button.isEnabled() and not w.priority_button.isEnabled()
    assert not w.requeue_button.isEnabled() and not w.search_button.isEnabled()
    popular = [t for t in w.popular_tiles if t.isVisibleTo(w)]
    assert popular and not any(t.isEnabled() for t in popular)  # 常用业务 too
    kiosk.window.intent.emit("category", "public")
    assert not w.service_tiles["gjj"].isEnabled()
    kiosk.window.intent.emit("service", "gjj")
    assert kiosk.link.sent == []  # never invents a number
    kiosk.link.push_welcome(sample_welcome())
    assert not w.banner.isVisible() and w.service_tiles["gjj"].isEnabled()
    kiosk.window.intent.emit("back", None)
    assert w.page_name() == "home" and w.search_button.isEnabled()


def test_print_failure_shows_ticket_and_reports(qtbot, kiosk):
    kiosk.printer.fail("paper_out", "no paper")
    [req] = issue(qtbot, kiosk)
    with qtbot.waitSignal(kiosk.printed, timeout=5000) as sig:
        kiosk.link.answer(req, ticket=ticket())
    assert sig.args[1] == "paper_out"
    w = kiosk.window
    assert w.page_name() == "ticket" and w.ticket_number.text() == "P012"
    assert "打印失败，请拍照或联系工作人员" in w.ticket_status.text()
    assert w.ticket_qr.pixmap().width() >= 600  # larger QR code
    [fault] = kiosk.link.unanswered("report_fault")
    assert fault.message["kind"] == "paper_out" and fault.message["ticket"] == "P012"


def test_check_in_with_keypad(qtbot, kiosk):
    w = kiosk.window
    click(qtbot, w.checkin_button)
    assert w.page_name() == "checkin"
    for key in "K7Q2":
        click(qtbot, w.keypad.keys[key])
    assert w.code.text() == "K 7 Q 2"
    click(qtbot, w.keypad.submit_button)
    [req] = kiosk.link.unanswered("check_in")
    assert req.message["code"] == "K7Q2"
    kiosk.link.answer(req, ok=False, code="not_found", message="unknown booking code")
    assert w.checkin_notice.isVisible() and "未找到该预约码" in w.checkin_notice_text.text()
    click(qtbot, w.keypad.submit_button)
    [req] = kiosk.link.unanswered("check_in")
    with qtbot.waitSignal(kiosk.printed, timeout=5000):
        kiosk.link.answer(req, ticket=ticket("Q003", "gjjdk", priority="appointment"))
    assert w.page_name() == "ticket" and w.ticket_mark.text() == "预约"


def test_priority_confirmation(qtbot, kiosk):
    w = kiosk.window
    click(qtbot, w.priority_button)
    assert w.page_name() == "priority" and "查验" in w.priority_check.text()
    click(qtbot, w.confirm_priority)
    assert w.page_name() == "home" and w.priority_banner.isVisible()
    [req] = issue(qtbot, kiosk)
    assert req.message["priority"] == "priority"


def test_back_button_same_corner_and_touch_targets(qtbot, kiosk):
    w = kiosk.window
    for size in ((1080, 1920), (1920, 1080)):
        w.resize(*size)
        for page, back in (("services", w.services_back), ("checkin", w.checkin_back),
                           ("priority", w.priority_back)):
            kiosk.act({"services": "category", "checkin": "checkin",
                       "priority": "priority"}[page], "public" if page == "services" else None)
            qtbot.wait(10)
            assert w.page_name() == page
            corner = back.mapTo(w, QPoint(0, 0))
            assert corner.x() < 80 and corner.y() < 250  # top-left, under the header
            buttons = [b for b in w.pages[page].findChildren(QPushButton) if b.isVisible()]
            assert buttons
            for b in buttons:
                assert b.height() >= MIN_TOUCH and b.width() >= MIN_TOUCH, b.objectName()
            kiosk.act("back")
        for tile in w.category_tiles.values():
            assert tile.height() >= 200


def test_ticket_screen_returns_home(qtbot, kiosk):
    [req] = issue(qtbot, kiosk)
    with qtbot.waitSignal(kiosk.printed, timeout=5000):
        kiosk.link.answer(req, ticket=ticket())
    kiosk.clock.advance(9)
    kiosk._on_tick()
    assert kiosk.window.page_name() == "home"


def test_command_line_errors(tmp_path, capsys, monkeypatch):
    import argparse

    monkeypatch.setenv("ESCPOS_CAPABILITIES_PICKLE_DIR", str(tmp_path))
    from kiosk.app import configure, run

    parser = argparse.ArgumentParser()
    configure(parser)
    args = parser.parse_args(["--printer", "bogus:x"])
    assert run(args) == 2
    assert "bad printer spec" in capsys.readouterr().err
    # No token file and no --demo: a clear refusal, not the public demo token.
    assert run(parser.parse_args(["--printer", f"preview:{tmp_path}"])) == 2
    assert "--demo" in capsys.readouterr().err
    empty = tmp_path / "t"
    empty.write_text("\n")
    assert run(parser.parse_args(["--printer", f"preview:{tmp_path}",
                                  "--token-file", str(empty)])) == 2
    assert "empty" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--size", "10x10"])
