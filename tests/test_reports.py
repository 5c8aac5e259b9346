"""Reports: complete and identical with or without xdist, secret-free, readable, pushed."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.certs import TestCA
from tests.chromium import HEADLESS
from tests.conftest import SuiteRun, write_env
from tests.pushgateway import pushgateway, scrape
from tests.servers import Endpoint, HttpServer, free_port
from vigil.record import CheckRecord, Outcome
from vigil.reports.results import json_text, summarize
from vigil.reports.view import split_commands
from vigil.severity import Severity

SECRET = "tok-sentinel-7f3a9c"
URL_SECRET = "pw-sentinel-51be0d"


@pytest.fixture
def known_failures(tmp_path: Path, http_server: Callable[..., HttpServer]) -> Path:
    """An environment with three known failures (sev1, sev2, sev3) among healthy checks."""
    ok = http_server({"/health": Endpoint(200, {"status": "ok"})})
    down = http_server({"/health": Endpoint(503, {"status": "error"})})
    slow = http_server({"/health": Endpoint(200, {"status": "ok"}, delay_s=0.4)})
    services = "\n".join(
        f"    - name: ok{i}\n      url: {ok.url('/health')}\n      expect_json: {{status: ok}}\n"
        f"      headers: {{Authorization: 'Bearer {SECRET}'}}"
        for i in range(6)
    )
    return write_env(
        tmp_path,
        "known",
        f"""
runbook_url: https://runbooks.example.com/platform
vars: {{namespace: shop, context: prod}}
timeout_s: 2
http:
  services:
{services}
    - name: down
      url: http://admin:{URL_SECRET}@127.0.0.1:{down.port}/health
    - name: refused
      url: http://127.0.0.1:{free_port()}/health
      severity: sev3
    - name: slow
      url: {slow.url("/health")}
      max_latency_ms: 200
