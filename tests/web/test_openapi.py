"""docs/openapi.yaml against the real server: every documented operation is
answered with a documented status, and the objects the server sends carry
exactly the documented fields (a field added to the API without the file
fails here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.web.test_api import call
from tests.web.test_booking_api import booking_hall, first_slot

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs/openapi.yaml")
                      .read_text(encoding="utf-8"))


def schema(name: str) -> dict[str, Any]:
    return dict(SPEC["components"]["schemas"][name])


def fits(obj: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    """Every key of ``obj`` is documented; every required one is there."""
    props = spec["properties"]
    assert set(obj) <= set(props), f"{where}: undocumented {sorted(set(obj) - set(props))}"
    assert set(spec.get("required", ())) <= set(obj), where


def test_every_documented_operation_answers_as_documented(tmp_path) -> None:
    with booking_hall(tmp_path) as srv:
        _day, slot = first_slot(srv)
        _s, _h, made = call(f"{srv.http}/api/v1/halls/main/bookings", {
            "service": "gjj", "slot": slot["slot"], "name": "王芳", "phone": "13812345678"})
        status, _h, ticket = call(f"{srv.http}/api/v1/halls/main/tickets",
                                  {"service": "gjj", "phone": "13900001111"})
        assert status == 201
        values = {"hall": "main", "check": ticket["check"], "code": made["booking"]["code"]}
        _s, _h, slots = call(f"{srv.http}/api/v1/halls/main/slots?service=gjj"
                             f"&date={slot['slot'][:10]}")
        free = next(s for s in slots["slots"] if s["free"])
        bodies = {"/api/v1/halls/{hall}/tickets": {"service": "tax", "phone": "13700002222"},
                  "/api/v1/halls/{hall}/bookings": {"service": "gjj", "slot": free["slot"],
                                                    "name": "李强", "phone": "13600003333"}}
        seen = 0
        for template, item in SPEC["paths"].items():
            path = template.format(**values)
            for method, op in item.items():
                query = ""
                if template.endswith("/slots"):
                    query = f"?service=gjj&date={slot['slot'][:10]}"
                body = bodies.get(template, {}) if method == "post" else None
                status, headers, reply = call(f"{srv.http}{path}{query}", body,
                                              method=method.upper())
                assert str(status) in op["responses"], (method, template, status, reply)
                if template.endswith("/live"):
                    assert status == 400  # not a websocket upgrade
                seen += 1
                if template in ("/api/v1/tickets/{check}", "/api/v1/halls/{hall}/tickets",
                                "/api/v1/tickets/{check}/arrived"):
                    fits(reply, schema("Ticket"), template)
                if template == "/api/v1/halls/{hall}":
                    fits(reply, schema("Hall"), template)
                    for svc in reply["services"]:
                        fits(svc, schema("Hall")["properties"]["services"]["items"], template)
                if template == "/api/v1/halls/{hall}/bookings":
                    assert status == 201, reply
                    fits(reply["booking"], schema("Booking"), template)
        assert seen == 9
        # A refusal is the documented shape.
        status, _h, refused = call(f"{srv.http}/api/v1/tickets/NOSUCH")
        assert status == 404
        fits(refused, SPEC["components"]["responses"]["Refusal"]["content"]["application/json"]
             ["schema"], "refusal")
        assert refused["code"] in (SPEC["components"]["responses"]["Refusal"]["content"]
                                   ["application/json"]["schema"]["properties"]["code"]["enum"])


def test_the_webhook_body_is_documented() -> None:
    spec = schema("Notification")
    body = {"event": "ticket.called", "hall": "main", "at": "2026-11-30T10:02:11+08:00",
            "ticket": {}, "phone": "13812345678", "counter": 3, "counter_name": "3号窗口"}
    fits(body, spec, "webhook")
    assert set(spec["properties"]["event"]["enum"]) == {
        "ticket.soon", "ticket.called", "ticket.no_show", "rating.bad"}
    assert json.dumps(SPEC["webhooks"]["notification"]["post"]["requestBody"]).count(
        "Notification") == 1
