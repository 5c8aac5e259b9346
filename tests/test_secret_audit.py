"""Secret audit: plant a unique sentinel in every secret-bearing field, run the suite against
real systems that accept, reject or refuse those secrets, and search every output for them.

Seeded: PostgreSQL DSN passwords (URL and libpq keyword forms), Redis URL passwords (default
user and ACL user), HTTP userinfo and bearer / API-key headers (health and detailed URLs),
status page userinfo, Prometheus userinfo and bearer header, Kubernetes Secret values (data,
stringData, a TLS private key), a pod's env value, container and event messages, values
expanded from `${VARS}`, and secret values inside an environment file that fails validation.
Passwords holding `/`, `@`, `:`, `#`, `%` and `?` in PostgreSQL, Redis and HTTP URLs, written
raw (the URL no longer parses, and parsers print its start as a port) and percent-encoded (a
real role logs in with one); credential query parameters (`token`, `X-Amz-Signature`,
`X-Amz-Credential`, `key`); header values (`Cookie`, `X-Auth`, `X-Vault-Token`, `Bearer`,
`Basic`) that a server echoes back in its 503 body raw, percent-encoded and in base64, and a
credential in a URL a server echoes that no file configured.

Searched, in raw, percent-encoded and base64 forms: the terminal output (`-rA -vv`), the
JUnit XML (with captured output), every Allure result file, every file of the report
directory (history.jsonl included) and the Pushgateway's /metrics; once serially, once with
`-n 2`, and once more with DEBUG logging on. Each run is a process of its own (`suite_run`):
the terminal output is all the process writes, a C library's writes to its descriptors too.

A field whose secret leaks today is marked xfail (strict) in KNOWN_LEAKS with the bug.

The runs are made once per test session: under xdist the first worker to need them makes them
and the other reads what it wrote. Each field is one test, so a leak fails only its field.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
import yaml
from psycopg import sql

from tests.certs import TestCA
from tests.conftest import suite_run
from tests.pg import fresh_database, shared_cluster
from tests.pushgateway import pushgateway, scrape
from tests.sentinels import AuthServer, Sentinel, basic, find_leaks
from tests.servers import Endpoint, HttpServer, SilentPort, free_port
from vigil.families.kubernetes.snapshot import load_snapshot
from vigil.kube_standin import load_objects
from vigil.sandbox.postgres import PostgresServer
from vigil.sandbox.prometheus import PrometheusServer
from vigil.sandbox.redis import MONITOR_USER, RedisServer

FIXTURE = Path(__file__).parent / "fixtures" / "kubernetes" / "shop-incident.yaml"

# Every secret-bearing field seeded, with where its sentinel goes.
FIELDS: dict[str, str] = {
    # PostgreSQL: accepted (a role with that password), rejected (wrong password), down.
    "pg.url.accepted": "URL DSN password of a real role, from ${AUDIT_PG_PASSWORD}",
    "pg.url.rejected": "URL DSN with a wrong password",
    "pg.url.down": "URL DSN of a port where nothing listens",
    "pg.keyword.accepted": "libpq keyword DSN password of a real role",
    "pg.keyword.rejected": "libpq keyword DSN with a wrong password",
    "pg.keyword.quoted.rejected": "libpq keyword DSN, wrong quoted password with spaces",
    "pg.keyword.punctuation.rejected": "libpq keyword DSN, wrong password with a ';' in it",
    "pg.keyword.escaped-quote.rejected": "libpq keyword DSN, wrong quoted password with a \\'",
    "pg.keyword.down": "libpq keyword DSN of a port where nothing listens",
    # Redis: requirepass (default user) and the ACL monitoring user.
    "redis.default.accepted": "redis://:PW@ for requirepass",
    "redis.acl.accepted": "the ACL user's URL password, from ${AUDIT_REDIS_PASSWORD}",
    "redis.default.rejected": "redis://:PW@ with a wrong password",
    "redis.acl.rejected": "redis://vigil-monitor:PW@ with a wrong password",
    "redis.default.down": "redis://:PW@ of a port where nothing listens",
    "redis.acl.down": "redis://user:PW@ of a port where nothing listens",
    # HTTP services.
    "http.userinfo.healthy": "health URL userinfo, the server requires it",
    "http.userinfo.detailed": "detailed_url userinfo, degraded report",
    "http.bearer.healthy": "Authorization: Bearer header, from ${AUDIT_TOKEN}",
    "http.userinfo.503": "health URL userinfo, 503",
    "http.bearer.503": "Authorization: Bearer header, 503",
    "http.api-key.503": "X-Api-Key header, 503",
    "http.userinfo.detailed.503": "detailed_url userinfo, 503",
    "http.token-userinfo.503": "a token as the whole userinfo (https://TOKEN@host), 503",
    "http.userinfo.refused": "health URL userinfo, connection refused",
    "http.bearer.refused": "Authorization: Bearer header, connection refused",
    "http.userinfo.detailed.refused": "detailed_url userinfo, connection refused",
    "http.query-token.503": "?access_token= in the health URL, 503",
    "http.userinfo.silent": "health URL userinfo, a port that accepts and never answers",
    "http.bearer.silent": "Authorization: Bearer header, a port that never answers",
    "http.userinfo.untrusted-tls": "https:// URL userinfo, certificate from an unknown CA",
    "pg.url.silent": "URL DSN of a port that accepts and never answers",
    "redis.default.silent": "redis://:PW@ of a port that accepts and never answers",
    "status.userinfo.silent": "status page URL userinfo, a port that never answers",
    # Status pages.
    "status.userinfo.operational": "status page URL userinfo, operational",
    "status.userinfo.outage": "status page URL userinfo, major outage",
    "status.userinfo.503": "status page URL userinfo, 503",
    "status.userinfo.refused": "status page URL userinfo, connection refused",
    # Prometheus.
    "prometheus.userinfo.up": "Prometheus URL userinfo, real Prometheus",
    "prometheus.bearer.up": "Prometheus bearer header, real Prometheus",
    "prometheus.userinfo.404": "Prometheus URL userinfo, not a Prometheus (404)",
    "prometheus.bearer.404": "Prometheus bearer header, not a Prometheus (404)",
    "prometheus.userinfo.refused": "Prometheus URL userinfo, connection refused",
    "prometheus.bearer.refused": "Prometheus bearer header, connection refused",
    # Kubernetes (a snapshot served by the stand-in API, read with the official client).
    "k8s.secret.jwt-api": "Secret data JWT_SECRET (audit-api-secrets)",
    "k8s.secret.jwt-worker": "Secret data JWT_SECRET that differs (audit-worker-secrets)",
    "k8s.secret.database-url": "Secret data DATABASE_URL password",
    "k8s.secret.api-token": "Secret data API_TOKEN (missing from the other secret)",
    "k8s.secret.string-data": "Secret stringData REDIS_URL password",
    "k8s.secret.not-base64": "Secret data value that is not valid base64",
    "k8s.tls.private-key": "kubernetes.io/tls Secret tls.key (certificate expiring)",
    "k8s.tls.key-material": "that private key's own PEM body (set when the key is made)",
    "k8s.pod.env-value": "a crash-looping pod's env value",
    "k8s.container.message": "a crash-looping container's waiting message (password=...)",
    "k8s.event.message": "a Warning event's message (a DSN with its password)",
    # Environment files that fail validation.
    "config.unknown-key.url-password": "URL password next to an unknown key",
    "config.unknown-key.bearer": "bearer token inside the unknown key",
    "config.wrong-scheme.redis-url": "a postgresql:// URL with a password where redis:// goes",
    "config.wrong-scheme.http-url": "an ftp:// URL with a password where http:// goes",
    "config.wrong-type.timeout-url": "a Redis URL with a password where a number goes",
    "config.wrong-type.dsn-mapping": "a DSN written as a mapping with a password key",
    "config.special.wrong-scheme": "an ftp:// URL with a raw / @ : # % ? password, where"
    " http:// goes",
    "config.bad-port.wrong-role": "a DSN with a password and port 54x2, next to a bad value",
    # Passwords with the characters URLs reserve, raw (unparsable) and percent-encoded.
    "pg.url.special.raw": "URL DSN, password with / @ : # % ? written raw",
    "pg.url.slash-first.raw": "URL DSN, raw password with a / before the core",
    "pg.url.bad-port": "URL DSN with a password and a port that is not a number (54x2)",
    "pg.url.special.encoded.accepted": "URL DSN, password with / @ : # % ? percent-encoded, a role",
    "redis.url.special.raw": "Redis URL, password with / @ : # % ? written raw",
    "redis.url.slash-first.raw": "Redis URL, raw password with a / before the core",
    "redis.url.special.encoded.rejected": "Redis URL, wrong password with / @ : # % ? encoded",
    "http.userinfo.special.raw": "health URL, password with / @ : # % ? written raw",
    "http.userinfo.slash-first.raw": "health URL, raw password with a / before the core",
    "http.userinfo.special.encoded.echoed": "health URL, encoded special password; the 503 body"
    " echoes the Basic header the client made of it",
    # Credentials in query strings: configured, and echoed by a server without being configured.
    "http.query.token.503": "?token= in the health URL, 503",
    "http.query.amz-signature.503": "?X-Amz-Signature= in the health URL, 503",
    "http.query.amz-credential.503": "&X-Amz-Credential= in the health URL, 503",
    "http.query.key.encoded.503": "?key= percent-encoded in the health URL, 503",
    "http.query.unconfigured.echoed": "X-Amz-Signature in a URL a 503 body shows, configured"
    " nowhere (masked by pattern)",
    # Header values a server echoes back in its 503 body (raw, percent-encoded, base64).
    "http.header.cookie.echoed": "Cookie: session=..., echoed",
    "http.header.x-auth.echoed": "X-Auth header, echoed",
    "http.header.vault-token.echoed": "X-Vault-Token header, echoed",
    "http.header.bearer.echoed": "Authorization: Bearer header, echoed",
    "http.header.basic.echoed": "Authorization: Basic base64(user:password) written in the file,"
    " echoed",
    # The same kinds of fields with DEBUG logging on (-n 2 --log-level=DEBUG).
    "logging.http.userinfo": "health URL userinfo, DEBUG logging",
    "logging.http.bearer": "bearer header, DEBUG logging",
    "logging.pg.url": "URL DSN password, DEBUG logging",
    "logging.redis.url": "Redis URL password, DEBUG logging",
    "logging.status.userinfo": "status page userinfo, DEBUG logging",
    "logging.prometheus.userinfo": "Prometheus URL userinfo, DEBUG logging",
}

# Characters around the random core: some must be percent-encoded in a URL, one hides the
# core behind a character the masking may stop at.
SPECIAL = "/@:#%?"
SUFFIXES = {
    "pg.url.accepted": "+/@:!",
    "pg.url.rejected": "@:%",
    "http.userinfo.healthy": "!$",
    "http.query.key.encoded.503": "/+= &",
    **{name: SPECIAL for name in FIELDS if ".special." in name},
}
PREFIXES = {
    "pg.keyword.punctuation.rejected": "a1;",
    "pg.keyword.escaped-quote.rejected": "ab'",
    **{name: "x/" for name in FIELDS if ".slash-first." in name},
}
QUOTED = {"pg.keyword.quoted.rejected": " with spaces"}


def _fixture_secrets() -> dict[str, str]:
    """Every Secret value of the shared fixture snapshot (itself made of sentinels)."""
    found: dict[str, str] = {}
    for item in load_objects(FIXTURE.read_text()):
        if item.get("kind") != "Secret":
            continue
        for key, encoded in (item.get("data") or {}).items():
            value = base64.b64decode(encoded).decode()
            match = re.search(r"sentinel-[a-z]+-[0-9a-f]+", value)
            found[f"k8s.fixture.{item['metadata']['name']}.{key}"] = match[0] if match else value
    return found


FIXTURE_SECRETS = _fixture_secrets()

# Fields whose secret leaks today. Each is a product bug, described in the reason; the marker
# is strict so the test turns red (XPASS) the day the leak is fixed, to remove the marker.
KNOWN_LEAKS: dict[str, str] = {}  # none known: a leak found is fixed, not recorded


def _make_sentinels() -> dict[str, Sentinel]:
    made = {}
    for name in FIELDS:
        sentinel = Sentinel.make(name, SUFFIXES.get(name, "") + QUOTED.get(name, ""))
        if name in PREFIXES:
            sentinel = Sentinel(name, sentinel.core, PREFIXES[name] + sentinel.value)
        made[name] = sentinel
    for name, value in FIXTURE_SECRETS.items():
        made[name] = Sentinel(name, value, value)
    return made


# --- the systems ---------------------------------------------------------------------------


@dataclass
class Systems:
    pg_port: int
    database: str
    redis_port: int
    http_port: int
    prometheus_url: str
    pushgateway_url: str
    snapshot: Path
    auth: AuthServer
    silent_port: int
    https_port: int


def _pg_roles(cluster_server: PostgresServer, database: str, roles: dict[str, str]) -> None:
    """Login roles with these passwords, allowed to read everything the checks look at."""
    with psycopg.connect(cluster_server.admin_dsn(database), autocommit=True) as conn:
        for role, password in roles.items():
            conn.execute(
                sql.SQL("create role {} login password {} in role pg_monitor").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("grant select on all tables in schema public to {}").format(
                    sql.Identifier(role)
                )
            )


STATUS_OK = {
    "page": {"name": "Provider"},
    "status": {"indicator": "none", "description": "All Systems Operational"},
    "components": [{"name": "API", "status": "operational"}],
    "incidents": [],
}
STATUS_OUTAGE = {
    "page": {"name": "Provider"},
    "status": {"indicator": "major", "description": "Partial System Outage"},
    "components": [{"name": "API", "status": "major_outage"}],
    "incidents": [
        {
            "name": "Elevated API errors",
            "status": "identified",
            "impact": "major",
            "incident_updates": [{"body": "We are on it", "created_at": "2026-01-01T00:00Z"}],
            "components": [{"name": "API"}],
        }
    ],
}
DEGRADED = {"overallStatus": "degraded", "checks": [{"name": "cache", "status": "degraded"}]}
SUMMARY = "/api/v2/summary.json"
UNAVAILABLE = Endpoint(503, {"status": "error", "reason": "upstream unavailable"})


def _auth_routes(s: dict[str, Sentinel]) -> dict[str, tuple[Endpoint, str]]:
    """Each path answers only to the credentials the environment files give for it."""

    def user(name: str, field: str) -> str:
        return basic(name, s[field].value)

    def bearer(field: str) -> str:
        return f"Bearer {s[field].value}"

    ok, status_ok = Endpoint(200, {"status": "ok"}), Endpoint(200, STATUS_OK)
    query_token = s["http.query-token.503"].value
    signature, credential = s["http.query.amz-signature.503"], s["http.query.amz-credential.503"]
    echoed_signature = s["http.query.unconfigured.echoed"].value
    unconfigured = f"https://cdn.example.com/o?X-Amz-Signature={echoed_signature}&a=1"
    return {
        "/echo/basic-special": (UNAVAILABLE, user("svc", "http.userinfo.special.encoded.echoed")),
        f"/query/token?token={s['http.query.token.503'].value}": (UNAVAILABLE, ""),
        f"/query/amz?X-Amz-Signature={signature.value}&X-Amz-Credential={credential.value}": (
            UNAVAILABLE,
            "",
        ),
        f"/query/key?key={quote(s['http.query.key.encoded.503'].value, safe='')}": (
            UNAVAILABLE,
            "",
        ),
        "/echo/unconfigured": (Endpoint(503, {"retry": unconfigured}), ""),
        "/echo/cookie": (UNAVAILABLE, ""),
        "/echo/x-auth": (UNAVAILABLE, ""),
        "/echo/vault": (UNAVAILABLE, ""),
        "/echo/bearer": (UNAVAILABLE, bearer("http.header.bearer.echoed")),
        "/echo/basic": (UNAVAILABLE, user("audit", "http.header.basic.echoed")),
        "/basic/health": (ok, user("svc", "http.userinfo.healthy")),
        "/basic/detailed": (Endpoint(200, DEGRADED), user("svc", "http.userinfo.detailed")),
        "/bearer/health": (ok, bearer("http.bearer.healthy")),
        "/bearer/detailed": (Endpoint(200, DEGRADED), bearer("http.bearer.healthy")),
        "/basic/unavailable": (UNAVAILABLE, user("svc", "http.userinfo.503")),
        "/bearer/unavailable": (UNAVAILABLE, bearer("http.bearer.503")),
        "/basic/unavailable-detailed": (UNAVAILABLE, user("svc", "http.userinfo.detailed.503")),
        "/token/unavailable": (UNAVAILABLE, basic(s["http.token-userinfo.503"].value, "")),
        f"/query/unavailable?access_token={query_token}": (UNAVAILABLE, ""),
        "/basic/ok/api/v2/summary.json": (status_ok, user("sp", "status.userinfo.operational")),
        "/basic/outage/api/v2/summary.json": (
            Endpoint(200, STATUS_OUTAGE),
            user("sp", "status.userinfo.outage"),
        ),
        "/basic/sp503/api/v2/summary.json": (UNAVAILABLE, user("sp", "status.userinfo.503")),
        "/log/health": (ok, user("svc", "logging.http.userinfo")),
        "/log/bearer": (ok, bearer("logging.http.bearer")),
        "/log/api/v2/summary.json": (status_ok, user("sp", "logging.status.userinfo")),
    }


# Paths whose 503 body shows the request's headers back (`AuthServer.echo`).
ECHOED = {
    "/echo/basic-special",
    "/echo/cookie",
    "/echo/x-auth",
    "/echo/vault",
    "/echo/bearer",
    "/echo/basic",
}


def _tls_secret(name: str, not_after: datetime, preamble: str) -> tuple[dict[str, Any], str]:
    """A kubernetes.io/tls Secret: a real certificate, and a private key whose PEM file starts
    with explanatory text (allowed before the BEGIN line) carrying a sentinel; and the first
    line of the key's own PEM body."""
    leaf = TestCA().issue(
        ["audit.example.com"], not_before=not_after - timedelta(days=90), not_after=not_after
    )
    pem = leaf.key_pem
    key = f"{preamble}\n".encode() + pem
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "data": {
            "tls.crt": base64.b64encode(leaf.cert_pem).decode(),
            "tls.key": base64.b64encode(key).decode(),
        },
    }
    return secret, pem.decode().splitlines()[1]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _snapshot(path: Path, s: dict[str, Sentinel]) -> Path:
    """The shared incident fixture, plus secrets, a pod and an event carrying sentinels.
    Registers the TLS key's own material in `s` (it exists only once the key is made)."""
    objects = load_objects(FIXTURE.read_text())
    taken = load_snapshot(FIXTURE).taken_at
    for item in objects:
        name = item.get("metadata", {}).get("name")
        if item.get("kind") == "Pod" and name == "checkout-bb0570e0c5-p8q7r":
            container = item["spec"]["containers"][0]
            container["env"] = [{"name": "DB_PASSWORD", "value": s["k8s.pod.env-value"].value}]
            waiting = item["status"]["containerStatuses"][0]["state"]["waiting"]
            waiting["message"] += f" (last error: password={s['k8s.container.message'].value})"
        if item.get("kind") == "Event" and item.get("reason") == "BackOff":
            item["message"] += (
                f"; dial postgresql://checkout:{s['k8s.event.message'].value}@db:5432/shop failed"
            )
    meta = {"namespace": "shop", "creationTimestamp": "2025-02-28T12:40:00Z"}
    preamble = s["k8s.tls.private-key"].value
    tls, key_line = _tls_secret("audit-tls", taken + timedelta(days=3), preamble)
    s["k8s.tls.key-material"] = Sentinel("k8s.tls.key-material", key_line, key_line)
    objects += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": "audit-api-secrets", **meta},
            "data": {
                "JWT_SECRET": _b64(s["k8s.secret.jwt-api"].value),
                "DATABASE_URL": _b64(
                    f"postgresql://api:{s['k8s.secret.database-url'].value}@db:5432/shop"
                ),
                "API_TOKEN": _b64(s["k8s.secret.api-token"].value),
                "BROKEN": f"not base64! {s['k8s.secret.not-base64'].value}",
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": "audit-worker-secrets", **meta},
            "data": {"JWT_SECRET": _b64(s["k8s.secret.jwt-worker"].value)},
            "stringData": {
                "REDIS_URL": f"redis://:{s['k8s.secret.string-data'].value}@cache:6379/0"
            },
        },
        tls,
    ]
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


