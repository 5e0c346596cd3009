"""Where a client's device token comes from: a token file, or the demo convention.

Client-side on purpose: the apps read their secret with these, and must not
import the server's auth or the demo hall (``server.reference`` builds the
demo hall's token hashes from :func:`demo_token`, not the other way round).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["demo_token", "read_token"]


def demo_token(device_id: str) -> str:
    """The demo hall's public token of a device: ``"demo-" + device id``."""
    return f"demo-{device_id}"


def read_token(path: str | Path) -> str:
    """A device token from a file: its first line, whitespace stripped.

    The kiosk, counter and display apps read ``--token-file`` with this.

    Raises:
        ValueError: the file is missing, unreadable or empty (says which).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read token file {path}: {exc.strerror or exc}") from exc
    token = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise ValueError(f"token file {path} is empty")
    return token
