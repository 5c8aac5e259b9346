"""What a status code means depends on what answered it: real servers on 127.0.0.1 answer
429, 401, 403, 504, 400 to an unsigned webhook, Vault's codes; `pytest checks` must put each
failure on the right entry, once."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SuiteRun, write_env
from tests.servers import Endpoint, HttpServer, LocalHttpServer

SAMPLES = Path(__file__).parent / "fixtures" / "health"


def failing(run: SuiteRun) -> dict[str, dict[str, Any]]:
    """The failing records of a run's results.json, by test id."""
    results = json.loads((run.report_dir / "results.json").read_text())
    return {c["id"]: c for c in results["checks"] if c["outcome"] in ("failed", "error")}


class WebhookHandler:
    """A webhook endpoint that verifies a signature header: 400 without one, as real handlers
    do (the provider's SDK refuses the event), 200 with the right one. Records each request."""

    def __init__(self, status_without_signature: int = 400) -> None:
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.seen.append((self.command, self.path, dict(self.headers), body))
                signed = self.headers.get("Stripe-Signature") == "t=1,v1=good"
                code = 200 if signed else status_without_signature
                answer = b'{"received": true}' if signed else b'{"error": "No signatures found"}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LocalHttpServer(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/payments"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Callable[..., WebhookHandler]]:
    started: list[WebhookHandler] = []

    def start(status_without_signature: int = 400) -> WebhookHandler:
        handler = WebhookHandler(status_without_signature)
        started.append(handler)
        return handler

    yield start
    for handler in started:
        handler.close()


