"""display.rating.state: the pad's rules without widgets."""

from __future__ import annotations

from display.rating.state import REASONS, RatingState
from tests.display.rating.samples import WELCOME, Clock, completed


def test_state_offers_one_rating_per_completed_ticket_of_its_counter():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.apply_welcome(WELCOME)
    assert s.mode == "idle" and s.idle_text() == "3号窗口 · 王芳 为您服务"
    assert s.tap(5) is None  # nothing to rate
    s.apply_event(completed(counter=4))
    assert s.mode == "idle"  # another counter's ticket
    s.apply_event(completed())
    assert s.mode == "rate" and s.ticket["number"] == "A012"
    assert s.tap(9) is None
    request = s.tap(4)
    assert request == {"type": "rate", "ticket": "t1", "score": 4}
    assert s.mode == "sending" and s.tap(1) is None  # one tap only
    s.apply_reply({**request, "ticket": "t0"}, {"type": "ok"})  # another ticket's answer
    assert s.mode == "sending"
    s.apply_reply(request, {"type": "ok"})
    assert s.mode == "thanks"
    clock.t += 4
    assert s.tick() and s.mode == "idle" and s.ticket is None
    s.apply_event(completed())  # a replay of the same completion: not offered again
    assert s.mode == "idle"


def test_state_timeouts_errors_and_staff_changes():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.apply_welcome(WELCOME)
    s.apply_event(completed("t2"))
    clock.t += 59
    assert not s.tick() and s.mode == "rate"
    clock.t += 1
    assert s.tick() and s.mode == "idle"  # the citizen walked away
    s.apply_event(completed("t3"))
    s.apply_reply(s.tap(4), {"type": "error", "code": "timeout"})
    assert s.mode == "rate" and "tap again" in s.message
    s.apply_reply(s.tap(4), {"type": "error", "code": "conflict"})  # already rated: thank anyway
    assert s.mode == "thanks"
    s.apply_event({"name": "counter.closed", "data": {"counter": 3}})
    assert s.idle_text() == "3号窗口 · 窗口已关闭 Closed"
    s.apply_event({"name": "counter.opened", "data": {"counter": 3,
                                                   "staff": {"id": "s002", "name": "李强"}}})
    assert s.idle_text() == "3号窗口 · 李强 为您服务"
    s.apply_event({"name": "counter.paused", "data": {"counter": 3, "reason": ""}})
    assert "暂停" in s.idle_text()
    # a rating made elsewhere (a resend) closes the offer
    s.apply_event(completed("t4"))
    s.apply_event({"name": "ticket.rated", "data": {"ticket": {"id": "t4"}, "counter": 3}})
    assert s.mode == "thanks"


def test_state_bad_score_asks_why_then_sends_the_reason():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.apply_welcome(WELCOME)
    s.apply_event(completed())
    assert s.tap(2) is None and s.mode == "reason"  # 不满意: why?
    assert [zh for zh, _ in REASONS][:2] == ["服务态度差", "办事效率低"]
    s.toggle_reason("等候时间长")
    s.toggle_reason("服务态度差")
    s.toggle_reason("not a reason")  # ignored
    s.set_free_text("  排了  一个小时 ")
    request = s.submit_reason()
    assert request == {"type": "rate", "ticket": "t1", "score": 2,
                       "reason": "服务态度差、等候时间长；排了 一个小时"}
    assert s.mode == "sending"
    s.apply_reply(request, {"type": "error", "code": "timeout"})
    assert s.mode == "reason" and s.reasons == ["服务态度差", "等候时间长"]  # kept for a resend
    # back to the five levels: a wrong tap, then a good score has no reason
    s.back_to_levels()
    assert s.mode == "rate"
    assert s.tap(5) == {"type": "rate", "ticket": "t1", "score": 5}


def test_state_reason_page_timeout_still_sends_the_score():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.apply_welcome(WELCOME)
    s.apply_event(completed())
    s.tap(1)
    s.toggle_reason("其他")
    clock.t += 61
    assert s.tick() and s.mode == "sending"
    assert s.take_outbox() == {"type": "rate", "ticket": "t1", "score": 1, "reason": "其他"}
    assert s.take_outbox() is None


def test_state_closes_when_the_next_ticket_is_called():
    clock = Clock()
    s = RatingState(clock, rate_timeout_s=60, thanks_s=4)
    s.apply_welcome(WELCOME)
    s.apply_event(completed())
    s.apply_event({"name": "ticket.called", "data": {"ticket": {"id": "t7"}, "counter": 4}})
    assert s.mode == "rate"  # another counter's call
    s.apply_event({"name": "ticket.called", "data": {"ticket": {"id": "t7"}, "counter": 3}})
    assert s.mode == "idle" and s.ticket is None
    # mid-reason: the score given is sent, not lost
    s.apply_event(completed("t8"))
    s.tap(2)
    s.apply_event({"name": "ticket.called", "data": {"ticket": {"id": "t9"}, "counter": 3}})
    assert s.take_outbox() == {"type": "rate", "ticket": "t8", "score": 2}
