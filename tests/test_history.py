"""Memory across runs: one report directory, a server flipped between healthy and failing, and
what every run says about each check (`change`, `failing_since`, `flapping`, `attempts`),
about itself (`partial`, `changes`) and what the history keeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SuiteRun, run_in_process, write_env
from tests.servers import Endpoint, HttpServer
from vigil.record import Change, CheckRecord, Outcome
from vigil.reports import changes
from vigil.reports.history import MAX_RUNS, append_history, read_history
from vigil.reports.results import RunResults, summarize
from vigil.severity import Severity

HEALTHY = Endpoint(200, {"status": "ok"})
FAILING = Endpoint(503, {"status": "error"})
FLIP_IDS = ("test_health_endpoint[mem/flip]", "test_health_body[mem/flip]")
STEADY_ID = "test_health_endpoint[mem/steady]"


@pytest.fixture
def flip(tmp_path: Path, http_server: Callable[..., HttpServer]) -> tuple[HttpServer, Path]:
    """A service whose health flips between runs, beside one that stays healthy."""
    flipped = http_server({"/health": HEALTHY})
    steady = http_server({"/health": HEALTHY})
    env = write_env(
        tmp_path,
        "mem",
        f"""
timeout_s: 2
http:
  services:
    - name: flip
      url: {flipped.url("/health")}
      expect_json: {{status: ok}}
    - name: steady
      url: {steady.url("/health")}
