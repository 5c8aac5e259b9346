"""Kubernetes: one read-only look per namespace (and one at the nodes) through the official client.

`observe_namespace` lists every kind the checks judge, once per namespace per run, all at
once, each request bounded by the target's timeout (connections and list calls:
`kube_client`), and reduces the objects to the facts the checks need (`kube_objects`;
secrets to key names and salted digests, `kube_secrets`). With `logs: true` it also reads the
last lines of the previous run of crashing containers, masked. Only GET requests are sent. The
probe never raises: an unreachable API or a bad kubeconfig sets `error`; a kind the account
may not list (403), or a kind a snapshot does not hold, is named in `unreadable` with what
would add it. Each object is read on its own: one with a null or malformed field is read
partially and named in `partial`; it never hides the others.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from vigil.families.kubernetes.objects import (
    Autoscaler,
    Certificate,
    Claim,
    Event,
    Job,
    Node,
    Service,
    Workload,
)
from vigil.families.kubernetes.pods import Pod
from vigil.families.kubernetes.secrets import SecretSummary
from vigil.families.kubernetes.spec import KubernetesSection
from vigil.family import Observation
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

__all__ = [
    "ClusterState",
    "NamespaceObjects",
    "Namespaces",
    "observe_cluster",
    "observe_namespace",
    "observe_namespaces",
]
EVENTS_PER_POD = 5
LOG_PODS = 5  # at most this many troubled pods get their log lines read
LOG_LINES = 10


@dataclass(frozen=True)
class NamespaceObjects:
    """What one namespace held when it was observed."""

    namespace: str
    context: str  # the kubeconfig context used ('' for in-cluster and snapshots)
    observed_at: datetime  # now, or the time a snapshot was taken
    pods: tuple[Pod, ...] = ()
    deployments: tuple[Workload, ...] = ()
    statefulsets: tuple[Workload, ...] = ()
    autoscalers: tuple[Autoscaler, ...] = ()
    events: tuple[Event, ...] = ()
    services: tuple[Service, ...] = ()
    claims: tuple[Claim, ...] = ()
    secrets: tuple[SecretSummary, ...] = ()
    jobs: tuple[Job, ...] = ()
    certificates: tuple[Certificate, ...] | None = None  # None: cert-manager is not installed
    unreadable: dict[str, str] = field(default_factory=dict)  # resource -> why not listed
    partial: tuple[str, ...] = ()  # objects read partially: "pod/web-1: spec is null"
    error: str | None = None


@dataclass(frozen=True)
class ClusterState:
    """The cluster's nodes."""

    context: str
    observed_at: datetime
    nodes: tuple[Node, ...] = ()
    unreadable: dict[str, str] = field(default_factory=dict)
    partial: tuple[str, ...] = ()
    error: str | None = None


def namespace_unobserved(target: Target[KubernetesSection], reason: str) -> NamespaceObjects:
    return NamespaceObjects(
        target.name,
        "",
        datetime.now(UTC),
        error=f"the Kubernetes API did not send namespace {target.name}'s objects within"
        f" {target.timeout_s:g} s",
    )


def cluster_unobserved(target: Target[KubernetesSection], reason: str) -> ClusterState:
    return ClusterState(
        "",
        datetime.now(UTC),
        error=f"the Kubernetes API did not list the nodes within {target.timeout_s:g} s",
    )


def observe_namespace(target: Target[KubernetesSection], session: ProbeSession) -> NamespaceObjects:
    """List every kind the checks judge in one namespace, at once, within the timeout
    (`look.py`; imported here so that a run without Kubernetes never imports its client)."""
    from vigil.families.kubernetes import look

    return look.observe_namespace(target, session)


def observe_cluster(target: Target[KubernetesSection], session: ProbeSession) -> ClusterState:
    """List the cluster's nodes within the timeout."""
    from vigil.families.kubernetes import look

    return look.observe_cluster(target, session)


def import_apis() -> None:
    """Import the client and its API modules once per run, outside any target's time."""
    from vigil.families.kubernetes import client

    client.import_apis()


# The look at one namespace as the family declares it: the cluster-wide comparison awaits
# these very observations (same fixture, same targets: each namespace is listed once a run).
NAMESPACE = Observation(
    "k8s_objects", observe_namespace, namespace_unobserved, blocking=True, prepare=import_apis
)


@dataclass(frozen=True)
class Namespaces:
    """Every configured namespace of an environment, as its own look saw it."""

    looks: tuple[NamespaceObjects, ...] = ()
    error: str | None = None

    @property
    def unread(self) -> list[NamespaceObjects]:
        return [look for look in self.looks if look.error or "secrets" in look.unreadable]


async def observe_namespaces(
    target: Target[KubernetesSection], session: ProbeSession
) -> Namespaces:
    """The looks at every namespace of the environment, made once each whoever asks first."""
    namespaces = target.environment.targets.get("k8s_namespace", [])
    futures = session.observe_all([(NAMESPACE, namespace) for namespace in namespaces])
    looks = [await asyncio.wrap_future(future) for future in futures]
    return Namespaces(tuple(looks))


def namespaces_unobserved(target: Target[KubernetesSection], reason: str) -> Namespaces:
    return Namespaces(
        error=f"the Kubernetes API did not send every namespace's objects within"
        f" {target.timeout_s:g} s"
    )
