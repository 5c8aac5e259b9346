"""Retries (flap tolerance): a check that fails is looked at again, on a fresh observation,
before it counts as failed; a pass on a retry is flaky in every output; retries never run
past the deadline."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SuiteRun, write_env
from tests.servers import LocalHttpServer


class FlakyServer:
    """An HTTP health endpoint that answers 503 to its first `failures` requests, then 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.requests += 1
                failing = outer.requests <= outer.failures
                body = b'{"status": "error"}' if failing else b'{"status": "ok"}'
                self.send_response(503 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LocalHttpServer(Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky() -> Iterator[Callable[[int], FlakyServer]]:
    started: list[FlakyServer] = []

    def start(failures: int) -> FlakyServer:
        started.append(FlakyServer(failures))
        return started[-1]

    yield start
    for server in started:
        server.close()


def _checks(run: SuiteRun) -> dict[str, dict[str, Any]]:
    data = json.loads((run.report_dir / "results.json").read_text())
    return {check["id"]: check for check in data["checks"]}


def test_a_one_off_failure_is_a_flaky_pass_and_a_lasting_one_fails(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, flaky: Callable[[int], FlakyServer]
) -> None:
    once, always = flaky(1), flaky(1000)
    env = write_env(
        tmp_path,
        "retry",
        f"""
timeout_s: 2
http:
  services:
    - {{name: once, url: "{once.url()}"}}
    - {{name: always, url: "{always.url()}"}}
""",
    )
    allure = tmp_path / "allure-results"
    run = run_suite(
        "--env", str(env), "--retries", "2", "-o", "junit_family=xunit1", f"--alluredir={allure}"
    )
    checks = _checks(run)
    blip = checks["test_health_endpoint[retry/once]"]
    assert blip["outcome"] == "passed" and blip["attempts"] == 2
    down = checks["test_health_endpoint[retry/always]"]
    assert down["outcome"] == "failed" and down["attempts"] == 3
    assert once.requests == 2 and always.requests == 3  # fresh looks, not the cached one
    assert run.returncode == 1
    # Flaky in every output: the progress line (R), the summary, JUnit, both reports.
    assert "R" in run.output.split("test_http.py ", 1)[1].split("\n", 1)[0]
    assert "FLAKY" in run.output and "passed on attempt 2" in run.output
    assert run.junit is not None
    case = next(c for c in run.junit.iter("testcase") if c.get("name") == blip["id"])
    assert ("attempts", "2") in {(p.get("name"), p.get("value")) for p in case.iter("property")}
    markdown = (run.report_dir / "readiness.md").read_text()
    html = (run.report_dir / "readiness.html").read_text()
    assert "**Passed only on a retry (1)**" in markdown and "passed on attempt 2" in markdown
    assert "flaky: passed on attempt 2" in html
    assert "(3 attempts)" in markdown and "3 attempts" in html
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    labels = next(r["labels"] for r in results if r["name"] == blip["id"])
    assert {"name": "tag", "value": "flaky"} in labels
    assert {"name": "attempts", "value": "2"} in labels


def test_the_most_specific_retry_setting_wins(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, flaky: Callable[[int], FlakyServer]
) -> None:
    own, inherited = flaky(1000), flaky(1000)
    env = write_env(
        tmp_path,
        "layers",
        f"""
timeout_s: 2
retries: 2
retry_delay_s: 0
http:
  services:
    - {{name: own, url: "{own.url()}", retries: 0}}
    - {{name: inherited, url: "{inherited.url()}"}}
""",
    )
    checks = _checks(run_suite("--env", str(env), "--retries", "5"))
    assert checks["test_health_endpoint[layers/own]"]["attempts"] == 1
    assert checks["test_health_endpoint[layers/inherited]"]["attempts"] == 3
    assert own.requests == 1 and inherited.requests == 3


def test_retries_never_run_past_the_deadline(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, flaky: Callable[[int], FlakyServer]
) -> None:
    server = flaky(1000)
    env = write_env(
        tmp_path,
        "late",
        f"timeout_s: 2\nretries: 5\nretry_delay_s: 60\n"
        f'http:\n  services:\n    - {{name: down, url: "{server.url()}"}}\n',
    )
    deadline_s = 4
    run = run_suite("--env", str(env), "--deadline", str(deadline_s))
    assert run.seconds < run.budget(deadline_s), run.seconds  # not the 60 s delay
    check = _checks(run)["test_health_endpoint[late/down]"]
    assert check["outcome"] == "failed" and check["attempts"] == 1 and server.requests == 1


def test_retries_must_be_a_small_whole_number(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    run = run_suite("--env", str(write_env(tmp_path, "e", "")), "--retries", "many")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR
    assert "--retries 'many': give a whole number from 0 to 10" in run.output
