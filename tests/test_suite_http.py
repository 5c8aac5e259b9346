"""End to end: `pytest checks`, run in this process as a user runs it, against real HTTP servers
with real faults."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SuiteRun, write_env
from tests.servers import Endpoint, HttpServer, SilentPort, free_port

SERVICES = ("healthy", "broken", "refused", "hanging", "slow", "degraded")
DEGRADED_REPORT = {
    "overallStatus": "degraded",
    "checks": [
        {"name": "database", "status": "healthy", "responseTime": "3ms"},
        {"name": "cache", "status": "degraded", "responseTime": "450ms"},
    ],
}


@pytest.fixture
def mixed_env(
    tmp_path: Path, http_server: Callable[..., HttpServer], silent_port: SilentPort
) -> Path:
    ok = http_server(
        {
            "/health": Endpoint(200, {"status": "ok"}),
            "/detailed": Endpoint(
                200,
                {"overallStatus": "healthy", "checks": [{"name": "database", "status": "healthy"}]},
            ),
        }
    )
    broken = http_server({"/health": Endpoint(503, {"status": "error"})})
    slow = http_server({"/health": Endpoint(200, {"status": "ok"}, delay_s=0.8)})
    degraded = http_server(
        {"/health": Endpoint(200, {"status": "ok"}), "/detailed": Endpoint(200, DEGRADED_REPORT)}
    )
    refused = free_port()
    return write_env(
        tmp_path,
        "mixed",
        f"""
runbook_url: https://runbooks.example.com/platform
vars: {{namespace: shop}}
timeout_s: 2
http:
  services:
    - name: healthy
      url: {ok.url("/health")}
      expect_json: {{status: ok}}
      max_latency_ms: 500
      detailed_url: {ok.url("/detailed")}
    - name: broken
      url: {broken.url("/health")}
    - name: refused
      url: http://127.0.0.1:{refused}/health
    - name: hanging
      url: http://127.0.0.1:{silent_port.port}/health
    - name: slow
      url: {slow.url("/health")}
      max_latency_ms: 300
    - name: degraded
      url: {degraded.url("/health")}
      detailed_url: {degraded.url("/detailed")}
      severity: sev3
""",
    )


def test_exactly_the_faulty_checks_fail(
    run_suite: Callable[..., SuiteRun], mixed_env: Path
) -> None:
    run = run_suite("--env", str(mixed_env))
    assert run.returncode == 1, run.output
    assert run.outcomes() == {
        "test_health_endpoint[mixed/healthy]": "passed",
        "test_health_endpoint[mixed/broken]": "failed",
        "test_health_endpoint[mixed/refused]": "failed",
        "test_health_endpoint[mixed/hanging]": "failed",
        "test_health_endpoint[mixed/slow]": "passed",
        "test_health_endpoint[mixed/degraded]": "passed",
        "test_health_body[mixed/healthy]": "passed",
        "test_latency[mixed/healthy]": "passed",
        "test_latency[mixed/slow]": "failed",
        "test_components_healthy[mixed/healthy]": "passed",
        "test_components_healthy[mixed/degraded]": "failed",
        # Every service's 429 belongs to rate-limit-exceeded; none answered one. A service
        # that did not answer at all is reported once, by test_health_endpoint.
        "test_status_routed[mixed/healthy:429]": "passed",
        "test_status_routed[mixed/broken:429]": "passed",
        "test_status_routed[mixed/refused:429]": "skipped",
        "test_status_routed[mixed/hanging:429]": "skipped",
        "test_status_routed[mixed/slow:429]": "passed",
        "test_status_routed[mixed/degraded:429]": "passed",
    }
    assert run.seconds < 15, run.seconds
    out = run.output
    assert "HTTP 503 from GET http://127.0.0.1:" in out and "(expected any 2xx)" in out
    assert "connection refused by 127.0.0.1:" in out
    assert "no complete response within 2 s" in out
    assert "answered in" in out and "(max 300 ms)" in out
    assert "cache is degraded" in out
    assert "runbook:  http-service-down - " in out
    assert "link:     https://runbooks.example.com/platform#http-service-down" in out
    assert "what to do:" in out


def test_junit_carries_runbook_severity_and_remediation(
    run_suite: Callable[..., SuiteRun], mixed_env: Path
) -> None:
    run = run_suite("--env", str(mixed_env), "-k", "degraded or broken")
    assert run.junit is not None
    cases = {c.get("name"): c for c in run.junit.iter("testcase")}
    degraded = cases["test_components_healthy[mixed/degraded]"]
    props = {p.get("name"): p.get("value") for p in degraded.iter("property")}
    assert props["runbook"] == "http-component-degraded"
    assert props["severity"] == "sev3"  # overridden in the environment file
    assert props["environment"] == "mixed" and props["target"] == "degraded"
    assert props["runbook_url"] == "https://runbooks.example.com/platform#http-component-degraded"
    assert props["remediation"]
    failure = degraded.find("failure")
    assert failure is not None
    assert "cache is degraded" in (failure.get("message") or "")
    assert "what to do:" in (failure.text or "") and "http-component-degraded" in (
        failure.text or ""
    )


def test_severity_marker_selects_exactly(
    run_suite: Callable[..., SuiteRun], mixed_env: Path
) -> None:
    run = run_suite("--env", str(mixed_env), "-m", "sev3")
    # The service overridden to sev3, and every service's 429 route (rate-limit-exceeded).
    routes = {f"test_status_routed[mixed/{name}:429]" for name in SERVICES}
    assert set(run.outcomes()) == {
        "test_health_endpoint[mixed/degraded]",
        "test_components_healthy[mixed/degraded]",
        *routes,
    }


def test_two_environments_in_parallel(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    server = http_server({"/health": Endpoint(200, {"status": "ok"})})
    body = f"http:\n  services:\n    - name: api\n      url: {server.url('/health')}\n"
    a, b = write_env(tmp_path, "a", body), write_env(tmp_path, "b", body)
    run = run_suite("--env", str(a), "--env", str(b), "-n", "2")
    assert run.returncode == 0, run.output
    assert run.outcomes() == {
        "test_health_endpoint[a/api]": "passed",
        "test_health_endpoint[b/api]": "passed",
        "test_status_routed[a/api:429]": "passed",
        "test_status_routed[b/api:429]": "passed",
    }


def test_fail_on_gates_by_severity(run_suite: Callable[..., SuiteRun], mixed_env: Path) -> None:
    only_sev3 = run_suite("--env", str(mixed_env), "-k", "degraded", "--fail-on", "sev2")
    assert only_sev3.failed() == {"test_components_healthy[mixed/degraded]"}
    assert only_sev3.returncode == 0, only_sev3.output
    sev1 = run_suite("--env", str(mixed_env), "-k", "broken", "--fail-on", "sev1")
    assert sev1.failed() == {"test_health_endpoint[mixed/broken]"} and sev1.returncode == 1


def test_broken_file_fails_fast_with_one_line(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    bad = write_env(tmp_path, "bad", "http:\n  services:\n    - name: a\n      ulr: http://x/\n")
    run = run_suite("--env", str(bad))
    assert run.returncode not in (0, 5)
    assert "Traceback" not in run.output
    lines = [line for line in run.output.splitlines() if "bad.yaml" in line and "ulr" in line]
    assert lines, run.output
    assert run.seconds < 10


def test_broken_file_does_not_hide_other_environments(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    server = http_server({"/health": Endpoint(200, {"status": "ok"})})
    good = write_env(
        tmp_path,
        "good",
        f"http:\n  services:\n    - name: api\n      url: {server.url('/health')}\n",
    )
    bad = write_env(tmp_path, "bad", "timeout_s: ${NOT_SET_ANYWHERE}\n")
    run = run_suite("--env", str(good), "--env", str(bad))
    assert run.returncode == 1
    assert run.outcome("test_health_endpoint[good/api]") == "passed"
    assert run.outcome("environment[bad]") == "failed"
    assert "timeout_s: environment variable NOT_SET_ANYWHERE is not set" in run.output
    assert "Traceback" not in run.output


def test_unknown_entry_in_a_file_is_that_environments_problem(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    server = http_server({"/health": Endpoint(200, {"status": "ok"})})
    url = server.url("/health")
    good = write_env(tmp_path, "good", f"http:\n  services:\n    - name: api\n      url: {url}\n")
    typo = write_env(
        tmp_path,
        "typo",
        f"""
