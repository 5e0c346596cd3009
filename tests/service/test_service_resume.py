"""A welcome's resume ticket cannot be reshaped into another good one
(server/service/resume.py; SQLite and PostgreSQL: the hall key is in the store).
The ticket is opaque to devices, so these only use what a device could send."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from server.config import Device
from server.service import HallService, Session
from server.service.resume import SKEW_S
from server.store import Store
from tests.helpers.fakes import FakeClock
from tests.helpers.server import TOKEN, small_config
from tests.service.test_service_store_failures import rename


@contextlib.contextmanager
def _welcomed(db_url: str) -> Iterator[tuple[HallService, Device, str]]:
    """A hall service, its kiosk-1 and the ticket of kiosk-1's welcome."""
    clock = FakeClock()
    with Store(db_url, clock=clock) as store:
        svc = HallService(small_config(db_url), store, clock=clock, monotonic=clock.monotonic)
        kiosk = svc.config.device("kiosk-1")
        assert kiosk is not None
        yield svc, kiosk, svc.welcome(Session(kiosk), "w1", TOKEN("kiosk-1"))["resume"]


def test_a_tickets_expiry_is_part_of_its_proof(db_url: str) -> None:
    with _welcomed(db_url) as (svc, kiosk, ticket):
        version, stamp, mac = ticket.split(".")
        # Another expiry under the same MAC, earlier or later but still inside
        # the lifetime the check believes, is a forgery: it proves nothing.
        for expires in (int(stamp) - 1, int(stamp) + 1, int(stamp) + SKEW_S):
            forged = f"{version}.{expires}.{mac}"
            assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), forged) is None, expires
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), ticket) == kiosk


def test_a_ticket_of_fewer_parts_is_refused_not_an_error(db_url: str) -> None:
    with _welcomed(db_url) as (svc, kiosk, ticket):
        version, stamp, _ = ticket.split(".")
        for bad in (version, f"{version}.{stamp}", f"{version}.{stamp}."):
            assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), bad) is None, bad


def test_a_lone_surrogate_in_the_token_or_ticket_is_refused_not_an_error(db_url: str) -> None:
    # JSON can carry "\ud800" (a half of a surrogate pair): Python decodes it
    # to a lone surrogate, which UTF-8 alone cannot encode.
    with _welcomed(db_url) as (svc, kiosk, ticket):
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1") + "\ud800", ticket) is None
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), ticket[:-1] + "\ud800") is None
        # a welcome for such a token still gets a ticket, good for that token only
        odd = svc.welcome(Session(kiosk), "w2", "\ud800")["resume"]
        assert svc.resume_device("kiosk-1", "\ud800", odd) == kiosk
        assert svc.resume_device("kiosk-1", TOKEN("kiosk-1"), odd) is None


def test_without_the_hall_key_no_ticket_is_given_or_believed(db_url: str) -> None:
    clock = FakeClock()
    with Store(db_url, clock=clock) as store:
        cfg = small_config(db_url)
        kiosk = cfg.device("kiosk-1")
        ticket = HallService(cfg, store, clock=clock, monotonic=clock.monotonic).welcome(
            Session(kiosk), "w1", TOKEN("kiosk-1"))["resume"]
        rename(store, "resume_keys", "resume_keys_away")  # the key cannot be read now
        other = HallService(cfg, store, clock=clock, monotonic=clock.monotonic)
        assert other.resume_device("kiosk-1", TOKEN("kiosk-1"), ticket) is None
        assert "resume" not in other.welcome(Session(kiosk), "w2", TOKEN("kiosk-1"))
        rename(store, "resume_keys_away", "resume_keys")
        assert other.resume_device("kiosk-1", TOKEN("kiosk-1"), ticket) == kiosk
