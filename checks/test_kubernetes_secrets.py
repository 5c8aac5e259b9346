"""Kubernetes secrets and certificates: what workloads need to start and to serve TLS.

Required secrets and keys exist; keys shared between services hold one value (compared by
salted digest: no value is ever shown); TLS secrets are not about to expire; cert-manager
Certificates are Ready. Settings: `kubernetes:` in the environment file. Probe:
`vigil/families/kubernetes/probe.py`, the same one look per namespace as `test_kubernetes.py`.
"""

from __future__ import annotations

import pytest

from vigil.expect import NotEvaluated, fail, require
from vigil.families.kubernetes.findings import (
    Finding,
    days_left,
    fail_findings,
    need,
    readers,
)
from vigil.families.kubernetes.probe import NamespaceObjects, Namespaces
from vigil.families.kubernetes.secrets import SecretSummary
from vigil.families.kubernetes.spec import KubernetesSection
from vigil.targets import Target


@pytest.mark.runbook("secret-missing")
@pytest.mark.requires("required_secrets")
def test_required_secrets_present(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """Every secret in `required_secrets` (`name`, or `namespace/name` for one namespace only)
    exists with every listed key (key names only)."""
    need(k8s_objects, "secrets")
    held = {s.name: set(s.keys) for s in k8s_objects.secrets}
    found = []
    for wanted, keys in k8s_namespace.spec.required_secrets.items():
        namespace, _, name = wanted.rpartition("/")
        if namespace and namespace != k8s_objects.namespace:
            continue
        found_values = {"secret": name, "deployment": readers(k8s_objects, name)}
        if name not in held:
            found.append(Finding(f"secret/{name}", "does not exist", found_values, 2))
        elif missing := [k for k in keys if k not in held[name]]:
            detail = f"lacks key {', '.join(missing)} (has {', '.join(sorted(held[name])) or '-'})"
            found.append(Finding(f"secret/{name}", detail, found_values, 1))
    fail_findings(k8s_objects, found, "missing or incomplete", "secret")


@pytest.mark.runbook("secret-inconsistent")
@pytest.mark.requires("shared_keys")
def test_shared_secrets_consistent(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """A key shared by several secrets (`shared_secret_keys`, or a key required in more than one
    secret) has the same value in each; compared by salted digest, values are never shown."""
    keys = k8s_namespace.spec.shared_keys
    need(k8s_objects, "secrets")
    found = []
    for key in keys:
        groups: dict[str, list[str]] = {}
        for secret in k8s_objects.secrets:
            if key in secret.digests:
                groups.setdefault(secret.digests[key], []).append(secret.name)
        if len(groups) > 1:
            ordered = sorted(groups.values(), key=lambda names: (-len(names), names))
            described = "; ".join(f"value {n + 1} in {', '.join(g)}" for n, g in enumerate(ordered))
            found.append(
                Finding(
                    key,
                    f"{len(groups)} different values: {described}",
                    {"secret": ordered[-1][0], "deployment": readers(k8s_objects, ordered[-1][0])},
                )
            )
    fail_findings(k8s_objects, found, "differing between secrets", "key")


@pytest.mark.runbook("secret-inconsistent")
@pytest.mark.requires("shared_keys_across")
def test_shared_secrets_consistent_across_namespaces(
    k8s_cluster: Target[KubernetesSection], k8s_namespaces: Namespaces
) -> None:
    """A shared key (`shared_secret_keys`, or a key required in several secrets) holds one
    value across namespaces too: JWT_SECRET in one service's namespace differing from another's
    fails here (differences inside one namespace: test_shared_secrets_consistent)."""
    require(k8s_namespaces, "the namespaces' secrets could not be compared")
    read = [look for look in k8s_namespaces.looks if look not in k8s_namespaces.unread]
    differing = []
    for key in k8s_cluster.spec.shared_keys:
        holders: dict[str, list[tuple[str, str]]] = {}
        for look in read:
            for secret in look.secrets:
                if key in secret.digests:
                    holders.setdefault(secret.digests[key], []).append(
                        (look.namespace, secret.name)
                    )
        spaces = [{namespace for namespace, _ in group} for group in holders.values()]
        across = any(a != b or len(a) > 1 for i, a in enumerate(spaces) for b in spaces[i + 1 :])
        if len(holders) > 1 and across:
            groups = sorted(holders.values(), key=lambda group: (-len(group), group))
            differing.append((key, groups))
    unread = [look.namespace for look in k8s_namespaces.unread]
    if differing:
        key, groups = differing[0]
        odd_namespace, odd_secret = groups[-1][0]
        odd = next(look for look in read if look.namespace == odd_namespace)
        fail(
            f"{len(differing)} shared {'key differs' if len(differing) == 1 else 'keys differ'}"
            " between namespaces: "
            + "; ".join(
                f"{k}: "
                + ", ".join(
                    f"value {n + 1} in " + " ".join(f"{ns}/{name}" for ns, name in group)
                    for n, group in enumerate(gs)
                )
                for k, gs in differing
            ),
            evidence=[
                "values compared by salted digest within this run; no value is shown",
                *(f"namespace {ns} was not read: {why}" for ns, why in _unread(k8s_namespaces)),
            ],
            secret=odd_secret,
            namespace=odd_namespace,
            deployment=readers(odd, odd_secret),
            **({"context": odd.context} if odd.context else {}),
        )
    if unread:
        raise NotEvaluated(
            "cannot compare the shared keys across namespaces: "
            + "; ".join(f"{ns}: {why}" for ns, why in _unread(k8s_namespaces))
        )


def _unread(namespaces: Namespaces) -> list[tuple[str, str]]:
    return [
        (look.namespace, look.error or look.unreadable.get("secrets", ""))
        for look in namespaces.unread
    ]


@pytest.mark.runbook("tls-secret-expiring")
def test_tls_secrets_not_expiring(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No TLS secret's certificate expires within `warn_days` (default 30) but beyond
    `critical_days`; an unreadable tls.crt fails here too."""
    need(k8s_objects, "secrets")
    warn, critical = k8s_namespace.spec.warn_days, k8s_namespace.spec.critical_days
    found = []
    for secret, left in days_left(k8s_objects):
        if secret.tls and secret.tls.error:
            found.append(
                Finding(f"secret/{secret.name}", secret.tls.error, {"secret": secret.name})
            )
        elif left is not None and critical <= left < warn:
            subject = secret.tls.subject if secret.tls else ""
            detail = f"certificate {subject} expires in {left:.1f} days (warn below {warn:g})"
            found.append(_expiring(k8s_objects, secret, left, detail))
    fail_findings(k8s_objects, found, "holding certificates about to expire", "TLS secret")


@pytest.mark.runbook("tls-secret-expiring-soon")
def test_tls_secrets_not_expiring_soon(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """No TLS secret's certificate expires within `critical_days` (default 7) or has expired."""
    need(k8s_objects, "secrets")
    critical = k8s_namespace.spec.critical_days
    found = []
    for secret, left in days_left(k8s_objects):
        if left is not None and left < critical and secret.tls:
            when = f"expires in {left:.1f} days" if left >= 0 else f"expired {-left:.1f} days ago"
            detail = f"certificate {secret.tls.subject} {when} (critical below {critical:g})"
            found.append(_expiring(k8s_objects, secret, left, detail))
    fail_findings(k8s_objects, found, "holding certificates about to expire", "TLS secret")


def _expiring(
    observed: NamespaceObjects, secret: SecretSummary, left: float, detail: str
) -> Finding:
    """A TLS secret whose certificate has `left` days; the sooner it expires, the worse."""
    found = {
        "secret": secret.name,
        "days_left": f"{left:.0f}",
        "deployment": readers(observed, secret.name),
    }
    return Finding(f"secret/{secret.name}", detail, found, -left)


@pytest.mark.runbook("certificate-not-ready")
def test_certificates_ready(
    k8s_namespace: Target[KubernetesSection], k8s_objects: NamespaceObjects
) -> None:
    """Every cert-manager Certificate is Ready (skipped where cert-manager is not installed)."""
    need(k8s_objects, "certificates")
    if k8s_objects.certificates is None:
        pytest.skip(
            "cert-manager is not installed: certificates.cert-manager.io/v1 is not served"
            " (in a snapshot: it holds no Certificate; add them with"
            f" `kubectl get certificates.cert-manager.io -n {k8s_objects.namespace} -o yaml`)"
        )
    found = [
        Finding(
            f"certificate/{c.name}",
            f"Ready={c.ready.status if c.ready else 'missing'}"
            f" {c.ready.reason + ': ' + c.ready.message if c.ready else ''}".rstrip(),
            {"certificate": c.name, "secret": c.secret},
        )
        for c in k8s_objects.certificates
        if c.status_known and (c.ready is None or c.ready.status != "True")
    ]
    fail_findings(k8s_objects, found, "not ready", "certificate")
