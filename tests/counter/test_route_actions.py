"""CounterModel and a joint-approval (联合审批) ticket: complete sends it on,
退回补正 back to an earlier step and 结束联办 end it, each with a reason."""

from __future__ import annotations

import pytest

from counter.state import NotLegal, Request
from tests.counter.samples import ok, ticket
from tests.counter.test_state import logged_in


def route_ticket(status: str = "called", step: int = 1, service: str = "bdc") -> dict:
    t = ticket("K001", service=service, status=status, counter=3)
    return {**t, "route_id": "jj", "route": ["gjj", "bdc", "tax"], "step": step}


def at_counter(st, t: dict) -> None:
    logged_in(st)
    st.apply_reply(st.intent("call_next"), ok(ticket=t))


def test_route_actions_need_a_route_ticket(st) -> None:
    at_counter(st, ticket("A013", status="called", counter=3))
    assert "联办" in st.why_not("route_back") and "联办" in st.why_not("route_end")
    with pytest.raises(NotLegal):
        st.intent("route_end", reason="x")


def test_send_back_to_an_earlier_step_with_a_reason(st) -> None:
    at_counter(st, route_ticket())
    assert st.legal("route_back") and st.legal("route_end")
    assert st.route_steps() == [(0, "第 1 步  公积金业务")]
    with pytest.raises(NotLegal, match="原因"):
        st.intent("route_back", reason="  ")
    with pytest.raises(NotLegal, match="之前的步骤"):
        st.intent("route_back", step=1, reason="材料不全")
    req = st.intent("route_back", reason=" 材料不全 ")
    assert req == Request("route_back", {"step": 0, "reason": "材料不全"})
    st.apply_reply(req, ok(ticket={**route_ticket("waiting", 0, "gjj"), "counter": None}))
    assert st.current is None and "退回补正" in st.message.text


def test_end_the_case_and_the_first_step_cannot_go_back(st) -> None:
    at_counter(st, route_ticket(step=0, service="gjj"))
    assert "第一步" in st.why_not("route_back")
    req = st.intent("route_end", reason="不予受理")
    assert req == Request("route_end", {"reason": "不予受理"})
    st.apply_reply(req, ok(ticket=route_ticket("done", 0, "gjj")))
    assert st.current is None and "结束联办" in st.message.text


def test_completing_a_step_says_where_it_goes_next(st) -> None:
    at_counter(st, route_ticket())
    req = st.intent("complete")
    st.apply_reply(req, ok(ticket={**route_ticket("waiting", 2, "tax"), "counter": None}))
    assert st.current is None and "下一步" in st.message.text
