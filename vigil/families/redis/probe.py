"""Redis probe: one read-only connection per server per run, bounded in time, never raising.

`observe_server(target)` connects once, then gathers everything the Redis checks need into one
`RedisStatus`: PING round trips, INFO (every section), maxmemory and maxclients (CONFIG GET,
or INFO where CONFIG is refused, as on managed Redis), DBSIZE, LLEN of the configured queues
and LATENCY LATEST. The whole observation shares one deadline of `target.timeout_s`.

Read-only by construction: the connection encodes commands through `AllowListPacker`, which
refuses anything outside `ALLOWED_COMMANDS` before a byte is written, so a write cannot reach
the socket even by mistake. `deploy/redis-acl.conf` gives the server-side half: a user that
may run exactly these commands.
"""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.connection import PythonRespSerializer, parse_url
from redis.exceptions import NoPermissionError
from redis.retry import Retry

from vigil.families.redis.spec import RedisTarget
from vigil.redact import redact_text, redact_url
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

PINGS = 5
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


class CommandRefused(redis.RedisError):
    """The probe was asked to send a command outside its allow-list; nothing was sent."""


@dataclass(frozen=True)
class LatencyEvent:
    """One line of LATENCY LATEST: the latest and the worst spike of an event, in ms."""

    event: str
    latest_ms: int
    max_ms: int


