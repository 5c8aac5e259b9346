"""Each check's record, and a failure told the way an on-call engineer reads it.

For every phase report of a check this module makes the check's `CheckRecord`: outcome,
message, rendered remediation and diagnosis, evidence, notes. This is where text from a
target enters the record, so this is where it is masked and made inert, once
(`RunState.redactor`). The record travels with the report (`report.vigil`, plain data) to
the controller, where every report writer reads it. The terminal, JUnit and Allure show the
same record: the message, then the runbook block and the evidence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from _pytest._code.code import ExceptionChainRepr, ExceptionRepr

from vigil.escalation import escalation_step
from vigil.expect import CheckFailed, NotEvaluated
from vigil.plugin import allure
from vigil.plugin.roots import BLOCKED_BY, Root
from vigil.plugin.state import ATTEMPTS, CHECK_KEY, DEADLINE_MISSED, CheckInfo, state_of
from vigil.record import CheckRecord, Outcome
from vigil.redact import Redactor
from vigil.reports.view import unfilled
from vigil.runbook import render
from vigil.severity import Severity
from vigil.silences import Facts, Silence, silence_for

RECORD_ATTRIBUTE = "vigil"  # report.vigil: the record as plain data, across xdist too


def setup_properties(item: pytest.Item) -> None:
    """Label the check's reports (all phases; JUnit reads the last) with its runbook facts."""
    info = item.stash.get(CHECK_KEY, None)
    if info is None:
        return
    target, entry = info.target, info.entry
    item.user_properties += [
        ("runbook", entry.id),
        ("severity", str(info.severity)),
        ("system", entry.system),
        ("environment", target.environment.name),
        ("target", target.name),
        ("runbook_title", entry.title),
    ]
    link = target.environment.link(entry.id)
    if link:
        item.user_properties.append(("runbook_url", link))
    item.user_properties += [("note", note) for note in target.notes]


