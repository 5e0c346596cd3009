"""Kiosk search (Chinese, English, pinyin initials) and the 常用业务 row."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtWidgets import QApplication

from kiosk.search import initials, search, warm_up
from kiosk.state import KioskState
from server.reference import demo_config
from server.tools.screens.kiosk import sample_welcome
from tests.helpers.fakes import FakeClock

T0 = dt.datetime(2026, 11, 26, 1, 41, tzinfo=dt.UTC)  # 09:41 in Shanghai
DEMO = [{"id": s.id, "name": s.name, "name_en": s.name_en} for s in demo_config().services]


def test_dictionaries_load_in_the_background():
    thread = warm_up()
    thread.join(60)
    assert not thread.is_alive() and initials("公积金") == "gjj"


def test_pinyin_initials():
    assert initials("公积金提取") == "gjjtq"
    assert initials("银行业务") == "yhyw"  # the phrase reading, not xing
    assert initials("A区 12号") == "aq12h"


def test_gjj_finds_the_housing_fund():
    assert search("gjj", DEMO) == ["gjj", "gjjdk"]
    assert search("GJJ ", DEMO) == ["gjj", "gjjdk"]
    assert search("公积金", DEMO) == ["gjj", "gjjdk"]
    assert search("housing", DEMO) == ["gjj", "gjjdk"]
    assert search("gjjdk", DEMO) == ["gjjdk"]
    assert search("", DEMO) == [] and search("qqqq", DEMO) == []


@pytest.mark.parametrize("svc", DEMO, ids=[s["id"] for s in DEMO])
def test_every_demo_service_is_found_by_each_of_its_names(svc):
    for query in (initials(svc["name"]), svc["name"], svc["name"][:2],
                  svc["name_en"], svc["name_en"].split()[0]):
        assert svc["id"] in search(query, DEMO), query
    # its full initials or name put it first (ties keep the hall's order)
    assert search(svc["name"], DEMO)[0] == svc["id"]


def state_with(issued: dict[str, int]) -> KioskState:
    welcome = sample_welcome()
    for sid, queue in welcome["snapshot"]["queues"].items():
        queue["issued"] = issued.get(sid, 0)
    state = KioskState(FakeClock(T0))
    state.apply_welcome(welcome)
    return state


def test_busiest_services_from_the_welcome_then_events():
    state = state_with({"sb": 40, "gjj": 55, "ns": 40, "hj": 3, "crj": 1})
    assert [t.id for t in state.popular_tiles()] == ["gjj", "sb", "ns", "hj"]  # ties: hall order
    state.apply_event({"type": "event", "seq": 2000, "name": "ticket.issued", "data": {
        "ticket": {"number": "K090", "service": "crj",
                   "issued_at": "2026-11-26T09:41:30+08:00"}}})
    assert [t.id for t in state.popular_tiles()] == ["crj", "gjj", "sb", "ns"]
    assert state_with({}).popular_tiles() == []  # first thing in the morning: no row
    # yesterday's counts are not today's
    old = state_with({})
    old.issued["gjj"] = (dt.date(2026, 11, 25), 300)
    assert old.popular_tiles() == []


def test_search_state():
    state = state_with({})
    state.open_search()
    assert state.screen == "search" and state.search_tiles() == []
    for ch in "gjj":
        state.type_query(ch)
    assert [t.id for t in state.search_tiles()] == ["gjj", "gjjdk"]
    state.delete_query()
    assert state.query == "gj"
    state.set_query("公积金贷款")
    assert [t.id for t in state.search_tiles()] == ["gjjdk"]
    state.back()
    assert state.screen == "home" and state.query == ""


@pytest.mark.gui
def test_search_on_screen_keys_to_a_ticket(qtbot, kiosk):
    w = kiosk.window
    assert w.search_button.isVisible()
    qtbot.mouseClick(w.search_button, Qt.MouseButton.LeftButton)
    assert w.page_name() == "search"
    for ch in "GJJ":
        qtbot.mouseClick(w.letter_keys[ch], Qt.MouseButton.LeftButton)
    assert w.query_edit.text() == "gjj"
    shown = [t for t in w.result_tiles if t.isVisible()]
    assert [t.key for t in shown] == ["gjj", "gjjdk"]
    assert "公积金提取" in shown[0].title.text()
    qtbot.mouseClick(shown[1], Qt.MouseButton.LeftButton)
    [req] = kiosk.link.unanswered("issue")
    assert req.message["service"] == "gjjdk"


@pytest.mark.gui
def test_search_by_typing_chinese_and_nothing_found(qtbot, kiosk):
    w = kiosk.window
    w.intent.emit("search", None)
    w.query_edit.setFocus()
    ime = QInputMethodEvent()
    ime.setCommitString("不动产")  # what a Chinese input method sends
    QApplication.sendEvent(w.query_edit, ime)
    assert [t.key for t in w.result_tiles if t.isVisible()] == ["bdc"]
    qtbot.mouseClick(w.letter_keys["clear"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.letter_keys["Q"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.letter_keys["Q"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.letter_keys["Q"], Qt.MouseButton.LeftButton)
    assert not [t for t in w.result_tiles if t.isVisible()]
    assert w.search_none.isVisible() and "未找到" in w.search_none.text()


@pytest.mark.gui
def test_popular_row_on_home_issues_in_one_tap(qtbot, kiosk):
    w = kiosk.window
    assert w.popular_row.isVisible()
    first = w.popular_tiles[0]
    busiest = kiosk.state.popular_tiles()[0]
    assert first.key == busiest.id and busiest.name in first.title.text()
    assert "常用业务" in w.popular_caption.text()
    qtbot.mouseClick(first, Qt.MouseButton.LeftButton)
    [req] = kiosk.link.unanswered("issue")
    assert req.message["service"] == busiest.id
