"""Secrets reduced to key names, salted digests and certificate expiry: never their values.

`read_secret` decodes each value only long enough to digest it (SHA-256 with a random salt
made once per process, so a digest cannot be looked up or compared outside this run) and, for
`kubernetes.io/tls` secrets, to read the certificate's expiry. The private key is never
decoded. Nothing returned here can reveal a value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509

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


def digest(value: bytes) -> str:
    """A salted SHA-256 of one value: equal values give equal digests within this process."""
    return hashlib.sha256(_SALT + value).hexdigest()


def read_secret(raw: dict[str, Any]) -> SecretSummary:
    """Key names and digests of a Secret (`data` base64, `stringData` as snapshots may hold)."""
    digests: dict[str, str] = {}
    certificate_pem = b""
    for key, encoded in (raw.get("data") or {}).items():
        try:
            value = base64.b64decode(str(encoded or ""), validate=True)
        except (binascii.Error, ValueError):
            value = str(encoded).encode()
        digests[str(key)] = digest(value)
        if key == "tls.crt":
            certificate_pem = value
        del value
    for key, text in (raw.get("stringData") or {}).items():
        digests[str(key)] = digest(str(text).encode())
        if key == "tls.crt":
            certificate_pem = str(text).encode()
    kind = str(raw.get("type") or "Opaque")
    return SecretSummary(
        name=str(raw.get("metadata", {}).get("name", "")),
        type=kind,
        digests=digests,
        tls=read_certificate(certificate_pem) if kind == TLS_TYPE else None,
    )


def read_certificate(pem: bytes) -> TlsCertificate:
    """The earliest-expiring certificate in a PEM bundle (the leaf, usually)."""
    if not pem.strip():
        return TlsCertificate(error="tls.crt is empty")
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        return TlsCertificate(error=f"tls.crt is not a PEM certificate ({exc})")
    soonest = min(certificates, key=lambda c: c.not_valid_after_utc)
    return TlsCertificate(subject=_name(soonest), not_after=soonest.not_valid_after_utc)


def _name(certificate: x509.Certificate) -> str:
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
