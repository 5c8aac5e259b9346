"""The pod row of `kubectl get pods`: READY, STATUS and RESTARTS as kubectl computes them.

STATUS follows the server's printer: a failed init container shows `Init:CrashLoopBackOff`,
`Init:Error`, `Init:ErrImageNeverPull` or `Init:ExitCode:1`; a container that ended without a
reason shows `ExitCode:N` or `Signal:N`; native sidecars (restartable init containers) count
as containers; RESTARTS carries the age of the last restart, `5 (3m ago)`.
"""

from __future__ import annotations

from datetime import datetime

from vigil.families.kubernetes.fields import parse_time
from vigil.kube_standin.cells import (
    Json,
    Row,
    age,
    as_dict,
    as_int,
    as_list,
    condition_true,
    human_duration,
    name_of,
)


def _restartable(container: Json | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


def pod_row(pod: Json, now: datetime) -> Row:
    """NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED NODE READINESS GATES."""
    spec, status = as_dict(pod.get("spec")), as_dict(pod.get("status"))
    metadata = as_dict(pod.get("metadata"))
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for condition in as_list(status.get("conditions")):
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    init_specs = {str(c.get("name")): c for c in as_list(spec.get("initContainers"))}
    total = len(as_list(spec.get("containers"))) + sum(
        1 for c in init_specs.values() if _restartable(c)
    )
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    initializing = False
    init_statuses = as_list(status.get("initContainerStatuses"))
    for index, container in enumerate(init_statuses):
        count = as_int(container.get("restartCount"))
        finished = _finished(container)
        restarts += count
        last_restart = _later(last_restart, finished)
        sidecar = _restartable(init_specs.get(str(container.get("name"))))
        if sidecar:
            sidecar_restarts += count
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = as_dict(container.get("state"))
        terminated, waiting = as_dict(state.get("terminated")), as_dict(state.get("waiting"))
        if "terminated" in state and as_int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and container.get("started") is True:
            ready += 1 if container.get("ready") is True else 0
            continue
        if "terminated" in state:
            if terminated.get("reason"):
                reason = f"Init:{terminated['reason']}"
            elif as_int(terminated.get("signal")):
                reason = f"Init:Signal:{as_int(terminated.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{as_int(terminated.get('exitCode'))}"
        elif waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break
    if not initializing or condition_true(status, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        running = False
        for container in reversed(as_list(status.get("containerStatuses"))):
            restarts += as_int(container.get("restartCount"))
            last_restart = _later(last_restart, _finished(container))
            state = as_dict(container.get("state"))
            terminated, waiting = as_dict(state.get("terminated")), as_dict(state.get("waiting"))
            if waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated.get("reason"):
                reason = str(terminated["reason"])
            elif "terminated" in state:
                signal = as_int(terminated.get("signal"))
                exit_code = as_int(terminated.get("exitCode"))
                reason = f"Signal:{signal}" if signal else f"ExitCode:{exit_code}"
            elif container.get("ready") is True and "running" in state:
                running = True
                ready += 1
        if reason == "Completed" and running:
            reason = "Running" if condition_true(status, "Ready") else "NotReady"
    if metadata.get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    shown = str(restarts)
    if restarts and last_restart is not None:
        shown = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    ips = as_list(status.get("podIPs"))
    gates = [str(g.get("conditionType")) for g in as_list(spec.get("readinessGates"))]
    passed = sum(1 for gate in gates if condition_true(status, gate))
    return [
        name_of(pod),
        f"{ready}/{total}",
        reason,
        shown,
        age(pod, now),
        str(ips[0].get("ip")) if ips and ips[0].get("ip") else "<none>",
        str(spec.get("nodeName") or "<none>"),
        str(status.get("nominatedNodeName") or "<none>"),
        f"{passed}/{len(gates)}" if gates else "<none>",
    ]


def _finished(container: Json) -> datetime | None:
    terminated = as_dict(as_dict(container.get("lastState")).get("terminated"))
    value = terminated.get("finishedAt")
    return parse_time(value) if isinstance(value, str) else None


def _later(one: datetime | None, other: datetime | None) -> datetime | None:
    if one is None or (other is not None and other > one):
        return other
    return one
