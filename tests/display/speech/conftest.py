"""Speech test fixtures."""

from __future__ import annotations

import pytest

from tests.helpers.tools import require_tool


@pytest.fixture
def espeak_ng() -> str:
    """espeak-ng's path: a skip without it, a failure under QHALL_REQUIRE_TOOLS."""
    return require_tool("espeak-ng", "apt-get install espeak-ng")
