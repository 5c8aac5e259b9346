"""deploy/rbac.yaml grants exactly what the probe uses: get and list, on the kinds it lists."""

from __future__ import annotations

from pathlib import Path

import yaml

from vigil.families.kubernetes.client import CLUSTER, NAMESPACED

RBAC = Path(__file__).resolve().parent.parent / "deploy" / "rbac.yaml"


def _rules() -> dict[str, set[tuple[str, str, str]]]:
    roles: dict[str, set[tuple[str, str, str]]] = {}
    for document in yaml.safe_load_all(RBAC.read_text()):
        if document["kind"] in ("ClusterRole", "Role"):
            roles[document["metadata"]["name"]] = {
                (group, resource, verb)
                for rule in document["rules"]
                for group in rule["apiGroups"]
                for resource in rule["resources"]
                for verb in rule["verbs"]
            }
    return roles


def test_only_get_and_list_are_granted() -> None:
    verbs = {verb for rules in _rules().values() for _, _, verb in rules}
    assert verbs == {"get", "list"}


def test_every_listed_kind_is_granted_and_nothing_else() -> None:
    roles = _rules()
    namespaced = {(g, r) for g, r, v in roles["vigil-reader"] | roles["vigil-secret-reader"]}
    assert namespaced == {(group, name) for name, (group, _) in NAMESPACED.items()}
    assert {(g, r) for g, r, _ in roles["vigil-node-reader"]} == {
        (group, name) for name, (group, _) in CLUSTER.items()
    }
    assert roles["vigil-log-reader"] == {("", "pods/log", "get")}
    assert all(
        ("", "secrets") not in {(g, r) for g, r, _ in rules}
        for name, rules in roles.items()
        if name != "vigil-secret-reader"
    )
