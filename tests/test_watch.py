"""`vigil watch`: a target recovers during the watch; each change is one line with its time,
the watch ends when every check passes, with the time to recover; reports after each round."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import write_env
from tests.servers import Endpoint, HttpServer
from vigil.cli import main

CLOCK = r"\d\d:\d\d:\d\d"


def _heal_after(server: HttpServer, requests: int) -> threading.Thread:
    """Answer 200 once the health endpoint has been asked `requests` times (rounds)."""

    def heal() -> None:
        waited = time.monotonic() + 60
        while time.monotonic() < waited:
            if sum(1 for _, path in server.requests if path == "/health") >= requests:
                server.routes["/health"] = Endpoint(200, {"status": "ok"})
                return
            time.sleep(0.02)

    thread = threading.Thread(target=heal, daemon=True)
    thread.start()
    return thread


def test_watch_shows_a_target_recovering(
    http_server: Callable[..., HttpServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payments = http_server({"/health": Endpoint(503, {"status": "error"})})
    fine = http_server({"/health": Endpoint(200, {"status": "ok"})})
    env = write_env(
        tmp_path,
        "prod",
        f"""
timeout_s: 2
http:
  services:
    - {{name: payments, url: "{payments.url("/health")}"}}
    - {{name: auth, url: "{fine.url("/health")}"}}
""",
    )
    reports = tmp_path / "reports"
    _heal_after(payments, requests=2)  # fails in rounds 1 and 2, passes from round 3
    status = main(["watch", "--env", str(env), "--report-dir", str(reports), "--every", "0.2",
                   "--rounds", "10", "-p", "no:cacheprovider"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    lines = out.splitlines()
    assert re.fullmatch(rf"{CLOCK} watching 4 checks: 1 failing", lines[1]), lines
    assert re.fullmatch(
        rf"{CLOCK} payments test_health_endpoint failing since \d\d:\d\d \(sev1\): HTTP 503"
        r" from GET .*",
        lines[2],
    ), lines
    resolved = [line for line in lines if "resolved after" in line]
    assert len(resolved) == 1 and re.fullmatch(
        rf"{CLOCK} payments test_health_endpoint resolved after \d+ s", resolved[0]
    ), lines
    assert re.search(r"^recovered: test_health_endpoint\[prod/payments\] in \d+ s", out, re.M)
    assert "time to recover: " in out
    history = (reports / "history.jsonl").read_text().splitlines()
    assert len(history) == 3  # the reports were written after each round
    last = json.loads((reports / "results.json").read_text())
    assert last["environments"][0]["verdict"] == "READY"


def test_watch_stops_after_its_rounds_with_what_still_fails(
    http_server: Callable[..., HttpServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    down = http_server({"/health": Endpoint(503, {"status": "error"})})
    env = write_env(
        tmp_path,
        "stuck",
        f"http:\n  services:\n    - {{name: api, url: '{down.url('/health')}'}}\n",
    )
    status = main(["watch", "--env", str(env), f"--report-dir={tmp_path / 'r'}", "--every=0.1",
                   "--rounds", "2", "--deadline", "30"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1
    assert (
        "stopped after 2 rounds" in out and "still failing: test_health_endpoint[stuck/api]" in out
    )


def test_watch_needs_every(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--env", "x"]) == 2
    assert "--every SECONDS is required" in capsys.readouterr().err
    assert main(["watch", "--every", "0"]) == 2
    assert "--every '0': give a number above 0" in capsys.readouterr().err
