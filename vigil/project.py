"""The project the `vigil` command works in: this repository, or a team's own repository.

`find_project(start)` reads the pytest configuration the way a run would (the nearest
`pytest.ini`, `.pytest.ini` or `pyproject.toml` with `[tool.pytest.ini_options]`, from the
working directory up) for the directories Vigil uses: the suite (`vigil_suite`, default
`checks`), the environment files (`vigil_environments`, default `environments`) and the
catalog overlays (`vigil_catalog`, default `runbooks`). Without such a file the working
directory is the project and the built-in checks are the suite.

`load_team_code(project)` makes the team's families known as a run does: the `pythonpath`
ini option is added to `sys.path`, then the project's and the suite's `conftest.py` are
imported (where `vigil.api.register_family` is called) and installed packages' entry points
read (`vigil.families`).
"""

from __future__ import annotations

import configparser
import importlib.util
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.errors import VigilError
from vigil.family import plugged_families
from vigil.runbook import DEFAULT_CATALOG, Catalog, merged_catalog, overlay_files

DEFAULTS = {"vigil_suite": "checks", "vigil_environments": "environments"}
DEFAULT_OVERLAYS = "runbooks"


@dataclass(frozen=True)
class Project:
    """Where a project keeps its checks, environment files and catalog overlays."""

    root: Path
    suite: Path
    environments: Path
    overlays: tuple[Path, ...] = ()  # files or directories that exist
    pythonpath: tuple[Path, ...] = ()
    config_file: Path | None = None
    ini: dict[str, list[str]] = field(default_factory=dict)

    def catalog(self) -> Catalog:
        """The default catalog with the families' entries and the project's overlays."""
        return merged_catalog(overlay_files(self.overlays))


def find_project(start: Path | None = None) -> Project:
    """The project around `start` (default: the working directory), as a run would see it."""
    here = (start or Path.cwd()).resolve()
    config_file, ini = _find_ini(here)
    root = config_file.parent if config_file is not None else here
    suite = root / _first(ini, "vigil_suite")
    if config_file is None and not suite.is_dir():
        suite = DEFAULT_CATALOG.parent  # no project here: the built-in checks
    places = ini.get("vigil_catalog", [DEFAULT_OVERLAYS])
    overlays = []
    for place in places:
        path = root / place
        if path.exists() or place != DEFAULT_OVERLAYS:  # a missing default is no overlay
            overlays.append(path)
    return Project(
        root=root,
        suite=suite,
        environments=root / _first(ini, "vigil_environments"),
        overlays=tuple(overlays),
        pythonpath=tuple(root / p for p in ini.get("pythonpath", [])),
        config_file=config_file,
        ini=ini,
    )


def load_team_code(project: Project) -> None:
    """Import the project's conftest files (which register its families) and read the
    installed packages' families, as a pytest run does before it is configured."""
    for path in reversed(project.pythonpath):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    plugged_families()
    for conftest in (project.root / "conftest.py", project.suite / "conftest.py"):
        if conftest.is_file():
            _import_conftest(conftest)


def _import_conftest(path: Path) -> None:
    # As pytest's default import mode does: the conftest's directory goes on sys.path, so
    # that it can import the modules next to it.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    name = f"vigil_conftest_{abs(hash(str(path)))}"
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except VigilError:
        raise
    except Exception as exc:
        del sys.modules[name]
        raise VigilError(f"{path}: cannot be imported: {type(exc).__name__}: {exc}") from exc


def _find_ini(start: Path) -> tuple[Path | None, dict[str, list[str]]]:
    """The first pytest configuration file from `start` upwards, and its options."""
    for directory in (start, *start.parents):
        for name in ("pytest.ini", ".pytest.ini"):
            path = directory / name
            if path.is_file():
                return path, _read_ini(path)
        path = directory / "pyproject.toml"
        if path.is_file():
            options = _read_pyproject(path)
            if options is not None:
                return path, options
    return None, {}


def _read_ini(path: Path) -> dict[str, list[str]]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise VigilError(f"{path}: cannot be read: {exc}") from None
    if not parser.has_section("pytest"):
        return {}
    return {key: value.split() for key, value in parser.items("pytest")}


def _read_pyproject(path: Path) -> dict[str, list[str]] | None:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise VigilError(f"{path}: cannot be read: {exc}") from None
    pytest_table: Any = document.get("tool", {}).get("pytest")
    if not isinstance(pytest_table, dict):
        return None
    options: Any = pytest_table.get("ini_options", pytest_table)
    return {
        str(key): [str(v) for v in value] if isinstance(value, list) else str(value).split()
        for key, value in options.items()
        if isinstance(value, list | str)
    }


def _first(ini: dict[str, list[str]], name: str) -> str:
    values = ini.get(name) or [DEFAULTS[name]]
    return values[0]
