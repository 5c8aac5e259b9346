"""Reading a YAML file someone else wrote (an environment file, a catalog overlay) safely.

`read_yaml(path)` returns the document or raises `YamlProblem` with one line that says what is
wrong and where (`line 12: ...` or a key path). Whatever the file holds, reading it is bounded:
at most `MAX_FILE_BYTES` are read, nesting deeper than `MAX_DEPTH` is refused, and so is a
document whose aliases (`&a` ... `*a`) would expand to more than `MAX_VALUES` values (a
"billion laughs" file is a few hundred bytes). Only plain YAML types are made (no Python
objects); a value that cannot be read as its type (`2026-13-45`, `!!int abc`) is a problem on
its line, never an exception of another kind.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 64  # an environment file is about six levels deep
MAX_VALUES = 200_000  # scalars, lists and mappings, counting every alias as often as it is used

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when it is installed


class YamlProblem(Exception):
    """A file that cannot be read as a YAML document: `problem` is one line for a person."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class _Loader(_Base):  # type: ignore[misc]
    """The safe loader, with scalar constructors that fail as a YAML error on their line."""


def _on_its_line(construct: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def checked(loader: Any, node: Any) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, TypeError, OverflowError, ArithmeticError, binascii.Error) as exc:
            raise ConstructorError(
                None, None, f"cannot read {_excerpt(node.value)} as {_tag(node.tag)}: {exc}",
                node.start_mark,
            ) from None  # fmt: skip

    return checked


for _tag_name in ("null", "bool", "int", "float", "binary", "timestamp", "str"):
    _full = f"tag:yaml.org,2002:{_tag_name}"
    _Loader.add_constructor(_full, _on_its_line(yaml.SafeLoader.yaml_constructors[_full]))


def read_yaml(path: Path, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """The YAML document in `path`; raises `YamlProblem` (one line) for any file that is
    missing, too large, not UTF-8, not YAML, too deep, or whose aliases expand too far."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise YamlProblem(f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise YamlProblem(f"(top): the file is larger than {max_bytes // 1024} KiB; not read")
    return parse_yaml(data)


def parse_yaml(data: bytes) -> Any:
    """The YAML document in `data`, bounded as `read_yaml` describes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem(f"(top): not UTF-8 text ({exc.reason})") from None
    try:
        document = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlProblem(f"{where}not valid YAML: {problem}") from None
    except RecursionError:
        raise YamlProblem("(top): nested too deeply to be read") from None
    check_shape(document)
    return document


def check_shape(document: Any) -> None:
    """Refuse a document nested deeper than `MAX_DEPTH`, holding itself, or whose aliases
    expand past `MAX_VALUES` values, naming the outermost key where that happens. Shared nodes
    are measured once and counted once per use, without being copied: this stays cheap."""
    sizes: dict[int, int] = {}
    heights: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path from the top
    # Iterative post-order walk: no recursion, whatever the depth.
    stack: list[tuple[Any, bool, str]] = [(document, False, "(top)")]
    while stack:
        node, done, top = stack.pop()
        if not isinstance(node, dict | list):
            continue
        key = id(node)
        children = list(node.values()) if isinstance(node, dict) else node
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(_measure(child, sizes) for child in children)
            heights[key] = 1 + max((_measure(child, heights) for child in children), default=0)
        elif key in open_nodes:
            raise YamlProblem(f"{top}: a value contains itself (an alias inside its own anchor)")
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True, top))
            keys = node if isinstance(node, dict) else [f"[{i}]" for i in range(len(node))]
            stack.extend(
                (child, False, str(key) if node is document else top)
                for key, child in zip(keys, children, strict=True)
            )
    if _measure(document, heights) > MAX_DEPTH:
        raise YamlProblem(
            f"{_where(document, heights, MAX_DEPTH - 1)}: nested more than {MAX_DEPTH} levels"
            " deep; not an environment file"
        )
    if _measure(document, sizes) > MAX_VALUES:
        raise YamlProblem(
            f"{_where(document, sizes, MAX_VALUES)}: YAML aliases expand to more than"
            f" {MAX_VALUES} values; write the values out, or use fewer aliases"
        )


def _measure(node: Any, measures: dict[int, int]) -> int:
    return measures.get(id(node), 1) if isinstance(node, dict | list) else 1


def _where(document: Any, measures: dict[int, int], limit: int) -> str:
    """The key of the outermost value over `limit` alone ("(top)" if none is)."""
    items = document.items() if isinstance(document, dict) else enumerate(document)
    for key, value in items:
        if _measure(value, measures) > limit:
            return f"[{key}]" if isinstance(document, list) else str(key)
    return "(top)"


def _tag(tag: str) -> str:
    names = {"bool": "true or false", "int": "a whole number", "float": "a number"}
    return {**names, "timestamp": "a date", "binary": "base64 data"}.get(
        tag.rsplit(":", 1)[-1], tag.rsplit(":", 1)[-1]
    )


def _excerpt(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
