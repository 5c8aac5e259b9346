"""Hostile peers on 127.0.0.1: servers that drip, stall, flood and bomb, for real.

`RawServer` accepts TCP connections on a free port and hands each, in its own thread, to a
`talk(connection)` function that does whatever the fault needs: send the headers one byte at
a time, a gzip bomb, 100,000 headers, an endless Redis reply, a 200 MB INFO. Every server
stops cleanly (`close()`), and every talk function gives up when the client goes away.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
import zlib
from collections.abc import Callable

Talk = Callable[[socket.socket], None]


class RawServer:
    """A TCP server on 127.0.0.1 that runs `talk` for every connection."""

    def __init__(self, talk: Talk) -> None:
        self.talk = talk
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self._closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="hostile-accept").start()

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            self.talk(connection)

    def close(self) -> None:
        self._closing.set()
        self.listener.close()


def read_request(connection: socket.socket, limit: int = 1 << 16) -> bytes:
    """Read until the end of an HTTP request head (or what the client sends first)."""
    data = b""
    connection.settimeout(10)
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def drip(
    payload: bytes, every_s: float, after: Callable[[socket.socket], object] | None = None
) -> Talk:
    """After `after` (reading the request, say), answer `payload` one byte every `every_s`."""

    def talk(connection: socket.socket) -> None:
        if after is not None:
            after(connection)
        for byte in payload:
            connection.sendall(bytes([byte]))
            time.sleep(every_s)

    return talk


def http_headers_drip(every_s: float = 0.5) -> Talk:
    """An HTTP server that sends its status line and headers one byte every `every_s`."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Slow: y\r\n" * 1000
    return drip(head, every_s, after=read_request)


def http_body_trickle(every_s: float = 0.1) -> Talk:
    """Headers at once, then a body of a million bytes, one byte every `every_s`."""

    def talk(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
        while True:
            connection.sendall(b"{")
            time.sleep(every_s)

    return talk


@functools.cache
def gzip_bomb(expanded: int = 1 << 30) -> bytes:
    """`expanded` bytes of zeros, gzip-compressed (1 GiB -> about 1 MiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(expanded // len(chunk))]
    return b"".join(parts) + compressor.flush()


def http_gzip_bomb() -> Talk:
    body = gzip_bomb()

    def talk(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        )
        connection.sendall(body)

    return talk


def http_many_headers(count: int = 100_000) -> Talk:
    def talk(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        for start in range(0, count, 1000):
            connection.sendall(b"".join(b"X-H%d: v\r\n" % n for n in range(start, start + 1000)))
        connection.sendall(b"Content-Length: 2\r\n\r\n{}")

    return talk


def http_json(body: bytes, status: int = 200) -> Talk:
    def talk(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(
            b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status, len(body), body)
        )

    return talk


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def redis_drip(every_s: float = 0.1) -> Talk:
    """A 'Redis' that answers the first command with `+PPPP...`, one byte at a time, never
    ending the line."""

    def talk(connection: socket.socket) -> None:
        connection.settimeout(10)
        connection.recv(4096)
        connection.sendall(b"+")
        while True:
            connection.sendall(b"P")
            time.sleep(every_s)

    return talk


def redis_huge_info(size: int = 200 << 20) -> Talk:
    """A 'Redis' that answers PING and then an INFO of `size` bytes, as fast as it can."""

    def talk(connection: socket.socket) -> None:
        connection.settimeout(10)
        while True:
            command = connection.recv(4096)
            if not command:
                return
            if b"INFO" in command.upper():
                connection.sendall(b"$%d\r\n" % size)
                block = b"x" * (1 << 20)
                for _ in range(size // len(block)):
                    connection.sendall(block)
                connection.sendall(b"\r\n")
            else:
                connection.sendall(b"+PONG\r\n")

    return talk


def redis_endless_line() -> Talk:
    """A 'Redis' whose first answer is one line that never ends, sent as fast as possible."""

    def talk(connection: socket.socket) -> None:
        connection.settimeout(10)
        connection.recv(4096)
        block = b"+" + b"P" * (1 << 20)
        connection.sendall(block)
        block = b"P" * (1 << 20)
        while True:
            connection.sendall(block)

    return talk


def tls_drip(every_s: float = 0.5) -> Talk:
    """A 'TLS server' that answers a ClientHello with a handshake record, one byte at a time."""
    record = b"\x16\x03\x03\x10\x00" + b"\x02" + b"\x00" * 4000
    return drip(record, every_s, after=lambda c: c.recv(4096))
