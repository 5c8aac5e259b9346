"""Health-report formats: component names, statuses and timings read as each format means them.

A detailed health report says how a service and its parts are; every framework says it in
its own shape and with its own words. `read_report(body, text, status, format)` turns one
answer into a `ComponentReport` (an overall level, named components, response times), and
ranks each status as that format's own aggregator does:

- `spring`: Spring Boot 2.2+ `components` (composites nested: `db/primary`), 2.0-2.1
  `details`, 1.x components at the top level. UP and UNKNOWN pass (Spring ranks UNKNOWN
  below UP and answers 200), OUT_OF_SERVICE and DOWN fail.
- `health+json`: `checks: {"name:measure": [{status, observedValue, observedUnit}]}`;
  pass, warn (degraded, served with 200), fail.
- `aspnet`: HealthChecks UI `entries: {name: {status, duration}}`, or the default plain
  text; Healthy, Degraded (served with 200), Unhealthy.
- `health-go`: `status` with `failures: {name: message}`; OK, Partially Available (200),
  Unavailable.
- `alexliesenfeld`: `status` with `details: {name: {status, error}}`; up, unknown, down.
- `elasticsearch`: cluster health `status` (and `indices`), or `_health_report`
  `indicators`; green, yellow, red (all served with 200).
- `consul`: a JSON array of checks (`/v1/health/checks/...`, `/v1/health/state/...`) or of
  entries holding `Checks` (`/v1/health/service/...`); passing, warning, critical (200).
- `kubernetes`: `/readyz?verbose` text, `[+]name ok` and `[-]name failed` lines.
- `vault`: `sys/health`: `initialized`, `sealed`, `standby` and its status codes.
- `checks`: `checks: [{name, status, responseTime}]` with `overallStatus`, and other
  shapes of `status` plus named parts; healthy, degraded, unhealthy and their synonyms.

`auto` (the default) recognises each by its shape. Nothing here does I/O or raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, get_args

from vigil.families.http.report import (
    Component,
    ComponentReport,
    Level,
    Reading,
    duration_ms,
    generic_level,
)

if TYPE_CHECKING:
    from vigil.families.http.probe import HttpResponse

HealthFormat = Literal[
    "auto",
    "spring",
    "health+json",
    "aspnet",
    "health-go",
    "alexliesenfeld",
    "elasticsearch",
    "consul",
    "kubernetes",
    "vault",
    "checks",
]
FORMATS: tuple[str, ...] = get_args(HealthFormat)
MAX_COMPONENTS = 500  # a report listing more is cut there (said in `note`)
MAX_NESTING = 8  # Spring composites nested deeper are read as one component


_SPRING = {"UP": Level.OK, "UNKNOWN": Level.OK, "OUT_OF_SERVICE": Level.DOWN, "DOWN": Level.DOWN}
_HEALTH_JSON = {"pass": Level.OK, "ok": Level.OK, "up": Level.OK, "warn": Level.DEGRADED}
_ASPNET = {"healthy": Level.OK, "degraded": Level.DEGRADED, "unhealthy": Level.DOWN}
_HEALTH_GO = {"ok": Level.OK, "partially available": Level.DEGRADED}
_ALEX = {"up": Level.OK, "unknown": Level.DEGRADED, "down": Level.DOWN}
_ELASTIC = {"green": Level.OK, "yellow": Level.DEGRADED, "unknown": Level.DEGRADED}
_CONSUL = {"passing": Level.OK, "warning": Level.DEGRADED}


def _ranker(table: dict[str, Level], *, case: bool = False) -> Callable[[str], Level]:
    """A format's ranking: its own words, anything else it does not know is DOWN."""

    def rank(status: str) -> Level:
        return table.get(status if case else status.strip().lower(), Level.DOWN)

    return rank


def read_report(body: Any, text: str, status: int | None, form: str = "auto") -> Reading:
    """Read one answer (its JSON `body`, else its `text`) as a health report of `form`."""
    chosen = detect(body, text) if form == "auto" else form
    if chosen is None:
        return Reading("auto", error=_unknown_shape(body, text))
    reader = _READERS[chosen]
    try:
        reading = reader(body, text, status)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:  # a shape half-right
        return Reading(chosen, error=f"not a {chosen} health report ({type(exc).__name__})")
    if reading.error is None and reading.level is None and not reading.components:
        return Reading(chosen, error=f"the {chosen} report has neither a status nor components")
    return reading


