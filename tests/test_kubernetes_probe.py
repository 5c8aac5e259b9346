"""The Kubernetes probe, end to end: the official client talks to the stand-in over real HTTP,
each observation made through a probe session as a run makes it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.probing import load_targets, observe
from tests.servers import Endpoint, HttpServer, SilentPort, free_port
from vigil.families.kubernetes import client as kube_client
from vigil.families.kubernetes import probe as kubernetes
from vigil.families.kubernetes.probe import ClusterState, NamespaceObjects, import_apis
from vigil.families.kubernetes.snapshot import load_snapshot
from vigil.families.kubernetes.spec import KubernetesSection
from vigil.kube_standin import KubeStandIn, load_objects
from vigil.session import ProbeSession
from vigil.targets import Target

FIXTURE = Path(__file__).parent / "fixtures" / "kubernetes" / "shop-incident.yaml"
SENTINELS = ("sentinel-jwt-3f9a1c7e55", "sentinel-jwt-b7e2d4a0c1", "sentinel-paykey-91d0e6f2ab")


def look(
    target: Target[KubernetesSection], session: ProbeSession | None = None
) -> NamespaceObjects:
    """The probe's observation of one namespace (`k8s_objects`)."""
    objects: NamespaceObjects = observe("k8s_objects", target, session)
    return objects


def look_at_nodes(
    target: Target[KubernetesSection], session: ProbeSession | None = None
) -> ClusterState:
    """The probe's observation of the cluster (`k8s_cluster_state`)."""
    state: ClusterState = observe("k8s_cluster_state", target, session)
    return state


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


def target(
    tmp_path: Path, section: str, kind: str = "k8s_namespace", name: str = "shop"
) -> Target[KubernetesSection]:
    targets = load_targets(tmp_path, kind, f"timeout_s: 1\nkubernetes:\n{section}", name="k8s")
    return next(t for t in targets if kind != "k8s_namespace" or t.name == name)


def live(tmp_path: Path, server: KubeStandIn, context: str = "prod") -> str:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", context)
    return f"  kubeconfig: {kubeconfig}\n  context: {context}\n  namespaces: [shop, ops]\n"


def test_observes_one_namespace(tmp_path: Path, standin: Callable[..., KubeStandIn]) -> None:
    server = standin()
    before = datetime.now(UTC)
    objects = look(target(tmp_path, live(tmp_path, server)))
    assert objects.error is None and objects.unreadable == {}
    assert objects.context == "prod"
    assert before <= objects.observed_at <= datetime.now(UTC)  # now, not a snapshot's time
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
    with ProbeSession() as session:  # one run: both namespaces and the nodes
        assert look(target(tmp_path, section), session).error is None
        assert look(target(tmp_path, section, name="ops"), session).error is None
        assert look_at_nodes(target(tmp_path, section, kind="k8s_cluster"), session).nodes
    assert server.methods() == {"GET"}
    lists = [path.split("?")[0] for _, path in server.requests if "/namespaces/shop/" in path]
    assert len(lists) == len(set(lists)) == len(kube_client.NAMESPACED)


def test_secret_values_are_never_kept(tmp_path: Path, standin: Callable[..., KubeStandIn]) -> None:
    objects = look(target(tmp_path, live(tmp_path, standin())))
    assert objects.error is None and objects.secrets
    shown = repr(objects) + str([s.digests for s in objects.secrets])
    assert not [s for s in SENTINELS if s in shown]
    digests = {s.name: s.digests.get("JWT_SECRET") for s in objects.secrets}
    assert digests["web-secrets"] == digests["search-secrets"] != digests["checkout-secrets"]


