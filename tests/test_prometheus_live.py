"""Prometheus family against a real Prometheus scraping real exporters (one per module run).

The probe is exercised over the HTTP API through a probe session; the suite runs black-box,
in this process, as a user runs it.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SuiteRun, write_env
from tests.probing import load_targets, observe
from tests.prometheus_stack import Stack, monitoring_stack
from tests.servers import Endpoint, HttpServer, SilentPort, free_port
from vigil.families.prometheus.probe import QueryResult, ServerHealth

ERROR_RATIO = (
    'sum(rate(http_requests_total{{job="{job}",code=~"5.."}}[5m]))'
    ' / sum(rate(http_requests_total{{job="{job}"}}[5m]))'
)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with monitoring_stack() as running:
        yield running


# rate() divides by the whole window, and the stack has only seconds of history: absolute rates
# use a 5 s window (1 s scrapes) to be exact; ratios of rates are exact with any window.


def rule_result(tmp_path: Path, url: str, query: str, timeout_s: float = 3) -> QueryResult:
    text = (
        f"timeout_s: {timeout_s}\nprometheus:\n  url: {url}\n  rules:\n"
        f"    - name: r\n      query: '{query}'\n      max: 1\n"
    )
    [target] = load_targets(tmp_path, "prometheus_rule", text)
    result: QueryResult = observe("prometheus_result", target)
    return result


def server_health(tmp_path: Path, url: str) -> ServerHealth:
    [target] = load_targets(tmp_path, "prometheus_server", f"prometheus:\n  url: {url}\n")
    health: ServerHealth = observe("prometheus_health", target)
    return health


# --- probe ---------------------------------------------------------------------------------


def test_vector_result_with_labels_and_evaluation_time(tmp_path: Path, stack: Stack) -> None:
    before = time.time()
    result = rule_result(
        tmp_path, stack.url, 'sum by (job) (rate(http_requests_total{code=~"5.."}[5s]))'
    )
    assert result.error is None
    values = {s.label_text(): s.value for s in result.series}
    assert set(values) == {'{job="healthy"}', '{job="incident"}'}
    assert values['{job="incident"}'] == pytest.approx(10, rel=0.05)  # 20% of 50/s
    assert result.evaluated_at is not None and result.evaluated_at.timestamp() >= before - 1


def test_scalar_and_ratio(tmp_path: Path, stack: Stack) -> None:
    assert rule_result(tmp_path, stack.url, "scalar(vector(2.5))").series[0].value == 2.5
    ratio = rule_result(tmp_path, stack.url, ERROR_RATIO.format(job="incident"))
    assert ratio.series[0].value == pytest.approx(0.2, rel=0.01)
    assert ratio.series[0].labels == ()


def test_query_error_carries_prometheus_text(tmp_path: Path, stack: Stack) -> None:
    result = rule_result(tmp_path, stack.url, "sum(rate(http_requests_total[5m]")
    assert result.error is not None
    assert result.error.startswith("Prometheus rejected the query (bad_data): ")
    assert "parse error" in result.error


def test_range_vector_is_refused_with_a_hint(tmp_path: Path, stack: Stack) -> None:
    result = rule_result(tmp_path, stack.url, "http_requests_total[1m]")
    assert result.error is not None and "range vector" in result.error


def test_absent_metric_is_an_empty_result(tmp_path: Path, stack: Stack) -> None:
    result = rule_result(tmp_path, stack.url, "no_such_metric_total")
    assert result.error is None and result.series == ()


def test_unreachable_and_silent_prometheus(tmp_path: Path, silent_port: SilentPort) -> None:
    port = free_port()
    refused = rule_result(tmp_path, f"http://127.0.0.1:{port}", "up")
    assert refused.error is not None and f"connection refused by 127.0.0.1:{port}" in refused.error
    started = time.monotonic()
    silent = rule_result(tmp_path, f"http://127.0.0.1:{silent_port.port}", "up", timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert silent.error is not None and "no complete response within 0.5 s" in silent.error


def test_server_health(
    tmp_path: Path, stack: Stack, http_server: Callable[..., HttpServer]
) -> None:
    health = server_health(tmp_path, stack.url)
    assert health.error is None and health.healthy and health.ready
    assert health.healthy.status == 200 and health.ready.status == 200
    starting = http_server(
        {"/-/healthy": Endpoint(200, b"ok"), "/-/ready": Endpoint(503, b"Service Unavailable")}
    )
    not_ready = server_health(tmp_path, starting.url(""))
    assert not_ready.ready is not None and not_ready.ready.status == 503


# --- the suite, end to end -----------------------------------------------------------------

PRESETS = """
    error_ratio: {{max: 0.05, selector: 'job="{job}"'}}
    p95_latency: {{max_s: 0.5, selector: 'job="{job}"'}}
    payment_failure_ratio: {{selector: 'job="{job}"'}}
    health_check_failures: {{max: 0.1, selector: 'job="{job}"', window: 5s}}
    request_rate: {{max: 1000, min: 10, selector: 'job="{job}"', window: 5s}}
    freshness:
      timestamp_metric: analytics_last_ingest_timestamp_seconds
      selector: 'job="{job}"'
    firing_alerts: {{}}
"""


@pytest.fixture
def monitoring_envs(
    tmp_path: Path, stack: Stack, http_server: Callable[..., HttpServer]
) -> list[Path]:
    calm = write_env(
        tmp_path,
        "calm",
        f"""
