"""The service API: the one commit loop (``Context.commit``) and composing features."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping

import pytest

from server.core import Event, Hall
from server.core.model import Ticket
from server.service import HallService
from server.service.api import (
    COMMIT_ATTEMPTS,
    Context,
    Decision,
    Group,
    Handler,
    Reply,
    Session,
    StaleState,
    Store,
)
from server.wire import protocol
from tests.helpers.fakes import FakeClock
from tests.helpers.server import small_config

NOW = dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)  # Thursday 09:00 in the hall


class CountingContext(Context):
    """A plain context that counts its rebuilds (the loop's only side effect)."""

    reloads = 0

    def reload(self) -> None:
        self.reloads += 1


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'api.db'}"


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with Store(url, clock=FakeClock(NOW)) as s:  # replies expire on the store's clock
        yield s


@pytest.fixture
def ctx(url: str, store: Store) -> CountingContext:
    return CountingContext(small_config(url), store, FakeClock(NOW))


def _ticket(version: int = 1) -> Ticket:
    return Ticket("t1", "A001", "gjj", issued_at=NOW, day=NOW.date(), seqno=1,
                  check="c1", version=version)


def _kiosk(ctx: Context) -> Session:
    device = ctx.config.device("kiosk-1")
    assert device is not None
    return Session(device)


def test_commit_remembers_the_reply_with_the_events(ctx: CountingContext, store: Store):
    issued = Event("ticket.issued", {"n": 1}, _ticket(), None)
    reply = ctx.commit(lambda: Decision([issued], {"ticket": "A001"}), (_kiosk(ctx), "r1"))
    assert reply.message == protocol.ok("r1", ticket="A001")
    assert [e["name"] for e in reply.events] == ["ticket.issued"] and issued.seq == 1
    assert protocol.decode(store.recall_reply(ctx.config.id, "kiosk-1", "r1") or "") == \
        reply.message
    assert ctx.reloads == 0


def test_an_events_wire_time_is_the_time_it_was_stored_with(url: str, store: Store):
    # A clock that moves between the commit and the reply (every read is a
    # second later): the event goes out with its stored time, not a later one.
    ticks = iter(range(100))
    ctx = CountingContext(small_config(url), store,
                          lambda: NOW + dt.timedelta(seconds=next(ticks)))
    issued = Event("ticket.issued", {"n": 1}, _ticket(), None)
    reply = ctx.commit(lambda: Decision([issued], {}), (_kiosk(ctx), "r1"))
    assert [e["at"] for e in store.events_since(ctx.config.id, 0)] == [NOW]  # the first read
    assert [e["at"] for e in reply.events] == ["2026-11-26T09:00:00+08:00"]  # in the hall's zone


def test_a_lost_race_rebuilds_memory_and_decides_again(ctx: CountingContext, store: Store):
    store.commit(ctx.config.id, [Event("ticket.issued", {}, _ticket(), None)])
    changed = dataclasses.replace(_ticket(), status="called", version=2)
    seen: list[int] = []

    def decide() -> Decision:
        # First from a stale memory (version 5 was never written), then fresh.
        prev = 5 if not seen else 1
        seen.append(prev)
        return Decision([Event("ticket.called", {}, dataclasses.replace(changed, version=prev + 1),
                               prev)])

    reply = ctx.commit(decide)
    assert seen == [5, 1] and ctx.reloads == 1 and reply.message == {}
    assert store.load(ctx.config.id, NOW.date()).tickets[0].status == "called"


def test_every_attempt_lost_writes_nothing(ctx: CountingContext, store: Store):
    store.commit(ctx.config.id, [Event("ticket.issued", {}, _ticket(), None)])
    stale = Event("ticket.called", {}, dataclasses.replace(_ticket(), version=9), 8)
    with pytest.raises(RuntimeError, match=f"after {COMMIT_ATTEMPTS} attempts"):
        ctx.commit(lambda: Decision([stale]), (_kiosk(ctx), "r2"))
    assert ctx.reloads == COMMIT_ATTEMPTS and store.last_seq(ctx.config.id) == 1
    assert store.recall_reply(ctx.config.id, "kiosk-1", "r2") is None


def test_a_guarded_write_that_loses_is_a_lost_race(ctx: CountingContext, store: Store):
    # A store write raising StaleState inside the transaction rolls the events back too.
    def lose(_conn: object) -> None:
        raise StaleState("someone else")

    issued = Event("ticket.issued", {}, _ticket(), None)
    attempts: list[int] = []

    def decide() -> Decision:
        attempts.append(1)
        return Decision([issued], writes=lose if len(attempts) == 1 else None)

    ctx.commit(decide)
    assert len(attempts) == 2 and store.last_seq(ctx.config.id) == 1


def test_nothing_to_write_commits_nothing(ctx: CountingContext, store: Store):
    reply = ctx.commit(lambda: Decision([], {"unchanged": True}), (_kiosk(ctx), "r3"))
    assert reply.message == protocol.ok("r3", unchanged=True) and reply.events == []
    assert store.last_seq(ctx.config.id) == 0
    assert store.recall_reply(ctx.config.id, "kiosk-1", "r3") is None


def test_other_failures_rebuild_memory_and_propagate(ctx: CountingContext):
    with pytest.raises(ValueError, match="prev_version"):
        ctx.commit(lambda: Decision([Event("x", {}, None, 3)]))
    assert ctx.reloads == 1


def test_a_plain_context_holds_no_hall(ctx: CountingContext):
    with pytest.raises(RuntimeError, match="no hall"):
        ctx.hall  # noqa: B018


