"""Shared test set-up: headless Qt, CJK fonts, and the shared fixtures."""

from __future__ import annotations

import os

# Before any Qt import: no display on CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep Qt from complaining about XDG_RUNTIME_DIR on root machines.
os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp/qhall-xdg-runtime")
os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