def make_record(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
    """Attach the phase's record to the report; under a failure, show its story."""
    info = item.stash.get(CHECK_KEY, None)
    if info is None or (report.passed and report.when != "call"):
        return  # a passing set-up or tear-down adds only its time (the collector's)
    clean = state_of(item.config).redactor or Redactor()
    record = _record(item, info, report, clean)
    error = call.excinfo.value if call.excinfo is not None else None
    root = item.stash.get(BLOCKED_BY, None) if report.when == "call" else None
    if root is not None:
        record.blocked_by = root.test_id
    if report.failed and root is not None and isinstance(error, NotEvaluated):
        # Its story is the root's: the reachability check tells it, with its steps, once.
        record.message = clean(f"not evaluated: {one_line(error.message)}")
        record.evaluated = record.reachable = False
        record.evidence = [f"blocked by {root.test_id}"]
        _clean_exception(error, record.message)
        report.longrepr = f"{record.message} (blocked by {root.test_id})"
        blocked = [("evaluated", "no"), ("blocked_by", root.test_id)]
        report.user_properties += blocked
        item.user_properties += blocked
    elif report.failed:
        # Names and vars are one line each in a step: a newline in a target's name must not
        # forge a numbered step of its own.
        values = {k: clean(v, newlines=False) for k, v in info.target.template_values().items()}
        if isinstance(error, CheckFailed):
            values.update({k: clean(v, newlines=False) for k, v in error.values.items()})
            record.evidence = [clean(one_line(line)) for line in error.evidence]
            record.message = clean(one_line(error.message))
            record.evaluated = not isinstance(error, NotEvaluated)
            if not record.evaluated:
                record.message = f"not evaluated: {record.message}"
        else:
            record.message = clean(one_line(_crash_message(report)))
        _clean_exception(error, record.message)
        # Steps are filled with the target's values (its URL, its DSN): masked like the rest.
        record.remediation = [clean(render(step, values)) for step in info.entry.remediation]
        escalate = escalation_step(info.target.environment.spec.escalation)
        if escalate and info.severity is Severity.SEV1:  # the check's severity, overrides too
            record.remediation.append(clean(escalate))
        record.diagnosis = [clean(render(step, values)) for step in info.entry.diagnosis]
        _tell(item, report, info, record, clean, isinstance(error, CheckFailed))
    elif report.skipped and isinstance(report.longrepr, tuple):
        record.message = clean(str(report.longrepr[2]).removeprefix("Skipped: "))
    if report.failed:
        _silence(item, info, report, record, root)
    if report.when == "call" and record.attempts > 1:
        attempts = [("attempts", str(record.attempts))]
        report.user_properties += attempts
        item.user_properties += attempts
        if report.passed and item.config.getoption("allure_report_dir", None):
            allure.mark_flaky(record.attempts)
    setattr(report, RECORD_ATTRIBUTE, record.to_data())


def _silence(
    item: pytest.Item,
    info: CheckInfo,
    report: pytest.TestReport,
    record: CheckRecord,
    root: Root | None,
) -> None:
    """A failure a silence in force matches (its own, or its root's when it is blocked)
    stays failed in its record, with the silence, and is an expected failure for pytest
    (`x`, SILENCED): it fails neither the run nor a gate."""
    silences = info.target.environment.spec.silences
    if not silences:
        return
    now = datetime.now(UTC)
    found = silence_for(silences, _facts(record.id, info), now)
    if found is None and root is not None:
        found = silence_for(silences, _facts(root.test_id, root.info), now)
    if found is not None:
        record.silenced = _note(found, state_of(item.config).redactor or Redactor())
        report.outcome = "skipped"
        report.wasxfail = f"silenced until {found.until_text()}: {record.silenced['reason']}"


def _facts(test_id: str, info: CheckInfo) -> Facts:
    return Facts(
        check=test_id.split("[")[0],
        target=info.target.name,
        runbook=info.entry.id,
        system=info.entry.system,
        id=test_id,
    )


def _note(silence: Silence, clean: Redactor) -> dict[str, str]:
    return {key: clean(value, newlines=False) for key, value in silence.as_note().items()}


def one_line(text: str) -> str:
    """A message or evidence line stays one line whatever a target put in it: a newline in a
    component's name is shown as `\\n`, it does not start a line of its own."""
    return text.replace("\r\n", "\n").replace("\n", "\\n")


def _clean_exception(error: BaseException | None, message: str) -> None:
    """Outputs that read the exception itself (Allure's status message) read it cleaned."""
    if isinstance(error, CheckFailed):
        error.msg = message
    elif error is not None and len(error.args) == 1 and isinstance(error.args[0], str):
        error.args = (message,)


def _record(
    item: pytest.Item, info: CheckInfo, report: pytest.TestReport, clean: Redactor
) -> CheckRecord:
    target, entry = info.target, info.entry
    test_id = item.nodeid.rpartition("::")[2]
    if report.passed:
        outcome = Outcome.PASSED
    elif report.skipped:
        outcome = Outcome.SKIPPED
    else:
        outcome = Outcome.FAILED if report.when == "call" else Outcome.ERROR
    return CheckRecord(
        id=test_id,
        check=test_id.split("[")[0],
        environment=clean(target.environment.name, newlines=False),
        target=clean(target.name, newlines=False),
        outcome=outcome,
        severity=info.severity,
        system=entry.system,
        runbook=entry.id,
        runbook_title=entry.title,
        runbook_url=target.environment.link(entry.id),
        evaluated=DEADLINE_MISSED not in item.stash,
        duration_s=round(report.duration, 3),
        notes=list(target.notes),
        attempts=item.stash.get(ATTEMPTS, 1) if report.when == "call" else 1,
        reachable=report.when != "call" or _observed(item, info),
        deadline_missed=DEADLINE_MISSED in item.stash,
    )


def _observed(item: pytest.Item, info: CheckInfo) -> bool:
    """Whether every observation the check read was made (the probe reached the target)."""
    funcargs = getattr(item, "funcargs", {})
    return not any(getattr(funcargs.get(name), "error", None) for name in info.observations)


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).removeprefix("Failed: ")
    return str(report.longrepr or "").strip()


