"""Prometheus: the server is up, and every rule's query stays within its bounds.

Rules come from `prometheus.rules[]` and from the enabled `prometheus.presets` (error ratio,
p95 latency, payment failures, health-check failures, request rate, freshness...); each rule
names its own runbook entry. Probe: `vigil/families/prometheus/probe.py`.
"""

from __future__ import annotations

import pytest

from vigil.expect import fail, require
from vigil.families.prometheus.probe import QueryResult, ServerHealth
from vigil.families.prometheus.spec import PrometheusRule, PrometheusSection
from vigil.targets import Target

TOP_SERIES = 5


@pytest.mark.runbook("prometheus-unavailable")
def test_prometheus_up(
    prometheus_server: Target[PrometheusSection], prometheus_health: ServerHealth
) -> None:
    """`/-/healthy` and `/-/ready` both answer 200."""
    if prometheus_health.error:
        fail(f"Prometheus at {prometheus_health.url} is unreachable: {prometheus_health.error}")
    bad = [
        f"{path}: {answer.error}"
        if answer.error
        else f"{path} answered HTTP {answer.status} ({answer.body_excerpt or 'empty body'})"
        for path, answer in (
            ("/-/healthy", prometheus_health.healthy),
            ("/-/ready", prometheus_health.ready),
        )
        if answer is not None and answer.status != 200
    ]
    if bad:
        fail(f"Prometheus at {prometheus_health.url}: {'; '.join(bad)} (expected 200)")


@pytest.mark.runbook("prometheus-rule-breached")
def test_prometheus_rule(
    prometheus_rule: Target[PrometheusRule], prometheus_result: QueryResult
) -> None:
    """The rule's instant query returns data, and every series is within `min`/`max`."""
    rule = prometheus_rule.spec
    require(
        prometheus_result, f"rule {rule.name} could not be evaluated on {prometheus_result.url}"
    )
    evidence = [f"query: {rule.query}", f"evaluated at: {_when(prometheus_result)}"]
    numbers = prometheus_result.numbers
    if not numbers:
        if rule.allow_empty:
            return
        count = len(prometheus_result.series)
        found = f"only NaN in {count} series (0/0: nothing counted?)" if count else "no series"
        fail(
            f"rule {rule.name}: no data: the query returned {found}"
            " (the metric is absent, misspelt or no longer scraped; set allow_empty: true"
            " if an empty result is healthy)",
            evidence=evidence,
            value="no data",
        )
    breaching = [s for s in numbers if _outside(s.value, rule.min, rule.max)]
    if not breaching:
        return
    upward = rule.max is not None and any(s.value > rule.max for s in breaching)
    worst = sorted(breaching, key=lambda s: s.value, reverse=upward)[0]
    ranked = sorted(numbers, key=lambda s: s.value, reverse=upward)[:TOP_SERIES]
    bounds = _bounds(rule.min, rule.max, rule.unit)
    where = "" if not worst.labels else f" for {worst.label_text()}"
    share = f"; {len(breaching)} of {len(numbers)} series out of bounds" if len(numbers) > 1 else ""
    fail(
        f"rule {rule.name} = {_show(worst.value, rule.unit)}{where} ({bounds}){share}",
        evidence=evidence
        + [
            f"{s.label_text()} = {_show(s.value, rule.unit)}"
            + (" (out of bounds)" if s in breaching else "")
            for s in ranked
        ],
        value=_show(worst.value, rule.unit),
        series=worst.label_text(),
        # The breaching series names the object the steps act on (pod, container, node...).
        **{name: value for name, value in worst.labels if name in STEP_LABELS},
    )


STEP_LABELS = ("namespace", "pod", "container", "node", "deployment", "statefulset", "job")


def _outside(value: float, low: float | None, high: float | None) -> bool:
    return (high is not None and value > high) or (low is not None and value < low)


def _bounds(low: float | None, high: float | None, unit: str | None) -> str:
    parts = []
    if low is not None:
        parts.append(f"min {_show(low, unit)}")
    if high is not None:
        parts.append(f"max {_show(high, unit)}")
    return ", ".join(parts)


def _show(value: float, unit: str | None) -> str:
    """A value in its unit: 0.2 ratio -> 20%, 0.45 seconds -> 450 ms, 9000 seconds -> 2.5 h."""
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "seconds":
        if abs(value) < 1:
            return f"{value * 1000:.0f} ms"
        if abs(value) < 120:
            return f"{value:.3g} s"
        if abs(value) < 7200:
            return f"{value / 60:.1f} min"
        return f"{value / 3600:.1f} h"
    if unit == "per_second":
        return f"{value:.3g}/s"
    return f"{value:.4g}"


def _when(result: QueryResult) -> str:
    moment = result.evaluated_at
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "(unknown)"
