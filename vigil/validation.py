"""Validation errors in the words of the file a person wrote, never in pydantic's.

`describe(exc, model)` turns a pydantic `ValidationError` into one line per problem:
`http.services[0].expect_stauts: unknown key; did you mean expect_status?`. Locations are the
key paths of the file (pydantic's union branch tags such as `dict[str,...]` or
`function-before[...]` are dropped), the alternatives of a union become one line ("expected
one of 'sev1', ... or a mapping"), and an unknown key is matched against the keys allowed
where it was written (difflib).
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from vigil.redact import redact_text

# pydantic's names for the branches of a union, which it puts in an error's location.
_BRANCH_TAG = re.compile(
    r"^(str|int|float|bool|bytes|none|any|is-instance\[.*|"
    r"(list|dict|set|frozenset|tuple|literal|function-(before|after|wrap|plain)|"
    r"str-enum|int-enum|enum|tagged-union|union|nullable|json-or-python|lax-or-strict|chain|"
    r"default|model|constrained-str|url)\[.*)$"
)

# What a value should have been, for the errors that are about its type.
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "none_required": "nothing",
}
_TYPE_ERRORS = {*_EXPECTED, "enum", "literal_error"}


def describe(exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """One line per problem, `key.path: what is wrong`, in the order of the file."""
    found: list[tuple[list[str | int], str, dict[str, Any]]] = []
    for error in exc.errors():
        location = [p for p in error["loc"] if not (isinstance(p, str) and _BRANCH_TAG.match(p))]
        if error["type"] == "invalid_key" and location:
            location[-1] = str(location[-1])  # a key that is a number, not a list index
        found.append((location, error["type"], dict(error)))
    lines: dict[str, list[str]] = {}
    for location, kind, details in found:
        if kind in _TYPE_ERRORS and _deeper_error_exists(location, found):
            continue  # a union branch that did not fit, while another one went further
        where = path_text(location)
        lines.setdefault(where, [])
        message = _message(kind, details, location, model)
        if message not in lines[where]:
            lines[where].append(message)
    return [
        printable(f"{where}: {_join_alternatives(messages)}") for where, messages in lines.items()
    ]


def printable(text: str) -> str:
    """One line of text: control characters (a newline in a key, an escape sequence) are
    shown as their escapes, so a problem can neither forge lines nor drive a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def path_text(location: Sequence[str | int]) -> str:
    """`("http", "services", 0, "url")` -> `http.services[0].url`; `(top)` when empty."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else str(part)
    return text or "(top)"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of `choices` to a misspelt `word`, if one is close enough."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def allowed_keys(model: type[BaseModel] | None, location: Sequence[str | int]) -> list[str]:
    """The keys a mapping at `location` (a key path) may have, when it is a model's."""
    current: Any = model
    for part in location:
        current = _inner_model(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _inner_model(annotation: Any, part: str | int) -> Any:
    """The type found one step below `annotation` at `part` (a key or an index)."""
    for candidate in _members(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if isinstance(part, str) and part in candidate.model_fields:
                return candidate.model_fields[part].annotation
            continue
        origin = get_origin(candidate)
        if origin in (list, tuple, set, frozenset) and isinstance(part, int):
            return get_args(candidate)[0] if get_args(candidate) else None
        if origin is dict and isinstance(part, str):
            return get_args(candidate)[1] if get_args(candidate) else None
    return None


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union (and of `Annotated`), else the annotation itself."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(annotation) for m in _members(arg)]
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:
        return _members(annotation.__origin__)
    return [annotation]


def _deeper_error_exists(
    location: list[str | int], found: list[tuple[list[str | int], str, dict[str, Any]]]
) -> bool:
    return any(
        len(other) > len(location) and other[: len(location)] == location for other, _, _ in found
    )


def _message(
    kind: str, error: dict[str, Any], location: list[str | int], model: type[BaseModel] | None
) -> str:
    context = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(location[-1]) if location else ""
        known = allowed_keys(model, location[:-1])
        guess = did_you_mean(key, known)
        if guess:
            return f"unknown key; did you mean {guess}?"
        if known:
            return f"unknown key (known keys here: {', '.join(known)})"
        return "unknown key (check the spelling)"
    if kind == "missing":
        return "required key is missing"
    if kind == "invalid_key":
        return "keys must be text"
    if kind in ("enum", "literal_error"):
        return f"expected one of {context.get('expected', '?')} (got {_show(error.get('input'))})"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]} (got {_show(error.get('input'))})"
    if kind in ("value_error", "assertion_error"):
        return str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    limits = {
        "greater_than": "must be greater than {gt}",
        "greater_than_equal": "must be at least {ge}",
        "less_than": "must be less than {lt}",
        "less_than_equal": "must be at most {le}",
        "too_short": "needs at least {min_length} item(s)",
        "too_long": "may have at most {max_length} item(s)",
        "string_too_short": "needs at least {min_length} character(s)",
        "string_too_long": "may have at most {max_length} character(s)",
        "string_pattern_mismatch": "does not have the expected form",
        "finite_number": "must be a finite number",
    }
    if kind in limits:
        shown = {k: f"{v:g}" if isinstance(v, float) else v for k, v in context.items()}
        return f"{limits[kind].format(**shown)} (got {_show(error.get('input'))})"
    return f"{error['msg']} (got {_show(error.get('input'))})"


def _join_alternatives(messages: list[str]) -> str:
    """Several union branches at one place: "expected A or B (got X)"."""
    if len(messages) == 1:
        return messages[0]
    expected = [m for m in messages if m.startswith("expected ") and " (got " in m]
    if len(expected) == len(messages):
        got = expected[0][expected[0].rindex(" (got ") :]
        wanted = [m[len("expected ") : m.rindex(" (got ")] for m in expected]
        return f"expected {', or '.join(wanted)}{got}"
    return "; ".join(messages)


def _show(value: Any) -> str:
    if isinstance(value, dict):  # a mapping where a value belongs may hold any secret
        keys = [str(key) for key in list(value)[:5]]
        return f"a mapping with keys {', '.join(keys)}{', ...' if len(value) > 5 else ''}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    text = redact_text(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."
