"""The loader, fuzzed (issue 11, item 3): 2,300 mutated versions of
environments/production.example.yaml (byte flips, truncations, type swaps, deep nesting),
each of which either loads or is refused with one-line problems (`ConfigError`), never any
other exception. Derandomized, so a CI run sees the same examples every time."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.environment import load_environment
from vigil.errors import ConfigError

DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ten times faster
EXAMPLE = Path(__file__).resolve().parent.parent / "environments" / "production.example.yaml"
SOURCE = EXAMPLE.read_bytes()
TREE = yaml.safe_load(SOURCE)
VARIABLES = {
    "DATABASE_URL": "postgresql://app:pw@127.0.0.1:5432/app",
    "DATABASE_REPLICA_URL": "postgresql://app:pw@127.0.0.1:5433/app",
    "REDIS_MONITOR_PASSWORD": "monitor-pw",
    "AUTH_HEALTH_TOKEN": "token-1",
    "PROMETHEUS_TOKEN": "token-2",
}
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["${NOT_SET}", "${X:-}", "sev9", "P0", "http://[::1", "-1", "1e400"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


def loads_or_refuses(directory: Path, content: bytes) -> None:
    """The one promise: an `Environment`, or a `ConfigError` of one-line problems."""
    path = directory / "mutated.yaml"
    path.write_bytes(content)
    try:
        environment = load_environment(path, VARIABLES)
    except ConfigError as exc:
        assert exc.problems, "a refusal says why"
        for problem in exc.problems:
            assert problem and "\n" not in problem, problem
            assert "bug in the family" not in problem, problem
        return
    assert environment.name


def paths_of(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a YAML tree, the top included."""
    found = [prefix]
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        found += paths_of(value, (*prefix, key))
    return found


ALL_PATHS = paths_of(TREE)


def replaced(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[path[0]] = replaced(tree[path[0]], path[1:], value)
    return copy


def at(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


@settings(FUZZ, max_examples=900)
@given(data=st.data())
def test_byte_flips(scratch: Path, data: st.DataObject) -> None:
    content = bytearray(SOURCE)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(content) - 1))
        content[position] = data.draw(st.integers(0, 255))
    loads_or_refuses(scratch, bytes(content))


@settings(FUZZ, max_examples=400)
@given(cut=st.integers(0, len(SOURCE)), tail=st.binary(max_size=8))
def test_truncations(scratch: Path, cut: int, tail: bytes) -> None:
    loads_or_refuses(scratch, SOURCE[:cut] + tail)


@settings(FUZZ, max_examples=800)
@given(path=st.sampled_from(ALL_PATHS), value=VALUES)
def test_type_swaps(scratch: Path, path: tuple[Any, ...], value: Any) -> None:
    loads_or_refuses(scratch, yaml.dump(replaced(TREE, path, value), Dumper=DUMPER).encode())


@settings(FUZZ, max_examples=200)
@given(path=st.sampled_from(ALL_PATHS), depth=st.integers(1, 3000), as_list=st.booleans())
def test_deep_nesting(scratch: Path, path: tuple[Any, ...], depth: int, as_list: bool) -> None:
    text = yaml.dump(replaced(TREE, path, "@@HERE@@"), Dumper=DUMPER, width=10_000)
    opening, closing = ("[" * depth, "]" * depth) if as_list else ("{a: " * depth, "}" * depth)
    inner = yaml.dump(at(TREE, path), Dumper=DUMPER, default_flow_style=True, width=10_000)
    inner = inner.strip()
    inner = inner.removesuffix("...").strip() or "null"
    loads_or_refuses(scratch, text.replace("'@@HERE@@'", f"{opening}{inner}{closing}").encode())
