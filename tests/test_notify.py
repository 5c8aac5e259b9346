"""Notifications, end to end: a real Alertmanager and capture servers where Slack, PagerDuty
and a webhook would be; a failing -> still failing -> resolved sequence, and exactly what each
receiver got; nothing without `--notify`; deduplication over several runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.alertmanager import Alertmanager, CaptureServer, alertmanager
from tests.conftest import SuiteRun, write_env
from tests.platform_ import assert_secret_free
from tests.servers import Endpoint, HttpServer

ROUTING_KEY = "pd-routing-sentinel-5c2e71"  # written in the file: masked by its field name
SLACK_TOKEN = "slack-token-sentinel-93ad0f"
PAYMENTS = "test_health_endpoint[notify/payments]"
SLOW = "test_latency[notify/slow]"


@pytest.fixture
def manager() -> Iterator[Alertmanager]:
    with alertmanager() as started:
        yield started


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.close()


def _environment(
    tmp_path: Path, payments: HttpServer, slow: HttpServer, manager: str, capture: CaptureServer
) -> Path:
    return write_env(
        tmp_path,
        "notify",
        f"""
runbook_url: https://runbooks.example.com/platform
timeout_s: 2
vars: {{namespace: shop, context: prod}}
http:
  services:
    - name: payments
      url: {payments.url("/health")}
    - name: slow
      url: {slow.url("/health")}
      max_latency_ms: 100
notify:
  alertmanager: {{url: "{manager}", expire_after_min: 30}}
  slack: {{webhook_url: "{capture.url(f"/slack/T0/B0/{SLACK_TOKEN}")}"}}
  pagerduty: {{routing_key: {ROUTING_KEY}, min_severity: sev1, url: "{capture.url("/pd")}"}}
  webhook: {{url: "{capture.url("/hook")}"}}
