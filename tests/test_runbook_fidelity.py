"""Runbook fidelity: every entry's steps, rendered for every target of the example environment
as its checks would render them, name only what Vigil knows or what `vars:` says; the example
rules and presets give one entry per number; the sources' severities are followed or the
departure is documented; the escalation matrix reaches sev1 remediation."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SuiteRun, write_env
from tests.servers import Endpoint, HttpServer
from vigil.cli import main
from vigil.environment import build_environment
from vigil.families.prometheus.presets import expand_presets
from vigil.family import target_kinds
from vigil.runbook import load_catalog, placeholders, render
from vigil.sources import read_sources
from vigil.targets import Target

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "environments" / "production.example.yaml"
SOURCES = ROOT / "docs" / "runbook-sources.md"
VARIABLES = {
    "AUTH_HEALTH_TOKEN": "token",
    "DATABASE_URL": "postgresql://vigil_monitor:pw@db.internal.example.com:5432/app",
    "DATABASE_REPLICA_URL": "postgresql://vigil_monitor:pw@db-replica.internal.example.com/app",
    "REDIS_MONITOR_PASSWORD": "pw",
    "PROMETHEUS_TOKEN": "token",
}
# What only `vars:` can fill for a target whose family cannot know it (docs/runbook-sources.md,
# "Placeholders that need vars"): the Kubernetes namespace and context of a database, a
# cache, an HTTP service...; the Deployment of the application that uses it.
NEEDS_VARS = {"namespace": "namespace", "context": "context", "deployment": "deployment"}
# Values the checks add when they fail, by check (read from `fail(...)` calls, plus those
# every Kubernetes finding carries: kubernetes/findings.py).
POD = ("pod", "node", "deployment", "container")
SCOPE = {"job", "namespace", "instance", "env", "cluster", "service"}
FOUND = {
    "test_no_crash_looping_pods": POD,
    "test_pods_can_start": POD,
    "test_no_recent_oom_kills": POD,
    "test_restarts_below_limit": POD,
    "test_no_pods_pending": POD[:3],
    "test_no_failed_pods": POD[:3],
    "test_running_pods_ready": POD[:3],
    "test_deployments_available": ("deployment",),
    "test_rollouts_progressing": ("deployment",),
    "test_statefulsets_ready": ("statefulset",),
    "test_autoscalers_below_max": ("hpa",),
    "test_autoscalers_have_metrics": ("hpa",),
    "test_jobs_not_failed": ("job", "cronjob"),
    "test_services_have_endpoints": ("service",),
    "test_claims_bound": ("pvc",),
    "test_no_recent_warning_events": ("object",),
    "test_nodes_ready": ("node",),
    "test_nodes_without_pressure": ("node",),
    "test_required_secrets_present": ("secret", "deployment"),
    "test_shared_secrets_consistent": ("secret", "deployment"),
    "test_shared_secrets_consistent_across_namespaces": ("secret", "namespace", "deployment"),
    "test_tls_secrets_not_expiring": ("secret", "days_left", "deployment"),
    "test_tls_secrets_not_expiring_soon": ("secret", "days_left", "deployment"),
    "test_certificates_ready": ("certificate", "secret"),
    "test_certificate_not_expiring": ("days_left",),  # through _expect_days_left
    "test_certificate_not_expiring_soon": ("days_left",),
    "test_certificate_not_expiring_within_a_day": ("days_left",),
    "test_prometheus_rule": ("value", "series"),  # and the breaching series' labels:
}
RULE_LABELS = {
    "pod-memory-of-limit": ("namespace", "pod", "container"),
    "pod-cpu-of-limit": ("namespace", "pod", "container"),
}


@dataclass(frozen=True)
class Check:
    name: str
    kind: str  # the target fixture it is parametrized with
    entry: str  # its runbook mark
    requires: tuple[str, ...]
    found: frozenset[str]  # the values it adds when it fails


def checks() -> list[Check]:
    """Every check of the suite, read from its source as collection reads it."""
    kinds = set(target_kinds())
    found: list[Check] = []
    for module in sorted((ROOT / "checks").glob("test_*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            marks = {}
            requires = []
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute):
                    args = [a.value for a in decorator.args if isinstance(a, ast.Constant)]
                    if decorator.func.attr == "runbook":
                        marks["runbook"] = str(args[0])
                    elif decorator.func.attr == "requires":
                        requires.append(str(args[0]))
            kind = next((a.arg for a in node.args.args if a.arg in kinds), None)
            if kind is None or "runbook" not in marks:
                continue
            keywords = {
                k.arg
                for call in ast.walk(node)
                if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "fail"
                for k in call.keywords
                if k.arg and k.arg != "evidence"
            }
            found.append(
                Check(
                    node.name,
                    kind,
                    marks["runbook"],
                    tuple(requires),
                    frozenset(keywords | set(FOUND.get(node.name, ()))),
                )
            )
    return found


def example(without_vars: bool = False) -> Any:
    raw = yaml.safe_load(EXAMPLE.read_text())
    if without_vars:
        raw.pop("vars", None)
    return build_environment(raw, VARIABLES, str(EXAMPLE), "production")


def renderings(environment: Any) -> Iterator[tuple[Target[Any], Check, str, str]]:
    """(target, check, entry, rendered step) for every remediation step a failure shows."""
    catalog = load_catalog()
    for check in checks():
        for target in environment.targets.get(check.kind, []):
            if not all(getattr(target.spec, r, None) not in (None, [], {}) for r in check.requires):
                continue
            entry = target.runbook_for(check.entry)
            values = target.template_values()
            values.update({key: f"<found {key}>" for key in check.found})
            values.update({key: f"<label {key}>" for key in RULE_LABELS.get(target.name, ())})
            for step in catalog[entry].remediation:
                yield target, check, entry, render(step, values)


def test_the_example_fills_every_placeholder() -> None:
    environment = example()
    kinds = {t.kind for t in environment.all_targets()}
    assert kinds == set(target_kinds()), "the example has a target of every kind"
    unfilled = {
        (target.kind, check.name, entry, name)
        for target, check, entry, text in renderings(environment)
        for name in placeholders(text)
    }
    assert not unfilled, sorted(unfilled)


def test_without_vars_only_the_documented_ones_remain() -> None:
    """What Vigil knows by itself fills every placeholder but those `vars:` must give, and the
    sources document lists each with its key."""
    remaining = {
        name
        for _, _, _, text in renderings(example(without_vars=True))
        for name in placeholders(text)
    }
    assert remaining <= set(NEEDS_VARS), remaining - set(NEEDS_VARS)
    section = SOURCES.read_text().split("## Placeholders that need vars", 1)[1]
    for name, key in NEEDS_VARS.items():
        assert f"`{{{name}}}`" in section and f"`vars: {key}`" in section


def test_no_object_name_is_invented() -> None:
    """An external service's name is never used as one of our Deployments, and steps name
    objects only through placeholders or <markers> (no example names from the sources)."""
    environment = example(without_vars=True)
    for target, check, entry, text in renderings(environment):
        spec = target.spec
        if getattr(spec, "kind", "service") in ("dependency", "cdn", "object_storage"):
            for verb in ("deployment/", "deploy/"):
                assert f"{verb}{target.name}" not in text, (check.name, entry, text)
    catalog_text = (ROOT / "checks" / "runbook.yaml").read_text()
    for invented in ("instagram", "stripe", "credlink", "akaind", "pitchey", "brandconnect"):
        assert invented not in catalog_text.lower()


def test_one_entry_per_number() -> None:
    """A rule and a preset measuring the same number with the same ceiling must name the same
    entry; two ceilings of one number are tiers whose entries rank with the ceiling."""
    raw = yaml.safe_load(EXAMPLE.read_text())["prometheus"]
    rules = list(raw.get("rules") or []) + expand_presets(raw.get("presets") or {})
    catalog = load_catalog()

    def skeleton(query: str) -> str:
        """The query without spaces and without the matchers that only scope it (job,
        namespace...): `code=~"5.."` on any job's requests is the same number."""

        def kept(selector: re.Match[str]) -> str:
            matchers = [m.strip() for m in selector.group(1).split(",") if m.strip()]
            own = sorted(m for m in matchers if re.split(r"[=!~]", m)[0] not in SCOPE)
            return "{" + ",".join(own) + "}"

        return re.sub(r"\{([^}]*)\}", kept, re.sub(r"\s", "", query))

    seen: dict[tuple[str, object, object], str] = {}
    for rule in rules:
        key = (skeleton(rule["query"]), rule.get("max"), rule.get("min"))
        entry = rule.get("runbook") or "prometheus-rule-breached"
        assert seen.setdefault(key, entry) == entry, (rule["name"], entry, seen[key])
    by_number: dict[str, list[tuple[float, str]]] = {}
    for rule in rules:
        if rule.get("max") is not None and rule.get("runbook"):
            by_number.setdefault(skeleton(rule["query"]), []).append((rule["max"], rule["runbook"]))
    for tiers in by_number.values():
        ranks = [catalog[entry].severity.rank for _, entry in sorted(tiers)]
        assert ranks == sorted(ranks, reverse=True), tiers  # higher ceiling, more severe


