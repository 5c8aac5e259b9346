"""The Kubernetes probe, end to end: the official client talks to the stand-in over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import write_env
from tests.probing import targets_of
from tests.servers import SilentPort, free_port
from vigil.environment import load_environment
from vigil.families.kubernetes import client as kube_client
from vigil.families.kubernetes import probe as kubernetes
from vigil.families.kubernetes.snapshot import load_snapshot
from vigil.kube_standin import KubeStandIn, load_objects
from vigil.targets import Target

FIXTURE = Path(__file__).parent / "fixtures" / "kubernetes" / "shop-incident.yaml"
SENTINELS = ("sentinel-jwt-3f9a1c7e55", "sentinel-jwt-b7e2d4a0c1", "sentinel-paykey-91d0e6f2ab")


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    yield
    kubernetes.close()


@pytest.fixture
def standin() -> Iterator[Callable[..., KubeStandIn]]:
    started: list[KubeStandIn] = []

    def start(
        forbidden: tuple[str, ...] = (), text: str | None = None, logs: dict[str, str] | None = None
    ) -> KubeStandIn:
        objects = load_objects(text or FIXTURE.read_text())
        server = KubeStandIn(objects, forbidden=forbidden, logs=logs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def target(tmp_path: Path, section: str, kind: str = "k8s_namespace", name: str = "shop") -> Target:
    path = write_env(tmp_path, "k8s", f"timeout_s: 1\nkubernetes:\n{section}")
    environment = load_environment(path, {})
    return next(
        t for t in targets_of(kind, environment) if kind != "k8s_namespace" or t.name == name
    )


def live(tmp_path: Path, server: KubeStandIn, context: str = "prod") -> str:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", context)
    return f"  kubeconfig: {kubeconfig}\n  context: {context}\n  namespaces: [shop, ops]\n"


def test_observes_one_namespace(tmp_path: Path, standin: Callable[..., KubeStandIn]) -> None:
    server = standin()
    objects = kubernetes.observe_namespace(target(tmp_path, live(tmp_path, server)))
    assert objects.error is None and objects.unreadable == {}
    assert objects.context == "prod"
    assert abs(objects.observed_at - datetime.now(UTC)) < timedelta(seconds=5)
    crashing = next(p for p in objects.pods if p.name.endswith("-p8q7r"))
    assert crashing.deployment == "checkout" and crashing.owner_kind == "ReplicaSet"
    assert crashing.containers[0].reason == "CrashLoopBackOff"
    assert crashing.containers[0].restarts == 8
    assert any("BackOff (x31)" in line for line in crashing.events)
    assert next(p for p in objects.pods if p.name == "db-0").workload == "statefulset/db"
    assert {d.name: (d.available, d.desired) for d in objects.deployments}["checkout"] == (1, 2)
    assert {s.name: s.ready_endpoints for s in objects.services}["reports"] == 0
    assert objects.certificates is not None and objects.certificates[0].ready is not None
    assert {s.name: s.keys for s in objects.secrets}["web-secrets"] == [
        "DATABASE_URL",
        "JWT_SECRET",
    ]


def test_sends_only_get_and_one_list_per_kind(
    tmp_path: Path, standin: Callable[..., KubeStandIn]
) -> None:
    server = standin()
    section = live(tmp_path, server)
    kubernetes.observe_namespace(target(tmp_path, section))
    kubernetes.observe_namespace(target(tmp_path, section, name="ops"))
    kubernetes.observe_cluster(target(tmp_path, section, kind="k8s_cluster"))
    assert server.methods() == {"GET"}
    lists = [path.split("?")[0] for _, path in server.requests if "/namespaces/shop/" in path]
    assert len(lists) == len(set(lists)) == len(kube_client.NAMESPACED)


def test_secret_values_are_never_kept(tmp_path: Path, standin: Callable[..., KubeStandIn]) -> None:
    objects = kubernetes.observe_namespace(target(tmp_path, live(tmp_path, standin())))
    shown = repr(objects) + str([s.digests for s in objects.secrets])
    assert not [s for s in SENTINELS if s in shown]
    digests = {s.name: s.digests.get("JWT_SECRET") for s in objects.secrets}
    assert digests["web-secrets"] == digests["search-secrets"] != digests["checkout-secrets"]


def test_forbidden_kind_names_the_missing_permission(
    tmp_path: Path, standin: Callable[..., KubeStandIn]
) -> None:
    server = standin(forbidden=("secrets", "nodes"))
    section = live(tmp_path, server)
    objects = kubernetes.observe_namespace(target(tmp_path, section))
    assert objects.error is None and objects.pods
    reason = objects.unreadable["secrets"]
    assert 'missing permission to list secrets (API group "") in namespace "shop"' in reason
    assert "deploy/rbac.yaml" in reason and "cannot list resource" in reason
    cluster = kubernetes.observe_cluster(target(tmp_path, section, kind="k8s_cluster"))
    assert (
        "list nodes" in cluster.unreadable["nodes"]
        and "at cluster scope" in cluster.unreadable["nodes"]
    )


def test_cert_manager_absent_is_not_an_error(
    tmp_path: Path, standin: Callable[..., KubeStandIn]
) -> None:
    text = "\n---\n".join(
        part for part in FIXTURE.read_text().split("\n---\n") if "kind: Certificate\n" not in part
    )
    objects = kubernetes.observe_namespace(target(tmp_path, live(tmp_path, standin(text=text))))
    assert objects.certificates is None and "certificates" not in objects.unreadable


def kubeconfig_for(tmp_path: Path, port: int) -> Path:
    """A kubeconfig whose only context, c, points at 127.0.0.1:port."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    return path


