"""The Kubernetes API as the stand-in serves it: resources, discovery, selectors, tables.

Pure functions over plain dicts (objects as the API server writes them), used by
`vigil.kube_standin`. Only what a read-only client needs: discovery documents, list
and get bodies, label and field selectors in their common forms, and `Status` errors shaped
like the real server's. The Tables `kubectl get` prints from: `tables.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-vigil-standin",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.4",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclass(frozen=True)
class Resource:
    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def api_versions(self) -> list[str]:
        return [f"{self.group}/{v}" if self.group else v for v in self.versions]


RESOURCES = (
    Resource("", ("v1",), "pods", "Pod", True, ("po",)),
    Resource("", ("v1",), "services", "Service", True, ("svc",)),
    Resource("", ("v1",), "endpoints", "Endpoints", True, ("ep",)),
    Resource("", ("v1",), "events", "Event", True, ("ev",)),
    Resource("", ("v1",), "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",)),
    Resource("", ("v1",), "secrets", "Secret", True),
    Resource("", ("v1",), "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", ("v1",), "namespaces", "Namespace", False, ("ns",)),
    Resource("", ("v1",), "nodes", "Node", False, ("no",)),
    Resource("", ("v1",), "persistentvolumes", "PersistentVolume", False, ("pv",)),
    Resource("apps", ("v1",), "deployments", "Deployment", True, ("deploy",)),
    Resource("apps", ("v1",), "replicasets", "ReplicaSet", True, ("rs",)),
    Resource("apps", ("v1",), "statefulsets", "StatefulSet", True, ("sts",)),
    Resource("apps", ("v1",), "daemonsets", "DaemonSet", True, ("ds",)),
    Resource("batch", ("v1",), "jobs", "Job", True),
    Resource("batch", ("v1",), "cronjobs", "CronJob", True, ("cj",)),
    Resource(
        "autoscaling",
        ("v2", "v1"),
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        ("hpa",),
    ),
)
CERT_MANAGER = Resource("cert-manager.io", ("v1",), "certificates", "Certificate", True, ("cert",))


def discovery_groups(resources: Iterable[Resource]) -> dict[str, Any]:
    """The `/apis` document (APIGroupList) for the named groups among `resources`."""
    groups: dict[str, list[str]] = {}
    for resource in resources:
        if resource.group:
            for version in resource.versions:
                if version not in groups.setdefault(resource.group, []):
                    groups[resource.group].append(version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [api_group(name, versions) for name, versions in groups.items()],
    }


def api_group(name: str, versions: list[str]) -> dict[str, Any]:
    """One APIGroup document: its versions, the first one preferred."""
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": listed,
        "preferredVersion": listed[0],
    }


def resource_list(group_version: str, resources: Iterable[Resource]) -> dict[str, Any]:
    """The APIResourceList of one group version (`/api/v1`, `/apis/apps/v1`)."""
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": r.plural,
                "singularName": r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "list"],
                "shortNames": list(r.short_names),
            }
            for r in resources
            if group_version in r.api_versions
        ],
    }


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> Any:
    """A `Status` failure body, as the API server sends with 4xx answers."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details or {},
        "code": code,
    }


def forbidden(resource: Resource, verb: str, namespace: str | None, user: str) -> Any:
    """The 403 the API server answers when RBAC does not grant `verb` on `resource`."""
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{resource.plural} is forbidden: User "{user}" cannot {verb} resource'
        f' "{resource.plural}" in API group "{resource.group}" {scope}'
    )
    return status(403, "Forbidden", message, {"group": resource.group, "kind": resource.plural})


# --- selectors -----------------------------------------------------------------------------

_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\((.*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=]+)\s*(==|!=|=)\s*(.*?)\s*$")


def _terms(selector: str) -> list[str]:
    """Split on commas that are not inside `( )`."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def labels_match(selector: str, labels: dict[str, str]) -> bool:
    """True when `labels` satisfy a label selector (`a=b,c!=d,e in (x,y),f,!g`)."""
    for term in _terms(selector):
        set_term = _SET_TERM.match(term)
        equality = _EQUALITY.match(term)
        if set_term:
            key, op, values = set_term.groups()
            wanted = {v.strip() for v in values.split(",")}
            if (labels.get(key) in wanted) != (op == "in"):
                return False
        elif equality:
            key, op, value = equality.groups()
            if (labels.get(key) == value) != (op != "!="):
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_value(obj: dict[str, Any], path: str) -> str:
    """The text of a dotted field (`status.phase`, `involvedObject.name`), '' when absent."""
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node).lower() if isinstance(node, bool) else str(node)


def fields_match(selector: str, obj: dict[str, Any]) -> bool:
    """True when `obj` satisfies a field selector (`status.phase=Pending,type!=Normal`)."""
    for term in _terms(selector):
        equality = _EQUALITY.match(term)
        if not equality:
            return False
        path, op, value = equality.groups()
        if (field_value(obj, path) == value) != (op != "!="):
            return False
    return True