""",
    )
    return flipped, env


def _results(run: SuiteRun, report_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report_dir / "results.json").read_text())
    return data


def _checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in data["checks"]}


def test_a_sequence_of_runs_remembers_changes_streaks_and_flaps(
    run_suite: Callable[..., SuiteRun], flip: tuple[HttpServer, Path], tmp_path: Path
) -> None:
    server, env = flip
    shared = tmp_path / "shared-reports"
    runs: list[dict[str, Any]] = []
    outputs: list[str] = []

    def run(health: Endpoint, *args: str) -> dict[str, dict[str, Any]]:
        server.routes["/health"] = health
        done = run_suite("--env", str(env), "--report-dir", str(shared), *args)
        outputs.append(done.output)
        runs.append(_results(done, shared))
        return _checks(runs[-1])

    # 1: healthy. Nothing to compare with.
    first = run(HEALTHY)
    assert runs[0]["previous_run"] is None and runs[0]["partial"] is False
    assert all(c["change"] is None and c["failing_since"] is None for c in first.values())
    assert all(c["attempts"] == 1 and c["flapping"] is False for c in first.values())
    assert runs[0]["environments"][0]["verdict"] == "READY"

    # 2: failing. New, failing since this run.
    second = run(FAILING)
    assert runs[1]["previous_run"] == runs[0]["started_at"]
    for test_id in FLIP_IDS:
        assert second[test_id]["change"] == "new"
        assert second[test_id]["failing_since"] == runs[1]["started_at"]
    assert second[STEADY_ID]["change"] is None
    assert runs[1]["changes"] == {"new": 2, "still": 0, "resolved": 0, "flapping": 0, "flaky": 0}
    assert "NEW" in outputs[1] and "sandbox" not in outputs[1]

    # 3: still failing, since the run it started in.
    third = run(FAILING)
    for test_id in FLIP_IDS:
        assert third[test_id]["change"] == "still"
        assert third[test_id]["failing_since"] == runs[1]["started_at"]
    assert runs[2]["changes"]["still"] == 2
    assert "STILL" in outputs[2] and "test_health_endpoint failing for" in outputs[2]

    # 4: healthy again. Resolved.
    fourth = run(HEALTHY)
    for test_id in FLIP_IDS:
        assert fourth[test_id]["change"] == "resolved" and fourth[test_id]["failing_since"] is None
    assert runs[3]["changes"]["resolved"] == 2
    assert "RESOLVED" in outputs[3] and "passes again" in outputs[3]

    # 5, 6, 7: failing, healthy, failing: p f f p f p f has changed 5 times: flapping.
    assert not run(FAILING)[FLIP_IDS[0]]["flapping"]  # p f f p f: 3 changes
    assert run(HEALTHY)[FLIP_IDS[0]]["flapping"]  # 4 changes
    seventh = run(FAILING)
    assert seventh[FLIP_IDS[0]]["flapping"] and seventh[FLIP_IDS[0]]["change"] == "new"
    assert seventh[STEADY_ID]["flapping"] is False
    assert runs[6]["changes"]["flapping"] == 2

    # 8: partial (-k steady): never READY, and the flipping checks keep their streak.
    partial = run(HEALTHY, "-k", "steady")
    assert runs[7]["partial"] is True and runs[7]["partial_reasons"] == ["-k steady"]
    assert set(partial) == {STEADY_ID, "test_status_routed[mem/steady:429]"}  # and its route
    assert runs[7]["environments"][0]["verdict"] == "PARTIAL"
    assert runs[7]["environments"][0]["ready"] is False
    assert "partial run (-k steady)" in outputs[7]

    # 9: failing again: still failing since run 7, across the partial run.
    ninth = run(FAILING)
    assert ninth[FLIP_IDS[0]]["change"] == "still"
    assert ninth[FLIP_IDS[0]]["failing_since"] == runs[6]["started_at"]

    # The history: one compact line per run with every check's outcome, partial runs marked.
    history = read_history(shared / "history.jsonl")
    assert [line["time"] for line in history] == [r["started_at"] for r in runs]
    assert [line["partial"] for line in history] == [False] * 7 + [True, False]
    assert changes.decode(history[1]) == {
        FLIP_IDS[0]: "f",
        FLIP_IDS[1]: "f",
        STEADY_ID: "p",
        "test_status_routed[mem/flip:429]": "p",  # each service's 429 route
        "test_status_routed[mem/steady:429]": "p",
    }
    assert history[1]["outcomes"] == {
        "test_health_body": {"f": ["mem/flip"]},
        "test_health_endpoint": {"f": ["mem/flip"], "p": ["mem/steady"]},
        "test_status_routed": {"p": ["mem/flip:429", "mem/steady:429"]},
    }

    # The readable reports start with what changed.
    markdown = (shared / "readiness.md").read_text()
    html = (shared / "readiness.html").read_text()
    assert markdown.index("## What changed since the last run") < markdown.index("## Failures")
    assert "**Still failing (2)**" in markdown and "failing for" in markdown
    assert "- mem: 0 2 2 0 2 0 2 p 2 (" in markdown  # the trend, oldest first
    assert html.index("id='changes'") < html.index("id='targets'") < html.index("id='failures'")


def test_retried_and_cut_checks_count_once_and_skips_are_no_observation() -> None:
    """`remember` alone: letters in, fields out, for what a run saw and what it did not."""
    lines = [
        {"time": "2026-01-01T10:00:00+00:00", "outcomes": {"test_a": {"p": ["e/x"]}}},
        {"time": "2026-01-01T10:15:00+00:00", "outcomes": {"test_a": {"f": ["e/x"]}}},
        {"time": "2026-01-01T10:30:00+00:00", "outcomes": {"test_a": {"s": ["e/x"]}}},
        {"time": "2026-01-01T10:45:00+00:00", "outcomes": {"test_a": {"d": ["e/x"]}}},
        {"time": "2026-01-01T11:00:00+00:00", "outcomes": {"test_a": {"e": ["e/x"]}}},
    ]
    now = "2026-01-01T13:14:00+00:00"
    failing = CheckRecord("test_a[e/x]", "test_a", "e", "x", Outcome.FAILED, Severity.SEV1)
    changes.remember([failing], lines, now)
    # Skipped (s) and cut by the deadline (d) are not observations: the streak runs on.
    assert failing.change == Change.STILL
    assert failing.failing_since == "2026-01-01T10:15:00+00:00"
    assert changes.age(failing.failing_since, now) == "2 h 59 min"

    flaky = CheckRecord("test_a[e/x]", "test_a", "e", "x", Outcome.PASSED, attempts=3)
    changes.remember([flaky], lines, now)
    assert flaky.change == Change.RESOLVED and flaky.flaky
    assert changes.outcome_code(flaky) == "r"

    cut = CheckRecord("test_a[e/x]", "test_a", "e", "x", Outcome.FAILED, deadline_missed=True)
    changes.remember([cut], lines, now)
    assert cut.change is None and changes.outcome_code(cut) == "d"


def test_lines_written_before_outcomes_were_kept_still_count() -> None:
    """History lines of schema 1 list only the failing ids: the other checks of the run's
    environments passed."""
    old = [
        {"time": "t1", "environments": ["e"], "failed": ["test_a[e/x]"]},
        {"time": "t2", "environments": ["e"], "failed": []},
    ]
    record = CheckRecord("test_a[e/x]", "test_a", "e", "x", Outcome.FAILED)
    changes.remember([record], old, "t3")
    assert record.change == Change.NEW and record.failing_since == "t3"
    assert changes.observations(old, ["test_a[e/x]"]) == {"test_a[e/x]": [("t1", "f"), ("t2", "p")]}


def test_flapping_looks_at_the_last_ten_observations_only() -> None:
    pattern = "pfpfpf" + "pppppppp"  # 5 changes, then 10 calm observations
    lines = [
        {"time": f"t{i:02d}", "outcomes": {"test_a": {letter: ["e/x"]}}}
        for i, letter in enumerate(pattern)
    ]
    calm = CheckRecord("test_a[e/x]", "test_a", "e", "x", Outcome.PASSED)
    changes.remember([calm], lines, "now")
    assert calm.flapping is False
    restless = CheckRecord("test_a[e/x]", "test_a", "e", "x", Outcome.PASSED)
    changes.remember([restless], lines[:6], "now")
    assert restless.flapping is True  # p f p f p f p: 6 changes


def test_ages_read_like_a_person_says_them() -> None:
    assert changes.age("2026-01-01T10:00:00+00:00", "2026-01-01T10:00:40+00:00") == "40 s"
    assert changes.age("2026-01-01T10:00:00+00:00", "2026-01-01T10:45:10+00:00") == "45 min"
    assert changes.age("2026-01-01T10:00:00+00:00", "2026-01-01T12:14:00+00:00") == "2 h 14 min"
    assert changes.age("2026-01-01T10:00:00+00:00", "2026-01-04T13:00:00+00:00") == "3 d 3 h"
    assert changes.age(None, "2026-01-01T10:00:00+00:00") == ""


def _run(started: str, outcome: Outcome = Outcome.PASSED) -> RunResults:
    record = CheckRecord("test_a[e/x]", "test_a", "e", "x", outcome, Severity.SEV2)
    moment = datetime.fromisoformat(started)
    return summarize([record], ["e"], {}, 0, moment, moment)


def test_history_is_bounded_and_trimmed_by_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    for number in range(3):
        append_history(path, _run(f"2026-01-0{number + 1}T00:00:00+00:00"), keep=3)
    with path.open() as before:  # a reader of the full history, as trimming starts
        for number in range(3, 5):
            kept = append_history(path, _run(f"2026-01-0{number + 1}T00:00:00+00:00"), keep=3)
        # The old file was replaced, not rewritten in place: its reader sees it whole.
        assert len(before.read().splitlines()) == 3
        assert os.fstat(before.fileno()).st_nlink == 0
    assert [r["time"][:10] for r in kept] == ["2026-01-03", "2026-01-04", "2026-01-05"]
    assert len(path.read_text().splitlines()) == 3
    assert MAX_RUNS == 500


def test_a_torn_last_line_loses_nothing_but_itself(tmp_path: Path) -> None:
    """A writer killed in the middle of its line leaves half a line: readers skip it and
    the next run's line starts on a line of its own."""
    path = tmp_path / "history.jsonl"
    append_history(path, _run("2026-01-01T00:00:00+00:00"))
    with path.open("a") as handle:
        handle.write('{"time": "2026-01-01T00:15:00+00:00", "dur')
    append_history(path, _run("2026-01-01T00:30:00+00:00", Outcome.FAILED))
    times = [line["time"] for line in read_history(path)]
    assert times == ["2026-01-01T00:00:00+00:00", "2026-01-01T00:30:00+00:00"]


