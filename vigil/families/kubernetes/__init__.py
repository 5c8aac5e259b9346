"""Kubernetes: pods that crash, cannot start or are not ready; workloads short of replicas;
stuck rollouts; autoscalers at their maximum; jobs, services, claims, nodes, events; the
secrets and certificates the platform needs.

Settings: `spec.py` (`kubernetes:`). Probe: `probe.py` (the official client: `client.py`;
objects reduced to facts: `pods.py`, `objects.py`, `fields.py`, `secrets.py`; dumps:
`snapshot.py`). Check logic shared by the checks: `findings.py`. Checks:
`checks/test_kubernetes.py`, `checks/test_kubernetes_secrets.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from vigil.families.kubernetes import probe
from vigil.families.kubernetes.spec import KubernetesSection
from vigil.family import Family, Observation, Reachability, TargetKind
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.environment import Environment


def namespaces(env: Environment, section: KubernetesSection) -> Iterator[Target[KubernetesSection]]:
    for namespace in section.namespaces:
        values = {"namespace": namespace}
        if section.context:  # else `vars.context`, if any, stays in force
            values["context"] = section.context
        yield Target("k8s_namespace", env, namespace, section, values=values)


# What must be listable for a namespace to count as seen (cert-manager's kind is optional).
# The core kinds a namespace's look lists (`client.NAMESPACED` but cert-manager's, which a
# cluster may not have): written out so that declaring the family imports no client.
LISTED_KINDS = frozenset(
    {"pods", "replicasets", "deployments", "statefulsets", "horizontalpodautoscalers", "events",
     "services", "endpoints", "persistentvolumeclaims", "secrets", "jobs"}
)  # fmt: skip


def not_listed(objects: probe.NamespaceObjects) -> bool:
    """The namespace could not be listed at all: the API did not answer or refused the
    credentials, or every kind was forbidden (one forbidden kind is its checks' problem)."""
    return bool(objects.error) or set(objects.unreadable) >= LISTED_KINDS


def clusters(env: Environment, section: KubernetesSection) -> Iterator[Target[KubernetesSection]]:
    name = section.context or ("in-cluster" if section.in_cluster else "cluster")
    values = {"context": section.context} if section.context else {}
    yield Target("k8s_cluster", env, name, section, values=values)


FAMILY = Family(
    name="kubernetes",
    description="Kubernetes objects",
    section="kubernetes",
    settings=KubernetesSection,
    kinds=(
        TargetKind(
            "k8s_namespace",
            "kubernetes.namespaces",
            namespaces,
            observations=(probe.NAMESPACE,),
            reachability=Reachability("test_namespace_listed", unreachable=not_listed),
        ),
        TargetKind(
            "k8s_cluster",
            "kubernetes",
            clusters,
            observations=(
                Observation(
                    "k8s_cluster_state",
                    probe.observe_cluster,
                    probe.cluster_unobserved,
                    blocking=True,
                    prepare=probe.import_apis,
                ),
                Observation(
                    "k8s_namespaces",
                    probe.observe_namespaces,
                    probe.namespaces_unobserved,
                    derived=True,  # awaits the namespaces' own looks
                ),
            ),
            # The API that cannot list the first namespace cannot list the nodes either.
            reachability=Reachability(
                "test_namespace_listed",
                kind="k8s_namespace",
                observation="k8s_objects",
                unreachable=not_listed,
            ),
        ),
    ),
)
