"""`meta.k8s.io/v1` Tables as the API server prints them for `kubectl get`.

The server prints every column, the wide ones (priority 1) included, and kubectl shows the
wide ones for `-o wide` only. Columns and cells follow the server's own printers (pods with
init-container and exit-code statuses and restart ages, events, nodes, autoscalers, workloads,
services, claims, secrets, jobs); other kinds get NAME and AGE. Ages read as kubectl's
(`4m10s`, `3h5m`, `2d3h`): `human_duration`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from vigil.families.kubernetes.fields import parse_time
from vigil.kube_standin.cells import (
    Json,
    Row,
    age,
    as_dict,
    as_int,
    as_list,
    condition_true,
    containers,
    human_duration,
    labels,
    name_of,
    selector,
    since,
)
from vigil.kube_standin.pod_status import pod_row

# --- other kinds ---------------------------------------------------------------------------


def event_row(event: Json, now: datetime) -> Row:
    """LAST SEEN TYPE REASON OBJECT MESSAGE | SUBOBJECT SOURCE FIRST SEEN COUNT NAME."""
    first = since(event.get("firstTimestamp"), now)
    if not event.get("firstTimestamp"):
        first = since(event.get("eventTime"), now)
    last = since(event.get("lastTimestamp"), now) if event.get("lastTimestamp") else first
    count = as_int(event.get("count"))
    series = as_dict(event.get("series"))
    if series:
        last, count = since(series.get("lastObservedTime"), now), as_int(series.get("count"))
    elif count == 0:
        count = 1
    involved = as_dict(event.get("involvedObject"))
    kind = str(involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = as_dict(event.get("source"))
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return [
        last,
        str(event.get("type") or ""),
        str(event.get("reason") or ""),
        target,
        str(involved.get("fieldPath") or ""),
        f"{component}, {instance}" if instance else str(component),
        str(event.get("message") or "").strip(),
        first,
        count,
        name_of(event),
    ]


def node_row(node: Json, now: datetime) -> Row:
    """NAME STATUS ROLES AGE VERSION | INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL CONTAINER-RUNTIME."""
    status, spec = as_dict(node.get("status")), as_dict(node.get("spec"))
    ready = next((c for c in as_list(status.get("conditions")) if c.get("type") == "Ready"), None)
    state = (
        ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    )
    if spec.get("unschedulable") is True:
        state.append("SchedulingDisabled")
    labels = as_dict(as_dict(node.get("metadata")).get("labels"))
    roles = {
        k.removeprefix("node-role.kubernetes.io/")
        for k in labels
        if k.startswith("node-role.kubernetes.io/")
    }
    roles |= {str(labels["kubernetes.io/role"])} if labels.get("kubernetes.io/role") else set()
    roles.discard("")
    info = as_dict(status.get("nodeInfo"))
    addresses = as_list(status.get("addresses"))

    def address(kind: str) -> str:
        return next((str(a.get("address")) for a in addresses if a.get("type") == kind), "<none>")

    return [
        name_of(node),
        ",".join(state),
        ",".join(sorted(roles)) or "<none>",
        age(node, now),
        str(info.get("kubeletVersion") or ""),
        address("InternalIP"),
        address("ExternalIP"),
        str(info.get("osImage") or "<unknown>"),
        str(info.get("kernelVersion") or "<unknown>"),
        str(info.get("containerRuntimeVersion") or "<unknown>"),
    ]


def _metric(spec: Json, status: Any) -> str:
    """One metric of an autoscaler's TARGETS cell, `cpu: 45%/80%` and its kin."""
    kind = str(spec.get("type") or "")
    key = {"Resource": "resource", "ContainerResource": "containerResource"}.get(kind, kind.lower())
    source, current = as_dict(spec.get(key)), as_dict(as_dict(status).get(key))
    target, now_value = as_dict(source.get("target")), as_dict(current.get("current"))
    if kind in ("Resource", "ContainerResource"):
        name = source.get("name")
        if target.get("averageValue") is not None:
            return (
                f"{name}: {now_value.get('averageValue') or '<unknown>'}/{target['averageValue']}"
            )
        used = now_value.get("averageUtilization")
        wanted = target.get("averageUtilization")
        used_text = f"{used}%" if used is not None else "<unknown>"
        return f"{name}: {used_text}/{f'{wanted}%' if wanted is not None else '<auto>'}"
    if kind == "Pods":
        return f"{now_value.get('averageValue') or '<unknown>'}/{target.get('averageValue')}"
    if kind in ("Object", "External"):
        if target.get("averageValue") is not None:
            return f"{now_value.get('averageValue') or '<unknown>'}/{target['averageValue']} (avg)"
        return f"{now_value.get('value') or '<unknown>'}/{target.get('value')}"
    return "<unknown type>"


