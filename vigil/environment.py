"""The environment model: one YAML file per environment, read once into immutable objects.

`load_environment(path, variables)` expands `${VAR}` and `${VAR:-default}` from `variables`
(the caller passes the process environment; this module never reads it), validates the
result against the model (the common keys below, plus one section per registered family:
`vigil.family`) and returns an `Environment` holding its targets, made once, by kind. Every
problem is reported as a `ConfigError` naming the file and the key path
(`http.services[2].url: ...`), in the file's words (`vigil.validation`): whatever a file
holds (deep nesting, alias bombs, a bad port, unreadable values), reading it ends in an
`Environment` or in that one-line error (`vigil.yamlfile` bounds the reading).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, create_model, field_validator

from vigil.errors import ConfigError, VigilError
from vigil.escalation import EscalationStep
from vigil.family import Family, families, target_kinds
from vigil.notify.spec import NotifySettings
from vigil.redact import configured_secrets
from vigil.settings import Model, file_settings
from vigil.silences import Silence
from vigil.targets import Target
from vigil.validation import describe, did_you_mean, printable
from vigil.yamlfile import MAX_FILE_BYTES, YamlProblem, read_yaml

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOP_LEVEL_KEY = re.compile(r"^([\"']?)([A-Za-z_][\w.-]*)\1[ \t]*:(?:[ \t]|$)", re.MULTILINE)

__all__ = ["MAX_FILE_BYTES", "Environment", "NotSetHere", "load_environment"]


class NotSetHere(VigilError):
    """A file that is valid as far as it can be checked while some of its `${VAR}`s are not
    set (`vigil env check --no-secrets`); `unset` maps each key path to its variable."""

    def __init__(self, source: str, unset: Mapping[str, str]) -> None:
        self.source = source
        self.unset = dict(unset)
        super().__init__(f"{source}: variables not set here: {', '.join(self.unset.values())}")


class EnvironmentSettings(Model):
    """The top-level keys every environment file may have, besides the families' sections."""

    name: str | None = None
    runbook_url: str | None = None
    vars: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=5, gt=0)
    retries: int = Field(default=0, ge=0, le=10)  # re-observations of a failing check
    retry_delay_s: float = Field(default=1, ge=0, le=300)
    escalation: list[EscalationStep] = Field(default_factory=list)  # rendered into sev1 steps
    notify: NotifySettings | None = None  # where news goes, with --notify (vigil.notify)
    silences: list[Silence] = Field(default_factory=list)  # known failures (vigil.silences)

    @field_validator("vars", mode="before")
    @classmethod
    def _vars_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            # `key:` with no value is empty, not the text "None"
            return {k: "" if v is None else str(v) for k, v in value.items()}
        return value

    def section(self, name: str) -> Any:
        """A family's section as written (None when the file has none)."""
        return getattr(self, name, None)


@cache
def _spec_model(families: tuple[Family, ...]) -> type[EnvironmentSettings]:
    sections: dict[str, Any] = {f.section: (f.settings | None, None) for f in families}
    return create_model("EnvironmentSpec", __base__=EnvironmentSettings, **sections)


def spec_model() -> type[EnvironmentSettings]:
    """The environment file's model: the common keys and every registered family's section."""
    return _spec_model(tuple(families()))


@dataclass(frozen=True, eq=False)
class Environment:
    """A loaded environment: its name, source file, validated settings and its targets."""

    name: str
    source: str
    spec: EnvironmentSettings
    targets: dict[str, list[Target[Any]]] = field(default_factory=dict)  # by kind fixture
    secrets: frozenset[str] = frozenset()  # ${VAR} values, configured secrets: masked everywhere

    @property
    def timeout_s(self) -> float:
        return self.spec.timeout_s

    def link(self, entry_id: str) -> str | None:
        """The runbook link for an entry, `{runbook_url}#{entry id}`, if a base URL is set."""
        if not self.spec.runbook_url:
            return None
        return f"{self.spec.runbook_url.rstrip('#')}#{entry_id}"

    def all_targets(self) -> list[Target[Any]]:
        return [target for targets in self.targets.values() for target in targets]


def _make_targets(environment: Environment) -> list[str]:
    """Fill `environment.targets` from its sections; returns problems (names used twice)."""
    problems = []
    for family in families():
        section = environment.spec.section(family.section)
        for kind in family.kinds:
            try:
                made = list(kind.targets(environment, section)) if section is not None else []
            except Exception as exc:  # a family's own code (maybe a team's): not the run's end
                problems.append(
                    f"{kind.where}: the {family.name} family could not make its targets from"
                    f" this section ({type(exc).__name__}); this is a bug in the family"
                )
                made = []
            environment.targets[kind.fixture] = made
            seen: set[str] = set()
            for target in made:
                if target.name in seen:
                    problems.append(f"{kind.where}: name {target.name!r} is used twice")
                seen.add(target.name)
    return problems


