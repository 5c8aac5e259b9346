"""The sandbox's Prometheus: a real server scraping an exporter of synthetic API traffic.

`Exporter` serves metrics shaped like a real API's (`http_requests_total{code}`, the
`http_request_duration_seconds` histogram, payment and health-check counters, the timestamp
of the last analytics ingestion) whose rates follow a `Traffic` profile exactly: counters are
computed from the time elapsed at each scrape, so a query's answer is known in advance.
`PrometheusServer` runs `/usr/bin/prometheus` on a free port scraping any exporters every
second. `SandboxPrometheus` is the sandbox component: `healthy` traffic, or in `incident` a
20% 5xx ratio, a p95 latency above 2 s, failing payments and stale ingestion.

Prometheus answers its first query with data only ~6 s after start (target discovery runs on
a 5 s cycle, and rate() needs two scrapes); until then rules say "no data". Start-up does not
wait for that: it returns once the server is ready.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from vigil.errors import SandboxError

PROMETHEUS = "/usr/bin/prometheus"
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True)
class Traffic:
    """A traffic profile: the rates the exporter's counters grow at."""

    requests_per_s: float
    error_ratio: float  # share of 5xx
    latency_cdf: tuple[float, ...]  # share of requests at or under each of BUCKETS
    payments_per_s: float
    payment_failure_ratio: float
    health_check_failures_per_s: float
    ingestion_age_s: float  # how old the last analytics ingestion is


HEALTHY = Traffic(
    requests_per_s=50,
    error_ratio=0.001,
    latency_cdf=(0.90, 0.97, 0.995, 1, 1, 1, 1),  # p95 ~ 86 ms
    payments_per_s=2,
    payment_failure_ratio=0.01,
    health_check_failures_per_s=0,
    ingestion_age_s=60,
)
INCIDENT = Traffic(
    requests_per_s=50,
    error_ratio=0.2,
    latency_cdf=(0.2, 0.35, 0.5, 0.6, 0.75, 0.97, 1),  # p95 ~ 2.4 s
    payments_per_s=2,
    payment_failure_ratio=0.12,
    health_check_failures_per_s=5,
    ingestion_age_s=3 * 3600,  # "last metric: 3 hours ago"
)
PROFILES = {"healthy": HEALTHY, "incident": INCIDENT}


class _TrafficCollector:
    """Yields the metrics of `traffic` as they stand now."""

    def __init__(self, traffic: Traffic) -> None:
        self.traffic = traffic
        # Counters start as if the service had been up for ten minutes already.
        self.started = time.monotonic() - 600

    def collect(self) -> Iterator[Metric]:
        t = self.traffic
        elapsed = time.monotonic() - self.started
        total = t.requests_per_s * elapsed
        requests = CounterMetricFamily(
            "http_requests", "HTTP requests by status code", labels=["code"]
        )
        requests.add_metric(["200"], total * (1 - t.error_ratio))
        requests.add_metric(["500"], total * t.error_ratio * 0.5)
        requests.add_metric(["503"], total * t.error_ratio * 0.5)
        yield requests
        buckets = [
            (f"{le:g}", total * share) for le, share in zip(BUCKETS, t.latency_cdf, strict=True)
        ]
        buckets.append(("+Inf", total))
        mean, below, lower = 0.0, 0.0, 0.0
        for le, share in zip(BUCKETS, t.latency_cdf, strict=True):
            mean += (share - below) * (lower + le) / 2  # each bucket's requests at its midpoint
            below, lower = share, le
        yield HistogramMetricFamily(
            "http_request_duration_seconds",
            "HTTP request duration",
            buckets=buckets,
            sum_value=total * mean,
        )
        payments = t.payments_per_s * elapsed
        yield CounterMetricFamily("payment_attempts", "Payment attempts", value=payments)
        yield CounterMetricFamily(
            "payment_failures", "Failed payments", value=payments * t.payment_failure_ratio
        )
        yield CounterMetricFamily(
            "health_check_failures",
            "Failed health checks",
            value=t.health_check_failures_per_s * elapsed,
        )
        yield GaugeMetricFamily(
            "analytics_last_ingest_timestamp_seconds",
            "Unix time of the last successful analytics ingestion",
            value=time.time() - t.ingestion_age_s,
        )


class Exporter:
    """Serves the metrics of a traffic profile on 127.0.0.1 on a free port."""

    def __init__(self, traffic: Traffic) -> None:
        registry = CollectorRegistry()
        registry.register(_TrafficCollector(traffic))
        self._server, self._thread = start_http_server(0, addr="127.0.0.1", registry=registry)
        self.port: int = self._server.server_port
        self.address = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class PrometheusServer:
    """A real Prometheus on 127.0.0.1 scraping `jobs` (job name -> host:port targets) every
    second, with its data in a temporary directory removed on `stop()`."""

    def __init__(self, jobs: dict[str, list[str]]) -> None:
        self.jobs = jobs
        self.directory = Path(tempfile.mkdtemp(prefix="vigil-prometheus-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _config(self) -> str:
        lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:"]
        for job, targets in self.jobs.items():
            lines += [
                f"  - job_name: {job}",
                "    static_configs:",
                f"      - targets: [{', '.join(repr(t) for t in targets)}]",
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout_s: float = 15) -> PrometheusServer:
        """Start Prometheus and return once `/-/ready` answers 200 (data comes ~6 s later)."""
        if shutil.which(PROMETHEUS) is None:
            raise SandboxError(
                f"{PROMETHEUS} is not installed (Debian: apt-get install prometheus)"
            )
        config = self.directory / "prometheus.yml"
        config.write_text(self._config())
        log = self.directory / "prometheus.log"
        for _ in range(3):  # another process may take the free port before Prometheus binds it
            self.port = _free_port()
            with open(log, "wb") as output:
                self.process = subprocess.Popen(
                    [
                        PROMETHEUS,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.directory / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--log.level=warn",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready(timeout_s):
                return self
            if "address already in use" not in log.read_text().lower():
                break
        tail = log.read_text()[-1500:]
        self.stop()
        raise SandboxError(f"Prometheus did not start:\n{tail}")

    def _wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return True
            time.sleep(0.05)
        return False

    def wait_for_data(self, promql: str, *, series: int = 1, timeout_s: float = 30) -> None:
        """Block until `promql` returns at least `series` series (~6 s on a new server)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                answer: Any = httpx.get(
                    f"{self.url}/api/v1/query", params={"query": promql}, timeout=2
                ).json()
                if len(answer.get("data", {}).get("result") or []) >= series:
                    return
            time.sleep(0.25)
        raise SandboxError(f"Prometheus at {self.url} had no data for {promql!r} in {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


class SandboxPrometheus:
    """Sandbox component: Prometheus scraping one exporter (job "api") of the scenario's
    traffic. Returns as soon as Prometheus is ready; the first data follows ~6 s later."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.exporter: Exporter | None = None
        self.server: PrometheusServer | None = None

    def start(self) -> dict[str, str]:
        self.exporter = Exporter(PROFILES.get(self.scenario, HEALTHY))
        self.server = PrometheusServer({"api": [self.exporter.address]}).start()
        return {"SANDBOX_PROMETHEUS_URL": self.server.url}

    def wait_until_scraped(self, timeout_s: float = 20) -> None:
        """Block until rates can be computed (two scrapes, ~6 s after start). Call it after the
        other components have started, so their start-up time is not added to this wait."""
        if self.server:
            self.server.wait_for_data("count_over_time(up[1m]) >= 2", timeout_s=timeout_s)

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        if self.exporter:
            self.exporter.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
