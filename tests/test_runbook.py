"""The runbook catalog: valid, referenced correctly by the checks, and rendered safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_in_process
from vigil.cli import checks_by_entry, main
from vigil.errors import CatalogError
from vigil.runbook import DEFAULT_CATALOG, load_catalog, merged_catalog, placeholders, render
from vigil.severity import Severity

ROOT = Path(__file__).resolve().parent.parent
COMMON = {"env", "target", "runbook_url", "namespace", "context", "deployment"}
BY_SYSTEM = {
    "http": {"url", "method", "status", "detailed_url", "service", "components"},
    "postgres": {"dsn_redacted", "database", "host", "port", "pids", "query_name"},
    "data": {
        "dsn_redacted",
        "database",
        "host",
        "port",
        "pids",
        "query_name",
        "prometheus_url",
        "query",
        "rule",
    },
    "redis": {"redis_url_redacted", "host", "port", "queue"},
    "kubernetes": {
        "pod",
        "container",
        "node",
        "secret",
        "hpa",
        "service",
        "pvc",
        "statefulset",
        "job",
        "cronjob",
        "certificate",
        "object",
    },
    "tls": {"host", "port", "days_left", "server_name"},
    "prometheus": {"prometheus_url", "query", "rule"},
    "dependencies": {"provider", "status_url", "incident"},
}


def test_catalog_loads_with_unique_ids() -> None:
    catalog = load_catalog()
    assert len(catalog) >= 60
    assert all(entry.remediation and entry.symptoms for entry in catalog.values())


@pytest.mark.parametrize("entry_id", sorted(load_catalog()))
def test_templates_use_only_known_placeholders(entry_id: str) -> None:
    entry = load_catalog()[entry_id]
    used = set().union(*(placeholders(t) for t in entry.remediation + entry.diagnosis))
    assert used <= COMMON | BY_SYSTEM[entry.system], used - COMMON - BY_SYSTEM[entry.system]


def test_every_check_names_an_existing_entry() -> None:
    catalog = load_catalog()
    referenced = checks_by_entry()
    assert referenced, "no check found"
    assert set(referenced) <= set(catalog), set(referenced) - set(catalog)


def test_render_fills_known_and_keeps_unknown_placeholders() -> None:
    text = "kubectl rollout restart deployment/{deployment} -n {namespace} # {missing}"
    assert render(text, {"deployment": "auth", "namespace": "prod"}) == (
        "kubectl rollout restart deployment/auth -n prod # {missing}"
    )


@pytest.mark.parametrize("text", ["{", "}", "{}", "{0}", "{a.b}", "{{x}}", '{"k": 1}', "{x!r}"])
def test_render_never_raises(text: str) -> None:
    assert render(text, {"x": "1"}).count("{") <= text.count("{")


def test_a_broken_catalog_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "runbook.yaml"
    path.write_text(
        "- id: x\n  title: X\n  severity: sev9\n  system: http\n  symptoms: [a]\n"
        "  remediation: [b]\n"
    )
    with pytest.raises(CatalogError, match=r"entry x: severity"):
        load_catalog(path)


def test_coverage_lists_every_entry_with_its_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "coverage"]) == 0
    out = capsys.readouterr().out
    for entry_id in load_catalog():
        assert entry_id in out
    assert "test_http.py::test_health_endpoint" in out
    total = len(load_catalog())
    assert f"{total} of {total} entries have a check" in out
    assert "-- no check yet --" not in out  # every symptom has a check, preset or example


def test_rendered_catalog_document_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "markdown"]) == 0
    rendered = capsys.readouterr().out
    assert rendered.startswith("# Runbook catalog\n") and "## http-service-down" in rendered
    assert (ROOT / "docs" / "runbook.md").read_text() == rendered, (
        "docs/runbook.md is stale: run `vigil runbook markdown > docs/runbook.md`"
    )


OVERLAY = """
- id: http-service-down
  severity: P1
  remediation:
    - "Page the payments on-call for {target}"
