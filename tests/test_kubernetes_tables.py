"""The stand-in prints what a real API server prints for `kubectl get`: the machine's kubectl
reads it and must show kubectl's own columns (pods with init-container statuses, events,
nodes, autoscalers, `-o wide`)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from vigil.kube_standin import KubeStandIn
from vigil.kube_standin.cells import human_duration

NOW = datetime.now(UTC)
NS = "tables"


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, status: dict[str, Any], spec: dict[str, Any] | None = None, **meta: Any) -> Any:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": ago(hours=9), **meta},
        "spec": spec or {"containers": [{"name": "app", "image": "app:1"}], "nodeName": "node-1"},
        "status": status,
    }


INIT_SPEC = {
    "initContainers": [{"name": "init-db", "image": "init:1"}],
    "containers": [{"name": "app", "image": "app:1"}],
}
WAITING_APP = [
    {
        "name": "app",
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "PodInitializing"}},
    }
]


def init_pod(name: str, init_state: dict[str, Any], restarts: int = 0) -> Any:
    init = {"name": "init-db", "ready": False, "restartCount": restarts, "state": init_state}
    if restarts:
        init["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": ago(hours=9)}}
    return pod(
        name,
        {"phase": "Pending", "initContainerStatuses": [init], "containerStatuses": WAITING_APP},
        INIT_SPEC,
    )


def running(name: str = "app", ready: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": 0,
        "started": True,
        "state": {"running": {"startedAt": ago(hours=9)}},
    }


OBJECTS: list[dict[str, Any]] = [
    init_pod("init-crashloop", {"waiting": {"reason": "CrashLoopBackOff"}}, restarts=3),
    init_pod("init-never-pull", {"waiting": {"reason": "ErrImageNeverPull"}}),
    init_pod("init-error", {"terminated": {"reason": "Error", "exitCode": 1}}),
    init_pod("init-exit-code", {"terminated": {"exitCode": 2}}),
    init_pod("init-signal", {"terminated": {"exitCode": 137, "signal": 9}}),
    init_pod("init-running", {"running": {"startedAt": ago(minutes=1)}}),
    pod(
        "second-init",
        {
            "phase": "Pending",
            "initContainerStatuses": [
                {"name": "a", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
                {"name": "b", "state": {"running": {}}},
            ],
            "containerStatuses": WAITING_APP,
        },
        {"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "app"}]},
    ),
    pod(
        "exit-code",
        {
            "phase": "Running",
            "containerStatuses": [
                {"name": "app", "restartCount": 0, "state": {"terminated": {"exitCode": 3}}}
            ],
        },
    ),
    pod(
        "signal",
        {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "app",
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 143, "signal": 15}},
                }
            ],
        },
    ),
    pod(
        "native-sidecar",
        {
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
            "initContainerStatuses": [running("proxy")],
            "containerStatuses": [running()],
            "podIPs": [{"ip": "10.244.1.17"}],
        },
        {
            "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "app"}],
            "nodeName": "node-1",
            "readinessGates": [{"conditionType": "example.com/lb-ready"}],
        },
    ),
    pod(
        "one-done-one-running",
        {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                running("a"),
                {
                    "name": "b",
                    "restartCount": 5,
                    "state": {"terminated": {"reason": "Completed", "exitCode": 0}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(hours=50)}},
                },
            ],
        },
        {"containers": [{"name": "a"}, {"name": "b"}]},
    ),
    pod(
        "terminating",
        {"phase": "Running", "containerStatuses": [running()]},
        deletionTimestamp=ago(seconds=30),
    ),
    {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "init-crashloop.17d2b1f0a", "namespace": NS},
        "involvedObject": {
            "kind": "Pod",
            "name": "init-crashloop",
            "fieldPath": "spec.initContainers{init-db}",
        },
        "type": "Warning",
        "reason": "BackOff",
        "message": "Back-off restarting failed container init-db\n",
        "count": 17,
        "firstTimestamp": ago(hours=50),
        "lastTimestamp": ago(hours=9),
        "source": {"component": "kubelet", "host": "node-1"},
    },
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "node-1",
            "creationTimestamp": ago(hours=50),
            "labels": {"node-role.kubernetes.io/control-plane": ""},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.11"},
                {"type": "Hostname", "address": "node-1"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.1",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-18-amd64",
                "containerRuntimeVersion": "containerd://1.7.24",
            },
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-2", "creationTimestamp": ago(hours=50)},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "Unknown"}],
            "nodeInfo": {"kubeletVersion": "v1.31.4"},
        },
    },
    {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": NS, "creationTimestamp": ago(hours=9)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                },
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "500Mi"},
                    },
                },
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "rps"},
                        "target": {"type": "AverageValue", "averageValue": "100"},
                    },
                },
            ],
        },
        "status": {
            "currentReplicas": 4,
            "desiredReplicas": 4,
            "currentMetrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": 45}},
                },
                {
                    "type": "Resource",
                    "resource": {"name": "memory", "current": {"averageValue": "300Mi"}},
                },
            ],
        },
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "creationTimestamp": ago(hours=50)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "registry.example.com/web:2.1"},
                        {"name": "proxy", "image": "envoy:1.30"},
                    ]
                }
            },
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    },
]


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    server = KubeStandIn(OBJECTS)
    home = tmp_path_factory.mktemp("home")
    path = server.write_kubeconfig(home / "kubeconfig", "standin", namespace=NS)
    yield path, home
    server.close()


def kubectl(kubeconfig: tuple[Path, Path], *args: str) -> list[dict[str, str]]:
    """kubectl's table as rows of {COLUMN: cell}, cut where the header's columns start."""
    path, home = kubeconfig
    result = subprocess.run(
        ["kubectl", "get", *args],
        env={"KUBECONFIG": str(path), "HOME": str(home), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    starts = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", header)]
    rows = []
    for line in lines:
        bounds = [*(start for start, _ in starts[1:]), len(line)]
        rows.append(
            {
                name: line[start:end].strip()
                for (start, name), end in zip(starts, bounds, strict=True)
            }
        )
    return rows


def by_name(rows: list[dict[str, str]], key: str = "NAME") -> dict[str, dict[str, str]]:
    return {row[key]: row for row in rows}


def test_pod_status_follows_kubectl(kubeconfig: tuple[Path, Path]) -> None:
    rows = by_name(kubectl(kubeconfig, "pods"))
    status = {name: row["STATUS"] for name, row in rows.items()}
    assert status == {
        "init-crashloop": "Init:CrashLoopBackOff",
        "init-never-pull": "Init:ErrImageNeverPull",
        "init-error": "Init:Error",
        "init-exit-code": "Init:ExitCode:2",
        "init-signal": "Init:Signal:9",
        "init-running": "Init:0/1",
        "second-init": "Init:1/2",
        "exit-code": "ExitCode:3",
        "signal": "Signal:15",
        "native-sidecar": "Running",
        "one-done-one-running": "NotReady",
        "terminating": "Terminating",
    }
    assert rows["init-crashloop"]["READY"] == "0/1"
    assert rows["init-crashloop"]["RESTARTS"] == "3 (9h ago)"
    assert rows["native-sidecar"]["READY"] == "2/2"  # the sidecar counts as a container
    assert rows["one-done-one-running"]["RESTARTS"] == "5 (2d2h ago)"
    assert rows["init-crashloop"]["AGE"] == "9h"
    assert list(rows["signal"]) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


def test_pods_wide(kubeconfig: tuple[Path, Path]) -> None:
    rows = by_name(kubectl(kubeconfig, "pods", "-o", "wide"))
    sidecar = rows["native-sidecar"]
    assert list(sidecar) == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ]
    assert (sidecar["IP"], sidecar["NODE"]) == ("10.244.1.17", "node-1")
    assert (sidecar["NOMINATED NODE"], sidecar["READINESS GATES"]) == ("<none>", "0/1")
    assert rows["second-init"]["NODE"] == "<none>" and rows["second-init"]["IP"] == "<none>"


def test_events(kubeconfig: tuple[Path, Path]) -> None:
    [event] = kubectl(kubeconfig, "events")
    assert event == {
        "LAST SEEN": "9h",
        "TYPE": "Warning",
        "REASON": "BackOff",
        "OBJECT": "pod/init-crashloop",
        "MESSAGE": "Back-off restarting failed container init-db",
    }
    [wide] = kubectl(kubeconfig, "events", "-o", "wide")
    assert wide["SUBOBJECT"] == "spec.initContainers{init-db}"
    assert wide["SOURCE"] == "kubelet, node-1"
    assert (wide["FIRST SEEN"], wide["COUNT"], wide["NAME"]) == (
        "2d2h",
        "17",
        "init-crashloop.17d2b1f0a",
    )


def test_nodes(kubeconfig: tuple[Path, Path]) -> None:
    rows = by_name(kubectl(kubeconfig, "nodes"))
    assert rows["node-1"] == {
        "NAME": "node-1",
        "STATUS": "Ready,SchedulingDisabled",
        "ROLES": "control-plane",
        "AGE": "2d2h",
        "VERSION": "v1.32.1",
    }
    assert rows["node-2"]["STATUS"] == "NotReady" and rows["node-2"]["ROLES"] == "<none>"
    wide = by_name(kubectl(kubeconfig, "nodes", "-o", "wide"))
    assert wide["node-1"]["INTERNAL-IP"] == "10.0.0.11"
    assert wide["node-1"]["EXTERNAL-IP"] == "<none>"
    assert wide["node-1"]["OS-IMAGE"] == "Debian GNU/Linux 12 (bookworm)"
    assert wide["node-1"]["KERNEL-VERSION"] == "6.1.0-18-amd64"
    assert wide["node-1"]["CONTAINER-RUNTIME"] == "containerd://1.7.24"
    assert wide["node-2"]["OS-IMAGE"] == "<unknown>"


def test_autoscalers_and_deployments(kubeconfig: tuple[Path, Path]) -> None:
    [hpa] = kubectl(kubeconfig, "hpa")
    assert hpa == {
        "NAME": "web",
        "REFERENCE": "Deployment/web",
        "TARGETS": "cpu: 45%/80%, memory: 300Mi/500Mi + 1 more...",
        "MINPODS": "2",
        "MAXPODS": "10",
        "REPLICAS": "4",
        "AGE": "9h",
    }
    [deployment] = kubectl(kubeconfig, "deployments", "-o", "wide")
    assert deployment == {
        "NAME": "web",
        "READY": "2/3",
        "UP-TO-DATE": "3",
        "AVAILABLE": "2",
        "AGE": "2d2h",
        "CONTAINERS": "web,proxy",
        "IMAGES": "registry.example.com/web:2.1,envoy:1.30",
        "SELECTOR": "app=web",
    }


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (119, "119s"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (9 * 3600, "9h"),
        (50 * 3600, "2d2h"),
        (10 * 86400, "10d"),
        (800 * 86400, "2y70d"),
        (-5, "<invalid>"),
    ],
)
def test_ages_read_as_kubectl_writes_them(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_a_trimmed_dump_prints_without_error(tmp_path: Path) -> None:
    """Objects with null sections print as far as they can be read; kubectl gets its table."""
    from vigil.kube_standin import load_objects

    dump = Path(__file__).parent / "fixtures" / "kubernetes" / "trimmed-dump.yaml"
    server = KubeStandIn(load_objects(dump.read_text()))
    try:
        path = server.write_kubeconfig(tmp_path / "kubeconfig", "dump")
        pods = by_name(kubectl((path, tmp_path), "pods", "-A", "-o", "wide"))
        nodes = by_name(kubectl((path, tmp_path), "nodes"))
    finally:
        server.close()
    assert pods["auth-worker-5b8c9f6d7-q7w2e"]["STATUS"] == "CrashLoopBackOff"
    assert pods["auth-api-6c9f7d8b4-x2x9k"]["READY"] == "1/0"  # spec: null lists no container
    assert pods["auth-cron-29123456-abcde"]["STATUS"] == ""  # status: null has no phase
    assert pods["auth-migrate-8xk2p"]["AGE"] == "<unknown>"
    assert nodes["node-1"]["STATUS"] == "Unknown" and nodes["node-2"]["STATUS"] == "NotReady"