def catalog_problems(environment: Environment, known: Collection[str]) -> list[str]:
    """Problems, one per `runbook:` or severity-override key naming an entry not in the
    catalog, so a typo is reported with its environment instead of stopping every run."""
    problems = []
    kinds = target_kinds()
    for fixture, targets in environment.targets.items():
        for target in targets:
            where = f"{kinds[fixture].where} {target.name!r}"
            own = getattr(target.spec, "runbook", None)
            if own and target.catch_all is None:
                problems.append(f"{where}: runbook: this kind of target takes no runbook")
            elif own and own not in known:
                problems.append(
                    f"{where}: runbook: no entry {own!r} in the catalog{_guess(own, known)}"
                )
            overrides = getattr(target.spec, "severity", None)
            for entry_id in overrides if isinstance(overrides, dict) else ():
                if entry_id not in known:
                    problems.append(
                        f"{where}: severity: no entry {entry_id!r} in the catalog"
                        f"{_guess(entry_id, known)}"
                    )
    return list(dict.fromkeys(problems))


def missing_files(environment: Environment) -> list[str]:
    """Problems, one per setting naming a file that does not exist (a cluster snapshot, a
    kubeconfig, a CA bundle: the settings typed with a `FileSetting`), read from where the
    family reads it."""
    problems = []
    kinds = target_kinds()
    seen: set[tuple[int, str]] = set()  # a section shared by several targets: once
    for fixture, targets in environment.targets.items():
        for target in targets:
            for name, where in file_settings(type(target.spec)):
                value = getattr(target.spec, name, None)
                if not value or (id(target.spec), name) in seen:
                    continue
                seen.add((id(target.spec), name))
                path = Path(str(value)).expanduser()
                if not path.is_absolute() and where.relative_to == "environment file":
                    path = Path(environment.source).parent / path
                if not path.is_file():
                    problems.append(
                        f"{kinds[fixture].where} {target.name!r}: {name}: no file {path}"
                    )
    return list(dict.fromkeys(problems))


