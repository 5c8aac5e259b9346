"""Atomic reports (issue 11, item 7): a run SIGKILLed in the middle of writing its reports
leaves every report file whole, as the previous run wrote it or as this run did, and the
history loses nothing but, at most, this run's line."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

from tests.conftest import suite_run, write_env
from tests.servers import Endpoint, HttpServer

REPORTS = ("results.json", "readiness.md", "readiness.html")


def _snapshot(directory: Path) -> dict[str, str]:
    return {name: (directory / name).read_text() for name in REPORTS}


def _assert_whole(directory: Path, before: dict[str, str]) -> list[dict[str, object]]:
    """Each report is the previous one or a complete new one; the history parses."""
    for name in REPORTS:
        text = (directory / name).read_text()
        if text != before[name]:
            if name.endswith(".json"):
                json.loads(text)
            elif name.endswith(".html"):
                assert text.endswith("</html>\n")
            else:
                assert text.rstrip().endswith(("```", "</details>", "|")) or "##" in text
    json.loads((directory / "results.json").read_text())
    lines = (directory / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_run_killed_while_writing_leaves_whole_reports(
    tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    server = http_server({"/health": Endpoint(200, {"status": "ok"})})
    env = write_env(
        tmp_path,
        "atomic",
        f"timeout_s: 2\nhttp:\n  services:\n    - {{name: api, url: {server.url('/health')}}}\n",
    )
    reports = tmp_path / "reports"
    first = suite_run(tmp_path, "--env", str(env), report_dir=reports)
    assert first.returncode == 0, first.output
    before = _snapshot(reports)
    server.routes["/health"] = Endpoint(503, {"status": "error"})  # the next runs differ
    lines = 1
    # Where the run is killed, and which reports it has replaced by then.
    for moment, replaced in (
        ("append:history.jsonl", set()),  # before its history line
        ("open:.results.json.", set()),  # its line appended; results.json's temporary file made
        ("rename:readiness.html", {"results.json", "readiness.md"}),  # the page not renamed yet
    ):
        killed = suite_run(
            tmp_path,
            "--env",
            str(env),
            "-p",
            "tests.kill_switch",
            report_dir=reports,
            env={"VIGIL_KILL_AT": moment},
        )
        assert killed.returncode == -signal.SIGKILL, (moment, killed.output[-2000:])
        history = _assert_whole(reports, before)
        lines += moment != "append:history.jsonl"
        assert len(history) == lines, moment
        after = _snapshot(reports)
        assert {name for name in REPORTS if after[name] != before[name]} == replaced, moment
        before = after
    assert json.loads(before["results.json"])["checks"][0]["outcome"] == "failed"
    final = suite_run(tmp_path, "--env", str(env), report_dir=reports)
    assert final.returncode == 1
    history = _assert_whole(reports, before)
    assert len(history) == lines + 1
    assert history[-1]["outcomes"] == {
        "test_health_endpoint": {"f": ["atomic/api"]},
        "test_status_routed": {"p": ["atomic/api:429"]},  # the service's 429 route
    }
