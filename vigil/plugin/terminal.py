"""What the terminal shows of a run: each failure at the user's `--tb`, a pass that needed a
retry as `R`, and the last words: what changed since the last run, the verdicts, the gate
with the run's final exit status, and a short summary that leads with each message.

`--tb=line` prints one line per failure (test id, message, runbook id); `--tb=short` the
message and the first remediation step; any other style, the whole story (message, runbook
block, evidence), as JUnit and every report keep it whatever the style.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

import pytest
from _pytest._code.code import TerminalRepr
from _pytest._io import TerminalWriter

from vigil.record import CheckRecord
from vigil.reports.changes import age, failing_for
from vigil.reports.view import changed, reading_order, silenced, target_rows

if TYPE_CHECKING:
    from vigil.plugin.state import RunState
    from vigil.reports.results import RunResults

SHOWN_PER_CHANGE = 5  # lines per kind of change on screen; the reports list them all
SHOWN_TARGETS = 10  # failing targets on screen
MIN_MESSAGE_WIDTH = 30


class CrashLine:
    """Stands where pytest reads a failure's one line (`--tb=line`, the short summary, JUnit's
    message attribute): the test id, the message and the runbook entry."""

    def __init__(self, record: CheckRecord) -> None:
        self.message = record.message
        self.path, self.lineno = record.id, 0
        self.line = f"{record.id}: {first_line(record.message)}" + (
            f" [runbook {record.runbook}]" if record.runbook else ""
        )

    def __str__(self) -> str:
        return self.line

    def toterminal(self, tw: TerminalWriter) -> None:
        tw.line(self.line)


class CheckRepr(TerminalRepr):
    """A failed check: on screen at the user's `--tb`; as text (`str()`, which JUnit
    writes), the whole story."""

    def __init__(self, full: str, record: CheckRecord, style: str) -> None:
        self.full, self.record, self.style = full, record, style
        self.reprcrash = CrashLine(record)
        self.blocked: tuple[str, list[str]] | None = None  # checks not evaluated behind it

    def __str__(self) -> str:
        return self.full

    def toterminal(self, tw: TerminalWriter) -> None:
        if self.style == "line":
            return  # pytest writes the crash line itself after this

        record = self.record
        for line in (record.message or str(record.outcome)).splitlines():
            tw.line(line, red=True, bold=True)
        if record.remediation:
            tw.line(f"first step: {record.remediation[0]}")
        if record.runbook:
            more = len(record.remediation) - 1
            rest = f"; {more} more steps with --tb=long" if more > 0 else ""
            tw.line(f"runbook: {record.runbook} ({record.severity}){rest}")
        if self.blocked:
            title, ids = self.blocked
            tw.line(f"{title}: {', '.join(ids)}")


class QuietPhases:
    """pytest's terminal keeps every passing set-up and tear-down report in `stats[""]`, and
    for each failure in the summary scans them all for that test's tear-down output:
    quadratic (1,000 unreachable targets, 2,000 failed checks: 1.2 s). A passing phase that
    captured nothing for a tear-down section leaves that list once the terminal has counted
    it; what it would have shown is nothing."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)  # after the terminal reporter added it
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.passed or report.when == "call":
            return
        if any("teardown" in name for name, _ in report.sections):
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        quiet = getattr(reporter, "stats", {}).get("")
        if quiet and quiet[-1] is report:
            quiet.pop()


def list_blocked(report: pytest.TestReport, blocked: list[CheckRecord]) -> None:
    """Under a reachability check's failure, the checks it stands for, one line each."""
    lines = [
        f"{record.id}: {'skipped' if str(record.outcome) == 'skipped' else 'not evaluated'}"
        + (f" [runbook {record.runbook}]" if record.runbook else "")
        for record in blocked
    ]
    title = f"not evaluated behind it ({len(lines)})"
    longrepr = report.longrepr
    if isinstance(longrepr, CheckRepr):
        longrepr.blocked = (title, [record.id for record in blocked])
    elif isinstance(longrepr, TerminalRepr) and hasattr(longrepr, "addsection"):
        longrepr.addsection(title, "\n".join(lines))


