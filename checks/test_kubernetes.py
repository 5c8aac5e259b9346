"""Kubernetes: pods run, workloads scale, services are reachable, per namespace; nodes are
ready and not under pressure, per cluster. Secrets and certificates: `test_kubernetes_secrets.py`.

Settings: `kubernetes:` in the environment file. Probe: `vigil/families/kubernetes/probe.py` (one
list per kind per namespace, shared by every check here). Each failure names every object in
trouble, worst first; the remediation is filled in for the first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from vigil.expect import fail
from vigil.families.kubernetes import LISTED_KINDS
from vigil.families.kubernetes.findings import (
    BAD_START_REASONS,
    CRASH_LOOP,
    PRESSURE_CONDITIONS,
    Finding,
    fail_findings,
    need,
    partial_notes,
    pod_finding,
    stuck_waiting,
    unready_pods,
    values,
)
from vigil.families.kubernetes.probe import ClusterState, NamespaceObjects
from vigil.families.kubernetes.spec import KubernetesSection
from vigil.targets import Target

# Remediation placeholders by the kind of object an event is about.
TEMPLATE_KEYS = {"persistentvolumeclaim": "pvc", "horizontalpodautoscaler": "hpa"}

# --- the namespace itself ------------------------------------------------------------------


@pytest.mark.runbook("kubernetes-api-unreachable")
def test_namespace_listed(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """The namespace can be listed: the API answers and accepts the credentials, and not every
    kind is forbidden. When it cannot, this check carries the failure and the namespace's
    other checks are not evaluated, blocked by it."""
    namespace = k8s_namespace.name
    if k8s_objects.error:
        fail(f"cannot list namespace {namespace}: {k8s_objects.error}")
    if set(k8s_objects.unreadable) >= LISTED_KINDS:
        reasons = [f"{kind}: {why}" for kind, why in sorted(k8s_objects.unreadable.items())]
        fail(
            f"nothing in namespace {namespace} could be listed: {reasons[0]}",
            evidence=reasons,
        )


# --- pods ----------------------------------------------------------------------------------


@pytest.mark.runbook("pod-crash-looping")
def test_no_crash_looping_pods(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No container waits in CrashLoopBackOff."""
    need(k8s_objects, "pods")
    found = [
        pod_finding(
            pod,
            c,
            f"container {c.name} in CrashLoopBackOff after {c.restarts} restarts"
            + (f", last exit {c.last_reason} ({c.last_exit_code})" if c.last_reason else ""),
            rank=c.restarts,
        )
        for pod in k8s_objects.pods
        for c in pod.containers
        if c.state == "waiting" and c.reason == CRASH_LOOP
    ]
    fail_findings(k8s_objects, found, "crash-looping", "pod")


