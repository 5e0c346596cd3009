"""好差评 through the protocol: one rating per ticket, bad ratings open follow-ups."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.helpers.fakes import FakeClock
from tests.helpers.server import PIN, RunningServer, small_config

TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def clock():
    return FakeClock(dt.datetime(2026, 11, 26, 9, 0, tzinfo=TZ).astimezone(dt.UTC))  # Thursday


@pytest.fixture
def hall(db_url, clock):
    """The real server on SQLite and on PostgreSQL (follow-ups carry their own SQL)."""
    with RunningServer(small_config(db_url), clock=clock) as srv:
        yield srv


def serve_one(hall, clock, counter: int = 2) -> dict:
    with hall.client("kiosk-1") as kiosk, hall.client(f"counter-{counter}") as desk:
        ticket = kiosk.request("issue", service="gjj")["ticket"]
        assert desk.request("login", staff=f"s00{counter}", pin=PIN)["type"] == "ok"
        assert desk.request("call_next")["ticket"]["id"] == ticket["id"]
        clock.advance(60)
        desk.request("start")
        clock.advance(300)
        assert desk.request("complete")["type"] == "ok"
    return ticket


def test_one_rating_per_ticket_at_its_own_counter(hall, clock):
    ticket = serve_one(hall, clock)
    with hall.client("evaluator-1") as other, hall.client("evaluator-2") as pad, \
            hall.client("board-1") as board:
        assert other.request("rate", ticket=ticket["id"], score=5)["code"] == "forbidden"
        assert pad.request("rate", ticket=ticket["id"], score=6)["code"] == "bad_request"
        assert pad.request("rate", ticket=ticket["id"], score=5, id="x1")["type"] == "ok"
        assert pad.request("rate", ticket=ticket["id"], score=5, id="x1")["type"] == "ok"
        assert pad.request("rate", ticket=ticket["id"], score=1)["code"] == "conflict"
        rated = board.wait_event("ticket.rated")
        assert rated["data"]["score"] == 5 and rated["data"]["counter"] == 2
        assert not [e for e in board.drain() if e["name"] == "followup.opened"]
    with hall.client("admin-1") as admin:
        assert admin.request("followups")["followups"] == []


def test_bad_rating_opens_a_follow_up_until_handled(hall, clock):
    ticket = serve_one(hall, clock)
    with hall.client("evaluator-2") as pad, hall.client("admin-1") as admin:
        assert pad.request("rate", ticket=ticket["id"], score=2)["type"] == "ok"
        opened = admin.wait_event("followup.opened")["data"]["followup"]
        assert opened["number"] == ticket["number"] and opened["score"] == 2
        assert opened["staff"] == {"id": "s002", "name": "李强"} and opened["counter"] == 2
        assert opened["served_at"] == "2026-11-26T09:06:00+08:00"
        # 5 working days after Thursday 2026-11-26: Thursday 2026-12-03
        assert opened["due"] == "2026-12-03" and opened["overdue"] is False
        cases = admin.request("followups")["followups"]
        assert [c["id"] for c in cases] == [opened["id"]]
        # overdue once the due date has passed
        clock.now = dt.datetime(2026, 12, 4, 9, 0, tzinfo=TZ).astimezone(dt.UTC)
        assert admin.request("followups")["followups"][0]["overdue"] is True
        assert pad.request("followup_close", followup=opened["id"], note="x")["code"] == \
            "forbidden"
        assert admin.request("followup_close", followup="nope", note="x")["code"] == \
            "not_found"
        assert admin.request("followup_close", followup=opened["id"])["code"] == "bad_request"
        closed = admin.request("followup_close", followup=opened["id"],
                               note="已电话回访，重新解释政策 called back")
        assert closed["type"] == "ok", closed
        assert closed["followup"]["status"] == "closed"
        assert closed["followup"]["note"].startswith("已电话回访")
        assert admin.wait_event("followup.closed")["data"]["followup"]["id"] == opened["id"]
        assert admin.request("followups")["followups"] == []
        assert admin.request("followup_close", followup=opened["id"], note="again")["code"] \
            == "conflict"


def test_bad_rating_carries_its_reason_to_the_follow_up(hall, clock):
    good, bad = serve_one(hall, clock), serve_one(hall, clock)
    with hall.client("evaluator-2") as pad, hall.client("admin-1") as admin:
        # a reason only goes with a 1 or 2: refused, and nothing is rated
        refused = pad.request("rate", ticket=good["id"], score=4, reason="等候时间长")
        assert refused["code"] == "bad_request" and "score of 1 or 2" in refused["message"]
        assert pad.request("rate", ticket=good["id"], score=4)["type"] == "ok"
        assert pad.request("rate", ticket=bad["id"], score=1, reason="x" * 201)["code"] == \
            "bad_request"
        reply = pad.request("rate", ticket=bad["id"], score=1,
                            reason="服务态度差、一次性告知不到位；材料要求  没说清楚")
        assert reply["type"] == "ok", reply
        opened = admin.wait_event("followup.opened")["data"]["followup"]
        assert opened["reason"] == "服务态度差、一次性告知不到位；材料要求 没说清楚"
        [case] = admin.request("followups")["followups"]
        assert case["reason"] == opened["reason"] and case["number"] == bad["number"]


def test_very_bad_and_neutral_ratings(hall, clock):
    first = serve_one(hall, clock, counter=1)
    second = serve_one(hall, clock, counter=1)
    with hall.client("evaluator-1") as pad, hall.client("admin-1") as admin:
        pad.request("rate", ticket=first["id"], score=1)
        pad.request("rate", ticket=second["id"], score=3)  # 基本满意: satisfied, no case
        cases = admin.request("followups")["followups"]
        assert [(c["number"], c["score"]) for c in cases] == [(first["number"], 1)]
        assert cases[0]["reason"] is None  # no reason given
