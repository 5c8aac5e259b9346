"""Silences: a silenced failing check still runs and is reported as silenced, with its reason
and expiry, outside READY, the gate and notifications; an expired silence silences nothing and
is listed in every report; `vigil env check` refuses a silence without `until` or too far out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.alertmanager import CaptureServer
from tests.conftest import SuiteRun, write_env
from tests.servers import Endpoint, HttpServer, free_port
from vigil.cli import main

SOON = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
DOWN = "test_health_endpoint[quiet/legacy]"


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    server = CaptureServer()
    yield server
    server.close()


def _results(run: SuiteRun) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run.report_dir / "results.json").read_text())
    return data


def _environment(tmp_path: Path, ok: HttpServer, down: HttpServer, capture: CaptureServer) -> Path:
    return write_env(
        tmp_path,
        "quiet",
        f"""
timeout_s: 2
http:
  services:
    - {{name: api, url: "{ok.url("/health")}"}}
    - {{name: legacy, url: "{down.url("/health")}"}}
    - {{name: slow, url: "{ok.url("/health")}", max_latency_ms: 5000}}
notify:
  pagerduty: {{routing_key: rk-0123456789, url: "{capture.url("/pd")}", min_severity: sev4}}
silences:
  - match: {{target: legacy, runbook: http-service-down}}
    until: {SOON}
    reason: decommissioned Friday, CHG-1234
  - match: {{id: "test_latency[*]"}}
    until: 2024-01-01
    reason: load test week
""",
    )


def test_a_silenced_failure_runs_and_is_reported_apart(
    run_suite: Callable[..., SuiteRun],
    http_server: Callable[..., HttpServer],
    capture: CaptureServer,
    tmp_path: Path,
) -> None:
    ok = http_server({"/health": Endpoint(200, {"status": "ok"})})
    down = http_server({"/health": Endpoint(503, {"status": "error"})})
    run = run_suite("--env", str(_environment(tmp_path, ok, down, capture)), "--notify")
    assert run.returncode == 0, run.output[-3000:]  # nothing but the silenced one fails
    assert ("GET", "/health") in down.requests  # it still ran
    data = _results(run)
    check = next(c for c in data["checks"] if c["id"] == DOWN)
    assert check["outcome"] == "failed" and check["message"].startswith("HTTP 503")
    note = {"match": "target=legacy, runbook=http-service-down", "until": SOON,
            "reason": "decommissioned Friday, CHG-1234"}  # fmt: skip
    assert check["silenced"] == note
    (environment,) = data["environments"]
    assert environment["verdict"] == "READY" and environment["silenced"] == 1
    assert environment["failed_by_severity"] == {"sev1": 0, "sev2": 0, "sev3": 0, "sev4": 0}
    assert data["silences"] == [
        {"environment": "quiet", **note, "expired": False, "checks": [DOWN]},
        {"environment": "quiet", "match": "id=test_latency[*]", "until": "2024-01-01T00:00:00Z",
         "reason": "load test week", "expired": True, "checks": []},
    ]  # fmt: skip
    assert [n["status"] for n in data["notify"]] == ["nothing to send"] and capture.requests == []
    assert run.outcome(DOWN) == "skipped"  # JUnit: an expected failure, with the silence
    assert "1 silenced" in run.output
    assert f"SILENCED  {DOWN} until {SOON}: decommissioned Friday" in run.output
    assert "expired silence in quiet: id=test_latency[*] (until 2024-01-01T00:00:00Z" in run.output
    markdown = (run.report_dir / "readiness.md").read_text()
    assert "## Silenced: 1 failing checks" in markdown
    assert f"(silenced until {SOON}: decommissioned Friday, CHG-1234)" in markdown
    assert "**Expired silences**" in markdown and "load test week" in markdown
    assert "## No failures" in markdown  # not a finding
    page = (run.report_dir / "readiness.html").read_text()
    assert "Silenced: 1 failing checks" in page and "Expired silences" in page

    # The gate passes too; the check still fails in the history (its streak goes on).
    gated = run_suite("--env", str(_environment(tmp_path, ok, down, capture)), "--fail-on", "sev4")
    assert gated.returncode == 0 and "gate: --fail-on sev4 -> exit status 0" in gated.output


def test_an_expired_silence_silences_nothing(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    env = write_env(
        tmp_path,
        "late",
        f"""
http:
  services:
    - {{name: api, url: "http://127.0.0.1:{free_port()}/health"}}
silences:
  - {{match: {{check: test_health_endpoint}}, until: 2024-06-30, reason: migration}}
""",
    )
    run = run_suite("--env", str(env))
    assert run.returncode == 1
    data = _results(run)
    assert data["environments"][0]["verdict"] == "NOT READY"
    assert data["silences"][0]["expired"] is True
    assert all(c["silenced"] is None for c in data["checks"])
    assert "**Expired silences**" in (run.report_dir / "readiness.md").read_text()


def test_a_blocked_check_shares_its_roots_silence(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    env = write_env(
        tmp_path,
        "maint",
        f"""
timeout_s: 1
redis:
  - {{name: cache, url: "redis://127.0.0.1:{free_port()}", queues: {{q: 10}}}}
silences:
  - {{match: {{check: test_ping, target: cache}}, until: {SOON}, reason: maintenance}}
""",
    )
    run = run_suite("--env", str(env), "-m", "redis")
    assert run.returncode == 0, run.output[-3000:]
    checks = _results(run)["checks"]
    assert checks and all(c["silenced"] for c in checks if c["outcome"] == "failed")
    assert any(c["blocked_by"] == "test_ping[maint/cache]" for c in checks)


@pytest.mark.parametrize(
    ("silence", "problem"),
    [
        ("{match: {target: api}, reason: x}", "silences[0].until: required key is missing"),
        (
            "{match: {target: api}, until: 2026-01-01}",
            "silences[0].reason: required key is missing",
        ),
        ("{match: {}, until: 2026-01-01, reason: x}", "give at least one of check, target"),
        ("{match: {target: api}, until: soon, reason: x}", "expected a date or time"),
        ("{match: {target: api}, until: 2999-01-01, reason: x}", "days out (at most 90"),
    ],
)
def test_env_check_refuses_a_bad_silence(
    silence: str, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_env(tmp_path, "s", f"silences:\n  - {silence}\n")
    assert main(["env", "check", str(path)]) == 1
    assert problem in capsys.readouterr().out


def test_the_longest_silence_is_configurable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A time, not a date: a date 200 days on is 199.5 days out after noon, said as "199".
    until = (datetime.now(UTC) + timedelta(days=200, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = write_env(
        tmp_path, "s", f"silences:\n  - {{match: {{target: a}}, until: {until}, reason: r}}\n"
    )
    assert main(["env", "check", str(path)]) == 1
    assert "is 200 days out (at most 90" in capsys.readouterr().out
    assert main(["env", "check", str(path), "--max-silence-days", "365"]) == 0
    assert "ok (environment s)" in capsys.readouterr().out