- id: team-queue-stuck
  title: The team's queue is stuck
  severity: sev3
  system: redis
  symptoms: [The queue does not drain]
  remediation: [Restart the consumers]
"""


def test_an_overlay_replaces_the_fields_it_gives_and_adds_entries(tmp_path: Path) -> None:
    overlay = tmp_path / "team.yaml"
    overlay.write_text(OVERLAY)
    catalog = merged_catalog([overlay])
    builtin = load_catalog()["http-service-down"]
    merged = catalog.entries["http-service-down"]
    assert merged.remediation == ["Page the payments on-call for {target}"]
    assert merged.severity == Severity.SEV2  # P1, as the README maps it
    assert merged.title == builtin.title and merged.symptoms == builtin.symptoms
    assert catalog.entries["team-queue-stuck"].system == "redis"
    origins = catalog.origins["http-service-down"]
    assert origins["remediation"] == origins["severity"] == str(overlay)
    assert origins["title"] == str(DEFAULT_CATALOG)
    assert set(catalog.origins["team-queue-stuck"].values()) == {str(overlay)}
    assert len(catalog.entries) == len(load_catalog()) + 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- id: http-service-down\n  remediaton: [x]\n",
         "entry http-service-down: remediaton: unknown key; did you mean remediation?"),
        ("- id: brand-new\n  title: New\n", "entry brand-new: severity: required key is missing"),
        ("- id: http-service-down\n  severity: sev9\n",
         "entry http-service-down: severity: unknown severity 'sev9'"),
        ("- id: new-one\n  title: T\n  severity: sev2\n  system: smtp\n  symptoms: [a]\n"
         "  remediation: [b]\n", "entry new-one: system: unknown system 'smtp'"),
        ("- id: http-service-down\n  title: A\n- id: http-service-down\n  title: B\n",
         "entry id 'http-service-down' appears twice"),
        ("id: http-service-down\n", "expected a list of entries"),
        ("- id: x\n  remediation: [\n", "cannot read the runbook catalog: line 3: not valid YAML"),
    ],
)  # fmt: skip
def test_an_overlay_is_validated_with_one_line_errors(
    tmp_path: Path, text: str, problem: str
) -> None:
    overlay = tmp_path / "team.yaml"
    overlay.write_text(text)
    with pytest.raises(CatalogError) as caught:
        merged_catalog([overlay])
    message = str(caught.value)
    assert message.startswith(f"{overlay}: ") and problem in message and "\n" not in message


def test_overlay_places_from_the_ini_option(pytester: pytest.Pytester) -> None:
    """`vigil_catalog` names directories and files; the run's failures use the merged entry."""
    pytester.makeini("[pytest]\nvigil_catalog = team-runbooks extra.yaml\n")
    pytester.mkdir("checks")
    (pytester.path / "checks" / "test_x.py").write_text(
        'import pytest\nfrom vigil.expect import fail\n\n@pytest.mark.runbook("team-queue-stuck")\n'
        "def test_x(http_service):\n    fail('stuck')\n"
    )
    pytester.mkdir("environments")
    (pytester.path / "environments" / "one.yaml").write_text(
        "http:\n  services:\n    - {name: api, url: 'http://127.0.0.1:9/h'}\n"
    )
    pytester.mkdir("team-runbooks")
    (pytester.path / "team-runbooks" / "a.yaml").write_text(OVERLAY)
    (pytester.path / "extra.yaml").write_text(
        "- id: team-queue-stuck\n  remediation:\n    - Drain it by hand on {target}\n"
    )
    result = run_in_process(pytester, "checks", "--env", "one", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*team-queue-stuck - The team's queue is stuck (sev3)*",
                                 "*1. Drain it by hand on api*"])  # fmt: skip
    (pytester.path / "extra.yaml").unlink()
    missing = run_in_process(pytester, "checks", "--env", "one", "-p", "no:cacheprovider")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(
        ["*extra.yaml: no such catalog file or directory (vigil_catalog)*"]
    )
