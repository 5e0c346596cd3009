"""Missing tools and services: a skip locally, a failure under the strict switch.

CI (``.ci/run``) exports ``QHALL_REQUIRE_TOOLS=1``: there a test that needs
Chromium, PostgreSQL, PulseAudio or espeak-ng and cannot get it FAILS, so a
broken CI image cannot turn the real end-to-end tests into silent skips.
Without the switch (a developer's machine) it skips with the reason, and
``pytest -ra`` lists every skip at the end of the run.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

__all__ = ["STRICT_ENV", "strict", "unavailable", "require_tool"]

STRICT_ENV = "QHALL_REQUIRE_TOOLS"


def strict() -> bool:
    """True when missing tools must fail the run (``QHALL_REQUIRE_TOOLS`` set, not 0)."""
    return os.environ.get(STRICT_ENV, "").strip() not in ("", "0")


def unavailable(reason: str) -> NoReturn:
    """Skip this test for ``reason``, or fail it under the strict switch."""
    if strict():
        pytest.fail(f"{reason} [{STRICT_ENV} is set: a missing tool fails the run]",
                    pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, install_hint: str) -> str:
    """The path of executable ``name``; skip (or fail, strict) when it is missing."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed ({install_hint})")
    return path