def show_at_style(report: pytest.TestReport, record: CheckRecord, style: str) -> None:
    """Give a failed check's report the terminal form `--tb=line` or `--tb=short` asks for."""
    if style in ("line", "short") and report.longrepr is not None:
        report.longrepr = CheckRepr(str(report.longrepr), record, style)


def teststatus(report: pytest.TestReport) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """A check that passed only on a retry is `R` in the progress line, FLAKY under -v; a
    silenced failure `x`, SILENCED; a check blocked by its target's reachability check `b`,
    BLOCKED, counted apart from the failures (its root's block lists it)."""
    data = getattr(report, "vigil", None)
    if report.when != "call" or not isinstance(data, dict):
        return None
    if data.get("silenced") and report.skipped and hasattr(report, "wasxfail"):
        return "silenced", "x", ("SILENCED", {"yellow": True})
    if data.get("blocked_by") and report.failed:
        return "blocked", "b", ("BLOCKED", {"yellow": True})
    if report.passed:
        attempts = int(data.get("attempts") or 1)
        if attempts > 1:
            return "passed", "R", (f"FLAKY (passed on attempt {attempts})", {"yellow": True})
    return None


def first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]


def summary(terminalreporter: Any, state: RunState, config: pytest.Config) -> None:
    """The last words: what changed, READY / NOT READY / PARTIAL per environment, the gate
    with the final exit status, the report files, and failures message first."""
    run = state.run
    if run is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section("vigil readiness", sep="=")
    _changes(write, run, _width(config))
    _targets(write, run, _width(config))
    if run.partial:
        write(f"partial run ({'; '.join(run.partial_reasons)}): no environment is declared READY")
    for environment in run.environments:
        counts = environment.failed_by_severity
        detail = ", ".join(f"{n} {sev}" for sev, n in counts.items() if n)
        if environment.problems:
            detail = f"{environment.source}: see above"
        elif environment.unranked:  # failures with no severity: a crashed fixture
            detail = ", ".join(filter(None, [detail, f"{environment.unranked} without a severity"]))
        aside = [
            f"{environment.blocked} not evaluated behind unreachable targets"
            if environment.blocked
            else "",
            f"{environment.silenced} silenced" if environment.silenced else "",
        ]
        if any(aside):
            detail = f"{detail or 'no failures'}; {', '.join(a for a in aside if a)}"
        write(f"{environment.name:<20} {environment.verdict:<11} {detail or 'no failures'}")
    _quiet(write, run)
    for sent in run.notify:
        where = f"{sent['environment']} {sent['notifier']}: {sent['status']}"
        write(f"notify: {where} ({sent['detail']})", red=sent["status"] == "failed")
    threshold = config.getoption("fail_on")
    if threshold:
        write(f"gate: --fail-on {threshold} -> exit status {state.exit_status}")
    for path in state.report_paths:
        write(f"report: {path}")
    if state.report_error:
        write(f"reports: {state.report_error}", red=True)
    blocked: dict[str, int] = {}
    for check in run.checks:
        if check.blocked_by and check.actionable:
            blocked[check.blocked_by] = blocked.get(check.blocked_by, 0) + 1
    told = [c for c in run.failures() if c.counted]
    _short_summary(terminalreporter, reading_order(told), config, blocked)


def _quiet(write: Any, run: RunResults) -> None:
    """Silenced failures (a few) and expired silences (all: each is to be removed)."""
    quiet = silenced(run)
    for check in quiet[:SHOWN_PER_CHANGE]:
        note = check.silenced or {}
        write(f"  SILENCED  {check.id} until {note.get('until')}: {note.get('reason')}")
    if len(quiet) > SHOWN_PER_CHANGE:
        write(f"  SILENCED  and {len(quiet) - SHOWN_PER_CHANGE} more (see the reports)")
    for expired in run.expired_silences:
        write(
            f"expired silence in {expired['environment']}: {expired['match']} (until"
            f" {expired['until']}: {expired['reason']}) silences nothing now; remove or renew it",
            yellow=True,
        )


