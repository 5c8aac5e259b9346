"""Real-world dumps read right: a trimmed dump with nulls, kinds it does not hold, objects
without timestamps, and a shared secret that differs between namespaces."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SuiteRun, write_env
from tests.probing import load_targets, observe
from vigil.families.kubernetes.objects import read_node
from vigil.families.kubernetes.pods import read_pod
from vigil.families.kubernetes.probe import NamespaceObjects
from vigil.kube_standin import KubeStandIn

DUMP = Path(__file__).parent / "fixtures" / "kubernetes" / "trimmed-dump.yaml"
SENTINELS = ("sentinel-jwt-auth-7d4e", "sentinel-jwt-billing-9c1a")


def records(run: SuiteRun) -> dict[str, dict[str, Any]]:
    results = json.loads((run.report_dir / "results.json").read_text())
    return {c["id"]: c for c in results["checks"]}


@pytest.fixture
def dump_env(tmp_path: Path) -> Path:
    shutil.copy(DUMP, tmp_path / "dump.yaml")
    return write_env(
        tmp_path,
        "snap",
        "vars: {context: prod}\n"
        "kubernetes:\n  snapshot: dump.yaml\n  namespaces: [cb-auth, cb-billing]\n"
        "  shared_secret_keys: [JWT_SECRET]\n",
    )


def test_a_trimmed_dump_is_read_object_by_object(
    run_suite: Callable[..., SuiteRun], dump_env: Path
) -> None:
    run = run_suite("--env", str(dump_env), "-m", "kubernetes")
    found = records(run)

    def outcome(check: str, target: str = "cb-auth") -> str:
        return str(found[f"{check}[snap/{target}]"]["outcome"])

    def message(check: str, target: str = "cb-auth") -> str:
        return str(found[f"{check}[snap/{target}]"]["message"])

    # One pod with spec: null, another with status: null: the crash loop, the pending pod,
    # the warning events and the NotReady node next to them are all still seen.
    assert "unreadable objects" not in run.output and "AttributeError" not in run.output
    assert outcome("test_no_crash_looping_pods") == "failed"
    # No ReplicaSets in the dump: the pod is named by the owner it records, nothing invented.
    assert "pod/auth-worker-5b8c9f6d7-q7w2e (replicaset/auth-worker-5b8c9f6d7)" in run.output
    assert "container worker in CrashLoopBackOff after 4 restarts" in message(
        "test_no_crash_looping_pods"
    )
    evidence = "\n".join(found["test_no_crash_looping_pods[snap/cb-auth]"]["evidence"])
    assert "read partially: pod/auth-api-6c9f7d8b4-x2x9k: spec is null" in evidence
    assert "read partially: pod/auth-cron-29123456-abcde: status is null" in evidence
    assert outcome("test_running_pods_ready") == "passed"
    assert outcome("test_deployments_available") == "passed"  # spec: null, status says 2 of 2
    assert outcome("test_no_recent_warning_events") == "failed"
    assert outcome("test_nodes_ready", "cluster") == "failed"
    assert "node-2 (Ready=False KubeletNotReady)" in message("test_nodes_ready", "cluster")
    nodes = "\n".join(found["test_nodes_ready[snap/cluster]"]["evidence"])
    assert "read partially: node/node-1: status is null" in nodes
    # No creationTimestamp: no invented age.
    pending = message("test_no_pods_pending")
    assert "pod/auth-migrate-8xk2p" in pending
    assert "Pending for a time it does not record (no creationTimestamp)" in pending
    assert " min," not in pending
    # Kinds the dump does not hold are not evaluated, with the command that adds them.
    services = found["test_services_have_endpoints[snap/cb-auth]"]
    assert services["evaluated"] is False and "no ready endpoints" not in services["message"]
    assert "endpoints are not in the snapshot dump.yaml" in services["message"]
    assert "kubectl get endpoints -n cb-auth -o yaml" in services["message"]
    for check, kind in [
        ("test_statefulsets_ready", "statefulsets"),
        ("test_autoscalers_below_max", "horizontalpodautoscalers"),
        ("test_jobs_not_failed", "jobs"),
        ("test_claims_bound", "persistentvolumeclaims"),
    ]:
        record = found[f"{check}[snap/cb-auth]"]
        assert (
            record["evaluated"] is False and f"kubectl get {kind} -n cb-auth" in record["message"]
        )
    assert outcome("test_certificates_ready") == "skipped"
    # JWT_SECRET differs between cb-auth and cb-billing: caught across namespaces, once.
    across = found["test_shared_secrets_consistent_across_namespaces[snap/cluster]"]
    assert across["outcome"] == "failed" and across["runbook"] == "secret-inconsistent"
    assert (
        "JWT_SECRET: value 1 in cb-auth/auth-secrets, value 2 in cb-billing/billing-secrets"
        in (across["message"])
        or "value 1 in cb-billing/billing-secrets, value 2 in cb-auth/auth-secrets"
        in across["message"]
    )
    assert outcome("test_shared_secrets_consistent") == "passed"  # one holder per namespace
    assert not [s for s in SENTINELS if s in run.output]
    steps = "\n".join(across["remediation"])
    assert "kubectl rollout restart deployment/" in steps and "{" not in steps


def test_readers_note_what_they_could_not_read() -> None:
    pod = read_pod(
        {
            "metadata": {"name": "p", "ownerReferences": [None, {"kind": "Job", "name": "j"}]},
            "spec": None,
            "status": {
                "phase": "Running",
                "containerStatuses": [None, {"name": "c", "restartCount": "many", "state": []}],
                "conditions": "Ready",
            },
        },
        {},
    )
    assert pod.name == "p" and pod.owner_kind == "Job" and pod.containers[0].restarts == 0
    assert pod.partial == (
        "spec is null",
        "1 of metadata.ownerReferences are null or malformed",
        "1 of status.containerStatuses are null or malformed",
        "container c.state is a list, not a mapping",
        "container c.restartCount is not a number",
        "status.conditions is a str, not a mapping",
    )
    node = read_node({"metadata": {"name": "n"}, "status": None})
    assert node.ready.status == "Unknown" and node.partial == ("status is null",)
    assert read_pod(None, {}).partial[0] == "the object is not a mapping"  # type: ignore[arg-type]


def secret(namespace: str, name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"JWT_SECRET": base64.b64encode(value.encode()).decode()},
    }


def pod(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Running"},
    }


@pytest.mark.parametrize("same", [True, False])
def test_shared_secret_across_namespaces_of_a_live_cluster(
    run_suite: Callable[..., SuiteRun], tmp_path: Path, same: bool
) -> None:
    objects = [
        pod("cb-auth", "auth"),
        pod("cb-billing", "billing"),
        secret("cb-auth", "auth-secrets", "sentinel-shared-1f2e"),
        secret("cb-billing", "billing-secrets", "sentinel-shared-1f2e" if same else "sentinel-x9"),
    ]
    server = KubeStandIn(objects)
    try:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", "prod")
        env = write_env(
            tmp_path,
            "live",
            f"kubernetes:\n  kubeconfig: {kubeconfig}\n  context: prod\n"
            "  namespaces: [cb-auth, cb-billing]\n"
            "  required_secrets: {auth-secrets: [JWT_SECRET], billing-secrets: [JWT_SECRET]}\n",
        )
        run = run_suite("--env", str(env), "-k", "shared_secrets")
    finally:
        server.close()
    outcome = run.outcome("test_shared_secrets_consistent_across_namespaces[live/prod]")
    assert outcome == ("passed" if same else "failed"), run.output
    assert run.outcome("test_shared_secrets_consistent[live/cb-auth]") == "passed"
    assert "sentinel" not in run.output
    # Each namespace was listed once, though two checks compared its secrets.
    paths = [path.split("?", 1)[0] for _, path in server.requests]  # lists are paged: ?limit=
    listed = [path for path in paths if path.endswith("/secrets")]
    assert sorted(listed) == [
        "/api/v1/namespaces/cb-auth/secrets",
        "/api/v1/namespaces/cb-billing/secrets",
    ]


def test_a_namespace_absent_from_a_snapshot_is_an_error(tmp_path: Path) -> None:
    shutil.copy(DUMP, tmp_path / "dump.yaml")
    [target] = load_targets(
        tmp_path,
        "k8s_namespace",
        "kubernetes:\n  snapshot: dump.yaml\n  namespaces: [cb-payments]\n",
    )
    look: NamespaceObjects = observe("k8s_objects", target)
    assert look.error is not None and 'namespace "cb-payments" holds no pods' in look.error


def test_one_bad_object_among_thousands_hides_nothing(tmp_path: Path) -> None:
    documents = yaml.safe_load(DUMP.read_text())["items"]
    crashing = next(d for d in documents if d["metadata"].get("name", "").startswith("auth-worker"))
    bad: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": None, "spec": None, "status": None}
    ]
    bad += [{"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "cb-auth"}, "status": []}]
    (tmp_path / "dump.yaml").write_text(yaml.safe_dump({"kind": "List", "items": [crashing, *bad]}))
    [target] = load_targets(
        tmp_path, "k8s_namespace", "kubernetes:\n  snapshot: dump.yaml\n  namespaces: [cb-auth]\n"
    )
    look: NamespaceObjects = observe("k8s_objects", target)
    assert look.error is None
    assert [p.name for p in look.pods] == ["auth-worker-5b8c9f6d7-q7w2e", ""]
    assert look.partial == ("pod/(no name): spec is missing; status is a list, not a mapping",)
