"""Targets for probe tests, built the way a run builds them: from environment-file text."""

from __future__ import annotations

from pathlib import Path

from vigil.environment import load_environment
from vigil.targets import Target, targets_for


def load_targets(directory: Path, kind: str, text: str, name: str = "probe") -> list[Target]:
    """Write `text` as `name.yaml` in `directory`, load it and return its targets of `kind`."""
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return targets_for(kind, [load_environment(path, {})])
