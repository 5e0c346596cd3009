"""The welcome's ``resume`` and the hello's, over real websockets (docs/PROTOCOL.md).

A good ticket is taken by any instance of the hall (the key is in the
database) without a token check in its auth pool; anything else costs
exactly the one check a hello without a ticket costs, and is never an
error by itself.
"""

from __future__ import annotations

import pytest

from tests.helpers.server import RunningServer, small_config

PG = pytest.param("postgresql", marks=pytest.mark.postgres)


def _checks(srv: RunningServer) -> int:
    """Token checks the server's auth pool ran (scrypt calls)."""
    return int(srv.call(lambda: srv.server.auth.checked))


@pytest.mark.parametrize("db_url", [PG], indirect=True)
def test_another_instance_takes_the_ticket_without_a_token_check(db_url):
    cfg = small_config(db_url)
    with RunningServer(cfg) as a, RunningServer(cfg) as b:
        first = a.client("kiosk-1")
        ticket = first.welcome["resume"]
        assert isinstance(ticket, str) and ticket
        first.ws.close()
        assert _checks(a) == 1
        # b has its own store, token cache and copy of the key: it read the
        # key a made from the database.
        again = b.client("kiosk-1", resume=ticket)
        assert again.welcome["type"] == "welcome" and again.welcome["device"] == "kiosk-1"
        assert _checks(b) == 0
        assert 'qhall_auth_checks_total{outcome="resumed"} 1.0' in b.call(b.server.metrics_text)
        assert again.request("issue", service="gjj")["type"] == "ok"
        # the new welcome's ticket works at a in turn
        back = a.client("kiosk-1", resume=again.welcome["resume"])
        assert back.welcome["type"] == "welcome" and _checks(a) == 1
        for c in (again, back):
            c.ws.close()


def test_a_bad_ticket_costs_one_token_check_and_is_no_error(tmp_path):
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'h.db'}")) as srv:
        good = srv.client("kiosk-1").welcome["resume"]
        spoiled = good[:-1] + ("B" if good[-1] == "A" else "A")
        other = srv.client("kiosk-2").welcome["resume"]
        for bad in (spoiled, other, good + "x", "", "r" * 600, 7, None, True, [good],
                    {"resume": good}):
            # A device whose token this process has not seen yet: its hello
            # needs the pool (the cache would hide the count).
            srv.call(lambda: srv.server.service.tokens.forget("kiosk-1"))
            before = _checks(srv)
            c = srv.client("kiosk-1", resume=bad)
            assert c.welcome["type"] == "welcome", (bad, c.welcome)
            assert isinstance(c.welcome["resume"], str)
            assert _checks(srv) == before + 1, bad
            c.ws.close()


def test_a_wrong_token_is_refused_with_a_bad_or_even_a_good_ticket(tmp_path):
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'h.db'}")) as srv:
        good = srv.client("kiosk-1").welcome["resume"]
        for ticket in (good[:-1] + ("B" if good[-1] == "A" else "A"), good):
            before = _checks(srv)
            c = srv.client("kiosk-1", token="wrong-token", resume=ticket, expect_welcome=False)
            assert c.welcome["type"] == "error" and c.welcome["code"] == "unauthorized"
            assert _checks(srv) == before + 1  # the one token check, never two
            c.ws.close()


def test_every_welcome_carries_a_ticket(tmp_path):
    # Every welcome carries a fresh ticket, with a ticket sent or not.
    with RunningServer(small_config(f"sqlite:///{tmp_path / 'h.db'}")) as srv:
        c = srv.client("board-1")
        assert c.welcome["resume"].startswith("r1.")
        d = srv.client("board-1", resume=c.welcome["resume"])
        assert d.welcome["resume"].startswith("r1.")
        for x in (c, d):
            x.ws.close()
