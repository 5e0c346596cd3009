"""One estimate everywhere (server/wire/estimate.py): the words for each case."""

from __future__ import annotations

import datetime as dt

import pytest

from server.wire.estimate import Estimate, ahead_text, estimate

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize(("obj", "zh", "en"), [
    ({"eta_s": 0}, "即将叫号", "soon"),
    ({"eta_s": 59}, "约 1 分钟", "about 1 min"),
    ({"eta_s": 420}, "约 7 分钟", "about 7 min"),
    ({"eta_s": 421}, "约 8 分钟", "about 8 min"),
    ({"eta_s": 1500, "eta_low_s": 1200, "eta_high_s": 1800}, "约 20-30 分钟",
     "about 20-30 min"),
    ({"eta_s": 1500, "eta_low_s": 1500, "eta_high_s": 1500}, "约 25 分钟", "about 25 min"),
    ({"eta_s": 300, "eta_after": "2026-11-26T13:40:00+08:00"}, "约 13:40 后",
     "after about 13:40"),
    ({"eta_s": 0, "open_counters": 0}, "暂无窗口办理，开放后叫号",
     "no counter open now; called once one opens"),
    ({"eta_s": 0, "open_counters": 0, "eta_after": "2026-11-26T05:30:00+00:00"},
     "约 13:30 后", "after about 13:30"),
])
def test_estimate_words(obj, zh, en):
    est = estimate(obj, tz=SHANGHAI)
    assert est is not None
    assert (est.text("zh"), est.text("en")) == (zh, en)


def test_zero_is_soon_never_one_minute():
    est = estimate({"eta_s": 0, "open_counters": 2})
    assert est == Estimate("soon")
    assert est.line("zh") == "预计等候 即将叫号" and "1 分钟" not in est.line("zh")


def test_no_counter_open_is_never_no_wait():
    # A ticket object has no open_counters: its service's queue says it.
    est = estimate({"eta_s": 0, "ahead": 0}, queue={"open_counters": 0})
    assert est is not None and est.kind == "no_counter"
    assert "无需等候" not in est.text("zh")


def test_nothing_known_nothing_said():
    assert estimate({}) is None
    assert estimate({"eta_s": "soon"}) is None
    assert estimate({"eta_s": True}) is None


def test_ahead_words():
    assert ahead_text(0) == "下一位就是您" and ahead_text(0, "en") == "You are next in line"
    assert ahead_text(1, "en") == "1 person ahead of you"
    assert ahead_text(4) == "前面等候 4 人"
