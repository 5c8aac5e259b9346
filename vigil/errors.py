"""The exceptions Vigil raises for its users.

VigilError                 base: a message meant for a person, never a traceback
├── ConfigError            an environment file is missing, malformed or invalid
├── CatalogError           the runbook catalog is malformed, or a check names an unknown entry
└── SandboxError           the local sandbox could not be started or reached
"""

from __future__ import annotations


class VigilError(Exception):
    """Base of every error Vigil reports to a user."""


class ConfigError(VigilError):
    """An environment file cannot be used; the message names the file and the key path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("; ".join(f"{source}: {p}" for p in problems))


class CatalogError(VigilError):
    """The runbook catalog is invalid, or a check refers to an entry it does not have."""


class SandboxError(VigilError):
    """The embedded sandbox could not be started, found or stopped."""
