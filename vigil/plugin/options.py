"""Command-line and ini options, in one group, each checked by a small `type=` function that
says what to write instead."""

from __future__ import annotations

import pytest

from vigil import sandbox
from vigil.severity import Severity

# Where things are, relative to the rootdir; ini options so a team's repository can differ.
INI_DEFAULTS = {
    "vigil_suite": ("checks", "the directory of the check modules"),
    "vigil_environments": ("environments", "the directory of the environment files"),
    "vigil_catalog": (
        "runbooks",
        "catalog overlays: files or directories of *.yaml merged over the default catalog",
    ),
}


def severity_option(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise pytest.UsageError(f"--fail-on {value!r}: {exc}") from None


def seconds_option(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if seconds <= 0:
        raise pytest.UsageError(f"--deadline {value!r}: give a number of seconds above 0")
    return seconds


def concurrency_option(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise pytest.UsageError(f"--probe-concurrency {value!r}: give a whole number above 0")
    return number


MAX_RETRIES = 10


def retries_option(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= MAX_RETRIES:
        raise pytest.UsageError(f"--retries {value!r}: give a whole number from 0 to {MAX_RETRIES}")
    return number


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vigil", "Vigil smoke and readiness checks")
    group.addoption(
        "--env",
        action="append",
        default=[],
        metavar="NAME|PATH.yaml|all",
        help="environment to check: environments/NAME.yaml, a YAML file, or 'all' (repeatable;"
        " default: sandbox)",
    )
    group.addoption(
        "--fail-on",
        type=severity_option,
        default=None,
        metavar="sevN",
        help="exit non-zero only if a check of this severity or a more severe one failed",
    )
    group.addoption(
        "--deadline",
        type=seconds_option,
        default=None,
        metavar="SECONDS",
        help="bound the whole run: checks not evaluated by then fail as 'not evaluated: deadline'",
    )
    group.addoption(
        "--retries",
        type=retries_option,
        default=None,
        metavar="N",
        help="look again, up to N more times, at a target whose check failed before the check"
        " counts as failed (a pass on a retry is shown as flaky); `retries:` in an environment"
        " file or on a target takes precedence",
    )
    group.addoption(
        "--probe-concurrency",
        type=concurrency_option,
        default=None,
        metavar="N",
        help="probes in flight at once (default: as many as the open-files limit allows;"
        " 1 observes one target at a time)",
    )
    group.addoption(
        "--report-dir",
        default="reports",
        metavar="DIR",
        help="write readiness.md, readiness.html, results.json and history.jsonl here"
        " (default: reports/)",
    )
    group.addoption(
        "--notify",
        action="store_true",
        default=False,
        help="send the run's news to the notifiers of each environment's notify: section"
        " (Alertmanager, Slack, PagerDuty, a webhook); without it nothing is sent",
    )
    group.addoption(
        "--pushgateway",
        default=None,
        metavar="URL",
        help="push per-environment readiness metrics to this Prometheus Pushgateway"
        " (basic auth: user:password@ in the URL, or --pushgateway-user)",
    )
    group.addoption(
        "--pushgateway-user",
        default=None,
        metavar="NAME",
        help="basic-auth user for the Pushgateway; the password is read from the variable"
        " VIGIL_PUSHGATEWAY_PASSWORD",
    )
    group.addoption(
        "--sandbox-home",
        default=None,
        metavar="DIR",
        help="where the sandbox keeps its state, DIR/.vigil/ (default: the project root)",
    )
    group.addoption(
        "--sandbox-scenario",
        choices=sandbox.SCENARIOS,
        default=None,
        help="scenario of the local sandbox when it is started (default: healthy)",
    )
    for name, (default, help_text) in INI_DEFAULTS.items():
        parser.addini(name, f"{help_text} (default: {default})", type="args", default=[default])
