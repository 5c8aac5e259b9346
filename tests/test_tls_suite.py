"""End to end: `pytest checks -m tls` on real TLS endpoints, classified exactly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.certs import TestCA, in_days, self_signed
from tests.conftest import SuiteRun, write_env
from tests.servers import free_port
from vigil.sandbox.tls_endpoint import TlsServer

CHECKS = (
    "test_certificate_not_expiring",
    "test_certificate_not_expiring_soon",
    "test_certificate_not_expiring_within_a_day",
    "test_certificate_not_expired",
    "test_certificate_trusted",
    "test_certificate_matches_hostname",
)
NAME = "api.vigil.test"


@pytest.fixture
def holdout_env(tmp_path: Path) -> Iterator[Path]:
    authority = TestCA()
    bundle = authority.bundle(tmp_path)
    certificates = {
        "in-3-days": authority.issue([NAME], not_after=in_days(3)),
        "in-20-days": authority.issue([NAME], not_after=in_days(20)),
        "expired": authority.issue([NAME], not_after=in_days(-1)),
        "wrong-host": authority.issue(["other.vigil.test"], not_after=in_days(200)),
        "self-signed": self_signed([NAME], not_after=in_days(200)),
        "healthy": authority.issue([NAME], not_after=in_days(200)),
    }
    servers = {name: TlsServer(cert) for name, cert in certificates.items()}
    entries = "".join(
        f"  - name: {name}\n    host: 127.0.0.1\n    port: {server.port}\n"
        f"    server_name: {NAME}\n    ca_bundle: {bundle}\n"
        for name, server in servers.items()
    )
    entries += f"  - name: refused\n    host: 127.0.0.1\n    port: {free_port()}\n"
    yield write_env(tmp_path, "certs", f"vars: {{namespace: shop}}\ntls:\n{entries}")
    for server in servers.values():
        server.close()


def test_certificates_are_classified_exactly(
    run_suite: Callable[..., SuiteRun], holdout_env: Path
) -> None:
    run = run_suite("--env", str(holdout_env), "-m", "tls")
    failing = {
        "in-3-days": {"test_certificate_not_expiring", "test_certificate_not_expiring_soon"},
        "in-20-days": {"test_certificate_not_expiring"},
        "expired": {
            "test_certificate_not_expiring",
            "test_certificate_not_expiring_soon",
            "test_certificate_not_expiring_within_a_day",
            "test_certificate_not_expired",
        },
        "wrong-host": {"test_certificate_matches_hostname", "test_certificate_trusted"},
        "self-signed": {"test_certificate_trusted"},
        "healthy": set(),
        "refused": set(CHECKS),
    }
    expected = {
        f"{check}[certs/{name}]": "failed" if check in bad else "passed"
        for name, bad in failing.items()
        for check in CHECKS
    }
    assert run.outcomes() == expected, run.output
    assert run.returncode == 1


def test_failures_carry_numbers_runbook_and_evidence(
    run_suite: Callable[..., SuiteRun], holdout_env: Path
) -> None:
    run = run_suite("--env", str(holdout_env), "-k", "in-3-days or wrong-host or self-signed")
    out = run.output
    assert "certificate for 127.0.0.1:" in out and "expires in 3.0 days (critical below 7)" in out
    assert "expires in 3.0 days (warning below 30)" in out
    assert "runbook:  certificate-expiring-soon - " in out and "(sev1)" in out
    assert "expires in 3.0 days" in out  # days_left fills the remediation template
    assert f"is not valid for '{NAME}': it names DNS:other.vigil.test" in out
    assert "does not verify against CA bundle" in out and "self-signed" in out.lower()
    assert f"subject: CN={NAME}" in out and "notAfter: " in out and "days left: 3.0" in out
    assert run.junit is not None
    case = next(
        c
        for c in run.junit.iter("testcase")
        if c.get("name") == "test_certificate_not_expiring_soon[certs/in-3-days]"
    )
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["runbook"] == "certificate-expiring-soon" and props["severity"] == "sev1"
    assert "expires in 3.0 days" in (props["remediation"] or "")
    assert "subjectAltName: DNS:api.vigil.test" in (props["evidence"] or "")


def test_severity_tiers_select_separately(
    run_suite: Callable[..., SuiteRun], holdout_env: Path
) -> None:
    run = run_suite("--env", str(holdout_env), "-m", "sev3", "-k", "in-20-days or in-3-days")
    assert run.outcomes() == {
        "test_certificate_not_expiring[certs/in-3-days]": "failed",
        "test_certificate_not_expiring[certs/in-20-days]": "failed",
    }
