"""Pods and their containers, reduced to the facts the pod checks judge.

`read_pod` reads one pod as the API server writes it, defensively (`fields.Fields`): a
`spec: null` or a null container status makes the pod's reading partial, named in its
evidence. `replicaset_owners` maps ReplicaSets to the Deployments that own them, so a pod is
named by its Deployment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from vigil.families.kubernetes.fields import Condition, Fields, Json, read_conditions, time_of
from vigil.redact import redact_text


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
            text += f": {redact_text(self.message)[:200]}"
        text += f"; {self.restarts} restart{'' if self.restarts == 1 else 's'}"
        if self.last_reason:
            text += f"; last terminated {self.last_reason} (exit {self.last_exit_code})"
        return text


def _container(raw: Json, init: bool, fields: Fields) -> ContainerStatus:
    name_ = str(raw.get("name") or "")
    where = f"container {name_ or '(no name)'}"
    state = fields.mapping(raw, "state", where)
    name = next((k for k in ("running", "waiting", "terminated") if k in state), "unknown")
    detail = fields.mapping(state, name, where) if name != "unknown" else {}
    last = fields.mapping(fields.mapping(raw, "lastState", where), "terminated", where)
    return ContainerStatus(
        name=name_,
        init=init,
        ready=raw.get("ready") is True,
        restarts=fields.number(raw, "restartCount", where, 0),
        state=name,
        reason=str(detail.get("reason") or ""),
        message=redact_text(" ".join(str(detail.get("message") or "").split())),
        exit_code=fields.optional(detail, "exitCode", where),
        last_reason=str(last.get("reason") or ""),
        last_exit_code=fields.optional(last, "exitCode", where),
        last_finished=time_of(last.get("finishedAt")),
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
    partial: tuple[str, ...] = ()  # fields that could not be read ("spec is null")

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
        phase = self.phase or "(not recorded)"
        lines = [f"pod {self.name} ({self.workload}) phase {phase} on {self.node or '-'}"]
        if self.partial:
            lines.append(f"  read partially: {'; '.join(self.partial)}")
        lines += [f"  {c.describe()}" for c in self.containers]
        lines += [f"  event: {e}" for e in self.events]
        lines += [f"  log: {line}" for line in self.logs]
        return lines


def read_pod(raw: Json, replicaset_owner: dict[str, str]) -> Pod:
    """A pod; `replicaset_owner` maps ReplicaSet names to their Deployment."""
    fields = Fields(raw)
    metadata, spec, status = fields.part("metadata"), fields.part("spec"), fields.part("status")
    owner_kind, owner_name = _owner(fields, metadata)
    containers = [
        _container(c, True, fields)
        for c in fields.entries(status, "initContainerStatuses", "status")
    ]
    containers += [
        _container(c, False, fields) for c in fields.entries(status, "containerStatuses", "status")
    ]
    return Pod(
        name=str(metadata.get("name") or ""),
        phase=str(status.get("phase") or ("" if "status" in fields.missing else "Unknown")),
        reason=str(status.get("reason") or ""),
        message=redact_text(str(status.get("message") or "")),
        node=str(spec.get("nodeName") or ""),
        created=time_of(metadata.get("creationTimestamp")),
        conditions=read_conditions(status, fields),
        containers=tuple(containers),
        owner_kind=owner_kind,
        owner_name=owner_name,
        deployment=replicaset_owner.get(owner_name, "") if owner_kind == "ReplicaSet" else "",
        secrets=tuple(sorted(_secret_references(spec, fields))),
        partial=fields.partial,
    )


def _owner(fields: Fields, metadata: Json) -> tuple[str, str]:
    """The controlling owner's kind and name (else the first owner's)."""
    owners = fields.entries(metadata, "ownerReferences", "metadata")
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else {})
    return str(owner.get("kind") or ""), str(owner.get("name") or "")


def _secret_references(spec: Json, fields: Fields) -> set[str]:
    names = set()
    for volume in fields.entries(spec, "volumes", "spec"):
        names.add(str(fields.mapping(volume, "secret", "spec.volumes").get("secretName")))
    containers = fields.entries(spec, "initContainers", "spec")
    containers += fields.entries(spec, "containers", "spec")
    for container in containers:
        for source in fields.entries(container, "envFrom", "spec.containers"):
            names.add(str(fields.mapping(source, "secretRef", "envFrom").get("name")))
        for variable in fields.entries(container, "env", "spec.containers"):
            value_from = fields.mapping(variable, "valueFrom", "env")
            names.add(str(fields.mapping(value_from, "secretKeyRef", "env").get("name")))
    return names - {"None"}


def replicaset_owners(replicasets: Iterable[Json]) -> dict[str, str]:
    """ReplicaSet name -> name of the Deployment controlling it."""
    owners = {}
    for rs in replicasets:
        fields = Fields(rs)
        metadata = fields.part("metadata")
        for ref in fields.entries(metadata, "ownerReferences", "metadata"):
            if ref.get("kind") == "Deployment" and metadata.get("name"):
                owners[str(metadata["name"])] = str(ref.get("name"))
    return owners
