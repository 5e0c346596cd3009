"""Prometheus metrics of one server (its own registry, so tests can run several)."""

from __future__ import annotations

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
            "qhall_auth_checks", "Secret checks (hello tokens, PINs) by outcome: cached, ok, "
            "failed, refused (pool full)", ["outcome"], registry=r)
        self.auth_in_flight = Gauge(
            "qhall_auth_in_flight", "Secret checks running or queued in the auth pool",
            registry=r)
        self.up = Gauge("qhall_up", "1 when the hall can serve (as /healthz), else 0",
                        registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
