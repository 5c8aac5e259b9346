"""Gathering the run's records on the controller (under xdist, the workers' reports arrive
there with their records), one per check, phases folded, in an order independent of how
the checks were run, so the reports of `-n 0` and `-n 4` runs are identical but for times.

The collector also knows whether the run looked at every check its environments and `-m`
markers selected (`partial_reasons`): `-k`, `--lf`, `--sw`, named files or node ids, `-x`
stopping early, an interrupted run, the `--deadline`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from vigil.plugin import terminal
from vigil.plugin.failure import record_of
from vigil.record import CheckRecord, Outcome
from vigil.redact import Redactor


class ResultCollector:
    """Registered as a plugin on the controller only."""

    def __init__(self, redactor: Redactor, tbstyle: str = "auto") -> None:
        self.records: dict[str, CheckRecord] = {}
        self.started = datetime.now(UTC)
        self.clean = redactor
        self.tbstyle = tbstyle
        self.last_failed: set[str] = set()  # what --lf narrows to, read before the run
        self.setup_s: dict[str, float] = {}  # passing set-ups' times, until their call phase
        self.failed_reports: dict[str, pytest.TestReport] = {}  # by test id, as shown on screen

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        lfplugin = session.config.pluginmanager.get_plugin("lfplugin")
        if session.config.getoption("lf", False) and lfplugin is not None:
            self.last_failed = {str(nodeid) for nodeid in lfplugin.lastfailed}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = record_of(report)
        known = self.records.get(report.nodeid)
        if record is None and report.passed and report.when != "call":
            # A passing set-up or tear-down carries no record (10,000 checks, 20,000 fewer):
            # only its time, which waiting for the observation is part of.
            if known is None:
                self.setup_s[report.nodeid] = report.duration
            else:
                known.duration_s = round(known.duration_s + report.duration, 3)
            return
        if record is not None and report.failed:
            terminal.show_at_style(report, record, self.tbstyle)
            self.failed_reports[record.id] = report
        record = record or self._not_a_check(report)
        record.duration_s = round(record.duration_s + self.setup_s.pop(report.nodeid, 0.0), 3)
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

    def fold_blocked(self) -> None:
        """Root cause first, once every check has reported: a check stays blocked only by a
        root that failed (a root that passed on a later look carries nothing), and each
        root's failure on screen lists the checks it stands for."""
        by_id = {record.id: record for record in self.records.values()}
        behind: dict[str, list[CheckRecord]] = {}
        for record in self.records.values():
            if record.blocked_by is None:
                continue
            root = by_id.get(record.blocked_by)
            if root is None or not root.failing:
                record.blocked_by = None
            else:
                behind.setdefault(root.id, []).append(record)
        for root_id, blocked in behind.items():
            report = self.failed_reports.get(root_id)
            if report is not None:
                terminal.list_blocked(report, sorted(blocked, key=lambda r: r.id))

    def partial_reasons(self, session: pytest.Session, suite: Path) -> list[str]:
        """Why this run did not look at every check its environments and markers select;
        empty for a complete run (`-m` narrows what is asked, not how much of it is seen)."""
        config = session.config
        reasons = []
        if config.option.keyword:
            reasons.append(f"-k {config.option.keyword}")
        narrowed = [arg for arg in config.args if not _is_directory(arg, suite, config)]
        if narrowed:
            reasons.append(f"only {', '.join(narrowed)}")
        if getattr(config.option, "deselect", None):
            reasons.append("--deselect")
        if self.last_failed & set(self.records):
            reasons.append("--lf: only what failed last time")
        if config.getoption("stepwise", False):
            reasons.append("--sw: from the last failure on")
        ran = len(self.records)
        if ran < session.testscollected:
            reasons.append(f"stopped early: {ran} of {session.testscollected} checks ran")
        cut = sum(1 for record in self.records.values() if record.deadline_missed)
        if cut:
            reasons.append(f"--deadline: {cut} checks not observed in time")
        return reasons


def _is_directory(arg: str, suite: Path, config: pytest.Config) -> bool:
    """Whether a command-line argument names the whole suite (or a directory holding it)."""
    path = Path(arg.split("::")[0])
    path = (path if path.is_absolute() else Path(config.invocation_params.dir) / path).resolve()
    return "::" not in arg and (path == suite or path in suite.parents)


def _environment_of(test_id: str) -> str:
    if "[" in test_id:
        return test_id.split("[", 1)[1].split("/", 1)[0].rstrip("]")
    return ""
