"""CounterModel without Qt: welcome, events, replies, legality, figures."""

from __future__ import annotations

import datetime as dt

import pytest

from counter.state import (
    ACTIONS,
    CounterModel,
    Figures,
    NotLegal,
    Request,
    format_duration,
    parse_time,
)
from tests.counter.samples import T0, do, err, iso, ok, ticket, welcome


def ev(name, data, seq, at=T0):
    return {"type": "event", "seq": seq, "name": name, "at": iso(at), "data": data}


def logged_in(st, staff="s001", name="王芳"):
    req = st.login(staff, "1234")
    st.apply_reply(req, ok(staff={"id": staff, "name": name}))
    st.apply_reply(Request("queue"), ok(waiting=[ticket("A013"), ticket("B004", service="bdc")]))
    return st


def legal_set(st):
    return {a for a in ACTIONS if st.legal(a)}


def test_welcome_reads_hall_and_counter(st):
    assert st.counter == 3 and st.counter_name == "3号窗口"
    assert st.my_services == ("gjj", "bdc")
    assert st.service_name("bdc") == "不动产登记"
    assert st.counter_status == "closed" and not st.logged_in
    assert legal_set(st) == set()
    assert "登录" in st.why_not("call_next")


def test_offline_disables_everything(st):
    logged_in(st)
    assert st.legal("call_next")
    st.set_status("offline")
    assert legal_set(st) == set()
    assert "未连接" in st.why_not("call_next")
    with pytest.raises(NotLegal):
        st.intent("call_next")


def test_login_good_and_bad(st):
    with pytest.raises(NotLegal):
        st.login("s001", "  ")
    req = st.login(" s001 ", "0000")
    assert req == Request("login", {"staff": "s001", "pin": "0000"})
    with pytest.raises(NotLegal):  # no double submit
        st.login("s001", "0000")
    st.apply_reply(req, err("unauthorized", "bad pin"))
    assert not st.logged_in and "密码错误" in st.login_error
    req = st.login("s001", "1234")
    st.apply_reply(req, ok(staff={"id": "s001", "name": "王芳"}))
    assert st.staff == {"id": "s001", "name": "王芳"}
    assert st.counter_status == "open" and st.login_error is None
    assert st.take_queue_refresh() and not st.take_queue_refresh()


def test_rate_limited_login_says_so(st):
    req = st.login("s001", "1")
    st.apply_reply(req, err("rate_limited"))
    assert "稍后" in st.login_error


def test_whole_day_of_one_ticket(st, clock):
    logged_in(st)
    assert legal_set(st) == {"call_next", "call", "pause"}
    req = do(st, "call_next", ok(ticket=ticket("A013", status="called", counter=3)))
    assert req.type == "call_next" and req.fields == {}
    assert st.current["number"] == "A013"
    assert [t["number"] for t in st.waiting] == ["B004"]  # left the list at once
    assert legal_set(st) == {"recall", "start", "complete", "no_show", "transfer"}
    assert st.waited_s(st.current) == pytest.approx(600)
    clock.advance(30)
    do(st, "recall", ok(ticket=ticket("A013", status="called", counter=3)))
    assert st.current["status"] == "called"
    do(st, "start", ok(ticket=ticket("A013", status="serving", counter=3)))
    assert legal_set(st) == {"complete", "transfer"}
    assert st.why_not("recall").startswith("当前号状态为办理中")
    clock.advance(400)
    assert st.serving_s() == pytest.approx(400)
    do(st, "complete", ok(ticket=ticket("A013", status="done", counter=3)))
    assert st.current is None and st.legal("call_next")


def test_one_request_at_a_time(st):
    logged_in(st)
    req = st.intent("call_next")
    assert st.busy == "call_next" and legal_set(st) == set()
    assert "正在处理" in st.why_not("call_next")
    st.apply_reply(req, err("queue_empty"))
    assert st.busy is None
    assert st.waiting == [] and "没有等候" in st.message.text
    assert not st.legal("call_next")  # known empty
    st.apply_event(ev("ticket.issued", {"ticket": ticket("A020")}, 101))
    assert st.take_queue_refresh()


