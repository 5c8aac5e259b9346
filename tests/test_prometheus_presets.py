"""Prometheus presets: validation with clear errors, and the rules they expand into."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.probing import load_targets
from vigil.environment import load_environment
from vigil.errors import ConfigError
from vigil.families.prometheus.presets import PRESETS, expand_presets
from vigil.families.prometheus.spec import PrometheusRule


def rules(presets: str, tmp_path: Path, extra: str = "") -> dict[str, PrometheusRule]:
    text = f"prometheus:\n  url: http://127.0.0.1:9\n{extra}  presets:\n{presets}"
    targets = load_targets(tmp_path, "prometheus_rule", text)
    return {t.name: t.spec for t in targets}


def problem(presets: str, tmp_path: Path) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(f"prometheus:\n  url: http://127.0.0.1:9\n  presets:\n{presets}")
    with pytest.raises(ConfigError) as caught:
        load_environment(path, {})
    return str(caught.value)


def test_every_preset_with_defaults_names_its_entry(tmp_path: Path) -> None:
    specs = rules(
        "    error_ratio: {}\n    p95_latency:\n    payment_failure_ratio: {}\n"
        "    failure_ratio: {failures: jobs_failed_total, total: jobs_total}\n"
        "    health_check_failures: {max: 0.1}\n    request_rate: {max: 500, min: 1}\n"
        "    freshness: {metric: up}\n    firing_alerts: {}\n",
        tmp_path,
    )
    runbooks = {name: spec.runbook for name, spec in specs.items()}
    assert runbooks == {
        "error_ratio": "high-error-rate",
        "p95_latency": "high-api-latency",
        "payment_failure_ratio": "payment-processing-failure",
        "failure_ratio": "high-failure-rate",
        "health_check_failures": "health-check-failures",
        "request_rate": "request-rate-spike",
        "request_rate-floor": "request-rate-drop",
        "freshness": "metric-ingestion-lag",
        "firing_alerts": "alerts-firing",
    }
    assert set(PRESETS) <= set(runbooks)


def test_queries_and_defaults(tmp_path: Path) -> None:
    specs = rules(
        "    error_ratio: {max: 0.01, selector: 'job=\"api\"', by: [job], window: 10m}\n"
        "    p95_latency: {max_s: 0.3}\n"
        "    freshness: {timestamp_metric: last_ingest_seconds, selector: 'source=\"ads\"'}\n",
        tmp_path,
    )
    error = specs["error_ratio"]
    assert error.query == (
        'sum by (job) (rate(http_requests_total{job="api",code=~"5.."}[10m]))'
        ' / sum by (job) (rate(http_requests_total{job="api"}[10m]))'
    )
    assert error.max == 0.01 and error.unit == "ratio"
    latency = specs["p95_latency"]
    assert latency.query == (
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{}[5m])))"
    )
    assert latency.max == 0.3 and latency.unit == "seconds"
    fresh = specs["freshness"]
    assert fresh.query == 'time() - max(last_ingest_seconds{source="ads"})'
    assert fresh.max == 5400


def test_a_list_checks_several_jobs_and_severity_is_kept(tmp_path: Path) -> None:
    specs = rules(
        "    error_ratio:\n"
        "      - {name: api-errors, selector: 'job=\"api\"', severity: sev2}\n"
        "      - {name: web-errors, selector: 'job=\"web\"'}\n",
        tmp_path,
    )
    assert set(specs) == {"api-errors", "web-errors"}
    assert specs["api-errors"].severity == "sev2"


@pytest.mark.parametrize(
    ("presets", "message"),
    [
        ("    error_rate: {}\n", "unknown preset 'error_rate' (known: error_ratio, "),
        ("    error_ratio: {maxx: 1}\n", "error_ratio.maxx: unknown option (known: name, "),
        ("    error_ratio: {max: 5}\n", "error_ratio.max: Input should be less than or equal"),
        ("    p95_latency: {window: five}\n", "p95_latency.window: window must be a PromQL"),
        ("    request_rate: {}\n", "request_rate: give max (requests per second"),
        ("    health_check_failures: {}\n", "health_check_failures.max: required option"),
        ("    freshness: {}\n", "freshness: give exactly one of metric or timestamp_metric"),
        ("    error_ratio: {selector: '{job=\"a\"}'}\n", "selector takes label matchers without"),
        ("    error_ratio: {metric: 'http-requests'}\n", "'http-requests' is not a metric name"),
        ("    error_ratio: [{}, {}]\n", "rule name 'error_ratio' is used twice"),
        ("    error_ratio: 0.01\n", "error_ratio: expected a mapping of options"),
    ],
)
def test_bad_presets_name_the_key(tmp_path: Path, presets: str, message: str) -> None:
    text = problem(presets, tmp_path)
    assert "bad.yaml: prometheus.presets" in text or "bad.yaml: prometheus" in text
    assert message in text, text


def test_preset_name_clashing_with_a_rule(tmp_path: Path) -> None:
    path = tmp_path / "clash.yaml"
    path.write_text(
        "prometheus:\n  url: http://127.0.0.1:9\n  rules:\n"
        "    - {name: error_ratio, query: up, min: 1}\n  presets:\n    error_ratio: {}\n"
    )
    with pytest.raises(ConfigError, match="rule name 'error_ratio' is used twice"):
        load_environment(path, {})


def test_expand_presets_is_pure() -> None:
    assert expand_presets({}) == []
    [rule] = expand_presets({"firing_alerts": {}})
    assert rule["allow_empty"] is True and rule["max"] == 0
    assert rule["query"] == 'count(ALERTS{alertstate="firing",severity="critical"})'


def test_two_tiers_with_their_own_entries(tmp_path: Path) -> None:
    specs = rules(
        "    payment_failure_ratio:\n"
        "      - {name: payments-critical}\n"
        "      - {name: payments-warning, max: 0.02, runbook: payment-failure-rate-elevated}\n",
        tmp_path,
    )
    assert specs["payments-critical"].runbook == "payment-processing-failure"
    assert specs["payments-critical"].max == 0.05
    assert specs["payments-warning"].runbook == "payment-failure-rate-elevated"
    assert specs["payments-warning"].max == 0.02
