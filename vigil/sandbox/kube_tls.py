"""TLS objects for the sandbox's cluster: a TLS Secret with a real certificate, and the
cert-manager Certificate that manages it."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from vigil.sandbox.kube_builders import Json, ago, condition, object_meta, secret


def tls_secret(name: str, now: datetime, host: str, days_left: float) -> Json:
    """A kubernetes.io/tls Secret holding a fresh self-signed certificate for `host`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, host)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=days_left))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pem_certificate = certificate.public_bytes(serialization.Encoding.PEM)
    tls = secret(name, now, {}, kind="kubernetes.io/tls")
    tls["data"] = {
        "tls.crt": base64.b64encode(pem_certificate).decode(),
        "tls.key": base64.b64encode(pem_key).decode(),
    }
    return tls


def certificate(name: str, now: datetime, host: str, days_left: float) -> Json:
    """A Ready cert-manager Certificate whose Secret is `name`."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {**object_meta("Certificate", name, now, 20000), "generation": 1},
        "spec": {
            "secretName": name,
            "dnsNames": [host],
            "issuerRef": {"kind": "ClusterIssuer", "name": "internal-ca"},
        },
        "status": {
            "conditions": [
                condition(
                    "Ready",
                    "True",
                    now,
                    600,
                    reason="Ready",
                    message="Certificate is up to date and has not expired",
                    observedGeneration=1,
                ),
            ],
            "notAfter": ago(now, -days_left * 1440),
            "renewalTime": ago(now, -(days_left - 30) * 1440),
        },
    }
