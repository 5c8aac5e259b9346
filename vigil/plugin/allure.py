"""Allure: severity, runbook link and grouping labels at collection; remediation and evidence
at failure. Only used when allure-pytest is active (`--alluredir`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from vigil.plugin.state import CheckInfo

ALLURE_SEVERITY = {"sev1": "blocker", "sev2": "critical", "sev3": "normal", "sev4": "minor"}


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
    ]
    if link:
        marks.append(pytest.mark.allure_link(link, link_type="link", name=f"runbook: {runbook}"))
    for mark in marks:
        item.add_marker(mark)


def describe_failure(runbook_block: str, remediation: list[str], evidence: list[str]) -> None:
    """Attach the rendered remediation (as the description) and the evidence to the current test."""
    import allure

    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(remediation, 1))
    allure.dynamic.description(f"What to do:\n\n{steps}")  # type: ignore[no-untyped-call]
    allure.attach(runbook_block, name="runbook", attachment_type=allure.attachment_type.TEXT)
    if evidence:
        allure.attach(
            "\n".join(evidence), name="evidence", attachment_type=allure.attachment_type.TEXT
        )