""",
    )


def _results(run: SuiteRun, directory: Path | None = None) -> dict[str, Any]:
    path = (directory or run.report_dir) / "results.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _firing(manager: Alertmanager) -> dict[str, dict[str, Any]]:
    return {a["labels"]["check"] + "/" + a["labels"]["target"]: a for a in manager.alerts()}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_failing_still_failing_resolved(
    run_suite: Callable[..., SuiteRun],
    http_server: Callable[..., HttpServer],
    manager: Alertmanager,
    capture: CaptureServer,
    tmp_path: Path,
) -> None:
    payments = http_server({"/health": Endpoint(503, {"status": "error"})})
    slow = http_server({"/health": Endpoint(200, {"status": "ok"}, delay_s=0.3)})
    env = _environment(tmp_path, payments, slow, manager.url, capture)
    reports = tmp_path / "reports"
    args = ("--env", str(env), f"--report-dir={reports}")

    # Without --notify: a laptop run pages nobody.
    quiet = run_suite(*args)
    assert quiet.returncode == 1, quiet.output[-3000:]
    assert capture.requests == [] and manager.alerts() == []
    assert _results(quiet, reports)["notify"] == []

    # Failing: every receiver hears of it once.
    first = run_suite(*args, "--notify")
    assert first.returncode == 1, first.output[-3000:]
    statuses = {n["notifier"]: n["status"] for n in _results(first, reports)["notify"]}
    assert statuses == dict.fromkeys(("alertmanager", "slack", "pagerduty", "webhook"), "sent")
    firing = _firing(manager)
    assert set(firing) == {"test_health_endpoint/payments", "test_latency/slow"}
    alert = firing["test_health_endpoint/payments"]
    assert alert["labels"] == {
        "alertname": "VigilCheckFailed",
        "environment": "notify",
        "target": "payments",
        "check": "test_health_endpoint",
        "runbook": "http-service-down",
        "severity": "sev1",
        "system": "http",
    }
    annotations = alert["annotations"]
    assert annotations["runbook_url"] == "https://runbooks.example.com/platform#http-service-down"
    assert annotations["summary"].startswith("sev1 notify/payments test_health_endpoint: HTTP 503")
    assert annotations["description"].startswith("1. Declare an incident for payments")
    ends = _time(alert["endsAt"]) - datetime.now(UTC)
    assert timedelta(minutes=25) < ends <= timedelta(minutes=30)  # expire_after_min: 30

    slack = capture.bodies(f"/slack/T0/B0/{SLACK_TOKEN}")
    assert len(slack) == 1
    blocks = slack[0]["blocks"]
    header = {"type": "plain_text", "text": "notify: NOT READY"}
    assert blocks[0] == {"type": "header", "text": header}
    new = blocks[1]["text"]["text"]
    assert new.startswith("*New failures (2)*\n")
    assert "• *sev1* notify/payments `test_health_endpoint`: HTTP 503 from GET" in new
    assert "<https://runbooks.example.com/platform#http-service-down|http-service-down>" in new
    assert "*sev2* notify/slow `test_latency`: answered in" in new

    pager = capture.bodies("/pd")
    assert [(e["event_action"], e["dedup_key"]) for e in pager] == [
        ("trigger", f"notify:{PAYMENTS}")  # slow is sev2, below min_severity sev1
    ]
    assert pager[0]["routing_key"] == ROUTING_KEY
    assert pager[0]["payload"]["severity"] == "critical"
    assert pager[0]["payload"]["source"] == "notify/payments"
    assert pager[0]["links"] == [
        {"href": "https://runbooks.example.com/platform#http-service-down",
         "text": "runbook: http-service-down"}
    ]  # fmt: skip

    hook = capture.bodies("/hook")
    assert len(hook) == 1 and hook[0]["schema"] == "vigil.notify/1"
    assert hook[0]["verdict"] == "NOT READY"
    assert hook[0]["changes"] == {"new": 2, "resolved": 0, "still": 0}
    assert {c["id"] for c in hook[0]["new"]} == {PAYMENTS, SLOW}

    # Still failing, twice: Alertmanager is told again (it deduplicates by labels), nobody
    # else hears anything.
    capture.clear()
    for _ in range(2):
        again = run_suite(*args, "--notify")
        assert again.returncode == 1
        statuses = {n["notifier"]: n["status"] for n in _results(again, reports)["notify"]}
        assert statuses == {
            "alertmanager": "sent",
            "slack": "nothing to send",
            "pagerduty": "nothing to send",
            "webhook": "nothing to send",
        }
    assert capture.requests == []
    assert set(_firing(manager)) == {"test_health_endpoint/payments", "test_latency/slow"}
    assert len(manager.alerts()) == 2

    # Resolved: payments answers again.
    payments.routes["/health"] = Endpoint(200, {"status": "ok"})
    resolved = run_suite(*args, "--notify")
    assert resolved.returncode == 1  # slow still fails
    assert set(_firing(manager)) == {"test_latency/slow"}  # the resolved alert is gone
    slack = capture.bodies(f"/slack/T0/B0/{SLACK_TOKEN}")
    assert len(slack) == 1
    texts = [b["text"]["text"] for b in slack[0]["blocks"][1:-1]]
    assert texts == ["*Resolved (1)*\n• notify/payments `test_health_endpoint` passes again"]
    assert slack[0]["blocks"][-1]["elements"][0]["text"].endswith("1 still failing")
    assert capture.bodies("/pd") == [
        {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": f"notify:{PAYMENTS}"}
    ]
    hook = capture.bodies("/hook")
    assert len(hook) == 1 and hook[0]["changes"] == {"new": 0, "resolved": 1, "still": 1}
    assert [c["id"] for c in hook[0]["resolved"]] == [PAYMENTS]

    for run in (quiet, first, again, resolved):
        run.report_dir = reports
        assert_secret_free(run, [ROUTING_KEY, SLACK_TOKEN])


def test_a_notifier_that_fails_is_a_note_in_every_report(
    run_suite: Callable[..., SuiteRun],
    http_server: Callable[..., HttpServer],
    capture: CaptureServer,
    silent_port: Any,
    tmp_path: Path,
) -> None:
    """A refused Slack, a PagerDuty that never answers, a webhook answering 500: the reports
    are written and say so; the exit status changes only under --fail-on."""
    ok = http_server({"/health": Endpoint(200, {"status": "ok"})})
    down = http_server({"/health": Endpoint(503, {"status": "error"})})
    capture.status = 500
    refused = HttpServer({})
    refused_url = refused.url(f"/slack/{SLACK_TOKEN}")
    refused.close()
    env = write_env(
        tmp_path,
        "broken",
        f"""
timeout_s: 2
http:
  services:
    - {{name: api, url: "{ok.url("/health")}"}}
    - {{name: legacy, url: "{down.url("/health")}", severity: sev3}}
