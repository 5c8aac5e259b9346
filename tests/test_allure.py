"""Allure: each result labelled for the environment > system > runbook tree, a failure's kind
for the categories, the run's categories, environment and executor files; rendered with the
Allure 3 command line and the shipped configuration into a page that loads nothing from the
network, and read back from headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chromium import HEADLESS
from tests.conftest import ROOT, SuiteRun, write_env
from tests.servers import Endpoint, HttpServer, free_port

SECRET = "tok-sentinel-a11c0e"
RENDER = ROOT / "deploy" / "render-allure"
CHROMIUM = [
    *HEADLESS,
    "--window-size=1280,1400",
    "--virtual-time-budget=15000",  # the page renders itself with scripts: let them finish
]


@pytest.fixture
def allure_run(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> tuple[SuiteRun, Path]:
    down = http_server({"/health": Endpoint(503, {"status": "error"})})
    ok = http_server({"/health": Endpoint(200, {"status": "ok"})})
    good = write_env(
        tmp_path,
        "known",
        f"""
runbook_url: https://runbooks.example.com/platform
timeout_s: 2
http:
  services:
    - name: down
      url: {down.url("/health")}
      headers: {{Authorization: 'Bearer {SECRET}'}}
    - name: refused
      url: http://127.0.0.1:{free_port()}/health
      severity: sev2
    - name: ok
      url: {ok.url("/health")}
""",
    )
    broken = write_env(tmp_path, "broken", "timeout_s: -1\n")
    results = tmp_path / "allure-results"
    run = run_suite("--env", str(good), "--env", str(broken), f"--alluredir={results}")
    assert run.returncode == 1, run.output
    return run, results


def _by_name(results: Path) -> dict[str, dict[str, object]]:
    found = {}
    for path in results.glob("*-result.json"):
        data = json.loads(path.read_text())
        found[str(data["name"])] = data
    return found


def _labels(result: dict[str, object]) -> set[tuple[str, str]]:
    labels = result["labels"]
    assert isinstance(labels, list)
    return {(label["name"], label["value"]) for label in labels}


def test_results_carry_labels_links_and_the_kind_of_failure(
    allure_run: tuple[SuiteRun, Path],
) -> None:
    _, results = allure_run
    raw = "".join(p.read_text() for p in results.iterdir())
    assert SECRET not in raw
    by_name = _by_name(results)
    down = by_name["test_health_endpoint[known/down]"]
    assert {
        ("severity", "blocker"),
        ("parentSuite", "known"),
        ("suite", "http"),
        ("subSuite", "http-service-down"),
        ("runbook", "http-service-down"),
        ("target", "down"),
        ("failure", "symptom present"),
    } <= _labels(down)
    assert {
        "name": "runbook: http-service-down",
        "type": "link",
        "url": "https://runbooks.example.com/platform#http-service-down",
    } in down["links"]  # type: ignore[operator]
    description = str(down["description"])
    assert description.startswith("What to do:\n\n1. ")
    assert "Look closer:\n\n```sh\ncurl -sS -i -X GET http://127.0.0.1:" in description
    attachments = down["attachments"]
    assert isinstance(attachments, list)
    assert {a["name"] for a in attachments} == {"runbook", "evidence"}
    refused = by_name["test_health_endpoint[known/refused]"]
    assert {("severity", "critical"), ("failure", "target unreachable")} <= _labels(refused)
    assert by_name["environment[broken]"]["status"] == "broken"


def test_the_run_files_describe_the_run(allure_run: tuple[SuiteRun, Path]) -> None:
    _, results = allure_run
    categories = json.loads((results / "categories.json").read_text())
    assert [c["name"] for c in categories] == [
        "Target unreachable",
        "Symptom present",
        "Could not evaluate",
    ]
    properties = dict(
        line.split("=", 1) for line in (results / "environment.properties").read_text().splitlines()
    )
    assert properties["verdict.known"] == "NOT READY" and properties["verdict.broken"] == "BROKEN"
    assert properties["environments"] == "known, broken" and properties["partial"] == "no"
    executor = json.loads((results / "executor.json").read_text())
    assert executor["name"] == "Vigil" and executor["buildName"].startswith("vigil run 20")


def _seen(page: Path, fragment: str = "") -> str:
    """The text a browser shows of `page` once its scripts have run."""
    profile = page.parent / f"profile{len(fragment)}"
    dom = subprocess.run(
        [*CHROMIUM, f"--user-data-dir={profile}", "--dump-dom", page.as_uri() + fragment],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


def test_the_rendered_report_groups_by_environment_system_and_runbook(
    allure_run: tuple[SuiteRun, Path], tmp_path: Path
) -> None:
    _, results = allure_run
    report = tmp_path / "allure-report"
    subprocess.run([str(RENDER), str(results), str(report)], check=True, timeout=180)
    page = report / "index.html"
    html = page.read_text()
    assert "googletagmanager" not in html and not re.search(r"<script[^>]*src=\"https?:", html)
    tree = _seen(page)
    # The tree: environment, then system, then runbook entry, then the checks.
    start = tree.index("known")
    assert start < tree.index("http", start) < tree.index("http-service-down", start)
    assert tree.index("http-service-down", start) < tree.index("test_health_endpoint[known/down]")
    assert "verdict.known NOT READY" in tree  # environment.properties, as metadata
    categories = _seen(page, "#categories")
    for name, count in (
        ("Target unreachable", 1),
        ("Symptom present", 1),
        ("Could not evaluate", 1),
    ):
        assert f"{name} {count}" in categories, categories[:2000]
    assert SECRET not in tree and SECRET not in html
