"""The end of a run: the `--fail-on` gate, the reports, the metrics and the last words on
screen. Runs on the controller (under xdist, the workers' reports arrive there)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vigil.errors import VigilError
from vigil.plugin.state import STATE_KEY
from vigil.redact import redact_url
from vigil.reports.files import write_atomically
from vigil.reports.history import append_history
from vigil.reports.html import render_html
from vigil.reports.markdown import render_markdown
from vigil.reports.push import push_metrics
from vigil.reports.results import RunResults, summarize


def sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Apply the gate, then write the reports and push the metrics once, on the controller."""
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.suite_run:
        return
    threshold = config.getoption("fail_on", None)
    if threshold is not None and exitstatus == pytest.ExitCode.TESTS_FAILED:
        failing = state.collector.records.values() if state.collector else []
        blocking = [
            check
            for check in failing
            if check.failing and (check.severity is None or check.severity.at_least(threshold))
        ]
        if not blocking and not _collection_failed(session):
            session.exitstatus = pytest.ExitCode.OK
    if state.collector is None or config.option.collectonly:
        return  # nothing was checked: the last reports and metrics stay as they were
    filters = {
        "environments": ", ".join(e.name for e in state.environments),
        "markers": config.option.markexpr or "",
        "keywords": config.option.keyword or "",
        "fail_on": str(threshold or ""),
    }
    names = [e.name for e in state.environments]
    state.run = summarize(
        state.collector.checks(),
        names,
        filters,
        int(session.exitstatus),
        state.collector.started,
        datetime.now(UTC),
    )
    directory = Path(config.invocation_params.dir, config.getoption("report_dir"))
    try:
        state.report_paths = write_reports(state.run, directory)
    except OSError as exc:
        state.report_error = f"cannot write reports to {directory}: {exc}"
    gateway = config.getoption("pushgateway")
    if gateway:
        try:
            push_metrics(gateway, state.run, timeout_s=10)
            state.report_paths.append(f"metrics pushed to {redact_url(gateway)}")
        except VigilError as exc:
            state.report_error = str(exc)
            session.exitstatus = session.exitstatus or pytest.ExitCode.TESTS_FAILED


def write_reports(run: RunResults, directory: Path) -> list[str]:
    """Write readiness.md, readiness.html, results.json and append to history.jsonl."""
    directory.mkdir(parents=True, exist_ok=True)
    history = append_history(directory / "history.jsonl", run)
    run.write_json(directory / "results.json")
    write_atomically(directory / "readiness.md", render_markdown(run))
    write_atomically(directory / "readiness.html", render_html(run, history))
    return [str(directory / name) for name in ("readiness.md", "readiness.html", "results.json")]


def _collection_failed(session: pytest.Session) -> bool:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    return bool(
        reporter
        and reporter.stats.get("error")
        and any(not isinstance(r, pytest.TestReport) for r in reporter.stats["error"])
    )


def terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The last thing on screen: READY / NOT READY per environment, failures by severity."""
    state = config.stash.get(STATE_KEY, None)
    if not state or state.run is None:
        return
    terminalreporter.section("vigil readiness", sep="=")
    broken = {Path(problem.source).stem for problem in state.problems}
    for environment in state.run.environments:
        if environment.name in broken:
            continue  # said below, once
        verdict = environment.verdict
        counts = environment.failed_by_severity
        detail = ", ".join(f"{n} {sev}" for sev, n in counts.items() if n)
        errors = environment.counts["failed"] + environment.counts["error"] - sum(counts.values())
        if errors:  # failures with no severity: a broken file, a crashed fixture
            detail = ", ".join(filter(None, [detail, f"{errors} without a severity"]))
        terminalreporter.write_line(
            f"{environment.name:<20} {verdict:<10} {detail or 'no failures'}"
        )
    for problem in state.problems:
        terminalreporter.write_line(
            f"{Path(problem.source).stem:<20} {'BROKEN':<10} {problem.source}: see above"
        )
    threshold = config.getoption("fail_on")
    if threshold:
        terminalreporter.write_line(f"gate: --fail-on {threshold} -> exit status {exitstatus}")
    for path in state.report_paths:
        terminalreporter.write_line(f"report: {path}")
    if state.report_error:
        terminalreporter.write_line(f"reports: {state.report_error}", red=True)
