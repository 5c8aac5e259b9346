"""Cells of `kubectl get` tables: ages as kubectl writes them, names, labels, selectors.

Every helper reads a field without trusting its shape (a dump may hold anything).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vigil.families.kubernetes.fields import parse_time

Json = dict[str, Any]
Row = list[Any]


def human_duration(seconds: float) -> str:
    """A duration as kubectl writes ages: precise when short, coarser as it grows."""
    if seconds < -1:
        return "<invalid>"
    total = max(0, int(seconds))
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def as_dict(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Json]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def since(value: Any, now: datetime) -> str:
    moment = parse_time(value) if isinstance(value, str) else None
    return "<unknown>" if moment is None else human_duration((now - moment).total_seconds())


def age(obj: Json, now: datetime) -> str:
    return since(as_dict(obj.get("metadata")).get("creationTimestamp"), now)


def name_of(obj: Json) -> str:
    return str(as_dict(obj.get("metadata")).get("name") or "")


def as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def containers(workload_spec: Json) -> tuple[str, str]:
    """The CONTAINERS and IMAGES cells of a workload, from its pod template."""
    template_spec = as_dict(as_dict(workload_spec.get("template")).get("spec"))
    containers = as_list(template_spec.get("containers"))
    return (
        ",".join(str(c.get("name") or "") for c in containers),
        ",".join(str(c.get("image") or "") for c in containers),
    )


def labels(labels: Any) -> str:
    pairs = sorted(f"{k}={v}" for k, v in as_dict(labels).items())
    return ",".join(pairs) or "<none>"


def selector(selector: Any) -> str:
    """A LabelSelector as kubectl prints it: `app=web,tier in (a,b)`."""
    selector = as_dict(selector)
    terms = [f"{k}={v}" for k, v in sorted(as_dict(selector.get("matchLabels")).items())]
    for expression in as_list(selector.get("matchExpressions")):
        key, operator = expression.get("key"), str(expression.get("operator") or "")
        values = ",".join(sorted(str(v) for v in expression.get("values") or []))
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": f"{key}",
                "DoesNotExist": f"!{key}",
            }.get(operator, f"{key} {operator}")
        )
    return ",".join(sorted(terms)) or "<none>"


def condition_true(status: Json, kind: str) -> bool:
    """Whether a status has the condition `kind` with status True."""
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in as_list(status.get("conditions"))
    )
