"""The end of a run: the `--fail-on` gate, the memory of earlier runs, the reports, the
metrics, the notifications (`--notify`) and the last words on screen. Runs on the controller
(under xdist, the workers' reports arrive there).

The reports are written before anything is sent, and written again with each notifier's
status once they are done: a notifier that hangs or a run killed meanwhile never costs the
reports."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vigil.environment import Environment
from vigil.errors import VigilError
from vigil.plugin import allure, terminal
from vigil.plugin.configure import ini_path
from vigil.plugin.state import STATE_KEY, RunState
from vigil.record import CheckRecord
from vigil.redact import Redactor, redact_url
from vigil.reports.changes import remember
from vigil.reports.files import write_atomically
from vigil.reports.history import append_history, read_history
from vigil.reports.html import render_html
from vigil.reports.markdown import render_markdown
from vigil.reports.push import push_metrics
from vigil.reports.results import RunResults, summarize

PUSHGATEWAY_PASSWORD = "VIGIL_PUSHGATEWAY_PASSWORD"  # the variable --pushgateway-user reads


def sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Apply the gate, then write the reports and push the metrics once, on the controller."""
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.suite_run:
        return
    _gate(session, state, exitstatus)
    state.exit_status = int(session.exitstatus)
    if state.collector is None or config.option.collectonly:
        return  # nothing was checked: the last reports and metrics stay as they were
    directory = Path(config.invocation_params.dir, config.getoption("report_dir"))
    history = read_history(directory / "history.jsonl")
    state.collector.fold_blocked()
    checks = state.collector.checks()
    started = state.collector.started
    remember(checks, history, started.isoformat(timespec="seconds"))
    state.run = summarize(
        checks,
        [e.name for e in state.environments],
        _filters(config, state),
        int(session.exitstatus),
        started,
        datetime.now(UTC),
        partial_reasons=state.collector.partial_reasons(session, ini_path(config, "vigil_suite")),
        broken={Path(p.source).stem: (p.source, list(p.problems)) for p in state.problems},
    )
    state.run.previous_run = str(history[-1].get("time")) if history else None
    state.run.silences = silence_list(state.environments, checks, started)
    try:
        state.report_paths = write_reports(state.run, directory)
    except OSError as exc:
        state.report_error = f"cannot write reports to {directory}: {exc}"
    alluredir = config.getoption("allure_report_dir", None)
    if alluredir:
        try:
            allure.write_run_files(Path(config.invocation_params.dir, alluredir), state.run)
        except OSError as exc:
            state.report_error = f"cannot write Allure's run files to {alluredir}: {exc}"
    gateway = config.getoption("pushgateway")
    if gateway:
        try:
            push_metrics(
                gateway,
                state.run,
                timeout_s=10,
                user=config.getoption("pushgateway_user"),
                password=os.environ.get(PUSHGATEWAY_PASSWORD),
            )
            state.report_paths.append(f"metrics pushed to {redact_url(gateway)}")
        except VigilError as exc:
            state.report_error = str(exc)
            session.exitstatus = session.exitstatus or pytest.ExitCode.TESTS_FAILED
    if config.getoption("notify"):
        _notify(session, state, directory)
    state.exit_status = int(session.exitstatus)


def _notify(session: pytest.Session, state: RunState, directory: Path) -> None:
    """Send the run's news, then write the reports again with each notifier's status. A
    notifier that failed fails the run only under `--fail-on`."""
    from vigil.notify.send import notify  # httpx and the senders: only when asked to

    run = state.run
    assert run is not None
    configured = {e.name: e.spec.notify for e in state.environments if e.spec.notify}
    run.notify = notify(run, configured, directory, state.redactor or Redactor())
    if not run.notify:
        return
    try:
        write_readable(run, directory, read_history(directory / "history.jsonl"))
    except OSError as exc:
        state.report_error = f"cannot write reports to {directory}: {exc}"
    if run.notify_problems and session.config.getoption("fail_on", None) is not None:
        session.exitstatus = session.exitstatus or pytest.ExitCode.TESTS_FAILED


def silence_list(
    environments: list[Environment], checks: list[CheckRecord], now: datetime
) -> list[dict[str, Any]]:
    """Every configured silence: what it matches, until when, why, whether it has expired
    (then it silences nothing and every report lists it), and the checks it silenced."""
    found = []
    for environment in environments:
        for silence in environment.spec.silences:
            note = silence.as_note()
            found.append(
                {
                    "environment": environment.name,
                    **note,
                    "expired": silence.expired(now),
                    "checks": [
                        c.id
                        for c in checks
                        if c.environment == environment.name and c.silenced == note
                    ],
                }
            )
    return found


def _gate(session: pytest.Session, state: RunState, exitstatus: int) -> None:
    """`--fail-on sevN`: failures less severe than sevN do not fail the run."""
    threshold = session.config.getoption("fail_on", None)
    if threshold is None or exitstatus != pytest.ExitCode.TESTS_FAILED:
        return
    failing = state.collector.records.values() if state.collector else []
    blocking = [
        check
        for check in failing
        if check.actionable and (check.severity is None or check.severity.at_least(threshold))
    ]
    if not blocking and not _collection_failed(session):
        session.exitstatus = pytest.ExitCode.OK


def _filters(config: pytest.Config, state: RunState) -> dict[str, str]:
    return {
        "environments": ", ".join(e.name for e in state.environments),
        "markers": config.option.markexpr or "",
        "keywords": config.option.keyword or "",
        "fail_on": str(config.getoption("fail_on", None) or ""),
    }


def write_reports(run: RunResults, directory: Path) -> list[str]:
    """Append to history.jsonl, then write results.json, readiness.md and readiness.html, each
    replaced in one step (a run killed meanwhile leaves the old file or the new one)."""
    directory.mkdir(parents=True, exist_ok=True)
    history = append_history(directory / "history.jsonl", run)
    return write_readable(run, directory, history)


def write_readable(run: RunResults, directory: Path, history: list[dict[str, Any]]) -> list[str]:
    """results.json, readiness.md and readiness.html, each replaced in one step."""
    run.write_json(directory / "results.json")
    write_atomically(directory / "readiness.md", render_markdown(run, history))
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
    """The last thing on screen (`vigil.plugin.terminal`); pytest hands `exitstatus` as it
    was before the gate, so the final one is read from the run's state."""
    state = config.stash.get(STATE_KEY, None)
    if state and state.run is not None:
        terminal.summary(terminalreporter, state, config)