# --- the environment files -----------------------------------------------------------------


def _pg_url(user: str, password: str, port: int, database: str) -> str:
    return f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"


def _keyword(port: int, user: str, password: str, database: str) -> str:
    return f"host=127.0.0.1 port={port} user={user} password={password} dbname={database}"


def _libpq_quoted(value: str) -> str:
    """A libpq keyword value in single quotes, with quotes and backslashes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _environments(directory: Path, sy: Systems, s: dict[str, Sentinel]) -> dict[str, Path]:
    """Environment files: up (secrets accepted), bad (rejected, 503, echoed), down (refused),
    broken (fails validation), unparsable (raw reserved characters in passwords: each target
    fails, or the whole file does) and logging (for the DEBUG run)."""

    def pw(field: str) -> str:
        return s[field].value

    def bearer(field: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {pw(field)}"}

    escaped_quote = "pg.keyword.escaped-quote.rejected"
    down, web, pg, db = free_port(), f"127.0.0.1:{sy.http_port}", sy.pg_port, sy.database
    redis_at, prometheus = f"127.0.0.1:{sy.redis_port}/0", sy.prometheus_url.split("//")[1]
    pending = {
        "name": "pending-payouts",
        "query": "select count(*) from payouts where status = 'pending'",
        "max": 0,
    }
    payments = {"name": "payments-exist", "query": "select count(*) from payments", "min": 1}
    common = {
        "runbook_url": "https://runbooks.example.com/audit",
        "timeout_s": 3,
        "vars": {"namespace": "shop", "context": "audit"},
    }
    up = {
        **common,
        "postgres": [
            {
                "name": "pg-url",
                "dsn": f"postgresql://audit_url:${{AUDIT_PG_PASSWORD}}@127.0.0.1:{pg}/{db}",
                "assertions": [pending, payments],
            },
            {
                "name": "pg-keyword",
                "dsn": _keyword(pg, "audit_kw", pw("pg.keyword.accepted"), db),
                "assertions": [pending],
            },
            {
                "name": "pg-special",
                "dsn": _pg_url("audit_special", pw("pg.url.special.encoded.accepted"), pg, db),
            },
        ],
        "redis": [
            {
                "name": "redis-default",
                "url": f"redis://:{pw('redis.default.accepted')}@{redis_at}",
                "min_keys": 1000,
                "queues": {"audit:queue": 10},
            },
            {
                "name": "redis-acl",
                "url": f"redis://{MONITOR_USER}:${{AUDIT_REDIS_PASSWORD}}@{redis_at}",
                "min_keys": 1000,
            },
        ],
        "http": {
            "services": [
                {
                    "name": "svc-basic",
                    "url": f"http://svc:{quote(pw('http.userinfo.healthy'), safe='')}@{web}"
                    "/basic/health",
                    "expect_json": {"status": "ok"},
                    "max_latency_ms": 5000,
                    "detailed_url": f"http://svc:{pw('http.userinfo.detailed')}@{web}"
                    "/basic/detailed",
                },
                {
                    "name": "svc-bearer",
                    "url": f"http://{web}/bearer/health",
                    "headers": {"Authorization": "Bearer ${AUDIT_TOKEN}"},
                    "detailed_url": f"http://{web}/bearer/detailed",
                },
            ]
        },
        "status_pages": [
            {
                "name": "status-ok",
                "url": f"http://sp:{pw('status.userinfo.operational')}@{web}/basic/ok{SUMMARY}",
            },
            {
                "name": "status-outage",
                "url": f"http://sp:{pw('status.userinfo.outage')}@{web}/basic/outage",
            },
        ],
        "prometheus": {
            "url": f"http://prom:{pw('prometheus.userinfo.up')}@{prometheus}",
            "headers": bearer("prometheus.bearer.up"),
            "rules": [
                {"name": "audit-breached", "query": "vector(1)", "max": 0},
                {"name": "audit-ok", "query": "vector(0)", "max": 1},
                {"name": "audit-rejected", "query": "sum(", "max": 1},
            ],
        },
        "kubernetes": {
            "snapshot": str(sy.snapshot),
            "namespaces": ["shop"],
            "required_secrets": {
                "audit-api-secrets": ["JWT_SECRET", "API_TOKEN"],
                "audit-worker-secrets": ["JWT_SECRET", "API_TOKEN", "REDIS_URL"],
            },
            "shared_secret_keys": ["JWT_SECRET"],
        },
    }
    bad = {
        **common,
        "postgres": [
            {
                "name": "pg-url-wrong",
                "dsn": _pg_url("audit_url", pw("pg.url.rejected"), pg, db),
            },
            {
                "name": "pg-keyword-wrong",
                "dsn": _keyword(pg, "audit_kw", pw("pg.keyword.rejected"), db),
            },
            {
                "name": "pg-keyword-quoted",
                "dsn": _keyword(pg, "audit_kw", f"'{pw('pg.keyword.quoted.rejected')}'", db),
            },
            {
                "name": "pg-keyword-punctuation",
                "dsn": _keyword(pg, "audit_kw", pw("pg.keyword.punctuation.rejected"), db),
            },
            {
                "name": "pg-keyword-escaped-quote",
                "dsn": _keyword(pg, "audit_kw", _libpq_quoted(pw(escaped_quote)), db),
            },
        ],
        "redis": [
            {
                "name": "redis-default-wrong",
                "url": f"redis://:{pw('redis.default.rejected')}@{redis_at}",
            },
            {
                "name": "redis-acl-wrong",
                "url": f"redis://{MONITOR_USER}:{pw('redis.acl.rejected')}@{redis_at}",
            },
            {
                "name": "redis-special-encoded",
                "url": f"redis://:{quote(pw('redis.url.special.encoded.rejected'), safe='')}"
                f"@{redis_at}",
            },
        ],
        "http": {
            "services": [
                {
                    "name": "svc-basic-503",
                    "url": f"http://svc:{pw('http.userinfo.503')}@{web}/basic/unavailable",
                },
                {
                    "name": "svc-bearer-503",
                    "url": f"http://{web}/bearer/unavailable",
                    "headers": {**bearer("http.bearer.503"), "X-Api-Key": pw("http.api-key.503")},
                    "detailed_url": f"http://svc:{pw('http.userinfo.detailed.503')}@{web}"
                    "/basic/unavailable-detailed",
                },
                {
                    "name": "svc-token-503",
                    "url": f"http://{pw('http.token-userinfo.503')}@{web}/token/unavailable",
                },
                {
                    "name": "svc-query-503",
                    "url": f"http://{web}/query/unavailable"
                    f"?access_token={pw('http.query-token.503')}",
                },
                *_echoing_services(web, s),
            ]
        },
        "status_pages": [
            {
                "name": "status-503",
                "url": f"http://sp:{pw('status.userinfo.503')}@{web}/basic/sp503{SUMMARY}",
            },
        ],
        "prometheus": {
            "url": f"http://prom:{pw('prometheus.userinfo.404')}@{web}/prom",
            "headers": bearer("prometheus.bearer.404"),
            "rules": [{"name": "audit-unreachable", "query": "vector(1)", "max": 0}],
        },
    }
    silent = f"127.0.0.1:{sy.silent_port}"
    gone = {
        **common,
        "postgres": [
            {"name": "pg-url-down", "dsn": _pg_url("audit_url", pw("pg.url.down"), down, "app")},
            {
                "name": "pg-silent",
                "dsn": _pg_url("audit_url", pw("pg.url.silent"), sy.silent_port, "app"),
                "timeout_s": 1,
            },
            {
                "name": "pg-keyword-down",
                "dsn": _keyword(down, "audit_kw", pw("pg.keyword.down"), "app"),
            },
        ],
        "redis": [
            {
                "name": "redis-default-down",
                "url": f"redis://:{pw('redis.default.down')}@127.0.0.1:{down}/0",
            },
            {
                "name": "redis-acl-down",
                "url": f"redis://{MONITOR_USER}:{pw('redis.acl.down')}@127.0.0.1:{down}/0",
            },
            {
                "name": "redis-silent",
                "url": f"redis://:{pw('redis.default.silent')}@{silent}/0",
                "timeout_s": 1,
            },
        ],
        "http": {
            "services": [
                {
                    "name": "svc-refused",
                    "url": f"http://svc:{pw('http.userinfo.refused')}@127.0.0.1:{down}/health",
                    "headers": bearer("http.bearer.refused"),
                    "detailed_url": f"http://svc:{pw('http.userinfo.detailed.refused')}"
                    f"@127.0.0.1:{down}/detailed",
                },
                {
                    "name": "svc-silent",
                    "url": f"http://svc:{pw('http.userinfo.silent')}@{silent}/health",
                    "headers": bearer("http.bearer.silent"),
                    "timeout_s": 1,
                },
                {
                    "name": "svc-untrusted",
                    "url": f"https://svc:{pw('http.userinfo.untrusted-tls')}@127.0.0.1:"
                    f"{sy.https_port}/h",
                },
            ]
        },
        "status_pages": [
            {
                "name": "status-refused",
                "url": f"http://sp:{pw('status.userinfo.refused')}@127.0.0.1:{down}/status",
            },
            {
                "name": "status-silent",
                "url": f"http://sp:{pw('status.userinfo.silent')}@{silent}/s",
                "timeout_s": 1,
            },
        ],
        "prometheus": {
            "url": f"http://prom:{pw('prometheus.userinfo.refused')}@127.0.0.1:{down}",
            "headers": bearer("prometheus.bearer.refused"),
        },
    }
    broken = {
        **common,
        "timeout_s": f"redis://:{pw('config.wrong-type.timeout-url')}@127.0.0.1:6379/0",
        "http": {
            "services": [
                {
                    "name": "svc",
                    "url": f"http://svc:{pw('config.unknown-key.url-password')}@{web}/health",
                    "headerz": bearer("config.unknown-key.bearer"),
                },
                {"name": "svc-ftp", "url": f"ftp://svc:{pw('config.wrong-scheme.http-url')}@{web}"},
                {
                    "name": "svc-ftp-raw",
                    "url": f"ftp://svc:{pw('config.special.wrong-scheme')}@{web}",
                },
            ]
        },
        "redis": [
            {
                "name": "cache",
                "url": f"postgresql://app:{pw('config.wrong-scheme.redis-url')}@127.0.0.1/app",
            }
        ],
        "postgres": [
            {
                "name": "main",
                "dsn": {"password": pw("config.wrong-type.dsn-mapping"), "host": "127.0.0.1"},
            },
            {
                "name": "bad-port",
                "dsn": _raw_pg(pw("config.bad-port.wrong-role"), "54x2", "app"),
                "role": "leader",
            },
        ],
    }
    logged = {
        **common,
        "postgres": [{"name": "pg-log", "dsn": _pg_url("audit_log", pw("logging.pg.url"), pg, db)}],
        "redis": [
            {"name": "redis-log", "url": f"redis://audit-log:{pw('logging.redis.url')}@{redis_at}"}
        ],
        "http": {
            "services": [
                {
                    "name": "svc-log",
                    "url": f"http://svc:{pw('logging.http.userinfo')}@{web}/log/health",
                },
                {
                    "name": "svc-log-bearer",
                    "url": f"http://{web}/log/bearer",
                    "headers": bearer("logging.http.bearer"),
                },
            ]
        },
        "status_pages": [
            {"name": "status-log", "url": f"http://sp:{pw('logging.status.userinfo')}@{web}/log"}
        ],
        "prometheus": {"url": f"http://prom:{pw('logging.prometheus.userinfo')}@{prometheus}"},
    }
    raw = "http.userinfo.special.raw", "http.userinfo.slash-first.raw"
    unparsable = {
        **common,
        "postgres": [
            {"name": "pg-special-raw", "dsn": _raw_pg(pw("pg.url.special.raw"), pg, db)},
            {"name": "pg-slash-first-raw", "dsn": _raw_pg(pw("pg.url.slash-first.raw"), pg, db)},
            {"name": "pg-bad-port", "dsn": _raw_pg(pw("pg.url.bad-port"), "54x2", db)},
        ],
        "redis": [
            {"name": "redis-special-raw", "url": f"redis://:{pw('redis.url.special.raw')}@{redis_at}"},
            {"name": "redis-slash-first-raw",
             "url": f"redis://:{pw('redis.url.slash-first.raw')}@{redis_at}"},
        ],
        "http": {
            "services": [
                {"name": "svc-special-raw", "url": f"http://svc:{pw(raw[0])}@{web}/basic/health"},
                {"name": "svc-slash-first-raw", "url": f"http://svc:{pw(raw[1])}@{web}/basic/health"},
            ]
        },
    }  # fmt: skip
    contents = {
        "audit-up": up,
        "audit-bad": bad,
        "audit-down": gone,
        "audit-broken": broken,
        "audit-unparsable": unparsable,
    }
    files = {}
    for name, content in {**contents, "audit-logging": logged}.items():
        files[name] = directory / f"{name}.yaml"
        files[name].write_text(yaml.safe_dump(content, sort_keys=False))
    return files


def _raw_pg(password: str, port: object, database: str) -> str:
    """A URL DSN with the password as generated, reserved characters not percent-encoded."""
    return f"postgresql://audit_url:{password}@127.0.0.1:{port}/{database}"


def _echoing_services(web: str, s: dict[str, Sentinel]) -> list[dict[str, Any]]:
    """HTTP services whose 503 body shows credentials back: their own headers (raw,
    percent-encoded, base64), or a signed URL nobody configured."""

    def pw(field: str) -> str:
        return s[field].value

    special = quote(pw("http.userinfo.special.encoded.echoed"), safe="")
    signature, credential = pw("http.query.amz-signature.503"), pw("http.query.amz-credential.503")
    return [
        {"name": "svc-special-echoed", "url": f"http://svc:{special}@{web}/echo/basic-special"},
        {"name": "svc-query-token", "url": f"http://{web}/query/token?token={pw('http.query.token.503')}"},
        {"name": "svc-query-amz",
         "url": f"http://{web}/query/amz?X-Amz-Signature={signature}&X-Amz-Credential={credential}"},
        {"name": "svc-query-key",
         "url": f"http://{web}/query/key?key={quote(pw('http.query.key.encoded.503'), safe='')}"},
        {"name": "svc-echo-unconfigured", "url": f"http://{web}/echo/unconfigured"},
        {"name": "svc-echo-cookie", "url": f"http://{web}/echo/cookie",
         "headers": {"Cookie": f"session={pw('http.header.cookie.echoed')}"}},
        {"name": "svc-echo-x-auth", "url": f"http://{web}/echo/x-auth",
         "headers": {"X-Auth": pw("http.header.x-auth.echoed")}},
        {"name": "svc-echo-vault", "url": f"http://{web}/echo/vault",
         "headers": {"X-Vault-Token": pw("http.header.vault-token.echoed")}},
        {"name": "svc-echo-bearer", "url": f"http://{web}/echo/bearer",
         "headers": {"Authorization": f"Bearer {pw('http.header.bearer.echoed')}"}},
        {"name": "svc-echo-basic", "url": f"http://{web}/echo/basic",
         "headers": {"Authorization": basic("audit", pw("http.header.basic.echoed"))}},
    ]  # fmt: skip


# --- running the suite and collecting every output ------------------------------------------


@dataclass
class Run:
    name: str
    returncode: int
    seconds: float
    outcomes: dict[str, str]
    outputs: dict[str, str]  # output name -> its text

    @property
    def terminal(self) -> str:
        return self.outputs[f"{self.name}: terminal"]


def _read_tree(root: Path, label: str) -> dict[str, str]:
    return {
        f"{label}/{path.relative_to(root)}": path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _run(
    name: str, work: Path, envs: list[Path], variables: dict[str, str], gateway: str, *extra: str
) -> Run:
    """`pytest checks` as a user runs it, with every output on, and everything it wrote."""
    allure = work / f"{name}-allure"
    run = suite_run(
        work,
        *(f"--env={env}" for env in envs),
        f"--alluredir={allure}",
        f"--pushgateway={gateway}",
        "-rA",
        "-vv",
        *extra,
        env=variables,
        report_dir=work / "reports",  # shared by the runs, so history.jsonl grows
        junit_logging="all",
    )
    junit = run.junit_path
    outputs = {f"{name}: terminal": run.output}
    outputs[f"{name}: junit.xml"] = junit.read_text() if junit and junit.exists() else ""
    outputs |= _read_tree(allure, f"{name}: allure")
    outputs |= _read_tree(run.report_dir, f"{name}: reports")
    outputs[f"{name}: pushgateway /metrics"] = scrape(gateway)
    outcomes = run.outcomes() if run.junit is not None else {}
    return Run(name, run.returncode, run.seconds, outcomes, outputs)


@dataclass
class Audit:
    sentinels: dict[str, Sentinel]
    runs: dict[str, Run]
    authorized: list[str]  # paths the AuthServer served to correctly authenticated requests

    def outputs(self) -> dict[str, str]:
        return {label: text for run in self.runs.values() for label, text in run.outputs.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Audit:
        return cls(
            {k: Sentinel(**v) for k, v in data["sentinels"].items()},
            {k: Run(**v) for k, v in data["runs"].items()},
            data["authorized"],
        )


@contextmanager
def _systems(config: pytest.Config, work: Path, s: dict[str, Sentinel]) -> Iterator[Systems]:
    """Start everything the environment files point at; stop it afterwards."""
    with ExitStack() as stack:
        cluster = shared_cluster(config)
        database = stack.enter_context(fresh_database(cluster, "audit"))
        roles = {
            "audit_url": s["pg.url.accepted"].value,
            "audit_kw": s["pg.keyword.accepted"].value,
            "audit_log": s["logging.pg.url"].value,
            "audit_special": s["pg.url.special.encoded.accepted"].value,
        }
        _pg_roles(cluster.server, database, roles)
        redis_server = RedisServer(
            work / "redis",
            {
                "requirepass": s["redis.default.accepted"].value,
                "user": f"audit-log on >{s['logging.redis.url'].value} ~* &* +@all",
            },
            monitor_password=s["redis.acl.accepted"].value,
        ).start()
        stack.callback(redis_server.stop)
        auth = AuthServer(_auth_routes(s), ECHOED)
        stack.callback(auth.close)
        prometheus = PrometheusServer({}).start()
        stack.callback(prometheus.stop)
        gateway = stack.enter_context(pushgateway())
        snapshot = _snapshot(work / "snapshot.yaml", s)
        silent = SilentPort()
        stack.callback(silent.close)
        unknown_ca = TestCA().server_context()  # a CA in no trust store
        https = HttpServer({"/h": Endpoint(200, {"status": "ok"})}, unknown_ca)
        stack.callback(https.close)
        yield Systems(cluster.server.port, database, redis_server.port, auth.port,
                      prometheus.url, gateway, snapshot, auth, silent.port, https.port)  # fmt: skip


def _perform(config: pytest.Config, work: Path) -> Audit:
    work.mkdir(parents=True, exist_ok=True)
    s = _make_sentinels()
    with _systems(config, work, s) as sy:
        files = _environments(work, sy, s)
        variables = {
            "AUDIT_PG_PASSWORD": quote(s["pg.url.accepted"].value, safe=""),
            "AUDIT_REDIS_PASSWORD": s["redis.acl.accepted"].value,
            "AUDIT_TOKEN": s["http.bearer.healthy"].value,
        }
        main = [
            files[n]
            for n in ("audit-up", "audit-bad", "audit-down", "audit-broken", "audit-unparsable")
        ]
        gateway = sy.pushgateway_url
        runs = [
            _run("serial", work, main, variables, gateway),
            _run("parallel", work, main, variables, gateway, "-n", "2"),
            _run("logging", work, [files["audit-logging"]], variables, gateway,
                 "-n", "2", "--log-level=DEBUG"),
        ]  # fmt: skip
        authorized = sorted(set(sy.auth.authorized))
    return Audit(s, {r.name: r for r in runs}, authorized)


@pytest.fixture(scope="module")
def audit(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Audit:
    """The audit's runs, made once per session: under xdist, by the first worker that needs
    them (the others wait on a lock and read the result)."""
    if not hasattr(request.config, "workerinput"):
        return _perform(request.config, tmp_path_factory.mktemp("secret-audit"))
    shared = tmp_path_factory.getbasetemp().parent / "secret-audit"
    shared.mkdir(exist_ok=True)
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "audit.json"
        if not done.exists():
            made = _perform(request.config, shared / f"work-{os.getpid()}")
            done.write_text(json.dumps(asdict(made)))
        return Audit.from_json(json.loads(done.read_text()))


# --- the audit -----------------------------------------------------------------------------


def _field_params() -> list[Any]:
    names = [*FIELDS, *FIXTURE_SECRETS]
    return [
        pytest.param(
            name,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_LEAKS[name])]
            if name in KNOWN_LEAKS
            else [],
        )
        for name in names
    ]


@pytest.mark.parametrize("field", _field_params())
def test_secret_appears_in_no_output(audit: Audit, field: str) -> None:
    sentinel = audit.sentinels[field]
    leaks = find_leaks(sentinel, audit.outputs())
    where = "\n".join(f"  {leak.describe()}" for leak in leaks[:20])
    more = f"\n  ... and {len(leaks) - 20} more" if len(leaks) > 20 else ""
    assert not leaks, (
        f"the secret of {field} ({FIELDS.get(field, 'fixture snapshot Secret value')}) leaked"
        f" in {len({leak.output for leak in leaks})} output(s):\n{where}{more}"
    )


def test_the_search_finds_encoded_and_embedded_secrets() -> None:
    """The search itself: a secret is found however it was embedded and encoded."""
    sentinel = Sentinel.make("self-test", "@:/ !")
    url = f"postgresql://app:{quote(sentinel.value, safe='')}@db:5432/app"
    found_in = {
        "percent-encoded in a URL": url,
        "Basic header": basic("app", sentinel.value),
        **{
            f"base64 after {n} bytes": base64.b64encode(b"x" * n + url.encode()).decode()
            for n in range(3)
        },
        "base64url": base64.urlsafe_b64encode(f"JWT={sentinel.value}".encode()).decode(),
    }
    for label, text in found_in.items():
        assert find_leaks(sentinel, {label: text}), label
    assert not find_leaks(sentinel, {"masked": "postgresql://app:***@db:5432/app"})


def test_every_output_was_searched(audit: Audit) -> None:
    """The audit read real, complete outputs of every kind from every run."""
    for name, run in audit.runs.items():
        labels = list(run.outputs)
        assert run.outcomes, f"{name}: no JUnit XML\n{run.terminal[-3000:]}"
        assert "vigil readiness" in run.terminal, run.terminal[-3000:]
        allure = [label for label in labels if ": allure/" in label]
        assert any(label.endswith("-result.json") for label in allure), labels
        if name != "logging":  # that run has no failure, so no remediation to attach
            assert any(label.endswith("-attachment.txt") for label in allure), labels
        for report in ("readiness.md", "readiness.html", "results.json", "history.jsonl"):
            assert f"{name}: reports/{report}" in labels, labels
        assert 'vigil_ready{environment="audit-' in run.outputs[f"{name}: pushgateway /metrics"]
    history = audit.runs["logging"].outputs["logging: reports/history.jsonl"]
    assert len(history.splitlines()) == 3
    for label in ("serial", "parallel"):
        junit = audit.runs[label].outputs[f"{label}: junit.xml"]
        assert 'name="remediation"' in junit and 'name="evidence"' in junit
        assert "look closer:" in audit.runs[label].terminal


def test_secrets_reached_the_systems(audit: Audit) -> None:
    """Not vacuous: the right secrets got in, the wrong ones were refused, the failures with
    secrets nearby (messages, evidence, remediation) were all rendered."""
    for name in ("serial", "parallel"):
        run, out = audit.runs[name], audit.runs[name].terminal
        outcome = run.outcomes
        expected = {
            "test_database_reachable[audit-up/pg-url]": "passed",
            "test_database_reachable[audit-up/pg-keyword]": "passed",
            "test_data_assertion[audit-up/pg-url/payments-exist]": "passed",
            "test_data_assertion[audit-up/pg-url/pending-payouts]": "failed",
            "test_data_assertion[audit-up/pg-keyword/pending-payouts]": "failed",
            "test_database_reachable[audit-bad/pg-url-wrong]": "failed",
            "test_database_reachable[audit-bad/pg-keyword-wrong]": "failed",
            "test_database_reachable[audit-bad/pg-keyword-quoted]": "failed",
            "test_database_reachable[audit-bad/pg-keyword-punctuation]": "failed",
            "test_database_reachable[audit-bad/pg-keyword-escaped-quote]": "failed",
            "test_database_reachable[audit-down/pg-url-down]": "failed",
            "test_ping[audit-up/redis-default]": "passed",
            "test_ping[audit-up/redis-acl]": "passed",
            "test_key_count[audit-up/redis-acl]": "failed",
            "test_ping[audit-bad/redis-default-wrong]": "failed",
            "test_ping[audit-bad/redis-acl-wrong]": "failed",
            "test_ping[audit-down/redis-acl-down]": "failed",
            "test_health_endpoint[audit-up/svc-basic]": "passed",
            "test_health_body[audit-up/svc-basic]": "passed",
            "test_health_endpoint[audit-up/svc-bearer]": "passed",
            "test_components_healthy[audit-up/svc-basic]": "failed",
            "test_components_healthy[audit-up/svc-bearer]": "failed",
            "test_health_endpoint[audit-bad/svc-basic-503]": "failed",
            "test_health_endpoint[audit-bad/svc-bearer-503]": "failed",
            "test_health_endpoint[audit-bad/svc-token-503]": "failed",
            "test_health_endpoint[audit-bad/svc-query-503]": "failed",
            "test_health_endpoint[audit-down/svc-refused]": "failed",
            "test_health_endpoint[audit-down/svc-silent]": "failed",
            "test_health_endpoint[audit-down/svc-untrusted]": "failed",
            "test_database_reachable[audit-down/pg-silent]": "failed",
            "test_ping[audit-down/redis-silent]": "failed",
            "test_provider_operational[audit-down/status-silent]": "failed",
            "test_provider_operational[audit-up/status-ok]": "passed",
            "test_provider_operational[audit-up/status-outage]": "failed",
            "test_provider_operational[audit-bad/status-503]": "failed",
            "test_provider_operational[audit-down/status-refused]": "failed",
            "test_prometheus_up[audit-up/prometheus]": "passed",
            "test_prometheus_rule[audit-up/audit-ok]": "passed",
            "test_prometheus_rule[audit-up/audit-breached]": "failed",
            "test_prometheus_rule[audit-up/audit-rejected]": "failed",
            "test_prometheus_up[audit-bad/prometheus]": "failed",
            "test_prometheus_up[audit-down/prometheus]": "failed",
            "test_required_secrets_present[audit-up/shop]": "failed",
            "test_shared_secrets_consistent[audit-up/shop]": "failed",
            "test_tls_secrets_not_expiring_soon[audit-up/shop]": "failed",
            "test_no_crash_looping_pods[audit-up/shop]": "failed",
            "environment[audit-broken]": "failed",
            # Reserved characters: percent-encoded, the password works (or is refused).
            "test_database_reachable[audit-up/pg-special]": "passed",
            "test_ping[audit-bad/redis-special-encoded]": "failed",
            **{
                f"test_health_endpoint[audit-bad/{service['name']}]": "failed"
                for service in _echoing_services("", audit.sentinels)
            },
        }
        assert {k: outcome.get(k) for k in expected} == expected, out[-5000:]
        # Written raw they make unusable URLs: each target fails, or the file does.
        unparsable = {k: v for k, v in outcome.items() if "audit-unparsable" in k}
        assert unparsable and set(unparsable.values()) == {"failed"}, unparsable
        # The echoes came back, masked where they stand.
        assert '"X-Auth": "***"' in out and '"X-Vault-Token": ***' in out, out[-5000:]
        assert "?X-Amz-Signature=***&a=1" in out
        # Each wrong secret was refused by the real server, for that reason.
        assert "authentication failed for user audit_url on 127.0.0.1" in out
        assert "authentication failed for user audit_kw on 127.0.0.1" in out
        assert "authentication as user 'default' failed" in out
        assert f"authentication as user '{MONITOR_USER}' failed" in out
        assert "connection refused" in out
        assert "TLS handshake with 127.0.0.1:" in out
        assert "timed out" in out or "no complete response within" in out
        assert "HTTP 503 from GET http://svc:***@127.0.0.1" in out
        # Masked forms show where the secrets were (so the probes did hold them).
        assert 'psql "postgresql://audit_url:***@127.0.0.1:' in out
        assert "password=***" in out
        assert f"redis://{MONITOR_USER}:***@127.0.0.1" in out
        # Kubernetes: the secret checks judged the planted values.
        assert "secret/audit-worker-secrets: lacks key API_TOKEN" in out
        assert re.search(r"JWT_SECRET: \d+ different values.*audit-worker-secrets", out), out
        assert "secret/audit-tls" in out
        # The broken file's problems were all reported, naming the keys.
        for problem in (
            "http.services[0].headerz: unknown key",
            "http.services[1].url: must start with http:// or https://",
            "redis[0].url: must start with redis://",
            "timeout_s: expected a number",
            "postgres[0].dsn: expected text",
        ):
            assert problem in out, out[-5000:]
    assert audit.runs["serial"].outcomes == audit.runs["parallel"].outcomes
    # The HTTP server answered these (200 or 503) only to the planted credentials.
    assert set(audit.authorized) >= {
        "/basic/health",
        "/basic/detailed",
        "/bearer/health",
        "/bearer/detailed",
        "/basic/ok/api/v2/summary.json",
        "/basic/outage/api/v2/summary.json",
        "/basic/unavailable",
        "/bearer/unavailable",
        "/basic/unavailable-detailed",
        "/token/unavailable",
        "/basic/sp503/api/v2/summary.json",
        "/log/health",
        "/log/bearer",
        "/log/api/v2/summary.json",
        *ECHOED,
        "/echo/unconfigured",
        *(p for p in _auth_routes(audit.sentinels) if p.startswith(("/query/token", "/query/amz"))),
        *(p for p in _auth_routes(audit.sentinels) if p.startswith("/query/key")),
    }, audit.authorized
    logging = audit.runs["logging"]
    for check in (
        "test_database_reachable[audit-logging/pg-log]",
        "test_ping[audit-logging/redis-log]",
        "test_health_endpoint[audit-logging/svc-log]",
        "test_health_endpoint[audit-logging/svc-log-bearer]",
        "test_provider_operational[audit-logging/status-log]",
        "test_prometheus_up[audit-logging/prometheus]",
    ):
        assert logging.outcomes.get(check) == "passed", logging.terminal[-4000:]
    # The plugin keeps client libraries (which log request URLs) at WARNING even in a DEBUG run.
    assert "HTTP Request:" not in logging.terminal
