"""`starttls: postgres` against a real PostgreSQL with ssl = on: the database's own certificate."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.certs import TestCA, in_days
from tests.probing import load_targets, observe
from vigil.families.tls.probe import CertificateObservation
from vigil.sandbox.postgres import PostgresServer

NAME = "db.vigil.test"


@pytest.fixture(scope="module")
def tls_database() -> Iterator[tuple[PostgresServer, Path]]:
    authority = TestCA()
    server = PostgresServer()
    cert, key = authority.issue([NAME], not_after=in_days(10)).write(server.directory, "server")
    bundle = authority.bundle(server.directory)
    if os.geteuid() == 0:  # the server runs as postgres and must own its key
        for path in (cert, key):
            shutil.chown(path, "postgres", "postgres")
    server.settings.update(ssl="on", ssl_cert_file=str(cert), ssl_key_file=str(key))
    server.start()
    yield server, bundle
    server.stop()


def test_reads_the_certificate_of_a_real_postgresql(
    tmp_path: Path, tls_database: tuple[PostgresServer, Path]
) -> None:
    server, bundle = tls_database
    [target] = load_targets(
        tmp_path,
        "certificate",
        f"tls:\n  - host: 127.0.0.1\n    port: {server.port}\n    server_name: {NAME}\n"
        f"    ca_bundle: {bundle}\n    starttls: postgres\n",
    )
    cert: CertificateObservation = observe("tls_certificate", target)
    assert cert.error is None, cert.error
    assert 9.9 < cert.days_left < 10.1
    assert cert.trusted is True and cert.hostname_matches is True
    assert cert.subject == f"CN={NAME}"


def test_without_starttls_the_postgres_port_is_not_tls(
    tmp_path: Path, tls_database: tuple[PostgresServer, Path]
) -> None:
    server, _ = tls_database
    [target] = load_targets(
        tmp_path,
        "certificate",
        f"timeout_s: 2\ntls:\n  - host: 127.0.0.1\n    port: {server.port}\n",
    )
    cert: CertificateObservation = observe("tls_certificate", target)
    assert cert.error is not None and "TLS handshake with 127.0.0.1:" in cert.error


def test_a_server_with_ssl_off_is_reported_as_such(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def refuse_ssl() -> None:  # what PostgreSQL answers to SSLRequest with ssl = off
        connection, _ = listener.accept()
        with connection:
            connection.recv(8)
            connection.sendall(b"N")

    threading.Thread(target=refuse_ssl, daemon=True).start()
    [target] = load_targets(
        tmp_path,
        "certificate",
        f"tls:\n  - host: 127.0.0.1\n    port: {listener.getsockname()[1]}\n"
        "    starttls: postgres\n",
    )
    cert: CertificateObservation = observe("tls_certificate", target)
    listener.close()
    assert cert.error is not None and "refused SSL (ssl = off on the server)" in cert.error
