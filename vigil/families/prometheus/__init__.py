"""Prometheus-measured symptoms: the server is up, and PromQL rules stay within bounds.

Settings: `spec.py` (`prometheus:`), presets in `presets.py`. Probe: `probe.py`. Checks:
`checks/test_prometheus.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vigil.families.http.client import prepare
from vigil.families.prometheus import probe
from vigil.families.prometheus.spec import PrometheusRule, PrometheusSection
from vigil.family import Family, Observation, Reachability, TargetKind
from vigil.redact import redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.environment import Environment


def servers(env: Environment, section: PrometheusSection) -> Iterator[Target[PrometheusSection]]:
    values = {"prometheus_url": redact_url(section.url)}
    yield Target("prometheus_server", env, "prometheus", section, values=values)


def rules(env: Environment, section: PrometheusSection) -> Iterator[Target[PrometheusRule]]:
    """The section's own rules, then one per enabled preset (each naming its runbook entry)."""
    url = redact_url(section.url)
    for rule in [*section.rules, *section.preset_rules()]:
        values = {"prometheus_url": url, "query": rule.query, "rule": rule.name}
        yield Target(
            "prometheus_rule",
            env,
            rule.name,
            rule,
            parent=section,
            values=values,
            catch_all="prometheus-rule-breached",
        )


FAMILY = Family(
    name="prometheus",
    description="Prometheus-measured symptoms",
    section="prometheus",
    settings=PrometheusSection,
    kinds=(
        TargetKind(
            "prometheus_server",
            "prometheus",
            servers,
            observations=(
                Observation(
                    "prometheus_health",
                    probe.observe_server,
                    probe.server_unobserved,
                    prepare=prepare,
                ),
            ),
            reachability="test_prometheus_up",
        ),
        TargetKind(
            "prometheus_rule",
            "prometheus.rules/presets",
            rules,
            observations=(
                Observation(
                    "prometheus_result", probe.observe_rule, probe.rule_unobserved, prepare=prepare
                ),
            ),
            # A Prometheus that does not answer: its rules are not evaluated, not breached.
            reachability=Reachability(
                "test_prometheus_up", kind="prometheus_server", observation="prometheus_health"
            ),
        ),
    ),
)