def test_refused_port_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    kubeconfig = kubeconfig_for(tmp_path, port)
    objects = kubernetes.observe_namespace(
        target(tmp_path, f"  kubeconfig: {kubeconfig}\n  namespaces: [shop]\n")
    )
    assert objects.error == (
        f"cannot connect to the Kubernetes API at http://127.0.0.1:{port} (context c):"
        " connection refused"
    )


def test_silent_api_times_out(tmp_path: Path, silent_port: SilentPort) -> None:
    kubeconfig = kubeconfig_for(tmp_path, silent_port.port)
    started = time.monotonic()
    objects = kubernetes.observe_namespace(
        target(tmp_path, f"  kubeconfig: {kubeconfig}\n  namespaces: [shop]\n")
    )
    assert time.monotonic() - started < 3
    assert objects.error is not None and "did not answer within 1 s" in objects.error


def test_bad_kubeconfig_or_context(tmp_path: Path, standin: Callable[..., KubeStandIn]) -> None:
    missing = kubernetes.observe_namespace(
        target(tmp_path, "  kubeconfig: nope.yaml\n  namespaces: [shop]\n")
    )
    assert missing.error is not None and "nope.yaml" in missing.error
    kubernetes.close()
    section = live(tmp_path, standin()).replace("context: prod", "context: staging")
    wrong = kubernetes.observe_namespace(target(tmp_path, section))
    assert wrong.error is not None and "context 'staging'" in wrong.error


def test_snapshot_is_judged_as_of_its_newest_timestamp(tmp_path: Path) -> None:
    snapshot = load_snapshot(FIXTURE)
    assert (
        datetime(2025, 3, 14, 9, 59, tzinfo=UTC)
        < snapshot.taken_at
        <= datetime(2025, 3, 14, 10, tzinfo=UTC)
    )
    objects = kubernetes.observe_namespace(
        target(tmp_path, f"  snapshot: {FIXTURE}\n  namespaces: [shop]\n")
    )
    assert objects.error is None and objects.observed_at == snapshot.taken_at
    assert len(objects.pods) == 11


def test_unreadable_snapshot(tmp_path: Path) -> None:
    bad = tmp_path / "dump.yaml"
    bad.write_text("items: [1, 2\n")
    objects = kubernetes.observe_namespace(
        target(tmp_path, "  snapshot: dump.yaml\n  namespaces: [shop]\n")
    )
    assert objects.error is not None and f"cannot read the snapshot {bad}" in objects.error


def test_logs_of_troubled_containers_are_read_redacted(
    tmp_path: Path, standin: Callable[..., KubeStandIn]
) -> None:
    lines = [f"line {n}" for n in range(30)] + [
        "connecting to postgresql://checkout:hunter2secret@db:5432/shop",
        "fatal: cannot start, password=hunter2secret",
    ]
    server = standin(logs={"shop/checkout-bb0570e0c5-p8q7r": "\n".join(lines)})
    section = live(tmp_path, server) + "  logs: true\n"
    objects = kubernetes.observe_namespace(target(tmp_path, section))
    crashing = next(p for p in objects.pods if p.name.endswith("-p8q7r"))
    assert len(crashing.logs) == kubernetes.LOG_LINES
    assert crashing.logs[-1] == "[checkout, previous run] fatal: cannot start, password=***"
    assert "hunter2secret" not in repr(objects)
    assert any("/log?" in path and "previous=true" in path for _, path in server.requests)
    assert server.methods() == {"GET"}


def test_logs_are_not_read_unless_asked(
    tmp_path: Path, standin: Callable[..., KubeStandIn]
) -> None:
    server = standin(logs={"shop/checkout-bb0570e0c5-p8q7r": "secret stuff"})
    objects = kubernetes.observe_namespace(target(tmp_path, live(tmp_path, server)))
    assert all(not pod.logs for pod in objects.pods)
    assert not any("/log" in path for _, path in server.requests)


def test_a_namespace_with_nothing_in_it_is_not_a_pass(
    tmp_path: Path, standin: Callable[..., KubeStandIn]
) -> None:
    section = live(tmp_path, standin()).replace("[shop, ops]", "[shpo]")
    objects = kubernetes.observe_namespace(target(tmp_path, section, name="shpo"))
    assert objects.error is not None
    assert 'namespace "shpo" holds no pods' in objects.error and "does not exist" in objects.error
