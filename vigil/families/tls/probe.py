"""TLS probe: the certificate an endpoint serves, whether its chain verifies, whose name it has.

`observe_certificate` reads the leaf certificate without verifying it (so an expired,
self-signed or misnamed certificate can still be described), then verifies the chain in a
second handshake against the system trust store or the target's `ca_bundle`, and matches the
host name against the certificate's subject alternative names. `starttls: postgres` sends
PostgreSQL's SSLRequest first, so a database's own certificate can be read. Every step shares
one deadline of `target.timeout_s`; every failure becomes `error` (or `trust_problem`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from vigil.families.tls.spec import TlsTarget
from vigil.redact import redact_text
from vigil.session import own_budget
from vigil.targets import Target

if TYPE_CHECKING:
    from cryptography import x509

    from vigil.session import ProbeSession

# PostgreSQL's SSLRequest: length 8, then the magic request code 1234/5679.
POSTGRES_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
# OpenSSL's X509_V_FLAG_NO_CHECK_TIME: not exposed by the ssl module, accepted as a raw bit.
_NO_CHECK_TIME = 0x200000
_CERT_HAS_EXPIRED = 10


class _Unreachable(Exception):
    """The endpoint could not be reached or did not complete a handshake (message says why)."""


@dataclass(frozen=True)
class CertificateObservation:
    """What the endpoint served. `error` is set when no certificate could be read at all."""

    endpoint: str  # host:port
    server_name: str  # the name sent as SNI and matched against the certificate
    subject: str = ""
    issuer: str = ""
    sans: tuple[str, ...] = ()
    not_before: datetime | None = None
    not_after: datetime | None = None
    days_left: float = 0.0
    protocol: str = ""
    trusted: bool | None = None  # None: verification itself could not run
    trust_problem: str = ""
    trust_source: str = "system trust store"
    hostname_matches: bool | None = None
    error: str | None = None

    @property
    def expired(self) -> bool:
        return self.days_left < 0

    @property
    def not_after_text(self) -> str:
        return _iso(self.not_after)

    def evidence(self) -> list[str]:
        """Subject, issuer, SANs, validity and verification, one fact per line."""
        lines = [
            f"endpoint: {self.endpoint} (SNI {self.server_name})",
            f"subject: {self.subject}",
            f"issuer: {self.issuer}",
            f"subjectAltName: {', '.join(self.sans) or '(none)'}",
            f"notBefore: {_iso(self.not_before)}",
            f"notAfter: {self.not_after_text}",
            f"days left: {self.days_left:.1f}",
        ]
        if self.protocol:
            lines.append(f"protocol: {self.protocol}")
        verdict = "verified" if self.trusted else f"NOT verified ({self.trust_problem})"
        lines.append(f"chain against {self.trust_source}: {verdict}")
        return lines


def prepare() -> None:
    """Import the certificate reader once per run, outside any target's time."""
    from cryptography import x509  # noqa: F401


def certificate_unobserved(target: Target[TlsTarget], reason: str) -> CertificateObservation:
    spec = target.spec
    return CertificateObservation(
        f"{spec.host}:{spec.port}",
        spec.server_name or spec.host,
        error=f"no TLS handshake from {spec.host}:{spec.port} within {target.timeout_s:g} s",
    )


async def observe_certificate(
    target: Target[TlsTarget], session: ProbeSession | None = None
) -> CertificateObservation:
    """Read, verify and name-check the certificate of one TLS endpoint; never raises."""
    spec = target.spec
    server_name = spec.server_name or spec.host
    endpoint = f"{spec.host}:{spec.port}"
    deadline = time.monotonic() + own_budget(target.timeout_s)
    try:
        der, protocol = await _read_leaf(spec.host, spec.port, server_name, spec.starttls, deadline)
    except _Unreachable as exc:
        return CertificateObservation(endpoint, server_name, error=str(exc))
    except Exception as exc:  # a probe never raises; say what broke instead
        return CertificateObservation(
            endpoint, server_name, error=f"{type(exc).__name__}: {redact_text(str(exc))}"
        )
    from cryptography import x509  # here: a run without TLS targets never imports it

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return CertificateObservation(
            endpoint, server_name, error=f"the server sent a certificate that cannot be read: {exc}"
        )
    not_after = cert.not_valid_after_utc
    days_left = (not_after - datetime.now(UTC)).total_seconds() / 86400
    sans = _subject_alt_names(cert)
    try:
        trusted, problem = await _verify_chain(spec, server_name, deadline, expired=days_left < 0)
    except Exception as exc:
        trusted, problem = None, f"{type(exc).__name__}: {redact_text(str(exc))}"
    return CertificateObservation(
        endpoint=endpoint,
        server_name=server_name,
        subject=cert.subject.rfc4514_string() or "(empty)",
        issuer=cert.issuer.rfc4514_string() or "(empty)",
        sans=sans,
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        days_left=days_left,
        protocol=protocol,
        trusted=trusted,
        trust_problem=problem,
        trust_source=f"CA bundle {spec.ca_bundle}" if spec.ca_bundle else "system trust store",
        hostname_matches=hostname_matches(server_name, sans),
    )


