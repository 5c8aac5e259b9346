"""The HTTP probe against real servers on 127.0.0.1, with real faults."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.certs import TestCA
from tests.probing import fetch, load_targets, observe
from tests.servers import Endpoint, HttpServer, SilentPort, free_port
from vigil.families.http.probe import HttpResponse
from vigil.families.http.report import ComponentReport

Start = Callable[..., HttpServer]


def timed_fetch(url: str, **options: object) -> tuple[HttpResponse, float]:
    """The response, and the wall time in ms the whole request took as seen from outside."""
    started = time.monotonic()
    result = fetch(url, **options)
    return result, (time.monotonic() - started) * 1000


def test_healthy_json_endpoint(http_server: Start) -> None:
    server = http_server({"/health": Endpoint(200, {"status": "ok"})})
    result, wall_ms = timed_fetch(server.url("/health"), timeout_s=2)
    assert result.error is None
    assert result.status == 200 and result.json_body == {"status": "ok"}
    assert result.content_type == "application/json"
    # Measured in milliseconds, and never more than the request took from the outside.
    assert result.elapsed_ms is not None and 0 < result.elapsed_ms <= wall_ms


def test_503_is_a_response_not_an_error(http_server: Start) -> None:
    server = http_server({"/health": Endpoint(503, {"status": "error"})})
    result = fetch(server.url("/health"), timeout_s=2)
    assert result.error is None and result.status == 503
    assert result.json_body == {"status": "error"}


def test_configured_method_is_sent(http_server: Start, tmp_path: Path) -> None:
    server = http_server({"/health": Endpoint(200, {})})
    [target] = load_targets(
        tmp_path,
        "http_service",
        f"http:\n  services:\n    - name: api\n      url: {server.url('/health')}\n"
        "      method: head\n",
    )
    response = observe("http_response", target)
    assert response.error is None and response.method == "HEAD" and response.status == 200
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
    assert result.status is None
    assert result.error is not None
    assert f"no complete response within 0.5 s from 127.0.0.1:{silent_port.port}" in result.error
    assert 0.4 < elapsed < 1.5


def test_the_target_timeout_bounds_the_whole_observation(
    tmp_path: Path, silent_port: SilentPort
) -> None:
    [target] = load_targets(
        tmp_path,
        "http_service",
        "timeout_s: 0.5\nhttp:\n  services:\n"
        f"    - name: hanging\n      url: http://127.0.0.1:{silent_port.port}/health\n",
    )
    started = time.monotonic()
    response = observe("http_response", target)
    elapsed = time.monotonic() - started
    assert response.status is None and response.error is not None
    assert f"no complete response within 0.5 s from 127.0.0.1:{silent_port.port}" in response.error
    assert 0.4 < elapsed < 1.5


@pytest.fixture
def dribbling_port() -> Iterator[int]:
    """A port on 127.0.0.1 answering at once with a status line and headers, then the body
    one byte every 0.1 s for 5 s: every read arrives in time, the whole answer does not."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve(connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(4096)
                connection.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 50\r\n\r\n"
                )
                for _ in range(50):
                    if stop.wait(0.1):
                        return
                    connection.sendall(b" ")
            except OSError:
                return

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield int(listener.getsockname()[1])
    stop.set()
    listener.close()


def test_a_body_that_never_ends_is_cut_at_the_total_time(dribbling_port: int) -> None:
    started = time.monotonic()
    result = fetch(f"http://127.0.0.1:{dribbling_port}/health", timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert result.status is None and result.error is not None
    assert f"no complete response within 0.5 s from 127.0.0.1:{dribbling_port}" in result.error
    assert 0.4 < elapsed < 1.5


def test_slow_endpoint_latency_is_measured(http_server: Start) -> None:
    server = http_server({"/health": Endpoint(200, {"status": "ok"}, delay_s=0.3)})
    result, wall_ms = timed_fetch(server.url("/health"), timeout_s=2)
    assert result.error is None
    assert result.elapsed_ms is not None and 300 <= result.elapsed_ms <= wall_ms


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


def _tls_server(http_server: Start, ca: TestCA) -> HttpServer:
    return http_server({"/health": Endpoint(200, {"status": "ok"})}, ca.server_context())


def test_untrusted_certificate_fails_verification(http_server: Start) -> None:
    server = _tls_server(http_server, TestCA())
    result = fetch(server.url("/health"), timeout_s=2)
    assert result.status is None and result.error is not None
    assert result.error.startswith(f"TLS handshake with 127.0.0.1:{server.port} failed")
    assert "certificate verify failed" in result.error


def test_ca_bundle_makes_it_trusted(http_server: Start, tmp_path: Path) -> None:
    ca = TestCA()
    server = _tls_server(http_server, ca)
    result = fetch(server.url("/health"), timeout_s=2, ca_bundle=str(ca.bundle(tmp_path)))
    assert result.error is None and result.status == 200


def test_another_ca_bundle_does_not_make_it_trusted(http_server: Start, tmp_path: Path) -> None:
    server = _tls_server(http_server, TestCA())
    other = TestCA("Another CA").bundle(tmp_path)
    result = fetch(server.url("/health"), timeout_s=2, ca_bundle=str(other))
    assert result.status is None and result.error is not None
    assert "certificate verify failed" in result.error


def test_opt_out_of_verification_is_recorded(http_server: Start, tmp_path: Path) -> None:
    server = _tls_server(http_server, TestCA())
    [target] = load_targets(
        tmp_path,
        "http_service",
        f"http:\n  services:\n    - name: api\n      url: {server.url('/health')}\n"
        "      verify: false\n",
    )
    response = observe("http_response", target)
    assert response.error is None and response.status == 200
    assert target.notes == ("TLS verification is off for this service",)


def test_credentials_in_url_are_masked(http_server: Start) -> None:
    server = http_server({"/health": Endpoint(200, {})})
    result = fetch(f"http://admin:topsecret@127.0.0.1:{server.port}/health", timeout_s=2)
    assert result.error is None and result.status == 200
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
    http_server: Start, tmp_path: Path, body: dict[str, object], bad: list[str]
) -> None:
    server = http_server({"/health": Endpoint(200, {"status": "ok"}), "/d": Endpoint(200, body)})
    [target] = load_targets(
        tmp_path,
        "http_service",
        f"http:\n  services:\n    - name: api\n      url: {server.url('/health')}\n"
        f"      detailed_url: {server.url('/d')}\n",
    )
    report: ComponentReport = observe("http_components", target)
    assert report.error is None
    assert [c.name for c in report.components if not c.healthy] == bad
    assert server.requests == [("GET", "/d")]