def test_a_429_is_rate_limiting_not_an_outage(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    limited = http_server({"/health": Endpoint(429, {"error": "Too Many Requests"})})
    env = write_env(
        tmp_path,
        "limits",
        f"vars: {{namespace: shop, context: prod}}\n"
        f"http:\n  services:\n    - name: api\n      url: {limited.url('/health')}\n"
        "      expect_json: {status: ok}\n",
    )
    run = run_suite("--env", str(env))
    assert run.outcomes() == {
        "test_health_endpoint[limits/api]": "skipped",
        "test_health_body[limits/api]": "skipped",
        "test_status_routed[limits/api:429]": "failed",
    }, run.output
    [record] = failing(run).values()  # one failure, on the right entry
    assert record["runbook"] == "rate-limit-exceeded" and record["severity"] == "sev3"
    assert record["message"].startswith("HTTP 429 from GET http://127.0.0.1:")
    assert "rate limiting" in record["message"]
    assert not any("Declare an incident" in step for step in record["remediation"])
    # In an incident run of sev1 checks, rate limiting is no outage: nothing fails.
    incident = run_suite("--env", str(env), "-m", "sev1")
    assert incident.failed() == set() and incident.returncode == 0, incident.output


def test_status_runbooks_and_kinds_choose_the_entry(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    denied = b"<Error><Code>AccessDenied</Code></Error>"
    server = http_server(
        {
            "/cdn": Endpoint(504, b"<html>504 Gateway Time-out</html>", content_type="text/html"),
            "/bucket": Endpoint(403, denied, content_type="application/xml"),
            "/pay-key": Endpoint(401, {"error": {"type": "invalid_request_error"}}),
            "/pay-down": Endpoint(500, {"error": "internal"}),
            "/maintenance": Endpoint(503, {"status": "maintenance"}),
        }
    )
    env = write_env(
        tmp_path,
        "kinds",
        f"""
vars: {{namespace: shop, context: prod}}
http:
  services:
    - name: assets-cdn
      kind: cdn
      url: {server.url("/cdn")}
    - name: uploads-bucket
      kind: object_storage
      url: {server.url("/bucket")}
    - name: payments-key
      kind: dependency
      runbook: payment-processing-failure
      url: {server.url("/pay-key")}
    - name: payments-down
      kind: dependency
      runbook: payment-processing-failure
      url: {server.url("/pay-down")}
    - name: api
      url: {server.url("/maintenance")}
      status_runbooks: {{503: public-site-down}}
""",
    )
    run = run_suite("--env", str(env))
    found = {record_id: record["runbook"] for record_id, record in failing(run).items()}
    assert found == {
        "test_health_endpoint[kinds/assets-cdn]": "cdn-unavailable",
        "test_health_endpoint[kinds/uploads-bucket]": "object-storage-unavailable",
        "test_status_routed[kinds/payments-key:401]": "dependency-unreachable",
        "test_health_endpoint[kinds/payments-down]": "payment-processing-failure",
        "test_status_routed[kinds/api:503]": "public-site-down",
    }, run.output
    records = failing(run)
    cdn = records["test_health_endpoint[kinds/assets-cdn]"]
    assert cdn["severity"] == "sev2" and "HTTP 504" in cdn["message"]
    text = "\n".join(cdn["remediation"])
    assert "{provider}" not in text and "assets-cdn" in text
    key = records["test_status_routed[kinds/payments-key:401]"]
    assert "refused our credentials" in key["message"]
    assert not any("deployment/payments-key" in step for step in key["remediation"])


def test_webhook_probe_posts_a_body_and_a_refusal_means_up(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, webhook: Callable[..., WebhookHandler]
) -> None:
    verifying = webhook(400)
    signed = webhook(400)
    broken = webhook(500)
    env = write_env(
        tmp_path,
        "hooks",
        f"""
http:
  services:
    - name: unsigned
      kind: webhook
      url: {verifying.url}
      json: {{type: vigil.probe, data: {{}}}}
    - name: signed
      kind: webhook
      url: {signed.url}
      headers: {{Stripe-Signature: "t=1,v1=good"}}
      body: '{{"type": "vigil.probe"}}'
      expect_status: [200]
    - name: broken
      kind: webhook
      url: {broken.url}
      json: {{type: vigil.probe}}
""",
    )
    run = run_suite("--env", str(env))
    assert run.outcome("test_health_endpoint[hooks/unsigned]") == "passed", run.output
    assert run.outcome("test_health_endpoint[hooks/signed]") == "passed"
    records = failing(run)
    assert set(records) == {"test_health_endpoint[hooks/broken]"}
    assert records["test_health_endpoint[hooks/broken]"]["runbook"] == "webhook-delivery-failures"
    [(method, path, headers, body)] = verifying.seen
    assert (method, path) == ("POST", "/webhooks/payments")
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"type": "vigil.probe", "data": {}}
    [(_, _, signed_headers, signed_body)] = signed.seen
    assert signed_headers["Stripe-Signature"] == "t=1,v1=good"
    assert signed_body == b'{"type": "vigil.probe"}'


def test_vault_status_codes(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    def sample(name: str) -> bytes:
        return (SAMPLES / f"vault-{name}.json").read_bytes()

    server = http_server(
        {
            "/active": Endpoint(200, sample("active")),
            "/standby": Endpoint(429, sample("standby")),
            "/perf": Endpoint(473, sample("performance-standby")),
            "/sealed": Endpoint(503, sample("sealed")),
            "/uninit": Endpoint(501, sample("uninitialized")),
        }
    )
    services = "".join(
        f"    - name: {name}\n      format: vault\n      url: {server.url('/' + name)}\n"
        for name in ("active", "standby", "perf", "sealed", "uninit")
    )
    env = write_env(tmp_path, "vault", f"http:\n  services:\n{services}")
    run = run_suite("--env", str(env))
    records = failing(run)
    assert set(records) == {
        "test_health_endpoint[vault/sealed]",
        "test_health_endpoint[vault/uninit]",
    }, run.output
    assert "Vault is sealed" in records["test_health_endpoint[vault/sealed]"]["message"]
    assert "Vault is not initialised" in records["test_health_endpoint[vault/uninit]"]["message"]
    # 429 is a standby here: no rate-limit route exists for a Vault service.
    assert not any("vault/standby:429" in test_id for test_id in run.outcomes())


def test_request_body_settings_are_validated(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    env = write_env(
        tmp_path,
        "bad",
        "http:\n  services:\n    - name: a\n      url: http://127.0.0.1:9/\n"
        "      body: x\n      json: {a: 1}\n      status_runbooks: {42: rate-limit-exceeded}\n"
        "      expect_regex: '(unclosed'\n",
    )
    run = run_suite("--env", str(env))
    assert run.outcomes() == {"environment[bad]": "failed"}
    assert "42 is not an HTTP status code" in run.output
    assert "not a regular expression" in run.output
    unknown = write_env(
        tmp_path,
        "unknown",
        "http:\n  services:\n    - name: a\n      url: http://127.0.0.1:9/\n"
        "      status_runbooks: {429: rate-limit-exceded}\n",
    )
    typo = run_suite("--env", str(unknown))
    assert "runbook: no entry 'rate-limit-exceded' in the catalog" in typo.output
