"""Secrets reduced to key names and digests: values are digested as the API sends them
(base64), and only a TLS secret's certificate is ever decoded, never its private key."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from tests.certs import TestCA
from vigil.families.kubernetes.secrets import TLS_TYPE, digest, read_secret


def encoded(value: bytes) -> str:
    return base64.b64encode(value).decode()


def test_private_key_is_digested_encoded_and_the_certificate_read() -> None:
    not_after = datetime(2031, 1, 1, tzinfo=UTC)
    leaf = TestCA().issue(
        ["shop.example.com"], not_before=not_after - timedelta(days=90), not_after=not_after
    )
    key_text = encoded(leaf.key_pem)
    raw = {
        "type": TLS_TYPE,
        "metadata": {"name": "shop-tls"},
        "data": {"tls.crt": encoded(leaf.cert_pem), "tls.key": key_text},
    }
    summary = read_secret(raw)
    # The digest of the base64 text: the key was never turned back into PEM.
    assert summary.digests["tls.key"] == digest(key_text.encode())
    assert summary.digests["tls.key"] != digest(leaf.key_pem)
    assert summary.tls is not None and summary.tls.error is None
    assert summary.tls.not_after == not_after and summary.tls.subject == "shop.example.com"


def test_same_value_same_digest_whether_in_data_or_string_data() -> None:
    in_data = read_secret({"metadata": {"name": "a"}, "data": {"JWT": encoded(b"s3cret")}})
    in_text = read_secret({"metadata": {"name": "b"}, "stringData": {"JWT": "s3cret"}})
    other = read_secret({"metadata": {"name": "c"}, "data": {"JWT": encoded(b"other")}})
    assert in_data.digests["JWT"] == in_text.digests["JWT"] != other.digests["JWT"]
    assert "s3cret" not in repr(in_data) + repr(in_text)


def test_tls_secret_without_a_certificate_says_so() -> None:
    summary = read_secret({"type": TLS_TYPE, "metadata": {"name": "t"}, "data": {}})
    assert summary.tls is not None and summary.tls.error == "tls.crt is empty"
    assert read_secret({"metadata": {"name": "o"}, "data": {}}).tls is None
