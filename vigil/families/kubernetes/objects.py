"""Kubernetes objects reduced to the facts the checks judge, read from the API's JSON.

Each `read_*` function takes one object as the API server writes it (camelCase dicts) and
returns a small frozen dataclass; a missing field reads as its API default. Free text from the
cluster (waiting messages, event messages) goes through `redact_text` on the way in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vigil.redact import redact_text

Json = dict[str, Any]


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as the API writes it (`2024-05-01T10:00:00Z`), or None."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def short_age(since: datetime | None, now: datetime) -> str:
    """kubectl's compact age: 45s, 12m, 5h, 3d."""
    if since is None:
        return "<unknown>"
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit == "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _count(value: Any, default: int) -> int:
    """A replica count; absent (or null) means the API default."""
    return default if value is None else int(value)


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""
    since: datetime | None = None


def read_conditions(status: Json) -> dict[str, Condition]:
    """`status.conditions` by type."""
    return {
        str(c.get("type")): Condition(
            str(c.get("type")),
            str(c.get("status", "Unknown")),
            str(c.get("reason") or ""),
            redact_text(str(c.get("message") or "")),
            parse_time(c.get("lastTransitionTime")),
        )
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    }


@dataclass(frozen=True)
class ContainerStatus:
    name: str
    init: bool
    ready: bool
    restarts: int
    state: str  # running, waiting, terminated or unknown
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    last_reason: str = ""
    last_exit_code: int | None = None
    last_finished: datetime | None = None

    def describe(self) -> str:
        """One evidence line: state, reason, restarts and the last termination."""
        kind = "init container" if self.init else "container"
        text = f"{kind} {self.name}: {self.state}"
        if self.reason:
            text += f" {self.reason}"
        if self.exit_code is not None:
            text += f" (exit {self.exit_code})"
        if self.message:
            text += f": {self.message[:200]}"
        text += f"; {self.restarts} restart{'' if self.restarts == 1 else 's'}"
        if self.last_reason:
            text += f"; last terminated {self.last_reason} (exit {self.last_exit_code})"
        return text


def _container(raw: Json, init: bool) -> ContainerStatus:
    state = raw.get("state") or {}
    name = next((k for k in ("running", "waiting", "terminated") if k in state), "unknown")
    detail = state.get(name) or {}
    last = (raw.get("lastState") or {}).get("terminated") or {}
    return ContainerStatus(
        name=str(raw.get("name", "")),
        init=init,
        ready=bool(raw.get("ready")),
        restarts=int(raw.get("restartCount") or 0),
        state=name,
        reason=str(detail.get("reason") or ""),
        message=redact_text(" ".join(str(detail.get("message") or "").split())),
        exit_code=detail.get("exitCode"),
        last_reason=str(last.get("reason") or ""),
        last_exit_code=last.get("exitCode"),
        last_finished=parse_time(last.get("finishedAt")),
    )


@dataclass(frozen=True)
class Pod:
    name: str
    phase: str
    reason: str
    message: str
    node: str
    created: datetime | None
    conditions: dict[str, Condition]
    containers: tuple[ContainerStatus, ...]
    owner_kind: str = ""
    owner_name: str = ""
    deployment: str = ""  # the Deployment owning the pod through its ReplicaSet
    secrets: tuple[str, ...] = ()  # the Secrets its containers and volumes read
    events: tuple[str, ...] = ()
    logs: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        condition = self.conditions.get("Ready")
        return condition is not None and condition.status == "True"

    @property
    def workload(self) -> str:
        """`deployment/gateway`, `statefulset/db`, `job/report-1`, or the pod itself."""
        if self.deployment:
            return f"deployment/{self.deployment}"
        if self.owner_kind:
            return f"{self.owner_kind.lower()}/{self.owner_name}"
        return f"pod/{self.name}"

    def evidence(self) -> list[str]:
        """Container states, then the pod's latest events (and log lines if gathered)."""
        lines = [f"pod {self.name} ({self.workload}) phase {self.phase} on {self.node or '-'}"]
        lines += [f"  {c.describe()}" for c in self.containers]
        lines += [f"  event: {e}" for e in self.events]
        lines += [f"  log: {line}" for line in self.logs]
        return lines