def detect(body: Any, text: str) -> str | None:
    """The format a body's shape belongs to, or None."""
    if body is None:
        return _detect_text(text)
    if isinstance(body, list):
        return "consul" if all(isinstance(i, dict) for i in body) and body else None
    if not isinstance(body, dict):
        return None
    status = body.get("status")
    if "sealed" in body and "initialized" in body:
        return "vault"
    if "cluster_name" in body and status in ("green", "yellow", "red"):
        return "elasticsearch"
    if isinstance(body.get("indicators"), dict):
        return "elasticsearch"
    if isinstance(body.get("entries"), dict):
        return "aspnet"
    if isinstance(body.get("failures"), dict) or (
        isinstance(status, str) and status.lower() in ("partially available", "unavailable")
    ):
        return "health-go"
    if isinstance(status, str) and status in _SPRING:
        return "spring"
    details = body.get("details")
    if isinstance(details, dict) and isinstance(status, str) and status.lower() in _ALEX:
        return "alexliesenfeld"
    checks = body.get("checks")
    if isinstance(checks, dict):
        return "health+json"
    if isinstance(checks, list) or any(k in body for k in ("overallStatus", "components")):
        return "checks"
    if isinstance(status, str) or isinstance(body.get("state"), str):
        return "checks"
    return None


def _detect_text(text: str) -> str | None:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if any(line.startswith(("[+]", "[-]")) for line in lines):
        return "kubernetes"
    if len(lines) == 1 and lines[0].lower() in _ASPNET:
        return "aspnet"
    return None


def _unknown_shape(body: Any, text: str) -> str:
    if body is None:
        start = " ".join(text.split())[:60]
        return f"the body is not JSON nor a known text report; it starts {start!r}"
    if isinstance(body, list):
        return "the report is a JSON array, but not of Consul health checks"
    if isinstance(body, dict):
        keys = ", ".join(list(map(str, body))[:8])
        return f"the report has neither an overall status nor components (keys: {keys})"
    return f"the report is a JSON {type(body).__name__}, not an object"


# --- readers -------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else " ".join(str(value).split())


def _capped(components: list[Component]) -> tuple[list[Component], str]:
    if len(components) <= MAX_COMPONENTS:
        return components, ""
    return components[:MAX_COMPONENTS], f"the first {MAX_COMPONENTS} of {len(components)} parts"


def _spring(body: Any, text: str, status: int | None) -> Reading:
    rank = _ranker(_SPRING, case=True)
    overall = str(body.get("status", ""))
    found: list[Component] = []

    def parts(node: dict[str, Any]) -> dict[str, Any]:
        # 2.2+: components; 2.0-2.1: details holding components; 1.x: the object itself
        # (only when it has neither key: a 2.x leaf's details may hold a "status" of its own).
        if "components" in node or "details" in node:
            for key in ("components", "details"):
                held = node.get(key)
                if isinstance(held, dict) and _has_statuses(held):
                    return held
            return {}
        return {k: v for k, v in node.items() if isinstance(v, dict) and "status" in v}

    def walk(prefix: str, node: dict[str, Any], depth: int) -> None:
        children = parts(node) if depth < MAX_NESTING else {}
        if prefix and not children:
            state = str(node.get("status", "UNKNOWN"))
            detail = _text(
                node.get("description") or node.get("error") or _error_of(node.get("details"))
            )
            found.append(Component(prefix, state, rank(state), detail=detail))
        for name, child in children.items():
            if isinstance(child, dict):
                walk(f"{prefix}/{name}" if prefix else str(name), child, depth + 1)

    walk("", body, 0)
    components, note = _capped(found)
    return Reading("spring", overall or None, rank(overall) if overall else None, components, note)


def _has_statuses(held: dict[str, Any]) -> bool:
    return any(isinstance(v, dict) and "status" in v for v in held.values())


def _error_of(details: Any) -> Any:
    return details.get("error") if isinstance(details, dict) else None