def test_pause_toggles_and_needs_a_free_counter(st):
    logged_in(st)
    req = do(st, "pause", ok(), reason="午餐")
    assert req == Request("pause", {"reason": "午餐"})
    assert st.counter_status == "paused" and st.pause_reason == "午餐"
    assert legal_set(st) == {"pause"}
    assert "暂停" in st.why_not("call_next")
    req = do(st, "pause", ok())
    assert req == Request("resume", {})
    assert st.counter_status == "open"
    do(st, "call_next", ok(ticket=ticket("A013", status="called", counter=3)))
    assert not st.legal("pause")


def test_call_a_specific_ticket(st):
    logged_in(st)
    with pytest.raises(NotLegal):
        st.intent("call", ticket="Z999")
    assert st.busy is None  # a refused intent sends nothing
    req = st.intent("call", ticket="b004")
    assert req == Request("call", {"ticket": "t-B004"})


def test_transfer_targets_and_request(st):
    logged_in(st)
    do(st, "call_next", ok(ticket=ticket("A013", status="called", counter=3)))
    services, counters = st.transfer_targets()
    assert [s["id"] for s in services] == ["bdc", "tax"]  # not its own service
    assert [c["number"] for c in counters] == [5, 7]  # not this counter
    with pytest.raises(NotLegal):
        st.intent("transfer")
    with pytest.raises(NotLegal):
        st.intent("transfer", service="bdc", counter=5)
    with pytest.raises(NotLegal):
        st.intent("transfer", counter=3)
    with pytest.raises(NotLegal):
        st.intent("transfer", service="gjj")
    assert st.intent("transfer", counter="5") == Request("transfer", {"counter": 5})
    st.apply_reply(Request("transfer", {"counter": 5}),
                   ok(ticket=ticket("A013", status="waiting", counter=3)))
    assert st.current is None
    assert st.intent("call_next").type == "call_next"


def test_events_drive_current_ticket_and_counter(st):
    logged_in(st)
    # A call made by us whose reply was lost still shows up via the event.
    st.apply_event(ev("ticket.called", {"ticket": ticket("A013", status="called", counter=3),
                                        "counter": 3, "counter_name": "3号窗口"}, 101))
    assert st.current["number"] == "A013"
    # Another counter's call does not touch ours, but the queue is refreshed.
    st.take_queue_refresh()
    st.apply_event(ev("ticket.called", {"ticket": ticket("A014", status="called", counter=5),
                                        "counter": 5}, 102))
    assert st.current["number"] == "A013" and st.take_queue_refresh()
    st.apply_event(ev("ticket.transferred",
                      {"ticket": ticket("A013", status="waiting", service="tax", counter=3)},
                      103))
    assert st.current is None
    st.apply_event(ev("counter.paused", {"counter": 3, "reason": "会议"}, 104))
    assert st.counter_status == "paused" and st.pause_reason == "会议"
    st.apply_event(ev("counter.paused", {"counter": 5}, 105))
    st.apply_event(ev("counter.resumed", {"counter": 3}, 106))
    assert st.counter_status == "open"
    st.apply_event(ev("counter.closed", {"counter": 3}, 107))
    assert not st.logged_in and st.counter_status == "closed"
    # closed by someone else (the clerk logged in at another counter): it says so
    assert st.message.level == "warn" and "其他窗口" in st.message.text


def test_own_logout_is_not_reported_as_closed_elsewhere(st):
    logged_in(st)
    req = st.logout()
    st.apply_event(ev("counter.closed", {"counter": 3}, 101))
    st.apply_reply(req, ok())
    assert not st.logged_in and "其他窗口" not in st.message.text