http:
  services:
    - name: api
      url: {url}
      runbook: authentication-servce-down
      severity: {{http-high-latncy: sev4}}
""",
    )
    run = run_suite("--env", str(good), "--env", str(typo))
    assert run.outcomes() == {
        "test_health_endpoint[good/api]": "passed",
        "test_status_routed[good/api:429]": "passed",
        "environment[typo]": "failed",
    }, run.output
    assert "runbook: no entry 'authentication-servce-down' in the catalog" in run.output
    assert "severity: no entry 'http-high-latncy' in the catalog" in run.output


def test_a_broken_file_is_reported_whatever_was_selected(
    run_suite: Callable[..., SuiteRun], mixed_env: Path, tmp_path: Path
) -> None:
    broken = write_env(tmp_path, "broken", "timeout_s: -1\n")
    run = run_suite(
        "--env",
        str(mixed_env),
        "--env",
        str(broken),
        "-m",
        "sev3",
        "-k",
        "degraded",
        "--fail-on",
        "sev2",
    )
    assert run.outcome("environment[broken]") == "failed"
    assert run.returncode == 1  # a file that cannot be read blocks the gate
    results = json.loads((run.report_dir / "results.json").read_text())
    assert "environment[broken]" in {c["id"] for c in results["checks"]}
    alone = run_suite("--env", str(broken))
    assert alone.returncode == 1 and alone.outcomes() == {"environment[broken]": "failed"}
    assert "**BROKEN**" in (alone.report_dir / "readiness.md").read_text()


def test_collect_only_and_empty_selections_prove_nothing(
    run_suite: Callable[..., SuiteRun], mixed_env: Path
) -> None:
    listed = run_suite("--env", str(mixed_env), "--collect-only", "-q")
    assert listed.returncode == 0 and not listed.report_dir.exists()
    nothing = run_suite("--env", str(mixed_env), "-m", "sev4")
    assert nothing.returncode == 5
    results = json.loads((nothing.report_dir / "results.json").read_text())
    assert results["environments"][0]["ready"] is False
    assert "NOT CHECKED" in (nothing.report_dir / "readiness.md").read_text()


def test_system_markers_follow_the_probe_family_too(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    env = write_env(
        tmp_path,
        "fam",
        """
prometheus:
  url: http://127.0.0.1:9
  rules:
    - {name: pod-memory, query: 'max(x)', max: 0.9, runbook: pod-memory-high}
""",
    )
    by_family = run_suite("--env", str(env), "--collect-only", "-q", "-m", "prometheus")
    by_entry = run_suite("--env", str(env), "--collect-only", "-q", "-m", "kubernetes")
    for run in (by_family, by_entry):
        assert "test_prometheus_rule[fam/pod-memory]" in run.output, run.output