notify:
  slack: {{webhook_url: "{refused_url}"}}
  pagerduty:
    routing_key: {ROUTING_KEY}
    url: "http://127.0.0.1:{silent_port.port}/pd"
    min_severity: sev4
    timeout_s: 1
  webhook: {{url: "{capture.url("/hook")}", headers: {{X-Token: "{SLACK_TOKEN}x"}}}}
""",
    )
    run = run_suite("--env", str(env), "--notify")
    assert run.returncode == 1, run.output[-3000:]  # the sev3 failure, as without --notify
    notes = {n["notifier"]: n for n in _results(run)["notify"]}
    assert {name: n["status"] for name, n in notes.items()} == dict.fromkeys(
        ("slack", "pagerduty", "webhook"), "failed"
    )
    assert "ConnectError" in notes["slack"]["detail"]
    assert notes["pagerduty"]["detail"] == "no answer within 1 s"
    assert "answered HTTP 500" in notes["webhook"]["detail"]
    assert run.seconds < run.budget(1)  # the silent PagerDuty cost its timeout, no more
    markdown = (run.report_dir / "readiness.md").read_text()
    assert "- broken slack: **failed** (" in markdown
    page = (run.report_dir / "readiness.html").read_text()
    assert "<span class='bad'>failed</span> (no answer within 1 s)" in page
    assert "notify: broken webhook: failed" in run.output
    assert_secret_free(run, [ROUTING_KEY, SLACK_TOKEN])
    assert capture.requests[0].headers["X-Token"] == f"{SLACK_TOKEN}x"  # sent as configured

    # Under a gate the sev3 failure passes, the notifiers' failure does not.
    gated = run_suite("--env", str(env), "--notify", "--fail-on", "sev1")
    assert gated.returncode == 1, gated.output[-3000:]
    assert "gate: --fail-on sev1 -> exit status 1" in gated.output
    ungated = run_suite("--env", str(env), "--fail-on", "sev1")
    assert ungated.returncode == 0, ungated.output[-3000:]


def test_a_partial_run_pages_nobody_and_the_next_run_announces(
    run_suite: Callable[..., SuiteRun],
    http_server: Callable[..., HttpServer],
    capture: CaptureServer,
    tmp_path: Path,
) -> None:
    down = http_server({"/health": Endpoint(503, {"status": "error"})})
    env = write_env(
        tmp_path,
        "part",
        f"""
http:
  services:
    - {{name: api, url: "{down.url("/health")}"}}
notify:
  pagerduty: {{routing_key: {ROUTING_KEY}, url: "{capture.url("/pd")}"}}
""",
    )
    args = ("--env", str(env), f"--report-dir={tmp_path / 'reports'}", "--notify")
    partial = run_suite(*args, "-k", "test_health_endpoint")
    assert _results(partial, tmp_path / "reports")["partial"] is True
    assert [n["status"] for n in _results(partial, tmp_path / "reports")["notify"]] == ["not sent"]
    assert capture.requests == []
    complete = run_suite(*args)
    # The run's `change` is "still" (the partial run saw it), yet PagerDuty was never told.
    assert _results(complete, tmp_path / "reports")["changes"]["still"] == 1
    assert [e["event_action"] for e in capture.bodies("/pd")] == ["trigger"]


def test_notifier_settings_are_secrets_by_field_name(tmp_path: Path) -> None:
    """Webhook URLs, routing keys and header values, written in the file itself (no ${VAR}),
    are registered as secrets: masked by value in every output."""
    from vigil.environment import load_environment

    path = write_env(
        tmp_path,
        "keys",
        f"""
notify:
  alertmanager:
    url: "http://am:pw-am-0451@127.0.0.1:9093"
    headers: {{Authorization: Bearer am-token-77aa}}
  slack: {{webhook_url: "https://127.0.0.1/services/T0/B0/{SLACK_TOKEN}"}}
  pagerduty: {{routing_key: {ROUTING_KEY}}}
  webhook:
    url: "https://127.0.0.1/hook/hook-path-secret-91"
    headers: {{X-Token: hook-token-3b}}
""",
    )
    secrets = load_environment(path, {}).secrets
    assert ROUTING_KEY in secrets and "pw-am-0451" in secrets and "am-token-77aa" in secrets
    assert f"https://127.0.0.1/services/T0/B0/{SLACK_TOKEN}" in secrets
    assert "https://127.0.0.1/hook/hook-path-secret-91" in secrets and "hook-token-3b" in secrets
