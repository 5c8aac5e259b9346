"""What the Kubernetes checks share: the reason lists, and one way to report what they found.

Check logic for `checks/test_kubernetes*.py`, kept out of the probe (probes own I/O; checks
own thresholds and messages). No I/O here. A check collects `Finding`s (the object,
what is wrong with it, the values its remediation needs, how bad it is) and hands them to
`fail_findings`, which fails once, naming every object, worst first, with the remediation
filled in for the worst.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from vigil.expect import fail, require
from vigil.families.kubernetes.pods import ContainerStatus, Pod
from vigil.families.kubernetes.probe import NamespaceObjects
from vigil.families.kubernetes.secrets import SecretSummary

CRASH_LOOP = "CrashLoopBackOff"
# kubelet image errors, container creation errors and hook failures (kubelet images/types.go,
# container/sync_result.go); StartError is containerd's, ContainerCannotRun dockershim's.
BAD_START_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "ImageInspectError",
        "RegistryUnavailable",
        "SignatureValidationFailed",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "PreStartHookError",
        "PostStartHookError",
        "StartError",
        "ContainerCannotRun",
    }
)
PRESSURE_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
MAX_EVIDENCE_OBJECTS = 5


@dataclass(frozen=True)
class Finding:
    object: str
    detail: str
    values: dict[str, str] = field(default_factory=dict)
    rank: float = 0.0  # higher is worse
    evidence: tuple[str, ...] = ()


class _Observed(Protocol):
    @property
    def error(self) -> str | None: ...

    @property
    def context(self) -> str: ...

    @property
    def unreadable(self) -> dict[str, str]: ...


@dataclass(frozen=True)
class _Reason:
    error: str | None


def need(observed: _Observed, *resources: str) -> None:
    """Fail as not evaluated when the look failed or one of `resources` could not be listed."""
    __tracebackhide__ = True
    where = getattr(observed, "namespace", None)
    require(observed, f"namespace {where}" if where else "the cluster's nodes")
    missing = next((observed.unreadable[r] for r in resources if r in observed.unreadable), None)
    require(_Reason(missing), f"cannot list {', '.join(resources)}")


def values(observed: _Observed, **found: str) -> dict[str, str]:
    """Remediation values: what was found, plus the context when it is known."""
    extra = {"context": observed.context} if observed.context else {}
    return {**extra, **{k: v for k, v in found.items() if v}}


def stuck_waiting(pod: Pod) -> bool:
    """True when a container is crash-looping or cannot start (reported by those checks)."""
    return any(
        c.state == "waiting" and (c.reason == CRASH_LOOP or c.reason in BAD_START_REASONS)
        for c in pod.containers
    )


def pod_finding(
    pod: Pod, container: ContainerStatus | None, detail: str, rank: float = 0
) -> Finding:
    """A finding about a pod, naming its workload, with its container states and events."""
    found = {"pod": pod.name, "node": pod.node, "deployment": pod.deployment}
    if not pod.deployment:
        # Not a Deployment's pod, or its ReplicaSet is not in view (a dump without them): say
        # which workload it is, and invent no Deployment name.
        found["deployment"] = f"<deployment of {pod.workload}>"
    if container is not None:
        found["container"] = container.name
    if pod.owner_kind in ("StatefulSet", "Job", "DaemonSet"):
        found[pod.owner_kind.lower()] = pod.owner_name
    return Finding(f"pod/{pod.name} ({pod.workload})", detail, found, rank, tuple(pod.evidence()))


def fail_findings(
    observed: NamespaceObjects,
    found: list[Finding],
    summary: str,
    noun: str,
    evidence: Iterable[str] | None = None,
) -> None:
    """Fail naming every finding, worst first; do nothing when there is none."""
    __tracebackhide__ = True
    if not found:
        return
    ordered = sorted(found, key=lambda f: -f.rank)
    plural = noun if len(ordered) == 1 else f"{noun}s"
    message = f"{len(ordered)} {plural} {summary} in namespace {observed.namespace}: " + "; ".join(
        f"{f.object}: {f.detail}" for f in ordered
    )
    if evidence is None:
        evidence = [line for f in ordered[:MAX_EVIDENCE_OBJECTS] for line in f.evidence]
    evidence = [*evidence, *partial_notes(observed)]
    fail(message, evidence=evidence, **values(observed, **ordered[0].values))


def partial_notes(observed: _Observed) -> list[str]:
    """Evidence lines for the objects of a look that could only be read in part."""
    notes: tuple[str, ...] = getattr(observed, "partial", ())
    lines = [f"read partially: {note}" for note in notes[:MAX_EVIDENCE_OBJECTS]]
    if len(notes) > MAX_EVIDENCE_OBJECTS:
        lines.append(f"read partially: {len(notes) - MAX_EVIDENCE_OBJECTS} more objects")
    return lines


def days_left(observed: NamespaceObjects) -> list[tuple[SecretSummary, float | None]]:
    """Each TLS secret with the days its certificate has left (None if unreadable)."""
    result = []
    for secret in observed.secrets:
        if secret.tls is None:
            continue
        left = None
        if secret.tls.not_after is not None:
            left = (secret.tls.not_after - observed.observed_at).total_seconds() / 86400
        result.append((secret, left))
    return result


def readers(observed: NamespaceObjects, secret: str) -> str:
    """The Deployment (else workload) whose pods read `secret`, for the remediation; when no
    pod reads it now, a marker the responder fills in (never an invented name)."""
    for pod in observed.pods:
        if secret in pod.secrets:
            return pod.deployment or pod.owner_name
    return f"<deployment that reads {secret}>"


def unready_pods(observed: NamespaceObjects, kind: str, name: str) -> tuple[str, ...]:
    """Evidence: the not-ready pods of one Deployment or StatefulSet (at most five)."""
    pods = [
        pod
        for pod in observed.pods
        if not pod.ready
        and pod.phase != "Succeeded"
        and (pod.deployment == name if kind == "Deployment" else pod.owner_name == name)
    ]
    return tuple(line for pod in pods[:MAX_EVIDENCE_OBJECTS] for line in pod.evidence())
