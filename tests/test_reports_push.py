"""Metrics for a Pushgateway: per-target labels on failing checks, the partial flag, basic
auth from the URL or from --pushgateway-user; the example alerts pass promtool and page only
for sev1 and sev2 checks of complete runs."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, SuiteRun, write_env
from tests.pushgateway import pushgateway, scrape
from tests.servers import Endpoint, HttpServer

ALERTS = ROOT / "deploy" / "prometheus-alerts.yaml"
PASSWORD = "pg-sentinel-5e1f0b"


@pytest.fixture
def push_env(tmp_path: Path, http_server: Callable[..., HttpServer]) -> Path:
    down = http_server({"/health": Endpoint(503, {"status": "error"})})
    ok = http_server({"/health": Endpoint(200, {"status": "ok"})})
    return write_env(
        tmp_path,
        "push",
        f"""
runbook_url: https://runbooks.example.com/platform
timeout_s: 2
http:
  services:
    - {{name: down, url: "{down.url("/health")}"}}
    - {{name: fine, url: "{ok.url("/health")}"}}
""",
    )


def _value(metrics: str, name: str, **labels: str) -> float | None:
    """The value of the series `name` whose labels include `labels` (name the environment:
    on a shared machine another run may push to a port that was its own a moment ago)."""
    for line in metrics.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match[1] for k, v in labels.items()):
            return float(match[2])
    return None


def test_failing_checks_are_pushed_per_target_and_partial_runs_say_so(
    run_suite: Callable[..., SuiteRun], push_env: Path
) -> None:
    with pushgateway() as url:
        full = run_suite("--env", str(push_env), "--pushgateway", url)
        assert full.returncode == 1, full.output
        metrics = scrape(url)
        assert (
            _value(
                metrics,
                "vigil_check_failing",
                environment="push",
                check="test_health_endpoint",
                target="down",
                runbook="http-service-down",
                severity="sev1",
                system="http",
                runbook_url="https://runbooks.example.com/platform#http-service-down",
            )
            == 1
        )
        assert _value(metrics, "vigil_check_failing", environment="push", target="fine") is None
        assert (
            _value(
                metrics, "vigil_runbook_failures", environment="push", runbook="http-service-down"
            )
            == 1
        )
        assert _value(metrics, "vigil_partial", environment="push") == 0
        partial = run_suite("--env", str(push_env), "--pushgateway", url, "-k", "fine")
        assert partial.returncode == 0, partial.output
        metrics = scrape(url)
        assert _value(metrics, "vigil_partial", environment="push") == 1
        assert _value(metrics, "vigil_ready", environment="push") == 0  # never READY
        assert (
            _value(metrics, "vigil_check_failing", environment="push", target="down") is None
        )  # replaced


def test_basic_auth_from_the_url_or_a_user_and_a_variable(
    run_suite: Callable[..., SuiteRun], push_env: Path
) -> None:
    with pushgateway({"vigil": PASSWORD}) as url:
        host = url.removeprefix("http://")
        refused = run_suite("--env", str(push_env), "--pushgateway", url)
        assert "cannot push to the Pushgateway" in refused.output and "401" in refused.output
        in_url = run_suite(
            "--env", str(push_env), "--pushgateway", f"http://vigil:{PASSWORD}@{host}"
        )
        assert "metrics pushed to http://vigil:***@127.0.0.1:" in in_url.output, in_url.output
        assert _value(scrape(url, ("vigil", PASSWORD)), "vigil_ready", environment="push") == 0
        by_option = run_suite(
            "--env",
            str(push_env),
            "--pushgateway",
            url,
            "--pushgateway-user",
            "vigil",
            env={"VIGIL_PUSHGATEWAY_PASSWORD": PASSWORD},
        )
        assert f"metrics pushed to {url}" in by_option.output, by_option.output
    for run in (refused, in_url, by_option):
        assert PASSWORD not in run.output
        for path in run.report_dir.iterdir():
            assert PASSWORD not in path.read_text()


def test_the_example_alerts_are_the_shipped_ones_and_pass_promtool() -> None:
    docs = (ROOT / "docs" / "reports.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", docs, flags=re.S)
    assert ALERTS.read_text().split("groups:", 1)[1] in [
        b.split("groups:", 1)[1] for b in blocks if "groups:" in b
    ], "docs/reports.md shows deploy/prometheus-alerts.yaml as it is"
    checked = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 2 rules found" in checked.stdout


def _series(environment: str, partial: int, **checks: str) -> list[dict[str, str]]:
    common = f'job="vigil",instance="",environment="{environment}"'
    series = [
        {"series": f"vigil_partial{{{common}}}", "values": f"{partial}x40"},
        {"series": f"vigil_last_run_timestamp_seconds{{{common}}}", "values": "0+60x40"},
    ]
    for target, severity in checks.items():
        labels = (
            f'{common},check="test_x",target="{target}",runbook="rb-{target}",system="http",'
            f'severity="{severity}",runbook_url="https://rb.example.com/p#rb-{target}"'
        )
        series.append({"series": f"vigil_check_failing{{{labels}}}", "values": "1x40"})
    return series


def test_the_alerts_page_for_sev1_and_sev2_of_complete_runs_only(tmp_path: Path) -> None:
    """`promtool test rules` on series like the ones Vigil pushes: a sev1 outage pages with
    its runbook link; a sev3 certificate warning and a partial run's failure do not."""
    cases = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    *_series("prod", 0, payments="sev1", certificate="sev3"),
                    *_series("staging", 1, payments="sev1"),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "20m",
                        "alertname": "VigilCheckFailing",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "environment": "prod",
                                    "target": "payments",
                                    "check": "test_x",
                                    "runbook": "rb-payments",
                                    "system": "http",
                                    "severity": "sev1",
                                    "runbook_url": "https://rb.example.com/p#rb-payments",
                                    "page": "true",
                                },
                                "exp_annotations": {
                                    "summary": "test_x fails on prod/payments (sev1)",
                                    "description": "Runbook entry rb-payments:"
                                    " https://rb.example.com/p#rb-payments",
                                    "runbook_url": "https://rb.example.com/p#rb-payments",
                                },
                            }
                        ],
                    },
                    {"eval_time": "20m", "alertname": "VigilRunsStopped", "exp_alerts": []},
                ],
            }
        ],
    }
    spec = tmp_path / "alerts-test.yaml"
    spec.write_text(yaml.safe_dump(cases))
    tested = subprocess.run(
        ["promtool", "test", "rules", str(spec)], capture_output=True, text=True, timeout=60
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