def hpa_row(hpa: Json, now: datetime) -> Row:
    """NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE."""
    spec, status = as_dict(hpa.get("spec")), as_dict(hpa.get("status"))
    ref = as_dict(spec.get("scaleTargetRef"))
    metrics = as_list(spec.get("metrics"))
    raw = status.get("currentMetrics")
    currents: list[Any] = raw if isinstance(raw, list) else []  # by position, as in spec
    shown = [_metric(m, currents[i] if i < len(currents) else None) for i, m in enumerate(metrics)]
    targets = ", ".join(shown[:2]) + (f" + {len(shown) - 2} more..." if len(shown) > 2 else "")
    minimum = spec.get("minReplicas")
    return [
        name_of(hpa),
        f"{ref.get('kind')}/{ref.get('name')}",
        targets or "<none>",
        str(minimum) if minimum is not None else "<unset>",
        as_int(spec.get("maxReplicas")),
        as_int(status.get("currentReplicas")),
        age(hpa, now),
    ]


def _desired(spec: Json) -> int:
    """Replicas asked for: a workload without `replicas` asks for one."""
    return as_int(spec.get("replicas")) if spec.get("replicas") is not None else 1


def deployment_row(obj: Json, now: datetime) -> Row:
    spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
    names, images = containers(spec)
    return [
        name_of(obj),
        f"{as_int(status.get('readyReplicas'))}/{_desired(spec)}",
        as_int(status.get("updatedReplicas")),
        as_int(status.get("availableReplicas")),
        age(obj, now),
        names,
        images,
        selector(spec.get("selector")),
    ]


def statefulset_row(obj: Json, now: datetime) -> Row:
    spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
    names, images = containers(spec)
    return [
        name_of(obj),
        f"{as_int(status.get('readyReplicas'))}/{_desired(spec)}",
        age(obj, now),
        names,
        images,
    ]


def replicaset_row(obj: Json, now: datetime) -> Row:
    spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
    names, images = containers(spec)
    return [
        name_of(obj),
        _desired(spec),
        as_int(status.get("replicas")),
        as_int(status.get("readyReplicas")),
        age(obj, now),
        names,
        images,
        selector(spec.get("selector")),
    ]


def service_row(obj: Json, now: datetime) -> Row:
    spec = as_dict(obj.get("spec"))
    kind = str(spec.get("type") or "ClusterIP")
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    external = ",".join(spec.get("externalIPs") or []) or "<none>"
    if kind == "LoadBalancer":
        ingress = as_list(as_dict(as_dict(obj.get("status")).get("loadBalancer")).get("ingress"))
        found = sorted(
            {
                str(i.get("ip") or i.get("hostname"))
                for i in ingress
                if i.get("ip") or i.get("hostname")
            }
        )
        joined = ",".join(found + list(spec.get("externalIPs") or []))
        external = joined or "<pending>"
    elif kind == "ExternalName":
        external = str(spec.get("externalName") or "")
    ports = ",".join(
        f"{p.get('port')}:{p['nodePort']}/{p.get('protocol') or 'TCP'}"
        if p.get("nodePort")
        else f"{p.get('port')}/{p.get('protocol') or 'TCP'}"
        for p in as_list(spec.get("ports"))
    )
    return [
        name_of(obj),
        kind,
        str(cluster_ips[0]) if cluster_ips else "<none>",
        external,
        ports or "<none>",
        age(obj, now),
        labels(spec.get("selector")),
    ]


def endpoints_row(obj: Json, now: datetime) -> Row:
    shown: list[str] = []
    count = 0
    for subset in as_list(obj.get("subsets")):
        addresses = [str(a.get("ip")) for a in as_list(subset.get("addresses"))]
        ports = as_list(subset.get("ports")) or [{}]
        for port in ports:
            count += len(addresses)
            shown += [f"{ip}:{port['port']}" if port.get("port") else ip for ip in addresses]
    text = ",".join(shown[:3]) + (f" + {count - 3} more..." if count > 3 else "")
    return [name_of(obj), text or "<none>", age(obj, now)]


def claim_row(obj: Json, now: datetime) -> Row:
    spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
    phase = (
        "Terminating"
        if as_dict(obj.get("metadata")).get("deletionTimestamp")
        else status.get("phase")
    )
    bound = bool(spec.get("volumeName"))
    modes = _access_modes(status.get("accessModes")) if bound else ""
    capacity = str(as_dict(status.get("capacity")).get("storage") or "") if bound else ""
    return [
        name_of(obj),
        str(phase or ""),
        str(spec.get("volumeName") or ""),
        capacity,
        modes,
        str(spec.get("storageClassName") or ""),
        str(spec.get("volumeAttributesClassName") or "<unset>"),
        age(obj, now),
        str(spec.get("volumeMode") or "<unset>"),
    ]


def _access_modes(modes: Any) -> str:
    short = {
        "ReadWriteOnce": "RWO",
        "ReadOnlyMany": "ROX",
        "ReadWriteMany": "RWX",
        "ReadWriteOncePod": "RWOP",
    }
    return ",".join(short.get(str(m), str(m)) for m in modes or [])


def secret_row(obj: Json, now: datetime) -> Row:
    return [
        name_of(obj),
        str(obj.get("type") or "Opaque"),
        len(as_dict(obj.get("data"))),
        age(obj, now),
    ]


