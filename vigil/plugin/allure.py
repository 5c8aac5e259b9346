"""Allure: severity, runbook link and grouping labels at collection; remediation, diagnosis,
evidence and the kind of failure at failure; the run's categories, environment and executor
files at the end. Only used when allure-pytest is active (`--alluredir`).

`deploy/allurerc.mjs` is the Allure 3 configuration that goes with these labels: the tree
grouped environment > system > runbook, and the categories by the `failure` label.
"""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from vigil.record import CheckRecord
from vigil.reports import markdown
from vigil.reports.files import write_atomically

if TYPE_CHECKING:
    from vigil.plugin.state import CheckInfo
    from vigil.reports.results import RunResults

ALLURE_SEVERITY = {"sev1": "blocker", "sev2": "critical", "sev3": "normal", "sev4": "minor"}
UNREACHABLE, SYMPTOM, NOT_EVALUATED = "target unreachable", "symptom present", "not evaluated"

# For Allure 2 and Allure 3's classic view, which read categories.json from the results: they
# match messages, where Allure's message of a check that could not look names NotEvaluated.
CATEGORIES = [
    {
        "name": "Target unreachable",
        "description": "the probe could not observe the target (refused, timed out, no answer)",
        "matchedStatuses": ["failed"],
        "messageRegex": "(?s).*(NotEvaluated|no response|no complete response).*",
    },
    {
        "name": "Symptom present",
        "description": "the target answered and the runbook's symptom is there",
        "matchedStatuses": ["failed"],
    },
    {
        "name": "Could not evaluate",
        "description": "the check could not run: a broken environment file, a crashed check,"
        " a missing permission or extension",
        "matchedStatuses": ["broken", "skipped"],
    },
]


def label(item: pytest.Item, info: CheckInfo) -> None:
    """Mark an item so Allure groups it by environment / system / runbook and links the entry."""
    environment = info.target.environment.name
    system, runbook, severity = info.entry.system, info.entry.id, str(info.severity)
    link = info.target.environment.link(runbook)
    marks = [
        pytest.mark.allure_label(ALLURE_SEVERITY[severity], label_type="severity"),
        pytest.mark.allure_label(environment, label_type="parentSuite"),
        pytest.mark.allure_label(system, label_type="suite"),
        pytest.mark.allure_label(runbook, label_type="subSuite"),
        pytest.mark.allure_label(environment, label_type="epic"),
        pytest.mark.allure_label(system, label_type="feature"),
        pytest.mark.allure_label(runbook, label_type="story"),
        pytest.mark.allure_label(environment, label_type="environment"),
        pytest.mark.allure_label(runbook, label_type="runbook"),
        pytest.mark.allure_label(info.target.name, label_type="target"),
    ]
    if link:
        marks.append(pytest.mark.allure_link(link, link_type="link", name=f"runbook: {runbook}"))
    for mark in marks:
        item.add_marker(mark)


def failure_kind(record: CheckRecord) -> str:
    """Which Allure category a failed check falls in."""
    if not record.reachable:
        return UNREACHABLE
    return SYMPTOM if record.evaluated else NOT_EVALUATED


def describe_failure(record: CheckRecord, runbook_block: str) -> None:
    """Attach the rendered remediation (as the description), the diagnosis commands, the
    runbook block and the evidence to the current test, and label the kind of failure."""
    import allure

    # Allure renders the description as Markdown: the same escaping as readiness.md.
    steps = "\n".join(f"{n}. {markdown.step(s)}" for n, s in enumerate(record.remediation, 1))
    description = f"What to do:\n\n{steps}"
    if record.diagnosis:
        commands = "\n".join(markdown.fence(record.diagnosis, "sh"))
        description += f"\n\nLook closer:\n\n{commands}"
    allure.dynamic.description(description)  # type: ignore[no-untyped-call]
    allure.dynamic.label("failure", failure_kind(record))  # type: ignore[no-untyped-call]
    allure.attach(runbook_block, name="runbook", attachment_type=allure.attachment_type.TEXT)
    if record.evidence:
        allure.attach(
            "\n".join(record.evidence), name="evidence", attachment_type=allure.attachment_type.TEXT
        )


def mark_flaky(attempts: int) -> None:
    """A check that passed only on a retry carries a `flaky` tag and its attempts."""
    import allure

    allure.dynamic.tag("flaky")  # type: ignore[no-untyped-call]
    allure.dynamic.label("attempts", str(attempts))  # type: ignore[no-untyped-call]


def write_run_files(directory: Path, run: RunResults) -> None:
    """categories.json, environment.properties and executor.json for the run, beside the
    results allure-pytest wrote."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / "categories.json", json.dumps(CATEGORIES, indent=2) + "\n")
    properties = {
        "environments": ", ".join(e.name for e in run.environments),
        **{f"verdict.{e.name}": e.verdict for e in run.environments},
        **{f"filter.{key}": str(value) for key, value in run.filters.items() if value},
        "partial": "; ".join(run.partial_reasons) or "no",
        "started_at": run.started_at,
        "vigil": _version("vigil"),
        "pytest": pytest.__version__,
        "python": platform.python_version(),
    }
    write_atomically(
        directory / "environment.properties",
        "".join(f"{_escape(k)}={_escape(v)}\n" for k, v in properties.items()),
    )
    executor = {
        "name": "Vigil",
        "type": "vigil",
        "buildName": f"vigil run {run.started_at}",
        "reportName": "Vigil readiness",
    }
    write_atomically(directory / "executor.json", json.dumps(executor, indent=2) + "\n")


def _escape(text: str) -> str:
    """A key or value of a Java properties file, on one line."""
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return escaped.replace("=", "\\=").replace(":", "\\:")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
