"""The one way the tests make certificates: the sandbox's own certificate authority.

ca = TestCA()                       # a throwaway root CA
context = ca.server_context()       # an SSLContext serving a certificate for 127.0.0.1
bundle = ca.bundle(tmp_path)        # the CA as a PEM file, for `ca_bundle:`
leaf = ca.issue(["api.test"], not_after=in_days(5))   # any names, any validity
cert_path, key_path = leaf.write(tmp_path, "server")
"""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
from pathlib import Path

from vigil.sandbox.tls_endpoint import (
    CertificateAuthority,
    IssuedCertificate,
    in_days,
    self_signed,
)

__all__ = ["IssuedCertificate", "TestCA", "in_days", "self_signed", "server_context"]


class TestCA(CertificateAuthority):
    """A root CA for one test, with the shortcuts the tests need."""

    __test__ = False  # not a test class, whatever pytest's name rules say

    def __init__(self, common_name: str = "Vigil test CA") -> None:
        super().__init__(common_name)

    def bundle(self, directory: Path, name: str = "ca.pem") -> Path:
        """The CA certificate as a PEM file: what `ca_bundle:` points at."""
        path = directory / name
        path.write_bytes(self.cert_pem)
        return path

    def server_context(
        self, names: list[str] | None = None, *, not_after: dt.datetime | None = None
    ) -> ssl.SSLContext:
        """A server-side SSLContext with a certificate of this CA (default: for 127.0.0.1,
        valid 90 days)."""
        leaf = self.issue(names or ["127.0.0.1"], not_after=not_after or in_days(90))
        return server_context(leaf)


def server_context(leaf: IssuedCertificate) -> ssl.SSLContext:
    """A server-side SSLContext serving `leaf`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = leaf.write(Path(directory), "server")
        context.load_cert_chain(cert, key)
    return context
