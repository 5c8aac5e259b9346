"""Root cause first: an unreachable target's reachability check carries the failure; its other
checks are `not evaluated: <target> unreachable`, blocked by it, grouped under it in the
terminal and every report, and counted once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import SuiteRun, write_env
from tests.servers import Endpoint, HttpServer, free_port
from vigil.families.postgres import unreachable
from vigil.families.postgres.probe import DatabaseStatus

ROOTS = {
    "test_database_reachable[down/main]": "sev1",
    "test_ping[down/cache]": "sev1",
    "test_health_endpoint[down/api]": "sev1",
    "test_prometheus_up[down/prometheus]": "sev2",
    "test_namespace_listed[down/shop]": "sev2",
}


def _kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose API server refuses connections."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t0k3n-unused"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return path


def _down(tmp_path: Path, answering: HttpServer) -> Path:
    return write_env(
        tmp_path,
        "down",
        f"""
timeout_s: 2
vars: {{namespace: shop, context: prod}}
redis:
  - {{name: cache, url: "redis://127.0.0.1:{free_port()}", max_latency_ms: 50, queues: {{q: 10}}}}
postgres:
  - name: main
    dsn: postgresql://vigil:pw@127.0.0.1:{free_port()}/app
    assertions:
      - {{name: stuck, query: select 1, max: 0}}
prometheus:
  url: http://127.0.0.1:{free_port()}
  rules:
    - {{name: errors, query: up, max: 1}}
kubernetes:
  kubeconfig: {_kubeconfig(tmp_path)}
  context: c
  namespaces: [shop]
http:
  services:
    - {{name: api, url: "http://127.0.0.1:{free_port()}/health", max_latency_ms: 100}}
    - name: erroring
      url: {answering.url("/health")}
      expect_json: {{status: ok}}
""",
    )


def _results(run: SuiteRun) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run.report_dir / "results.json").read_text())
    return data


def test_an_unreachable_target_is_one_failure_with_its_checks_behind_it(
    run_suite: Callable[..., SuiteRun], http_server: Callable[..., HttpServer], tmp_path: Path
) -> None:
    erroring = http_server({"/health": Endpoint(503, {"status": "error"})})
    run = run_suite("--env", str(_down(tmp_path, erroring)), "--tb=short")
    assert run.returncode == 1, run.output[-3000:]
    data = _results(run)
    checks = {c["id"]: c for c in data["checks"]}
    failing = {i: c for i, c in checks.items() if c["outcome"] == "failed"}
    roots = {i: c for i, c in failing.items() if not c["blocked_by"]}
    # The roots, and the answering service's own symptoms (a 503 is an answer).
    assert {i: c["severity"] for i, c in roots.items() if "erroring" not in i} == ROOTS
    assert set(roots) - set(ROOTS) == {
        "test_health_endpoint[down/erroring]",
        "test_health_body[down/erroring]",
    }
    assert all(c["evaluated"] for i, c in roots.items() if "erroring" not in i)
    blocked = {i: c for i, c in failing.items() if c["blocked_by"]}
    by_root: dict[str, set[str]] = {}
    for test_id, check in blocked.items():
        by_root.setdefault(check["blocked_by"], set()).add(test_id)
        target = check["blocked_by"].split("/", 1)[1].rstrip("]")
        assert check["message"] == f"not evaluated: {target} unreachable", check
        assert check["evaluated"] is False and check["remediation"] == []
    assert set(by_root) == set(ROOTS)
    assert "test_data_assertion[down/main/stuck]" in by_root["test_database_reachable[down/main]"]
    assert by_root["test_prometheus_up[down/prometheus]"] == {"test_prometheus_rule[down/errors]"}
    assert "test_queue_lengths[down/cache]" in by_root["test_ping[down/cache]"]
    assert "test_no_crash_looping_pods[down/shop]" in by_root["test_namespace_listed[down/shop]"]
    assert by_root["test_health_endpoint[down/api]"] == {"test_latency[down/api]"}
    route = checks["test_status_routed[down/api:429]"]  # folded under its service, a skip
    assert route["outcome"] == "skipped" and route["blocked_by"] == "test_health_endpoint[down/api]"

    # Counted once: the roots (and the answering service's symptoms), not what is behind them.
    (environment,) = data["environments"]
    assert environment["failed_by_severity"] == {"sev1": 5, "sev2": 2, "sev3": 0, "sev4": 0}
    assert environment["blocked"] == len(blocked)
    assert f"{len(blocked)} not evaluated behind unreachable targets" in run.output

    # One block each in the terminal: the root's failure lists what stands behind it.
    assert f"{len(blocked)} blocked" in run.output
    assert "not evaluated behind it (1): test_prometheus_rule[down/errors]" in run.output
    assert "test_ping[down/cache] (+" in run.output  # the short summary
    assert "_ test_memory_usage[down/cache] _" not in run.output  # no block of its own

    # One finding each in the reports, with the blocked checks under it.
    # (the answering service's two checks share their runbook entry: one finding)
    findings = len(roots) - 1
    markdown = (run.report_dir / "readiness.md").read_text()
    assert markdown.count("### ") == findings
    assert "### sev3: down / cache" not in markdown  # redis memory, clients...: behind test_ping
    assert "Not evaluated behind it (1): `test_prometheus_rule[down/errors]`" in markdown
    page = (run.report_dir / "readiness.html").read_text()
    assert page.count("<div class='card ") == findings
    assert "Not evaluated behind it (1): <span class='id'>test_prometheus_rule[down/errors]" in page
    assert run.junit is not None
    properties = {
        case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
        for case in run.junit.iter("testcase")
    }
    assert properties["test_ping_latency[down/cache]"]["blocked_by"] == "test_ping[down/cache]"


def test_without_its_reachability_check_a_check_tells_its_own_failure(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    """`-k` leaves the root out: nobody would carry the failure, so nothing is blocked."""
    env = write_env(
        tmp_path,
        "alone",
        f"timeout_s: 1\nredis:\n  - {{name: cache, url: 'redis://127.0.0.1:{free_port()}'}}\n",
    )
    run = run_suite("--env", str(env), "-k", "test_memory_usage")
    (check,) = [c for c in _results(run)["checks"] if c["outcome"] == "failed"]
    assert check["blocked_by"] is None
    assert "connection refused" in check["message"] and check["remediation"]


def test_a_role_refused_for_its_privileges_is_no_outage() -> None:
    """PostgreSQL: refused, silent, bad password are unreachable; a role Vigil refuses for its
    privileges is a misconfiguration each check reports (tests/test_postgres_privilege.py)."""
    refused = DatabaseStatus("dsn", error="refused to query as role admin: it is a superuser")
    assert not unreachable(refused)
    for error in (
        "connection refused by 127.0.0.1:5432 (nothing is listening on that port)",
        "authentication failed for user vigil on 127.0.0.1:5432 (check the password in the DSN)",
        "no answer from 127.0.0.1:5432 within 2 s",
    ):
        assert unreachable(DatabaseStatus("dsn", error=error))
    assert not unreachable(DatabaseStatus("dsn"))
