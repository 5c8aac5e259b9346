"""What the terminal shows: failures at the user's `--tb`, a short summary that leads with the
message, and the gate's line with the run's final exit status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SuiteRun, write_env
from tests.servers import Endpoint, HttpServer, free_port


@pytest.fixture
def two_failures(tmp_path: Path, http_server: Callable[..., HttpServer]) -> Path:
    """A service answering 503 (sev1) and one refusing connections (made sev3)."""
    down = http_server({"/health": Endpoint(503, {"status": "error"})})
    ok = http_server({"/health": Endpoint(200, {"status": "ok"})})
    return write_env(
        tmp_path,
        "term",
        f"""
timeout_s: 2
vars: {{namespace: shop, context: prod}}
http:
  services:
    - name: down
      url: {down.url("/health")}
    - name: refused
      url: http://127.0.0.1:{free_port()}/health
      severity: sev3
    - name: fine
      url: {ok.url("/health")}
""",
    )


def _section(output: str, title: str) -> str:
    """The lines of one `=== title ===` section of pytest's output."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if f" {title} " in line and "====" in line)
    ends = [
        i
        for i in range(start + 1, len(lines))
        if lines[i].startswith("====") or "generated xml file" in lines[i]
    ]
    end = ends[0] if ends else len(lines)
    return "\n".join(lines[start + 1 : end])


def test_tb_line_prints_one_line_per_failure(
    run_suite: Callable[..., SuiteRun], two_failures: Path
) -> None:
    run = run_suite("--env", str(two_failures), "--tb=line")
    failures = _section(run.output, "FAILURES").splitlines()
    assert failures == [
        f"test_health_endpoint[term/down]: HTTP 503 from GET {_url(run, 'down')} (expected any"
        " 2xx) [runbook http-service-down]",
        "test_health_endpoint[term/refused]: no response: connection refused by"
        f" {_where(run, 'refused')} (nothing is listening on that port) (GET"
        f" http://{_where(run, 'refused')}/health) [runbook http-service-down]",
    ]


def test_tb_short_prints_the_message_and_the_first_step(
    run_suite: Callable[..., SuiteRun], two_failures: Path
) -> None:
    run = run_suite("--env", str(two_failures), "--tb=short")
    failures = _section(run.output, "FAILURES")
    assert failures.count("first step: Declare an incident for ") == 2
    assert "runbook: http-service-down (sev1); 8 more steps with --tb=long" in failures
    assert "look closer" not in failures and "what to do:" not in failures
    # Per failure: its header and three lines; under the refused service, its 429 route
    # (not evaluated: no answer) folded on one line.
    assert len(failures.splitlines()) == 9
    assert "not evaluated behind it (1): test_status_routed[term/refused:429]" in failures


def test_the_default_tells_the_whole_story(
    run_suite: Callable[..., SuiteRun], two_failures: Path
) -> None:
    run = run_suite("--env", str(two_failures))
    failures = _section(run.output, "FAILURES")
    assert failures.count("what to do:") == 2 and failures.count("look closer:") == 2
    assert "  9. Verify before closing" in failures
    assert "kubectl rollout undo deployment/down -n shop --context prod" in failures
    assert 'body: {"status": "error"}' in failures  # the evidence section
    summary = _section(run.output, "vigil readiness").splitlines()
    at = summary.index("failing targets:")
    assert summary[at + 1].split() == ["term/down", "failing", "sev1", "new", "http", "1/1"]
    assert summary[at + 2].split() == ["term/refused", "unreachable", "sev3", "new", "http", "1/1"]


def test_the_short_summary_leads_with_the_message(
    run_suite: Callable[..., SuiteRun], two_failures: Path
) -> None:
    # pytest cuts summary lines to the terminal's width, except on CI (CI or BUILD_NUMBER set).
    run = run_suite("--env", str(two_failures), env={"COLUMNS": "80"}, unset=("CI", "BUILD_NUMBER"))
    summary = _section(run.output, "short test summary info").splitlines()
    assert len(summary) == 2, summary
    assert summary[0].startswith("FAILED HTTP 503 from GET http://127.0.0.1:")
    assert summary[0].endswith(" - test_health_endpoint[term/down]") and len(summary[0]) <= 80
    assert summary[1].startswith("FAILED no response: connection refused")
    assert summary[1].endswith(" - test_health_endpoint[term/refused]")
    assert len(summary[1]) <= 80
    assert "FAILED checks/test_http.py::" not in run.output


def test_the_gate_line_states_the_final_exit_status(
    run_suite: Callable[..., SuiteRun], two_failures: Path
) -> None:
    lesser = run_suite("--env", str(two_failures), "--fail-on", "sev1", "-m", "sev3")
    assert lesser.returncode == 0
    assert "gate: --fail-on sev1 -> exit status 0" in lesser.output
    severe = run_suite("--env", str(two_failures), "--fail-on", "sev1")
    assert severe.returncode == 1
    assert "gate: --fail-on sev1 -> exit status 1" in severe.output


def _where(run: SuiteRun, service: str) -> str:
    """host:port of a service, as the run's own messages name it."""
    line = next(
        line
        for line in run.output.splitlines()
        if f"[term/{service}]" in line and "127.0.0.1:" in line
    )
    return "127.0.0.1:" + line.split("127.0.0.1:", 1)[1].split("/")[0].split(" ")[0]


def _url(run: SuiteRun, service: str) -> str:
    return f"http://{_where(run, service)}/health"


def test_quiet_phases_leave_the_terminal_but_a_teardown_that_spoke_stays(
    pytester: pytest.Pytester,
) -> None:
    """The terminal's list of passing set-ups and tear-downs, scanned once per failure in the
    summary, keeps only the phases with tear-down output to show."""
    from vigil.plugin.terminal import QuietPhases

    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def speaks():
            yield
            print("said in teardown")

        @pytest.mark.parametrize("n", range(50))
        def test_quiet(n):
            assert n % 10

        def test_speaking(speaks):
            assert False
        """
    )
    seen: dict[str, int] = {}

    class Plugins:
        def pytest_configure(self, config: pytest.Config) -> None:
            config.pluginmanager.register(QuietPhases(config))

        @pytest.hookimpl(tryfirst=True)
        def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
            kept = terminalreporter.stats.get("", [])
            seen["kept"] = len(kept)
            seen["teardowns"] = sum(r.when == "teardown" for r in kept)

    result = pytester.runpytest_inprocess("-p", "no:vigil", plugins=[Plugins()])
    result.assert_outcomes(passed=45, failed=6)
    assert seen == {"kept": 1, "teardowns": 1}  # 102 without QuietPhases
    assert "said in teardown" in result.stdout.str()


def test_failing_targets_stay_in_columns_whatever_their_names(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    long_name, longer = "payment_failure_ratio_api", "x" * 60
    path = write_env(
        tmp_path,
        "cols",
        f"""
timeout_s: 2
http:
  services:
    - {{name: a, url: "http://127.0.0.1:{free_port()}/health"}}
    - {{name: {long_name}, url: "http://127.0.0.1:{free_port()}/health"}}
    - {{name: {longer}, url: "http://127.0.0.1:{free_port()}/health"}}
""",
    )
    run = run_suite("--env", str(path), "-k", "test_health_endpoint")
    summary = _section(run.output, "vigil readiness").splitlines()
    at = summary.index("failing targets:")
    rows = summary[at + 1 : at + 4]
    assert sorted(row.split()[0] for row in rows) == sorted(
        [f"cols/{long_name}", "cols/a", "cols/" + longer[:32] + "..."]
    ), rows
    assert len({row.index(" unreachable ") for row in rows}) == 1, rows
