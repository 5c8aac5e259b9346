"""At scale, no false failures: a healthy fleet of 1,000 services answering after 300 ms
(2,000 checks), checked three times, passes every time (bench/stress.py runs 10,000 checks
ten times)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.probing import targets_of
from vigil.environment import load_environment
from vigil.family import observations
from vigil.session import ProbeSession

sys.path.insert(0, str(ROOT / "bench"))

from fleet import SlowFleet, write_fleet_environments
from stress import stress


def test_a_healthy_fleet_of_two_thousand_checks_never_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    false_failures = stress(services=1000, runs=3, latency_s=0.3)
    assert false_failures == 0, capsys.readouterr().out


def test_a_status_route_waits_for_its_service_however_long_the_queue(tmp_path: Path) -> None:
    """500 services answering after 0.3 s, `timeout_s: 1.2`, 50 probes in flight: the last
    services wait some 2.7 s for their turn, which is not their time; a status route reads
    its service's answer and must wait as long (it once had a clock of its own that ticked
    through the queue: 634 routes of a healthy 10,000-check fleet skipped)."""
    fleet = SlowFleet(1, latency_s=0.3)
    paths = write_fleet_environments(tmp_path, fleet.ports, 500, {}, timeout_s=1.2)
    environment = load_environment(paths[0], {})
    services = targets_of("http_service", environment)
    routes = targets_of("http_status_route", environment)
    health, routed = observations()["http_response"][1], observations()["http_routed_response"][1]
    with ProbeSession(max_in_flight=50) as session:
        wanted = [(health, s) for s in services] + [(routed, r) for r in routes]
        answers = [future.result(60) for future in session.observe_all(wanted)]
    errors = [a.error for a in answers if a.error]
    assert len(answers) == 1000
    assert errors == [], f"{len(errors)} failed, e.g. {errors[:3]}"
