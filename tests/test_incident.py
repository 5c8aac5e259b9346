"""`vigil incident`: the incident document of the source runbooks' template, filled from the
sandbox's incident scenario, ready to paste; `--resolved` with the time to recover."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SuiteRun, write_env
from tests.servers import Endpoint, HttpServer
from vigil.cli import main


def _section(document: str, title: str) -> str:
    return document.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_incident_document_from_the_sandbox_incident(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    run = run_suite("--sandbox-home", str(home), "--sandbox-scenario", "incident")
    assert run.returncode == 1, run.output[-3000:]
    capsys.readouterr()
    assert main(["incident", "--report-dir", str(run.report_dir)]) == 0
    printed = capsys.readouterr().out
    document = (run.report_dir / "incident.md").read_text()
    assert document in printed and f"wrote {run.report_dir / 'incident.md'}" in printed

    # The template's fields, filled: title, severity (the worst failing), start, status.
    title = document.splitlines()[0]
    assert title.startswith("# Incident: ") and "(sandbox)" in title
    assert "**Severity:** SEV1" in document
    started = re.search(r"\*\*Started:\*\* (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", document)
    assert started is not None
    assert "**Status:** Investigating" in document
    # Affected services and targets, symptoms with their numbers.
    impact = _section(document, "Impact")
    for target in ("payments", "search", "media", "main", "cache"):
        assert f"- {target} (sandbox, " in impact, impact
    symptoms = _section(document, "Symptoms observed")
    assert re.search(r"- sev1 payments `test_health_endpoint`: HTTP 503 from GET", symptoms)
    assert re.search(r"`test_prometheus_rule`: rule error\\_ratio = 20%", symptoms), symptoms
    assert "payouts-stuck-pending = 3" in symptoms
    # The first remediation steps per runbook entry, and the links.
    steps = _section(document, "First steps")
    assert "### http-service-down: Service health endpoint down or failing (" in steps
    assert "1. Declare an incident for payments in sandbox" in steps
    assert "### payment-processing-failure: " in steps
    assert "docs/runbook.md#http-service-down" in _section(document, "Links")
    # The rest of the template, to fill: a timeline that starts, root cause, action items.
    timeline = _section(document, "Timeline")
    assert f"- {started.group(1)[11:]} UTC - first failing run: " in timeline
    assert "- HH:MM - " in timeline
    assert "## Root Cause\n\nTo be determined." in document
    assert "## Action Items\n\n- [ ] " in document
    # Ready to paste: the first channel message and the status-page update, fenced.
    message = _section(document, "First internal message (paste in the incident channel)")
    assert message.strip().startswith("```\n@channel SEV1 incident: ")
    assert "Status: Investigating" in message and "Next update in 15 minutes." in message
    update = _section(document, "First status-page update (Investigating)")
    assert update.strip().startswith("```\n**Investigating** (")
    affecting = re.search(r"We are investigating problems affecting (.*)\. Some users", update)
    assert affecting is not None and {"payments", "search", "media"} <= set(
        affecting.group(1).split(", ")
    )
    assert "127.0.0.1" not in update  # no internal detail on a public page

    # --resolved refuses while checks still fail.
    assert main(["incident", "--report-dir", str(run.report_dir), "--resolved"]) == 1
    assert "still fail in the last run" in capsys.readouterr().out


def test_resolved_update_with_the_time_to_recover(
    run_suite: Callable[..., SuiteRun],
    http_server: Callable[..., HttpServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    payments = http_server({"/health": Endpoint(503, {"status": "error"})})
    env = write_env(
        tmp_path,
        "prod",
        f"http:\n  services:\n    - {{name: payments, url: '{payments.url('/health')}'}}\n",
    )
    reports = tmp_path / "reports"
    args = ("--env", str(env), f"--report-dir={reports}")
    assert run_suite(*args).returncode == 1
    assert run_suite(*args).returncode == 1
    payments.routes["/health"] = Endpoint(200, {"status": "ok"})
    assert run_suite(*args).returncode == 0
    capsys.readouterr()
    assert main(["incident", "--report-dir", str(reports)]) == 1  # nothing fails now
    assert main(["incident", "--report-dir", str(reports), "--env", "prod", "--resolved"]) == 0
    document = (reports / "incident-resolved.md").read_text()
    assert document.startswith("# Incident resolved: payments (prod)")
    assert re.search(r"\*\*Time to recover:\*\* \d+ s", document), document
    assert "`test_health_endpoint[prod/payments]`" in document
    assert "```\n**Resolved** (" in document and "operating normally" in document
    assert "Duration: " in document
