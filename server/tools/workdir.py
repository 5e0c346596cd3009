"""A load tool's work directory: the one ``--keep DIR`` names, else a temporary one."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

__all__ = ["workdir"]


def workdir(stack: contextlib.ExitStack, keep: str | Path | None, prefix: str) -> Path:
    """``keep`` (made if missing, left in place afterwards), or a temporary
    directory named ``prefix...`` that ``stack`` removes when it closes."""
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
