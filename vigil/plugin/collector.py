"""Gathering the run's records on the controller (under xdist, the workers' reports arrive
there with their records), one per check, phases folded, in an order independent of how
the checks were run, so the reports of `-n 0` and `-n 4` runs are identical but for times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigil.plugin.failure import record_of
from vigil.record import CheckRecord, Outcome
from vigil.redact import Redactor


class ResultCollector:
    """Registered as a plugin on the controller only."""

    def __init__(self, redactor: Redactor) -> None:
        self.records: dict[str, CheckRecord] = {}
        self.started = datetime.now(UTC)
        self.clean = redactor

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = record_of(report) or self._not_a_check(report)
        known = self.records.get(report.nodeid)
        if known is None:
            self.records[report.nodeid] = record
        else:
            known.merge(record)

    def _not_a_check(self, report: pytest.TestReport) -> CheckRecord:
        """A report without a record: a broken environment file, an item of no family."""
        test_id = report.nodeid.rpartition("::")[2]
        if report.passed:
            outcome = Outcome.PASSED
        elif report.skipped:
            outcome = Outcome.SKIPPED
        else:
            outcome = Outcome.FAILED if report.when == "call" else Outcome.ERROR
        message = ""
        if report.failed:
            crash = getattr(report.longrepr, "reprcrash", None)
            text = crash.message if crash is not None else str(report.longrepr or "")
            message = self.clean(str(text).strip().removeprefix("Failed: "))
        return CheckRecord(
            id=test_id,
            check=test_id.split("[")[0],
            environment=_environment_of(test_id),
            target="",
            outcome=outcome,
            message=message,
            duration_s=round(report.duration, 3),
        )

    def checks(self) -> list[CheckRecord]:
        return sorted(self.records.values(), key=lambda c: (c.environment, c.id))


def _environment_of(test_id: str) -> str:
    if "[" in test_id:
        return test_id.split("[", 1)[1].split("/", 1)[0].rstrip("]")
    return ""
