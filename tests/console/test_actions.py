"""Console actions through the core, each audited with its change or not at all."""

from __future__ import annotations

from tests.console.client import ConsoleClient, console_config, login
from tests.helpers.server import PIN, RunningServer


def test_actions_go_through_the_core_and_are_audited(tmp_path):
    cfg = console_config(f"sqlite:///{tmp_path / 'hall.db'}")
    with RunningServer(cfg) as srv, srv.client("counter-1") as counter, \
            srv.client("kiosk-1") as kiosk, srv.client("board-1") as board:
        assert counter.request("login", staff="s001", pin=PIN)["type"] == "ok"
        waiting = kiosk.request("issue", service="tax")["ticket"]
        kiosk.request("issue", service="gjj")
        assert counter.request("call_next")["type"] == "ok"
        client = ConsoleClient(srv.port, login(srv.port))

        def audited() -> list[tuple[str, str]]:
            return [(r.action, r.target) for r in
                    reversed(srv.store.console.audit_log(cfg.id)) if r.action != "login"]

        # Refused by the core: nothing changes, nothing is audited.
        refused = client.request("close", counter=1)
        assert (refused["type"], refused["code"]) == ("error", "conflict")
        assert client.request("cancel", ticket="nope")["code"] == "not_found"
        assert client.request("pause", counter="1")["code"] == "bad_request"
        assert client.request("explode")["code"] == "bad_request"
        assert audited() == []

        # Cancel a waiting ticket: the board sees the event, the floor drops it.
        assert client.request("cancel", ticket=waiting["id"])["type"] == "ok"
        event = board.wait_event("ticket.cancelled")
        assert event["data"]["ticket"]["id"] == waiting["id"]
        client.wait_floor(lambda f: all(t["id"] != waiting["id"] for t in f["floor"]["waiting"]))
        assert client.request("pause", counter=1, reason="巡查")["type"] == "ok"
        assert client.request("resume", counter=1)["type"] == "ok"
        assert audited() == [("cancel", f"ticket:{waiting['id']}"), ("pause", "counter:1"),
                             ("resume", "counter:1")]
        log = srv.store.console.audit_log(cfg.id)
        assert log[1].detail == {"reason": "巡查"} and log[2].detail == {"number": "B001"}

        # Move a waiting ticket to another service: same number, new queue.
        moving = kiosk.request("issue", service="gjj")["ticket"]
        assert client.request("move", ticket=moving["id"])["code"] == "bad_request"
        assert client.request("move", ticket=moving["id"], service="bdc")["type"] == "ok"
        moved = board.wait_event("ticket.transferred")["data"]
        assert (moved["ticket"]["number"], moved["to_service"], moved["from_counter"]) == (
            moving["number"], "bdc", None)
        assert srv.call(lambda: srv.server.service.hall.waiting("bdc")) == 1
        assert audited()[-1] == ("move", f"ticket:{moving['id']}")

        # A follow-up needs a known case and a verdict from the list.
        bad = client.request("followup_close", followup="x", verdict="happy", note="n")
        assert bad["code"] == "bad_request"
        assert client.request("followup_close", followup="x", verdict="satisfied",
                              note="n")["code"] == "not_found"
        assert len(audited()) == 4
        client.close()