@pytest.mark.runbook("pod-cannot-start")
def test_pods_can_start(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No container is stuck on an image, configuration or start error."""
    need(k8s_objects, "pods")
    found = [
        pod_finding(pod, c, f"container {c.name} {c.state} {c.reason}: {c.message or '-'}")
        for pod in k8s_objects.pods
        for c in pod.containers
        if c.reason in BAD_START_REASONS and c.state in ("waiting", "terminated")
    ]
    fail_findings(k8s_objects, found, "cannot start", "pod")


@pytest.mark.runbook("pod-oom-killed")
def test_no_recent_oom_kills(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No container was OOM-killed within `event_window_min` (default 30 min)."""
    need(k8s_objects, "pods")
    window = k8s_namespace.spec.event_window_min
    since = k8s_objects.observed_at - timedelta(minutes=window)
    found = []
    for pod in k8s_objects.pods:
        for c in pod.containers:
            current = c.state == "terminated" and c.reason == "OOMKilled"
            last = c.last_reason == "OOMKilled"
            if not (current or (last and (c.last_finished is None or c.last_finished >= since))):
                continue
            # A kill whose time the object does not record is reported as such, not as recent.
            when = "" if current or c.last_finished else " at a time the pod does not record"
            found.append(
                pod_finding(
                    pod,
                    c,
                    f"container {c.name} OOMKilled (exit 137){when}, restarted {c.restarts} times",
                    rank=c.restarts,
                )
            )
    fail_findings(k8s_objects, found, f"OOM-killed in the last {window:g} min", "pod")


@pytest.mark.runbook("pod-restarts-high")
def test_restarts_below_limit(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No container restarted more than `max_restarts` times (default 5, Popeye's default)."""
    need(k8s_objects, "pods")
    limit = k8s_namespace.spec.max_restarts
    found = [
        pod_finding(
            pod,
            c,
            f"container {c.name} restarted {c.restarts} times (max {limit})"
            + (f", last exit {c.last_reason} ({c.last_exit_code})" if c.last_reason else ""),
            rank=c.restarts,
        )
        for pod in k8s_objects.pods
        for c in pod.containers
        if c.restarts > limit
    ]
    fail_findings(k8s_objects, found, f"restarting more than {limit} times", "pod")


@pytest.mark.runbook("pod-pending")
def test_no_pods_pending(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No pod stays Pending longer than `pending_grace_s` (default 300 s)."""
    need(k8s_objects, "pods")
    grace = k8s_namespace.spec.pending_grace_s
    found = []
    unknown_age = False
    for pod in k8s_objects.pods:
        scheduled = pod.conditions.get("PodScheduled")
        gated = scheduled is not None and scheduled.reason == "SchedulingGated"
        if pod.phase != "Pending" or gated or stuck_waiting(pod):
            continue
        # An age only from a time the pod records: created, else when it was (not) scheduled.
        since = pod.created or (scheduled.since if scheduled else None)
        age = (k8s_objects.observed_at - since).total_seconds() if since else None
        if age is not None and age <= grace:
            continue
        if scheduled is not None and scheduled.status != "True":
            why = f"not scheduled: {scheduled.reason} {scheduled.message}".rstrip()
        else:
            waiting = ", ".join(f"{c.name} {c.reason or c.state}" for c in pod.containers)
            why = f"scheduled on {pod.node or '-'}, containers {waiting or 'not created'}"
        if age is None:
            unknown_age = True
            detail = f"Pending for a time it does not record (no creationTimestamp), {why}"
        else:
            detail = f"Pending for {age / 60:.0f} min, {why}"
        found.append(pod_finding(pod, None, detail, rank=age if age is not None else 0))
    summary = f"Pending longer than {grace:g} s" + (
        " or for an unrecorded time" if unknown_age else ""
    )
    fail_findings(k8s_objects, found, summary, "pod")


@pytest.mark.runbook("pod-failed")
def test_no_failed_pods(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No pod (outside Jobs, which job-failed covers) is Failed or Evicted."""
    need(k8s_objects, "pods")
    found = [
        pod_finding(pod, None, f"Failed {pod.reason or ''}: {pod.message or '-'}")
        for pod in k8s_objects.pods
        if pod.phase == "Failed" and pod.owner_kind != "Job"
    ]
    fail_findings(k8s_objects, found, "failed", "pod")


@pytest.mark.runbook("pod-not-ready")
def test_running_pods_ready(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """Running pods are Ready within `pending_grace_s`; no pod is in phase Unknown. Pods already
    crash-looping or unable to start are reported by those checks, not again here."""
    need(k8s_objects, "pods")
    grace = timedelta(seconds=k8s_namespace.spec.pending_grace_s)
    found = []
    for pod in k8s_objects.pods:
        ready = pod.conditions.get("Ready")
        since = ready.since if ready and ready.since else pod.created
        settled = since is None or k8s_objects.observed_at - since > grace
        if pod.phase == "Unknown":
            found.append(pod_finding(pod, None, f"phase Unknown on node {pod.node or '-'}"))
        elif pod.phase == "Running" and not pod.ready and settled and not stuck_waiting(pod):
            if pod.owner_kind == "Job":
                continue
            waiting = [c for c in pod.containers if not c.ready]
            names = ", ".join(c.name for c in waiting) or "-"
            detail = f"Running but not ready (containers not ready: {names})"
            found.append(pod_finding(pod, waiting[0] if waiting else None, detail))
    fail_findings(k8s_objects, found, "not ready", "pod")


# --- workloads -----------------------------------------------------------------------------


@pytest.mark.runbook("deployment-replicas-unavailable")
def test_deployments_available(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """Every Deployment has as many available replicas as it wants."""
    need(k8s_objects, "deployments")
    found = [
        Finding(
            f"deployment/{d.name}",
            f"{d.available} of {d.desired} replicas available ({d.updated} updated)",
            {"deployment": d.name},
            d.desired - d.available,
            unready_pods(k8s_objects, "Deployment", d.name),
        )
        for d in k8s_objects.deployments
        if d.counts_known and d.available < d.desired
    ]
    fail_findings(k8s_objects, found, "short of replicas", "deployment")


@pytest.mark.runbook("rollout-stuck")
def test_rollouts_progressing(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No Deployment rollout has exceeded its progress deadline."""
    need(k8s_objects, "deployments")
    found = []
    for d in k8s_objects.deployments:
        progressing = d.conditions.get("Progressing")
        if progressing and progressing.status == "False":
            detail = f"Progressing=False {progressing.reason}: {progressing.message}"
            evidence = unready_pods(k8s_objects, "Deployment", d.name)
            found.append(
                Finding(f"deployment/{d.name}", detail, {"deployment": d.name}, 0, evidence)
            )
    fail_findings(k8s_objects, found, "with a stuck rollout", "deployment")


@pytest.mark.runbook("statefulset-replicas-unavailable")
def test_statefulsets_ready(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """Every StatefulSet has as many ready replicas as it wants."""
    need(k8s_objects, "statefulsets")
    found = [
        Finding(
            f"statefulset/{s.name}",
            f"{s.ready} of {s.desired} replicas ready",
            {"statefulset": s.name},
            s.desired - s.ready,
            unready_pods(k8s_objects, "StatefulSet", s.name),
        )
        for s in k8s_objects.statefulsets
        if s.counts_known and s.ready < s.desired
    ]
    fail_findings(k8s_objects, found, "short of ready replicas", "statefulset")


@pytest.mark.runbook("hpa-at-max-replicas")
def test_autoscalers_below_max(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No HorizontalPodAutoscaler runs at its maximum (when its maximum exceeds its minimum)."""
    need(k8s_objects, "horizontalpodautoscalers")
    found = []
    for h in k8s_objects.autoscalers:
        if h.max_replicas > h.min_replicas and h.current >= h.max_replicas:
            limited = h.conditions.get("ScalingLimited")
            note = f"; {limited.reason}: {limited.message}" if limited and limited.reason else ""
            detail = (
                f"{h.current} replicas, at its maximum of {h.max_replicas} (min {h.min_replicas},"
                f" wants {h.desired}) for {h.target}{note}"
            )
            hpa_values = {"hpa": h.name}
            if h.target.startswith("deployment/"):
                hpa_values["deployment"] = h.target.split("/", 1)[1]
            found.append(Finding(f"hpa/{h.name}", detail, hpa_values, h.desired))
    fail_findings(k8s_objects, found, "at maximum replicas", "autoscaler")


@pytest.mark.runbook("hpa-at-max-replicas")
def test_autoscalers_have_metrics(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """Every HorizontalPodAutoscaler can read its metrics (ScalingActive is not False)."""
    need(k8s_objects, "horizontalpodautoscalers")
    found = []
    for h in k8s_objects.autoscalers:
        active = h.conditions.get("ScalingActive")
        if active and active.status == "False":
            detail = f"ScalingActive=False {active.reason}: {active.message}"
            found.append(Finding(f"hpa/{h.name}", detail, {"hpa": h.name}))
    fail_findings(k8s_objects, found, "unable to scale (no metrics)", "autoscaler")


@pytest.mark.runbook("job-failed")
def test_jobs_not_failed(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No Job has failed, unless a later run of the same CronJob succeeded."""
    need(k8s_objects, "jobs")
    found = []
    for job in k8s_objects.jobs:
        failed = job.failed_condition
        later_success = any(
            other.cronjob == job.cronjob and other.complete and _later(other.started, job.started)
            for other in k8s_objects.jobs
            if job.cronjob
        )
        if failed and not later_success:
            detail = f"{failed.reason}: {failed.message} ({job.failed} failed pods)"
            found.append(
                Finding(
                    f"job/{job.name}", detail, {"job": job.name, "cronjob": job.cronjob or job.name}
                )
            )
    fail_findings(k8s_objects, found, "failed", "job")


# --- traffic, storage, events ------------------------------------------------------------


@pytest.mark.runbook("service-no-endpoints")
def test_services_have_endpoints(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """Every Service with a selector has at least one ready endpoint."""
    need(k8s_objects, "services", "endpoints")
    found = [
        Finding(
            f"service/{s.name}",
            f"no ready endpoints ({s.not_ready_endpoints} not ready)",
            {"service": s.name},
        )
        for s in k8s_objects.services
        if s.selects_pods and s.ready_endpoints == 0
    ]
    fail_findings(k8s_objects, found, "without ready endpoints", "service")


@pytest.mark.runbook("pvc-not-bound")
def test_claims_bound(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """Every PersistentVolumeClaim is Bound (one waiting for its first consumer is fine)."""
    need(k8s_objects, "persistentvolumeclaims")
    found = [
        Finding(
            f"pvc/{c.name}",
            f"phase {c.phase} (storage class {c.storage_class or '-'})",
            {"pvc": c.name},
        )
        for c in k8s_objects.claims
        if c.phase not in ("Bound", "") and not c.waiting_for_consumer  # "": status not recorded
    ]
    fail_findings(k8s_objects, found, "not bound", "claim")


@pytest.mark.runbook("kubernetes-warning-events")
def test_no_recent_warning_events(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No Warning event within `event_window_min` (default 30 min); summarised by reason and
    object."""
    need(k8s_objects, "events")
    window = k8s_namespace.spec.event_window_min
    since = k8s_objects.observed_at - timedelta(minutes=window)
    groups: dict[tuple[str, str, str], int] = {}
    latest: dict[tuple[str, str, str], str] = {}
    for e in sorted(k8s_objects.events, key=lambda e: e.last_seen or since):
        if e.type == "Warning" and e.last_seen is not None and e.last_seen >= since:
            key = (e.reason, e.kind.lower(), e.name)
            groups[key] = groups.get(key, 0) + e.count
            latest[key] = e.describe(k8s_objects.observed_at)
    found = [
        Finding(
            f"{kind}/{name}",
            f"{reason} x{count}",
            {TEMPLATE_KEYS.get(kind, kind): name, "object": f"{kind}/{name}"},
            count,
        )
        for (reason, kind, name), count in groups.items()
    ]
    evidence = [f"{kind}/{name}: {latest[(r, kind, name)]}" for (r, kind, name) in groups]
    fail_findings(
        k8s_objects,
        found,
        f"with Warning events in the last {window:g} min",
        "object",
        evidence=evidence,
    )


# --- nodes ---------------------------------------------------------------------------------


@pytest.mark.runbook("node-not-ready")
def test_nodes_ready(
    k8s_cluster: Target[KubernetesSection], k8s_cluster_state: ClusterState
) -> None:
    """Every schedulable node is Ready (cordoned nodes are someone's deliberate choice)."""
    need(k8s_cluster_state, "nodes")
    judged = [n for n in k8s_cluster_state.nodes if n.status_known]  # no status: no verdict
    bad = [n for n in judged if n.ready.status != "True" and not n.unschedulable]
    if bad:
        fail(
            f"{len(bad)} of {len(judged)} nodes not ready: "
            + "; ".join(f"{n.name} (Ready={n.ready.status} {n.ready.reason})" for n in bad),
            evidence=[
                *(f"node {n.name}: {n.ready.message or n.ready.reason}" for n in bad),
                *partial_notes(k8s_cluster_state),
            ],
            **values(k8s_cluster_state, node=bad[0].name),
        )


@pytest.mark.runbook("node-pressure")
def test_nodes_without_pressure(
    k8s_cluster: Target[KubernetesSection], k8s_cluster_state: ClusterState
) -> None:
    """No node reports MemoryPressure, DiskPressure, PIDPressure or NetworkUnavailable."""
    need(k8s_cluster_state, "nodes")
    bad = [
        (node, condition)
        for node in k8s_cluster_state.nodes
        for kind in PRESSURE_CONDITIONS
        if (condition := node.conditions.get(kind)) and condition.status == "True"
    ]
    if bad:
        fail(
            f"{len(bad)} node conditions under pressure: "
            + "; ".join(f"{n.name} {c.type}" for n, c in bad),
            evidence=[
                *(f"node {n.name}: {c.type} {c.reason}: {c.message}" for n, c in bad),
                *partial_notes(k8s_cluster_state),
            ],
            **values(k8s_cluster_state, node=bad[0][0].name),
        )


def _later(one: datetime | None, other: datetime | None) -> bool:
    return one is not None and (other is None or one > other)
