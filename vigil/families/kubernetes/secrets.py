"""Secrets reduced to key names, salted digests and certificate expiry: never their values.

`read_secret` digests each value as the API sends it, base64-encoded, without decoding it
(SHA-256 with a random salt made once per process, so a digest cannot be looked up or compared
outside this run; equal values have equal base64 text). The only value ever decoded is
`tls.crt` of a `kubernetes.io/tls` secret, to read the certificate's expiry: the private key
(`tls.key`) and every other value stay encoded. Nothing returned here can reveal a value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

_SALT = os.urandom(16)
TLS_TYPE = "kubernetes.io/tls"


@dataclass(frozen=True)
class TlsCertificate:
    """The soonest-expiring certificate of a TLS secret's `tls.crt`."""

    subject: str = ""
    not_after: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class SecretSummary:
    name: str
    type: str
    digests: dict[str, str] = field(default_factory=dict, repr=False)  # key -> salted digest
    tls: TlsCertificate | None = None

    @property
    def keys(self) -> list[str]:
        return sorted(self.digests)


if TYPE_CHECKING:
    from cryptography import x509


def digest(value: bytes) -> str:
    """A salted SHA-256 of one value: equal values give equal digests within this process."""
    return hashlib.sha256(_SALT + value).hexdigest()


def read_secret(raw: dict[str, Any]) -> SecretSummary:
    """Key names and digests of a Secret (`data` base64, `stringData` as snapshots may hold)."""
    kind = str(raw.get("type") or "Opaque")
    digests: dict[str, str] = {}
    certificate: TlsCertificate | None = None
    for key, encoded in (raw.get("data") or {}).items():
        text = str(encoded or "")
        digests[str(key)] = digest(text.encode())
        if kind == TLS_TYPE and key == "tls.crt":
            certificate = read_certificate(_decoded(text))
    for key, plain in (raw.get("stringData") or {}).items():
        # Encoded as `data` would hold it, so that the same value digests the same either way.
        digests[str(key)] = digest(base64.b64encode(str(plain).encode()))
        if kind == TLS_TYPE and key == "tls.crt":
            certificate = read_certificate(str(plain).encode())
    if kind == TLS_TYPE and certificate is None:
        certificate = read_certificate(b"")
    return SecretSummary(
        name=str(raw.get("metadata", {}).get("name", "")),
        type=kind,
        digests=digests,
        tls=certificate,
    )


def _decoded(text: str) -> bytes:
    """A certificate's base64 text decoded (as written, if it is not base64)."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode()


def read_certificate(pem: bytes) -> TlsCertificate:
    """The earliest-expiring certificate in a PEM bundle (the leaf, usually)."""
    if not pem.strip():
        return TlsCertificate(error="tls.crt is empty")
    try:
        from cryptography import x509  # here: only TLS secrets need it

        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        return TlsCertificate(error=f"tls.crt is not a PEM certificate ({exc})")
    soonest = min(certificates, key=lambda c: c.not_valid_after_utc)
    return TlsCertificate(subject=_name(soonest), not_after=soonest.not_valid_after_utc)


def _name(certificate: x509.Certificate) -> str:
    from cryptography import x509

    """Its common name, else its first DNS name, else its whole subject."""
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if names:
        return str(names[0].value)
    try:
        alternative = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return certificate.subject.rfc4514_string()
    dns = alternative.value.get_values_for_type(x509.DNSName)
    return dns[0] if dns else certificate.subject.rfc4514_string()
