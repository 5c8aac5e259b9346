"""Status pages: the probe against a real local Statuspage-v2 server, and the suite end to end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SuiteRun, write_env
from tests.probing import load_targets, observe
from tests.servers import Endpoint, HttpServer, free_port
from vigil.families.dependencies.probe import ProviderStatus
from vigil.sandbox.status_page import (
    INCIDENT_NAME,
    StatusPageServer,
    sandbox_pages,
    summary_document,
)


@pytest.fixture
def pages() -> Iterator[StatusPageServer]:
    documents = sandbox_pages("incident")
    documents["storage"] = summary_document(
        "storage",
        {"Uploads": "degraded_performance", "Downloads": "operational"},
        [("Slow uploads in one region", "Uploads are slower than usual.", ["Uploads"])],
    )
    server = StatusPageServer(documents)
    yield server
    server.close()


def read_page(tmp_path: Path, url: str, extra: str = "") -> ProviderStatus:
    """What the status-page probe sees at `url`, through a probe session as in a run."""
    text = f"timeout_s: 2\nstatus_pages:\n  - name: provider\n    url: {url}\n{extra}"
    [target] = load_targets(tmp_path, "status_page", text)
    status: ProviderStatus = observe("status_summary", target)
    return status


def test_summary_with_a_major_incident(tmp_path: Path, pages: StatusPageServer) -> None:
    status = read_page(tmp_path, pages.url("payment-provider"))
    assert status.error is None
    assert status.indicator == "major" and status.description == "Partial System Outage"
    assert [c.name for c in status.components if c.impaired] == ["Card payments"]
    [incident] = status.incidents
    assert incident.name == INCIDENT_NAME and incident.impact == "major"
    assert incident.status == "identified" and incident.components == ("Card payments",)
    assert incident.latest_update == "Card payments are failing for a large share of requests."


def test_page_base_url_reads_the_summary(tmp_path: Path, pages: StatusPageServer) -> None:
    status = read_page(tmp_path, f"http://127.0.0.1:{pages.port}/email-provider")
    assert status.error is None and status.indicator == "none" and status.has_components
    assert status.url.endswith("/email-provider/api/v2/summary.json")


def test_status_json_has_only_the_indicator(tmp_path: Path, pages: StatusPageServer) -> None:
    status = read_page(tmp_path, pages.url("payment-provider", "status.json"))
    assert status.indicator == "major" and not status.has_components and not status.components


def test_unreadable_pages_are_errors_not_outages(
    tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    server = http_server(
        {
            "/down.json": Endpoint(503, {"error": "unavailable"}),
            "/html.json": Endpoint(200, b"<html>status</html>", content_type="text/html"),
            "/other.json": Endpoint(200, {"ok": True}),
        }
    )
    down = read_page(tmp_path, server.url("/down.json"))
    assert "HTTP 503" in str(down.error) and down.indicator == ""
    assert "not JSON" in str(read_page(tmp_path, server.url("/html.json")).error)
    other = read_page(tmp_path, server.url("/other.json"))
    assert "not a Statuspage v2 document" in str(other.error)
    port = free_port()
    refused = read_page(tmp_path, f"http://127.0.0.1:{port}/api/v2/summary.json")
    assert f"connection refused by 127.0.0.1:{port}" in str(refused.error)


@pytest.fixture
def dependencies_env(tmp_path: Path, pages: StatusPageServer) -> Path:
    return write_env(
        tmp_path,
        "deps",
        f"""
vars: {{namespace: shop}}
status_pages:
  - name: payment-provider
    url: {pages.url("payment-provider")}
  - name: email-provider
    url: {pages.url("email-provider")}
  - name: cdn
    url: http://127.0.0.1:{pages.port}/cdn
  - name: storage-downloads
    url: {pages.url("storage")}
    components: [Downloads]
  - name: storage-uploads
    url: {pages.url("storage")}
    components: [Uploads]
  - name: storage-typo
    url: {pages.url("storage")}
    components: [Uplods]
""",
    )


def test_only_the_provider_with_an_outage_fails(
    run_suite: Callable[..., SuiteRun], dependencies_env: Path
) -> None:
    run = run_suite("--env", str(dependencies_env), "-m", "dependencies")
    assert run.outcomes() == {
        "test_provider_operational[deps/payment-provider]": "failed",
        "test_provider_operational[deps/email-provider]": "passed",
        "test_provider_operational[deps/cdn]": "passed",
        "test_provider_operational[deps/storage-downloads]": "passed",
        "test_provider_operational[deps/storage-uploads]": "failed",
        "test_provider_operational[deps/storage-typo]": "failed",
    }, run.output
    out = run.output
    assert "payment-provider reports a major outage (Partial System Outage)" in out
    assert "Card payments is major_outage" in out and f"incident '{INCIDENT_NAME}'" in out
    assert "This is the provider's outage, not ours: wait and retry" in out
    assert "runbook:  third-party-outage - " in out
    assert "storage-typo's status page has no component 'Uplods'" in out
    assert run.junit is not None
    case = next(
        c
        for c in run.junit.iter("testcase")
        if c.get("name") == "test_provider_operational[deps/payment-provider]"
    )
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert INCIDENT_NAME in (props["evidence"] or "")
    assert "latest update" in (props["evidence"] or "")
    assert f"({INCIDENT_NAME})" in (props["remediation"] or "")  # the incident template value
