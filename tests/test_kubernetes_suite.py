"""End to end: `pytest checks -m kubernetes` against snapshots and stand-in clusters."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.certs import TestCA
from tests.conftest import SuiteRun, write_env
from vigil.families.kubernetes.snapshot import load_snapshot
from vigil.kube_standin import KubeStandIn, load_objects
from vigil.sandbox.kubernetes import cluster_objects

FIXTURE = Path(__file__).parent / "fixtures" / "kubernetes" / "shop-incident.yaml"
SENTINELS = [
    "sentinel-jwt-3f9a1c7e55",
    "sentinel-jwt-b7e2d4a0c1",
    "sentinel-paykey-91d0e6f2ab",
    "sentinel-session-44aa10",
    "sentinel-dbpass-6c1d9e",
    "sentinel-redispass-0b7e",
]

EXPECTED_SHOP = {
    "test_namespace_listed": "passed",
    "test_no_crash_looping_pods": "failed",
    "test_pods_can_start": "failed",
    "test_no_recent_oom_kills": "failed",
    "test_restarts_below_limit": "failed",
    "test_no_pods_pending": "failed",
    "test_no_failed_pods": "failed",
    "test_running_pods_ready": "passed",
    "test_deployments_available": "failed",
    "test_rollouts_progressing": "failed",
    "test_statefulsets_ready": "passed",
    "test_autoscalers_below_max": "failed",
    "test_autoscalers_have_metrics": "passed",
    "test_jobs_not_failed": "failed",
    "test_services_have_endpoints": "failed",
    "test_claims_bound": "failed",
    "test_no_recent_warning_events": "failed",
    "test_required_secrets_present": "failed",
    "test_shared_secrets_consistent": "failed",
    "test_tls_secrets_not_expiring": "passed",
    "test_tls_secrets_not_expiring_soon": "failed",
    "test_certificates_ready": "failed",
}


def tls_secret(name: str, not_after: datetime) -> tuple[dict[str, object], bytes]:
    """A kubernetes.io/tls Secret whose certificate expires at `not_after`, and its key."""
    leaf = TestCA().issue(
        ["shop.example.com"], not_before=not_after - timedelta(days=90), not_after=not_after
    )
    key = leaf.key_pem
    secret: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "creationTimestamp": "2025-01-01T00:00:00Z",
        },
        "data": {
            "tls.crt": base64.b64encode(leaf.cert_pem).decode(),
            "tls.key": base64.b64encode(key).decode(),
        },
    }
    return secret, key


@pytest.fixture
def snapshot_env(tmp_path: Path) -> tuple[Path, list[str]]:
    """An environment on a copy of the fixture plus a TLS secret 5 days from expiry."""
    taken = load_snapshot(FIXTURE).taken_at
    secret, key = tls_secret("shop-tls", taken + timedelta(days=5))
    dump = tmp_path / "dumps" / "cluster.yaml"
    dump.parent.mkdir()
    shutil.copy(FIXTURE, dump)
    with dump.open("a") as handle:
        handle.write("---\n" + yaml.safe_dump(secret))
    env = write_env(
        tmp_path,
        "snap",
        """
kubernetes:
  snapshot: dumps/cluster.yaml
  namespaces: [shop, ops]
  required_secrets: {shop/web-secrets: [JWT_SECRET, SESSION_KEY]}
  shared_secret_keys: [JWT_SECRET]
