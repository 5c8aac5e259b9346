"""A Redis connection that can only read: the allow-list, the reply cap, and the failures
said in words.

`ReadOnlyRedis` is one asyncio connection (redis-py's own) to one server. Its connection
class encodes a command only if it is in `ALLOWED_COMMANDS`, so a write cannot reach the
socket even by mistake (`deploy/redis-acl.conf` is the server-side half), and its parser
refuses a reply larger than `MAX_REPLY_BYTES` before reading it (an INFO of 200 MB, or an
endless line, costs nothing). `explain` turns redis-py's failures into sentences.
"""

from __future__ import annotations

import errno
import inspect
from typing import Any

import redis
import redis.asyncio
from redis._parsers import _AsyncRESP2Parser
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import parse_url
from redis.exceptions import NoPermissionError

from vigil.families.redis.probe import TLS_HINT
from vigil.redact import redact_text

# What the probe sends; nothing else can be encoded. AUTH and SELECT are sent by the client
# library while connecting (credentials from the URL, database number from its path).
READ_COMMANDS = frozenset({"PING", "INFO", "CONFIG GET", "DBSIZE", "LLEN", "LATENCY LATEST"})
CONNECTION_COMMANDS = frozenset({"AUTH", "SELECT"})
ALLOWED_COMMANDS = READ_COMMANDS | CONNECTION_COMMANDS
_URL_OPTIONS = {
    "host",
    "port",
    "path",
    "db",
    "username",
    "password",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_check_hostname",
    "ssl_certfile",
    "ssl_keyfile",
}


MAX_REPLY_BYTES = 4 << 20  # INFO of a large server is tens of KiB; anything this big is not


class CommandRefused(redis.RedisError):
    """The probe was asked to send a command outside its allow-list; nothing was sent."""


class ReplyTooLarge(redis.RedisError):
    """The server's reply is larger than MAX_REPLY_BYTES; the rest was not read."""


def command_name(args: tuple[Any, ...]) -> str:
    """'CONFIG GET' for ('CONFIG', 'GET', 'maxmemory'); 'SET' for ('set', 'k', 'v')."""
    words: list[str] = []
    for arg in args[:2]:
        text = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
        words += text.split()
    if len(words) > 1 and words[0].upper() in {"CONFIG", "LATENCY", "CLIENT", "ACL", "MEMORY"}:
        return f"{words[0].upper()} {words[1].upper()}"
    return words[0].upper() if words else ""


class _AllowList:
    """Encodes a command for the wire only if it is in `ALLOWED_COMMANDS`."""

    def pack_command(self, *args: Any) -> list[bytes]:
        name = command_name(args)
        if name not in ALLOWED_COMMANDS:
            raise CommandRefused(f"{name} is not a read command this probe may send")
        packed: list[bytes] = super().pack_command(*args)  # type: ignore[misc]
        return packed


class ReadOnlyTcp(_AllowList, redis.asyncio.Connection):
    pass


class ReadOnlyTls(_AllowList, redis.asyncio.SSLConnection):
    pass


class ReadOnlyUnix(_AllowList, redis.asyncio.UnixDomainSocketConnection):
    pass


class CappedReplies(_AsyncRESP2Parser):
    """redis-py's RESP2 parser, refusing a reply once it would pass MAX_REPLY_BYTES (counted
    before each bulk string is read, so a huge one is never allocated)."""

    _taken = 0

    async def read_response(self, disable_decoding: bool = False) -> Any:
        self._taken = 0
        return await super().read_response(disable_decoding)

    async def _readline(self) -> bytes:
        try:
            line: bytes = await super()._readline()
        except ValueError:  # the stream's own limit: a line of 64 KiB without its end
            raise ReplyTooLarge("a reply line longer than the stream's limit") from None
        self._count(len(line) + 2)
        return line

    async def _read(self, length: int) -> bytes:
        self._count(length + 2)
        data: bytes = await super()._read(length)
        return data

    def _count(self, size: int) -> None:
        self._taken += size
        if self._taken > MAX_REPLY_BYTES:
            raise ReplyTooLarge(f"a reply larger than {MAX_REPLY_BYTES >> 20} MiB")


