"""Notifications to the citizen's phone through signed webhooks (``[[notify]]``).

``signing`` signs and verifies bodies; ``watch`` turns a commit's events into
deliveries (``ticket.soon``, ``ticket.called``, ``ticket.no_show``,
``rating.bad``) written to the database's outbox in that commit's
transaction; ``sender`` delivers the outbox while this process owns the hall
(one worker per webhook on its own thread, retries with backoff, counted on
``/metrics``).
"""

from server.notify.sender import Notifier, NotifyMetrics, Sink, load_sinks
from server.notify.signing import HEADER, sign, verify
from server.notify.watch import Watcher

__all__ = ["HEADER", "Notifier", "NotifyMetrics", "Sink", "Watcher", "load_sinks", "sign", "verify"]
