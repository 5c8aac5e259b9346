"""Talking to Kubernetes: one `ApiClient` per environment, and bounded, read-only list calls.

`connection(target)` builds (once per environment file) a client from the kubeconfig and
context, the in-cluster service account, or a snapshot served by the stand-in API, never from
the client library's global default configuration. Building one can block without bound: the
official client runs a kubeconfig's `exec` credential command with no timeout. So each
environment's client is built in its own daemon thread, outside any shared lock, and callers
wait for it at most `overall_limit(timeout_s)`; a command that never returns then fails that
environment's checks with the reason and cannot hold the process at exit.

`list_all` runs every list call at once, each bounded by the timeout, and translates failures:
a 403 names the permission to grant, an unreachable or silent API becomes one error. Only GET
requests are ever sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import (
    ENV_KUBECONFIG_PATH_SEPARATOR,
    KUBE_CONFIG_DEFAULT_LOCATION,
)

from vigil.families.kubernetes.snapshot import Snapshot, load_snapshot
from vigil.families.kubernetes.spec import KubernetesSection
from vigil.redact import redact_text
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.session import ProbeSession

Lister = Callable[[client.ApiClient, str, dict[str, Any]], Any]  # (client, namespace, options)


def import_apis() -> None:
    """Import the client's API modules now: the first use of each builds hundreds of model
    classes (a second or more on a busy machine), which is no part of the API's answer time."""
    for api in (
        client.CoreV1Api,
        client.AppsV1Api,
        client.AutoscalingV2Api,
        client.BatchV1Api,
        client.CustomObjectsApi,
    ):
        assert api is not None