def _width(config: pytest.Config) -> int | None:
    """The terminal's width when lines are to be trimmed to it (not under -vv or on CI)."""
    if config.get_verbosity() >= 2 or _on_ci():
        return None
    return shutil.get_terminal_size(fallback=(80, 24)).columns


def _changes(write: Any, run: RunResults, width: int | None) -> None:
    now, previous = run.started_at, run.previous_run
    found = changed(run)
    if previous is None:
        write("no earlier run in the report directory: every failure counts as new")
        found = {kind: found[kind] for kind in ("flapping", "flaky")}
    elif not any(found.values()):
        write(f"nothing changed since the last run ({previous})")
    else:
        write(f"changes since the last run ({previous}):")
    for kind, checks in found.items():
        label = kind.upper()
        for check in checks[:SHOWN_PER_CHANGE]:
            where = f"{check.environment}/{check.target}" if check.target else check.environment
            if kind == "still":
                what = f"{check.check} failing for {age(check.failing_since, now)}"
            elif kind == "resolved":
                what = f"{check.check} passes again"
            elif kind == "flaky":
                what = f"{check.check} passed on attempt {check.attempts}"
            elif kind == "flapping":
                what = f"{check.check} changed 4+ times in its last 10 runs"
            else:
                what = first_line(check.message)
            line = f"  {label:<9} {check.severity or '':<4} {where}: {what}"
            write(_trimmed(line, width) if width else line)
        if len(checks) > SHOWN_PER_CHANGE:
            write(f"  {label:<9} and {len(checks) - SHOWN_PER_CHANGE} more (see the reports)")


def _targets(write: Any, run: RunResults, width: int | None) -> None:
    """The failing targets, one line each: status, worst severity, how long, which systems."""
    failing = [row for row in target_rows(run) if row.failing]
    if not failing:
        return
    write("failing targets:")
    shown = failing[:SHOWN_TARGETS]
    where = [f"{row.environment}/{row.target}" for row in shown]
    column = min(max(26, *(len(text) for text in where)), 40)  # a long name cuts, not shifts
    for target, row in zip(where, shown, strict=True):
        systems = ", ".join(f"{name} {bad}/{total}" for name, bad, total in row.systems() if bad)
        since = failing_for(row.failing_since, run.started_at)
        label = target if len(target) <= column else target[: column - 3] + "..."
        line = f"  {label:<{column}} {row.status:<11} {row.worst or '':<4} {since:<11} {systems}"
        write(_trimmed(line, width) if width else line)
    if len(failing) > SHOWN_TARGETS:
        write(f"  and {len(failing) - SHOWN_TARGETS} more (see the reports)")


def _short_summary(
    terminalreporter: Any,
    failures: list[CheckRecord],
    config: pytest.Config,
    blocked: dict[str, int],
) -> None:
    """pytest's short summary of failures, with the message first and the test id after it
    (pytest's own lines give an 80-column terminal's width to the file path)."""
    chars = getattr(terminalreporter, "reportchars", None)
    if not failures or not isinstance(chars, str) or not set("fE") & set(chars):
        return
    terminalreporter.reportchars = chars.replace("f", "").replace("E", "")
    terminalreporter.write_sep("=", "short test summary info", cyan=True)
    width = _width(config)
    for check in failures:
        word = "ERROR" if str(check.outcome) == "error" else "FAILED"
        tail = f" - {check.id}"  # the test id, as -k and --lf take it
        if blocked.get(check.id):
            tail += f" (+{blocked[check.id]} not evaluated behind it)"
        message = first_line(check.message) or str(check.outcome)
        if width:
            message = _trimmed(message, max(MIN_MESSAGE_WIDTH, width - len(word) - 1 - len(tail)))
        terminalreporter.write(word, red=True, bold=True)
        terminalreporter.write(f" {message}{tail}\n")


def _trimmed(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 3, 1)] + "..."


def _on_ci() -> bool:
    import os

    return any(os.environ.get(name) for name in ("CI", "BUILD_NUMBER"))