def job_row(obj: Json, now: datetime) -> Row:
    spec, status = as_dict(obj.get("spec")), as_dict(obj.get("status"))
    succeeded = as_int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{as_int(spec.get('completions'))}"
    elif as_int(spec.get("parallelism")) > 1:
        completions = f"{succeeded}/1 of {as_int(spec.get('parallelism'))}"
    else:
        completions = f"{succeeded}/1"
    started, finished = (
        parse_time(status.get("startTime")),
        parse_time(status.get("completionTime")),
    )
    duration = ""
    if started is not None:
        duration = human_duration(((finished or now) - started).total_seconds())
    state = "Running"
    for condition, word in (("Complete", "Complete"), ("Failed", "Failed")):
        if condition_true(status, condition):
            state = word
            break
    else:
        if as_dict(obj.get("metadata")).get("deletionTimestamp"):
            state = "Terminating"
        elif condition_true(status, "Suspended"):
            state = "Suspended"
        elif condition_true(status, "FailureTarget"):
            state = "FailureTarget"
    names, images = containers(spec)
    return [
        name_of(obj),
        state,
        completions,
        duration,
        age(obj, now),
        names,
        images,
        selector(spec.get("selector")),
    ]


def namespace_row(obj: Json, now: datetime) -> Row:
    return [name_of(obj), str(as_dict(obj.get("status")).get("phase") or ""), age(obj, now)]


# kind -> (columns as (name, priority), row maker); priority 1 shows with `-o wide` only.
_WIDE = 1
COLUMNS: dict[str, tuple[list[tuple[str, int]], Callable[[Json, datetime], Row]]] = {
    "Pod": (
        [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", _WIDE),
         ("Node", _WIDE), ("Nominated Node", _WIDE), ("Readiness Gates", _WIDE)],
        pod_row,
    ),
    "Event": (
        [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", _WIDE),
         ("Source", _WIDE), ("Message", 0), ("First Seen", _WIDE), ("Count", _WIDE),
         ("Name", _WIDE)],
        event_row,
    ),
    "Node": (
        [("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0),
         ("Internal-IP", _WIDE), ("External-IP", _WIDE), ("OS-Image", _WIDE),
         ("Kernel-Version", _WIDE), ("Container-Runtime", _WIDE)],
        node_row,
    ),
    "HorizontalPodAutoscaler": (
        [("Name", 0), ("Reference", 0), ("Targets", 0), ("MinPods", 0), ("MaxPods", 0),
         ("Replicas", 0), ("Age", 0)],
        hpa_row,
    ),
    "Deployment": (
        [("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0), ("Age", 0),
         ("Containers", _WIDE), ("Images", _WIDE), ("Selector", _WIDE)],
        deployment_row,
    ),
    "StatefulSet": (
        [("Name", 0), ("Ready", 0), ("Age", 0), ("Containers", _WIDE), ("Images", _WIDE)],
        statefulset_row,
    ),
    "ReplicaSet": (
        [("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Age", 0),
         ("Containers", _WIDE), ("Images", _WIDE), ("Selector", _WIDE)],
        replicaset_row,
    ),
    "Service": (
        [("Name", 0), ("Type", 0), ("Cluster-IP", 0), ("External-IP", 0), ("Port(s)", 0),
         ("Age", 0), ("Selector", _WIDE)],
        service_row,
    ),
    "Endpoints": ([("Name", 0), ("Endpoints", 0), ("Age", 0)], endpoints_row),
    "PersistentVolumeClaim": (
        [("Name", 0), ("Status", 0), ("Volume", 0), ("Capacity", 0), ("Access Modes", 0),
         ("StorageClass", 0), ("VolumeAttributesClass", 0), ("Age", 0), ("VolumeMode", _WIDE)],
        claim_row,
    ),
    "Secret": ([("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)], secret_row),
    "Job": (
        [("Name", 0), ("Status", 0), ("Completions", 0), ("Duration", 0), ("Age", 0),
         ("Containers", _WIDE), ("Images", _WIDE), ("Selector", _WIDE)],
        job_row,
    ),
    "Namespace": ([("Name", 0), ("Status", 0), ("Age", 0)], namespace_row),
}  # fmt: skip


def table(kind: str, objects: list[Json], now: datetime) -> Json:
    """A `meta.k8s.io/v1` Table of `objects`, as `kubectl get` asks for it."""
    columns, row = COLUMNS.get(kind, ([("Name", 0), ("Age", 0)], _name_and_age))
    definitions = [
        {
            "name": name,
            "type": "string",
            "format": "name" if name == "Name" else "",
            "description": name,
            "priority": priority,
        }
        for name, priority in columns
    ]
    rows = [
        {
            "cells": row(obj, now),
            "object": {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": as_dict(obj.get("metadata")),
            },
        }
        for obj in objects
    ]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": "1"},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def _name_and_age(obj: Json, now: datetime) -> Row:
    return [name_of(obj), age(obj, now)]
