"""A joint-approval route (联合审批) on the real websocket server and store: one
number called at each step's counter in turn, sent back once (材料补正), kept
across a server restart, announced on the board at every step."""

from __future__ import annotations

import dataclasses

from server.config import Service
from tests.helpers.server import PIN, RunningServer, WsClient, small_config

# gjj (counter 2) -> tax (counter 3) -> bdc (counter 4), numbers L001...
ROUTE = Service("jl", "联办测试", "Joint route", "L", "approval", route=("gjj", "tax", "bdc"))


def route_config(db_url: str):
    cfg = small_config(db_url)
    return dataclasses.replace(cfg, services=(*cfg.services, ROUTE))


def login(desk: WsClient, staff: str) -> None:
    assert desk.request("login", staff=staff, pin=PIN)["type"] == "ok"


def called_at(board: WsClient, number: str) -> tuple[int, int]:
    """The next ``ticket.called`` on the board for ``number``: (counter, step)."""
    ev = board.wait_event("ticket.called", where=lambda e: e["data"]["ticket"]["number"] == number)
    return ev["data"]["counter"], ev["data"]["ticket"]["step"]


def test_a_route_ticket_is_called_at_each_steps_counter_with_one_number(db_url) -> None:
    cfg = route_config(db_url)
    with RunningServer(cfg) as srv:
        with srv.client("kiosk-1") as kiosk, srv.client("board-1") as board, \
                srv.client("counter-2") as gjj, srv.client("counter-3") as tax:
            login(gjj, "s002")
            login(tax, "s003")
            issued = kiosk.request("issue", service="jl")["ticket"]
            number = issued["number"]
            assert number == "L001"
            assert (issued["service"], issued["route"], issued["step"]) == (
                "gjj", ["gjj", "tax", "bdc"], 0)
            assert issued["route_id"] == "jl" and issued["eta_route_s"] >= issued["eta_s"]

            assert gjj.request("call_next")["ticket"]["number"] == number
            assert called_at(board, number) == (2, 0)
            reply = gjj.request("complete")
            assert reply["type"] == "ok" and reply["ticket"]["status"] == "waiting"
            routed = board.wait_event("ticket.routed")["data"]
            assert (routed["from_service"], routed["to_service"]) == ("gjj", "tax")

            assert tax.request("call_next")["ticket"]["number"] == number
            assert called_at(board, number) == (3, 1)
            # 材料补正: back to the first step, with a reason; a bad step is refused.
            bad = tax.request("route_back", step=1, reason="材料不全")
            assert (bad["type"], bad["code"]) == ("error", "bad_request")
            missing = tax.request("route_back", step=0)
            assert (missing["type"], missing["code"]) == ("error", "bad_request")
            back = tax.request("route_back", step=0, reason="材料不全 missing papers")
            assert back["ticket"]["step"] == 0 and back["ticket"]["service"] == "gjj"
            routed = board.wait_event("ticket.routed")["data"]
            assert routed["reason"] == "材料不全 missing papers" and routed["to_service"] == "gjj"

            assert gjj.request("call_next")["ticket"]["number"] == number
            assert called_at(board, number) == (2, 0)
            gjj.request("complete")
            board.wait_event("ticket.routed")

    # A restart: the store gives the ticket back at its step with its route.
    with RunningServer(cfg) as srv:
        with srv.client("kiosk-1") as kiosk, srv.client("board-1") as board, \
                srv.client("counter-3") as tax, srv.client("counter-4") as bdc:
            login(tax, "s003")
            login(bdc, "s004")
            assert tax.request("call_next")["ticket"]["number"] == number
            assert called_at(board, number) == (3, 1)
            tax.request("complete")
            got = bdc.request("call_next")["ticket"]
            assert (got["number"], got["step"], got["service"]) == (number, 2, "bdc")
            assert called_at(board, number) == (4, 2)
            done = bdc.request("complete")["ticket"]
            assert done["status"] == "done" and done["eta_route_s"] is None
            completed = board.wait_event("ticket.completed")["data"]
            assert completed["ticket"]["number"] == number
            # The route's numbering is its own: the next case is L002.
            assert kiosk.request("issue", service="jl")["ticket"]["number"] == "L002"
            assert kiosk.request("issue", service="gjj")["ticket"]["number"] == "A001"


def test_route_end_on_the_server(db_url) -> None:
    with RunningServer(route_config(db_url)) as srv:
        with srv.client("kiosk-1") as kiosk, srv.client("counter-2") as gjj:
            login(gjj, "s002")
            kiosk.request("issue", service="gjj")
            gjj.request("call_next")
            refused = gjj.request("route_end", reason="not a route")
            assert (refused["type"], refused["code"]) == ("error", "bad_request")
            gjj.request("complete")
            kiosk.request("issue", service="jl")
            gjj.request("call_next")
            ended = gjj.request("route_end", reason="不予受理 rejected")
            assert ended["ticket"]["status"] == "done" and ended["ticket"]["step"] == 0


def test_the_welcome_names_a_routes_steps(db_url) -> None:
    with RunningServer(route_config(db_url)) as srv, srv.client("kiosk-1") as kiosk:
        services = {s["id"]: s for s in kiosk.welcome["hall"]["services"]}
        assert services["jl"]["route"] == ["gjj", "tax", "bdc"]
        assert "route" not in services["gjj"]
        queues = kiosk.welcome["snapshot"]["queues"]
        assert queues["jl"]["open_counters"] == queues["gjj"]["open_counters"]
