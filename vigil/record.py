"""One typed record per check: what the plugin writes once and every report reads.

The plugin makes a `CheckRecord` for each phase report of a check (on an xdist worker or
not), with every text that came from a target already cleaned and masked; it travels to the
controller attached to the test report (`report.vigil`, as plain data), where the phases are
folded into one record per check. The controller then adds what only the history knows
(`change`, `failing_since`, `flapping`: `vigil.reports.changes`). Report writers read
records; they never read pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from vigil.severity import Severity


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the check ran and the target is unhealthy (or could not be evaluated)
    ERROR = "error"  # the check itself broke (setup, a crashed fixture, a broken file)
    SKIPPED = "skipped"

    @property
    def failing(self) -> bool:
        return self in (Outcome.FAILED, Outcome.ERROR)

    @property
    def weight(self) -> int:
        """Folding phases, the worst wins: error, failed, skipped, passed."""
        return _WEIGHT[self]


_WEIGHT = {Outcome.ERROR: 0, Outcome.FAILED: 1, Outcome.SKIPPED: 2, Outcome.PASSED: 3}


class Change(StrEnum):
    """How a check's outcome compares with its previous observation in the history."""

    NEW = "new"  # failing now; passed (or was not run) last time
    STILL = "still"  # failing now and last time
    RESOLVED = "resolved"  # passing now, failing last time


@dataclass(slots=True)  # one per check and phase: 10,000s of them in a run
class CheckRecord:
    id: str  # the test id: check[environment/target]
    check: str
    environment: str
    target: str
    outcome: Outcome = Outcome.PASSED
    severity: Severity | None = None  # None only for what is not a check (a broken file)
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
    diagnosis: list[str] = field(default_factory=list)  # commands to look closer
    attempts: int = 1  # observations it took: more than one when it was retried
    reachable: bool = True  # every observation the check read was made (no probe error)
    deadline_missed: bool = False  # the run's --deadline came before its observation
    change: Change | None = None  # set on the controller, from the history
    failing_since: str | None = None  # ISO time of the first run of the failing streak
    flapping: bool = False  # its outcome changed 4+ times in its last 10 observations
    # Root cause first: the id of the check that carries its target's unreachability (the
    # target's reachability check); this check could not be evaluated because of it.
    blocked_by: str | None = None
    # A silence from the environment file: {"match", "until", "reason"}; the check still ran.
    silenced: dict[str, str] | None = None

    @property
    def failing(self) -> bool:
        """The symptom is present (or could not be looked at), silenced or not."""
        return self.outcome.failing

    @property
    def actionable(self) -> bool:
        """Failing and not silenced: it counts for READY, the gate and notifications."""
        return self.outcome.failing and self.silenced is None

    @property
    def counted(self) -> bool:
        """Counted in the severity counts: actionable, and not one of the checks an
        unreachable target's reachability check stands for."""
        return self.actionable and self.blocked_by is None

    @property
    def flaky(self) -> bool:
        """Passed, but only on a retry."""
        return self.outcome == Outcome.PASSED and self.attempts > 1

    def to_data(self) -> dict[str, Any]:
        """Plain data (for xdist's channel and for JSON), without copying the lists."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["outcome"] = str(self.outcome)
        data["severity"] = str(self.severity) if self.severity else None
        data["change"] = str(self.change) if self.change else None
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CheckRecord:
        known = {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in known})
        record.outcome = Outcome(record.outcome)
        record.severity = Severity(record.severity) if record.severity else None
        record.change = Change(record.change) if record.change else None
        return record

    def merge(self, phase: CheckRecord) -> None:
        """Fold a later phase (setup, call, teardown) of the same check into this record."""
        self.duration_s = round(self.duration_s + phase.duration_s, 3)
        self.notes = list(dict.fromkeys([*self.notes, *phase.notes]))
        self.attempts = max(self.attempts, phase.attempts)
        self.deadline_missed = self.deadline_missed or phase.deadline_missed
        self.blocked_by = self.blocked_by or phase.blocked_by
        self.silenced = self.silenced or phase.silenced
        if phase.outcome.weight < self.outcome.weight:
            self.outcome = phase.outcome
            self.message = phase.message
            self.remediation = phase.remediation
            self.diagnosis = phase.diagnosis
            self.evidence = phase.evidence
            self.evaluated = phase.evaluated
            self.reachable = phase.reachable
