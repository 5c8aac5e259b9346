"""Run results: one record per check, gathered on the controller from every test report.

`ResultCollector` receives every `TestReport` (under xdist the controller receives the
workers' reports, with their user properties), folds the setup/call/teardown phases of each
check into one `CheckResult`, and produces a `RunResults` ordered independently of execution
order, so the reports of `-n 0` and `-n 4` runs of the same checks are identical but for times.

`results.json` schema (version "vigil.results/1"), documented in docs/reports.md:
    {"schema", "started_at", "finished_at", "duration_s", "filters", "exit_status",
     "environments": [{"name", "ready", "counts": {"passed", "failed", "error", "skipped"},
                       "failed_by_severity": {"sev1": n, ...}}],
     "checks": [{"id", "check", "environment", "target", "outcome", "severity", "system",
                 "runbook", "runbook_title", "runbook_url", "message", "remediation",
                 "evidence", "evaluated", "duration_s", "notes"}]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vigil.redact import redact_text
from vigil.runbook import SEVERITIES, severity_rank

SCHEMA = "vigil.results/1"
_OUTCOME_ORDER = {"error": 0, "failed": 1, "skipped": 2, "passed": 3}


@dataclass
class CheckResult:
    id: str  # test id: check[environment/target]
    check: str
    environment: str
    target: str
    outcome: str = "passed"  # passed | failed | error | skipped
    severity: str | None = None
    system: str | None = None
    runbook: str | None = None
    runbook_title: str | None = None
    runbook_url: str | None = None
    message: str = ""
    remediation: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    evaluated: bool = True
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. TLS verification turned off

    @property
    def failing(self) -> bool:
        return self.outcome in ("failed", "error")


@dataclass
class EnvironmentSummary:
    name: str
    ready: bool
    counts: dict[str, int]
    failed_by_severity: dict[str, int]

    @property
    def verdict(self) -> str:
        """READY, NOT READY, or NOT CHECKED when no check of it passed or failed."""
        if self.ready:
            return "READY"
        if not any(self.counts[k] for k in ("passed", "failed", "error")):
            return "NOT CHECKED"
        return "NOT READY"


@dataclass
class RunResults:
    started_at: str
    finished_at: str
    duration_s: float
    filters: dict[str, Any]
    exit_status: int
    environments: list[EnvironmentSummary]
    checks: list[CheckResult]

    def failures(self) -> list[CheckResult]:
        """Failing checks, most severe first, then by environment and id."""
        return sorted(
            (c for c in self.checks if c.failing),
            key=lambda c: (severity_rank(c.severity) if c.severity else 0, c.environment, c.id),
        )

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")


class ResultCollector:
    """Folds test reports into check results; register it as a plugin on the controller."""

    def __init__(self) -> None:
        self.results: dict[str, CheckResult] = {}
        self.started = datetime.now(UTC)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        test_id = report.nodeid.rpartition("::")[2]
        result = self.results.get(report.nodeid)
        if result is None:
            result = CheckResult(
                id=test_id,
                check=test_id.split("[")[0],
                environment=str(props.get("environment", _environment_of(test_id))),
                target=str(props.get("target", "")),
            )
            self.results[report.nodeid] = result
        for key in ("severity", "system", "runbook", "runbook_title", "runbook_url"):
            if key in props:
                setattr(result, key, str(props[key]))
        notes = [str(value) for name, value in report.user_properties if name == "note"]
        result.notes = list(dict.fromkeys([*result.notes, *notes]))
        result.duration_s = round(result.duration_s + report.duration, 3)
        outcome = _outcome(report)
        if _OUTCOME_ORDER[outcome] < _OUTCOME_ORDER[result.outcome]:
            result.outcome = outcome
            result.message = redact_text(_message(report))
            result.remediation = _lines(props.get("remediation"))
            result.evidence = [redact_text(line) for line in _lines(props.get("evidence"))]
            result.evaluated = props.get("evaluated", "yes") != "no"

    def results_for(
        self, environments: list[str], filters: dict[str, Any], exit_status: int
    ) -> RunResults:
        finished = datetime.now(UTC)
        checks = sorted(self.results.values(), key=lambda c: (c.environment, c.id))
        names = list(dict.fromkeys([*environments, *(c.environment for c in checks)]))
        summaries = []
        for name in names:
            own = [c for c in checks if c.environment == name]
            counts = {k: sum(1 for c in own if c.outcome == k) for k in _OUTCOME_ORDER}
            by_severity: dict[str, int] = {
                s: sum(1 for c in own if c.failing and c.severity == s) for s in SEVERITIES
            }
            # READY needs evidence: checks that ran, none failing, in a run that completed
            # (an interrupted or misconfigured run proves nothing).
            ready = (
                counts["failed"] == counts["error"] == 0
                and counts["passed"] > 0
                and exit_status in (0, 1)
            )
            summaries.append(EnvironmentSummary(name, ready, counts, by_severity))
        return RunResults(
            started_at=self.started.isoformat(timespec="seconds"),
            finished_at=finished.isoformat(timespec="seconds"),
            duration_s=round((finished - self.started).total_seconds(), 2),
            filters=filters,
            exit_status=exit_status,
            environments=summaries,
            checks=checks,
        )


def _environment_of(test_id: str) -> str:
    if "[" in test_id:
        return test_id.split("[", 1)[1].split("/", 1)[0].rstrip("]")
    return ""


def _outcome(report: pytest.TestReport) -> str:
    if report.passed:
        return "passed"
    if report.skipped:
        return "skipped"
    return "failed" if report.when == "call" else "error"


def _message(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        message = str(crash.message)
        for prefix in ("Failed: ", "unhealthy: "):
            message = message.removeprefix(prefix)
        return message
    return str(report.longrepr or "").strip()


def _lines(value: object) -> list[str]:
    return [line for line in str(value).splitlines() if line] if value else []
