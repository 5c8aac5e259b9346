"""The sandbox's TLS endpoint, and the certificate factory and TLS server behind it.

`CertificateAuthority` issues real certificates (any names, any validity window) and
`TlsServer` serves one on 127.0.0.1, as plain TLS or after PostgreSQL's SSLRequest. The
sandbox component `TlsEndpoint` serves a certificate for `api.sandbox.test` that expires in
about 200 days (`healthy`) or in 5 days (`incident`); the tests use the same pieces.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SANDBOX_HOST_NAME = "api.sandbox.test"
POSTGRES_SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"


@dataclass(frozen=True)
class IssuedCertificate:
    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write `stem.crt` and `stem.key` (mode 0600) into `directory`."""
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _alt_names(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _leaf(
    subject: str,
    names: list[str],
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signing_key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_alt_names(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(signing_key, hashes.SHA256())
    )


class CertificateAuthority:
    """A throwaway root CA (valid ten years) that issues server certificates."""

    def __init__(self, common_name: str = "Vigil sandbox CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        names: list[str],
        *,
        not_after: dt.datetime,
        not_before: dt.datetime | None = None,
    ) -> IssuedCertificate:
        """A certificate for `names` (DNS names or IP addresses) valid until `not_after`."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = not_before or min(dt.datetime.now(dt.UTC), not_after) - dt.timedelta(days=30)
        cert = _leaf(names[0], names, key, self.cert.subject, self._key, start, not_after)
        return IssuedCertificate(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def self_signed(names: list[str], *, not_after: dt.datetime) -> IssuedCertificate:
    """A certificate that signs itself, so no trust store verifies it."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = _leaf(names[0], names, key, _name(names[0]), key, start, not_after)
    return IssuedCertificate(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def in_days(days: float) -> dt.datetime:
    """The moment `days` from now (negative: in the past)."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


class TlsServer:
    """Serves `certificate` on 127.0.0.1 on a free port until `close()`.

    With `starttls="postgres"` it first expects PostgreSQL's SSLRequest and answers `S`, as a
    PostgreSQL server with ssl = on does. After the handshake it answers one HTTP request.
    """

    def __init__(self, certificate: IssuedCertificate, *, starttls: str | None = None) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="vigil-tls-"))
        cert, key = certificate.write(self._directory, "server")
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._starttls = starttls
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(5)
        with contextlib.suppress(OSError), connection:
            if self._starttls == "postgres":
                if connection.recv(8) != POSTGRES_SSL_REQUEST:
                    return
                connection.sendall(b"S")
            with self._context.wrap_socket(connection, server_side=True) as tls:
                tls.settimeout(1)
                with contextlib.suppress(OSError):
                    tls.recv(4096)
                    body = b"ok\n"
                    tls.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                    )

    def close(self) -> None:
        self._stopping.set()
        self._listener.close()
        self._thread.join(timeout=1)
        shutil.rmtree(self._directory, ignore_errors=True)


class TlsEndpoint:
    """Sandbox component: one HTTPS endpoint whose certificate expiry depends on the scenario."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self._server: TlsServer | None = None
        self._directory: Path | None = None

    def start(self) -> dict[str, str]:
        authority = CertificateAuthority()
        days = 5 if self.scenario == "incident" else 200
        certificate = authority.issue([SANDBOX_HOST_NAME, "127.0.0.1"], not_after=in_days(days))
        self._server = TlsServer(certificate)
        self._directory = Path(tempfile.mkdtemp(prefix="vigil-sandbox-ca-"))
        bundle = self._directory / "sandbox-ca.pem"
        bundle.write_bytes(authority.cert_pem)
        return {
            "SANDBOX_TLS_PORT": str(self._server.port),
            "SANDBOX_TLS_CA_BUNDLE": str(bundle),
            "SANDBOX_TLS_SERVER_NAME": SANDBOX_HOST_NAME,
        }

    def stop(self) -> None:
        if self._server:
            self._server.close()
        if self._directory:
            shutil.rmtree(self._directory, ignore_errors=True)
