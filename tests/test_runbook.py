"""The runbook catalog: valid, referenced correctly by the checks, and rendered safely."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.cli import checks_by_entry, main
from vigil.errors import CatalogError
from vigil.runbook import load_catalog, placeholders, render

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
