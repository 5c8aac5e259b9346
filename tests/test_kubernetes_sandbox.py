"""The sandbox's cluster component: serves its scenario and hands out a kubeconfig."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from vigil.sandbox.kubernetes import KubernetesCluster


@pytest.mark.parametrize("scenario", ["healthy", "incident"])
def test_component_serves_its_scenario_to_kubectl(scenario: str, tmp_path: Path) -> None:
    cluster = KubernetesCluster(scenario)
    variables = cluster.start()
    try:
        kubeconfig = Path(variables["SANDBOX_KUBECONFIG"])
        assert kubeconfig.exists() and variables["SANDBOX_KUBE_CONTEXT"] == "sandbox"
        result = subprocess.run(
            ["kubectl", "--context", "sandbox", "get", "pods", "-n", "platform"],
            env={"KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path), "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        statuses = {line.split()[2] for line in result.stdout.splitlines()[1:]}
        if scenario == "healthy":
            assert statuses == {"Running"}
        else:
            assert {"Running", "CrashLoopBackOff", "Pending"} == statuses
    finally:
        cluster.stop()
    assert not kubeconfig.exists()


def test_objects_follow_the_clock() -> None:
    cluster = KubernetesCluster("incident")
    cluster.REFRESH_S = 0.05
    cluster.start()
    try:
        assert cluster.standin is not None
        first = cluster.standin.objects
        deadline = time.monotonic() + 5
        while cluster.standin.objects is first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cluster.standin.objects is not first
        assert cluster.standin.objects.keys() == first.keys()
    finally:
        cluster.stop()