async def _read_leaf(
    host: str, port: int, server_name: str, starttls: str | None, deadline: float
) -> tuple[bytes, str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    writer = await _handshake(context, host, port, server_name, starttls, deadline)
    try:
        tls: ssl.SSLObject = writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True)
        if not der:
            raise _Unreachable(f"{host}:{port} completed the handshake without a certificate")
        return der, tls.version() or ""
    finally:
        writer.transport.abort()


async def _verify_chain(
    spec: TlsTarget, server_name: str, deadline: float, *, expired: bool
) -> tuple[bool | None, str]:
    """(True, "") when the chain verifies; (False, why) when it does not; (None, why) when
    verification could not run. Expiry is judged by its own checks, so an expired leaf is
    verified again with time checks off: the chain question stays answerable."""
    ca_bundle, host, port, starttls = spec.ca_bundle, spec.host, spec.port, spec.starttls
    try:
        context = ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        return None, f"cannot load CA bundle {ca_bundle}: {exc}"
    context.check_hostname = False  # the name is matched separately, against the SANs
    for attempt in range(2):
        try:
            writer = await _handshake(context, host, port, server_name, starttls, deadline)
            writer.transport.abort()
            return True, ""
        except ssl.SSLCertVerificationError as exc:
            if attempt or exc.verify_code != _CERT_HAS_EXPIRED or not expired:
                return False, exc.verify_message or str(exc)
        except _Unreachable as exc:
            return None, f"verification handshake failed: {exc}"
        context.verify_flags |= _NO_CHECK_TIME
    return None, "verification did not finish"


async def _handshake(
    context: ssl.SSLContext,
    host: str,
    port: int,
    server_name: str,
    starttls: str | None,
    deadline: float,
) -> asyncio.StreamWriter:
    """A completed TLS connection, every step bounded by what is left of `deadline`."""
    where = f"{host}:{port}"
    sni = None if _is_ip(server_name) else server_name
    try:
        async with _before(deadline, f"connection to {where} timed out"):
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 16)
    except ConnectionRefusedError:
        raise _Unreachable(f"connection refused by {where} (nothing is listening)") from None
    except socket.gaierror as exc:
        raise _Unreachable(f"cannot resolve host {host!r}: {exc.strerror or exc}") from None
    except OSError as exc:
        raise _Unreachable(f"cannot connect to {where}: {exc.strerror or exc}") from None
    try:
        if starttls == "postgres":
            await _postgres_ssl_request(reader, writer, where, deadline)
        late = (
            f"no TLS handshake from {where} in time (the port accepts connections but does not"
            " answer)"
        )
        async with _before(deadline, late):
            await writer.start_tls(context, server_hostname=sni)
        return writer
    except ssl.SSLCertVerificationError:
        writer.transport.abort()
        raise
    except ssl.SSLError as exc:
        writer.transport.abort()
        raise _Unreachable(f"TLS handshake with {where} failed: {exc.reason or exc}") from None
    except (OSError, EOFError) as exc:
        writer.transport.abort()
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _Unreachable(f"TLS handshake with {where} failed: {detail or 'closed'}") from None
    except BaseException:
        writer.transport.abort()
        raise


@contextlib.asynccontextmanager
async def _before(deadline: float, late: str) -> AsyncIterator[None]:
    """The block must end by `deadline` (time.monotonic()), or fail with `late`."""
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            yield
    except TimeoutError:
        raise _Unreachable(late) from None


async def _postgres_ssl_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str, deadline: float
) -> None:
    try:
        async with _before(deadline, f"{where} did not answer the PostgreSQL SSLRequest in time"):
            writer.write(POSTGRES_SSL_REQUEST)
            await writer.drain()
            answer = await reader.read(1)
    except OSError as exc:
        raise _Unreachable(
            f"{where} did not answer the PostgreSQL SSLRequest ({exc.strerror or exc});"
            " is it a PostgreSQL server?"
        ) from None
    if answer == b"N":
        raise _Unreachable(f"PostgreSQL at {where} refused SSL (ssl = off on the server)")
    if answer != b"S":
        raise _Unreachable(
            f"{where} did not answer the PostgreSQL SSLRequest (got {answer!r});"
            " is it a PostgreSQL server?"
        )


def _subject_alt_names(cert: x509.Certificate) -> tuple[str, ...]:
    from cryptography import x509

    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    names = extension.value
    dns = [f"DNS:{name}" for name in names.get_values_for_type(x509.DNSName)]
    ips = [f"IP:{address}" for address in names.get_values_for_type(x509.IPAddress)]
    return tuple(dns + ips)


def hostname_matches(name: str, sans: tuple[str, ...]) -> bool:
    """RFC 6125 matching as browsers do it: SANs only (not the CN), a wildcard only as the
    whole left-most label, IP addresses only against IP entries."""
    if _is_ip(name):
        wanted = ipaddress.ip_address(name)
        return any(
            san.startswith("IP:") and ipaddress.ip_address(san[3:]) == wanted for san in sans
        )
    host = name.lower().rstrip(".")
    for san in sans:
        if not san.startswith("DNS:"):
            continue
        pattern = san[4:].lower().rstrip(".")
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host:
            first, rest = host.split(".", 1)
            if first and rest == pattern[2:]:
                return True
    return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "(unknown)"
