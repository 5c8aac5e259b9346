"""`vigil init DIR`: a team's own repository, with Vigil installed rather than forked.

It holds the pytest configuration, one module per built-in check module that collects it
(`from vigil.checks.test_http import *`: same ids, markers, remediation and reports as in
Vigil's repository), one example team check, the team's catalog overlay with an example
entry, an example environment and the sandbox's, and a README with the two commands.
Existing files are kept: `vigil init .` completes a repository without touching its files.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from vigil.runbook import DEFAULT_CATALOG

# Template files, by the path they are written to.
TEMPLATES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md",
    ".gitignore": "gitignore",
    "checks/conftest.py": "checks/conftest.py.tmpl",
    "checks/test_team.py": "checks/test_team.py.tmpl",
    "runbooks/team.yaml": "runbooks/team.yaml",
    "environments/example.yaml": "environments/example.yaml",
    "environments/sandbox.yaml": "environments/sandbox.yaml",
}


def builtin_check_modules() -> list[str]:
    """The names of the built-in check modules (`test_http`, ...)."""
    return sorted(path.stem for path in DEFAULT_CATALOG.parent.glob("test_*.py"))


def starter_files(name: str) -> dict[str, str]:
    """Every file of the starter repository, by its path, for a project called `name`."""
    from vigil.cli import vigil_version

    templates = resources.files("vigil.starter") / "repository-template"
    files = {
        path: (templates / source)
        .read_text(encoding="utf-8")
        .replace("{{name}}", name)
        .replace("{{version}}", vigil_version())
        for path, source in TEMPLATES.items()
    }
    for module in builtin_check_modules():
        files[f"checks/{module}.py"] = (
            f'"""Vigil\'s built-in checks of vigil.checks.{module}, collected here."""\n\n'
            f"from vigil.checks.{module} import *  # noqa: F401,F403\n"
        )
    return files


def write_starter(directory: Path) -> tuple[list[Path], list[Path]]:
    """Write the starter repository into `directory`; returns the files written and the ones
    kept because they existed."""
    name = directory.resolve().name or "platform"
    written, kept = [], []
    for relative, text in starter_files(name).items():
        path = directory / relative
        if path.exists():
            kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written, kept
