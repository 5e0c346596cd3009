"""The counter's status line never contradicts the screen; the transfer list;
撤销过号 and the missed list in the state (no Qt)."""

from __future__ import annotations

import datetime as dt

import pytest

from counter.keys import DEFAULT_KEYS
from counter.state import UNDO_S, NotLegal, Request
from counter.status import screen_line, status_line
from counter.transfer import transfer_choices
from tests.counter.samples import T0, do, err, iso, ok, ticket


@pytest.fixture
def st(st):
    """The shared state (tests/counter/conftest.py), with s001 logged in."""
    req = st.login("s001", "1234")
    st.apply_reply(req, ok(staff={"id": "s001", "name": "王芳"}))
    return st


def line(st) -> str:
    return status_line(st, DEFAULT_KEYS).text


def test_no_one_waiting_gives_way_when_the_list_fills(st):
    st.apply_reply(Request("queue"), ok(waiting=[]))
    st.apply_reply(Request("call_next"), err("queue_empty"))  # as after a race
    assert "没有等候" in line(st)
    st.apply_reply(Request("queue"), ok(waiting=[ticket("A1"), ticket("A2"), ticket("A3")]))
    assert "没有等候" not in line(st) and "No one" not in line(st)
    assert "3 人等候" in line(st) and "F1" in line(st)


def test_recall_message_goes_once_the_ticket_is_started(st):
    st.apply_reply(Request("queue"), ok(waiting=[ticket("A001")]))
    do(st, "call_next", ok(ticket=ticket("A001", status="called", counter=3)))
    do(st, "recall", ok(ticket=ticket("A001", status="called", counter=3)))
    assert "重呼 A001" in line(st)
    do(st, "start", ok(ticket=ticket("A001", status="serving", counter=3)))
    assert "重呼" not in line(st)
    assert "正在办理 A001" in line(st) and "F4" in line(st)


def test_a_key_is_named_only_while_its_action_is_enabled(st):
    st.apply_reply(Request("queue"), ok(waiting=[]))
    assert "F1" not in line(st)  # nothing to call
    st.apply_reply(Request("queue"), ok(waiting=[ticket("A1")]))
    assert "F1" in line(st)
    st.set_status("offline")
    assert "F1" not in line(st) and "Offline" in line(st)
    st.set_status("online")
    st.intent("call_next")  # in flight: F1 disabled meanwhile
    assert not st.legal("call_next") and "F1" not in line(st)


@pytest.mark.parametrize("state", ["called", "serving", "idle", "paused", "empty", "busy"])
def test_every_key_the_line_names_is_enabled(st, state):
    st.apply_reply(Request("queue"), ok(waiting=[ticket("A1")] if state != "empty" else []))
    if state in ("called", "serving"):
        do(st, "call_next", ok(ticket=ticket("A1", status="called", counter=3)))
        if state == "serving":
            do(st, "start", ok(ticket=ticket("A1", status="serving", counter=3)))
    elif state == "paused":
        do(st, "pause", ok(), reason="午餐")
    elif state == "busy":
        st.intent("call_next")
    text = screen_line(st, DEFAULT_KEYS).text
    for action, key in DEFAULT_KEYS.items():
        if f"按 {key} " in text:
            assert st.legal(action), (action, text)
    assert text  # always says something while logged in


def test_transfer_choices_show_state_queue_and_filter(st):
    st.apply_event({"type": "event", "seq": 101, "name": "counter.paused", "at": iso(T0),
                    "data": {"counter": 5, "reason": "会议"}})
    st.apply_event({"type": "event", "seq": 102, "name": "queue.changed", "at": iso(T0),
                    "data": {"service": "tax", "waiting": 4, "eta_s": 60, "open_counters": 1}})
    do(st, "call_next", ok(ticket=ticket("A1", status="called", counter=3)))
    rows = transfer_choices(st)
    assert [t.request for t in rows] == [{"service": "bdc"}, {"service": "tax"},
                                         {"counter": 5}, {"counter": 7}]
    assert [t.enabled for t in rows] == [True, True, False, True]
    assert "暂停" in rows[2].detail and "4 人等候" in rows[3].detail
    assert "1 个窗口开放" in rows[1].detail
    assert [t.request for t in transfer_choices(st, "7")] == [{"counter": 7}]
    assert [t.request for t in transfer_choices(st, "Real estate")] == [{"service": "bdc"}]
    with pytest.raises(NotLegal, match="未开放"):
        st.intent("transfer", counter=5)
    assert st.intent("transfer", counter=7) == Request("transfer", {"counter": 7})


def test_undo_no_show_for_30_s(st, clock):
    st.apply_reply(Request("queue"), ok(waiting=[ticket("A1")]))
    do(st, "call_next", ok(ticket=ticket("A1", status="called", counter=3)))
    do(st, "no_show", ok(ticket=ticket("A1", status="no_show", counter=3)))
    assert st.take_missed_refresh()
    assert st.why_not_undo() is None and st.undo_left_s() == UNDO_S
    clock.advance(UNDO_S - 1)
    req = st.intent("unmiss")
    assert req == Request("unmiss", {"ticket": "t-A1"})
    st.apply_reply(req, ok(ticket=ticket("A1", status="called", counter=3)))
    assert st.current["number"] == "A1" and st.undo is None
    assert "撤销" in line(st)


def test_undo_window_closes(st, clock):
    do(st, "call_next", ok(ticket=ticket("A1", status="called", counter=3)))
    do(st, "no_show", ok(ticket=ticket("A1", status="no_show", counter=3)))
    clock.advance(UNDO_S + 0.5)
    with pytest.raises(NotLegal, match="Nothing to undo"):
        st.intent("unmiss")
    assert st.busy is None


def test_missed_list_and_requeue(st):
    st.apply_reply(Request("missed"), ok(missed=[ticket("A7", status="no_show", counter=3)]))
    assert [t["number"] for t in st.missed] == ["A7"]
    with pytest.raises(NotLegal):
        st.intent("requeue", ticket="t-nope")
    req = st.intent("requeue", ticket="t-A7")
    assert req == Request("requeue", {"ticket": "t-A7"})
    back = {**ticket("A7", status="waiting"), "ahead": 3}
    st.apply_reply(req, ok(ticket=back))
    assert st.missed == [] and "A7 已重新排队" in line(st)
    assert st.take_missed_refresh()
    with pytest.raises(NotLegal):  # no longer in the list: not offered twice
        st.intent("requeue", ticket="t-A7")


def test_requeue_refusal_is_said_and_refreshes(st):
    st.apply_reply(Request("missed"), ok(missed=[ticket("A7", status="no_show", counter=3)]))
    req = st.intent("requeue", ticket="t-A7")
    st.apply_reply(req, err("expired", "missed its call more than 30 min ago"))
    assert "超过时限" in line(st) and st.take_missed_refresh()


def test_counter_states_follow_the_events(st):
    assert st.counter_states[5] == st.counter_states[7] == "open"
    st.apply_event({"type": "event", "seq": 101, "name": "counter.closed",
                    "at": iso(T0 + dt.timedelta(seconds=1)), "data": {"counter": 7}})
    assert st.counter_states[7] == "closed"
    assert st.counter_waiting(5) == 3  # gjj has 3 waiting in the sample snapshot
