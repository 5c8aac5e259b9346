"""The look at a namespace or at the nodes: every list at once through the official client
(or a snapshot in memory), each object read on its own (see `probe.py` for the promises)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from vigil.families.kubernetes.client import (
    CLUSTER,
    NAMESPACED,
    Connection,
    connection,
    in_daemon_threads,
    list_all,
    observed_at,
)
from vigil.families.kubernetes.fields import object_name
from vigil.families.kubernetes.objects import (
    Event,
    Workload,
    endpoints_by_name,
    read_autoscaler,
    read_certificate,
    read_claim,
    read_event,
    read_job,
    read_node,
    read_service,
    read_workload,
)
from vigil.families.kubernetes.pods import Pod, read_pod, replicaset_owners
from vigil.families.kubernetes.probe import (
    EVENTS_PER_POD,
    LOG_LINES,
    LOG_PODS,
    ClusterState,
    NamespaceObjects,
)
from vigil.families.kubernetes.secrets import read_secret
from vigil.families.kubernetes.spec import KubernetesSection
from vigil.redact import redact_text
from vigil.session import own_budget
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

T = TypeVar("T")


class Reader:
    """Reads each object on its own: a malformed one is read partially or, at worst, left out
    and named; the notes end up in `partial`."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def each(self, read: Callable[[Any], T], objects: Iterable[Any]) -> tuple[T, ...]:
        found = []
        for raw in objects:
            try:
                item = read(raw)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                self.notes.append(f"{object_name(raw)} could not be read ({type(exc).__name__})")
                continue
            notes = getattr(item, "partial", ())
            if notes:
                self.notes.append(f"{object_name(raw)}: {'; '.join(notes)}")
            found.append(item)
        return tuple(found)


def snapshot_gaps(
    link: Connection, items: dict[str, list[dict[str, Any]] | None], namespace: str
) -> dict[str, str]:
    """The kinds a snapshot does not hold, each with the command that would add it: they are
    not evaluated, never read as empty (no Endpoints is not "no endpoints")."""
    if link.snapshot is None:
        return {}
    scope = f"-n {namespace}" if namespace else ""
    return {
        name: f"{name} are not in the snapshot {link.snapshot.path.name}: add them with"
        f" `kubectl get {name} {scope} -o yaml`".replace("  ", " ")
        for name, listed in items.items()
        if listed is None and name != "certificates"  # None there: cert-manager, see below
    }


def observe_namespace(target: Target[KubernetesSection], session: ProbeSession) -> NamespaceObjects:
    """List every kind the checks judge in one namespace, at once, within the timeout."""
    try:
        return _observe_namespace(target, session)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # Objects of a shape the API never writes (a hand-edited snapshot, say).
        reason = f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"
        return NamespaceObjects(
            target.name, "", datetime.now(UTC), error=f"unreadable objects ({reason})"
        )


def _observe_namespace(
    target: Target[KubernetesSection], session: ProbeSession
) -> NamespaceObjects:
    namespace = target.name
    deadline = time.monotonic() + own_budget(target.timeout_s)
    link = connection(target, session, deadline)
    if isinstance(link, str):
        return NamespaceObjects(namespace, "", datetime.now(UTC), error=link)
    now = observed_at(link)
    items, unreadable, error = list_all(link, NAMESPACED, namespace, target.timeout_s, deadline)
    unreadable = {**unreadable, **snapshot_gaps(link, items, namespace)}
    if not error and not any(items.values()) and (link.snapshot or not unreadable):
        # Listing a namespace that does not exist answers with empty lists, not an error.
        error = (
            f'namespace "{namespace}" holds no pods, services, events or secrets at'
            f" {link.where}: it is empty or does not exist (check its name and context)"
        )
    if error:
        return NamespaceObjects(namespace, link.context, now, error=error)

    def raw(resource: str) -> list[Any]:
        return items.get(resource) or []

    reader = Reader()
    events = reader.each(read_event, raw("events"))
    owners = replicaset_owners(r for r in raw("replicasets") if isinstance(r, dict))
    endpoints = endpoints_by_name(raw("endpoints"))
    pods = tuple(
        _with_events(pod, events, now)
        for pod in reader.each(lambda r: read_pod(r, owners), raw("pods"))
    )
    if target.spec.logs:
        pods = _with_logs(link, namespace, pods, target.timeout_s, deadline)
    certificates = items.get("certificates")
    return NamespaceObjects(
        namespace=namespace,
        context=link.context,
        observed_at=now,
        pods=pods,
        deployments=reader.each(partial(_workload, "Deployment"), raw("deployments")),
        statefulsets=reader.each(partial(_workload, "StatefulSet"), raw("statefulsets")),
        autoscalers=reader.each(read_autoscaler, raw("horizontalpodautoscalers")),
        events=events,
        services=reader.each(lambda r: read_service(r, endpoints), raw("services")),
        claims=reader.each(lambda r: read_claim(r, list(events)), raw("persistentvolumeclaims")),
        secrets=reader.each(read_secret, raw("secrets")),
        jobs=reader.each(read_job, raw("jobs")),
        certificates=None if certificates is None else reader.each(read_certificate, certificates),
        unreadable=unreadable,
        partial=tuple(reader.notes),
    )


