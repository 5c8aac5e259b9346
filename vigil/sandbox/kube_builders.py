"""Kubernetes objects as the API server writes them, for the sandbox's cluster and the tests.

Each builder returns one object (camelCase dicts with metadata, ownerReferences, status and
conditions the way the control plane fills them in); times are minutes before `now`.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta
from typing import Any

NAMESPACE = "platform"
NODES = ("node-a", "node-b", "node-c")
Json = dict[str, Any]


def ago(now: datetime, minutes_ago: float) -> str:
    return (now - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:6], 16)


def _uid(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def object_meta(kind: str, name: str, now: datetime, age_min: float, **extra: Any) -> Json:
    meta = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": _uid(kind, name),
        "resourceVersion": str(_num(name) % 90000 + 10000),
        "creationTimestamp": ago(now, age_min),
        **extra,
    }
    if kind in ("Node", "Namespace"):
        meta.pop("namespace")
    return meta


def owner(kind: str, name: str, api_version: str = "apps/v1") -> list[Json]:
    return [
        {
            "apiVersion": api_version,
            "kind": kind,
            "name": name,
            "uid": _uid(kind, name),
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def condition(kind: str, status: str, now: datetime, minutes_ago: float, **extra: Any) -> Json:
    return {"type": kind, "status": status, "lastTransitionTime": ago(now, minutes_ago), **extra}


def running(name: str, now: datetime, started_min: float, restarts: int = 0, **last: Any) -> Json:
    """A ready, running container status; `last` is its previous termination, if any."""
    status: Json = {
        "name": name,
        "ready": True,
        "started": True,
        "restartCount": restarts,
        "image": f"registry.example.com/platform/{name}:1.4.2",
        "imageID": f"registry.example.com/platform/{name}@sha256:{_uid(name)[:8] * 8}",
        "containerID": f"containerd://{hashlib.sha256(name.encode()).hexdigest()}",
        "state": {"running": {"startedAt": ago(now, started_min)}},
        "lastState": {},
    }
    if last:
        status["lastState"] = {"terminated": last}
    return status


def pod(
    name: str, app: str, owner: list[Json], now: datetime, age_min: float, **state: Any
) -> Json:
    """A pod of `app`; `state` overrides phase, conditions, containerStatuses, nodeName."""
    ready = state.pop("ready", True)
    containers = state.pop("containers", [running(app, now, age_min)])
    scheduled = state.pop("scheduled", True)
    conditions = [condition("PodScheduled", "True", now, age_min)]
    if scheduled:
        conditions += [
            condition("Initialized", "True", now, age_min),
            condition("ContainersReady", "True" if ready else "False", now, age_min),
            condition("Ready", "True" if ready else "False", now, age_min),
        ]
    status: Json = {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": "10.0.1.11",
        "podIP": f"10.244.1.{_num(name) % 250 + 2}",
        "startTime": ago(now, age_min),
        "qosClass": "Burstable",
        "containerStatuses": containers,
        **state.pop("status", {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": object_meta(
            "Pod", name, now, age_min, labels={"app": app}, ownerReferences=owner
        ),
        "spec": {
            "nodeName": state.pop("node", NODES[_num(name) % len(NODES)]),
            "containers": [
                {
                    "name": app,
                    "image": f"registry.example.com/platform/{app}:1.4.2",
                    "envFrom": [{"secretRef": {"name": f"{app}-secrets"}}],
                }
            ],
            "restartPolicy": "Always",
            "serviceAccountName": app,
        },
        "status": status,
    }


def deployment(app: str, now: datetime, replicas: int, available: int, **extra: Any) -> Json:
    progressing = extra.pop("progressing", None) or condition(
        "Progressing",
        "True",
        now,
        600,
        reason="NewReplicaSetAvailable",
        message=f'ReplicaSet "{app}-{template_hash(app)}" has successfully progressed.',
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            **object_meta("Deployment", app, now, 2880, labels={"app": app}),
            "generation": 4,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "progressDeadlineSeconds": 600,
            "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": []}},
        },
        "status": {
            "observedGeneration": 4,
            "replicas": extra.pop("total", replicas),
            "updatedReplicas": extra.pop("updated", replicas),
            "readyReplicas": available,
            "availableReplicas": available,
            **({"unavailableReplicas": replicas - available} if available < replicas else {}),
            "conditions": [
                condition(
                    "Available",
                    "True" if available >= replicas else "False",
                    now,
                    600,
                    reason="MinimumReplicasAvailable",
                    message="Deployment has minimum availability.",
                ),
                progressing,
            ],
        },
    }


def template_hash(app: str, revision: int = 1) -> str:
    return hashlib.sha256(f"{app}{revision}".encode()).hexdigest()[:10]


def replicaset(app: str, now: datetime, replicas: int, revision: int = 1) -> Json:
    name = f"{app}-{template_hash(app, revision)}"
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": object_meta(
            "ReplicaSet",
            name,
            now,
            2880 if revision == 1 else 4,
            labels={"app": app, "pod-template-hash": template_hash(app, revision)},
            annotations={"deployment.kubernetes.io/revision": str(revision)},
            ownerReferences=owner("Deployment", app),
        ),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}}},
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas},
    }


def service(app: str, now: datetime, ready_ips: list[str]) -> list[Json]:
    """A ClusterIP Service for `app` and its Endpoints."""
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta("Service", app, now, 2880, labels={"app": app}),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": app},
            "clusterIP": f"10.96.0.{_num(app) % 250 + 2}",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
        "status": {"loadBalancer": {}},
    }
    subsets = (
        [
            {
                "addresses": [{"ip": ip} for ip in ready_ips],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ]
        if ready_ips
        else []
    )
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": object_meta("Endpoints", app, now, 2880, labels={"app": app}),
        "subsets": subsets,
    }
    return [svc, endpoints]


def secret(name: str, now: datetime, values: dict[str, str], kind: str = "Opaque") -> Json:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": kind,
        "data": data,
        "metadata": object_meta("Secret", name, now, 20000),
    }


def event(
    obj: Json,
    reason: str,
    message: str,
    now: datetime,
    minutes_ago: float,
    count: int = 1,
    kind: str = "Warning",
) -> Json:
    meta = obj["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": object_meta(
            "Event", f"{meta['name']}.{_uid(reason, meta['name'])[:16]}", now, minutes_ago
        ),
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": NAMESPACE,
            "uid": meta["uid"],
        },
        "reason": reason,
        "message": message,
        "type": kind,
        "count": count,
        "firstTimestamp": ago(now, minutes_ago + count),
        "lastTimestamp": ago(now, minutes_ago),
        "source": {"component": "kubelet" if reason != "FailedScheduling" else "default-scheduler"},
        "reportingComponent": "kubelet",
    }


def node(name: str, now: datetime, **pressure: str) -> Json:
    conditions = [
        condition(
            kind,
            pressure.get(kind, "False"),
            now,
            10000,
            reason=f"KubeletHasNo{kind}",
            message=f"kubelet has no {kind}",
            lastHeartbeatTime=ago(now, 0.2),
        )
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure")
    ]
    conditions.append(
        condition(
            "Ready",
            "True",
            now,
            10000,
            reason="KubeletReady",
            message="kubelet is posting ready status",
            lastHeartbeatTime=ago(now, 0.2),
        )
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": object_meta("Node", name, now, 30000, labels={"kubernetes.io/hostname": name}),
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {
            "conditions": conditions,
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12"},
        },
    }


def hpa(app: str, now: datetime, low: int, high: int, current: int) -> Json:
    limited = current >= high
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta("HorizontalPodAutoscaler", app, now, 20000),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
        "status": {
            "currentReplicas": current,
            "desiredReplicas": current,
            "conditions": [
                condition("AbleToScale", "True", now, 30, reason="ReadyForNewScale"),
                condition("ScalingActive", "True", now, 3000, reason="ValidMetricFound"),
                condition(
                    "ScalingLimited",
                    "True" if limited else "False",
                    now,
                    12,
                    reason="TooManyReplicas" if limited else "DesiredWithinRange",
                    message="the desired replica count is more than the maximum replica count"
                    if limited
                    else "the desired count is within range",
                ),
            ],
        },
    }


def waiting(name: str, now: datetime, reason: str, message: str, restarts: int = 0) -> Json:
    """A container status waiting for `reason`; crash loops carry their last exit."""
    status = running(name, now, 0, restarts)
    status.update(
        ready=False, started=False, state={"waiting": {"reason": reason, "message": message}}
    )
    if reason == "CrashLoopBackOff":
        status["lastState"] = {
            "terminated": {
                "exitCode": 1,
                "reason": "Error",
                "startedAt": ago(now, 1.5),
                "finishedAt": ago(now, 1.4),
                "containerID": status["containerID"],
            }
        }
    if reason in ("ImagePullBackOff", "ErrImagePull"):
        status.pop("containerID")
        status["imageID"] = ""
    return status


def oom_killed(name: str, now: datetime, minutes_ago: float, restarts: int) -> Json:
    """A running container whose previous run was OOM-killed `minutes_ago`."""
    return running(
        name,
        now,
        minutes_ago,
        restarts,
        exitCode=137,
        reason="OOMKilled",
        startedAt=ago(now, minutes_ago + 50),
        finishedAt=ago(now, minutes_ago),
        containerID=f"containerd://{_uid(name, 'old')}",
    )


def unschedulable(
    name: str, app: str, owner: list[Json], now: datetime, age_min: float, message: str
) -> Json:
    """A pod the scheduler cannot place: Pending, PodScheduled=False Unschedulable."""
    unplaced = pod(name, app, owner, now, age_min)
    unplaced["spec"].pop("nodeName")
    unplaced["status"] = {
        "phase": "Pending",
        "qosClass": "Burstable",
        "conditions": [
            condition(
                "PodScheduled",
                "False",
                now,
                age_min,
                reason="Unschedulable",
                message=message,
                lastProbeTime=None,
            ),
        ],
    }
    return unplaced
