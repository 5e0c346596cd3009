"""Notifications to the citizen's phone through signed webhooks (``[[notify]]``).

``signing`` signs and verifies bodies; ``sender`` delivers them (one asyncio
worker per webhook, a bounded queue, retries with backoff, counted on
``/metrics``); ``watch`` turns committed events into notifications
(``ticket.soon``, ``ticket.called``, ``ticket.no_show``, ``rating.bad``).
"""

from server.notify.sender import Notifier, NotifyMetrics, Sink, load_sinks
from server.notify.signing import HEADER, sign, verify
from server.notify.watch import Watcher

__all__ = ["HEADER", "Notifier", "NotifyMetrics", "Sink", "Watcher", "load_sinks", "sign", "verify"]
