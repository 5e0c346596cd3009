"""Today's counter layout: services assigned to counters for one day (pure).

A supervisor opens an extra counter for a service (临时增开窗口) by assigning
services to a counter for today. The assignment overrides the counter's
configured services until the hall-local day ends; the configuration itself
is not changed. :func:`assign` is the rule: the hall as the core builds it
for a day is the configuration with that day's assignments laid over it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from server.config import HallConfig
from server.wire.errors import BadRequest, NotFound

__all__ = ["assign", "check"]


def check(config: HallConfig, counter: int, services: tuple[str, ...]) -> None:
    """Refuse an assignment the hall cannot take.

    Raises:
        NotFound: no such counter.
        BadRequest: no services, a repeated or unknown service, or a
            joint-approval route (its steps are served, never the route).
    """
    if config.counter(counter) is None:
        raise NotFound(f"没有 {counter} 号窗口 no counter {counter}")
    if not services or len(set(services)) != len(services):
        raise BadRequest("services: one or more service ids, each once")
    for sid in services:
        svc = config.service(sid)
        if svc is None:
            raise BadRequest(f"没有这个业务 no service {sid!r}")
        if svc.route:
            raise BadRequest(f"{sid!r} is a route; assign its steps' services")


def assign(config: HallConfig, assigned: Mapping[int, tuple[str, ...]]) -> HallConfig:
    """``config`` with each assigned counter serving its assigned services
    (in that order) instead; assignments of counters or services the
    configuration no longer has are dropped (the configuration changed since)."""
    if not assigned:
        return config
    counters = []
    for c in config.counters:
        services = tuple(s for s in assigned.get(c.number, ()) if config.service(s) is not None
                         and not config.service(s).route)  # type: ignore[union-attr]
        counters.append(dataclasses.replace(c, services=services) if services else c)
    return dataclasses.replace(config, counters=tuple(counters))