""",
    )


# results.json, schema "vigil.results/2": every key of schema 1 (docs/reports.md) and the
# keys version 2 added, no more, no fewer.
V1_RUN_KEYS = {"schema", "started_at", "finished_at", "duration_s", "filters", "exit_status",
               "environments", "checks"}  # fmt: skip
V1_ENVIRONMENT_KEYS = {"name", "ready", "counts", "failed_by_severity"}
V1_CHECK_KEYS = {"id", "check", "environment", "target", "outcome", "severity", "system",
                 "runbook", "runbook_title", "runbook_url", "message", "remediation", "evidence",
                 "evaluated", "duration_s", "notes"}  # fmt: skip
RUN_KEYS = V1_RUN_KEYS | {"partial", "partial_reasons", "previous_run", "changes", "silences",
                          "notify"}  # fmt: skip
ENVIRONMENT_KEYS = V1_ENVIRONMENT_KEYS | {"verdict", "problems", "source", "silenced", "blocked"}
CHECK_KEYS = V1_CHECK_KEYS | {"diagnosis", "attempts", "change", "failing_since", "flapping",
                              "reachable", "blocked_by", "silenced"}  # fmt: skip

EXPECTED_FAILURES = {
    "test_health_endpoint[known/down]": "sev1",
    "test_health_endpoint[known/refused]": "sev3",
    "test_latency[known/slow]": "sev2",
}


def _results(run: SuiteRun) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run.report_dir / "results.json").read_text())
    return data


def _without_times(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("started_at", "finished_at", "duration_s"):
        data.pop(key)
    for check in data["checks"]:
        check.pop("duration_s")
        check.pop("failing_since")
        check["message"] = re.sub(r"\d+ ms", "N ms", check["message"])
    return data


def test_reports_list_exactly_the_failures(
    run_suite: Callable[..., SuiteRun], known_failures: Path
) -> None:
    run = run_suite("--env", str(known_failures))
    assert run.returncode == 1
    data = _results(run)
    assert data["schema"] == "vigil.results/2" and set(data) == RUN_KEYS
    assert all(set(environment) == ENVIRONMENT_KEYS for environment in data["environments"])
    assert all(set(check) == CHECK_KEYS for check in data["checks"])
    failing = {c["id"]: c for c in data["checks"] if c["outcome"] in ("failed", "error")}
    assert {k: v["severity"] for k, v in failing.items()} == EXPECTED_FAILURES
    for check in failing.values():
        assert check["runbook_url"] == f"https://runbooks.example.com/platform#{check['runbook']}"
        assert check["remediation"] and check["message"] and check["diagnosis"]
        assert check["change"] == "new" and check["attempts"] == 1 and not check["flapping"]
        assert check["failing_since"] == data["started_at"]
    assert failing["test_health_endpoint[known/refused]"]["evaluated"] is True  # the symptom
    assert failing["test_health_endpoint[known/refused]"]["reachable"] is False
    assert failing["test_health_endpoint[known/down]"]["reachable"] is True
    assert data["partial"] is False and data["previous_run"] is None
    assert data["changes"] == {"new": 3, "still": 0, "resolved": 0, "flapping": 0, "flaky": 0}
    assert data["environments"] == [
        {
            "name": "known",
            "ready": False,
            "verdict": "NOT READY",
            # with each service's 429 route (passed, or skipped where nothing answered)
            "counts": {"error": 0, "failed": 3, "skipped": 1, "passed": 21},
            "failed_by_severity": {"sev1": 1, "sev2": 1, "sev3": 1, "sev4": 0},
            "problems": [],
            "source": None,
            "silenced": 0,
            "blocked": 0,  # the refused service's 429 route is skipped: folded, not counted
        }
    ]
    assert data["silences"] == [] and data["notify"] == []
    markdown = (run.report_dir / "readiness.md").read_text()
    html = (run.report_dir / "readiness.html").read_text()
    for test_id, check in failing.items():
        assert test_id in markdown and test_id in html
        assert check["remediation"][0].split(":")[0] in markdown
        assert f"https://runbooks.example.com/platform#{check['runbook']}" in html
    assert "**NOT READY**" in markdown
    assert markdown.count("### ") == 3
    history = (run.report_dir / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and set(json.loads(history[0])["failed"]) == set(EXPECTED_FAILURES)
    everything = run.output + markdown + html + json.dumps(data) + "\n".join(history)
    assert run.junit is not None
    everything += Path(run.report_dir.parent / "junit-0.xml").read_text()
    assert SECRET not in everything and URL_SECRET not in everything
    assert "http://admin:***@127.0.0.1" in markdown


def test_reports_are_identical_with_and_without_xdist(
    run_suite: Callable[..., SuiteRun], known_failures: Path
) -> None:
    serial = run_suite("--env", str(known_failures), "-p", "no:xdist")
    parallel = run_suite("--env", str(known_failures), "-n", "4")
    assert serial.returncode == parallel.returncode == 1
    assert _without_times(_results(serial)) == _without_times(_results(parallel))

    def markdown(run: SuiteRun) -> str:
        text = (run.report_dir / "readiness.md").read_text()
        return re.sub(r"\d+ ms", "N ms", "\n".join(text.splitlines()[3:]))

    assert markdown(serial) == markdown(parallel)


def test_a_summary_is_ready_only_on_evidence_from_a_completed_run() -> None:
    """`summarize` alone, no pytest: READY needs a passing check, no failure, and a run that
    completed; an environment nothing checked is NOT CHECKED, not READY."""
    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    records = [
        CheckRecord("test_a[ok/x]", "test_a", "ok", "x", Outcome.PASSED, Severity.SEV1),
        CheckRecord("test_a[bad/x]", "test_a", "bad", "x", Outcome.PASSED, Severity.SEV1),
        CheckRecord("test_b[bad/x]", "test_b", "bad", "x", Outcome.FAILED, Severity.SEV2),
        CheckRecord("test_c[bad/y]", "test_c", "bad", "y", Outcome.ERROR, Severity.SEV4),
    ]
    filters = {"environments": "ok, bad, idle"}

    def verdicts(exit_status: int) -> dict[str, str]:
        run = summarize(records, ["ok", "bad", "idle"], filters, exit_status, started, started)
        return {e.name: e.verdict for e in run.environments}

    assert verdicts(1) == {"ok": "READY", "bad": "NOT READY", "idle": "NOT CHECKED"}
    assert verdicts(2)["ok"] == "NOT READY"  # interrupted: a pass proves nothing
    run = summarize(records, ["ok", "bad", "idle"], filters, 1, started, started)
    bad = next(e for e in run.environments if e.name == "bad")
    assert bad.counts == {"error": 1, "failed": 1, "skipped": 0, "passed": 1}
    assert bad.failed_by_severity == {"sev1": 0, "sev2": 1, "sev3": 0, "sev4": 1}
    assert [c.id for c in run.failures()] == ["test_b[bad/x]", "test_c[bad/y]"]
    data = json.loads(json.dumps(run.to_json()))
    assert set(data) == RUN_KEYS and data["started_at"] == "2026-01-01T12:00:00+00:00"
    assert all(set(check) == CHECK_KEYS for check in data["checks"])
    assert data["checks"][2]["outcome"] == "failed" and data["checks"][2]["severity"] == "sev2"


def test_fail_on_sev1_passes_with_only_lesser_failures(
    run_suite: Callable[..., SuiteRun], known_failures: Path
) -> None:
    lesser = run_suite("--env", str(known_failures), "-k", "slow or refused", "--fail-on", "sev1")
    assert lesser.returncode == 0 and _results(lesser)["exit_status"] == 0
    assert len([c for c in _results(lesser)["checks"] if c["outcome"] == "failed"]) == 2
    severe = run_suite("--env", str(known_failures), "--fail-on", "sev1")
    assert severe.returncode == 1


def test_metrics_reach_a_real_pushgateway(
    run_suite: Callable[..., SuiteRun], known_failures: Path
) -> None:
    with pushgateway() as url:
        run = run_suite("--env", str(known_failures), "--pushgateway", url)
        assert run.returncode == 1, run.output
        metrics = scrape(url)
    assert 'vigil_ready{environment="known",instance="",job="vigil"} 0' in metrics
    assert (
        'vigil_failed_checks{environment="known",instance="",job="vigil",severity="sev1"} 1'
        in metrics
    )
    assert (
        'vigil_runbook_failures{environment="known",instance="",job="vigil",'
        'runbook="http-high-latency",severity="sev2"} 1'
    ) in metrics
    assert (
        'vigil_checks{environment="known",instance="",job="vigil",outcome="passed"} 21' in metrics
    )
    assert "vigil_run_duration_seconds{" in metrics


def test_unreachable_pushgateway_is_reported_not_hidden(
    run_suite: Callable[..., SuiteRun], known_failures: Path
) -> None:
    run = run_suite(
        "--env",
        str(known_failures),
        "-k",
        "ok0",
        "--pushgateway",
        f"http://127.0.0.1:{free_port()}",
    )
    assert run.returncode == 1
    assert "cannot push to the Pushgateway http://127.0.0.1:" in run.output


def test_html_report_shows_failures_first_in_a_real_browser(
    run_suite: Callable[..., SuiteRun], known_failures: Path, tmp_path: Path
) -> None:
    run = run_suite("--env", str(known_failures))
    page = run.report_dir / "readiness.html"
    assert "http://" not in re.sub(r"(href='|>)[^'<]*", "", page.read_text()).replace(
        "http://www.w3.org", ""
    ), "the page must not load anything"
    profile = tmp_path / "chromium-profile"
    flags = [*HEADLESS, f"--user-data-dir={profile}", "--window-size=1280,1400"]
    pdf = tmp_path / "page.pdf"
    screenshot = run.report_dir / "readiness.png"
    for extra in (
        [f"--print-to-pdf={pdf}", "--no-pdf-header-footer"],
        [f"--screenshot={screenshot}"],
    ):
        subprocess.run([*flags, *extra, page.as_uri()], check=True, timeout=60, capture_output=True)
    assert screenshot.stat().st_size > 10_000
    seen = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    seen = " ".join(seen.split())
    assert "NOT READY" in seen
    first_failure = seen.index("test_health_endpoint[known/down]")
    assert first_failure < seen.index("Passing and skipped checks")
    assert seen.index("[known/down]") < seen.index("[known/slow]") < seen.index("[known/refused]")
    assert "What to do:" in seen and "HTTP 503 from GET" in seen
    assert "test_health_endpoint[known/ok0]" not in seen  # passing checks are collapsed


def test_tls_verification_opt_out_is_visible_in_the_reports(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    # A certificate from a CA nothing trusts: the check passes only because verify is off.
    server = http_server({"/health": Endpoint(200, {"status": "ok"})}, TestCA().server_context())
    env = write_env(
        tmp_path,
        "optout",
        f"""
