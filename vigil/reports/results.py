"""Run results: the records of every check, and the verdict per environment.

`summarize` turns the collected records into `RunResults`, which every writer reads.
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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vigil.record import CheckRecord, Outcome
from vigil.reports.files import write_atomically
from vigil.severity import SEVERITIES, Severity

SCHEMA = "vigil.results/1"
_V1_CHECK_KEYS = (
    "id",
    "check",
    "environment",
    "target",
    "outcome",
    "severity",
    "system",
    "runbook",
    "runbook_title",
    "runbook_url",
    "message",
    "remediation",
    "evidence",
    "evaluated",
    "duration_s",
    "notes",
)


@dataclass
class EnvironmentSummary:
    name: str
    ready: bool
    counts: dict[str, int]
    failed_by_severity: dict[Severity, int]

    @property
    def verdict(self) -> str:
        """READY, NOT READY, or NOT CHECKED when no check of it passed or failed."""
        if self.ready:
            return "READY"
        if not any(self.counts[k] for k in ("passed", "failed", "error")):
            return "NOT CHECKED"
        return "NOT READY"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ready": self.ready,
            "counts": self.counts,
            "failed_by_severity": {str(k): v for k, v in self.failed_by_severity.items()},
        }


@dataclass
class RunResults:
    started_at: str
    finished_at: str
    duration_s: float
    filters: dict[str, Any]
    exit_status: int
    environments: list[EnvironmentSummary]
    checks: list[CheckRecord]

    def failures(self) -> list[CheckRecord]:
        """Failing checks, most severe first, then by environment and id."""
        return sorted(
            (c for c in self.checks if c.failing),
            key=lambda c: (c.severity.rank if c.severity else 0, c.environment, c.id),
        )

    def to_json(self) -> dict[str, Any]:
        checks = []
        for check in self.checks:
            data = check.to_data()
            checks.append({key: data[key] for key in _V1_CHECK_KEYS})
        return {
            "schema": SCHEMA,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "filters": self.filters,
            "exit_status": self.exit_status,
            "environments": [e.to_json() for e in self.environments],
            "checks": checks,
        }

    def write_json(self, path: Path) -> None:
        write_atomically(path, json.dumps(self.to_json(), indent=2) + "\n")


def summarize(
    checks: list[CheckRecord],
    environments: list[str],
    filters: dict[str, Any],
    exit_status: int,
    started: datetime,
    finished: datetime,
) -> RunResults:
    """The run's results: its records, and per environment the counts and the verdict."""
    names = list(dict.fromkeys([*environments, *(c.environment for c in checks)]))
    summaries = []
    for name in names:
        own = [c for c in checks if c.environment == name]
        counts = {str(k): sum(1 for c in own if c.outcome == k) for k in Outcome}
        counts = {k: counts[k] for k in ("error", "failed", "skipped", "passed")}
        by_severity = {s: sum(1 for c in own if c.failing and c.severity == s) for s in SEVERITIES}
        # READY needs evidence: checks that ran, none failing, in a run that completed
        # (an interrupted or misconfigured run proves nothing).
        ready = (
            counts["failed"] == counts["error"] == 0
            and counts["passed"] > 0
            and exit_status in (0, 1)
        )
        summaries.append(EnvironmentSummary(name, ready, counts, by_severity))
    return RunResults(
        started_at=started.isoformat(timespec="seconds"),
        finished_at=finished.isoformat(timespec="seconds"),
        duration_s=round((finished - started).total_seconds(), 2),
        filters=filters,
        exit_status=exit_status,
        environments=summaries,
        checks=checks,
    )