@dataclass(frozen=True)
class RedisStatus:
    """What one visit to a Redis server saw.

    `error` is set (with `failure` naming the kind: refused, timeout, auth, loading, protocol,
    tls, maxclients, url, other) when the server could not be observed. `denied` maps a command
    the server refused (ACL, renamed or disabled command) to its answer; the probe goes on
    without it. `limits_source` says where maxmemory and maxclients came from.
    """

    address: str  # the URL, password masked
    error: str | None = None
    failure: str | None = None
    ping_ms: tuple[float, ...] = ()
    info: Mapping[str, str] = field(default_factory=dict)
    db: int = 0
    maxmemory: int | None = None
    maxclients: int | None = None
    limits_source: str = "CONFIG GET"
    dbsize: int | None = None
    queue_lengths: Mapping[str, int] = field(default_factory=dict)
    queue_errors: Mapping[str, str] = field(default_factory=dict)
    latency_events: tuple[LatencyEvent, ...] = ()
    denied: Mapping[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """An INFO field as written, or None when the server does not report it."""
        return self.info.get(name)

    def number(self, name: str) -> float | None:
        """An INFO field as a number, or None when it is absent or not numeric."""
        value = self.info.get(name)
        try:
            return None if value is None else float(value)
        except ValueError:
            return None

    def integer(self, name: str) -> int | None:
        """An INFO field as an integer, or None when it is absent or not numeric."""
        value = self.number(name)
        return None if value is None else int(value)

    @property
    def median_ping_ms(self) -> float | None:
        return statistics.median(self.ping_ms) if self.ping_ms else None

    def keyspace(self) -> dict[str, dict[str, int]]:
        """INFO keyspace: `{"db0": {"keys": 3, "expires": 1, ...}}`."""
        spaces: dict[str, dict[str, int]] = {}
        for key, value in self.info.items():
            if key.startswith("db") and key[2:].isdigit():
                pairs = (item.partition("=") for item in value.split(","))
                spaces[key] = {k: int(v) for k, _, v in pairs if v.lstrip("-").isdigit()}
        return spaces


class AllowListPacker:
    """Encodes a command for the wire only if it is in `ALLOWED_COMMANDS`."""

    def __init__(self) -> None:
        self._inner: Any = PythonRespSerializer(6000, _encode)

    def pack(self, *args: Any) -> list[bytes]:
        name = command_name(args)
        if name not in ALLOWED_COMMANDS:
            raise CommandRefused(f"{name} is not a read command this probe may send")
        packed: list[bytes] = self._inner.pack(*args)
        return packed


def command_name(args: tuple[Any, ...]) -> str:
    """'CONFIG GET' for ('CONFIG', 'GET', 'maxmemory'); 'SET' for ('set', 'k', 'v')."""
    words: list[str] = []
    for arg in args[:2]:
        text = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
        words += text.split()
    if len(words) > 1 and words[0].upper() in {"CONFIG", "LATENCY", "CLIENT", "ACL", "MEMORY"}:
        return f"{words[0].upper()} {words[1].upper()}"
    return words[0].upper() if words else ""


def _encode(value: Any) -> bytes:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    if isinstance(value, bool):
        raise redis.DataError("booleans are not Redis arguments")
    return str(value).encode()


class ReadOnlyRedis:
    """One connection to one Redis server that can send only allow-listed read commands.

    Every call is bounded: connecting by `timeout_s`, each command by the time left until the
    caller's deadline. Redis errors are raised as redis-py exceptions; `observe_server` turns
    them into sentences.
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
        kind: type[redis.Connection] | type[redis.UnixDomainSocketConnection]
        if url.startswith("unix://"):
            kind = redis.UnixDomainSocketConnection
        else:
            kind = redis.SSLConnection if tls else redis.Connection
        self.connection: Any = kind(
            **options,
            **no_client_setinfo(kind),
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
            decode_responses=True,
            encoding_errors="replace",
            command_packer=AllowListPacker(),  # redis-py takes any object with pack()
        )

    def connect(self) -> None:
        self.connection.connect()

    def execute(self, *args: Any, deadline: float) -> Any:
        """Send one command and read its answer before `deadline` (time.monotonic())."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise redis.TimeoutError(f"Timeout: no time left for {command_name(args)}")
        # The socket's own timeout bounds both the send and the read: `read_response(timeout=)`
        # exists only in recent redis-py releases.
        sock = getattr(self.connection, "_sock", None)
        if sock is not None:
            sock.settimeout(left)
        self.connection.send_command(*args, check_health=False)
        return self.connection.read_response()

    def close(self) -> None:
        self.connection.disconnect()


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


def server_unobserved(target: Target[RedisTarget], reason: str) -> RedisStatus:
    return RedisStatus(
        redact_url(target.spec.url),
        error=f"no answer within {target.timeout_s:g} s from {_where(target.spec.url)}"
        f" (the port accepts connections but the server does not answer in time) {TLS_HINT}",
        failure="timeout",
    )


def observe_server(target: Target[RedisTarget], session: ProbeSession) -> RedisStatus:
    """Visit one Redis server once and report what it says, within `target.timeout_s`."""
    spec = target.spec
    address = redact_url(spec.url)
    timeout_s = target.timeout_s
    deadline = time.monotonic() + timeout_s
    try:
        client = ReadOnlyRedis(spec.url, timeout_s=timeout_s, ca_bundle=spec.ca_bundle)
    except (ValueError, redis.RedisError) as exc:
        return RedisStatus(
            address, error=f"invalid Redis URL: {redact_text(str(exc))}", failure="url"
        )
    except Exception as exc:  # e.g. a redis-py release that takes other arguments
        reason = f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"
        return RedisStatus(
            address,
            error=f"cannot set up a Redis client for {address} (redis-py {redis.__version__}):"
            f" {reason}",
            failure="other",
        )
    try:
        return _visit(client, address, spec.queues, deadline)
    except (redis.RedisError, OSError) as exc:
        tls = spec.url.startswith("rediss://")
        failure, reason = explain(exc, _where(spec.url), timeout_s, client.username, tls=tls)
        if failure == "loading":
            reason += _loading_progress(client, deadline)
        return RedisStatus(address, error=reason, failure=failure, db=client.db)
    except Exception as exc:  # a probe reports, it never raises: an answer no server should send
        reason = f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"
        return RedisStatus(
            address,
            error=f"unexpected failure while reading {_where(spec.url)}: {reason}",
            failure="other",
            db=client.db,
        )
    finally:
        client.close()


def _visit(
    client: ReadOnlyRedis, address: str, queues: Mapping[str, int], deadline: float
) -> RedisStatus:
    denied: dict[str, str] = {}

    def optional(*args: Any) -> Any:
        """A command whose refusal (ACL, renamed, disabled) is noted rather than fatal."""
        try:
            return client.execute(*args, deadline=deadline)
        except redis.ResponseError as exc:
            if not refused(exc):
                raise
            denied[command_name(args)] = redact_text(str(exc))
            return None

    client.connect()
    pings: list[float] = []
    for _ in range(PINGS):
        started = time.perf_counter()
        if optional("PING") is None:
            break
        pings.append(round((time.perf_counter() - started) * 1000, 2))
    raw_info = optional("INFO", "all")
    info = parse_info(raw_info) if isinstance(raw_info, str) else {}
    maxmemory, maxclients, source = _limits(optional, info, denied)
    dbsize = optional("DBSIZE")
    lengths: dict[str, int] = {}
    problems: dict[str, str] = {}
    for queue in queues:
        try:
            lengths[queue] = int(client.execute("LLEN", queue, deadline=deadline))
        except redis.ResponseError as exc:
            if not (refused(exc) or "WRONGTYPE" in str(exc)):
                raise
            problems[queue] = redact_text(str(exc))
    latest = optional("LATENCY", "LATEST")
    return RedisStatus(
        address,
        ping_ms=tuple(pings),
        info=info,
        db=client.db,
        maxmemory=maxmemory,
        maxclients=maxclients,
        limits_source=source,
        dbsize=None if dbsize is None else int(dbsize),
        queue_lengths=lengths,
        queue_errors=problems,
        latency_events=_latency_events(latest),
        denied=denied,
    )


def refused(exc: redis.ResponseError) -> bool:
    """True when the server refuses one command (ACL, renamed or disabled, as managed Redis
    does with CONFIG), as opposed to refusing the client altogether."""
    text = str(exc).lower()
    return isinstance(exc, NoPermissionError) or (
        "unknown command" in text or "unknown subcommand" in text
    )


def _limits(
    optional: Any, info: Mapping[str, str], denied: Mapping[str, str]
) -> tuple[int | None, int | None, str]:
    """maxmemory and maxclients from CONFIG GET, or from INFO where CONFIG is refused."""
    found: dict[str, int | None] = {}
    for name in ("maxmemory", "maxclients"):
        answer = optional("CONFIG", "GET", name)
        if isinstance(answer, list) and len(answer) == 2:
            found[name] = _as_int(answer[1])
    if len(found) == 2:
        return found["maxmemory"], found["maxclients"], "CONFIG GET"
    refused = denied.get("CONFIG GET", "no answer")
    return (
        _as_int(info.get("maxmemory")),
        _as_int(info.get("maxclients")),
        f"INFO (CONFIG GET was refused: {refused})",
    )


def _latency_events(answer: Any) -> tuple[LatencyEvent, ...]:
    events = []
    for row in answer if isinstance(answer, list) else []:
        if isinstance(row, list) and len(row) >= 4:
            events.append(LatencyEvent(str(row[0]), int(row[2]), int(row[3])))
    return tuple(events)


def _loading_progress(client: ReadOnlyRedis, deadline: float) -> str:
    """INFO still answers while a dataset loads: say how far along it is."""
    try:
        client.connect()
        fields = parse_info(str(client.execute("INFO", "persistence", deadline=deadline)))
    except Exception:  # best effort, inside observe_server's own error handling
        return ""
    percent, eta = fields.get("loading_loaded_perc"), fields.get("loading_eta_seconds")
    if percent is None:
        return ""
    return f" ({percent}% loaded" + (f", about {eta} s left)" if eta else ")")


def parse_info(text: str) -> dict[str, str]:
    """INFO's `key:value` lines as a flat mapping (section headers dropped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and not key.startswith("#"):
            fields[key] = value
    return fields


TLS_HINT = "(is the port TLS? check redis:// vs rediss://)"


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
    if "refused" in lowered:
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


def _where(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _as_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