def test_every_departure_from_a_source_level_is_documented() -> None:
    """Each entry's severity is the one its source gives (normalised), or the departures table
    names the entry with its reason."""
    text = SOURCES.read_text()
    table = text.split("### Where the catalog departs from a source level", 1)[1]
    table = table.split("\n## ", 1)[0]
    documented = {
        entry.strip()
        for line in table.splitlines()[2:]
        if line.startswith("| ")
        for entry in line.split("|")[1].split(",")
    }
    for entry in (
        "redis-memory-pressure",
        "redis-clients-saturated",
        "http-service-down",
        "high-error-rate",
        "http-component-degraded",
    ):
        assert entry in documented, entry
    departing = {
        e
        for row in read_sources(SOURCES)
        if row.departure.startswith("yes")
        for e, w in row.entries
        if w != row.normalised
    }
    assert departing <= documented, departing - documented
    assert load_catalog()["tls-secret-expiring-soon"].severity == "sev1"  # D: Critical


def test_every_entry_is_traced_to_a_source_or_to_practice() -> None:
    catalog = load_catalog()
    named = set(re.findall(r"`([a-z0-9-]+)`", SOURCES.read_text()))
    assert {name for name in named if name in catalog} == set(catalog)


def test_source_rows_state_the_catalog_severity_and_explain_departures() -> None:
    """Each symptom row names known entries with their current severity; where an entry's
    severity is not the source's level, the row says why (or points at the table)."""
    catalog = load_catalog()
    rows = read_sources(SOURCES)
    assert {row.source for row in rows} == {"A", "B", "C", "D", "E"} and len(rows) > 100
    for row in rows:
        for entry, written in row.entries:
            assert entry in catalog, (row.symptom, entry)
            assert catalog[entry].severity == written, (row.symptom, entry, written)
        level = row.normalised
        differs = level and any(written != level for _, written in row.entries)
        if differs:
            assert row.departure != "—", (row.source, row.symptom)


