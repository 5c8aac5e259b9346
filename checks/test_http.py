"""HTTP health endpoints: each service is up, says it is healthy, and answers in time.

Settings: `http.services[]` in the environment file. Probe: `vigil/families/http/probe.py`.
"""

from __future__ import annotations

import pytest

from vigil.expect import fail, require, setting
from vigil.families.http.probe import HEALTHY, ComponentReport, HttpResponse
from vigil.families.http.spec import HttpService
from vigil.targets import Target


@pytest.mark.runbook("http-service-down")
def test_health_endpoint(http_service: Target[HttpService], http_response: HttpResponse) -> None:
    """The health endpoint answers with an expected status (default: any 2xx)."""
    if http_response.error:  # no answer at all is this symptom, not a reason to skip it
        fail(f"no response: {http_response.error} ({http_response.method} {http_response.url})")
    expected = http_service.spec.expect_status
    status = http_response.status or 0  # set whenever there is no error
    if (expected and status not in expected) or (not expected and not 200 <= status < 300):
        fail(
            f"HTTP {status} from {http_response.method} {http_response.url}"
            f" (expected {' or '.join(map(str, expected)) if expected else 'any 2xx'})",
            evidence=[f"body: {http_response.body_excerpt or '(empty)'}"],
            status=status,
        )


@pytest.mark.runbook("http-service-down")
@pytest.mark.requires("expect_json")
def test_health_body(http_service: Target[HttpService], http_response: HttpResponse) -> None:
    """The health body is JSON and carries the expected values (`expect_json`)."""
    require(http_response, f"no response from {http_response.method} {http_response.url}")
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
@pytest.mark.requires("detailed_url")
def test_components_healthy(
    http_service: Target[HttpService], http_components: ComponentReport
) -> None:
    """Every component of the detailed health report is healthy."""
    url = http_components.response.url
    require(http_components, f"detailed report {url} could not be read")
    bad = [c for c in http_components.components if not c.healthy]
    overall = http_components.overall
    overall_bad = overall is not None and overall.lower() not in HEALTHY
    if bad or overall_bad:
        names = ", ".join(f"{c.name} is {c.status}" for c in bad) or "no component named"
        fail(
            f"overall status {overall!r}: {names} ({url})",
            evidence=[
                f"{c.name}: {c.status}" + (f" ({c.response_time})" if c.response_time else "")
                for c in http_components.components
            ],
            components=", ".join(c.name for c in bad),
        )
