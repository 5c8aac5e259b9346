"""Snapshots: a file of Kubernetes objects, judged as of the moment it was taken.

A snapshot is what `kubectl get ... -o yaml` prints (a `v1` List, or several YAML documents).
The probe serves it with the stand-in API and reads it with the official client, exactly as it
reads a live cluster. Ages (pending pods, recent events, expiring certificates) are measured
from the newest timestamp the objects record, so yesterday's dump shows yesterday's incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from vigil.families.kubernetes.fields import parse_time


class SnapshotError(ValueError):
    """A snapshot file cannot be read as Kubernetes objects."""


def load_objects(text: str) -> list[dict[str, Any]]:
    """Objects from `kubectl get -o yaml` output: a List, or several YAML documents."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise SnapshotError(f"not valid YAML: {exc}") from exc
    objects: list[dict[str, Any]] = []
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, dict):
            raise SnapshotError(f"expected Kubernetes objects, found a {type(document).__name__}")
        if isinstance(document.get("items"), list):
            item_kind = str(document.get("kind", "")).removesuffix("List")
            for item in document["items"]:
                if isinstance(item, dict):
                    item.setdefault("kind", item_kind)
                    item.setdefault("apiVersion", document.get("apiVersion", "v1"))
                    objects.append(item)
        elif document.get("kind"):
            objects.append(document)
    return objects


# Fields that record when something happened (not when it will: notAfter, renewalTime).
_EVENT_TIMES = {
    "creationTimestamp",
    "lastTimestamp",
    "firstTimestamp",
    "eventTime",
    "lastObservedTime",
    "lastTransitionTime",
    "lastHeartbeatTime",
    "lastUpdateTime",
    "lastProbeTime",
    "startedAt",
    "finishedAt",
    "startTime",
    "completionTime",
}


@dataclass(frozen=True)
class Snapshot:
    path: Path
    objects: list[dict[str, Any]]
    taken_at: datetime


def taken_at(objects: list[dict[str, Any]], now: datetime | None = None) -> datetime:
    """The newest recorded time among `objects` (never later than now)."""
    now = now or datetime.now(UTC)
    newest: datetime | None = None
    stack: list[Any] = list(objects)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _EVENT_TIMES and isinstance(value, str):
                    moment = parse_time(value)
                    if moment is not None and (newest is None or moment > newest):
                        newest = moment
                elif isinstance(value, dict | list) and key not in ("data", "stringData"):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return min(newest, now) if newest else now


def load_snapshot(path: Path) -> Snapshot:
    """Read a snapshot file; raises OSError or ValueError (with the reason) if it cannot."""
    objects = load_objects(path.read_text(encoding="utf-8"))
    if not objects:
        raise ValueError("it holds no Kubernetes objects")
    return Snapshot(path, objects, taken_at(objects))
