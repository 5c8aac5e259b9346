"""The worked example of docs/extending.md, as the tests use it: the files the page shows
(read from the page itself, so that the page stays true) and a real TCP service that greets
its clients with a banner, as an SMTP relay or an SSH server does."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "extending.md"
# A line "`families/tcp_port.py`:", a blank line, the file in a fenced block.
_FILE_BLOCK = re.compile(r"^`([\w./-]+\.(?:py|yaml))`:\n\n```\w+\n(.*?)```", re.S | re.M)


def example_files() -> dict[str, str]:
    """The files docs/extending.md shows, by their path in the team's repository."""
    files = {path: text for path, text in _FILE_BLOCK.findall(DOCS.read_text(encoding="utf-8"))}
    expected = {
        "families/__init__.py",
        "families/tcp_port.py",
        "checks/conftest.py",
        "checks/test_tcp_port.py",
        "runbooks/tcp.yaml",
    }
    assert set(files) == expected, f"docs/extending.md shows {sorted(files)}"
    return files


def write_example(root: Path) -> None:
    for relative, text in example_files().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


class BannerServer:
    """A TCP service on 127.0.0.1 that sends `banner` to every client and closes."""

    def __init__(self, banner: bytes) -> None:
        self.banner = banner
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.port = int(self.socket.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.socket.accept()
            except OSError:  # closed
                return
            with client, contextlib.suppress(OSError):  # a client that left is no error
                client.sendall(self.banner)

    def close(self) -> None:
        self.socket.close()
