"""The sandbox's observability components (TLS endpoint, status pages, Prometheus), run with
the environment sections proposed for `environments/sandbox.yaml`, in both scenarios."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import SuiteRun, write_env
from tests.probing import fetch
from vigil.sandbox.prometheus import SandboxPrometheus
from vigil.sandbox.status_page import INCIDENT_NAME, StatusPages
from vigil.sandbox.tls_endpoint import TlsEndpoint

# The sections for environments/sandbox.yaml (kept identical to docs/prometheus.md).
SANDBOX_SECTIONS = """
tls:
  - name: api-certificate
    host: 127.0.0.1
    port: ${SANDBOX_TLS_PORT}
    server_name: ${SANDBOX_TLS_SERVER_NAME}
    ca_bundle: ${SANDBOX_TLS_CA_BUNDLE}

prometheus:
  url: ${SANDBOX_PROMETHEUS_URL}
  presets:
    error_ratio: {max: 0.05, selector: 'job="api"', window: 1m}
    p95_latency: {max_s: 0.5, selector: 'job="api"', window: 1m}
    payment_failure_ratio: {max: 0.05, selector: 'job="api"', window: 1m}
    health_check_failures: {max: 0.1, selector: 'job="api"', window: 1m}
    freshness: {timestamp_metric: analytics_last_ingest_timestamp_seconds, selector: 'job="api"'}

status_pages:
  - name: payment-provider
    url: ${SANDBOX_STATUS_URL}/payment-provider
  - name: email-provider
    url: ${SANDBOX_STATUS_URL}/email-provider
  - name: cdn
    url: ${SANDBOX_STATUS_URL}/cdn
"""

FAILING_IN_INCIDENT = {
    "test_certificate_not_expiring[incident/api-certificate]",
    "test_certificate_not_expiring_soon[incident/api-certificate]",
    "test_prometheus_rule[incident/error_ratio]",
    "test_prometheus_rule[incident/p95_latency]",
    "test_prometheus_rule[incident/payment_failure_ratio]",
    "test_prometheus_rule[incident/health_check_failures]",
    "test_prometheus_rule[incident/freshness]",
    "test_provider_operational[incident/payment-provider]",
}
SCENARIOS = ("healthy", "incident")
# What `SandboxPrometheus.wait_until_scraped` waits for: two scrapes, so that rates exist.
SCRAPED = "count_over_time(up[1m]) >= 2"


def scraped_series(url: str, at: float) -> list[object]:
    """The series of SCRAPED as Prometheus at `url` evaluates it at time `at`."""
    query = urlencode({"query": SCRAPED, "time": f"{at:.3f}"})
    response = fetch(f"{url}/api/v1/query?{query}", timeout_s=5)
    assert response.error is None and response.status == 200, response
    body = response.json_body
    assert isinstance(body, dict) and body.get("status") == "success", body
    result = body["data"]["result"]
    assert isinstance(result, list)
    return result


@pytest.fixture
def sandboxes() -> Iterator[dict[str, dict[str, str]]]:
    """Both scenarios' components at once, so their Prometheus servers warm up together."""
    started: list[TlsEndpoint | StatusPages | SandboxPrometheus] = []
    variables: dict[str, dict[str, str]] = {scenario: {} for scenario in SCENARIOS}
    returned: dict[str, float] = {}
    try:
        for scenario in SCENARIOS:
            prometheus = SandboxPrometheus(scenario)
            started.append(prometheus)
            variables[scenario] |= prometheus.start()
            returned[scenario] = time.time()
            others: list[TlsEndpoint | StatusPages] = [TlsEndpoint(scenario), StatusPages(scenario)]
            for other in others:
                started.append(other)
                variables[scenario] |= other.start()
        for running in started:
            if isinstance(running, SandboxPrometheus):
                running.wait_until_scraped()
        for scenario, at in returned.items():
            url = variables[scenario]["SANDBOX_PROMETHEUS_URL"]
            # Start-up returned before the data came (as Prometheus itself recorded it), and
            # waiting brought the data.
            assert scraped_series(url, at) == [], scenario
            assert scraped_series(url, time.time()) != [], scenario
        yield variables
    finally:
        for running in reversed(started):
            running.stop()


def test_sandbox_sections_in_both_scenarios(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, sandboxes: dict[str, dict[str, str]]
) -> None:
    envs = []
    for scenario, variables in sandboxes.items():
        text = SANDBOX_SECTIONS
        for name, value in variables.items():
            text = text.replace(f"${{{name}}}", value)
        envs += ["--env", str(write_env(tmp_path, scenario, text))]
    run = run_suite(*envs, "-m", "tls or prometheus or dependencies")
    outcomes = run.outcomes()
    assert len(outcomes) == 30, run.output  # per scenario: 6 tls, 1 server, 5 rules, 3 providers
    assert run.failed() == FAILING_IN_INCIDENT, run.output
    assert "expires in 5.0 days (critical below 7)" in run.output
    assert INCIDENT_NAME in run.output
