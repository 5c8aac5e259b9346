"""At scale, no false failures: a healthy fleet of 2,000 services answering after 300 ms,
checked three times, passes every time (bench/stress.py runs 10,000 checks ten times)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from stress import stress


def test_a_healthy_fleet_of_two_thousand_never_fails(capsys: pytest.CaptureFixture[str]) -> None:
    false_failures = stress(checks=2000, runs=3, latency_s=0.3)
    assert false_failures == 0, capsys.readouterr().out
