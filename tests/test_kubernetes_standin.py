"""The Kubernetes API stand-in speaks enough of the real API for the official client and kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vigil.kube_standin import KubeStandIn, load_objects

FIXTURE = Path(__file__).parent / "fixtures" / "kubernetes" / "shop-incident.yaml"


@pytest.fixture(scope="module")
def standin() -> Iterator[KubeStandIn]:
    server = KubeStandIn(load_objects(FIXTURE.read_text()), forbidden={"secrets"})
    yield server
    server.close()


def get(server: KubeStandIn, path: str, accept: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(server.url + path, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def kubectl(kubeconfig: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", *args],
        env={"KUBECONFIG": str(kubeconfig), "HOME": str(home), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_discovery_documents(standin: KubeStandIn) -> None:
    assert get(standin, "/version")[1]["gitVersion"].startswith("v1.32")
    assert get(standin, "/api")[1]["versions"] == ["v1"]
    groups = {g["name"] for g in get(standin, "/apis")[1]["groups"]}
    assert {"apps", "batch", "autoscaling", "cert-manager.io"} <= groups
    apps = get(standin, "/apis/apps/v1")[1]
    assert apps["kind"] == "APIResourceList" and apps["groupVersion"] == "apps/v1"
    assert {r["name"] for r in apps["resources"]} >= {"deployments", "replicasets"}
    assert get(standin, "/api/v1")[1]["groupVersion"] == "v1"


def test_lists_carry_kind_and_api_version(standin: KubeStandIn) -> None:
    status, body = get(standin, "/apis/apps/v1/namespaces/shop/deployments")
    assert status == 200 and body["kind"] == "DeploymentList" and body["apiVersion"] == "apps/v1"
    assert {d["metadata"]["name"] for d in body["items"]} == {
        "web",
        "checkout",
        "worker",
        "search",
        "reports",
    }
    assert all(item["kind"] == "Deployment" for item in body["items"])
    _, every = get(standin, "/api/v1/pods")
    assert {p["metadata"]["namespace"] for p in every["items"]} == {"shop", "ops"}


def test_selectors(standin: KubeStandIn) -> None:
    _, pending = get(standin, "/api/v1/namespaces/shop/pods?fieldSelector=status.phase%3DPending")
    assert {p["metadata"]["name"] for p in pending["items"]} == {
        "reports-f136a3cbe7-r5s6t",
        "worker-34aa1081c5-w1x2y",
    }
    _, web = get(standin, "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb")
    assert {p["metadata"]["labels"]["app"] for p in web["items"]} == {"web"}
    _, some = get(standin, "/api/v1/namespaces/shop/pods?labelSelector=app+in+(web,db),app!=db")
    assert len(some["items"]) == len(web["items"])
    _, warnings = get(standin, "/api/v1/namespaces/shop/events?fieldSelector=type%3DWarning")
    assert warnings["items"] and all(e["type"] == "Warning" for e in warnings["items"])


def test_errors_are_status_objects(standin: KubeStandIn) -> None:
    code, body = get(standin, "/apis/nothing.example.com/v1/widgets")
    assert code == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"
    code, body = get(standin, "/api/v1/namespaces/shop/pods/no-such-pod")
    assert code == 404 and body["message"] == 'pods "no-such-pod" not found'
    code, body = get(standin, "/api/v1/namespaces/shop/secrets")
    assert code == 403 and body["reason"] == "Forbidden"
    assert (
        'cannot list resource "secrets" in API group "" in the namespace "shop"' in body["message"]
    )


def test_writes_are_refused_and_recorded(standin: KubeStandIn) -> None:
    request = urllib.request.Request(standin.url + "/api/v1/namespaces/shop/pods", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, data=b"{}", timeout=5)
    assert refused.value.code == 405
    assert ("POST", "/api/v1/namespaces/shop/pods") in standin.requests


def test_kubectl_get_pods_prints_its_usual_columns(standin: KubeStandIn, tmp_path: Path) -> None:
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig", "standin")
    result = kubectl(kubeconfig, tmp_path, "get", "pods", "-n", "shop")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    crashing = next(
        row for name, row in rows.items() if name.startswith("checkout-") and "0/1" in row
    )
    assert crashing[2] == "CrashLoopBackOff" and crashing[3] == "8"
    assert any(row[2] == "Evicted" for row in rows.values())
    assert any(row[2] == "ImagePullBackOff" for row in rows.values())


def test_kubectl_reads_other_kinds_and_one_object(standin: KubeStandIn, tmp_path: Path) -> None:
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig", "standin")
    deployments = kubectl(kubeconfig, tmp_path, "get", "deployments", "-n", "shop")
    assert deployments.returncode == 0, deployments.stderr
    assert deployments.stdout.split()[:5] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert "checkout" in deployments.stdout and "1/2" in deployments.stdout
    node = kubectl(kubeconfig, tmp_path, "get", "node", "node-b", "-o", "json")
    assert node.returncode == 0, node.stderr
    assert json.loads(node.stdout)["metadata"]["name"] == "node-b"
    certificates = kubectl(kubeconfig, tmp_path, "get", "certificates", "-n", "shop")
    assert certificates.returncode == 0 and "shop-tls" in certificates.stdout