def _core(c: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(c)


def _apps(c: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(c)


# resource -> (API group, list call); the group names the RBAC rule a 403 is missing.
NAMESPACED: dict[str, tuple[str, Lister]] = {
    "pods": ("", lambda c, ns, o: _core(c).list_namespaced_pod(ns, **o)),
    "replicasets": (
        "apps",
        lambda c, ns, o: _apps(c).list_namespaced_replica_set(ns, **o),
    ),
    "deployments": (
        "apps",
        lambda c, ns, o: _apps(c).list_namespaced_deployment(ns, **o),
    ),
    "statefulsets": (
        "apps",
        lambda c, ns, o: _apps(c).list_namespaced_stateful_set(ns, **o),
    ),
    "horizontalpodautoscalers": (
        "autoscaling",
        lambda c, ns, o: client.AutoscalingV2Api(c).list_namespaced_horizontal_pod_autoscaler(
            ns, **o
        ),
    ),
    "events": ("", lambda c, ns, o: _core(c).list_namespaced_event(ns, **o)),
    "services": (
        "",
        lambda c, ns, o: _core(c).list_namespaced_service(ns, **o),
    ),
    "endpoints": (
        "",
        lambda c, ns, o: _core(c).list_namespaced_endpoints(ns, **o),
    ),
    "persistentvolumeclaims": (
        "",
        lambda c, ns, o: _core(c).list_namespaced_persistent_volume_claim(ns, **o),
    ),
    "secrets": (
        "",
        lambda c, ns, o: _core(c).list_namespaced_secret(ns, **o),
    ),
    "jobs": (
        "batch",
        lambda c, ns, o: client.BatchV1Api(c).list_namespaced_job(ns, **o),
    ),
    "certificates": (
        "cert-manager.io",
        lambda c, ns, o: client.CustomObjectsApi(c).list_namespaced_custom_object(
            "cert-manager.io", "v1", ns, "certificates", **o
        ),
    ),
}
CLUSTER: dict[str, tuple[str, Lister]] = {
    "nodes": ("", lambda c, _, o: _core(c).list_node(**o)),
}


# The kind of the objects each list returns, to read the same lists from a snapshot.
KINDS = {
    "pods": "Pod",
    "replicasets": "ReplicaSet",
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
    "horizontalpodautoscalers": "HorizontalPodAutoscaler",
    "events": "Event",
    "services": "Service",
    "endpoints": "Endpoints",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "secrets": "Secret",
    "jobs": "Job",
    "certificates": "Certificate",
    "nodes": "Node",
}


@dataclass
class Connection:
    """A live API (`api`), or a snapshot read in memory (`snapshot`, no server involved)."""

    where: str
    context: str
    api: client.ApiClient | None = None
    snapshot: Snapshot | None = None

    def close(self) -> None:
        if self.api is not None:
            self.api.close()  # type: ignore[no-untyped-call]


class Pending:
    """An environment's connection being made on its own daemon thread, once per run: a
    credential command that never returns cannot hold the process at exit."""

    def __init__(self, target: Target[KubernetesSection]) -> None:
        self.future: Future[Connection | str] = Future()
        threading.Thread(
            target=_build, args=(target, self.future), daemon=True, name="vigil-k8s-connect"
        ).start()

    def close(self) -> None:
        if self.future.done():
            made = self.future.result()
            if isinstance(made, Connection):
                made.close()


def _resolve(target: Target[KubernetesSection], path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(target.environment.source).parent / path


def _client_configuration() -> client.Configuration:
    configuration = client.Configuration()
    # No retries: a retried request could outlive the timeout it was given.
    configuration.retries = False
    configuration.connection_pool_maxsize = len(NAMESPACED)  # every list at once
    return configuration


def _connect(target: Target[KubernetesSection]) -> Connection | str:
    section = target.spec
    configuration = _client_configuration()
    if section.snapshot:
        path = _resolve(target, section.snapshot)
        try:
            snapshot = load_snapshot(path)
        except (OSError, ValueError) as exc:
            return f"cannot read the snapshot {path}: {exc}"
        return Connection(f"snapshot {path}", "", snapshot=snapshot)
    if section.in_cluster:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            return f"in_cluster is set but this is not a pod with a service account: {exc}"
        return Connection(configuration.host, "", api=client.ApiClient(configuration))
    kubeconfig = str(_resolve(target, section.kubeconfig)) if section.kubeconfig else None
    shown = kubeconfig or "the default kubeconfig"
    try:
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig,
            context=section.context,
            persist_config=False,
            client_configuration=configuration,
        )
        context = section.context or _current_context(kubeconfig)
    except (ConfigException, OSError, TypeError, KeyError, ValueError) as exc:
        where = f" context {section.context!r}" if section.context else ""
        return f"cannot use {shown}{where}: {redact_text(str(exc))}"
    return Connection(f"{configuration.host} (context {context})", str(context), api=api)


def _current_context(kubeconfig: str | None) -> str:
    _, current = config.list_kube_config_contexts(kubeconfig)  # type: ignore[no-untyped-call]
    return str(current["name"])


def connection(
    target: Target[KubernetesSection], session: ProbeSession, deadline: float
) -> Connection | str:
    """The environment's client (made on first use), or why there is none, before `deadline`
    (time.monotonic()): other callers for the same environment share the one attempt."""
    key = ("kubernetes", target.environment.source)
    pending = session.shared(key, lambda: Pending(target))
    try:
        return pending.future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return _too_slow(target, target.timeout_s)


def _build(target: Target[KubernetesSection], pending: Future[Connection | str]) -> None:
    try:
        link = _connect(target)
    except Exception as exc:  # a probe reports, it never raises
        reason = f"{type(exc).__name__}: {redact_text(str(exc))[:200]}"
        link = f"cannot set up the Kubernetes client: {reason}"
    pending.set_result(link)


def _too_slow(target: Target[KubernetesSection], limit: float) -> str:
    """Why the client was not ready in time: the credential command, when there is one."""
    section = target.spec
    if section.snapshot:
        return f"reading the snapshot {section.snapshot} did not finish within {limit:g} s"
    if section.in_cluster:
        return f"reading the pod's service account did not finish within {limit:g} s"
    kubeconfig = str(_resolve(target, section.kubeconfig)) if section.kubeconfig else None
    shown = kubeconfig or "the default kubeconfig"
    command = _credential_command(kubeconfig, section.context)
    if command:
        return (
            f"the kubeconfig's credential command ({command}, users[].user.exec in {shown})"
            f" did not finish within {limit:g} s; run it by hand to see what it waits for"
            " (a login prompt, an expired session, an unreachable identity provider)"
        )
    return f"setting up the Kubernetes client from {shown} did not finish within {limit:g} s"


def _credential_command(kubeconfig: str | None, context: str | None) -> str | None:
    """The `exec` command of the context's user, if it has one (the first file defining a name
    wins, as when the client merges $KUBECONFIG)."""
    paths = (kubeconfig or KUBE_CONFIG_DEFAULT_LOCATION).split(ENV_KUBECONFIG_PATH_SEPARATOR)
    merged: dict[str, Any] = {"contexts": {}, "users": {}, "current-context": None}
    for path in paths:
        try:
            document = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(document, dict):
            continue
        merged["current-context"] = merged["current-context"] or document.get("current-context")
        for kind in ("contexts", "users"):
            for entry in document.get(kind) or []:
                if isinstance(entry, dict) and "name" in entry:
                    merged[kind].setdefault(entry["name"], entry.get(kind[:-1]) or {})
    chosen = merged["contexts"].get(context or merged["current-context"]) or {}
    user = merged["users"].get(chosen.get("user")) if isinstance(chosen, dict) else None
    exec_section = user.get("exec") if isinstance(user, dict) else None
    if not isinstance(exec_section, dict) or not exec_section.get("command"):
        return None
    return redact_text(str(exec_section["command"]))[:200]


def in_daemon_threads(
    calls: Mapping[str, Callable[[], Any]], deadline: float
) -> dict[str, Future[Any]]:
    """Run every call at once, each on its own daemon thread, and wait until `deadline`
    (time.monotonic()) at most: a call stuck on a socket is left behind, never joined."""
    futures: dict[str, Future[Any]] = {name: Future() for name in calls}

    def run(name: str, call: Callable[[], Any]) -> None:
        try:
            futures[name].set_result(call())
        except BaseException as exc:  # handed to the caller
            futures[name].set_exception(exc)

    for name, call in calls.items():
        threading.Thread(target=run, args=(name, call), daemon=True, name="vigil-k8s").start()
    for future in futures.values():
        try:
            future.exception(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            break
    return futures


def list_all(
    link: Connection,
    listers: dict[str, tuple[str, Lister]],
    namespace: str,
    timeout_s: float,
    deadline: float,
) -> tuple[dict[str, list[dict[str, Any]] | None], dict[str, str], str | None]:
    """Run every list call at once. Returns items by resource (None: not served), the
    resources that could not be read and why, and an error when the API itself failed."""
    if link.snapshot is not None:
        return snapshot_lists(link.snapshot, listers, namespace), {}, None
    api = link.api
    assert api is not None  # a live connection
    left = max(0.1, deadline - time.monotonic())
    futures = in_daemon_threads(
        {name: partial(_fetch, call, api, namespace, left) for name, (_, call) in listers.items()},
        deadline,
    )
    items: dict[str, list[dict[str, Any]] | None] = {}
    unreadable: dict[str, str] = {}
    scope = f'in namespace "{namespace}"' if namespace else "at cluster scope"
    for name, future in futures.items():
        if not future.done():
            return (
                {},
                {},
                f"the Kubernetes API at {link.where} did not answer"
                f" {_requests(len(listers))} within {timeout_s:g} s",
            )
        exc = future.exception()
        if exc is None:
            items[name] = future.result()
        elif isinstance(exc, ApiException) and exc.status in (403, 404):
            group = listers[name][0]
            if exc.status == 404:
                items[name] = None
                if name != "certificates":  # absent unless cert-manager is installed
                    unreadable[name] = f"{name} ({group or 'core'} API) is not served here"
            else:
                unreadable[name] = (
                    f'forbidden: missing permission to list {name} (API group "{group}") {scope};'
                    f" grant get/list on {name} (see deploy/rbac.yaml). The API server said:"
                    f" {_status_message(exc)}"
                )
        elif isinstance(exc, ApiException) and exc.status == 401:
            return {}, {}, f"the Kubernetes API at {link.where} rejected the credentials"
        elif isinstance(exc, ApiException) and exc.status:
            unreadable[name] = f"listing {name} failed: HTTP {exc.status} {_status_message(exc)}"
        else:
            return {}, {}, _connection_error(exc, link.where, timeout_s)
    return items, unreadable, None


def _requests(count: int) -> str:
    return "the list request" if count == 1 else f"all {count} list requests"


def snapshot_lists(
    snapshot: Snapshot, listers: dict[str, tuple[str, Lister]], namespace: str
) -> dict[str, list[dict[str, Any]] | None]:
    """The lists as the API would answer them, read from a snapshot in memory. A kind the
    snapshot holds no object of at all is None, "not in the snapshot": a dump without
    Endpoints says nothing about endpoints (and one without Certificates, nothing about
    cert-manager)."""
    held = {obj.get("kind") for obj in snapshot.objects}
    items: dict[str, list[dict[str, Any]] | None] = {}
    for name in listers:
        kind = KINDS[name]
        if kind not in held:
            items[name] = None
            continue
        items[name] = [
            obj
            for obj in snapshot.objects
            if obj.get("kind") == kind and (not namespace or _namespace_of(obj) == namespace)
        ]
    return items


PAGE = 500  # objects per list request; the API hands the rest with a continue token
MAX_PAGE_BYTES = 64 << 20
MAX_OBJECTS = 100_000  # per kind and namespace: beyond that, the list says it was cut


def _namespace_of(obj: dict[str, Any]) -> Any:
    metadata = obj.get("metadata")
    return metadata.get("namespace") if isinstance(metadata, dict) else None


def _fetch(call: Lister, api: client.ApiClient, namespace: str, timeout_s: float) -> Any:
    """Every page of one list, each read with a cap, until the API says there is no more."""
    items: list[Any] = []
    token: str | None = None
    while True:
        options: dict[str, Any] = {
            "_request_timeout": timeout_s,
            "_preload_content": False,
            "limit": PAGE,
        }
        if token:
            options["_continue"] = token
        response = call(api, namespace, options)
        try:
            data = response.read(MAX_PAGE_BYTES + 1)
        finally:
            response.release_conn()
        if len(data) > MAX_PAGE_BYTES:
            raise ValueError(f"a list page larger than {MAX_PAGE_BYTES >> 20} MiB")
        body = json.loads(data)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise ValueError("the answer is not a Kubernetes list")
        items += body["items"]
        token = (body.get("metadata") or {}).get("continue")
        if not token or len(items) >= MAX_OBJECTS:
            return items[:MAX_OBJECTS]


def _status_message(exc: ApiException) -> str:
    try:
        return redact_text(str(json.loads(exc.body or "")["message"]))
    except (ValueError, KeyError, TypeError):
        return redact_text(str(exc.reason or ""))


def _connection_error(exc: BaseException, where: str, timeout_s: float) -> str:
    text = " ".join(redact_text(str(exc)).split())  # one line: the cause follows on the next
    # NewConnectionError is a ConnectTimeoutError in urllib3 2, so it is asked about first.
    if isinstance(exc, urllib3.exceptions.NewConnectionError) or "refused" in text.lower():
        reason = "connection refused" if "refused" in text.lower() else text[:200]
        return f"cannot connect to the Kubernetes API at {where}: {reason}"
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"the Kubernetes API at {where} did not answer within {timeout_s:g} s"
    if isinstance(exc, ApiException):  # status 0: TLS failures
        reason = " ".join(redact_text(str(exc.reason)).split())
        return f"cannot talk to the Kubernetes API at {where}: {reason}"
    if isinstance(exc, ValueError):
        return f"the Kubernetes API at {where} sent an unreadable answer: {text[:200]}"
    return f"cannot reach the Kubernetes API at {where}: {type(exc).__name__}: {text[:200]}"


def observed_at(link: Connection) -> datetime:
    """Now, or the moment a snapshot was taken."""
    return link.snapshot.taken_at if link.snapshot else datetime.now(UTC)