def test_concurrent_writers_lose_no_line(tmp_path: Path) -> None:
    """Sixteen processes append to one history at once, some of them trimming it."""
    path = tmp_path / "history.jsonl"
    for number in range(8):
        append_history(path, _run(f"2026-01-01T00:{number:02d}:00+00:00"))
    script = (
        "import sys; from datetime import datetime; from vigil.record import CheckRecord;"
        "from vigil.reports.history import append_history; from vigil.reports.results import"
        " summarize; from pathlib import Path\n"
        "t = datetime.fromisoformat(sys.argv[2])\n"
        "r = summarize([CheckRecord('test_a[e/x]', 'test_a', 'e', 'x')], ['e'], {}, 0, t, t)\n"
        "for _ in range(5): append_history(Path(sys.argv[1]), r, keep=60)\n"
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), f"2026-01-02T00:{n:02d}:00+00:00"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for n in range(16)
    ]
    assert all(writer.wait(timeout=120) == 0 for writer in writers)
    lines = path.read_text().splitlines()
    assert len(lines) == 60 and all(json.loads(line)["time"] for line in lines)
    written = [json.loads(line)["time"] for line in lines]
    assert sum(t.startswith("2026-01-02") for t in written) == 60  # the 80 new, trimmed to 60


def test_stopping_early_and_deselecting_make_a_run_partial(
    run_suite: Callable[..., SuiteRun], flip: tuple[HttpServer, Path]
) -> None:
    server, env = flip
    server.routes["/health"] = FAILING
    stopped = run_suite("--env", str(env), "-x")
    data = _results(stopped, stopped.report_dir)
    assert data["partial"] is True
    assert data["partial_reasons"] == ["stopped early: 1 of 5 checks ran"]  # with 429 routes
    assert data["environments"][0]["verdict"] == "PARTIAL"
    narrowed = run_suite("--env", str(env), "-m", "sev1")
    data = _results(narrowed, narrowed.report_dir)
    assert data["partial"] is False and data["filters"]["markers"] == "sev1"
    assert data["environments"][0]["verdict"] == "NOT READY"
    one_file = run_suite("--env", str(env), str(ROOT / "checks" / "test_http.py"))
    assert _results(one_file, one_file.report_dir)["partial_reasons"] == [
        f"only {ROOT / 'checks' / 'test_http.py'}"
    ]