http:
  services:
    - name: insecure
      url: {server.url("/health")}
      verify: false
""",
    )
    run = run_suite("--env", str(env))
    assert run.returncode == 0, run.output
    check = _results(run)["checks"][0]
    assert check["outcome"] == "passed"
    assert check["notes"] == ["TLS verification is off for this service"]
    note = "optout / insecure: TLS verification is off for this service"
    assert note in (run.report_dir / "readiness.md").read_text()
    assert note in (run.report_dir / "readiness.html").read_text()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    st.dictionaries(st.text().filter(lambda k: k != "checks"), _JSON, max_size=5),
    st.lists(st.dictionaries(st.text(), _JSON, max_size=5), max_size=5),
)
@settings(max_examples=300, deadline=None)
def test_results_json_one_check_per_line_reads_back_whole(
    head: dict[str, Any], checks: list[dict[str, Any]]
) -> None:
    document = {**head, "checks": checks}
    text = json_text(document)
    assert json.loads(text) == document
    assert len(text.splitlines()) >= len(checks)  # a line per check, at least


def _command_end_char_by_char(text: str, start: int) -> int:
    """The first implementation, one character at a time: the reference the fast one must
    agree with."""
    quote, depth, index = "", 0, start
    while index < len(text):
        char, rest = text[index], text[index : index + 2]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return index
            depth -= 1
        elif depth == 0 and (
            rest in (", ", "; ", ". ") or (char == "." and index == len(text) - 1)
        ):
            return index
        index += 1
    return index


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="kubectl psql get pods -l app=(x)[y]{z}'\",;. \n", max_size=80))
def test_commands_in_a_step_end_where_they_always_did(tail: str) -> None:
    text = f"look: kubectl get {tail}"
    start = text.index("kubectl")
    from vigil.reports import view

    assert view._command_end(text, start) == _command_end_char_by_char(text, start)
    assert "".join(piece for piece, _ in split_commands(text)) == text


def test_a_step_shows_its_commands_as_code() -> None:
    pieces = split_commands(
        "check the pods: kubectl -n shop get pods -l 'app=a, b' (wide), then roll back with"
        " kubectl rollout undo deployment/api."
    )
    assert [piece for piece, command in pieces if command] == [
        "kubectl -n shop get pods -l 'app=a, b' (wide)",
        "kubectl rollout undo deployment/api",
    ]
