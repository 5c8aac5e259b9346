"""Prometheus probe: is the server up, and what does an instant PromQL query return now.

`observe_server` asks `/-/healthy` and `/-/ready`; `observe_rule` runs one instant query
through `/api/v1/query` at an explicit evaluation time, with Prometheus's own query timeout
set to ours so that a heavy query is abandoned on the server as well. Transport
failures, HTTP errors and PromQL errors (with Prometheus's error text) become `error`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from vigil.families.http.probe import HttpResponse, fetch, no_answer
from vigil.families.prometheus.spec import PrometheusRule, PrometheusSection
from vigil.redact import redact_text, redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession


@dataclass(frozen=True)
class ServerHealth:
    """The answers of `/-/healthy` and `/-/ready` (`error`: neither could be asked)."""

    url: str  # credentials masked
    healthy: HttpResponse | None = None
    ready: HttpResponse | None = None
    error: str | None = None


@dataclass(frozen=True)
class Series:
    labels: tuple[tuple[str, str], ...]
    value: float

    def label_text(self) -> str:
        """`{code="500",job="api"}`; `{}` for a series without labels."""
        return "{" + ",".join(f'{name}="{value}"' for name, value in self.labels) + "}"


@dataclass(frozen=True)
class QueryResult:
    """An instant query's result: one value per series at `evaluated_at`."""

    query: str
    url: str  # the Prometheus base URL, credentials masked
    series: tuple[Series, ...] = ()
    evaluated_at: datetime | None = None
    error: str | None = None

    @property
    def numbers(self) -> tuple[Series, ...]:
        """The series whose value is a number (NaN, e.g. 0/0 without traffic, left out)."""
        return tuple(s for s in self.series if not math.isnan(s.value))


async def observe_server(target: Target[PrometheusSection], session: ProbeSession) -> ServerHealth:
    """Ask the server's health and readiness endpoints; never raises."""
    section = target.spec
    base = section.url.rstrip("/")
    deadline = time.monotonic() + target.timeout_s
    headers, ca_bundle = section.headers, section.ca_bundle
    healthy = await fetch(
        session,
        f"{base}/-/healthy",
        timeout_s=target.timeout_s,
        headers=headers,
        ca_bundle=ca_bundle,
    )
    if healthy.error:
        return ServerHealth(redact_url(base), healthy=healthy, error=healthy.error)
    left = max(deadline - time.monotonic(), 0.1)
    ready = await fetch(
        session, f"{base}/-/ready", timeout_s=left, headers=headers, ca_bundle=ca_bundle
    )
    return ServerHealth(redact_url(base), healthy=healthy, ready=ready)


def server_unobserved(target: Target[PrometheusSection], reason: str) -> ServerHealth:
    base = target.spec.url.rstrip("/")
    response = no_answer("GET", f"{base}/-/healthy", target.timeout_s)
    return ServerHealth(redact_url(base), healthy=response, error=response.error)


async def observe_rule(target: Target[PrometheusRule], session: ProbeSession) -> QueryResult:
    """Evaluate the rule's query now; never raises."""
    section, rule = target.parent, target.spec
    return await query(
        session,
        section.url,
        rule.query,
        timeout_s=target.timeout_s,
        headers=section.headers,
        ca_bundle=section.ca_bundle,
    )


def rule_unobserved(target: Target[PrometheusRule], reason: str) -> QueryResult:
    base = target.parent.url.rstrip("/")
    response = no_answer("GET", f"{base}/api/v1/query", target.timeout_s)
    return QueryResult(target.spec.query, redact_url(base), error=response.error)


async def query(
    session: ProbeSession,
    url: str,
    promql: str,
    *,
    timeout_s: float,
    headers: dict[str, str] | None = None,
    ca_bundle: str | None = None,
) -> QueryResult:
    """Run one instant query at the current time against the Prometheus at `url`."""
    base = url.rstrip("/")
    shown = redact_url(base)
    now = time.time()
    parameters = {"query": promql, "time": f"{now:.3f}", "timeout": f"{timeout_s:g}s"}
    response = await fetch(
        session,
        f"{base}/api/v1/query?{urlencode(parameters)}",
        timeout_s=timeout_s,
        headers=headers,
        ca_bundle=ca_bundle,
    )
    if response.error:
        return QueryResult(promql, shown, error=response.error)
    body = response.json_body
    if not isinstance(body, dict) or "status" not in body:
        reason = response.json_error or "the answer is not a Prometheus API response"
        return QueryResult(
            promql, shown, error=f"HTTP {response.status} from {shown}/api/v1/query: {reason}"
        )
    if body["status"] != "success":
        kind = body.get("errorType", "error")
        text = redact_text(str(body.get("error", "(no error text)")))
        return QueryResult(promql, shown, error=f"Prometheus rejected the query ({kind}): {text}")
    try:
        series = _series(body.get("data") or {})
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        return QueryResult(promql, shown, error=f"cannot use the query result: {exc}")
    return QueryResult(promql, shown, series, datetime.fromtimestamp(now, UTC))


def _series(data: dict[str, Any]) -> tuple[Series, ...]:
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return (Series((), float(result[1])),)  # type: ignore[index]
    if kind == "vector":
        return tuple(
            Series(tuple(sorted(item["metric"].items())), float(item["value"][1]))
            for item in result or []
        )
    if kind == "matrix":
        raise ValueError(
            "the query returns a range vector; rules need an instant vector"
            " (wrap the [range] selector in a function such as rate())"
        )
    raise ValueError(f"result type {kind!r} is not a number per series")
