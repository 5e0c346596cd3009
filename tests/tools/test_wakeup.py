"""The load generator's counters: a ticket wakes ONE sleeping counter of its
service, and a counter asks for a ticket only when it claimed a waiting one."""

from __future__ import annotations

from server.tools.wakeup import Wakeups


def _floor() -> Wakeups:
    wakeups = Wakeups({"gjj": [1, 2, 3], "tax": [3, 4]})
    for n in (1, 2, 3, 4):
        wakeups.join(n)
    return wakeups


def test_a_ticket_wakes_one_sleeping_counter_and_it_alone_claims_it() -> None:
    wakeups = _floor()
    events = {n: wakeups.sleep(n) for n in (1, 2, 3, 4)}  # nothing waits: all asleep
    assert wakeups.issued("gjj") == 1
    assert [n for n, e in events.items() if e.is_set()] == [1]
    assert wakeups.claim(1)  # woken, it asks
    assert not wakeups.claim(2)  # the one ticket is claimed: nobody else asks
    wakeups.sleep(2)  # (it was awake to try: back to sleep)
    # The next tickets wake the next sleepers; a tax ticket one of tax's.
    assert wakeups.issued("gjj") == 2
    assert wakeups.issued("tax") == 3
    assert wakeups.issued("tax") == 4
    assert wakeups.issued("gjj") is None  # every gjj counter is awake: counted only
    assert wakeups.waiting == {"gjj": 2, "tax": 2}
    assert wakeups.woken == 4


def test_a_busy_counter_claims_what_waits_when_it_is_done() -> None:
    wakeups = _floor()
    assert not wakeups.claim(1)  # after its login: nothing waits
    wakeups.issued("gjj")  # nobody asleep: every counter busy
    assert wakeups.claim(1)
    wakeups.took(1, "gjj")
    assert wakeups.waiting["gjj"] == 0 and not wakeups.claim(2)


def test_the_server_picks_another_service_and_queue_empty_gives_the_claim_back() -> None:
    wakeups = _floor()
    wakeups.issued("gjj")
    wakeups.issued("tax")
    assert wakeups.claim(3)  # counter 3 serves both; claims gjj first
    wakeups.took(3, "tax")  # the server gave it the tax ticket
    assert wakeups.waiting == {"gjj": 1, "tax": 0}
    assert wakeups.claim(1)
    wakeups.unclaim(1)  # queue_empty: the count ran ahead of the server
    assert wakeups.waiting["gjj"] == 1


def test_unknown_services_wake_nobody_and_wake_all_ends_every_sleep() -> None:
    wakeups = _floor()
    events = [wakeups.sleep(n) for n in (1, 2)]
    assert wakeups.issued("nope") is None
    wakeups.wake_all()
    assert all(e.is_set() for e in events)
