"""Kubernetes objects reduced to the facts the checks judge, read from the API's JSON.

Each `read_*` function takes one object as the API server writes it (camelCase dicts) and
returns a small frozen dataclass; a missing field reads as its API default. Pods and their
containers: `pods.py`. Free text from the
cluster (waiting messages, event messages) goes through `redact_text` on the way in.

Objects are read defensively: real dumps are trimmed by hand and hold `spec: null`, a list
entry that is null, a count that is not a number. Such a field reads as absent and the object
says so in `partial` ("spec is null"), which its evidence shows; one malformed object never
stops its neighbours from being read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vigil.families.kubernetes.fields import (
    Condition,
    Fields,
    Json,
    read_conditions,
    short_age,
    time_of,
)
from vigil.redact import redact_text


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
    partial: tuple[str, ...] = ()
    counts_known: bool = True  # False without spec or status: replicas are not judged


def read_workload(raw: Json) -> Workload:
    fields = Fields(raw)
    metadata, spec, status = fields.part("metadata"), fields.part("spec"), fields.part("status")
    kind = str(fields.raw.get("kind") or "Deployment")
    ready = fields.number(status, "readyReplicas", "status", 0)
    # StatefulSets report availableReplicas only from 1.22 on; ready is what they promise.
    available = fields.number(
        status, "availableReplicas", "status", ready if kind == "StatefulSet" else 0
    )
    return Workload(
        kind=kind,
        name=str(metadata.get("name") or ""),
        desired=fields.number(spec, "replicas", "spec", 1),
        available=available,
        ready=ready,
        updated=fields.number(status, "updatedReplicas", "status", 0),
        conditions=read_conditions(status, fields),
        partial=fields.partial,
        counts_known=not ({"spec", "status"} & fields.missing),
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
    partial: tuple[str, ...] = ()


def read_autoscaler(raw: Json) -> Autoscaler:
    fields = Fields(raw)
    metadata, spec, status = fields.part("metadata"), fields.part("spec"), fields.part("status")
    ref = fields.mapping(spec, "scaleTargetRef", "spec")
    return Autoscaler(
        name=str(metadata.get("name") or ""),
        target=f"{str(ref.get('kind') or '').lower()}/{ref.get('name') or ''}",
        min_replicas=fields.number(spec, "minReplicas", "spec", 1),
        max_replicas=fields.number(spec, "maxReplicas", "spec", 0),
        current=fields.number(status, "currentReplicas", "status", 0),
        desired=fields.number(status, "desiredReplicas", "status", 0),
        conditions=read_conditions(status, fields),
        partial=fields.partial,
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
        when = f"{short_age(self.last_seen, now)} ago" if self.last_seen else "(time not recorded)"
        times = f" (x{self.count})" if self.count > 1 else ""
        return f"{when} {self.type} {self.reason}{times}: {redact_text(self.message)[:240]}"


def read_event(raw: Json) -> Event:
    fields = Fields(raw)
    raw = fields.raw
    involved = fields.mapping(raw, "involvedObject", "event") or fields.mapping(
        raw, "regarding", "event"
    )
    series = fields.mapping(raw, "series", "event")
    metadata = fields.mapping(raw, "metadata", "event")
    last_seen = next(
        (
            moment
            for moment in (
                time_of(raw.get("lastTimestamp")),
                time_of(series.get("lastObservedTime")),
                time_of(raw.get("eventTime")),
                time_of(raw.get("firstTimestamp")),
                time_of(metadata.get("creationTimestamp")),
            )
            if moment is not None
        ),
        None,
    )
    return Event(
        type=str(raw.get("type") or "Normal"),
        reason=str(raw.get("reason") or ""),
        message=redact_text(" ".join(str(raw.get("message") or raw.get("note") or "").split())),
        kind=str(involved.get("kind") or ""),
        name=str(involved.get("name") or ""),
        count=fields.number(raw, "count", "event", 0)
        or fields.number(series, "count", "event.series", 0)
        or 1,
        last_seen=last_seen,
    )


@dataclass(frozen=True)
class Service:
    name: str
    type: str
    selects_pods: bool  # False for ExternalName and selector-less services
    ready_endpoints: int
    not_ready_endpoints: int
    partial: tuple[str, ...] = ()


def endpoints_by_name(endpoints: Iterable[Json]) -> dict[str, Json]:
    """Endpoints objects by the name of the Service they belong to."""
    found = {}
    for item in endpoints:
        metadata = item.get("metadata") if isinstance(item, dict) else None
        if isinstance(metadata, dict) and metadata.get("name"):
            found[str(metadata["name"])] = item
    return found


def read_service(raw: Json, endpoints: dict[str, Json]) -> Service:
    fields = Fields(raw)
    metadata, spec = fields.part("metadata"), fields.part("spec")
    name = str(metadata.get("name") or "")
    subsets = fields.entries(endpoints.get(name) or {}, "subsets", f"endpoints {name}")
    kind = str(spec.get("type") or "ClusterIP")
    return Service(
        name=name,
        type=kind,
        selects_pods=bool(spec.get("selector")) and kind != "ExternalName",
        ready_endpoints=sum(len(fields.entries(s, "addresses", "subsets")) for s in subsets),
        not_ready_endpoints=sum(
            len(fields.entries(s, "notReadyAddresses", "subsets")) for s in subsets
        ),
        partial=fields.partial,
    )


@dataclass(frozen=True)
class Claim:
    name: str
    phase: str
    storage_class: str
    waiting_for_consumer: bool
    partial: tuple[str, ...] = ()


def read_claim(raw: Json, events: list[Event]) -> Claim:
    fields = Fields(raw)
    metadata, spec, status = fields.part("metadata"), fields.part("spec"), fields.part("status")
    name = str(metadata.get("name") or "")
    mine = [e for e in events if e.kind == "PersistentVolumeClaim" and e.name == name]
    latest = max(mine, key=lambda e: e.last_seen or datetime.min.replace(tzinfo=UTC), default=None)
    return Claim(
        name=name,
        phase=str(status.get("phase") or ("" if "status" in fields.missing else "Pending")),
        storage_class=str(spec.get("storageClassName") or ""),
        waiting_for_consumer=latest is not None and latest.reason == "WaitForFirstConsumer",
        partial=fields.partial,
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
    partial: tuple[str, ...] = ()

    @property
    def failed_condition(self) -> Condition | None:
        condition = self.conditions.get("Failed")
        return condition if condition is not None and condition.status == "True" else None

    @property
    def complete(self) -> bool:
        condition = self.conditions.get("Complete")
        return condition is not None and condition.status == "True"


def read_job(raw: Json) -> Job:
    fields = Fields(raw)
    metadata, status = fields.part("metadata"), fields.part("status")
    owners = fields.entries(metadata, "ownerReferences", "metadata")
    cronjob = next((str(o.get("name")) for o in owners if o.get("kind") == "CronJob"), "")
    return Job(
        name=str(metadata.get("name") or ""),
        cronjob=cronjob,
        active=fields.number(status, "active", "status", 0),
        succeeded=fields.number(status, "succeeded", "status", 0),
        failed=fields.number(status, "failed", "status", 0),
        started=time_of(status.get("startTime")) or time_of(metadata.get("creationTimestamp")),
        conditions=read_conditions(status, fields),
        partial=fields.partial,
    )


@dataclass(frozen=True)
class Certificate:
    """A cert-manager Certificate."""

    name: str
    secret: str
    ready: Condition | None
    not_after: datetime | None
    partial: tuple[str, ...] = ()
    status_known: bool = True


def read_certificate(raw: Json) -> Certificate:
    fields = Fields(raw)
    metadata, spec, status = fields.part("metadata"), fields.part("spec"), fields.part("status")
    return Certificate(
        name=str(metadata.get("name") or ""),
        secret=str(spec.get("secretName") or ""),
        ready=read_conditions(status, fields).get("Ready"),
        not_after=time_of(status.get("notAfter")),
        partial=fields.partial,
        status_known="status" not in fields.missing,
    )


@dataclass(frozen=True)
class Node:
    name: str
    unschedulable: bool
    conditions: dict[str, Condition]
    kubelet: str
    partial: tuple[str, ...] = ()
    status_known: bool = True  # False without status: its readiness is not judged

    @property
    def ready(self) -> Condition:
        return self.conditions.get("Ready") or Condition("Ready", "Unknown", "NoReadyCondition")


def read_node(raw: Json) -> Node:
    fields = Fields(raw)
    metadata, status = fields.part("metadata"), fields.part("status")
    spec = fields.mapping(fields.raw, "spec", "node")  # a node's spec may well be empty
    return Node(
        name=str(metadata.get("name") or ""),
        unschedulable=spec.get("unschedulable") is True,
        conditions=read_conditions(status, fields),
        kubelet=str(fields.mapping(status, "nodeInfo", "status").get("kubeletVersion") or ""),
        partial=fields.partial,
        status_known="status" not in fields.missing,
    )