class ReadOnlyRedis:
    """One asyncio connection to one Redis server that can send only allow-listed reads.

    Connecting and each read are bounded by `timeout_s` (the probe session bounds the whole
    visit). Redis errors are raised as redis-py exceptions; `explain` turns them into words.
    """

    def __init__(self, url: str, *, timeout_s: float, ca_bundle: str | None = None) -> None:
        tls = url.startswith("rediss://")
        options = {
            k: v
            for k, v in parse_url(url).items()  # type: ignore[no-untyped-call]
            if k in _URL_OPTIONS and (tls or not k.startswith("ssl_"))
        }
        if ca_bundle and tls:
            options["ssl_ca_certs"] = ca_bundle
        self.db = int(options.get("db", 0))
        self.username = str(options.get("username") or "default")
        kind: Any = (
            ReadOnlyUnix if url.startswith("unix://") else ReadOnlyTls if tls else ReadOnlyTcp
        )
        self.connection: Any = kind(
            **options,
            **no_client_setinfo(kind),
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
            decode_responses=True,
            encoding_errors="replace",
            parser_class=CappedReplies,
        )

    async def connect(self) -> None:
        await self.connection.connect()

    async def execute(self, *args: Any) -> Any:
        """Send one allow-listed command and read its answer."""
        await self.connection.send_command(*args, check_health=False)
        return await self.connection.read_response()

    async def close(self) -> None:
        await self.connection.disconnect(nowait=True)


def no_client_setinfo(kind: type[Any]) -> dict[str, None]:
    """The arguments that keep redis-py from sending CLIENT SETINFO (not a read command):
    `driver_info=None` where it exists (recent redis-py, which deprecates the other two), else
    `lib_name=None, lib_version=None` (redis-py 5.0 on)."""
    accepted = {
        name
        for cls in kind.__mro__
        if "__init__" in vars(cls)
        for name in inspect.signature(vars(cls)["__init__"]).parameters
    }
    if "driver_info" in accepted:
        return {"driver_info": None}
    return {"lib_name": None, "lib_version": None}


def refused(exc: redis.ResponseError) -> bool:
    """True when the server refuses one command (ACL, renamed or disabled, as managed Redis
    does with CONFIG), as opposed to refusing the client altogether."""
    text = str(exc).lower()
    return isinstance(exc, NoPermissionError) or (
        "unknown command" in text or "unknown subcommand" in text
    )


def _errno(exc: BaseException) -> int | None:
    """The operating system's error number behind a failure, if there is one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    return None


def explain(
    exc: BaseException,
    where: str,
    timeout_s: float,
    username: str = "default",
    *,
    tls: bool = False,
) -> tuple[str, str]:
    """Translate a redis-py failure into (kind, sentence an operator can act on).

    `tls`: the URL was rediss://. Symptoms that a TLS / plain mismatch also produces (a
    handshake that never ends, a connection closed or answered with bytes that are not Redis)
    carry `TLS_HINT`."""
    text = redact_text(str(exc))
    lowered = text.lower()
    if isinstance(exc, ReplyTooLarge):
        return "protocol", (
            f"{where} sent a reply larger than {MAX_REPLY_BYTES >> 20} MiB; the rest was not"
            " read (not a Redis server, or not one to trust)"
        )
    if isinstance(exc, redis.BusyLoadingError):
        return "loading", f"{where} is loading its dataset into memory (LOADING)"
    if isinstance(exc, redis.AuthenticationError) or (
        isinstance(exc, redis.ResponseError) and lowered.startswith("auth")
    ):
        return "auth", f"authentication as user {username!r} failed at {where}: {text}"
    if isinstance(exc, redis.TimeoutError):
        if "connecting" in lowered:
            # A plain Redis port reads a TLS ClientHello as the start of an inline command and
            # waits for the rest: rediss:// to a plain port looks exactly like this.
            hint = f" {TLS_HINT}" if tls else ""
            return "timeout", f"connection to {where} timed out after {timeout_s:g} s{hint}"
        return "timeout", (
            f"no answer within {timeout_s:g} s from {where}"
            f" (the port accepts connections but the server does not answer in time) {TLS_HINT}"
        )
    if isinstance(exc, redis.InvalidResponse) or "protocol error" in lowered:
        answer = text.split(":", 1)[-1].strip()[:80]
        return "protocol", f"{where} is not a Redis server (it answered {answer}) {TLS_HINT}"
    if "max number of clients" in lowered:
        return "maxclients", f"{where} refuses new clients: {text} (maxclients reached)"
    if isinstance(exc, redis.ResponseError):
        return "other", f"{where} answered with an error: {text}"
    if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
        # A certificate problem is unambiguous; anything else in the handshake (wrong version
        # number, unexpected EOF, ...) is what a port that does not speak TLS produces.
        hint = "" if "certificate" in lowered else f" {TLS_HINT}"
        return "tls", f"TLS handshake with {where} failed: {text}{hint}"
    if "refused" in lowered or _errno(exc) == errno.ECONNREFUSED:
        return "refused", f"connection refused by {where} (nothing is listening on that port)"
    if "closed by server" in lowered or "connection reset" in lowered:
        return "protocol", (
            f"{where} closed the connection without a Redis answer: not a Redis server,"
            f" or a TLS port {TLS_HINT}"
        )
    if any(
        s in lowered
        for s in ("name or service not known", "nodename nor servname", "name resolution")
    ):
        return "other", f"cannot resolve the host of {where}: {text}"
    return "other", f"cannot talk to {where}: {type(exc).__name__}: {text}"
