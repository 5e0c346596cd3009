"""A route ticket's route and step survive the store (migration 0009)."""

from __future__ import annotations

from server.store import Store
from tests.store.samples import DAY, changed, issued, new_ticket


def test_route_and_step_round_trip(store: Store) -> None:
    case = new_ticket(1, service="gh", prefix="K", tid="case-1")
    case.route, case.route_id = ("gh", "js", "xf"), "jj"
    plain = new_ticket(1, service="gh", prefix="G")  # G001 and K001 both wait at gh
    store.commit("main", issued(case) + issued(plain))
    moved, ev = changed(case, "ticket.routed", service="js", step=1)
    store.commit("main", [ev])
    got = {t.id: t for t in store.load("main", DAY).tickets}
    assert got[case.id] == moved
    assert got[case.id].route == ("gh", "js", "xf") and got[case.id].step == 1
    assert got[plain.id].route == () and got[plain.id].step == 0
    assert store.load("main", DAY).last_numbers == {("gh", DAY): 1, ("jj", DAY): 1}