def test_transferred_to_me_refreshes_queue(st):
    logged_in(st)
    st.take_queue_refresh()
    t = ticket("C002", service="tax", status="waiting", counter=7)
    t["to_counter"] = 3
    st.apply_event(ev("ticket.transferred", {"ticket": t}, 101))
    assert st.take_queue_refresh()
    st.apply_event(ev("queue.changed", {"service": "tax", "waiting": 4, "eta_s": 60}, 102))
    assert not st.take_queue_refresh()  # not one of our services
    st.apply_event(ev("queue.changed", {"service": "bdc", "waiting": 4, "eta_s": 60}, 103))
    assert st.take_queue_refresh()


def test_conflict_refreshes_and_says_why(st):
    logged_in(st)
    st.take_queue_refresh()
    do(st, "call", err("conflict", "ticket already called"), ticket="A013")
    assert st.message.level == "warn"
    assert "ticket already called" in st.message.text
    assert st.take_queue_refresh()
    assert st.legal("call_next")


def test_unauthorized_action_logs_out(st):
    logged_in(st)
    do(st, "call_next", err("unauthorized"))
    assert not st.logged_in and "重新登录" in st.message.text


def test_figures_from_events(st, clock):
    logged_in(st)
    a = ticket("A013", status="serving", counter=3)
    st.apply_event(ev("ticket.started", {"ticket": a}, 101, at=T0))
    st.apply_event(ev("ticket.completed", {"ticket": {**a, "status": "done"}}, 102,
                      at=T0 + dt.timedelta(seconds=400)))
    st.apply_event(ev("ticket.no_show", {"ticket": ticket("A014", status="no_show",
                                                          counter=3)}, 103))
    # Other counters do not count here.
    st.apply_event(ev("ticket.completed", {"ticket": ticket("A015", status="done",
                                                            counter=5)}, 104))
    st.apply_event(ev("ticket.completed", {"ticket": {**a, "status": "done"}}, 104))  # dup
    assert (st.figures.served, st.figures.no_shows) == (1, 1)
    assert st.figures.avg_service_s == pytest.approx(400)
    assert st.figures.summary() == "已办 1 · 平均 6:40 · 过号 1"
    assert st.staff_today().served == 1
    # Switch staff: the new member starts at zero, the counter keeps its total.
    st.apply_reply(st.logout(), ok())
    logged_in(st, "s002", "李强")
    assert st.staff_today().served == 0 and st.figures.served == 1


def test_figures_reset_on_a_new_day(st):
    logged_in(st)
    st.apply_event(ev("ticket.completed", {"ticket": ticket("A1", status="done", counter=3)},
                      101))
    assert st.figures.served == 1 and st.figures.timed == 0
    st.apply_event(ev("ticket.completed", {"ticket": ticket("A1", status="done", counter=3)},
                      102, at=T0 + dt.timedelta(days=1)))
    assert st.figures.served == 1 and st.figures_day == dt.date(2026, 11, 27)


def test_stats_reply_seeds_figures_and_error_is_tolerated(st):
    logged_in(st)
    st.apply_reply(Request("stats"), err("bad_request", "unknown type"))
    # optional: no error (the login's message gave way to the fresh queue)
    assert st.figures == Figures() and st.message is None
    st.apply_reply(Request("stats"), ok(stats={"counter": 5, "served": 9}))
    assert st.figures == Figures()  # another counter's figures are not ours
    st.apply_reply(Request("stats"), ok(stats={"counter": 3, "served": 23, "no_shows": 2,
                                               "avg_service_s": 400, "waiting": 4}))
    assert st.figures.summary() == "已办 23 · 平均 6:40 · 过号 2"
    st.apply_event(ev("ticket.no_show", {"ticket": ticket("A1", status="no_show", counter=3)},
                      101))
    assert st.figures.no_shows == 3