def _workload(kind: str, raw: Any) -> Workload:
    """A Deployment or StatefulSet, whatever `kind` the list gave its items."""
    return read_workload({**raw, "kind": kind} if isinstance(raw, dict) else raw)


def _with_events(pod: Pod, events: tuple[Event, ...], now: datetime) -> Pod:
    mine = [e for e in events if e.kind == "Pod" and e.name == pod.name]
    mine.sort(key=lambda e: e.last_seen or datetime.min.replace(tzinfo=UTC), reverse=True)
    lines = tuple(e.describe(now) for e in mine[:EVENTS_PER_POD])
    return dataclasses.replace(pod, events=lines)


def observe_cluster(target: Target[KubernetesSection], session: ProbeSession) -> ClusterState:
    """List the cluster's nodes within the timeout."""
    try:
        return _observe_cluster(target, session)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"
        return ClusterState("", datetime.now(UTC), error=f"unreadable objects ({reason})")


def _observe_cluster(target: Target[KubernetesSection], session: ProbeSession) -> ClusterState:
    deadline = time.monotonic() + own_budget(target.timeout_s)
    link = connection(target, session, deadline)
    if isinstance(link, str):
        return ClusterState("", datetime.now(UTC), error=link)
    now = observed_at(link)
    items, unreadable, error = list_all(link, CLUSTER, "", target.timeout_s, deadline)
    if error:
        return ClusterState(link.context, now, error=error)
    reader = Reader()
    nodes = reader.each(read_node, items.get("nodes") or [])
    unreadable = {**unreadable, **snapshot_gaps(link, items, "")}
    return ClusterState(link.context, now, nodes, unreadable, tuple(reader.notes))


def _troubled(pod: Pod) -> list[str]:
    """Containers whose previous run's log tells why they restart."""
    return [
        c.name
        for c in pod.containers
        if (c.state == "waiting" and c.reason == "CrashLoopBackOff")
        or c.last_reason in ("OOMKilled", "Error")
    ]


def _with_logs(
    link: Connection, namespace: str, pods: tuple[Pod, ...], timeout_s: float, deadline: float
) -> tuple[Pod, ...]:
    """Add the last log lines of troubled containers' previous runs (redacted)."""
    wanted = [(i, name) for i, pod in enumerate(pods) for name in _troubled(pod)][:LOG_PODS]
    api = link.api
    if not wanted or api is None:  # a snapshot holds no logs
        return pods
    left = max(0.1, deadline - time.monotonic())
    calls = {
        f"{i}/{name}": partial(_read_log, api, namespace, pods[i].name, name, left)
        for i, name in wanted
    }
    futures = list(in_daemon_threads(calls, deadline).values())
    result = list(pods)
    for (i, name), future in zip(wanted, futures, strict=True):
        if not future.done():
            lines = [f"not read within {timeout_s:g} s"]
        elif isinstance(future.exception(), ApiException):
            failure: Any = future.exception()
            lines = [
                "not readable: forbidden, grant get on pods/log"
                if failure.status == 403
                else f"not readable: HTTP {failure.status} {failure.reason}"
            ]
        elif future.exception() is not None:
            lines = [f"not readable: {type(future.exception()).__name__}"]
        else:
            lines = future.result()
        logs = result[i].logs + tuple(f"[{name}, previous run] {line}" for line in lines)
        result[i] = dataclasses.replace(result[i], logs=logs)
    return tuple(result)


def _read_log(
    api: client.ApiClient, namespace: str, pod: str, container: str, timeout_s: float
) -> list[str]:
    response: Any = client.CoreV1Api(api).read_namespaced_pod_log(
        pod,
        namespace,
        container=container,
        previous=True,
        tail_lines=LOG_LINES,
        _preload_content=False,
        _request_timeout=timeout_s,
    )
    text = response.data.decode("utf-8", errors="replace")
    return [redact_text(line)[:300] for line in text.splitlines()[-LOG_LINES:]]