""",
    )
    encoded_key = base64.b64encode(key).decode()
    secrets = [*SENTINELS, key.decode().splitlines()[1], encoded_key[:40]]
    secrets += [base64.b64encode(s.encode()).decode()[:16] for s in SENTINELS]
    return env, secrets


def test_snapshot_fails_exactly_the_faulty_checks(
    run_suite: Callable[..., SuiteRun], snapshot_env: tuple[Path, list[str]]
) -> None:
    env, secrets = snapshot_env
    run = run_suite("--env", str(env), "-m", "kubernetes")
    outcomes = run.outcomes()
    shop = {name.split("[")[0]: o for name, o in outcomes.items() if name.endswith("[snap/shop]")}
    assert shop == EXPECTED_SHOP, run.output[-4000:]
    ops = {name for name, o in outcomes.items() if name.endswith("[snap/ops]") and o != "passed"}
    assert ops == set(), run.output[-4000:]
    assert outcomes["test_nodes_ready[snap/cluster]"] == "failed"
    assert outcomes["test_nodes_without_pressure[snap/cluster]"] == "failed"
    assert run.returncode == 1 and run.seconds < 30
    out = run.output
    assert "not evaluated" not in out  # every check could look at the snapshot
    assert "pod/checkout-bb0570e0c5-p8q7r (deployment/checkout): container checkout in" in out
    assert "kubectl rollout undo deployment/checkout -n shop" in out
    assert "3 deployments short of replicas in namespace shop" in out
    assert "secret/web-secrets: lacks key SESSION_KEY (has DATABASE_URL, JWT_SECRET)" in out
    assert "JWT_SECRET: 2 different values: value 1 in web-secrets, search-secrets;" in out
    assert "pod/reports-f136a3cbe7-r5s6t (deployment/reports): Pending for 18 min" in out
    assert "1 of 4 nodes not ready: node-b (Ready=Unknown NodeStatusUnknown)" in out
    assert "secret/shop-tls: certificate shop.example.com expires in 5.0 days" in out
    assert "event: 6s ago Warning BackOff (x31)" in out
    # Everything the run wrote: its output, its JUnit XML (beside its report directory), reports.
    junit = list(run.report_dir.parent.glob("junit-*.xml"))
    assert len(junit) == 1 and run.report_dir.is_dir()
    written = [run.output, junit[0].read_text()]
    written += [p.read_text() for p in run.report_dir.rglob("*") if p.is_file()]
    leaked = [s for s in secrets for text in written if s in text]
    assert not leaked


def test_missing_rbac_is_a_clean_failure_naming_the_permission(
    run_suite: Callable[..., SuiteRun], tmp_path: Path
) -> None:
    server = KubeStandIn(load_objects(FIXTURE.read_text()), forbidden={"secrets"})
    try:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", "prod")
        env = write_env(
            tmp_path,
            "rbac",
            f"kubernetes:\n  kubeconfig: {kubeconfig}\n  context: prod\n  namespaces: [ops]\n"
            "  required_secrets: {relay-secrets: [TOKEN]}\n",
        )
        run = run_suite("--env", str(env), "-m", "kubernetes")
    finally:
        server.close()
    assert run.outcome("test_required_secrets_present[rbac/ops]") == "failed"
    assert run.outcome("test_no_crash_looping_pods[rbac/ops]") == "passed"
    assert (
        "not evaluated: cannot list secrets: forbidden: missing permission to list secrets"
        ' (API group "") in namespace "ops"' in run.output
    )
    assert 'User "system:serviceaccount:vigil:vigil" cannot list resource "secrets"' in run.output
    assert "Traceback" not in run.output


def _merged_kubeconfig(path: Path, servers: dict[str, KubeStandIn]) -> Path:
    merged: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [],
        "users": [],
        "contexts": [],
    }
    for context, server in servers.items():
        one = yaml.safe_load(server.write_kubeconfig(path, context).read_text())
        for key in ("clusters", "users", "contexts"):
            merged[key] += one[key]
    merged["current-context"] = next(iter(servers))
    path.write_text(yaml.safe_dump(merged))
    return path


@pytest.fixture
def two_clusters(tmp_path: Path) -> Iterator[Path]:
    healthy = KubeStandIn(cluster_objects("healthy", datetime.now(UTC)))
    incident = KubeStandIn(cluster_objects("incident", datetime.now(UTC)))
    yield _merged_kubeconfig(tmp_path / "kubeconfig", {"eu-prod": healthy, "us-prod": incident})
    healthy.close()
    incident.close()


def test_two_environments_with_different_contexts_in_one_run(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, two_clusters: Path
) -> None:
    for name in ("eu", "us"):
        write_env(
            tmp_path,
            name,
            f"kubernetes:\n  kubeconfig: {two_clusters}\n  context: {name}-prod\n"
            "  namespaces: [platform]\n",
        )
    # One run, one probe session: each environment gets its own connection and context.
    run = run_suite(
        "--env", str(tmp_path / "eu.yaml"), "--env", str(tmp_path / "us.yaml"), "-m", "kubernetes"
    )
    failed = run.failed()
    assert not [name for name in failed if "[eu/" in name], run.output[-3000:]
    assert {n.split("[")[0] for n in failed if "[us/" in n} == {
        "test_no_crash_looping_pods",
        "test_no_recent_oom_kills",
        "test_no_pods_pending",
        "test_autoscalers_below_max",
        "test_no_recent_warning_events",
    }
    assert run.outcome("test_nodes_ready[eu/eu-prod]") == "passed"
    assert "kubectl rollout undo deployment/payments -n platform --context us-prod" in run.output
