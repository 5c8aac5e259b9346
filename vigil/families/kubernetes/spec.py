"""Settings of the Kubernetes family: `kubernetes:` in an environment file; see
docs/kubernetes.md."""

from __future__ import annotations

from collections import Counter

from pydantic import Field, model_validator

from vigil.settings import FileNextToEnvironment, TargetSettings


class KubernetesSection(TargetSettings):
    """Where the cluster is (kubeconfig + context, in_cluster, or a snapshot file), which
    namespaces to check, and the thresholds."""

    context: str | None = None
    kubeconfig: FileNextToEnvironment | None = None
    in_cluster: bool = False
    snapshot: FileNextToEnvironment | None = None
    namespaces: list[str] = Field(default_factory=list)
    max_restarts: int = Field(default=5, ge=0)
    pending_grace_s: float = Field(default=300, ge=0)
    event_window_min: float = Field(default=30, gt=0)
    required_secrets: dict[str, list[str]] = Field(default_factory=dict)
    shared_secret_keys: list[str] = Field(default_factory=list)
    warn_days: float = Field(default=30, ge=0)
    critical_days: float = Field(default=7, ge=0)
    logs: bool = False

    @property
    def shared_keys(self) -> list[str]:
        """Keys whose value must be the same in every secret holding them: the ones listed in
        `shared_secret_keys`, and any key required in more than one secret."""
        required = Counter(key for keys in self.required_secrets.values() for key in set(keys))
        shared = set(self.shared_secret_keys) | {k for k, n in required.items() if n > 1}
        return sorted(shared)

    @property
    def shared_keys_across(self) -> list[str]:
        """The shared keys, when there are several namespaces to compare them across."""
        return self.shared_keys if len(self.namespaces) > 1 else []

    @model_validator(mode="after")
    def _one_source(self) -> KubernetesSection:
        sources = [s for s in ("context", "kubeconfig", "snapshot") if getattr(self, s)]
        if self.in_cluster and sources:
            raise ValueError(f"in_cluster cannot be combined with {', '.join(sources)}")
        if self.snapshot and (self.context or self.kubeconfig):
            raise ValueError("snapshot cannot be combined with context or kubeconfig")
        if self.critical_days > self.warn_days:
            raise ValueError(
                f"critical_days ({self.critical_days:g}) is above warn_days ({self.warn_days:g})"
            )
        return self
