"""Fixtures of the web tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.routehall import RouteHall, route_hall


@pytest.fixture(name="route_hall")
def _route_hall(tmp_path: Path) -> Iterator[RouteHall]:
    """A route hall, Chromium and three logged-in desks (tests/helpers/routehall.py)."""
    with route_hall(tmp_path) as hall:
        yield hall
