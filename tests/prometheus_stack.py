"""A live monitoring stack for the tests: a real Prometheus scraping two real exporters.

Job `healthy` serves the sandbox's healthy traffic profile, job `incident` the incident one
(20% 5xx, p95 ~2.4 s, 12% failed payments, ingestion 3 hours old), so every expected rule
outcome is known in advance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vigil.sandbox.prometheus import HEALTHY, INCIDENT, Exporter, PrometheusServer


@dataclass(frozen=True)
class Stack:
    url: str
    server: PrometheusServer


@contextmanager
def monitoring_stack() -> Iterator[Stack]:
    """Start the stack and wait until both jobs have 5 s of rates and histograms (~11 s)."""
    healthy, incident = Exporter(HEALTHY), Exporter(INCIDENT)
    server = PrometheusServer({"healthy": [healthy.address], "incident": [incident.address]})
    try:
        server.start()
        server.wait_for_data("sum by (job) (rate(http_requests_total[5m]))", series=2)
        server.wait_for_data(
            "sum by (job) (rate(http_request_duration_seconds_bucket[5m]))", series=2
        )
        # A few seconds of history, so that rates over a 5 s window are exact.
        server.wait_for_data("min(count_over_time(up[5s])) >= 5")
        yield Stack(server.url, server)
    finally:
        server.stop()
        healthy.close()
        incident.close()
