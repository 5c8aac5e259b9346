"""Vigil's public API: what a team's own repository may import to add checks and families.

Everything a team needs is here, and only here is it promised to stay (`tests/test_packaging.py`
pins this surface). The built-in families are written with the same types.

A check module (`checks/test_<something>.py`) uses `fail`, `require`, `setting`, `Target` and
the observation types; a new family (a system Vigil has no family for) is declared with
`Family`, `TargetKind` and `Observation`, its settings subclass `TargetSettings`, and it is
registered from the suite's `conftest.py`:

    from vigil.api import register_family
    from families.tcp_port import FAMILY

    register_family(FAMILY)

or shipped in a package through the entry point group `vigil.families`. The probe runs on the
run's `ProbeSession`, which bounds it by the target's `timeout_s` as a total time, and every
text it returns is masked and made inert where the check's record is made, as for the
built-in families. docs/extending.md walks through a complete family.
"""

from __future__ import annotations

from vigil.environment import Environment
from vigil.errors import CatalogError, ConfigError, VigilError
from vigil.expect import CheckFailed, NotEvaluated, fail, percent, require, setting
from vigil.family import ENTRY_POINT_GROUP, Family, FamilyError, Observation, TargetKind
from vigil.family import register_family as register_family
from vigil.session import ProbeSession, own_budget
from vigil.settings import (
    FileInWorkingDirectory,
    FileNextToEnvironment,
    HttpUrl,
    Model,
    ServiceAddress,
    SeverityLevel,
    TargetSettings,
)
from vigil.severity import Severity
from vigil.targets import Target

__all__ = [
    "ENTRY_POINT_GROUP",
    "CatalogError",
    "CheckFailed",
    "ConfigError",
    "Environment",
    "Family",
    "FamilyError",
    "FileInWorkingDirectory",
    "FileNextToEnvironment",
    "HttpUrl",
    "Model",
    "NotEvaluated",
    "Observation",
    "ProbeSession",
    "ServiceAddress",
    "Severity",
    "SeverityLevel",
    "Target",
    "TargetKind",
    "TargetSettings",
    "VigilError",
    "fail",
    "own_budget",
    "percent",
    "register_family",
    "require",
    "setting",
]
