"""TLS certificates: each endpoint serves a certificate that is valid for long enough, chains
to a trusted CA and names the host clients connect to.

Settings: `tls[]` in the environment file. Probe: `vigil/families/tls/probe.py`.
"""

from __future__ import annotations

import pytest

from vigil.expect import fail, require
from vigil.families.tls.probe import CertificateObservation
from vigil.families.tls.spec import TlsTarget
from vigil.targets import Target

LAST_TIER_DAYS = 1


def _expiry(cert: CertificateObservation) -> str:
    if cert.expired:
        return f"expired {-cert.days_left:.1f} days ago"
    return f"expires in {cert.days_left:.1f} days"


def _expect_days_left(cert: CertificateObservation, limit: float, tier: str) -> None:
    __tracebackhide__ = True
    require(cert, f"no certificate read from {cert.endpoint}")
    if cert.days_left < limit:
        fail(
            f"certificate for {cert.endpoint} {_expiry(cert)} ({tier} below {limit:g})",
            evidence=cert.evidence(),
            days_left=f"{cert.days_left:.1f}",
        )


@pytest.mark.runbook("certificate-expiring")
def test_certificate_not_expiring(
    certificate: Target[TlsTarget], tls_certificate: CertificateObservation
) -> None:
    """More than `warn_days` (default 30) left before the served certificate expires."""
    _expect_days_left(tls_certificate, certificate.spec.warn_days, "warning")


@pytest.mark.runbook("certificate-expiring-soon")
def test_certificate_not_expiring_soon(
    certificate: Target[TlsTarget], tls_certificate: CertificateObservation
) -> None:
    """More than `critical_days` (default 7) left before the served certificate expires."""
    _expect_days_left(tls_certificate, certificate.spec.critical_days, "critical")


@pytest.mark.runbook("certificate-expiry-imminent")
def test_certificate_not_expiring_within_a_day(
    certificate: Target[TlsTarget], tls_certificate: CertificateObservation
) -> None:
    """More than a day left before the served certificate expires (the last of the 30, 7 and
    1 day alert tiers)."""
    _expect_days_left(tls_certificate, LAST_TIER_DAYS, "last tier")


@pytest.mark.runbook("certificate-expired")
def test_certificate_not_expired(
    certificate: Target[TlsTarget], tls_certificate: CertificateObservation
) -> None:
    """The served certificate's notAfter is in the future."""
    require(tls_certificate, f"no certificate read from {tls_certificate.endpoint}")
    if tls_certificate.expired:
        fail(
            f"certificate for {tls_certificate.endpoint} {_expiry(tls_certificate)}"
            f" (notAfter {tls_certificate.not_after_text})",
            evidence=tls_certificate.evidence(),
            days_left=f"{tls_certificate.days_left:.1f}",
        )


@pytest.mark.runbook("certificate-untrusted")
def test_certificate_trusted(
    certificate: Target[TlsTarget], tls_certificate: CertificateObservation
) -> None:
    """A client would trust the certificate: the chain verifies against the system trust store
    (or the target's `ca_bundle`) and, as every TLS client also requires, it is valid for the
    name clients connect to (the name alone is judged by the next check)."""
    require(tls_certificate, f"no certificate read from {tls_certificate.endpoint}")
    if tls_certificate.trusted and not tls_certificate.hostname_matches:
        fail(
            f"clients will refuse {tls_certificate.endpoint}: its chain verifies against"
            f" {tls_certificate.trust_source}, but it is not valid for"
            f" {tls_certificate.server_name!r}",
            evidence=tls_certificate.evidence(),
            days_left=f"{tls_certificate.days_left:.1f}",
        )
    if not tls_certificate.trusted:
        verb = "does not verify" if tls_certificate.trusted is False else "could not be verified"
        fail(
            f"certificate chain of {tls_certificate.endpoint} {verb} against"
            f" {tls_certificate.trust_source}: {tls_certificate.trust_problem}"
            f" (issuer {tls_certificate.issuer})",
            evidence=tls_certificate.evidence(),
            days_left=f"{tls_certificate.days_left:.1f}",
        )


@pytest.mark.runbook("certificate-hostname-mismatch")
def test_certificate_matches_hostname(
    certificate: Target[TlsTarget], tls_certificate: CertificateObservation
) -> None:
    """The certificate's subject alternative names include the name clients connect to."""
    require(tls_certificate, f"no certificate read from {tls_certificate.endpoint}")
    if not tls_certificate.hostname_matches:
        fail(
            f"certificate served on {tls_certificate.endpoint} is not valid for"
            f" {tls_certificate.server_name!r}: it names {', '.join(tls_certificate.sans) or 'no'}"
            " subjectAltName",
            evidence=tls_certificate.evidence(),
            days_left=f"{tls_certificate.days_left:.1f}",
        )
