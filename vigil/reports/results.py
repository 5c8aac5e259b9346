"""Run results: the records of every check, and the verdict per environment.

`summarize` turns the collected records into `RunResults`, which every writer reads.
`results.json` schema "vigil.results/2" (a superset of "vigil.results/1"), documented in
docs/reports.md:
    {"schema", "started_at", "finished_at", "duration_s", "filters", "exit_status",
     "partial", "partial_reasons", "previous_run",
     "changes": {"new", "still", "resolved", "flapping", "flaky"},
     "environments": [{"name", "ready", "verdict", "counts": {"passed", "failed", "error",
                       "skipped"}, "failed_by_severity": {"sev1": n, ...}, "problems", "source",
                       "silenced", "blocked"}],
     "checks": [{"id", "check", "environment", "target", "outcome", "severity", "system",
                 "runbook", "runbook_title", "runbook_url", "message", "remediation",
                 "evidence", "evaluated", "duration_s", "notes", "diagnosis", "attempts",
                 "change", "failing_since", "flapping", "reachable", "blocked_by",
                 "silenced"}],
     "silences": [{"environment", "match", "until", "reason", "expired", "checks"}],
     "notify": [{"environment", "notifier", "status", "detail"}]}

`failed_by_severity` counts the failures that matter once: a silenced failure is not counted
(`silenced` counts it), nor a check blocked by its target's reachability check (`blocked`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vigil.record import CheckRecord, Outcome
from vigil.reports import changes as memory
from vigil.reports.files import write_atomically
from vigil.severity import SEVERITIES, Severity

SCHEMA = "vigil.results/2"
V1_CHECK_KEYS = (
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
CHECK_KEYS = (
    *V1_CHECK_KEYS,
    "diagnosis",
    "attempts",
    "change",
    "failing_since",
    "flapping",
    "reachable",
    "blocked_by",
    "silenced",
)

READY, NOT_READY, PARTIAL, NOT_CHECKED, BROKEN = (
    "READY",
    "NOT READY",
    "PARTIAL",
    "NOT CHECKED",
    "BROKEN",
)


@dataclass
class EnvironmentSummary:
    name: str
    ready: bool
    counts: dict[str, int]
    failed_by_severity: dict[Severity, int]
    partial: bool = False
    problems: list[str] = field(default_factory=list)  # a broken environment file's problems
    source: str | None = None  # the broken environment file
    silenced: int = 0  # failing checks a silence in force matched
    unranked: int = 0  # failures without a severity (a crashed fixture, a broken file)
    blocked: int = 0  # checks not evaluated behind their target's reachability check

    @property
    def verdict(self) -> str:
        """READY; BROKEN (its file could not be loaded); NOT CHECKED (no check passed or
        failed); PARTIAL (the run left out some of its checks); else NOT READY."""
        if self.ready:
            return READY
        if self.problems:
            return BROKEN
        if not any(self.counts[k] for k in ("passed", "failed", "error")):
            return NOT_CHECKED
        return PARTIAL if self.partial else NOT_READY

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ready": self.ready,
            "verdict": self.verdict,
            "counts": self.counts,
            "failed_by_severity": {str(k): v for k, v in self.failed_by_severity.items()},
            "problems": self.problems,
            "source": self.source,
            "silenced": self.silenced,
            "blocked": self.blocked,
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
    partial_reasons: list[str] = field(default_factory=list)
    previous_run: str | None = None  # when the last run in the same report directory started
    # Every configured silence: {"environment", "match", "until", "reason", "expired", "checks"}
    silences: list[dict[str, Any]] = field(default_factory=list)
    # How each notifier went (with --notify): {"environment", "notifier", "status", "detail"}
    notify: list[dict[str, str]] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """The selection left out checks of a selected environment (-k, --lf, -x, deadline)."""
        return bool(self.partial_reasons)

    @property
    def changes(self) -> dict[str, int]:
        return memory.counts(self.checks)

    @property
    def expired_silences(self) -> list[dict[str, Any]]:
        return [s for s in self.silences if s["expired"]]

    @property
    def notify_problems(self) -> list[dict[str, str]]:
        """The notifiers that could not deliver (their status is `failed`)."""
        return [n for n in self.notify if n["status"] == "failed"]

    def failures(self) -> list[CheckRecord]:
        """Failing checks (silenced ones too), most severe first, then by environment and id."""
        return sorted(
            (c for c in self.checks if c.failing),
            key=lambda c: (c.severity.rank if c.severity else 0, c.environment, c.id),
        )

    def to_json(self) -> dict[str, Any]:
        checks = []
        for check in self.checks:
            data = check.to_data()
            checks.append({key: data[key] for key in CHECK_KEYS})
        return {
            "schema": SCHEMA,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "filters": self.filters,
            "exit_status": self.exit_status,
            "partial": self.partial,
            "partial_reasons": self.partial_reasons,
            "previous_run": self.previous_run,
            "changes": self.changes,
            "environments": [e.to_json() for e in self.environments],
            "checks": checks,
            "silences": self.silences,
            "notify": self.notify,
        }

    def write_json(self, path: Path) -> None:
        write_atomically(path, json_text(self.to_json()))


def json_text(data: dict[str, Any]) -> str:
    """The document indented for people, one check per line: `indent=2` takes Python's
    pure-Python encoder (10,000 failed checks: 0.25 s); a line per check takes the C one
    (0.11 s) and stays readable, and greppable."""
    head = dict(data)
    checks = head.pop("checks", [])
    start = json.dumps(head, indent=2)[:-2] + ",\n" if head else "{\n"  # without its "\n}"
    if not checks:
        return start + '  "checks": []\n}\n'
    lines = ",\n".join("    " + json.dumps(check) for check in checks)
    return start + '  "checks": [\n' + lines + "\n  ]\n}\n"


def summarize(
    checks: list[CheckRecord],
    environments: list[str],
    filters: dict[str, Any],
    exit_status: int,
    started: datetime,
    finished: datetime,
    *,
    partial_reasons: list[str] | None = None,
    broken: Mapping[str, tuple[str, list[str]]] | None = None,
) -> RunResults:
    """The run's results: its records, and per environment the counts and the verdict.
    `broken` names the environment files that could not be loaded: (file, its problems)."""
    problems = broken or {}
    partial = bool(partial_reasons)
    names = list(dict.fromkeys([*environments, *problems, *(c.environment for c in checks)]))
    summaries = []
    for name in names:
        own = [c for c in checks if c.environment == name]
        counts = {str(k): sum(1 for c in own if c.outcome == k) for k in Outcome}
        counts = {k: counts[k] for k in ("error", "failed", "skipped", "passed")}
        by_severity = {s: sum(1 for c in own if c.counted and c.severity == s) for s in SEVERITIES}
        silenced = sum(1 for c in own if c.failing and c.silenced)
        # READY needs evidence: checks that ran, none failing but silenced ones, in a run that
        # completed and looked at every selected check (an interrupted or narrowed run
        # proves nothing).
        ready = (
            not any(c.actionable for c in own)
            and counts["passed"] > 0
            and exit_status in (0, 1)
            and not partial
            and name not in problems
        )
        source, found = problems.get(name, (None, []))
        summary = EnvironmentSummary(name, ready, counts, by_severity, partial, list(found), source)
        summary.silenced = silenced
        summary.blocked = sum(1 for c in own if c.actionable and c.blocked_by)
        summary.unranked = sum(1 for c in own if c.counted and c.severity is None)
        summaries.append(summary)
    return RunResults(
        started_at=started.isoformat(timespec="seconds"),
        finished_at=finished.isoformat(timespec="seconds"),
        duration_s=round((finished - started).total_seconds(), 2),
        filters=filters,
        exit_status=exit_status,
        environments=summaries,
        checks=checks,
        partial_reasons=list(partial_reasons or []),
    )
