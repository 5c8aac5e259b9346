"""HTTP health endpoints: each service is up, says it is healthy, and answers in time.

An answer is judged as what answered it (`kind`): a 429 is rate limiting, not an outage; a
webhook handler refusing an unsigned request is up; a provider refusing our key is a
dependency problem. Health reports are read in their own format (Spring, health+json,
ASP.NET, health-go, Elasticsearch, Consul, /readyz text...), with its own ranking.

Settings: `http.services[]` in the environment file. Probe: `vigil/families/http/probe.py`.
"""

from __future__ import annotations

import re

import pytest

from vigil.expect import NotEvaluated, fail, require, setting
from vigil.families.http.formats import VAULT_STATUS, parse_components
from vigil.families.http.probe import HttpResponse
from vigil.families.http.report import ComponentReport, Level
from vigil.families.http.spec import HttpService, StatusRoute
from vigil.targets import Target

MAX_EVIDENCE = 20
MEANING = {
    401: "the server refused our credentials (401)",
    403: "the server refused access (403)",
    429: "too many requests: the server is rate limiting (429)",
}


def _routed(service: HttpService, response: HttpResponse) -> None:
    """Skip a check when the answer's status belongs to another entry: its route reports it."""
    __tracebackhide__ = True
    entry = service.routes.get(response.status or 0)
    if entry is not None:
        pytest.skip(f"HTTP {response.status} is reported as {entry} (test_status_routed)")


def _said(service: HttpService, response: HttpResponse) -> tuple[str, list[str]]:
    """What a failing answer's body says when it is a health report: the failing parts
    named in a few words, and one evidence line each."""
    if response.error or (response.json_body is None and not response.text.strip()):
        return "", []
    report = parse_components(response, service.format)
    if report.error:
        return "", []
    bad = [c for c in report.components if not c.healthy]
    named = ", ".join(f"{c.name} {c.status}" for c in bad[:5]) + (", ..." if len(bad) > 5 else "")
    lines = [f"{response.url} reports {report.overall or '-'} ({report.format} format)"]
    return (f"; it reports {named}" if named else ""), lines + [
        c.describe() for c in bad[:MAX_EVIDENCE]
    ]


@pytest.mark.runbook("http-service-down")
def test_health_endpoint(http_service: Target[HttpService], http_response: HttpResponse) -> None:
    """The health endpoint answers with an expected status (default: any 2xx; see `kind`)."""
    if http_response.error:  # no answer at all is this symptom, not a reason to skip it
        fail(f"no response: {http_response.error} ({http_response.method} {http_response.url})")
    service = http_service.spec
    status = http_response.status or 0  # set whenever there is no error
    if service.expected(status):
        return
    _routed(service, http_response)
    meaning = ""
    if service.format == "vault" and status in VAULT_STATUS:
        meaning = f": Vault is {VAULT_STATUS[status][0]}"
    named, said = _said(service, http_response)
    fail(
        f"HTTP {status} from {http_response.method} {http_response.url}{meaning}"
        f" (expected {service.expectation()}){named}",
        evidence=[*said, f"body: {http_response.body_excerpt or '(empty)'}"],
        status=status,
    )


@pytest.mark.runbook("rate-limit-exceeded")  # each route names its own entry
def test_status_routed(
    http_status_route: Target[StatusRoute], http_routed_response: HttpResponse
) -> None:
    """The service does not answer with a status that belongs to another entry than its own
    (429 -> rate-limit-exceeded; a provider's 401/403 -> dependency-unreachable;
    `status_runbooks`)."""
    route = http_status_route.spec
    response = http_routed_response
    if response.error:
        pytest.skip(f"no answer from {response.url}: test_health_endpoint reports it")
    if response.status == route.status:
        fail(
            f"HTTP {route.status} from {response.method} {response.url}:"
            f" {MEANING.get(route.status, f'status {route.status}')}",
            evidence=[f"body: {response.body_excerpt or '(empty)'}"],
            status=route.status,
        )


@pytest.mark.runbook("http-service-down")
@pytest.mark.requires("expect_json")
def test_health_body(http_service: Target[HttpService], http_response: HttpResponse) -> None:
    """The health body is JSON and carries the expected values (`expect_json`)."""
    require(http_response, f"no response from {http_response.method} {http_response.url}")
    _routed(http_service.spec, http_response)
    if http_response.json_error:
        fail(f"{http_response.json_error} (HTTP {http_response.status} from {http_response.url})")
    body = http_response.json_body
    wrong = [
        f"{key}={body.get(key)!r} (expected {want!r})"
        if isinstance(body, dict) and key in body
        else f"{key} is missing (expected {want!r})"
        for key, want in setting(http_service.spec.expect_json, "expect_json").items()
        if not (isinstance(body, dict) and body.get(key) == want)
    ]
    if wrong:
        fail(
            f"health body: {'; '.join(wrong)} ({http_response.url})",
            evidence=[f"body: {http_response.body_excerpt}"],
            status=http_response.status,
        )


