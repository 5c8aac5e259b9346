"""The HTTP probe against real servers on 127.0.0.1, with real faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from tests.servers import Endpoint, HttpServer, SilentPort, free_port
from vigil.families.http.probe import fetch, parse_components

Start = Callable[..., HttpServer]


def test_healthy_json_endpoint(http_server: Start) -> None:
    server = http_server({"/health": Endpoint(200, {"status": "ok"})})
    result = fetch(server.url("/health"), timeout_s=2)
    assert result.error is None
    assert result.status == 200 and result.json_body == {"status": "ok"}
    assert result.elapsed_ms is not None and result.elapsed_ms < 1000


def test_503_is_a_response_not_an_error(http_server: Start) -> None:
    server = http_server({"/health": Endpoint(503, {"status": "error"})})
    result = fetch(server.url("/health"), timeout_s=2)
    assert result.error is None and result.status == 503


def test_configured_method_is_sent(http_server: Start) -> None:
    server = http_server({"/health": Endpoint(200, {})})
    fetch(server.url("/health"), method="HEAD", timeout_s=2)
    assert server.requests == [("HEAD", "/health")]


def test_refused_port() -> None:
    port = free_port()
    result = fetch(f"http://127.0.0.1:{port}/health", timeout_s=2)
    assert result.status is None
    assert (
        result.error
        == f"connection refused by 127.0.0.1:{port} (nothing is listening on that port)"
    )


def test_port_that_never_answers_times_out_on_time(silent_port: SilentPort) -> None:
    started = time.monotonic()
    result = fetch(f"http://127.0.0.1:{silent_port.port}/health", timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert result.error is not None and "no complete response within 0.5 s" in result.error
    assert 0.4 < elapsed < 1.5


def test_slow_endpoint_latency_is_measured(http_server: Start) -> None:
    server = http_server({"/health": Endpoint(200, {"status": "ok"}, delay_s=0.3)})
    result = fetch(server.url("/health"), timeout_s=2)
    assert result.error is None and result.elapsed_ms is not None and result.elapsed_ms >= 300


def test_invalid_json_is_reported(http_server: Start) -> None:
    server = http_server(
        {"/health": Endpoint(200, b"<html>Bad gateway</html>", content_type="text/html")}
    )
    result = fetch(server.url("/health"), timeout_s=2)
    assert result.status == 200 and result.json_body is None
    assert (
        result.json_error is not None
        and "not JSON" in result.json_error
        and "<html>" in result.json_error
    )


def _tls_server(http_server: Start, ca: trustme.CA, hostname: str = "127.0.0.1") -> HttpServer:
    context = __import__("ssl").SSLContext(__import__("ssl").PROTOCOL_TLS_SERVER)
    ca.issue_cert(hostname).configure_cert(context)
    return http_server({"/health": Endpoint(200, {"status": "ok"})}, context)


def test_untrusted_certificate_fails_verification(http_server: Start) -> None:
    server = _tls_server(http_server, trustme.CA())
    result = fetch(server.url("/health"), timeout_s=2)
    assert result.error is not None and result.error.startswith("TLS handshake with 127.0.0.1")
    assert "certificate verify failed" in result.error


def test_ca_bundle_makes_it_trusted(http_server: Start, tmp_path: Path) -> None:
    ca = trustme.CA()
    server = _tls_server(http_server, ca)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    result = fetch(server.url("/health"), timeout_s=2, ca_bundle=str(bundle))
    assert result.error is None and result.status == 200


def test_opt_out_of_verification_is_recorded(http_server: Start) -> None:
    server = _tls_server(http_server, trustme.CA())
    result = fetch(server.url("/health"), timeout_s=2, verify=False)
    assert result.error is None and result.status == 200


def test_credentials_in_url_are_masked(http_server: Start) -> None:
    server = http_server({"/health": Endpoint(200, {})})
    result = fetch(f"http://admin:topsecret@127.0.0.1:{server.port}/health", timeout_s=2)
    assert "topsecret" not in result.url and "***" in result.url


@pytest.mark.parametrize(
    ("body", "bad"),
    [
        (
            {
                "overallStatus": "degraded",
                "checks": [
                    {"name": "db", "status": "healthy", "responseTime": "3ms"},
                    {"name": "redis", "status": "degraded", "responseTime": "400ms"},
                ],
            },
            ["redis"],
        ),
        (
            {"status": "UP", "components": {"db": {"status": "UP"}, "disk": {"status": "DOWN"}}},
            ["disk"],
        ),
        (
            {
                "status": "warn",
                "checks": {
                    "cpu:utilization": [{"status": "warn"}],
                    "db:responseTime": [{"status": "pass"}],
                },
            },
            ["cpu:utilization"],
        ),
    ],
)
def test_component_report_shapes(
    http_server: Start, body: dict[str, object], bad: list[str]
) -> None:
    server = http_server({"/d": Endpoint(200, body)})
    report = parse_components(fetch(server.url("/d"), timeout_s=2))
    assert report.error is None
    assert [c.name for c in report.components if not c.healthy] == bad
