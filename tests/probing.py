"""Targets and observations for probe tests, made the way a run makes them: targets from
environment-file text, observations through a probe session (same total timeouts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vigil.environment import Environment, load_environment
from vigil.families.http import probe as http_probe
from vigil.families.http.probe import HttpResponse
from vigil.family import observations
from vigil.session import ProbeSession
from vigil.targets import Target


def targets_of(kind: str, environment: Environment) -> list[Target[Any]]:
    """The environment's targets of one kind (`http_service`, `database`, ...)."""
    return list(environment.targets.get(kind, []))


def load_targets(directory: Path, kind: str, text: str, name: str = "probe") -> list[Target[Any]]:
    """Write `text` as `name.yaml` in `directory`, load it and return its targets of `kind`."""
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return targets_of(kind, load_environment(path, {}))


def observe(fixture: str, target: Target[Any], session: ProbeSession | None = None) -> Any:
    """What the probe behind an observation fixture (`pg_status`, ...) sees of `target`,
    through `session` (a fresh one, closed afterwards, when none is given)."""
    observation = observations()[fixture][1]
    if session is not None:
        return session.result(observation, target)
    with ProbeSession() as own:
        return own.result(observation, target)


def fetch(url: str, **options: Any) -> HttpResponse:
    """One request through a fresh probe session, as the HTTP-based probes make it."""
    with ProbeSession() as session:
        return session.run(http_probe.fetch(session, url, **options))
