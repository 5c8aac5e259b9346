"""The environment model: one YAML file per environment, read once into immutable objects.

`load_environment(path, variables)` expands `${VAR}` and `${VAR:-default}` from `variables`
(the caller passes the process environment; this module never reads it), validates the
result against the model (the common keys below, plus one section per registered family:
`vigil.family`) and returns an `Environment` holding its targets, made once, by kind. Every
problem is reported as a `ConfigError` naming the file and the key path
(`http.services[2].url: ...`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, create_model, field_validator

from vigil.errors import ConfigError
from vigil.escalation import EscalationStep
from vigil.family import Family, families, target_kinds
from vigil.redact import configured_secrets, redact_text
from vigil.settings import Model
from vigil.targets import Target

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when it is installed

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
MAX_FILE_BYTES = 1 << 20


class EnvironmentSettings(Model):
    """The top-level keys every environment file may have, besides the families' sections."""

    name: str | None = None
    runbook_url: str | None = None
    vars: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=5, gt=0)
    retries: int = Field(default=0, ge=0, le=10)  # re-observations of a failing check
    retry_delay_s: float = Field(default=1, ge=0, le=300)
    escalation: list[EscalationStep] = Field(default_factory=list)  # rendered into sev1 steps

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
            made = list(kind.targets(environment, section)) if section is not None else []
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
                problems.append(f"{where}: runbook: no entry {own!r} in the catalog")
            overrides = getattr(target.spec, "severity", None)
            for entry_id in overrides if isinstance(overrides, dict) else ():
                if entry_id not in known:
                    problems.append(f"{where}: severity: no entry {entry_id!r} in the catalog")
    return list(dict.fromkeys(problems))


def expand_variables(
    node: Any, variables: Mapping[str, str], path: str = "", used: set[str] | None = None
) -> tuple[Any, list[str]]:
    """Expand `${VAR}` and `${VAR:-default}` in every string of a YAML tree.

    Returns the expanded tree and the list of problems (one per unset variable, with its
    key path); the names of the variables used are added to `used` (their values are masked
    in every output). A value that is exactly one `${VAR}` keeps its text type; YAML typing is
    not re-applied, so numbers and booleans must be written literally or coerced by the model.
    """
    problems: list[str] = []
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            out[key], sub = expand_variables(value, variables, _join(path, str(key)), used)
            problems += sub
        return out, problems
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            item, sub = expand_variables(value, variables, f"{path}[{index}]", used)
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
            problems.append(
                f"{path or '(top)'}: environment variable {name} is not set"
                f" (set it, or write ${{{name}:-default}})"
            )
            return match.group(0)

        return _VARIABLE.sub(substitute, node), problems
    return node, problems


def find_environment_files(args: list[str], directory: Path) -> list[Path]:
    """Environment files from `--env` values: NAME (`directory/NAME.yaml`), a PATH.yaml, or
    `all` (every `*.yaml` of `directory` but `*.example.yaml`); the default is the sandbox.
    Raises `ConfigError` naming the value that finds no file."""
    paths: list[Path] = []
    for arg in args or ["sandbox"]:
        if arg == "all":
            found = sorted(
                p for p in directory.glob("*.yaml") if not p.name.endswith(".example.yaml")
            )
            if not found:
                raise ConfigError(str(directory), [f"all: no environment files in {directory}"])
            paths += found
        elif arg.endswith((".yaml", ".yml")) or os.sep in arg:
            paths.append(Path(arg).resolve())
        else:
            path = directory / f"{arg}.yaml"
            if not path.exists():
                known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml"))) or "none"
                raise ConfigError(str(path), [f"{arg}: there is no {path} (known: {known})"])
            paths.append(path)
    return list(dict.fromkeys(paths))


def load_environment(
    path: Path, variables: Mapping[str, str], public: Collection[str] = ()
) -> Environment:
    """Read, expand and validate one environment file; raise `ConfigError` on any problem.

    The values of the variables it uses become the environment's secrets, masked in every
    output, but for the `public` ones (the sandbox's own addresses, say)."""
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            source, [f"(top): the file is larger than {MAX_FILE_BYTES // 1024} KiB; not read"]
        )
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_Loader)
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"(top): not UTF-8 text ({exc.reason})"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"{where}not valid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError(source, ["(top): nested too deeply to be an environment file"]) from None
    return build_environment(raw, variables, source, path.stem, public)


def build_environment(
    raw: Any,
    variables: Mapping[str, str],
    source: str,
    default_name: str,
    public: Collection[str] = (),
) -> Environment:
    """Expand, validate and make the targets of an environment read from `source`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [f"(top): expected a mapping of sections, got {_kind(raw)}"])
    used: set[str] = set()
    try:
        expanded, problems = expand_variables(raw, variables, used=used)
    except RecursionError:
        raise ConfigError(source, ["(top): nested too deeply to be an environment file"]) from None
    if problems:
        raise ConfigError(source, problems)
    try:
        spec = spec_model().model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(error) for error in exc.errors()]) from None
    secrets = frozenset(variables[n] for n in used if n not in public) | configured_secrets(spec)
    environment = Environment(spec.name or default_name, source, spec, secrets=secrets)
    problems = _make_targets(environment)
    if problems:
        raise ConfigError(source, problems)
    return environment


def _describe(error: Any) -> str:
    location = ""
    for part in error["loc"]:
        if isinstance(part, int):
            location += f"[{part}]"
        elif part in ("str", "dict[str,str]") or str(part).startswith(("literal[", "function-")):
            continue  # union branches are pydantic's bookkeeping, not the user's keys
        else:
            location = _join(location, str(part))
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key (check the spelling; see the environment file reference)"
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = error["msg"]
        if kind not in ("value_error", "assertion_error") and "input" in error:
            message += f" (got {_show(error['input'])})"
        message = message.removeprefix("Value error, ")
    return f"{location or '(top)'}: {message}"


def _show(value: Any) -> str:
    if isinstance(value, dict):  # a mapping where a value belongs may hold any secret
        return f"a mapping with keys {', '.join(map(str, value))}"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    text = redact_text(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
