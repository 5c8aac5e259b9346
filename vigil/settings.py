"""Building blocks of the environment file's models, shared by every family's settings.

`Model` is immutable and refuses unknown keys (a typo is an error, not a silently ignored
setting). `TargetSettings` holds what every target accepts: a severity override and its own
`timeout_s`. Families subclass it for their targets (`vigil/families/*/spec.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from vigil.redact import redact_text
from vigil.severity import Severity


def _severity(value: Any) -> Any:
    return Severity.parse(value) if isinstance(value, str) else value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with http:// or https://, got {redact_text(value)!r}")
    return _address(value)


def _address(value: str) -> str:
    """A URL or DSN whose host and port can be read. The message never repeats the value:
    a password with an unencoded `/` or `@` makes the URL parser read part of it as the
    port, which must not be shown."""
    if "://" not in value:
        return value  # a libpq keyword string, or a socket path
    problem = ValueError(
        "the host or port cannot be read (a port is a number from 1 to 65535; characters"
        " such as / @ : # in a user name or password must be percent-encoded)"
    )
    try:
        parts = urlsplit(value)
    except ValueError:
        raise problem from None
    # libpq takes several hosts, `h1:5432,h2:5433`: each port must be a number.
    for host in parts.netloc.rpartition("@")[2].split(","):
        _, colon, port = (host.rpartition("]")[2] if host.startswith("[") else host).partition(":")
        if colon and port and not (port.isdigit() and 0 < int(port) < 65536):
            raise problem
    if parts.scheme in ("http", "https") and not parts.hostname:
        raise ValueError("the host is missing")
    return value


@dataclass(frozen=True)
class FileSetting:
    """Marks a setting that names a file Vigil reads (`vigil env check` checks it exists):
    relative paths are read from the environment file's directory, or from the working
    directory, as the family that reads it does."""

    relative_to: Literal["environment file", "working directory"] = "working directory"


def file_settings(model: type[Any]) -> Iterator[tuple[str, FileSetting]]:
    """The settings of a model that name a file, with their `FileSetting`."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return
    for name, info in model.model_fields.items():
        marker = _file_marker(info.annotation)
        if marker is not None:
            yield name, marker


def _file_marker(annotation: Any) -> FileSetting | None:
    for part in getattr(annotation, "__metadata__", ()):
        if isinstance(part, FileSetting):
            return part
    for argument in get_args(annotation):
        found = _file_marker(argument)
        if found is not None:
            return found
    return None


# A severity as a person writes it: sev1..sev4, SEV-2, P1, high (see vigil.severity).
SeverityLevel = Annotated[Severity, BeforeValidator(_severity)]
# One level for every check of a target, or a level per runbook entry id.
SeverityOverride = SeverityLevel | dict[str, SeverityLevel]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
# A URL or DSN of a service (postgresql://, redis://...): its host and port must be readable.
ServiceAddress = Annotated[str, AfterValidator(_address)]
# A file next to the environment file (a cluster dump, a kubeconfig), or one read from the
# working directory (a CA bundle handed to the TLS library).
FileNextToEnvironment = Annotated[str, FileSetting("environment file")]
FileInWorkingDirectory = Annotated[str, FileSetting("working directory")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetSettings(Model):
    """Settings every target shares: a per-target timeout and a severity override.

    `severity: sev1` overrides every check of the target; a mapping overrides per runbook
    entry id, e.g. `{database-connection-usage-high: sev2}`. `timeout_s` is the total time
    one observation of the target may take (connect, TLS, request, every byte of the answer).
    """

    severity: SeverityOverride | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0, le=10)  # re-observations before failing
    retry_delay_s: float | None = Field(default=None, ge=0, le=300)


class Bounded(TargetSettings):
    """A query returning one number, judged against `max`, `min` or both."""

    name: str
    query: str
    max: float | None = None
    min: float | None = None
    runbook: str | None = None

    @model_validator(mode="after")
    def _has_bound(self) -> Bounded:
        if self.max is None and self.min is None:
            raise ValueError("give max, min or both")
        return self
