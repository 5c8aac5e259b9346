"""Helpers for the fault matrix (tests/test_fault_matrix.py): a lab of faulty systems, the
environment-file parts that point each family at them, and the checks every faulty run passes.

`Lab` starts nothing of its own: it hands out the project's real servers (HttpServer,
SilentPort, RedisFarm, KubeStandIn, TlsServer, the shared PostgreSQL cluster) and closes them
at the end. A `Part` is one family's entry in an environment file plus the test-id targets it
yields; a `Row` is a part put into one fault, with the reason its failures must give.
`check_run` asserts the contract: every check of a faulty target failed (never an ERROR) with
its reason and its runbook block, nothing else was collected, and the run ended within three
times its timeout plus its start-up (`SuiteRun.budget`).
"""

from __future__ import annotations

import base64
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.certs import IssuedCertificate, server_context
from tests.conftest import SuiteRun, suite_run
from tests.pg import Cluster, shared_cluster
from tests.redisserver import RedisFarm
from tests.servers import Endpoint, HttpServer, SilentPort
from vigil.kube_standin import KubeStandIn
from vigil.sandbox.tls_endpoint import TlsServer

NAMESPACE = "shop"
CONTEXT = "prod"
RUNBOOK_BLOCK = ("runbook:  ", "what to do:")
SECRET = "matrix-secret-7f3a9c"  # every password and token of the matrix: shown nowhere


# --- the lab: real faulty systems, closed at the end --------------------------------------------


class EveryPath(dict[str, Endpoint]):
    """HttpServer routes answering every path with one endpoint (an API of any shape)."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__()
        self.endpoint = endpoint

    def get(self, key: str, default: Any = None) -> Endpoint:
        return self.endpoint


class Lab:
    """Hands out real servers in known states; `close()` stops all of them."""

    def __init__(self, directory: Path, config: pytest.Config) -> None:
        self.directory = directory
        self.config = config
        self.farm = RedisFarm(directory / "redis")
        self._closers: list[Callable[[], object]] = [self.farm.close]
        self._files = 0

    def http(self, routes: dict[str, Endpoint], tls: IssuedCertificate | None = None) -> HttpServer:
        server = HttpServer(routes, server_context(tls) if tls else None)
        self._closers.append(server.close)
        return server

    def everywhere(self, endpoint: Endpoint, tls: IssuedCertificate | None = None) -> HttpServer:
        """An HTTP(S) server answering `endpoint` on every path."""
        return self.http(EveryPath(endpoint), tls)

    def silent(self) -> int:
        port = SilentPort()
        self._closers.append(port.close)
        return int(port.port)

    def kube(self, objects: Iterable[dict[str, Any]] = (), forbidden: Iterable[str] = ()) -> str:
        """A Kubernetes API stand-in; its URL."""
        server = KubeStandIn(objects, forbidden=forbidden)
        self._closers.append(server.close)
        return server.url

    def tls(self, certificate: IssuedCertificate) -> int:
        """A TLS endpoint serving `certificate`; its port."""
        server = TlsServer(certificate)
        self._closers.append(server.close)
        return server.port

    @property
    def cluster(self) -> Cluster:
        """The test process's PostgreSQL cluster (started on first use)."""
        return shared_cluster(self.config)

    def file(self, name: str, content: bytes) -> Path:
        path = self.directory / name
        path.write_bytes(content)
        return path

    def kubeconfig(
        self, server: str, name: str = "kubeconfig", ca_pem: bytes | None = None
    ) -> Path:
        """A kubeconfig whose context `prod` points at `server` (any URL, reachable or not),
        trusting the CA `ca_pem` for it when given (else the system's trust store)."""
        cluster: dict[str, str] = {"server": server}
        if ca_pem is not None:
            cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": cluster}],
            "users": [{"name": "reader", "user": {"token": "matrix-token"}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "reader"}}],
            "current-context": CONTEXT,
        }
        path = self.directory / f"{self._unique(name)}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _unique(self, stem: str) -> str:
        self._files += 1
        return f"{stem}-{self._files}"

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()


# --- environment-file parts, one per family ----------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One family's entry in an environment file, and the test-id targets it yields."""

    family: str
    section: str
    entry: dict[str, Any]
    targets: tuple[str, ...]


def http_part(name: str, url: str, **settings: Any) -> Part:
    return Part("http", "http", {"name": name, "url": url, **settings}, (name,))


def postgres_part(name: str, dsn: str, **settings: Any) -> Part:
    assertions = [a["name"] for a in settings.get("assertions", [])]
    targets = (name, *(f"{name}/{a}" for a in assertions))
    return Part("postgres", "postgres", {"name": name, "dsn": dsn, **settings}, targets)


def redis_part(name: str, url: str, **settings: Any) -> Part:
    return Part("redis", "redis", {"name": name, "url": url, **settings}, (name,))


def kubernetes_part(kubeconfig: Path, **settings: Any) -> Part:
    """Namespace `shop` of context `prod`, with the secret checks switched on too."""
    entry = {
        "kubeconfig": str(kubeconfig),
        "context": CONTEXT,
        "namespaces": [NAMESPACE],
        "required_secrets": {"app-secrets": ["JWT_SECRET"]},
        "shared_secret_keys": ["JWT_SECRET"],
    }
    return Part("kubernetes", "kubernetes", {**entry, **settings}, (NAMESPACE, CONTEXT))


def tls_part(name: str, host: str, port: int, **settings: Any) -> Part:
    entry = {"name": name, "host": host, "port": port, **settings}
    return Part("tls", "tls", entry, (name,))


