"""`pytest checks` against servers answering real health bodies with their real status codes:
no false red (Spring's UNKNOWN), no lost names, plain text and arrays read, slow components
caught, and the status-code-only caveat shown for what it is."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import SuiteRun, write_env
from tests.servers import Endpoint, HttpServer

SAMPLES = Path(__file__).parent / "fixtures" / "health"


def sample(name: str, status: int = 200, content_type: str = "application/json") -> Endpoint:
    return Endpoint(status, (SAMPLES / name).read_bytes(), content_type=content_type)


def records(run: SuiteRun) -> dict[str, dict[str, Any]]:
    results = json.loads((run.report_dir / "results.json").read_text())
    return {c["id"]: c for c in results["checks"]}


def test_real_bodies_end_to_end(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    server = http_server(
        {
            "/spring": sample("spring3-up-unknown.json"),
            "/spring-down": sample("spring3-down-nested.json", 503),
            "/aspnet": sample("aspnet-plain-degraded.txt", content_type="text/plain"),
            "/aspnet-ui": sample("aspnet-ui-degraded.json"),
            "/es": sample("elasticsearch-red.json"),
            "/consul": sample("consul-service-critical.json"),
            "/readyz": sample("kube-readyz-failed.txt", 500, "text/plain"),
            "/slow": sample("checks-list-slow.json"),
            "/go": sample("health-go-partial.json"),
        }
    )

    def url(path: str) -> str:
        return server.url(path)

    env = write_env(
        tmp_path,
        "formats",
        f"""
vars: {{namespace: shop, context: prod}}
http:
  services:
    - name: spring
      url: {url("/spring")}
      detailed_url: {url("/spring")}
    - name: spring-down
      url: {url("/spring-down")}
      format: spring
    - name: aspnet-text
      url: {url("/aspnet")}
      expect_text: Healthy
    - name: aspnet-format
      url: {url("/aspnet")}
      format: aspnet
    - name: aspnet-ui
      url: {url("/aspnet")}
      detailed_url: {url("/aspnet-ui")}
      max_response_time_ms: 5000
    - name: es-status-only
      url: {url("/es")}
    - name: es
      url: {url("/es")}
      format: elasticsearch
    - name: consul
      url: {url("/consul")}
      format: consul
    - name: apiserver
      url: {url("/readyz")}
      format: kubernetes
    - name: slow
      url: {url("/slow")}
      detailed_url: {url("/slow")}
      max_response_time_ms: 5000
    - name: go
      url: {url("/go")}
      detailed_url: {url("/go")}
""",
    )
    run = run_suite("--env", str(env))
    outcomes = {k: v for k, v in run.outcomes().items() if "test_status_routed" not in k}
    assert outcomes == {
        # Spring: UP with an UNKNOWN discovery client is healthy (no false red).
        "test_health_endpoint[formats/spring]": "passed",
        "test_components_healthy[formats/spring]": "passed",
        # A DOWN report served with 503: one sev1 failure naming the parts, not two.
        "test_health_endpoint[formats/spring-down]": "failed",
        "test_components_healthy[formats/spring-down]": "skipped",
        # ASP.NET's default writer: "Degraded" with HTTP 200.
        "test_health_endpoint[formats/aspnet-text]": "passed",
        "test_health_text[formats/aspnet-text]": "failed",
        "test_health_endpoint[formats/aspnet-format]": "passed",
        "test_components_healthy[formats/aspnet-format]": "failed",
        "test_health_endpoint[formats/aspnet-ui]": "passed",
        "test_components_healthy[formats/aspnet-ui]": "failed",
        "test_components_fast[formats/aspnet-ui]": "failed",
        # Elasticsearch red answers 200: status-code-only passes (the documented caveat)...
        "test_health_endpoint[formats/es-status-only]": "passed",
        # ...and with its format named, red fails.
        "test_health_endpoint[formats/es]": "passed",
        "test_components_healthy[formats/es]": "failed",
        "test_health_endpoint[formats/consul]": "passed",
        "test_components_healthy[formats/consul]": "failed",
        "test_health_endpoint[formats/apiserver]": "failed",
        "test_components_healthy[formats/apiserver]": "skipped",
        "test_health_endpoint[formats/slow]": "passed",
        "test_components_healthy[formats/slow]": "passed",
        "test_components_fast[formats/slow]": "failed",
        "test_health_endpoint[formats/go]": "passed",
        "test_components_healthy[formats/go]": "failed",
    }, run.output
    found = records(run)

    def message(check: str, service: str) -> str:
        return str(found[f"{check}[formats/{service}]"]["message"])

    spring_down = found["test_health_endpoint[formats/spring-down]"]
    assert "db/secondary: DOWN" in "\n".join(spring_down["evidence"])
    assert "mail: OUT_OF_SERVICE" in "\n".join(spring_down["evidence"])
    assert "does not contain 'Healthy'" in message("test_health_text", "aspnet-text")
    assert "reports Degraded" in message("test_components_healthy", "aspnet-format")
    assert "redis is Degraded" in message("test_components_healthy", "aspnet-ui")
    assert "redis 7200 ms" in message("test_components_fast", "aspnet-ui")
    assert found["test_components_fast[formats/aspnet-ui]"]["runbook"] == "http-component-slow"
    assert "reports red" in message("test_components_healthy", "es")
    assert "node-a/service:web-1 is critical" in message("test_components_healthy", "consul")
    assert "etcd: failed" in "\n".join(found["test_health_endpoint[formats/apiserver]"]["evidence"])
    assert "manifest-store 7200 ms (healthy)" in message("test_components_fast", "slow")
    assert "rabbitmq is failed" in message("test_components_healthy", "go")
    # Each service was asked once per URL, whatever number of checks read the answer.
    asked = [path for _, path in server.requests]
    assert asked.count("/spring-down") == 1 and asked.count("/readyz") == 1


def test_slow_components_without_times_are_not_evaluated(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    server = http_server({"/h": sample("spring3-up-unknown.json")})
    env = write_env(
        tmp_path,
        "notimes",
        f"http:\n  services:\n    - name: s\n      url: {server.url('/h')}\n"
        "      format: spring\n      max_response_time_ms: 100\n",
    )
    run = run_suite("--env", str(env))
    record = records(run)["test_components_fast[notimes/s]"]
    assert record["outcome"] == "failed" and record["evaluated"] is False
    assert "gives no response time for any component (spring format)" in record["message"]
