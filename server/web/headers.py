"""Security headers and refusals for the server's plain HTTP pages.

Every response gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options:
DENY``, ``Referrer-Policy: no-referrer`` and a Content-Security-Policy. The
pages are self-contained (inline ``<style>`` and ``<script>``), so an HTML
page's policy allows exactly its own inline blocks by their SHA-256 hashes
(computed from the page served, so the board can change freely) and nothing
else: no other script, no plugin, no framing (``frame-ancestors 'none'``),
connections only back to this server (the board's websocket).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

__all__ = ["secure", "too_many", "not_allowed", "csp_for", "set_header"]

_INLINE = re.compile(rb"<(script|style)>(.*?)</\1>", re.S)

#: For responses that are not HTML (text, metrics): nothing may run.
_CSP_TEXT = "default-src 'none'; frame-ancestors 'none'"


def _hash(block: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(block).digest()).decode() + "'"


@functools.lru_cache(maxsize=64)
def csp_for(body: bytes) -> str:
    """The Content-Security-Policy of one HTML page (its inline blocks allowed by hash)."""
    scripts: list[str] = []
    styles: list[str] = []
    for kind, block in _INLINE.findall(body):
        (scripts if kind == b"script" else styles).append(_hash(block))
    return "; ".join([
        "default-src 'none'",
        "script-src " + (" ".join(sorted(set(scripts))) or "'none'"),
        "style-src " + (" ".join(sorted(set(styles))) or "'none'"),
        "img-src 'self' data:",
        # 'self' covers ws:/wss: to this host in CSP 3 browsers; a board given
        # several servers (``&servers=``, failover) must reach the others too.
        # Scripts are hash-locked above, so no injected code can use this.
        "connect-src 'self' ws: wss:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])


def set_header(resp: Response, name: str, value: str) -> None:
    # websockets' Headers is a multidict: assignment would add a second value.
    if name in resp.headers:
        del resp.headers[name]
    resp.headers[name] = value


def secure(resp: Response) -> Response:
    """Add the security headers to a response (in place); returns it."""
    html = resp.headers.get("Content-Type", "").startswith("text/html")
    set_header(resp, "Content-Security-Policy", csp_for(bytes(resp.body)) if html else _CSP_TEXT)
    set_header(resp, "X-Content-Type-Options", "nosniff")
    set_header(resp, "X-Frame-Options", "DENY")
    set_header(resp, "Referrer-Policy", "no-referrer")
    return resp


def too_many(conn: ServerConnection, wait_s: int) -> Response:
    """429 with a short body and ``Retry-After``."""
    resp = conn.respond(429, "请求过于频繁，请稍后再试 too many requests; try again later\n")
    set_header(resp, "Retry-After", str(max(1, wait_s)))
    set_header(resp, "Content-Type", "text/plain; charset=utf-8")
    return resp


def not_allowed(conn: ServerConnection) -> Response:
    """405 for any method but GET on a page."""
    resp = conn.respond(405, "method not allowed; use GET\n")
    set_header(resp, "Allow", "GET")
    return resp