def test_rerunning_the_last_failures_is_a_partial_run(
    pytester: pytest.Pytester, flip: tuple[HttpServer, Path], tmp_path: Path
) -> None:
    """`--lf` needs pytest's cache, which the other runs of these tests turn off."""
    server, env = flip
    reports = tmp_path / "lf-reports"
    args = [
        str(ROOT / "checks"),
        f"--rootdir={ROOT}",
        "-c",
        str(ROOT / "pyproject.toml"),
        "-o",
        f"cache_dir={tmp_path / 'cache'}",
        "--env",
        str(env),
        "--report-dir",
        str(reports),
    ]
    server.routes["/health"] = FAILING
    assert run_in_process(pytester, *args).ret == 1
    server.routes["/health"] = HEALTHY
    assert run_in_process(pytester, *args, "--lf").ret == 0
    data = json.loads((reports / "results.json").read_text())
    assert {c["id"] for c in data["checks"]} == set(FLIP_IDS)
    assert data["partial_reasons"] == ["--lf: only what failed last time"]
    assert data["environments"][0]["verdict"] == "PARTIAL"  # fixed, but not proven READY
    assert {c["change"] for c in data["checks"]} == {"resolved"}


def test_a_history_line_names_each_check_once() -> None:
    """1000 checks of 20 kinds: the line keeps each check's name once, not once per target."""
    ids = [f"test_{n % 20}[e/t{n}]" for n in range(1000)]
    records = [CheckRecord(i, i.split("[")[0], "e", i.split("/")[1][:-1]) for i in ids]
    encoded = changes.encode(records)
    assert len(json.dumps(encoded)) < 0.5 * len(json.dumps({i: "p" for i in ids}))
    assert changes.decode({"outcomes": encoded}) == {i: "p" for i in ids}


def test_summarize_marks_broken_files_and_partial_runs() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        CheckRecord("environment[bad]", "environment", "bad", "", Outcome.ERROR, message="x"),
        CheckRecord("test_a[ok/x]", "test_a", "ok", "x", Outcome.PASSED, Severity.SEV1),
    ]
    run = summarize(
        records, ["ok"], {}, 1, moment, moment, broken={"bad": ("bad.yaml", ["a: b", "c: d"])}
    )
    verdicts = {e.name: (e.verdict, e.problems, e.source) for e in run.environments}
    assert verdicts == {"ok": ("READY", [], None), "bad": ("BROKEN", ["a: b", "c: d"], "bad.yaml")}
    partial = summarize(records[1:], ["ok"], {}, 0, moment, moment, partial_reasons=["-k x"])
    assert partial.partial and partial.environments[0].verdict == "PARTIAL"