def test_forbidden_kind_names_the_missing_permission(
    tmp_path: Path, standin: Callable[..., KubeStandIn]
) -> None:
    server = standin(forbidden=("secrets", "nodes"))
    section = live(tmp_path, server)
    objects = look(target(tmp_path, section))
    assert objects.error is None and objects.pods
    reason = objects.unreadable["secrets"]
    assert 'missing permission to list secrets (API group "") in namespace "shop"' in reason
    assert "deploy/rbac.yaml" in reason and "cannot list resource" in reason
    cluster = look_at_nodes(target(tmp_path, section, kind="k8s_cluster"))
    assert cluster.error is None
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
    objects = look(target(tmp_path, live(tmp_path, standin(text=text))))
    assert objects.error is None and objects.pods
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
    objects = look(target(tmp_path, f"  kubeconfig: {kubeconfig}\n  namespaces: [shop]\n"))
    assert objects.error == (
        f"cannot connect to the Kubernetes API at http://127.0.0.1:{port} (context c):"
        " connection refused"
    )


def test_rejected_credentials_are_a_clear_error(
    tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    unauthorized = {"kind": "Status", "code": 401, "reason": "Unauthorized", "message": "no"}
    server = http_server({"/api/v1/namespaces/shop/pods": Endpoint(401, unauthorized)})
    kubeconfig = kubeconfig_for(tmp_path, server.port)
    objects = look(target(tmp_path, f"  kubeconfig: {kubeconfig}\n  namespaces: [shop]\n"))
    assert objects.error == (
        f"the Kubernetes API at http://127.0.0.1:{server.port} (context c) rejected the credentials"
    )


def test_silent_api_times_out(tmp_path: Path, silent_port: SilentPort) -> None:
    kubeconfig = kubeconfig_for(tmp_path, silent_port.port)
    shop = target(tmp_path, f"  kubeconfig: {kubeconfig}\n  namespaces: [shop]\n")
    import_apis()  # once per run, outside any target's time (Observation.prepare)
    started = time.monotonic()
    objects = look(shop)
    assert time.monotonic() - started < 3 * shop.timeout_s
    # timeout_s is the total time of the observation: the session's own message at its end.
    assert objects.error is not None
    assert objects.error.startswith("the Kubernetes API at http://127.0.0.1:")
    assert objects.error.endswith("did not answer all 12 list requests within 1 s")


def test_bad_kubeconfig_or_context(tmp_path: Path, standin: Callable[..., KubeStandIn]) -> None:
    missing = look(target(tmp_path, "  kubeconfig: nope.yaml\n  namespaces: [shop]\n"))
    assert missing.error is not None and "nope.yaml" in missing.error
    section = live(tmp_path, standin()).replace("context: prod", "context: staging")
    wrong = look(target(tmp_path, section))
    assert wrong.error is not None and "context 'staging'" in wrong.error


def test_snapshot_is_judged_as_of_its_newest_timestamp(tmp_path: Path) -> None:
    snapshot = load_snapshot(FIXTURE)
    assert (
        datetime(2025, 3, 14, 9, 59, tzinfo=UTC)
        < snapshot.taken_at
        <= datetime(2025, 3, 14, 10, tzinfo=UTC)
    )
    objects = look(target(tmp_path, f"  snapshot: {FIXTURE}\n  namespaces: [shop]\n"))
    assert objects.error is None and objects.observed_at == snapshot.taken_at
    assert len(objects.pods) == 11


def test_unreadable_snapshot(tmp_path: Path) -> None:
    bad = tmp_path / "dump.yaml"
    bad.write_text("items: [1, 2\n")
    objects = look(target(tmp_path, "  snapshot: dump.yaml\n  namespaces: [shop]\n"))
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
    objects = look(target(tmp_path, section))
    assert objects.error is None
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
    objects = look(target(tmp_path, live(tmp_path, server)))
    assert objects.error is None and objects.pods
    assert all(not pod.logs for pod in objects.pods)
    assert not any("/log" in path for _, path in server.requests)


def test_a_namespace_with_nothing_in_it_is_not_a_pass(
    tmp_path: Path, standin: Callable[..., KubeStandIn]
) -> None:
    section = live(tmp_path, standin()).replace("[shop, ops]", "[shpo]")
    objects = look(target(tmp_path, section, name="shpo"))
    assert objects.error is not None
    assert 'namespace "shpo" holds no pods' in objects.error and "does not exist" in objects.error
