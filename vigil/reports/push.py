"""Push per-environment readiness metrics to a Prometheus Pushgateway.

One group per environment (`job="vigil", environment=NAME`), replaced on every push so a
runbook that stopped failing disappears from the group. Metrics:

    vigil_ready                      1 if the environment had no failing check
    vigil_checks{outcome}            checks by outcome
    vigil_failed_checks{severity}    failing checks by severity
    vigil_runbook_failures{runbook,severity}   failing checks per runbook entry
    vigil_run_duration_seconds       wall time of the run
    vigil_last_run_timestamp_seconds when the run finished
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from vigil.errors import VigilError
from vigil.redact import redact_url
from vigil.reports.results import RunResults
from vigil.severity import SEVERITIES


def push_metrics(gateway: str, run: RunResults, timeout_s: float = 5.0) -> list[str]:
    """Push one group per environment; returns the environment names pushed."""
    pushed = []
    for env in run.environments:
        registry = CollectorRegistry()
        Gauge("vigil_ready", "1 if no check failed", registry=registry).set(int(env.ready))
        checks = Gauge("vigil_checks", "checks by outcome", ["outcome"], registry=registry)
        for outcome, count in env.counts.items():
            checks.labels(outcome).set(count)
        failed = Gauge(
            "vigil_failed_checks", "failing checks by severity", ["severity"], registry=registry
        )
        for severity in SEVERITIES:
            failed.labels(severity).set(env.failed_by_severity[severity])
        per_runbook = Gauge(
            "vigil_runbook_failures",
            "failing checks per runbook entry",
            ["runbook", "severity"],
            registry=registry,
        )
        for check in run.checks:
            if check.environment == env.name and check.failing:
                per_runbook.labels(check.runbook or "none", check.severity or "none").inc()
        Gauge("vigil_run_duration_seconds", "wall time of the run", registry=registry).set(
            run.duration_s
        )
        Gauge("vigil_last_run_timestamp_seconds", "end of the run", registry=registry).set(
            time.time()
        )
        try:
            push_to_gateway(
                gateway,
                job="vigil",
                grouping_key={"environment": env.name},
                registry=registry,
                timeout=timeout_s,
            )
        except OSError as exc:
            raise VigilError(
                f"cannot push to the Pushgateway {redact_url(gateway)}: {exc}"
            ) from exc
        pushed.append(env.name)
    return pushed