def test_coverage_shows_the_source_symptoms(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbook", "coverage"]) == 0
    out = capsys.readouterr().out
    assert "Source symptoms (runbook-sources.md)" in out
    assert (
        "E  SEV-2 example: API errors > 50%  (SEV-2 → sev2)  high-error-rate sev1"
        "  [departs: the critical tier starts at 5% (departures table)]" in out
    )
    assert "D  Certificate Expiration: alerts at 1 day  (Critical → sev1)" in out


@pytest.fixture
def escalating_env(tmp_path: Path, http_server: Callable[..., HttpServer]) -> Path:
    server = http_server({"/down": Endpoint(503, {"status": "down"}), "/slow": Endpoint(200, {})})
    return write_env(
        tmp_path,
        "esc",
        f"""
vars: {{namespace: shop, context: prod}}
escalation:
  - {{after_min: 15, contact: DevOps team (#ops-oncall)}}
  - {{after_min: 5, contact: "engineering lead (+1-555-0100)"}}
  - {{after_min: 30, contact: CTO}}
http:
  services:
    - name: api
      url: {server.url("/down")}
    - name: admin
      url: {server.url("/down")}
      severity: sev3
""",
    )


def test_escalation_is_rendered_into_sev1_remediation(
    run_suite: Callable[..., SuiteRun], escalating_env: Path
) -> None:
    run = run_suite("--env", str(escalating_env))
    results = json.loads((run.report_dir / "results.json").read_text())
    records = {c["id"]: c for c in results["checks"]}
    sev1 = records["test_health_endpoint[esc/api]"]["remediation"]
    assert sev1[-1] == (
        "Escalate while it is not mitigated (minutes since the alert): after 5 min, engineering"
        " lead (+1-555-0100); after 15 min, DevOps team (#ops-oncall); after 30 min, CTO."
    )
    assert "Escalate" not in "\n".join(records["test_health_endpoint[esc/admin]"]["remediation"])
    assert "after 15 min, DevOps team" in run.output


def test_real_failures_render_without_placeholders(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    """The values the checks really add when they fail (not a declared list): a snapshot of a
    cluster in trouble, read with only `vars: {context}` (a snapshot has no context)."""
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    for name in ("shop-incident.yaml", "trimmed-dump.yaml"):
        (dumps / name).write_text((ROOT / "tests" / "fixtures" / "kubernetes" / name).read_text())
    envs = []
    for name, namespaces in (("shop-incident", "[shop, ops]"), ("trimmed-dump", "[cb-auth]")):
        env = write_env(
            tmp_path,
            name,
            f"vars: {{context: prod}}\nkubernetes:\n  snapshot: dumps/{name}.yaml\n"
            f"  namespaces: {namespaces}\n"
            "  required_secrets: {web-secrets: [JWT_SECRET, SESSION_KEY], gone: [KEY]}\n"
            "  shared_secret_keys: [JWT_SECRET]\n",
        )
        envs += ["--env", str(env)]
    run = run_suite(*envs, "-m", "kubernetes")
    results = json.loads((run.report_dir / "results.json").read_text())
    failing = [c for c in results["checks"] if c["outcome"] == "failed" and c["evaluated"]]
    assert len(failing) > 20, run.output[-3000:]
    unfilled = {
        (c["id"], name)
        for c in failing
        for step in c["remediation"] + c.get("diagnosis", [])
        for name in placeholders(step)
    }
    assert not unfilled, sorted(unfilled)
