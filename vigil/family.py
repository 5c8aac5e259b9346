"""Check families: each system Vigil knows is declared once, here or by a team.

A `Family` names its section of the environment file and the type of that section, the kinds
of target it makes from it (each target names its kind's catch-all runbook entry, the one its
own `runbook:` may replace), and for each kind the observations a probe makes of a target.
Everything else is generated from the declarations: the environment file's model, the
target and observation fixtures checks ask for, the system markers, the lookups of the
plugin and the CLI. The built-in families live in `vigil/families/`; a team adds one with
`vigil.api.register_family` (see docs/extending.md).

    Family(name="http", section="http", settings=HttpSection, kinds=(
        TargetKind("http_service", "http.services", make_services,
                   observations=(Observation("http_response", observe_health, health_unobserved),)),
    ))
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from vigil.errors import VigilError
from vigil.targets import Target

if TYPE_CHECKING:
    from vigil.environment import Environment
    from vigil.session import ProbeSession

ObsT = TypeVar("ObsT")

# A probe: reads one target through the session and returns what it saw. It never raises for
# an unhealthy or unreachable system (that is the observation's `error`); the session bounds
# its total time by the target's `timeout_s` and replaces a late answer with `unobserved`.
AsyncProbe = Callable[[Target[Any], "ProbeSession"], Awaitable[ObsT]]
BlockingProbe = Callable[[Target[Any], "ProbeSession"], ObsT]


@dataclass(frozen=True)
class Observation(Generic[ObsT]):
    """What one probe makes of a target, and the fixture checks read it through."""

    fixture: str  # e.g. "http_response"
    probe: AsyncProbe[ObsT] | BlockingProbe[ObsT]
    unobserved: Callable[[Target[Any], str], ObsT]  # the observation when there is none, and why
    blocking: bool = False  # a plain function run on a thread (a client without asyncio)
    # Run once per run before the first observation, outside any target's time: a client
    # library's slow first import is not the system's slowness.
    prepare: Callable[[], object] | None = None
    # At most so many observations at once per key, (key, how many): one at a time on a
    # database's one session, a few hundred per HTTP origin. Waiting for a turn is not part
    # of a target's time.
    queue: Callable[[Target[Any]], tuple[Hashable, int] | None] | None = None
    # Made from another observation (the probe awaits `session.observe(...)` of it): it takes
    # no slot, turn or admission of its own, which the one it waits for needs.
    derived: bool = False


@dataclass(frozen=True)
class TargetKind:
    """One kind of target a family makes from its section (a service, a database...)."""

    fixture: str  # e.g. "http_service"
    where: str  # where such targets are written in a file, for messages: "http.services"
    targets: Callable[[Environment, Any], Iterable[Target[Any]]]  # (environment, section)
    observations: tuple[Observation[Any], ...]


@dataclass(frozen=True)
class Family:
    """A system Vigil checks: its section of the environment file and what it makes of it."""

    name: str  # the system marker, e.g. "http"
    description: str  # the marker's help text
    section: str  # the top-level key of environment files
    settings: Any  # the section's type: a model, or list[Model]
    kinds: tuple[TargetKind, ...]


class FamilyError(VigilError):
    """A family declaration clashes with another one or is incomplete."""


_registered: dict[str, Family] = {}


def register_family(family: Family) -> None:
    """Add a team's family. Names, sections and fixtures must not clash with any other."""
    taken = {
        **{f.name: f"family {f.name}" for f in families()},
        **{f.section: f"the section of family {f.name}" for f in families()},
        **{name: f"a fixture of family {kind_of(name)}" for name in fixture_names()},
    }
    for name in (family.name, family.section):
        if name in taken and _registered.get(family.name) is not family:
            raise FamilyError(f"family {family.name}: {name!r} is already {taken[name]}")
    for kind in family.kinds:
        for fixture in (kind.fixture, *(o.fixture for o in kind.observations)):
            if fixture in taken and _registered.get(family.name) is not family:
                raise FamilyError(f"family {family.name}: fixture {fixture!r} is already taken")
    _registered[family.name] = family


def families() -> list[Family]:
    """The built-in families, then the ones teams registered."""
    from vigil.families import BUILTIN

    return [*BUILTIN, *_registered.values()]


def target_kinds() -> dict[str, TargetKind]:
    """Every kind of target by its fixture name."""
    return {kind.fixture: kind for family in families() for kind in family.kinds}


def family_of_kind() -> dict[str, Family]:
    """The family of each kind of target, by the kind's fixture name."""
    return {kind.fixture: family for family in families() for kind in family.kinds}


def observations() -> dict[str, tuple[TargetKind, Observation[Any]]]:
    """Every observation by its fixture name, with the kind of target it observes."""
    return {
        observation.fixture: (kind, observation)
        for kind in target_kinds().values()
        for observation in kind.observations
    }


def fixture_names() -> list[str]:
    return [*target_kinds(), *observations()]


def kind_of(fixture: str) -> str:
    """The family that declares a fixture (for messages)."""
    for family in families():
        for kind in family.kinds:
            if fixture == kind.fixture or fixture in (o.fixture for o in kind.observations):
                return family.name
    return "?"