def expand_variables(
    node: Any,
    variables: Mapping[str, str],
    path: str = "",
    used: set[str] | None = None,
    unset: dict[str, str] | None = None,
) -> tuple[Any, list[str]]:
    """Expand `${VAR}` and `${VAR:-default}` in every string of a YAML tree.

    Returns the expanded tree and the list of problems (one per unset variable, with its
    key path); the names of the variables used are added to `used` (their values are masked
    in every output). With `unset` given, an unset variable is no problem: its `${VAR}` stays
    as written and its key path is recorded there. A value that is exactly one `${VAR}` keeps
    its text type; YAML typing is not re-applied, so numbers and booleans must be written
    literally or coerced by the model. The tree was bounded when read (`vigil.yamlfile`).
    """
    problems: list[str] = []
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            out[key], sub = expand_variables(value, variables, _join(path, str(key)), used, unset)
            problems += sub
        return out, problems
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            item, sub = expand_variables(value, variables, f"{path}[{index}]", used, unset)
            items.append(item)
            problems += sub
        return items, problems
    if isinstance(node, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in variables and variables[name] != "":
                if used is not None:
                    used.add(name)
                return variables[name]
            if default is not None:
                return default
            if unset is not None:
                unset[path or "(top)"] = name
                return match.group(0)
            problems.append(
                f"{path or '(top)'}: environment variable {name} is not set"
                f" (set it, or write ${{{name}:-default}})"
            )
            return match.group(0)

        return _VARIABLE.sub(substitute, node), problems
    return node, problems


def find_environment_files(
    args: list[str], directory: Path, skipped: list[str] | None = None
) -> list[Path]:
    """Environment files from `--env` values: NAME (`directory/NAME.yaml`), a PATH.yaml, or
    `all` (every `*.yaml` of `directory` but `*.example.yaml` and files that are not
    environment files, each named in `skipped` with the reason); the default is the sandbox.
    Raises `ConfigError` naming the value that finds no file."""
    paths: list[Path] = []
    for arg in args or ["sandbox"]:
        if arg == "all":
            found = []
            for path in sorted(directory.glob("*.yaml")):
                if path.name.endswith(".example.yaml"):
                    continue
                reason = not_environment(path)
                if reason is None:
                    found.append(path)
                elif skipped is not None:
                    skipped.append(f"{path}: skipped, {reason}")
            if not found:
                raise ConfigError(str(directory), [f"all: no environment files in {directory}"])
            paths += found
        elif arg.endswith((".yaml", ".yml")) or os.sep in arg:
            paths.append(Path(arg).resolve())
        else:
            path = directory / f"{arg}.yaml"
            if not path.exists():
                known = sorted(p.stem for p in directory.glob("*.yaml"))
                guess = did_you_mean(arg, known)
                hint = f"did you mean {guess}? " if guess else ""
                raise ConfigError(
                    str(path),
                    [f"{arg}: there is no {path} ({hint}known: {', '.join(known) or 'none'})"],
                )
            paths.append(path)
    return list(dict.fromkeys(paths))


def top_level_keys() -> set[str]:
    """The keys an environment file may have at its top: the common ones and the sections."""
    return set(spec_model().model_fields)


def not_environment(path: Path) -> str | None:
    """Why a file found by `--env all` is not an environment file (a cluster dump saved next
    to them, say), or None when it may be one. Read as text, never parsed: a broken
    environment file must still be loaded, and reported."""
    try:
        with path.open("rb") as handle:
            text = handle.read(MAX_FILE_BYTES).decode("utf-8", "replace")
    except OSError:
        return None  # loading it will say what is wrong
    keys = [match.group(2) for match in _TOP_LEVEL_KEY.finditer(text)]
    if {"apiVersion", "kind"} & set(keys):
        return "not an environment file (apiVersion/kind at the top: a Kubernetes object)"
    known = top_level_keys()
    if keys and not known & set(keys):
        guesses = [f"{key} -> {g}" for key in keys if (g := did_you_mean(key, known))]
        hint = f"; did you mean {', '.join(guesses)}?" if guesses else ""
        return f"not an environment file (no known top-level key{hint})"
    return None


def load_environment(
    path: Path,
    variables: Mapping[str, str],
    public: Collection[str] = (),
    unset: dict[str, str] | None = None,
) -> Environment:
    """Read, expand and validate one environment file; raise `ConfigError` on any problem.

    The values of the variables it uses become the environment's secrets, masked in every
    output, but for the `public` ones (the sandbox's own addresses, say). With `unset` given,
    unset variables are recorded there instead of being problems (`NotSetHere` when the file
    cannot be made into an environment without them)."""
    source = str(path)
    try:
        raw = read_yaml(path)
    except YamlProblem as exc:
        raise _refused(source, [exc.problem]) from None
    return build_environment(raw, variables, source, path.stem, public, unset)


def build_environment(
    raw: Any,
    variables: Mapping[str, str],
    source: str,
    default_name: str,
    public: Collection[str] = (),
    unset: dict[str, str] | None = None,
) -> Environment:
    """Expand, validate and make the targets of an environment read from `source`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _refused(source, [f"(top): expected a mapping of sections, got {_kind(raw)}"])
    used: set[str] = set()
    expanded, problems = expand_variables(raw, variables, used=used, unset=unset)
    if problems:
        raise _refused(source, problems)
    try:
        spec = spec_model().model_validate(expanded)
    except ValidationError as exc:
        problems = describe(exc, spec_model())
        if unset:
            problems = [p for p in problems if not _about_unset(p, unset)]
            if not problems:
                raise NotSetHere(source, unset) from None
        raise _refused(source, problems) from None
    secrets = frozenset(variables[n] for n in used if n not in public) | configured_secrets(spec)
    environment = Environment(spec.name or default_name, source, spec, secrets=secrets)
    problems = _make_targets(environment)
    if problems:
        raise _refused(source, problems)
    return environment


def _guess(word: str, known: Collection[str]) -> str:
    guess = did_you_mean(str(word), known)
    return f" (did you mean {guess}?)" if guess else ""


def _refused(source: str, problems: list[str]) -> ConfigError:
    """The error for a file's problems, each kept to one printable line."""
    return ConfigError(source, [printable(problem) for problem in problems])


def _about_unset(problem: str, unset: Mapping[str, str]) -> bool:
    """Whether a problem is at (or around) a value holding a variable not set here."""
    where = problem.split(": ", 1)[0]
    return any(
        where == path or path.startswith((f"{where}.", f"{where}[")) for path in unset
    ) or any(where.startswith((f"{path}.", f"{path}[")) for path in unset)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