def prometheus_part(url: str, **settings: Any) -> Part:
    rules = [{"name": "error-ratio", "query": "sum(rate(errors_total[5m]))", "max": 1}]
    entry = {"url": url, "rules": rules, **settings}
    return Part("prometheus", "prometheus", entry, ("prometheus", "error-ratio"))


def status_page_part(name: str, url: str, **settings: Any) -> Part:
    return Part("status pages", "status_pages", {"name": name, "url": url, **settings}, (name,))


# --- rows of the matrix, and what a run of them must show --------------------------------------


# What a failure must say: one text, or several that must all appear in it.
Reason = str | tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """`part` put into `fault`: every check of its targets fails with `reason`, except the
    checks in `passing`, which do not depend on the faulty part and pass."""

    fault: str
    part: Part
    reason: Reason
    env: str = "faults"
    passing: frozenset[str] = frozenset()

    @property
    def ids(self) -> set[str]:
        return {f"{self.env}/{target}" for target in self.part.targets}

    @property
    def texts(self) -> tuple[str, ...]:
        return (self.reason,) if isinstance(self.reason, str) else self.reason


def write_environments(directory: Path, rows: list[Row], timeout_s: float) -> list[Path]:
    """One environment file per distinct `env` of the rows (Kubernetes and Prometheus are one
    section per environment, so their faults each get an environment of their own)."""
    documents: dict[str, dict[str, Any]] = {}
    for row in rows:
        document = documents.setdefault(
            row.env,
            {"timeout_s": timeout_s, "vars": {"namespace": NAMESPACE, "context": CONTEXT}},
        )
        part = row.part
        if part.section == "http":
            document.setdefault("http", {"services": []})["services"].append(part.entry)
        elif part.section in ("kubernetes", "prometheus"):
            assert part.section not in document, f"two {part.section} sections in {row.env}"
            document[part.section] = part.entry
        else:
            document.setdefault(part.section, []).append(part.entry)
    paths = []
    for name, document in documents.items():
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        paths.append(path)
    return paths


def failure_texts(run: SuiteRun) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, failure or error text) from the JUnit XML."""
    assert run.junit is not None, run.output[-3000:]
    texts = {}
    for case in run.junit.iter("testcase"):
        name = str(case.get("name"))
        outcome, text = "passed", ""
        for kind, label in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            found = case.find(kind)
            if found is not None:
                outcome = label
                text = f"{found.get('message') or ''}\n{found.text or ''}"
                break
        texts[name] = (outcome, text)
    return texts


def _target_of(test_id: str) -> str:
    return test_id[test_id.index("[") + 1 : -1]


def check_run(run: SuiteRun, rows: list[Row], timeout_s: float) -> list[str]:
    """How a faulty run breaks the contract, one line per problem (empty: it keeps it).
    `timeout_s` is the targets' timeout: the run may cost one, within `run.budget`."""
    # Each HTTP service's status routes are judged in tests/test_http_semantics.py.
    results = {
        k: v for k, v in failure_texts(run).items() if not k.startswith("test_status_routed[")
    }
    problems: list[str] = []
    covered: set[str] = set()
    for row in rows:
        mine = {tid: r for tid, r in results.items() if _target_of(tid) in row.ids}
        label = f"{row.part.family} x {row.fault} ({', '.join(sorted(row.ids))})"
        if not mine:
            problems.append(f"{label}: no check was collected")
        covered |= set(mine)
        for test_id, (outcome, text) in sorted(mine.items()):
            check = test_id.split("[")[0]
            if check in row.passing:
                if outcome != "passed":
                    problems.append(f"{test_id}: {outcome}, expected passed: {text[:300]}")
                continue
            if outcome != "failed":
                problems.append(f"{test_id}: {outcome}, expected failed: {text[:300]}")
                continue
            blocked = re.search(r"\(blocked by (\S+)\)", text)
            if blocked:  # root cause first: its target's reachability check tells the fault
                test_id, (outcome, text) = blocked[1], results.get(blocked[1], ("absent", ""))
                if outcome != "failed":
                    problems.append(f"{test_id}: {outcome}, expected failed: {text[:300]}")
            missing = [s for s in (*row.texts, *RUNBOOK_BLOCK) if s not in text]
            if missing:
                problems.append(f"{test_id}: failure lacks {missing}: {text[:400]}")
    if stray := set(results) - covered:
        problems.append(f"checks outside the matrix: {sorted(stray)}")
    assert run.junit is not None
    if SECRET in run.output or SECRET in ET.tostring(run.junit, encoding="unicode"):
        problems.append("a password or token appears in the output or the JUnit XML")
    for marker in ("Traceback", "INTERNALERROR"):
        if marker in run.output:
            problems.append(f"{marker} in the output")
    if run.seconds >= run.budget(timeout_s):
        budget = f"{run.budget(timeout_s):g} s for a {timeout_s:g} s timeout"
        # Where the time went: pytest's own session, or start-up and exit around it.
        session = re.findall(r"=+ .* in (\d+(?:\.\d+)?)s", run.output)
        inside = f"; pytest's session took {session[-1]} s of it" if session else ""
        problems.append(f"the run took {run.seconds:.1f} s (budget {budget}{inside})")
    if run.returncode != 1:
        problems.append(f"exit status {run.returncode}, expected 1 (checks failed)")
    return problems


def run_isolated(directory: Path, *args: str, timeout: float = 60) -> SuiteRun:
    """`pytest checks ARGS` as `run_suite` runs it, but inside a new network namespace with
    only the loopback up: no packet leaves the machine, and the resolver is unreachable."""
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    assert not missing, f"{missing} needed to make a network namespace (util-linux, iproute2)"
    namespace = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
    return suite_run(directory, *args, timeout=timeout, prefix=namespace)