def _health_json(body: Any, text: str, status: int | None) -> Reading:
    rank = _ranker(_HEALTH_JSON)
    overall = _text(body.get("status")) or None
    found = []
    for name, results in (body.get("checks") or {}).items():
        entries = results if isinstance(results, list) else [results]
        for index, item in enumerate(e for e in entries if isinstance(e, dict)):
            label = str(name)
            if len(entries) > 1:
                node = item.get("node")
                label += (
                    f" [node {node}]"
                    if node is not None
                    else (f" [{item.get('componentId') or index}]")
                )
            state = _text(item.get("status")) or "fail"
            response = None
            if str(name).endswith(":responseTime"):
                response = duration_ms(item.get("observedValue"), item.get("observedUnit"))
            detail = _text(item.get("output"))
            found.append(Component(label, state, rank(state), response, detail))
    components, note = _capped(found)
    return Reading("health+json", overall, rank(overall) if overall else None, components, note)


def _aspnet(body: Any, text: str, status: int | None) -> Reading:
    rank = _ranker(_ASPNET)
    if body is None:  # the default writer: one word
        word = text.strip()
        return Reading("aspnet", word, rank(word))
    overall = _text(body.get("status")) or None
    found = []
    for name, entry in (body.get("entries") or {}).items():
        if not isinstance(entry, dict):
            continue
        state = _text(entry.get("status")) or "Unhealthy"
        detail = _text(entry.get("description") or entry.get("exception"))
        found.append(
            Component(str(name), state, rank(state), duration_ms(entry.get("duration")), detail)
        )
    components, note = _capped(found)
    return Reading("aspnet", overall, rank(overall) if overall else None, components, note)


def _health_go(body: Any, text: str, status: int | None) -> Reading:
    rank = _ranker(_HEALTH_GO)
    overall = _text(body.get("status")) or None
    # Only failing checks are listed: each is named with the library's own message.
    found = [
        Component(str(name), "failed", Level.DOWN, detail=_text(message))
        for name, message in (body.get("failures") or {}).items()
    ]
    components, note = _capped(found)
    return Reading("health-go", overall, rank(overall) if overall else None, components, note)


def _alexliesenfeld(body: Any, text: str, status: int | None) -> Reading:
    rank = _ranker(_ALEX)
    overall = _text(body.get("status")) or None
    found = []
    for name, check in (body.get("details") or {}).items():
        if isinstance(check, dict):
            state = _text(check.get("status")) or "unknown"
            found.append(Component(str(name), state, rank(state), detail=_text(check.get("error"))))
    components, note = _capped(found)
    return Reading("alexliesenfeld", overall, rank(overall) if overall else None, components, note)


def _elasticsearch(body: Any, text: str, status: int | None) -> Reading:
    rank = _ranker(_ELASTIC)
    overall = _text(body.get("status")) or None
    found = []
    for name, indicator in (body.get("indicators") or {}).items():  # _health_report
        if isinstance(indicator, dict):
            state = _text(indicator.get("status")) or "unknown"
            found.append(
                Component(str(name), state, rank(state), detail=_text(indicator.get("symptom")))
            )
    for name, index in (body.get("indices") or {}).items():  # _cluster/health?level=indices
        if isinstance(index, dict):
            state = _text(index.get("status")) or "unknown"
            found.append(Component(f"index {name}", state, rank(state)))
    note = ""
    if "unassigned_shards" in body:
        note = (
            f"{body.get('unassigned_shards')} unassigned shards,"
            f" {body.get('number_of_nodes')} nodes"
        )
    components, cut = _capped(found)
    return Reading(
        "elasticsearch", overall, rank(overall) if overall else None, components, cut or note
    )


def _consul(body: Any, text: str, status: int | None) -> Reading:
    rank = _ranker(_CONSUL)
    checks: list[dict[str, Any]] = []
    for item in body if isinstance(body, list) else []:
        if isinstance(item, dict) and isinstance(item.get("Checks"), list):  # health/service
            checks += [c for c in item["Checks"] if isinstance(c, dict)]
        elif isinstance(item, dict):  # health/checks, health/state, health/node
            checks.append(item)
    found = []
    for check in checks:
        node, check_id = _text(check.get("Node")), _text(check.get("CheckID") or check.get("Name"))
        state = _text(check.get("Status")) or "critical"
        detail = _text(check.get("Output") or check.get("Notes"))
        found.append(
            Component(f"{node}/{check_id}" if node else check_id, state, rank(state), detail=detail)
        )
    if not found:
        return Reading("consul", "passing", Level.OK, note="no checks are registered")
    worst = max(found, key=lambda c: c.level)  # Consul has no overall status: the worst check
    components, note = _capped(found)
    return Reading("consul", worst.status, worst.level, components, note)