@pytest.mark.runbook("http-service-down")
@pytest.mark.requires("text_expectations")
def test_health_text(http_service: Target[HttpService], http_response: HttpResponse) -> None:
    """The health body, as text, contains `expect_text` and matches `expect_regex` (plain-text
    health pages: ASP.NET's `Healthy`, `/readyz`, `OK`)."""
    require(http_response, f"{http_response.method} {http_response.url} got no response")
    service = http_service.spec
    _routed(service, http_response)
    text = http_response.text
    wrong = []
    if service.expect_text is not None and service.expect_text not in text:
        wrong.append(f"does not contain {service.expect_text!r}")
    if service.expect_regex is not None and not re.search(service.expect_regex, text, re.M):
        wrong.append(f"does not match /{service.expect_regex}/")
    if wrong:
        fail(
            f"health body of {http_response.url} {' and '.join(wrong)}:"
            f" it reads {http_response.body_excerpt[:120]!r}",
            evidence=[f"HTTP {http_response.status}", f"body: {http_response.body_excerpt}"],
            status=http_response.status,
        )


@pytest.mark.runbook("http-high-latency")
@pytest.mark.requires("max_latency_ms")
def test_latency(http_service: Target[HttpService], http_response: HttpResponse) -> None:
    """The health endpoint answers within `max_latency_ms`."""
    limit = setting(http_service.spec.max_latency_ms, "max_latency_ms")
    require(http_response, f"no latency to measure (max {limit:g} ms)")
    if (http_response.elapsed_ms or 0) > limit:
        fail(
            f"answered in {http_response.elapsed_ms:.0f} ms (max {limit:g} ms): {http_response.url}"
        )


@pytest.mark.runbook("http-component-degraded")
@pytest.mark.requires("report_url")
def test_components_healthy(
    http_service: Target[HttpService], http_components: ComponentReport
) -> None:
    """The health report's overall status and every component are healthy, as the report's
    format ranks them (Spring's UNKNOWN passes; health+json `warn`, ASP.NET `Degraded`,
    Elasticsearch `yellow`, Consul `warning` do not)."""
    service = http_service.spec
    report = http_components
    url = report.response.url
    require(report, f"health report {url} could not be read")
    status = report.response.status or 0
    if service.report_url == service.url and not service.expected(status):
        pytest.skip(f"HTTP {status} from {url}: test_health_endpoint reports this answer")
    bad = [c for c in report.components if not c.healthy]
    if not bad and report.level in (None, Level.OK):
        return
    named = ", ".join(f"{c.name} is {c.status}" for c in bad[:MAX_EVIDENCE])
    fail(
        f"{url} reports {report.overall or 'no overall status'!s}"
        + (f": {named}" if named else f" ({report.note or 'no component is named'})"),
        evidence=[
            f"format: {report.format}" + (f"; {report.note}" if report.note else ""),
            *(
                c.describe()
                for c in (bad + [c for c in report.components if c.healthy])[:MAX_EVIDENCE]
            ),
        ],
        components=", ".join(c.name for c in bad),
    )


@pytest.mark.runbook("http-component-slow")
@pytest.mark.requires("report_url")
@pytest.mark.requires("max_response_time_ms")
def test_components_fast(
    http_service: Target[HttpService], http_components: ComponentReport
) -> None:
    """No component of the health report took longer than `max_response_time_ms` to check,
    healthy or not (slow components are a symptom of their own)."""
    limit = setting(http_service.spec.max_response_time_ms, "max_response_time_ms")
    report = http_components
    require(report, f"health report {report.response.url} could not be read")
    timed = [c for c in report.components if c.response_ms is not None]
    if not timed:
        raise NotEvaluated(
            f"{report.response.url} gives no response time for any component"
            f" ({report.format} format); remove max_response_time_ms or report times"
        )
    slow = sorted(
        (c for c in timed if (c.response_ms or 0) > limit), key=lambda c: -(c.response_ms or 0)
    )
    if slow:
        fail(
            f"{len(slow)} of {len(timed)} components of {report.response.url} slower than"
            f" {limit:g} ms: "
            + ", ".join(f"{c.name} {c.response_ms:g} ms ({c.status})" for c in slow),
            evidence=[c.describe() for c in slow[:MAX_EVIDENCE]],
            components=", ".join(c.name for c in slow),
        )