def read_pod(raw: Json, replicaset_owner: dict[str, str]) -> Pod:
    """A pod; `replicaset_owner` maps ReplicaSet names to their Deployment."""
    metadata, spec, status = raw.get("metadata", {}), raw.get("spec", {}), raw.get("status", {})
    owner = next(
        (o for o in metadata.get("ownerReferences") or [] if o.get("controller")),
        (metadata.get("ownerReferences") or [{}])[0],
    )
    owner_kind, owner_name = str(owner.get("kind", "")), str(owner.get("name", ""))
    containers = [_container(c, True) for c in status.get("initContainerStatuses") or []]
    containers += [_container(c, False) for c in status.get("containerStatuses") or []]
    return Pod(
        name=str(metadata.get("name", "")),
        phase=str(status.get("phase", "Unknown")),
        reason=str(status.get("reason") or ""),
        message=redact_text(str(status.get("message") or "")),
        node=str(spec.get("nodeName") or ""),
        created=parse_time(metadata.get("creationTimestamp")),
        conditions=read_conditions(status),
        containers=tuple(containers),
        owner_kind=owner_kind,
        owner_name=owner_name,
        deployment=replicaset_owner.get(owner_name, "") if owner_kind == "ReplicaSet" else "",
        secrets=tuple(sorted(_secret_references(spec))),
    )


def _secret_references(spec: Json) -> set[str]:
    names = {str((v.get("secret") or {}).get("secretName")) for v in spec.get("volumes") or []}
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        names |= {
            str((e.get("secretRef") or {}).get("name")) for e in container.get("envFrom") or []
        }
        for variable in container.get("env") or []:
            ref = (variable.get("valueFrom") or {}).get("secretKeyRef") or {}
            names.add(str(ref.get("name")))
    return names - {"None"}


def replicaset_owners(replicasets: Iterable[Json]) -> dict[str, str]:
    """ReplicaSet name -> name of the Deployment controlling it."""
    owners = {}
    for rs in replicasets:
        for ref in rs.get("metadata", {}).get("ownerReferences") or []:
            if ref.get("kind") == "Deployment":
                owners[str(rs["metadata"].get("name"))] = str(ref.get("name"))
    return owners


@dataclass(frozen=True)
class Workload:
    """A Deployment or StatefulSet: desired against available and ready replicas."""

    kind: str
    name: str
    desired: int
    available: int
    ready: int
    updated: int
    conditions: dict[str, Condition] = field(default_factory=dict)


def read_workload(raw: Json) -> Workload:
    metadata, spec, status = raw.get("metadata", {}), raw.get("spec", {}), raw.get("status", {})
    kind = str(raw.get("kind", "Deployment"))
    ready = int(status.get("readyReplicas") or 0)
    # StatefulSets report availableReplicas only from 1.22 on; ready is what they promise.
    available = int(status.get("availableReplicas", ready if kind == "StatefulSet" else 0) or 0)
    return Workload(
        kind=kind,
        name=str(metadata.get("name", "")),
        desired=_count(spec.get("replicas"), 1),
        available=available,
        ready=ready,
        updated=int(status.get("updatedReplicas") or 0),
        conditions=read_conditions(status),
    )


@dataclass(frozen=True)
class Autoscaler:
    name: str
    target: str
    min_replicas: int
    max_replicas: int
    current: int
    desired: int
    conditions: dict[str, Condition]


def read_autoscaler(raw: Json) -> Autoscaler:
    metadata, spec, status = raw.get("metadata", {}), raw.get("spec", {}), raw.get("status", {})
    ref = spec.get("scaleTargetRef") or {}
    return Autoscaler(
        name=str(metadata.get("name", "")),
        target=f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}",
        min_replicas=_count(spec.get("minReplicas"), 1),
        max_replicas=_count(spec.get("maxReplicas"), 0),
        current=int(status.get("currentReplicas") or 0),
        desired=int(status.get("desiredReplicas") or 0),
        conditions=read_conditions(status),
    )


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str
    kind: str
    name: str
    count: int
    last_seen: datetime | None

    def describe(self, now: datetime) -> str:
        age = short_age(self.last_seen, now)
        times = f" (x{self.count})" if self.count > 1 else ""
        return f"{age} ago {self.type} {self.reason}{times}: {self.message[:240]}"