vars: {{namespace: shop}}
prometheus:
  url: {stack.url}
  rules:
    - name: healthy-5xx
      query: '{ERROR_RATIO.format(job="healthy")}'
      max: 0.01
      runbook: high-failure-rate
    - name: incident-5xx
      query: '{ERROR_RATIO.format(job="incident")}'
      max: 0.01
      runbook: high-failure-rate
    - name: absent
      query: sum(rate(no_such_metric_total[5m]))
      max: 1
    - name: absent-allowed
      query: sum(rate(no_such_metric_total[5m]))
      max: 1
      allow_empty: true
    - name: bad-query
      query: sum(rate(http_requests_total[5m])
      max: 1
    - name: traffic-floor
      query: sum by (job) (rate(http_requests_total[5s]))
      min: 100
  presets:{PRESETS.format(job="healthy")}""",
    )
    storm = write_env(
        tmp_path,
        "storm",
        f"prometheus:\n  url: {stack.url}\n  presets:{PRESETS.format(job='incident')}",
    )
    down = write_env(
        tmp_path,
        "down",
        f"timeout_s: 1\nprometheus:\n  url: http://monitor:s3cret-pw@127.0.0.1:{free_port()}\n"
        "  headers: {Authorization: Bearer tok-0123456789abcdef}\n"
        "  rules:\n    - {name: any, query: up, min: 1}\n",
    )
    replaying = http_server(
        {"/-/healthy": Endpoint(200, b"ok"), "/-/ready": Endpoint(503, b"Service Unavailable")}
    )
    starting = write_env(tmp_path, "starting", f"prometheus:\n  url: {replaying.url('')}\n")
    return [calm, storm, down, starting]


def test_rules_and_presets_are_classified_exactly(
    run_suite: Callable[..., SuiteRun], monitoring_envs: list[Path]
) -> None:
    args = [a for path in monitoring_envs for a in ("--env", str(path))]
    run = run_suite(*args, "-m", "prometheus")
    presets = [
        "error_ratio",
        "p95_latency",
        "payment_failure_ratio",
        "health_check_failures",
        "request_rate",
        "request_rate-floor",
        "freshness",
        "firing_alerts",
    ]
    storm_failing = {
        "error_ratio",
        "p95_latency",
        "payment_failure_ratio",
        "health_check_failures",
        "freshness",
    }
    expected = {
        "test_prometheus_up[calm/prometheus]": "passed",
        "test_prometheus_up[storm/prometheus]": "passed",
        "test_prometheus_up[down/prometheus]": "failed",
        "test_prometheus_up[starting/prometheus]": "failed",
        "test_prometheus_rule[calm/healthy-5xx]": "passed",
        "test_prometheus_rule[calm/incident-5xx]": "failed",
        "test_prometheus_rule[calm/absent]": "failed",
        "test_prometheus_rule[calm/absent-allowed]": "passed",
        "test_prometheus_rule[calm/bad-query]": "failed",
        "test_prometheus_rule[calm/traffic-floor]": "failed",
        "test_prometheus_rule[down/any]": "failed",
    }
    expected |= {f"test_prometheus_rule[calm/{name}]": "passed" for name in presets}
    expected |= {
        f"test_prometheus_rule[storm/{name}]": "failed" if name in storm_failing else "passed"
        for name in presets
    }
    assert run.outcomes() == expected, run.output
    out = run.output
    assert "rule incident-5xx = 0.2 (max 0.01)" in out
    assert "rule absent: no data: the query returned no series" in out
    assert "Prometheus rejected the query (bad_data): " in out and "parse error" in out
    floor = r'rule traffic-floor = (49\.\d+|50(\.\d+)?) for \{job="\w+"\} \(min 100\); 2 of 2'
    assert re.search(floor, out)
    assert "rule error_ratio = 20% (max 5%)" in out
    assert "rule p95_latency = 2.36 s (max 500 ms)" in out
    assert re.search(r"rule health_check_failures = \d+(\.\d+)?/s \(max 0\.1/s\)", out)
    assert "rule payment_failure_ratio = 12% (max 5%)" in out
    assert "rule freshness = 3.0 h (max 90.0 min)" in out
    assert "Prometheus at http://monitor:***@127.0.0.1:" in out
    assert "is unreachable: connection refused" in out
    assert "/-/ready answered HTTP 503 (Service Unavailable) (expected 200)" in out
    junit = ET.tostring(run.junit, encoding="unicode") if run.junit is not None else ""
    for secret in ("s3cret-pw", "tok-0123456789abcdef"):
        assert secret not in out and secret not in junit


def test_rule_failures_name_their_runbook_and_evidence(
    run_suite: Callable[..., SuiteRun], monitoring_envs: list[Path]
) -> None:
    run = run_suite("--env", str(monitoring_envs[1]), "-k", "error_ratio or p95 or payment")
    assert run.junit is not None
    props = {
        str(case.get("name")): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in run.junit.iter("testcase")
    }
    error = props["test_prometheus_rule[storm/error_ratio]"]
    assert error["runbook"] == "high-error-rate" and error["severity"] == "sev1"
    evidence = error["evidence"] or ""
    assert 'query: sum (rate(http_requests_total{job="incident",code=~"5.."}[5m]))' in evidence
    assert "evaluated at: 20" in evidence and "{} = 20% (out of bounds)" in evidence
    assert props["test_prometheus_rule[storm/p95_latency]"]["runbook"] == "high-api-latency"
    payment = props["test_prometheus_rule[storm/payment_failure_ratio]"]
    assert payment["runbook"] == "payment-processing-failure" and payment["system"] == "data"
