"""A read-only stand-in for the Kubernetes API server, over real HTTP on 127.0.0.1.

It serves a fixed set of objects (as `kubectl get -o yaml` prints them) to the official
Python client and to kubectl: discovery, list and get (namespaced and across namespaces,
with label and field selectors), Tables for `kubectl get`, and `Status` errors. It answers
403 Forbidden for the resources named in `forbidden` (to show missing RBAC) and records every
request's method and path. Snapshots, the sandbox and the tests all use it.

    server = KubeStandIn(objects); kubeconfig = server.write_kubeconfig(path, "ctx"); ...
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from vigil.families.kubernetes.snapshot import SnapshotError, load_objects
from vigil.kube_standin import api as kube_api
from vigil.kube_standin import tables
from vigil.kube_standin.api import CERT_MANAGER, RESOURCES, Resource

__all__ = ["KubeStandIn", "SnapshotError", "load_objects"]

STANDIN_USER = "system:serviceaccount:vigil:vigil"


class _Server(ThreadingHTTPServer):
    # Clients list every kind at once; the default backlog of 5 drops connections then.
    request_queue_size = 128


@dataclass(frozen=True)
class _Route:
    resource: Resource
    api_version: str
    namespace: str | None
    name: str | None


class KubeStandIn:
    """Serves `objects` on a free port of 127.0.0.1 until `close()`."""

    def __init__(
        self,
        objects: Iterable[dict[str, Any]],
        forbidden: Iterable[str] = (),
        logs: dict[str, str] | None = None,
    ) -> None:
        self.objects: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.resources = list(RESOURCES)
        self.replace(objects)
        self.forbidden = set(forbidden)
        self.logs = dict(logs or {})  # "namespace/pod" -> the text its log endpoint serves
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True, name="kube-standin"
        )
        self._thread.start()

    def replace(self, objects: Iterable[dict[str, Any]]) -> None:
        """Serve `objects` from now on (the cluster changed)."""
        indexed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        by_kind = {r.kind: r for r in (*RESOURCES, CERT_MANAGER)}
        for obj in objects:
            resource = by_kind.get(str(obj.get("kind")))
            if resource is not None:
                indexed.setdefault((resource.group, resource.plural), []).append(obj)
        resources = list(RESOURCES)
        if ("cert-manager.io", "certificates") in indexed:
            resources.append(CERT_MANAGER)
        self.objects, self.resources = indexed, resources

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def methods(self) -> set[str]:
        """The HTTP methods received so far."""
        with self._lock:
            return {method for method, _ in self.requests}

    def write_kubeconfig(self, path: Path, context: str, namespace: str = "default") -> Path:
        """Write a kubeconfig whose `context` points at this server; returns `path`."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-reader", "user": {"token": "stand-in-token"}}],
            "contexts": [
                {
                    "name": context,
                    "context": {
                        "cluster": context,
                        "user": f"{context}-reader",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # --- answering -------------------------------------------------------------------------

    def answer(self, method: str, raw_path: str, accept: str) -> tuple[int, Any]:
        """The status and body for one request: JSON, or text for a pod's log."""
        with self._lock:
            self.requests.append((method, raw_path))
        if method != "GET":
            return 405, kube_api.status(
                405, "MethodNotAllowed", f"the stand-in is read-only: {method} is not supported"
            )
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = [s for s in parts.path.split("/") if s]
        if (
            len(segments) == 7
            and segments[:3] == ["api", "v1", "namespaces"]
            and (segments[4::2] == ["pods", "log"])
        ):
            return self._log(segments[3], segments[5], query)
        document = self._discovery(segments)
        if document is not None:
            return 200, document
        route = self._route(segments)
        if route is None:
            return 404, kube_api.status(
                404, "NotFound", "the server could not find the requested resource"
            )
        if route.resource.plural in self.forbidden:
            verb = "get" if route.name else "list"
            return 403, kube_api.forbidden(route.resource, verb, route.namespace, STANDIN_USER)
        return self._read(route, query, "as=Table" in accept)

    def _log(self, namespace: str, pod: str, query: dict[str, str]) -> tuple[int, Any]:
        if "pods/log" in self.forbidden:
            resource = Resource("", ("v1",), "pods/log", "Pod", True)
            return 403, kube_api.forbidden(resource, "get", namespace, STANDIN_USER)
        text = self.logs.get(f"{namespace}/{pod}")
        if text is None:
            return 404, kube_api.status(404, "NotFound", f'pods "{pod}" not found')
        lines = text.splitlines()
        tail = int(query.get("tailLines", len(lines)))
        return 200, "\n".join(lines[-tail:]) + "\n"

    def _discovery(self, segments: list[str]) -> Any:
        if segments == ["version"]:
            return kube_api.SERVER_VERSION
        if segments == ["api"]:
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                ],
            }
        if segments == ["apis"]:
            return kube_api.discovery_groups(self.resources)
        if segments == ["api", "v1"]:
            return kube_api.resource_list("v1", self.resources)
        if len(segments) == 2 and segments[0] == "apis":
            versions = [v for r in self.resources if r.group == segments[1] for v in r.versions]
            return kube_api.api_group(segments[1], versions) if versions else None
        if len(segments) == 3 and segments[0] == "apis":
            listed = kube_api.resource_list(f"{segments[1]}/{segments[2]}", self.resources)
            return listed if listed["resources"] else None
        return None

    def _route(self, segments: list[str]) -> _Route | None:
        if segments[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", segments[2:]
        elif len(segments) >= 3 and segments[0] == "apis":
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            return None
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 2:
            return None
        api_version = f"{group}/{version}" if group else version
        for resource in self.resources:
            if (resource.group, resource.plural) == (group, rest[0]):
                if api_version not in resource.api_versions:
                    return None
                if namespace is not None and not resource.namespaced:
                    return None
                return _Route(resource, api_version, namespace, rest[1] if len(rest) > 1 else None)
        return None

    def _read(self, route: _Route, query: dict[str, str], as_table: bool) -> tuple[int, Any]:
        resource = route.resource
        found = []
        for obj in self._stored(resource):
            metadata = obj.get("metadata", {})
            if route.namespace is not None and metadata.get("namespace") != route.namespace:
                continue
            if route.name is not None and metadata.get("name") != route.name:
                continue
            labels = metadata.get("labels") or {}
            if not kube_api.labels_match(query.get("labelSelector", ""), labels):
                continue
            if not kube_api.fields_match(query.get("fieldSelector", ""), obj):
                continue
            found.append({**obj, "kind": resource.kind, "apiVersion": route.api_version})
        now = datetime.now(UTC)
        if route.name is not None:
            if not found:
                message = f'{resource.plural} "{route.name}" not found'
                details = {"name": route.name, "group": resource.group, "kind": resource.plural}
                return 404, kube_api.status(404, "NotFound", message, details)
            return 200, tables.table(resource.kind, found, now) if as_table else found[0]
        if as_table:
            return 200, tables.table(resource.kind, found, now)
        return 200, {
            "kind": f"{resource.kind}List",
            "apiVersion": route.api_version,
            "metadata": {"resourceVersion": "1"},
            "items": found,
        }

    def _stored(self, resource: Resource) -> list[dict[str, Any]]:
        stored = self.objects.get((resource.group, resource.plural), [])
        if resource.plural == "namespaces" and not stored:
            names = sorted(
                {
                    str(o["metadata"]["namespace"])
                    for objects in self.objects.values()
                    for o in objects
                    if o.get("metadata", {}).get("namespace")
                }
            )
            stored = [
                {"metadata": {"name": n}, "spec": {}, "status": {"phase": "Active"}} for n in names
            ]
        return stored


def _handler(standin: KubeStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            code, body = standin.answer(self.command, self.path, self.headers.get("Accept", ""))
            text = isinstance(body, str)
            payload = body.encode() if text else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if text else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
