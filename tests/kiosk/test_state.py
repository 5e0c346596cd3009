"""Kiosk screen logic without Qt: tiles, hours, quota, taps, replies, printing, timers."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.state import KioskState, Request, parse_hours, status_url
from tests.helpers.fakes import FakeClock

T0 = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


def welcome(quota=None, hours=("08:30-12:00", "13:30-17:30")):
    services = [
        {"id": "gjj", "name": "公积金", "name_en": "Housing fund", "prefix": "A",
         "category": "public", "hours": list(hours), "daily_quota": quota},
        {"id": "tax", "name": "税务", "name_en": "Tax", "prefix": "B", "category": "public",
         "hours": [], "daily_quota": None},
        {"id": "bdc", "name": "不动产", "name_en": "Real estate", "prefix": "C",
         "category": "approval", "hours": [], "daily_quota": None},
    ]
    return {"type": "welcome", "hall": {"name": "测试大厅", "timezone": "Asia/Shanghai",
                                        "notice": "n", "services": services},
            "snapshot": {"queues": {"gjj": {"waiting": 12, "eta_s": 1080},
                                    "tax": {"waiting": 3, "eta_s": 200},
                                    "bdc": {"waiting": 4, "eta_s": 0}}},
            "seq": 10}


def ticket(number="A013", service="gjj", **over):
    t = {"id": f"id-{number}", "number": number, "service": service, "status": "waiting",
         "priority": "normal", "issued_at": "2026-11-26T09:00:05+08:00", "counter": None,
         "ahead": 12, "eta_s": 1080, "check": "K7Q2M9XA"}
    t.update(over)
    return t


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def state(clock):
    s = KioskState(clock, server_url="ws://10.0.0.5:8765/ws")
    s.apply_welcome(welcome())
    return s


def test_categories_and_tiles_from_the_snapshot(state):
    cats = {c.id: c for c in state.category_tiles()}
    assert [c.id for c in state.category_tiles()] == ["approval", "public"]  # order, present only
    assert cats["public"].waiting == 15 and cats["approval"].waiting == 4
    state.choose_category("public")
    tiles = {t.id: t for t in state.service_tiles()}
    assert set(tiles) == {"gjj", "tax"}
    assert tiles["gjj"].waiting == 12 and tiles["gjj"].eta_min == 18 and tiles["gjj"].enabled
    assert tiles["gjj"].hours == "08:30-12:00, 13:30-17:30"


def test_queue_events_update_live(state):
    assert state.apply_event({"name": "queue.changed",
                              "data": {"service": "gjj", "waiting": 20, "eta_s": 1500}})
    assert state.service_tile("gjj").waiting == 20
    assert {c.id: c.waiting for c in state.category_tiles()}["public"] == 23
    assert not state.apply_event({"name": "counter.paused", "data": {"counter": 1}})


def test_hours_disable_a_service_with_its_reason(state, clock):
    clock.now = dt.datetime(2026, 11, 26, 4, 30, tzinfo=dt.UTC)  # 12:30: lunch break
    tile = state.service_tile("gjj")
    assert tile.reason == "closed" and not tile.enabled
    assert state.issue("gjj") is None
    assert state.notice.key == "closed_hours" and "13:30" in state.notice_text()
    assert state.service_tile("tax").enabled  # no hours: always open
    clock.now = dt.datetime(2026, 11, 26, 5, 30, tzinfo=dt.UTC)  # 13:30 opens
    assert state.service_tile("gjj").enabled


def test_quota_from_issued_numbers(clock):
    s = KioskState(clock)
    s.apply_welcome(welcome(quota=14))
    s.apply_event({"name": "ticket.issued", "data": {"ticket": ticket("A013")}})
    assert s.service_tile("gjj").enabled
    s.apply_event({"name": "ticket.issued", "data": {"ticket": ticket("A014")}})
    assert s.service_tile("gjj").reason == "quota"
    assert s.text("quota") == "已满号"
    clock.advance(86400)  # the next day the quota starts again
    assert s.service_tile("gjj").enabled


def test_an_issue_time_without_offset_counts_for_the_kiosk_day(clock):
    # server.wire.readers.parse_time: a naive wire time cannot be placed, so it is
    # not guessed in this machine's zone (UTC here: 20:00 would be tomorrow 04:00
    # in Shanghai and the quota would look untouched today); the kiosk's day counts.
    s = KioskState(clock)
    s.apply_welcome(welcome(quota=14))
    s.apply_event({"name": "ticket.issued",
                   "data": {"ticket": ticket("A014", issued_at="2026-11-26T20:00:00")}})
    assert s.service_tile("gjj").reason == "quota"
    s.apply_event({"name": "ticket.issued",  # with its offset: placed, tomorrow's number
                   "data": {"ticket": ticket("B003", service="tax",
                                             issued_at="2026-11-27T08:00:00+08:00")}})
    assert s.issued["tax"] == (dt.date(2026, 11, 27), 3)


def test_quota_reached_reply_disables_the_tile(state):
    req = state.issue("tax")
    state.apply_reply(req, {"type": "error", "code": "quota_reached", "message": "full"})
    assert state.pending is None and state.ticket is None
    assert state.service_tile("tax").reason == "quota"
    assert state.notice.key == "quota_detail"


def test_closed_reply_disables_for_a_minute(state, clock):
    req = state.issue("tax")
    state.apply_reply(req, {"type": "error", "code": "closed", "message": "closed"})
    assert state.service_tile("tax").reason == "closed"
    clock.advance(61)
    assert state.service_tile("tax").enabled


def test_issue_and_double_tap(state):
    state.choose_category("public")
    req = state.issue("gjj")
    assert req == Request("issue", {"service": "gjj"})
    assert state.issue("gjj") is None and state.issue("tax") is None  # in flight
    assert state.ignored_taps == 2
    state.apply_reply(req, {"type": "ok", "ticket": ticket()})
    assert state.screen == "ticket" and state.ticket["number"] == "A013"
    assert state.print_state == "printing"
    job = state.take_print()
    assert job.status_url == "http://10.0.0.5:8765/t/K7Q2M9XA"
    assert job.service_name == "公积金" and job.hall_name == "测试大厅"
    assert state.take_print() is None  # once
    assert state.ticket_url == job.status_url
    assert state.ticket_lines() == ["前面等候 12 人", "预计等候 约 18 分钟"]


def test_offline_issues_nothing_and_says_so(state):
    state.set_status("offline")
    assert state.service_tile("gjj").reason == "unavailable"
    assert state.issue("gjj") is None and state.pending is None
    assert state.notice.key == "offline"
    assert "无法连接服务器" in state.text("offline", "zh")
    assert "Cannot reach the server" in state.text("offline", "en")
    state.set_status("online")
    assert state.notice is None and state.service_tile("gjj").enabled


def test_timeout_shows_no_number(state):
    req = state.issue("gjj")
    state.apply_reply(req, {"type": "error", "re": "x", "code": "timeout", "message": "t"})
    assert state.ticket is None and state.screen == "home"
    assert state.notice.key == "no_answer"
    assert state.issue("gjj") is not None  # may try again


def test_priority_flow(state):
    state.open_priority()
    assert state.screen == "priority"
    state.confirm_priority()
    assert state.priority and state.screen == "home"
    state.choose_category("public")
    state.back()  # back to the categories, still in the priority lane
    assert state.priority and state.screen == "home"
    state.choose_category("public")
    assert state.issue("tax").fields == {"service": "tax", "priority": "priority"}


def _early_check_in(state, **error):
    state.open_checkin()
    for key in "ABCD2345":
        state.press(key)
    request = state.submit_code()
    assert request is not None
    state.apply_reply(request, {"type": "error", "code": "closed", **error})


@pytest.mark.parametrize(("opens_at", "zh", "en"), [
    # the same hall day (09:00 now): the time only, in hall time
    ("2026-11-26T09:30:00+08:00", "未到签到时间，请于 09:30 起签到",
     "Check-in is not open yet: please check in from 09:30"),
    ("2026-11-26T01:30:00+00:00", "未到签到时间，请于 09:30 起签到",
     "Check-in is not open yet: please check in from 09:30"),
    # another day: the date too
    ("2026-11-27T09:30:00+08:00", "未到签到时间，请于 2026-11-27 09:30 起签到",
     "Check-in is not open yet: please check in from 2026-11-27 09:30"),
])
def test_closed_check_in_says_from_when_by_opens_at(state, opens_at, zh, en):
    # The message text is for people: the kiosk reads only opens_at.
    _early_check_in(state, message="check-in opens at 11:11", opens_at=opens_at)
    assert state.notice.key == "code_early"
    assert (state.notice_text(), state.notice_text("en")) == (zh, en)
    assert state.screen == "checkin" and state.pending is None and state.ticket is None


@pytest.mark.parametrize("opens_at", [None, "", "soon", "2026-11-27T09:30:00", 930])
def test_closed_check_in_without_a_usable_opens_at_names_no_time(state, opens_at):
    error = {"message": "check-in opens at 09:30"}
    if opens_at is not None:
        error["opens_at"] = opens_at
    _early_check_in(state, **error)
    assert state.notice.key == "code_early_plain"
    assert state.notice_text() == "未到签到时间，请在预约时段前再来签到"


def test_keypad_and_check_in(state):
    state.open_checkin()
    for key in "ab1":
        state.press(key)
    assert state.code == "AB1"
    assert state.submit_code() is None and state.notice.key == "code_short"
    state.press("2")
    state.delete()
    state.press("9")
    req = state.submit_code()
    assert req == Request("check_in", {"code": "AB19"})
    assert state.submit_code() is None  # in flight
    state.apply_reply(req, {"type": "error", "code": "not_found", "message": "unknown"})
    assert state.notice.key == "code_not_found" and state.screen == "checkin"
    req = state.submit_code()
    state.apply_reply(req, {"type": "ok", "ticket": ticket("C004", "bdc",
                                                           priority="appointment"),
                            "late": True, "message": "迟到 5 分钟"})
    assert state.screen == "ticket" and state.ticket_note == "迟到 5 分钟"
    state.open_checkin()
    for _ in range(20):
        state.press("7")
    assert state.code == "7" * 12  # capped
    with pytest.raises(ValueError):
        state.press("*")


def test_print_failure_reports_a_fault_and_the_next_good_print_clears_it(state, clock):
    req = state.issue("gjj")
    state.apply_reply(req, {"type": "ok", "ticket": ticket()})
    follow = state.print_finished("paper_out", "out of paper")
    assert follow == Request("report_fault", {"kind": "paper_out", "message": "out of paper",
                                              "ticket": "A013"})
    assert state.print_state == "failed" and state.fault == "paper_out"
    assert state.screen == "ticket"
    clock.advance(10)
    assert not state.tick()  # a failed print stays longer (time for a photo)
    clock.advance(25)
    assert state.tick() and state.screen == "home" and state.ticket is None
    req = state.issue("tax")
    state.apply_reply(req, {"type": "ok", "ticket": ticket("B001", "tax")})
    assert state.print_finished(None) == Request("clear_fault")
    assert state.print_finished(None) is None  # only once
    assert state.print_finished("weird").fields["kind"] == "other"


def test_ticket_screen_timers_and_tap_guard(state, clock):
    state.set_lang("en")
    req = state.issue("gjj")
    state.apply_reply(req, {"type": "ok", "ticket": ticket()})
    assert not state.ticket_tapped()  # still printing
    state.print_finished(None)
    assert not state.ticket_tapped()  # the second tap of a double tap
    clock.advance(2)
    assert state.ticket_tapped() and state.screen == "home"
    assert state.lang == "zh"  # back to the default for the next citizen
    req = state.issue("gjj")
    state.apply_reply(req, {"type": "ok", "ticket": ticket("A014")})
    state.print_finished(None)
    clock.advance(7)
    assert not state.tick()
    clock.advance(1.5)
    assert state.tick() and state.screen == "home"


def test_idle_timeout_returns_home(state, clock):
    state.choose_category("public")
    state.set_lang("en")
    clock.advance(59)
    assert not state.tick()
    state.touch()
    clock.advance(59)
    assert not state.tick()
    clock.advance(2)
    assert state.tick()
    assert state.screen == "home" and state.lang == "zh" and state.category is None


def test_language_texts(state):
    assert state.both("take") == ("请取走号票", "Please take your ticket")
    state.toggle_lang()
    assert state.lang == "en" and state.both("take")[0] == "Please take your ticket"
    with pytest.raises(ValueError):
        state.set_lang("fr")


def test_bad_input():
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hours(["8-12"])
    with pytest.raises(ValueError, match="before"):
        parse_hours(["12:00-08:00"])
    assert parse_hours([]) == ()
    with pytest.raises(ValueError):
        KioskState(lang="de")
    s = KioskState()
    with pytest.raises(ValueError, match="hall.services"):
        s.apply_welcome({"type": "welcome"})
    s.apply_welcome(welcome())
    with pytest.raises(ValueError, match="unknown service"):
        s.issue("nope")
    with pytest.raises(ValueError, match="unknown category"):
        s.choose_category("nope")


def test_status_url():
    assert status_url("wss://hall.example:443/ws", "AB CD") == "https://hall.example:443/t/AB%20CD"
    assert status_url("ws://127.0.0.1:8765/ws", "X") == "http://127.0.0.1:8765/t/X"
    with pytest.raises(ValueError):
        status_url("ftp://x/ws", "X")
    with pytest.raises(ValueError):
        status_url("ws://x/ws", "")


# ------------------------------------------------------ 过号重排, estimates, public_url
def test_read_scan_knows_qr_links_codes_and_numbers():
    from kiosk.state import read_scan

    assert read_scan("https://qh.example.gov.cn/t/K7Q2M9XA") == {"check": "K7Q2M9XA"}
    assert read_scan("http://10.0.0.5:8765/t/k7q2m9xa\n") == {"check": "K7Q2M9XA"}
    assert read_scan("a001") == {"number": "A001"}
    assert read_scan("DB0061") == {"number": "DB0061"}
    assert read_scan("K7Q2M9XA") == {"check": "K7Q2M9XA"}
    assert read_scan("hello world") is None and read_scan("A1") is None
    assert read_scan("https://x/t/") is None


def test_requeue_by_scan_then_result_then_home(state, clock):
    state.open_requeue()
    assert state.screen == "requeue"
    req = state.submit_requeue("https://qh.example.gov.cn/t/K7Q2M9XA")
    assert req == Request("requeue", {"check": "K7Q2M9XA"})
    assert state.submit_requeue("A013") is None and state.ignored_taps == 1  # in flight
    back = ticket(ahead=3, eta_s=600)
    state.apply_reply(req, {"type": "ok", "ticket": back})
    assert state.screen == "requeue" and state.take_print() is None  # nothing printed
    lines = state.requeue_lines()
    assert lines[0] == "A013 已重新排队" and "前面等候 3 人" in lines
    assert "预计等候 约 10 分钟" in lines
    clock.advance(state.ticket_s)
    assert state.tick() and state.screen == "home"


def test_requeue_by_typed_number(state):
    state.open_requeue()
    for key in "A013":
        state.press(key)
    assert state.submit_requeue() == Request("requeue", {"number": "A013"})


@pytest.mark.parametrize(("code", "zh", "en"), [
    ("expired", "已超过过号重排时限", "Too late"),
    ("conflict", "该号未过号", "has not missed its call"),
    ("not_found", "未找到该号票", "No such ticket"),
])
def test_requeue_refusals_are_clear(state, code, zh, en):
    state.open_requeue()
    req = state.submit_requeue("A013")
    state.apply_reply(req, {"type": "error", "code": code, "message": "x"})
    assert zh in state.notice_text("zh") and en in state.notice_text("en")
    assert state.screen == "requeue" and state.requeued is None


def test_requeue_refuses_what_it_cannot_read_and_offline(state):
    state.open_requeue()
    state.press("A")
    assert state.submit_requeue() is None and state.notice.key == "requeue_short"
    assert state.submit_requeue("%%%") is None and state.notice.key == "requeue_unreadable"
    state.set_status("offline")
    assert state.submit_requeue("A013") is None and state.notice.key == "offline"


def test_one_estimate_for_tile_screen_and_print(state):
    state.apply_event({"name": "queue.changed",
                       "data": {"service": "tax", "waiting": 0, "eta_s": 0, "open_counters": 0}})
    tile = state.service_tile("tax")
    assert tile.estimate.text("zh") == "暂无窗口办理，开放后叫号"  # never "No wait"
    req = state.issue("tax")
    state.apply_reply(req, {"type": "ok", "ticket": ticket("B001", "tax", ahead=0, eta_s=420)})
    assert state.ticket_lines() == ["下一位就是您", "预计等候 暂无窗口办理，开放后叫号"]
    job = state.take_print()
    assert job.ticket["open_counters"] == 0  # the printed ticket reads the same


def test_soon_is_said_for_zero(state):
    state.apply_event({"name": "queue.changed",
                       "data": {"service": "bdc", "waiting": 0, "eta_s": 0, "open_counters": 1}})
    assert state.service_tile("bdc").estimate.text("zh") == "即将叫号"


def test_public_url_is_where_the_qr_points(state):
    hall = welcome()
    hall["hall"]["public_url"] = "https://qh.example.gov.cn/"
    state.apply_welcome(hall)
    req = state.issue("tax")
    state.apply_reply(req, {"type": "ok", "ticket": ticket("B001", "tax")})
    assert state.ticket_url == "https://qh.example.gov.cn/t/K7Q2M9XA"
    assert state.take_print().status_url == "https://qh.example.gov.cn/t/K7Q2M9XA"


def test_without_public_url_the_server_url_is_used(state):
    req = state.issue("tax")
    state.apply_reply(req, {"type": "ok", "ticket": ticket("B001", "tax")})
    assert state.ticket_url == "http://10.0.0.5:8765/t/K7Q2M9XA"


def test_where_to_go_is_the_zone_else_the_counters(clock):
    w = welcome()
    w["hall"]["services"][0]["zone"] = "B区 37-43号窗口"
    w["hall"]["counters"] = [{"number": n, "name": f"{n}号窗口", "services": s}
                             for n, s in ((1, ["tax"]), (2, ["tax", "gjj"]), (3, ["tax"]),
                                          (9, ["tax"]), (5, ["bdc"]))]
    s = KioskState(clock)
    s.apply_welcome(w)
    assert s.where("gjj") == "B区 37-43号窗口"
    assert s.where_line("gjj") == "办理地点: B区 37-43号窗口"
    assert s.where("tax") == "1-3、9号窗口"
    assert s.where("tax", "en") == "Counters 1-3, 9"
    assert s.where("bdc", "en") == "Counter 5"
    s.choose_category("public")
    request = s.issue("tax")
    assert request is not None
    s.apply_reply(request, {"type": "ok", "ticket": ticket(number="B001", service="tax")})
    job = s.take_print()
    assert job is not None and job.where == "1-3、9号窗口"
    bare = KioskState(clock)
    bare.apply_welcome(welcome())  # no zone and no counters: nothing to say
    assert bare.where_line("gjj") == ""


def test_hall_clock_decides_hours_ui_clock_runs_the_timers():
    # The demo's kiosk: hall time (opening hours, on-screen clock) runs apart
    # from the screen's timers.
    ui, hall = FakeClock(T0), FakeClock(T0)  # 09:00 in the hall
    state = KioskState(ui, hall_clock=hall)
    state.apply_welcome(welcome())
    hall.advance(3 * 3600 + 60)  # 12:01 in the hall: gjj closes at 12:00
    assert state.clock_text() == "12:01"
    assert state.service_tile("gjj").reason == "closed"
    state.choose_category("public")
    assert not state.tick()  # no UI time passed: not idle
    ui.advance(61)
    assert state.tick() and state.screen == "home"


def test_a_route_ticket_prints_the_cases_name_and_counts_in_the_routes_series(state):
    w = welcome()
    w["hall"]["services"].append({"id": "jl", "name": "联办测试", "name_en": "Joint route",
                                  "prefix": "L", "category": "approval", "hours": [],
                                  "daily_quota": None, "route": ["gjj", "tax"]})
    state.apply_welcome(w)
    gjj_before = state.issued.get("gjj")
    req = state.issue("jl")
    state.apply_reply(req, {"type": "ok", "ticket": ticket("L001", route_id="jl",
                                                           route=["gjj", "tax"], step=0)})
    job = state.take_print()
    assert (job.service_name, job.service_name_en) == ("联办测试", "Joint route")
    assert state.issued["jl"][1] == 1 and state.issued.get("gjj") == gjj_before


def test_a_step_only_service_is_not_offered_at_the_kiosk(state):
    w = welcome()
    w["hall"]["services"].append({"id": "xf", "name": "消防设计审查", "name_en": "Fire review",
                                  "prefix": "X", "category": "approval", "hours": [],
                                  "daily_quota": None, "kiosk": False})
    state.apply_welcome(w)
    assert [t.id for t in state.service_tiles("approval")] == ["bdc"]
    assert [t.services for t in state.category_tiles() if t.id == "approval"] == [1]
    state.set_query("消防")
    assert state.search_tiles() == []
    assert "xf" in state.services  # still known: a route ticket at that step names it
