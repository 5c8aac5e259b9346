"""Push per-environment readiness metrics to a Prometheus Pushgateway.

One group per environment (`job="vigil", environment=NAME`), replaced on every push so a
check that stopped failing disappears from the group. Metrics:

    vigil_ready                      1 if the environment is READY (never after a partial run)
    vigil_partial                    1 if the run left out some of the selected checks
    vigil_checks{outcome}            checks by outcome
    vigil_failed_checks{severity}    failing checks by severity
    vigil_runbook_failures{runbook,severity}   failing checks per runbook entry
    vigil_check_failing{check,target,runbook,severity,system,runbook_url}   1 per failing check
    vigil_run_duration_seconds       wall time of the run
    vigil_last_run_timestamp_seconds when the run finished

Basic auth comes from the URL's user information (`https://user:password@host`) or from
`user` and `password`; the URL is never shown with its password.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from vigil.errors import VigilError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
from vigil.redact import redact_url
from vigil.reports.results import EnvironmentSummary, RunResults
from vigil.severity import SEVERITIES

CHECK_LABELS = ["check", "target", "runbook", "severity", "system", "runbook_url"]


def registry_for(run: RunResults, env: EnvironmentSummary) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry, Gauge  # here: only pushing runs need it

    """The metrics of one environment of the run."""
    registry = CollectorRegistry()
    Gauge("vigil_ready", "1 if the environment is READY", registry=registry).set(int(env.ready))
    Gauge("vigil_partial", "1 if the run left out selected checks", registry=registry).set(
        int(run.partial)
    )
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
    per_check = Gauge(
        "vigil_check_failing", "1 for each failing check", CHECK_LABELS, registry=registry
    )
    for check in run.checks:
        if check.environment == env.name and check.actionable:  # a silenced one pages nobody
            per_runbook.labels(check.runbook or "none", check.severity or "none").inc()
            per_check.labels(
                check.check,
                check.target,
                check.runbook or "none",
                check.severity or "none",
                check.system or "none",
                check.runbook_url or "",
            ).set(1)
    Gauge("vigil_run_duration_seconds", "wall time of the run", registry=registry).set(
        run.duration_s
    )
    Gauge("vigil_last_run_timestamp_seconds", "end of the run", registry=registry).set(time.time())
    return registry


def push_metrics(
    gateway: str,
    run: RunResults,
    timeout_s: float = 5.0,
    *,
    user: str | None = None,
    password: str | None = None,
) -> list[str]:
    """Push one group per environment; returns the environment names pushed."""
    from prometheus_client import push_to_gateway

    url, handler = _with_auth(gateway, user, password)
    pushed = []
    for env in run.environments:
        try:
            push_to_gateway(
                url,
                job="vigil",
                grouping_key={"environment": env.name},
                registry=registry_for(run, env),
                timeout=timeout_s,
                handler=handler,
            )
        except OSError as exc:
            raise VigilError(
                f"cannot push to the Pushgateway {redact_url(gateway)}: {exc}"
            ) from exc
        pushed.append(env.name)
    return pushed


def _with_auth(
    gateway: str, user: str | None, password: str | None
) -> tuple[str, Callable[..., Any]]:
    """The URL without user information, and the handler that authenticates, if asked to."""
    from prometheus_client.exposition import basic_auth_handler, default_handler

    parts = urlsplit(gateway)
    if parts.username is not None:
        user = unquote(parts.username)
        password = unquote(parts.password or "")
        gateway = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    if user is None:
        return gateway, default_handler

    def handler(url: str, method: str, timeout: float | None, headers: Any, data: bytes) -> Any:
        return basic_auth_handler(url, method, timeout, headers, data, user, password or "")

    return gateway, handler
