"""Where a ticket goes back in a queue, by the dispatch settings: ``tail``
transfers wait behind those already waiting but ahead of tickets issued
after the transfer; ``requeue_places = 0`` puts a returning no-show at the
very head, ahead of a ticket at the head band too; a route ticket asked
about with an old copy is estimated where it is now."""

from __future__ import annotations

from tests.core.builders import config, make_hall
from tests.core.test_routes import ROUTE_CFG, issue


def test_a_tail_transfer_comes_before_tickets_issued_after_it() -> None:
    hall, clock = make_hall(config(transfer_placement="tail"))
    waiting = hall.issue("bdc")[0].data["ticket"]["id"]
    moved = hall.issue("gjj")[0].data["ticket"]["id"]
    hall.call_next(1)
    hall.transfer(1, service="bdc")
    clock.advance(60)
    later = hall.issue("bdc")[0].data["ticket"]["id"]
    assert [t.id for t in hall.queue(3)] == [waiting, moved, later]


def test_no_places_back_is_the_very_head_even_before_a_head_transfer() -> None:
    hall, clock = make_hall(config(requeue_places=0))
    missed = hall.issue("bdc")[0].data["ticket"]["id"]
    hall.call_next(3)
    hall.no_show(3)
    head = hall.issue("gjj")[0].data["ticket"]["id"]
    hall.call_next(1)
    hall.transfer(1, service="bdc")  # "head" placement: band 0
    hall.issue("bdc")
    clock.advance(60)
    hall.requeue(missed)
    assert [t.id for t in hall.queue(3)][:2] == [missed, head]


def test_an_old_copy_of_a_route_ticket_is_estimated_where_it_is_now() -> None:
    hall, clock = make_hall(ROUTE_CFG)
    old = issue(hall, "jj").copy()  # waiting at gh, step 0
    hall.call_next(1)
    clock.advance(600)  # gh's cycle: 600 s
    hall.complete(1)
    assert hall.route_eta_s(old) == 600  # at js now: 0 + 300, then xf 0 + 300
