"""Prometheus metrics of one server (its own registry, so tests can run several)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]


class Metrics:
    """The server's metrics: connections, requests, latency, queues, faults."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge(
            "qhall_connections", "Open websocket connections by device role", ["role"], registry=r)
        self.requests = Counter(
            "qhall_requests", "Requests by type and outcome", ["type", "outcome"], registry=r)
        self.latency = Histogram(
            "qhall_request_seconds", "Request handling time by type", ["type"], registry=r,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.waiting = Gauge(
            "qhall_tickets_waiting", "Tickets waiting per service", ["service"], registry=r)
        self.events = Counter("qhall_events", "Events committed and broadcast", registry=r)
        self.faults = Gauge(
            "qhall_device_faults", "Devices reporting a fault now (1) by device and kind",
            ["device", "kind"], registry=r)
        self.closed = Counter(
            "qhall_connections_closed", "Connections closed by the server, by reason",
            ["reason"], registry=r)
        self.replies = Gauge(
            "qhall_replies_remembered", "Replies remembered for idempotency (bounded)",
            registry=r)
        # Flow control and authentication (see docs/ARCHITECTURE.md).
        self.buffered = Gauge(
            "qhall_output_buffered_bytes", "Unsent bytes in all connections' buffers now",
            registry=r)
        self.buffer_peak = Gauge(
            "qhall_output_buffer_peak_bytes",
            "Largest unsent bytes one connection has held since start", registry=r)
        self.replays = Gauge(
            "qhall_replays_active", "Connections still being sent their missed events",
            registry=r)
        self.replayed = Counter(
            "qhall_replay_events", "Missed events sent to reconnecting clients", registry=r)
        self.auth = Counter(
            "qhall_auth_checks", "Secret checks (hello tokens, PINs) by outcome: cached, resumed "
            "(a welcome's resume ticket), ok, failed, refused (pool full)", ["outcome"], registry=r)
        self.auth_in_flight = Gauge(
            "qhall_auth_in_flight", "Secret checks running or queued in the auth pool",
            registry=r)
        self.up = Gauge("qhall_up", "1 when the hall can serve (as /healthz), else 0",
                        registry=r)
        # Labelled children, looked up once: ``labels()`` takes a lock and
        # builds a key on every call, and a request needs three of them.
        self._answered: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._waiting: dict[str, Any] = {}

    def answered(self, kind: str, outcome: str, seconds: float) -> None:
        """One request answered: counted by type and outcome, its time observed."""
        children = self._answered.get((kind, outcome))
        if children is None:
            children = self._answered[(kind, outcome)] = (
                self.requests.labels(kind, outcome), self.latency.labels(kind))
        children[0].inc()
        children[1].observe(seconds)

    def waiting_now(self, service: str, count: int) -> None:
        """Tickets waiting for ``service`` now."""
        child = self._waiting.get(service)
        if child is None:
            child = self._waiting[service] = self.waiting.labels(service)
        child.set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
