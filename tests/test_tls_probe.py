"""The TLS probe against real TLS servers on 127.0.0.1 with certificates made for each case."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.certs import IssuedCertificate, TestCA, in_days, self_signed
from tests.probing import load_targets, observe
from tests.servers import Endpoint, HttpServer, SilentPort, free_port
from vigil.families.tls.probe import CertificateObservation, hostname_matches
from vigil.sandbox.tls_endpoint import TlsServer

NAME = "api.vigil.test"
Serve = Callable[..., TlsServer]


@pytest.fixture(scope="module")
def authority() -> TestCA:
    return TestCA()


@pytest.fixture
def ca_bundle(tmp_path: Path, authority: TestCA) -> Path:
    return authority.bundle(tmp_path)


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[TlsServer] = []

    def start(certificate: IssuedCertificate, starttls: str | None = None) -> TlsServer:
        server = TlsServer(certificate, starttls=starttls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def certificate(
    tmp_path: Path, port: int, extra: str = "", timeout_s: float = 2
) -> CertificateObservation:
    """What the TLS probe sees of 127.0.0.1:`port`, through a probe session as in a run."""
    text = f"timeout_s: {timeout_s}\ntls:\n  - host: 127.0.0.1\n    port: {port}\n{extra}"
    [target] = load_targets(tmp_path, "certificate", text)
    result: CertificateObservation = observe("tls_certificate", target)
    return result


def with_name(ca_bundle: Path, name: str = NAME) -> str:
    return f"    server_name: {name}\n    ca_bundle: {ca_bundle}\n"


def test_valid_certificate(
    tmp_path: Path,
    authority: TestCA,
    ca_bundle: Path,
    serve: Callable[..., TlsServer],
) -> None:
    server = serve(authority.issue([NAME], not_after=in_days(90)))
    cert = certificate(tmp_path, server.port, with_name(ca_bundle))
    assert cert.error is None
    assert 89.9 < cert.days_left < 90.1
    assert cert.trusted is True and cert.trust_problem == ""
    assert cert.hostname_matches is True
    assert cert.sans == (f"DNS:{NAME}",)
    assert cert.subject == f"CN={NAME}" and cert.issuer == "CN=Vigil test CA"
    assert cert.protocol.startswith("TLS")
    evidence = "\n".join(cert.evidence())
    assert "notAfter: " in evidence and "days left: 90.0" in evidence


def test_expiring_in_five_days(
    tmp_path: Path,
    authority: TestCA,
    ca_bundle: Path,
    serve: Callable[..., TlsServer],
) -> None:
    server = serve(authority.issue([NAME], not_after=in_days(5)))
    cert = certificate(tmp_path, server.port, with_name(ca_bundle))
    assert 4.9 < cert.days_left < 5.1 and not cert.expired and cert.trusted


def test_expired_certificate_is_read_and_its_chain_still_judged(
    tmp_path: Path,
    authority: TestCA,
    ca_bundle: Path,
    serve: Callable[..., TlsServer],
) -> None:
    server = serve(authority.issue([NAME], not_after=in_days(-2)))
    cert = certificate(tmp_path, server.port, with_name(ca_bundle))
    assert cert.error is None
    assert cert.expired and -2.1 < cert.days_left < -1.9
    assert cert.trusted is True  # expiry is its own check; the chain itself is fine
    assert cert.hostname_matches is True


def test_self_signed_is_untrusted(tmp_path: Path, ca_bundle: Path, serve: Serve) -> None:
    server = serve(self_signed([NAME], not_after=in_days(300)))
    cert = certificate(tmp_path, server.port, with_name(ca_bundle))
    assert cert.trusted is False and "self" in cert.trust_problem.lower()
    assert cert.hostname_matches is True


def test_system_store_does_not_trust_a_private_ca(
    tmp_path: Path, authority: TestCA, serve: Serve
) -> None:
    server = serve(authority.issue([NAME], not_after=in_days(300)))
    cert = certificate(tmp_path, server.port, f"    server_name: {NAME}\n")
    assert cert.trusted is False and cert.trust_source == "system trust store"


def test_wrong_host_name(
    tmp_path: Path,
    authority: TestCA,
    ca_bundle: Path,
    serve: Callable[..., TlsServer],
) -> None:
    server = serve(authority.issue(["other.vigil.test"], not_after=in_days(300)))
    cert = certificate(tmp_path, server.port, with_name(ca_bundle))
    assert cert.trusted is True
    assert cert.hostname_matches is False and cert.server_name == NAME


def test_ip_address_is_matched_against_ip_entries(
    tmp_path: Path,
    authority: TestCA,
    ca_bundle: Path,
    serve: Callable[..., TlsServer],
) -> None:
    server = serve(authority.issue(["127.0.0.1"], not_after=in_days(300)))
    cert = certificate(tmp_path, server.port, f"    ca_bundle: {ca_bundle}\n")
    assert cert.hostname_matches is True and cert.sans == ("IP:127.0.0.1",)


def test_missing_ca_bundle_leaves_the_certificate_readable(
    tmp_path: Path, authority: TestCA, serve: Serve
) -> None:
    server = serve(authority.issue([NAME], not_after=in_days(3)))
    cert = certificate(tmp_path, server.port, f"    ca_bundle: {tmp_path}/nope.pem\n")
    assert cert.error is None and 2.9 < cert.days_left < 3.1
    assert cert.trusted is None and "cannot load CA bundle" in cert.trust_problem


def test_refused_port(tmp_path: Path) -> None:
    port = free_port()
    cert = certificate(tmp_path, port)
    assert cert.error is not None and f"connection refused by 127.0.0.1:{port}" in cert.error
    assert cert.endpoint == f"127.0.0.1:{port}" and cert.trusted is None


def test_silent_port_is_bounded_by_the_timeout(tmp_path: Path, silent_port: SilentPort) -> None:
    started = time.monotonic()
    cert = certificate(tmp_path, silent_port.port, timeout_s=1)
    assert time.monotonic() - started < 3
    # The probe's own reason, not only the session's cut: the port accepts and stays silent.
    assert cert.error == (
        f"no TLS handshake from 127.0.0.1:{silent_port.port} in time"
        " (the port accepts connections but does not answer)"
    )


def test_plain_http_port_is_a_handshake_failure(
    tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    server = http_server({"/": Endpoint(200, {})})
    cert = certificate(tmp_path, server.port)
    assert cert.error is not None and "TLS handshake with 127.0.0.1:" in cert.error


def test_starttls_postgres_handshake(
    tmp_path: Path,
    authority: TestCA,
    ca_bundle: Path,
    serve: Callable[..., TlsServer],
) -> None:
    server = serve(authority.issue([NAME], not_after=in_days(12)), starttls="postgres")
    cert = certificate(tmp_path, server.port, with_name(ca_bundle) + "    starttls: postgres\n")
    assert cert.error is None and 11.9 < cert.days_left < 12.1 and cert.trusted


def test_starttls_postgres_against_a_plain_tls_port_fails_clearly(
    tmp_path: Path, authority: TestCA, serve: Serve
) -> None:
    server = serve(authority.issue([NAME], not_after=in_days(12)))
    cert = certificate(tmp_path, server.port, "    starttls: postgres\n", timeout_s=1)
    assert cert.error is not None and "did not answer the PostgreSQL SSLRequest" in cert.error


@pytest.mark.parametrize(
    ("name", "sans", "expected"),
    [
        ("api.example.com", ("DNS:api.example.com",), True),
        ("API.Example.com.", ("DNS:api.example.com",), True),
        ("api.example.com", ("DNS:*.example.com",), True),
        ("a.b.example.com", ("DNS:*.example.com",), False),
        ("example.com", ("DNS:*.example.com",), False),
        ("api.example.com", ("DNS:web.example.com", "IP:10.0.0.1"), False),
        ("10.0.0.1", ("DNS:10.0.0.1",), False),
        ("10.0.0.1", ("IP:10.0.0.1",), True),
        ("api.example.com", (), False),
    ],
)
def test_hostname_matching(name: str, sans: tuple[str, ...], expected: bool) -> None:
    assert hostname_matches(name, sans) is expected
