"""The webhook signature: ``X-Qhall-Signature: sha256=<hex HMAC-SHA256 of the body>``.

The key is the webhook's ``secret`` (or the content of its ``secret_file``);
a receiver recomputes the HMAC over the raw body it received and compares
in constant time (see ``examples/notify_sink.py``).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["HEADER", "sign", "verify"]

HEADER = "X-Qhall-Signature"


def sign(secret: bytes, body: bytes) -> str:
    """The header value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret``."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())
