"""A qhall webhook receiver to start an SMS / WeChat gateway from.

Run: ``python examples/notify_sink.py --port 9000 --secret-file notify.secret``
and point a ``[[notify]]`` table at ``http://HOST:9000/qhall``. Every POST's
``X-Qhall-Signature`` (``sha256=`` + hex HMAC-SHA256 of the raw body under
the shared secret) is checked before the body is trusted; a bad signature
gets 401 (qhall retries it, so fix the secret and it arrives). Deliveries are
at least once: the same ``X-Qhall-Delivery`` id may come again, so this
sink answers a repeat 200 and does not act on it twice.

Here "acting" is printing one JSON line per notification; replace
:meth:`Sink.act` with the call to your gateway.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 64 * 1024


def valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is qhall's signature of ``body`` under ``secret``."""
    if not header:
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


class Sink(ThreadingHTTPServer):
    """The receiver: verified notifications, repeats dropped by delivery id."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], secret: bytes) -> None:
        super().__init__(address, _Handler)
        self.secret = secret
        self.lock = threading.Lock()
        self.seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self.received: list[dict[str, Any]] = []

    def accept(self, delivery: str, body: dict[str, Any]) -> None:
        with self.lock:
            if delivery in self.seen:
                return
            self.seen[delivery] = None
            while len(self.seen) > 100_000:
                self.seen.popitem(last=False)
            self.received.append(body)
        self.act(body)

    def act(self, body: dict[str, Any]) -> None:
        print(json.dumps(body, ensure_ascii=False), flush=True)


class _Handler(BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413)
            return
        body = self.rfile.read(length)
        if not valid(self.server.secret, body, self.headers.get("X-Qhall-Signature")):
            self._answer(401)
            return
        try:
            payload = json.loads(body)
        except ValueError:
            self._answer(400)
            return
        self.server.accept(self.headers.get("X-Qhall-Delivery") or "", payload)
        self._answer(200)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret-file", required=True, help="the [[notify]] secret")
    args = parser.parse_args(argv)
    secret = Path(args.secret_file).read_bytes().strip()
    with Sink((args.host, args.port), secret) as sink:
        print(f"listening on http://{args.host}:{sink.server_address[1]}/", file=sys.stderr)
        try:
            sink.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