def test_reconnect_keeps_the_counter_session(st):
    logged_in(st)
    do(st, "call_next", ok(ticket=ticket("A013", status="called", counter=3)))
    st.set_status("offline")
    assert not st.legal("start")
    st.set_status("online")
    st.apply_welcome(welcome(state="open", staff={"id": "s001", "name": "王芳"},
                             current=ticket("A013", status="serving", counter=3), seq=120))
    assert st.logged_in and st.current["status"] == "serving"
    assert st.take_relogin() is None  # the server kept our session
    assert st.legal("complete") and st.take_queue_refresh()


def test_reconnect_to_a_closed_counter_relogs_in(st):
    logged_in(st)
    st.apply_welcome(welcome(state="closed", staff=None, seq=120))
    assert st.logged_in  # the staff keeps the main screen
    relogin = st.take_relogin()
    assert relogin.type == "login" and relogin.fields == {"staff": "s001", "pin": "1234"}
    assert relogin.relogin and st.take_relogin() is None
    assert not st.legal("call_next")  # busy until the login is back
    # A request the link resent before our login: unauthorized, did nothing.
    st.apply_reply(Request("call_next"), err("unauthorized"))
    assert st.logged_in and "重试" in st.message.text
    st.apply_reply(relogin, ok(staff={"id": "s001", "name": "王芳"}))
    assert st.legal("call_next") and st.counter_status == "open"


def test_reconnect_to_a_counter_someone_else_took(st):
    logged_in(st)
    st.apply_welcome(welcome(state="open", staff={"id": "s002", "name": "李强"}, seq=120))
    assert not st.logged_in and st.take_relogin() is None
    assert "李强" in st.message.text


def test_replayed_events_count_but_do_not_rewind(st):
    logged_in(st)
    st.apply_event(ev("ticket.called", {"ticket": ticket("A013", status="called", counter=3),
                                        "counter": 3}, 101))
    # Reconnect: the snapshot (seq 110) already has A013 serving; the server
    # replays 102..110 after the welcome.
    st.apply_welcome(welcome(state="open", staff="s001",
                             current=ticket("A013", status="serving", counter=3), seq=110))
    st.apply_event(ev("ticket.called", {"ticket": ticket("A013", status="called", counter=3),
                                        "counter": 3}, 102))
    st.apply_event(ev("ticket.no_show", {"ticket": ticket("A009", status="no_show",
                                                          counter=3)}, 103))
    assert st.current["status"] == "serving"  # not rewound
    assert st.figures.no_shows == 1  # but counted
    st.apply_event(ev("ticket.completed", {"ticket": ticket("A013", status="done",
                                                            counter=3)}, 111))
    assert st.current is None and st.figures.served == 1


def test_logout_rules(st):
    logged_in(st)
    do(st, "call_next", ok(ticket=ticket("A013", status="called", counter=3)))
    assert not st.can_logout()
    with pytest.raises(NotLegal):
        st.logout()
    do(st, "no_show", ok(ticket=ticket("A013", status="no_show", counter=3)))
    req = st.logout()
    assert req == Request("logout")
    st.apply_reply(req, ok())
    assert not st.logged_in and st.counter_status == "closed"
    assert legal_set(st) == set()


def test_counter_opened_by_someone_else_logs_us_out(st):
    logged_in(st)
    st.apply_event(ev("counter.opened", {"counter": 3, "staff": {"id": "s009", "name": "赵"}},
                      101))
    assert not st.logged_in


def test_helpers():
    assert format_duration(400) == "6:40"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(-5) == "0:00"
    assert format_duration(None) == "--:--"
    assert parse_time("nonsense") is None
    assert parse_time("2026-11-26T09:00:00+08:00").tzinfo is not None
    assert parse_time("2026-11-26T09:00:00") is None  # no offset: cannot be placed
    with pytest.raises(ValueError):
        CounterModel().why_not("dance")
    with pytest.raises(ValueError):
        CounterModel().set_status("sleepy")


def test_refused_device(st):
    st.set_refused({"type": "error", "code": "unauthorized", "message": "bad token"})
    assert "bad token" in st.refused and st.connection == "offline"
