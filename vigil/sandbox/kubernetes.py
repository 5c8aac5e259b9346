"""The sandbox's cluster: the platform's state, served by the Kubernetes API stand-in.

Namespace `platform`: Deployments with their ReplicaSets and pods, Services with Endpoints, an
autoscaler, a report CronJob's Job, the services' secrets, a TLS secret with its cert-manager
Certificate, and three nodes. `healthy` is all green. `incident` has exactly these faults: a
crash-looping pod (a new `payments` release, still within its rollout deadline, so the old
pods keep serving), the report Job's pod Pending as Unschedulable, a `search` container
OOM-killed minutes ago, the `gateway` autoscaler at its maximum, and `payments-secrets`
without `PAYMENT_API_KEY`; the namespace's events carry the warnings those faults raise. The
objects are regenerated every 30 s with times relative to the clock, so the scenario looks
the same however long the sandbox runs.
"""

from __future__ import annotations

import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.kube_standin import KubeStandIn
from vigil.sandbox.kube_builders import (
    NODES,
    ago,
    deployment,
    event,
    hpa,
    node,
    oom_killed,
    owner,
    pod,
    replicaset,
    secret,
    service,
    template_hash,
    unschedulable,
    waiting,
)
from vigil.sandbox.kube_tls import certificate, tls_secret

NAMESPACE = "platform"
CONTEXT = "sandbox"
APPS = ("gateway", "auth", "users", "payments", "payouts", "notifications", "search", "media")
# Sandbox values, not real secrets: the checks compare them by digest and never show them.
JWT_VALUE = "sandbox-only-jwt-signing-key"
UNSCHEDULABLE = (
    "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available:"
    " 3 No preemption victims found for incoming pod."
)


def _app_objects(app: str, now: datetime, incident: bool) -> list[dict[str, Any]]:
    replicas = 6 if incident and app == "gateway" else 2 if app != "gateway" else 3
    rs = f"{app}-{template_hash(app)}"
    pods = [
        pod(f"{rs}-{suffix}", app, owner("ReplicaSet", rs), now, 2800)
        for suffix in ("x7k2p", "m4q9d", "b8w3z", "t5n6r", "h2c8v", "q9j4s")[:replicas]
    ]
    objects = [replicaset(app, now, replicas)]
    extra: dict[str, Any] = {}
    if incident and app == "search":
        pods[0]["status"]["containerStatuses"] = [oom_killed(app, now, 7, restarts=1)]
    if incident and app == "payments":
        new_rs = f"{app}-{template_hash(app, 2)}"
        objects.append(replicaset(app, now, 1, revision=2))
        crashing = pod(f"{new_rs}-v6d2k", app, owner("ReplicaSet", new_rs), now, 4, ready=False)
        crashing["status"]["containerStatuses"] = [
            waiting(
                app,
                now,
                "CrashLoopBackOff",
                f"back-off 1m20s restarting failed container={app} pod={new_rs}-v6d2k_{NAMESPACE}",
                restarts=4,
            )
        ]
        pods.append(crashing)
        extra = {
            "total": 3,
            "updated": 1,
            "progressing": {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated",
                "message": f'ReplicaSet "{new_rs}" is progressing.',
                "lastTransitionTime": crashing["metadata"]["creationTimestamp"],
            },
        }
        objects.append(
            event(
                crashing,
                "BackOff",
                f"Back-off restarting failed container payments in pod {new_rs}-v6d2k_{NAMESPACE}",
                now,
                0.5,
                count=14,
            )
        )
    objects.append(deployment(app, now, replicas, replicas, **extra))
    ready_ips = [
        p["status"]["podIP"] for p in pods if p["status"]["conditions"][-1]["status"] == "True"
    ]
    objects += pods + service(app, now, ready_ips)
    values = {"JWT_SECRET": JWT_VALUE, "DATABASE_URL": f"postgresql://{app}@db:5432/{app}"}
    if app == "payments" and not incident:
        values["PAYMENT_API_KEY"] = "sandbox-only-payment-key"
    objects.append(secret(f"{app}-secrets", now, values))
    return objects


def cluster_objects(scenario: str, now: datetime) -> list[dict[str, Any]]:
    """The platform's objects for `scenario` ('healthy' or 'incident') as of `now`."""
    incident = scenario == "incident"
    objects = [node(name, now) for name in NODES]
    for app in APPS:
        objects += _app_objects(app, now, incident)
    objects.append(hpa("gateway", now, 2, 6, 6 if incident else 3))
    job: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "ledger-report-29001",
            "namespace": NAMESPACE,
            "creationTimestamp": objects[0]["metadata"]["creationTimestamp"],
            "ownerReferences": owner("CronJob", "ledger-report", "batch/v1"),
        },
        "spec": {"backoffLimit": 3, "completions": 1, "parallelism": 1},
        "status": {"active": 1, "startTime": objects[0]["metadata"]["creationTimestamp"]},
    }
    if incident:
        job["metadata"]["creationTimestamp"] = job["status"]["startTime"] = ago(now, 14)
        pending = unschedulable(
            "ledger-report-29001-q7x2m",
            "ledger-report",
            owner("Job", "ledger-report-29001", "batch/v1"),
            now,
            14,
            UNSCHEDULABLE,
        )
        objects += [pending, event(pending, "FailedScheduling", UNSCHEDULABLE, now, 1, count=6)]
    else:
        job["status"] = {
            "succeeded": 1,
            "conditions": [
                {"type": "Complete", "status": "True", "lastTransitionTime": ago(now, 300)}
            ],
        }
    objects.append(job)
    return objects


class KubernetesCluster:
    """Serves the scenario's cluster on a free port; returns a kubeconfig for it."""

    REFRESH_S = 30.0  # timestamps follow the clock, so the scenario stays the same over time

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.standin: KubeStandIn | None = None
        self.directory: tempfile.TemporaryDirectory[str] | None = None
        self._tls: list[dict[str, Any]] = []
        self._stopping = threading.Event()

    def objects(self) -> list[dict[str, Any]]:
        """The scenario's objects as of now."""
        return cluster_objects(self.scenario, datetime.now(UTC)) + self._tls

    def start(self) -> dict[str, str]:
        now = datetime.now(UTC)
        self._tls = [
            tls_secret("gateway-tls", now, "api.platform.example", days_left=60),
            certificate("gateway-tls", now, "api.platform.example", days_left=60),
        ]
        self.standin = KubeStandIn(self.objects())
        self.directory = tempfile.TemporaryDirectory(prefix="vigil-sandbox-kube-")
        kubeconfig = Path(self.directory.name) / "kubeconfig"
        self.standin.write_kubeconfig(kubeconfig, CONTEXT, NAMESPACE)
        threading.Thread(target=self._refresh, daemon=True, name="kube-sandbox").start()
        return {"SANDBOX_KUBECONFIG": str(kubeconfig), "SANDBOX_KUBE_CONTEXT": CONTEXT}

    def _refresh(self) -> None:
        while not self._stopping.wait(self.REFRESH_S):
            if self.standin:
                self.standin.replace(self.objects())

    def stop(self) -> None:
        self._stopping.set()
        if self.standin:
            self.standin.close()
        if self.directory:
            self.directory.cleanup()
