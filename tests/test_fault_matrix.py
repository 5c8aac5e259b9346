"""The fault matrix: every family put into every fault that applies to it, for real, black-box.

Each scenario builds environment files whose targets are broken for real (a free port, a port
that never answers, HTML where JSON is expected, a non-Redis server on the Redis port, a
certificate for another name, an unresolvable host, a wrong password, a 403 from the
Kubernetes API, a statement timeout, a Redis still LOADING...) and runs `pytest checks` on them
in this process (in a process of its own inside a network namespace for unresolvable hosts).
Every check of a faulty target must fail (never a pytest ERROR) with its reason and its
runbook block, nothing else may be collected, nothing may crash, and the run must cost one
timeout: end within three times the timeout plus its start-up (`SuiteRun.budget`).

| fault                       | http     | pg         | redis      | k8s | tls      | prom | page |
| --------------------------- | -------- | ---------- | ---------- | --- | -------- | ---- | ---- |
| refused                     | x        | x          | x          | x   | x        | x    | x    |
| accepts, never answers      | x        | x          | x          | x   | x        | x    | x    |
| unresolvable host (netns)   | x        | x          | x          | x   | x        | x    | x    |
| slower than the timeout     | x        |            | x          | x   |          | x    | x    |
| slower than latency ceiling | x        |            | x          |     |          |      |      |
| HTML instead of JSON        | x        |            |            | x   |          | x    | x    |
| other server on the port    | plain    | http, junk | http, junk |     | plain    |      |      |
| TLS mismatch                | name, CA | require    | CA, plain  | CA  | name, CA | CA   | CA   |
| wrong credentials           | 401      | pw, user   | pw, user   | 401 |          | 401  | 401  |
| 403 from the Kubernetes API |          |            |            | x   |          |      |      |
| statement timeout           |          | x          |            |     |          |      |      |
| LOADING                     |          |            | x          |     |          |      |      |

The last tests are regression tests for bugs this matrix found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from tests.certs import TestCA, in_days
from tests.conftest import SuiteRun
from tests.faults import (
    SECRET,
    Lab,
    Part,
    Reason,
    Row,
    check_run,
    http_part,
    kubernetes_part,
    postgres_part,
    prometheus_part,
    redis_part,
    run_isolated,
    status_page_part,
    tls_part,
    write_environments,
)
from tests.servers import Endpoint, free_port
from vigil.kube_standin.api import CERT_MANAGER, RESOURCES
from vigil.sandbox.kube_tls import certificate
from vigil.sandbox.postgres import MONITOR_ROLE

TIMEOUT_S = 2
NOWHERE = "no-such-host.invalid"
NAME = "api.vigil.test"
HTML = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
KUBE_UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 401,
                     "message": "Unauthorized", "reason": "Unauthorized"}  # fmt: skip
ORDERS = {"name": "orders-stuck", "query": "select count(*) from orders", "max": 0}

POSTGRES_CHECKS = {
    "test_database_reachable",
    "test_connection_usage_warning",
    "test_connection_usage_critical",
    "test_no_long_running_queries",
    "test_no_idle_transactions",
    "test_no_blocked_queries",
}
REDIS_CHECKS = {
    "test_ping",
    "test_memory_usage",
    "test_no_evictions",
    "test_no_rejected_connections",
    "test_client_connections",
    "test_persistence",
}
TLS_EXPIRY_CHECKS = {
    "test_certificate_not_expiring",
    "test_certificate_not_expiring_soon",
    "test_certificate_not_expiring_within_a_day",
    "test_certificate_not_expired",
}


# --- every family at one address -----------------------------------------------------------


def every_family(lab: Lab, host: str, port: int) -> list[Part]:
    """One target of each family at host:port, with every optional check switched on."""
    url = f"http://{host}:{port}"
    return [
        http_part(
            "web",
            f"{url}/health",
            expect_json={"status": "ok"},
            max_latency_ms=500,
            detailed_url=f"{url}/health/detailed",
        ),
        postgres_part(
            "db",
            f"postgresql://vigil:{SECRET}@{host}:{port}/app",
            role="primary",
            max_mean_statement_ms=1000,
            assertions=[ORDERS],
        ),
        redis_part(
            "cache",
            f"redis://{host}:{port}/0",
            role="primary",
            max_latency_ms=50,
            min_keys=1,
            queues={"payment:retry:queue": 100},
            min_cache_hit_ratio=0.5,
        ),
        kubernetes_part(lab.kubeconfig(url)),
        tls_part("edge", host, port),
        prometheus_part(url),
        status_page_part("provider", f"{url}/api/v2/summary.json"),
    ]


# What the Kubernetes family says when the API sends nothing in time: the probe's own words
# ("the Kubernetes API at URL did not answer all 12 list requests within 2 s") or the
# session's at the total time ("the Kubernetes API did not send namespace shop's objects
# within 2 s").
KUBE_SILENT = ("the Kubernetes API", " did not ", f"within {TIMEOUT_S} s")
# What the PostgreSQL family says of a server that accepts and never answers: "no answer from
# HOST:PORT within 2 s" (the session's cut), or, for an assertion sharing the database's
# session, that session's own "connection to HOST:PORT timed out after 2 s (no answer from
# the server)", whichever comes first.
PG_SILENT = ("no answer from ", f" {TIMEOUT_S} s")

# What each family says when the whole address is refused, silent or unresolvable.
ADDRESS_FAULTS: dict[str, dict[str, Reason]] = {
    "refused": {
        "http": "connection refused by 127.0.0.1:",
        "postgres": "connection refused by 127.0.0.1:",
        "redis": "connection refused by 127.0.0.1:",
        "kubernetes": "connection refused",
        "tls": "connection refused by 127.0.0.1:",
        "prometheus": "connection refused by 127.0.0.1:",
        "status pages": "connection refused by 127.0.0.1:",
    },
    "accepts, never answers": {
        "http": f"no complete response within {TIMEOUT_S} s",
        "postgres": ("127.0.0.1:", *PG_SILENT),
        "redis": f"no answer within {TIMEOUT_S} s",
        "kubernetes": KUBE_SILENT,
        "tls": "no TLS handshake from 127.0.0.1:",
        "prometheus": f"no complete response within {TIMEOUT_S} s",
        "status pages": f"no complete response within {TIMEOUT_S} s",
    },
    "unresolvable host": {
        "http": f"cannot resolve host '{NOWHERE}'",
        "postgres": f"failed to resolve host '{NOWHERE}'",
        # Names the host, but not as a resolution failure: see the last test.
        "redis": f"cannot resolve the host of {NOWHERE}:",
        "kubernetes": f"Failed to resolve '{NOWHERE}'",
        "tls": f"cannot resolve host '{NOWHERE}'",
        "prometheus": f"cannot resolve host '{NOWHERE}'",
        "status pages": f"cannot resolve host '{NOWHERE}'",
    },
}


def address_rows(lab: Lab, fault: str, host: str, port: int) -> list[Row]:
    reasons = ADDRESS_FAULTS[fault]
    return [Row(fault, part, reasons[part.family]) for part in every_family(lab, host, port)]


def refused(lab: Lab) -> list[Row]:
    return address_rows(lab, "refused", "127.0.0.1", free_port())


def never_answers(lab: Lab) -> list[Row]:
    return address_rows(lab, "accepts, never answers", "127.0.0.1", lab.silent())


def unresolvable(lab: Lab) -> list[Row]:
    return address_rows(lab, "unresolvable host", NOWHERE, 5432)


# --- faults of one kind across the families -------------------------------------------------


def slow(lab: Lab) -> list[Row]:
    late = lab.everywhere(Endpoint(200, {"status": "ok"}, delay_s=TIMEOUT_S + 1.5))
    sluggish = lab.http({"/health": Endpoint(200, {"status": "ok"}, delay_s=0.6)})
    redis = lab.farm.healthy()
    late_redis = lab.farm.delayed(redis.port, delay_s=TIMEOUT_S + 1.5)
    sluggish_redis = lab.farm.delayed(redis.port, delay_s=0.03)
    beyond = "slower than the timeout"
    ceiling = "slower than its latency ceiling"
    no_answer = f"no complete response within {TIMEOUT_S} s"
    return [
        Row(
            beyond,
            http_part("late", late.url("/health"), expect_json={"status": "ok"}, max_latency_ms=1),
            no_answer,
        ),
        Row(
            ceiling,
            http_part("sluggish", sluggish.url("/health"), max_latency_ms=200),
            "(max 200 ms)",
            passing=frozenset({"test_health_endpoint"}),
        ),
        Row(
            beyond,
            redis_part("redis-late", f"redis://127.0.0.1:{late_redis}/0"),
            f"no answer within {TIMEOUT_S} s",
        ),
        Row(
            ceiling,
            # A dozen 60 ms round trips must stay within the visit's own timeout.
            redis_part(
                "redis-sluggish",
                redis.url().replace(f":{redis.port}/", f":{sluggish_redis}/"),
                max_latency_ms=20,
                timeout_s=5,
            ),
            "median PING round trip",
            passing=frozenset(REDIS_CHECKS),
        ),
        Row(beyond, prometheus_part(late.url("")), no_answer),
        Row(beyond, status_page_part("late-page", late.url("/api/v2/summary.json")), no_answer),
        Row(beyond, kubernetes_part(lab.kubeconfig(late.url(""))), KUBE_SILENT, env="slow-k8s"),
    ]


def garbage(lab: Lab) -> list[Row]:
    html = lab.everywhere(Endpoint(200, HTML, content_type="text/html"))
    junk = lab.farm.garbage()
    web, fault = f"127.0.0.1:{html.port}", "HTML instead of JSON"
    return [
        Row(
            fault,
            http_part(
                "html",
                html.url("/health"),
                expect_json={"status": "ok"},
                detailed_url=html.url("/health/detailed"),
            ),
            "is not JSON",
            passing=frozenset({"test_health_endpoint"}),  # 200 is all it asks
        ),
        # /-/healthy and /-/ready are plain text in Prometheus too: only the API is broken.
        Row(
            fault,
            prometheus_part(html.url("")),
            "not JSON",
            passing=frozenset({"test_prometheus_up"}),
        ),
        Row(fault, status_page_part("html-page", html.url("/api/v2/summary.json")), "not JSON"),
        Row(
            fault,
            kubernetes_part(lab.kubeconfig(html.url(""))),
            "sent an unreadable answer",
            env="garbage-k8s",
        ),
        Row(
            "HTTP server on the Redis port",
            redis_part("redis-on-http", f"redis://{web}/0"),
            "not a Redis server",
        ),
        Row(
            "junk on the Redis port",
            redis_part("redis-on-junk", f"redis://127.0.0.1:{junk}/0"),
            "not a Redis server",
        ),
        Row(
            # The HTTP server waits for a request line that never comes: a silent port to libpq.
            "HTTP server on the PostgreSQL port",
            postgres_part(
                "pg-on-http", f"postgresql://vigil:{SECRET}@{web}/app", assertions=[ORDERS]
            ),
            (web, *PG_SILENT),
        ),
        Row(
            "junk on the PostgreSQL port",
            postgres_part(
                "pg-on-junk",
                f"postgresql://vigil:{SECRET}@127.0.0.1:{junk}/app",
                assertions=[ORDERS],
            ),
            f"cannot connect to 127.0.0.1:{junk}",
        ),
    ]


def tls_mismatch(lab: Lab) -> list[Row]:
    ours, theirs = TestCA(), TestCA("Someone else's CA")
    bundle = str(lab.file("ca.pem", ours.cert_pem))
    misnamed = ours.issue(["other.vigil.test"], not_after=in_days(200))
    untrusted = theirs.issue([NAME, "127.0.0.1"], not_after=in_days(200))
    ok = Endpoint(200, {"status": "ok"})
    https_misnamed = lab.everywhere(ok, tls=misnamed)
    https_untrusted = lab.everywhere(ok, tls=untrusted)
    plain = lab.everywhere(ok)
    cert, key = untrusted.write(lab.directory, "redis-server")
    redis_tls = lab.farm.start(
        {"tls-cert-file": str(cert), "tls-key-file": str(key), "tls-auth-clients": "no"},
        tls=True,
    )
    redis_plain = lab.farm.start()
    wrong_name, untrusted_ca, no_tls = "certificate for another name", "untrusted CA", "plain port"
    verify = "certificate verify failed"
    handshake = "TLS handshake with 127.0.0.1:"
    untrusted_url = https_untrusted.url("")
    return [
        Row(
            wrong_name,
            http_part("https-misnamed", https_misnamed.url("/health"), ca_bundle=bundle),
            verify,
        ),
        Row(
            untrusted_ca,
            http_part("https-untrusted", https_untrusted.url("/health"), ca_bundle=bundle),
            verify,
        ),
        Row(
            no_tls,
            http_part("https-on-plain", plain.url("/health").replace("http:", "https:")),
            handshake,
        ),
        Row(
            wrong_name,
            tls_part(
                "tls-misnamed", "127.0.0.1", lab.tls(misnamed), server_name=NAME, ca_bundle=bundle
            ),
            f"is not valid for '{NAME}'",  # untrusted too: clients refuse it
            passing=frozenset(TLS_EXPIRY_CHECKS),
        ),
        Row(
            untrusted_ca,
            tls_part(
                "tls-untrusted", "127.0.0.1", lab.tls(untrusted), server_name=NAME, ca_bundle=bundle
            ),
            "does not verify against CA bundle",
            passing=frozenset(TLS_EXPIRY_CHECKS | {"test_certificate_matches_hostname"}),
        ),
        Row(no_tls, tls_part("tls-on-plain", "127.0.0.1", plain.port), handshake),
        Row(
            untrusted_ca,
            redis_part("rediss-untrusted", redis_tls.url(), ca_bundle=bundle),
            "TLS handshake with 127.0.0.1:",
        ),
        Row(
            # A plain Redis waits for the end of an inline command; the ClientHello never ends one.
            no_tls,
            redis_part("rediss-on-plain", redis_plain.url().replace("redis://", "rediss://")),
            f"no answer within {TIMEOUT_S} s",
        ),
        Row(
            "sslmode=require, server without SSL",
            postgres_part(
                "pg-require-ssl", lab.cluster.monitor_dsn("postgres") + "?sslmode=require"
            ),
            "server does not support SSL",
        ),
        Row(untrusted_ca, prometheus_part(untrusted_url, ca_bundle=bundle), verify),
        Row(
            untrusted_ca,
            status_page_part("https-page", f"{untrusted_url}/api/v2/summary.json"),
            verify,
        ),
        Row(
            untrusted_ca,
            kubernetes_part(lab.kubeconfig(untrusted_url, ca_pem=ours.cert_pem)),
            "CERTIFICATE_VERIFY_FAILED",
            env="tls-k8s",
        ),
    ]


def credentials(lab: Lab) -> list[Row]:
    denied = Endpoint(401, b"Unauthorized\n", content_type="text/plain")
    api = lab.http({"/health": Endpoint(401, {"error": "invalid token"})})
    auth_proxy = lab.everywhere(denied)
    unauthorized = lab.everywhere(Endpoint(401, KUBE_UNAUTHORIZED))
    everything = [r.plural for r in (*RESOURCES, CERT_MANAGER)]
    # A Certificate makes the stand-in serve cert-manager's API, so that list is forbidden too.
    forbidding = lab.kube([certificate("shop-tls", datetime.now(UTC), NAME, 60)], everything)
    redis = lab.farm.healthy()
    cluster = lab.cluster
    fault, token = "wrong credentials", {"Authorization": f"Bearer {SECRET}"}
    return [
        Row(
            fault,
            http_part("api-401", api.url("/health"), headers=token, expect_status=[200]),
            "HTTP 401",
        ),
        Row(
            fault,
            postgres_part("pg-password", cluster.server.dsn(MONITOR_ROLE, SECRET, "postgres")),
            f"authentication failed for user {MONITOR_ROLE}",
        ),
        Row(
            "unknown user",
            postgres_part("pg-user", cluster.server.dsn("nobody", SECRET, "postgres")),
            "authentication failed",
        ),
        Row(
            fault,
            redis_part("redis-password", redis.url(password=SECRET)),
            "authentication as user 'vigil-monitor' failed",
        ),
        Row(
            "unknown ACL user",
            redis_part("redis-user", redis.url("intruder", SECRET)),
            "authentication as user 'intruder' failed",
        ),
        Row(
            "401 from an auth proxy",
            prometheus_part(auth_proxy.url(""), headers=token),
            "HTTP 401",
        ),
        Row(
            fault, status_page_part("page-401", auth_proxy.url("/api/v2/summary.json")), "HTTP 401"
        ),
        Row(
            "401 from the API",
            kubernetes_part(lab.kubeconfig(unauthorized.url(""))),
            "rejected the credentials",
            env="creds-k8s-401",
        ),
        Row(
            "403 from the API",
            kubernetes_part(lab.kubeconfig(forbidding)),
            "forbidden: missing permission to list",
            env="creds-k8s-403",
        ),
    ]


def database_states(lab: Lab) -> list[Row]:
    sleepy = {"name": "sleepy", "query": "select count(*) from pg_sleep(5)", "max": 0}
    return [
        Row(
            "statement timeout",
            postgres_part(
                "pg-statement-timeout",
                lab.cluster.monitor_dsn("postgres"),
                timeout_s=1,
                assertions=[sleepy],
            ),
            "canceling statement due to statement timeout",
            passing=frozenset(POSTGRES_CHECKS),  # the database is fine; one query is too slow
        ),
        Row("LOADING", redis_part("redis-loading", lab.farm.loading().url()), "LOADING"),
    ]


SCENARIOS: dict[str, Callable[[Lab], list[Row]]] = {
    "refused": refused,
    "never-answers": never_answers,
    "slow": slow,
    "garbage": garbage,
    "tls-mismatch": tls_mismatch,
    "credentials": credentials,
    "database-states": database_states,
}


@pytest.fixture
def lab(tmp_path: Path, pytestconfig: pytest.Config) -> Iterator[Lab]:
    started = Lab(tmp_path, pytestconfig)
    yield started
    started.close()


def run_rows(
    rows: list[Row], directory: Path, run: Callable[..., SuiteRun], *args: str
) -> tuple[SuiteRun, list[str]]:
    """Write the rows' environments, run the suite on them, and check the run's contract."""
    paths = write_environments(directory, rows, TIMEOUT_S)
    envs = [arg for path in paths for arg in ("--env", str(path))]
    suite = run(*envs, *args)
    return suite, check_run(suite, rows, TIMEOUT_S)


def report(problems: list[str], suite: SuiteRun) -> str:
    return "\n".join(problems) + "\n--- output (end) ---\n" + suite.output[-3000:]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_fault_is_a_clean_failure(
    scenario: str, lab: Lab, run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    suite, problems = run_rows(SCENARIOS[scenario](lab), tmp_path, run_suite)
    assert not problems, report(problems, suite)


def test_unresolvable_hosts_fail_locally_in_a_network_namespace(lab: Lab, tmp_path: Path) -> None:
    """No DNS query leaves the machine: the run is in a namespace with only a loopback."""
    isolated = partial(run_isolated, tmp_path)
    suite, problems = run_rows(unresolvable(lab), tmp_path, isolated)
    assert not problems, report(problems, suite)


def everything_hangs(lab: Lab) -> list[Row]:
    """Two environments in which every target of every family hangs, all at once."""
    rows = never_answers(lab)
    return rows + [
        Row(row.fault, part, row.reason, env="hanging-too")
        for row, part in zip(rows, every_family(lab, "127.0.0.1", lab.silent()), strict=True)
    ]


def test_a_whole_platform_hanging_costs_one_timeout(
    lab: Lab, run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    """Fourteen targets of every family hang at once: the run costs one timeout, not fourteen
    (`check_run` holds it to `SuiteRun.budget`)."""
    suite, problems = run_rows(everything_hangs(lab), tmp_path, run_suite)
    assert not problems, report(problems, suite)


# --- bugs the matrix found, kept as regression tests ---------------------------------------


def test_a_hanging_platform_costs_one_timeout_under_xdist(
    lab: Lab, run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    """Twelve services hanging at once, checked with -n 2: still one timeout, not six."""
    port, reason = lab.silent(), ADDRESS_FAULTS["accepts, never answers"]["http"]
    rows = [
        Row("accepts, never answers", http_part(f"web-{n}", f"http://127.0.0.1:{port}/"), reason)
        for n in range(12)
    ]
    suite, problems = run_rows(rows, tmp_path, run_suite, "-n", "2")
    assert not problems, report(problems, suite)


def test_a_detailed_report_refused_for_credentials_says_401(
    lab: Lab, run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    routes = {"/health": Endpoint(200, {"status": "ok"})}
    api = lab.http(routes | {"/health/detailed": Endpoint(401, {"error": "invalid token"})})
    part = http_part("api", api.url("/health"), detailed_url=api.url("/health/detailed"))
    row = Row("wrong credentials", part, "HTTP 401", passing=frozenset({"test_health_endpoint"}))
    suite, problems = run_rows([row], tmp_path, run_suite)
    assert not problems, report(problems, suite)


def test_redis_says_it_cannot_resolve_the_host(lab: Lab, tmp_path: Path) -> None:
    part = redis_part("cache", f"redis://{NOWHERE}:6379/0")
    row = Row("unresolvable host", part, f"cannot resolve the host of {NOWHERE}:6379")
    suite, problems = run_rows([row], tmp_path, partial(run_isolated, tmp_path))
    assert not problems, report(problems, suite)