def _tell(
    item: pytest.Item,
    report: pytest.TestReport,
    info: CheckInfo,
    record: CheckRecord,
    clean: Redactor,
    check_failed: bool,
) -> None:
    """The failure as every output shows it: JUnit properties, Allure, the terminal."""
    extra = [("remediation", "\n".join(record.remediation))]
    if record.evidence:
        extra.append(("evidence", "\n".join(record.evidence)))
    if not record.evaluated:
        extra.append(("evaluated", "no"))
    report.user_properties += extra
    item.user_properties += extra
    block = runbook_text(info, record)
    if item.config.getoption("allure_report_dir", None):
        allure.describe_failure(record, block)
    longrepr = report.longrepr
    _mask(longrepr, clean)
    if isinstance(longrepr, ExceptionChainRepr) and longrepr.reprcrash is not None:
        object.__setattr__(longrepr.reprcrash, "message", record.message)
    if isinstance(longrepr, ExceptionRepr):
        if check_failed:
            _replace_value_lines(longrepr, record.message)
        longrepr.addsection("runbook", block)
        if record.evidence:
            longrepr.addsection("evidence", "\n".join(record.evidence))


def _replace_value_lines(longrepr: ExceptionRepr, message: str) -> None:
    """A failed check's text is its record's message, as in the summary: one line, cleaned,
    "not evaluated: " first when the check could not look."""
    entries = longrepr.reprtraceback.reprentries
    if entries and hasattr(entries[-1], "lines"):
        object.__setattr__(entries[-1], "lines", message.splitlines())


def _mask(longrepr: object, clean: Redactor) -> None:
    """No failure text leaves with a secret or a control character in it, whatever a probe
    or a library put in an exception message."""
    if not isinstance(longrepr, ExceptionChainRepr):
        return
    for reprtraceback, reprcrash, _ in longrepr.chain:
        if reprcrash is not None:
            object.__setattr__(reprcrash, "message", clean(reprcrash.message))
        for entry in reprtraceback.reprentries:
            if hasattr(entry, "lines"):
                object.__setattr__(entry, "lines", [clean(line) for line in entry.lines])
    if longrepr.reprcrash is not None:
        object.__setattr__(longrepr.reprcrash, "message", clean(longrepr.reprcrash.message))


def runbook_text(info: CheckInfo, record: CheckRecord) -> str:
    """The block shown under a failure: entry, link, what to do, how to look closer."""
    entry = info.entry
    lines = [
        f"runbook:  {entry.id} - {entry.title} ({info.severity})",
        f"target:   {record.environment} / {record.target}",
    ]
    if record.runbook_url:
        lines.append(f"link:     {record.runbook_url}")
    lines.append("what to do:")
    lines += [f"  {n}. {step}" for n, step in enumerate(record.remediation, 1)]
    if record.diagnosis:
        lines.append("look closer:")
        lines += [f"  $ {step}" for step in record.diagnosis]
    holes = unfilled([*record.remediation, *record.diagnosis])
    if holes:
        keys = ", ".join(f"{name}:" for name in holes)
        lines.append(
            f"not filled: {', '.join('{' + n + '}' for n in holes)} (set {keys} under vars:)"
        )
    return "\n".join(lines)


def drop_record(report: pytest.TestReport) -> None:
    """Once every hook has read a passing check's record, drop it from the report (pytest's
    terminal keeps every report to the end: 10,000 records it does not need). A check that
    passed on a retry keeps it: the final summary shows it as FLAKY."""
    data = getattr(report, RECORD_ATTRIBUTE, None)
    if report.passed and isinstance(data, dict) and int(data.get("attempts") or 1) == 1:
        delattr(report, RECORD_ATTRIBUTE)


def record_of(report: Any) -> CheckRecord | None:
    """The record a report carries, if it is a check's."""
    data = getattr(report, RECORD_ATTRIBUTE, None)
    return CheckRecord.from_data(data) if isinstance(data, dict) else None
