"""The request metrics keep their labelled children: the same series as
``labels()`` would give, looked up once per (type, outcome) and service."""

from __future__ import annotations

from server.metrics import Metrics


def _value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_answered_counts_and_times_each_request_under_its_labels() -> None:
    m = Metrics()
    m.answered("issue", "ok", 0.0004)
    m.answered("issue", "ok", 0.003)
    m.answered("call_next", "queue_empty", 0.001)
    assert _value(m, "qhall_requests_total", type="issue", outcome="ok") == 2
    assert _value(m, "qhall_requests_total", type="call_next", outcome="queue_empty") == 1
    assert _value(m, "qhall_request_seconds_count", type="issue") == 2
    assert _value(m, "qhall_request_seconds_bucket", type="issue", le="0.0005") == 1
    assert _value(m, "qhall_request_seconds_bucket", type="issue", le="0.005") == 2
    # A child taken with labels() elsewhere is the very same series.
    m.requests.labels("issue", "ok").inc()
    assert _value(m, "qhall_requests_total", type="issue", outcome="ok") == 3


def test_waiting_now_sets_the_services_gauge() -> None:
    m = Metrics()
    m.waiting_now("gjj", 4)
    m.waiting_now("gjj", 2)
    m.waiting_now("tax", 0)
    assert _value(m, "qhall_tickets_waiting", service="gjj") == 2
    assert _value(m, "qhall_tickets_waiting", service="tax") == 0
