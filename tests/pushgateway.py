"""A real Prometheus Pushgateway on a free 127.0.0.1 port, for the tests, optionally behind
basic auth (its own `--web.config.file`, with a bcrypt hash made by the system's libcrypt)."""

from __future__ import annotations

import base64
import ctypes
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port, wait_until_ready

BINARY = "/usr/bin/prometheus-pushgateway"


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash of `password` (cost 4: these are tests), as the exporter toolkit reads."""
    libcrypt = ctypes.CDLL("libcrypt.so.1")
    libcrypt.crypt_gensalt.restype = ctypes.c_char_p
    libcrypt.crypt.restype = ctypes.c_char_p
    salt = libcrypt.crypt_gensalt(b"$2b$", 4, None, 0)
    hashed = libcrypt.crypt(password.encode(), salt)
    if not hashed or not hashed.startswith(b"$2b$"):
        raise RuntimeError("libcrypt made no bcrypt hash")
    return str(hashed.decode())


def _request(url: str, auth: tuple[str, str] | None) -> urllib.request.Request:
    request = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request


@contextmanager
def pushgateway(users: dict[str, str] | None = None) -> Iterator[str]:
    """Start a Pushgateway (requiring basic auth of `users`, name -> password, if given) and
    yield its base URL; stop it afterwards."""
    port = free_port()
    command = [BINARY, f"--web.listen-address=127.0.0.1:{port}"]
    with tempfile.TemporaryDirectory() as scratch:
        auth = None
        if users:
            config = Path(scratch, "web.yml")
            lines = "".join(f"  {name}: {bcrypt_hash(pw)}\n" for name, pw in users.items())
            config.write_text(f"basic_auth_users:\n{lines}")
            command.append(f"--web.config.file={config}")
            auth = next(iter(users.items()))
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(process, _request(f"{url}/-/ready", auth), "the Pushgateway")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def scrape(url: str, auth: tuple[str, str] | None = None) -> str:
    with urllib.request.urlopen(_request(f"{url}/metrics", auth), timeout=5) as response:
        return str(response.read().decode())
