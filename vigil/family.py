"""Check families: each system Vigil knows is declared once, here or by a team.

A `Family` names its section of the environment file and the type of that section, the kinds
of target it makes from it (each target names its kind's catch-all runbook entry, the one its
own `runbook:` may replace), and for each kind the observations a probe makes of a target.
Everything else is generated from the declarations: the environment file's model, the
target and observation fixtures checks ask for, the system markers, the lookups of the
plugin and the CLI. The built-in families live in `vigil/families/`; a team adds one with
`vigil.api.register_family` in its suite's conftest.py, or ships it in a package through the
entry point group `vigil.families` (see docs/extending.md).

    Family(name="http", section="http", settings=HttpSection, kinds=(
        TargetKind("http_service", "http.services", make_services,
                   observations=(Observation("http_response", observe_health, health_unobserved),),
                   reachability="test_health_endpoint"),
    ))

A kind's `reachability` names the check that says whether its targets can be reached at all
(root cause first): when that check's observation says the target is unreachable, the
target's other failing checks are reported as `not evaluated: <target> unreachable`, blocked
by it, instead of each telling the same outage under its own runbook entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
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
    # no slot, turn or admission of its own, which the one it waits for needs, and no clock
    # of its own either: the one it reads is bounded by `timeout_s` once it has its turn.
    derived: bool = False


def has_error(observation: Any) -> bool:
    """The default reading of unreachability: the probe could not make its observation."""
    return bool(getattr(observation, "error", None))


@dataclass(frozen=True)
class Reachability:
    """Which check says a target can be reached at all, and how its observation tells.

    `check` is the check function (`test_ping`); it runs on the target itself, or, with
    `kind`, on the target of that kind whose settings are this target's `parent` (an SQL
    assertion's database, a status route's service, a rule's Prometheus). `observation` is
    the fixture the decision reads (default: the first observation of that kind), and
    `unreachable` the predicate on it (default: it has an `error`): an HTTP 503 is an answer,
    a refused port is not; a PostgreSQL role refused for its privileges is a misconfiguration.
    """

    check: str
    kind: str | None = None
    observation: str | None = None
    unreachable: Callable[[Any], bool] = has_error


@dataclass(frozen=True)
class TargetKind:
    """One kind of target a family makes from its section (a service, a database...)."""

    fixture: str  # e.g. "http_service"
    where: str  # where such targets are written in a file, for messages: "http.services"
    targets: Callable[[Environment, Any], Iterable[Target[Any]]]  # (environment, section)
    observations: tuple[Observation[Any], ...]
    # The check that carries an unreachable target's failure (a name, or a `Reachability`).
    reachability: str | Reachability | None = None

    @property
    def reaching(self) -> Reachability | None:
        """`reachability` as a `Reachability`."""
        if isinstance(self.reachability, str):
            return Reachability(self.reachability)
        return self.reachability


@dataclass(frozen=True)
class Family:
    """A system Vigil checks: its section of the environment file and what it makes of it."""

    name: str  # the system marker, e.g. "http"
    description: str  # the marker's help text
    section: str  # the top-level key of environment files
    settings: Any  # the section's type: a model, or list[Model]
    kinds: tuple[TargetKind, ...]
    # Its runbook entries (a YAML list, as checks/runbook.yaml), merged over the built-in
    # catalog before the team's own overlays; entries may also live in those overlays alone.
    catalog: Path | None = None


class FamilyError(VigilError):
    """A family declaration clashes with another one or is incomplete."""


ENTRY_POINT_GROUP = "vigil.families"

_registered: dict[str, Family] = {}  # by register_family, for this run (reset_registered)
_plugged: dict[str, Family] | None = None  # from installed packages' entry points, once


def register_family(family: Family) -> None:
    """Add a team's family (from the suite's conftest.py; before the run is configured).

    Registering a family of a name already registered replaces it (a conftest imported again
    by a second run in one process). Its name, section and fixtures must not clash with any
    other family's; a `FamilyError` says which."""
    if not isinstance(family, Family):
        raise FamilyError(f"register_family takes a vigil.api.Family, got {type(family).__name__}")
    replaced = _registered.get(family.name)
    _check_clashes(family, [f for f in families() if f is not replaced])
    _registered[family.name] = family


def reset_registered() -> None:
    """Forget the families registered with `register_family` (at the end of a run)."""
    _registered.clear()


def _check_clashes(family: Family, others: list[Family]) -> None:
    taken = {
        **{f.name: f"family {f.name}" for f in others},
        **{f.section: f"the section of family {f.name}" for f in others},
        **{
            fixture: f"a fixture of family {f.name}"
            for f in others
            for kind in f.kinds
            for fixture in (kind.fixture, *(o.fixture for o in kind.observations))
        },
    }
    for what, name in (("name", family.name), ("section", family.section)):
        if name in taken:
            raise FamilyError(f"family {family.name}: its {what} {name!r} is already {taken[name]}")
    for kind in family.kinds:
        for fixture in (kind.fixture, *(o.fixture for o in kind.observations)):
            if fixture in taken:
                raise FamilyError(
                    f"family {family.name}: fixture {fixture!r} is already {taken[fixture]}"
                )


def plugged_families() -> list[Family]:
    """Families installed packages declare under the entry point group `vigil.families`
    (each entry point names a `Family`), loaded once."""
    global _plugged
    if _plugged is None:
        from vigil.families import BUILTIN

        found: dict[str, Family] = {}
        for point in entry_points(group=ENTRY_POINT_GROUP):
            try:
                family = point.load()
            except Exception as exc:
                raise FamilyError(
                    f"entry point {point.name} = {point.value} ({ENTRY_POINT_GROUP}) cannot be"
                    f" loaded: {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(family, Family):
                raise FamilyError(
                    f"entry point {point.name} = {point.value} ({ENTRY_POINT_GROUP}) is not a"
                    f" vigil.api.Family but {type(family).__name__}"
                )
            _check_clashes(family, [*BUILTIN, *found.values()])
            found[family.name] = family
        _plugged = found
    return list(_plugged.values())


def families() -> list[Family]:
    """The built-in families, those installed packages declare, then the ones registered."""
    from vigil.families import BUILTIN

    return [*BUILTIN, *plugged_families(), *_registered.values()]


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