_KUBE_LINE = re.compile(r"^\[([+-])\](\S+)\s*(.*)$")


def _kubernetes(body: Any, text: str, status: int | None) -> Reading:
    found = []
    overall = None
    for line in text.splitlines():
        line = line.strip()
        match = _KUBE_LINE.match(line)
        if match:
            sign, name, rest = match.groups()
            state = "ok" if sign == "+" else "failed"
            found.append(
                Component(
                    name,
                    state,
                    Level.OK if sign == "+" else Level.DOWN,
                    detail=rest.removeprefix("failed").lstrip(": ") if sign == "-" else "",
                )
            )
        elif line.endswith(("check passed", "check failed")):
            overall = line
    level = None
    if overall is not None:
        level = Level.OK if overall.endswith("passed") else Level.DOWN
    components, note = _capped(found)
    return Reading("kubernetes", overall, level, components, note)


# Vault's sys/health answers by status code; the body says the same in words.
VAULT_STATUS = {
    200: ("active", Level.OK),
    429: ("standby", Level.OK),
    472: ("disaster-recovery secondary", Level.OK),
    473: ("performance standby", Level.OK),
    474: ("standby that cannot reach the active node", Level.DOWN),
    501: ("not initialised", Level.DOWN),
    503: ("sealed", Level.DOWN),
    530: ("removed from its cluster", Level.DOWN),
}


def _vault(body: Any, text: str, status: int | None) -> Reading:
    if isinstance(body, dict):
        if body.get("initialized") is False:
            return Reading("vault", "not initialised", Level.DOWN)
        if body.get("sealed") is True:
            return Reading("vault", "sealed", Level.DOWN)
    if status in VAULT_STATUS:
        word, level = VAULT_STATUS[status]
        return Reading("vault", word, level)
    if isinstance(body, dict) and body.get("sealed") is False:
        return Reading("vault", "standby" if body.get("standby") else "active", Level.OK)
    return Reading("vault", error=f"HTTP {status} is not a Vault health answer")


def _checks(body: Any, text: str, status: int | None) -> Reading:
    overall = next(
        (
            _text(body[k])
            for k in ("overallStatus", "status", "state")
            if isinstance(body.get(k), str)
        ),
        None,
    )
    raw = body.get("checks", body.get("components", body.get("details")))
    found: list[Component] = []
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            if isinstance(item, dict):
                name = _text(item.get("name") or item.get("component") or f"#{index}")
                found.append(_generic_component(name, item))
    elif isinstance(raw, dict):
        for name, item in raw.items():
            for entry in item if isinstance(item, list) else [item]:
                if isinstance(entry, dict):
                    found.append(_generic_component(str(name), entry))
                else:
                    found.append(Component(str(name), _text(entry), generic_level(_text(entry))))
    components, note = _capped(found)
    return Reading("checks", overall, generic_level(overall) if overall else None, components, note)


def _generic_component(name: str, item: dict[str, Any]) -> Component:
    state = _text(item.get("status", item.get("state", "unknown")))
    elapsed = next(
        (item[k] for k in ("responseTime", "response_time_ms", "latency", "duration") if k in item),
        None,
    )
    detail = _text(item.get("error") or item.get("message") or item.get("output"))
    return Component(name, state, generic_level(state), duration_ms(elapsed), detail)


_READERS: dict[str, Callable[[Any, str, int | None], Reading]] = {
    "spring": _spring,
    "health+json": _health_json,
    "aspnet": _aspnet,
    "health-go": _health_go,
    "alexliesenfeld": _alexliesenfeld,
    "elasticsearch": _elasticsearch,
    "consul": _consul,
    "kubernetes": _kubernetes,
    "vault": _vault,
    "checks": _checks,
}


def parse_components(response: HttpResponse, form: str = "auto") -> ComponentReport:
    """The health report in an answer, read as `form` (recognised by its shape for `auto`).
    A body that is no report of that format is `error`, never a guess."""
    body = response.json_body if response.json_error is None else None
    reading = read_report(body, response.text, response.status, form)
    if reading.error is not None:
        reason = reading.error
        if body is None and response.json_error and form not in ("kubernetes", "aspnet"):
            reason = response.json_error
        return ComponentReport(response, reading.format, error=reason)
    return ComponentReport(
        response,
        reading.format,
        reading.overall,
        reading.level,
        reading.components,
        reading.note,
    )