# ----------------------------------------------------------------- composing


class Echo:
    """A feature answering ``stats`` with what it was fed."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.fed: list[Hall] = []

    def loaded(self, hall: Hall) -> None:
        self.fed.append(hall)

    def handlers(self) -> Mapping[str, Handler]:
        return {"stats": self._stats}

    def _stats(self, session: Session, msg: dict) -> Reply:
        return Reply(protocol.ok(msg["id"], stats={"fed": len(self.fed)}))


class Issuer(Echo):
    def handlers(self) -> Mapping[str, Handler]:
        return {"issue": self._stats}


def test_features_are_built_routed_and_fed(url: str, store: Store):
    svc = HallService(small_config(url), store, clock=FakeClock(NOW),
                      features=[Echo])
    echo = svc.feature(Echo)
    assert echo.ctx is svc and echo.fed == [svc.hall]
    admin = svc.config.device("admin-1")
    assert admin is not None
    svc.reload()  # every core built from the store is fed
    reply = svc.handle(Session(admin), {"type": "stats", "id": "s1"})
    assert reply.message["stats"] == {"fed": 2}
    assert echo.fed[-1] is svc.hall  # the hall rebuilt by the reload, not nothing
    # The protocol's role rules still come first.
    kiosk = svc.handle(_kiosk(svc), {"type": "stats", "id": "s2"}).message
    assert kiosk["code"] == "forbidden"
    with pytest.raises(LookupError):
        svc.feature(Issuer)


def test_without_the_feature_its_request_is_not_available(url: str, store: Store):
    svc = HallService(small_config(url), store, clock=FakeClock(NOW))
    admin = svc.config.device("admin-1")
    assert admin is not None
    reply = svc.handle(Session(admin), {"type": "stats", "id": "s1"}).message
    # Whole: the device matches the refusal to its request by `re`.
    assert reply == protocol.error("s1", "bad_request", "'stats' is not available here")


def test_a_staff_request_before_a_login_is_refused_by_its_id(url: str, store: Store):
    svc = HallService(small_config(url), store, clock=FakeClock(NOW))
    counter = svc.config.device("counter-1")
    assert counter is not None
    reply = svc.handle(Session(counter), {"type": "call_next", "id": "c1"}).message
    assert reply == protocol.error("c1", "unauthorized", "log in first (staff id and PIN)")


class Stray(Echo):
    """Answers ``stats`` with another request's id, already encoded."""

    def _stats(self, session: Session, msg: dict) -> Reply:
        reply = Reply(protocol.ok("another-id", stats={}))
        reply.encoded()
        return reply


def test_a_reply_carries_its_requests_id_whatever_the_handler_built(url: str, store: Store):
    svc = HallService(small_config(url), store, clock=FakeClock(NOW), features=[Stray])
    admin = svc.config.device("admin-1")
    assert admin is not None
    reply = svc.handle(Session(admin), {"type": "stats", "id": "s1"})
    assert reply.message == {"type": "ok", "re": "s1", "stats": {}}
    assert protocol.decode(reply.encoded()) == reply.message  # the text sent says so too


@pytest.mark.parametrize("features", [[Echo, Echo], [Issuer]])
def test_a_request_answered_twice_is_refused(url: str, store: Store, features):
    with pytest.raises(ValueError, match="answered twice"):
        HallService(small_config(url), store, clock=FakeClock(NOW), features=features)


def test_a_groups_writes_and_events_commit_in_one_transaction_at_the_hall_clock(
        url: str, store: Store):
    # The context's clock runs an hour ahead of the store's: the group's events
    # carry the hall's time, as a single commit's do.
    later = NOW + dt.timedelta(hours=1)
    ctx = CountingContext(small_config(url), store, FakeClock(later))
    seen: list[tuple[str, object]] = []

    def write(tag: str):
        audit = store.console.audit(ctx.config.id, NOW, "s001", tag, "x", {})

        def run(conn) -> None:
            seen.append((tag, conn))
            audit(conn)                                       # a real row, on that connection
        return run

    group = Group()
    ctx.group = group
    answer = ctx.commit(lambda: Decision([Event("ticket.issued", {}, _ticket(), None)],
                                         {"n": 1}, writes=write("a")), (_kiosk(ctx), "g1"))
    ctx.commit(lambda: Decision([], writes=write("b")))      # writes alone are a change
    ctx.group = None
    assert seen == [] and answer.events == []                # nothing until the group commits
    ctx.commit_group(group)
    assert [tag for tag, _ in seen] == ["a", "b"] and seen[0][1] is seen[1][1]
    assert [e["at"] for e in store.events_since(ctx.config.id, 0)] == [later]
    assert [e["name"] for e in answer.events] == ["ticket.issued"]
    assert store.recall_reply(ctx.config.id, "kiosk-1", "g1") is not None
    # a group of writes only, and one of events nobody asked for, commit too
    only_writes = Group()
    ctx.group = only_writes
    ctx.commit(lambda: Decision([], writes=write("c")))
    ctx.group = None
    ctx.commit_group(only_writes)
    assert [tag for tag, _ in seen] == ["a", "b", "c"]
    assert [r.action for r in store.console.audit_log(ctx.config.id)] == ["c", "b", "a"]
    upkeep = Group()
    ctx.group = upkeep
    ctx.commit(lambda: Decision([Event("queue.changed", {"service": "gjj"})]))
    ctx.group = None
    ctx.commit_group(upkeep)
    assert store.last_seq(ctx.config.id) == 2