def read_event(raw: Json) -> Event:
    involved = raw.get("involvedObject") or raw.get("regarding") or {}
    series = raw.get("series") or {}
    last_seen = next(
        (
            parse_time(t)
            for t in (
                raw.get("lastTimestamp"),
                series.get("lastObservedTime"),
                raw.get("eventTime"),
                raw.get("firstTimestamp"),
                raw.get("metadata", {}).get("creationTimestamp"),
            )
            if t
        ),
        None,
    )
    return Event(
        type=str(raw.get("type", "Normal")),
        reason=str(raw.get("reason", "")),
        message=redact_text(" ".join(str(raw.get("message") or raw.get("note") or "").split())),
        kind=str(involved.get("kind", "")),
        name=str(involved.get("name", "")),
        count=int(raw.get("count") or series.get("count") or 1),
        last_seen=last_seen,
    )


@dataclass(frozen=True)
class Service:
    name: str
    type: str
    selects_pods: bool  # False for ExternalName and selector-less services
    ready_endpoints: int
    not_ready_endpoints: int


def read_service(raw: Json, endpoints: dict[str, Json]) -> Service:
    metadata, spec = raw.get("metadata", {}), raw.get("spec", {})
    name = str(metadata.get("name", ""))
    subsets = (endpoints.get(name) or {}).get("subsets") or []
    kind = str(spec.get("type", "ClusterIP"))
    return Service(
        name=name,
        type=kind,
        selects_pods=bool(spec.get("selector")) and kind != "ExternalName",
        ready_endpoints=sum(len(s.get("addresses") or []) for s in subsets),
        not_ready_endpoints=sum(len(s.get("notReadyAddresses") or []) for s in subsets),
    )


@dataclass(frozen=True)
class Claim:
    name: str
    phase: str
    storage_class: str
    waiting_for_consumer: bool


def read_claim(raw: Json, events: list[Event]) -> Claim:
    metadata, spec = raw.get("metadata", {}), raw.get("spec", {})
    name = str(metadata.get("name", ""))
    mine = [e for e in events if e.kind == "PersistentVolumeClaim" and e.name == name]
    latest = max(mine, key=lambda e: e.last_seen or datetime.min.replace(tzinfo=UTC), default=None)
    return Claim(
        name=name,
        phase=str(raw.get("status", {}).get("phase", "Pending")),
        storage_class=str(spec.get("storageClassName") or ""),
        waiting_for_consumer=latest is not None and latest.reason == "WaitForFirstConsumer",
    )


@dataclass(frozen=True)
class Job:
    name: str
    cronjob: str
    active: int
    succeeded: int
    failed: int
    started: datetime | None
    conditions: dict[str, Condition]

    @property
    def failed_condition(self) -> Condition | None:
        condition = self.conditions.get("Failed")
        return condition if condition is not None and condition.status == "True" else None

    @property
    def complete(self) -> bool:
        condition = self.conditions.get("Complete")
        return condition is not None and condition.status == "True"


def read_job(raw: Json) -> Job:
    metadata, status = raw.get("metadata", {}), raw.get("status", {})
    owners = metadata.get("ownerReferences") or []
    cronjob = next((str(o.get("name")) for o in owners if o.get("kind") == "CronJob"), "")
    return Job(
        name=str(metadata.get("name", "")),
        cronjob=cronjob,
        active=int(status.get("active") or 0),
        succeeded=int(status.get("succeeded") or 0),
        failed=int(status.get("failed") or 0),
        started=parse_time(status.get("startTime") or metadata.get("creationTimestamp")),
        conditions=read_conditions(status),
    )


@dataclass(frozen=True)
class Certificate:
    """A cert-manager Certificate."""

    name: str
    secret: str
    ready: Condition | None
    not_after: datetime | None


def read_certificate(raw: Json) -> Certificate:
    status = raw.get("status", {})
    return Certificate(
        name=str(raw.get("metadata", {}).get("name", "")),
        secret=str(raw.get("spec", {}).get("secretName", "")),
        ready=read_conditions(status).get("Ready"),
        not_after=parse_time(status.get("notAfter")),
    )


@dataclass(frozen=True)
class Node:
    name: str
    unschedulable: bool
    conditions: dict[str, Condition]
    kubelet: str

    @property
    def ready(self) -> Condition:
        return self.conditions.get("Ready") or Condition("Ready", "Unknown", "NoReadyCondition")


def read_node(raw: Json) -> Node:
    metadata, spec, status = raw.get("metadata", {}), raw.get("spec", {}), raw.get("status", {})
    return Node(
        name=str(metadata.get("name", "")),
        unschedulable=bool(spec.get("unschedulable")),
        conditions=read_conditions(status),
        kubelet=str((status.get("nodeInfo") or {}).get("kubeletVersion", "")),
    )
