"""Masking of secrets in connection strings and free text.

Every value that can reach a report goes through `redact_text` first, so a password inside a
URL (`scheme://user:secret@host`) or a libpq keyword string (`password=secret`) never leaves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_CHARS = 4

# The password runs to the LAST `@` before the path, as URL parsers read it (`p@ss@host`).
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*):(?P<secret>[^\s/]*)@")
_URL_TOKEN_ONLY = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<secret>[^/\s:@]+)@")
# `password=`, `access_token=`, `X-Api-Key:`, `'password': '...'`: any key ending in a secret
# word. A quoted value may hold escaped quotes (libpq); an unquoted one runs to the next white
# space, since libpq values may contain `;`, `&` or `,` (masking a little more is harmless).
# `key: value` counts only for a quoted key or an API-key header, so that prose such as
# "JWT_SECRET: 2 different values" or "secret/api-token: does not exist" stays readable.
_SECRET_KEY = r"(?:[\w.-]*[_.-])?(?:password|passwd|pwd|token|secret|api[_-]?key|sslpassword)"
_KEYWORD = re.compile(
    rf"(?P<head>\b{_SECRET_KEY}\s*=\s*|['\"]{_SECRET_KEY}['\"]\s*:\s*"
    r"|\b(?:[\w-]*-)?api[_-]?key\s*:\s*)"
    r"(?P<secret>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)(?P<secret>[A-Za-z0-9._~+/=\-]{8,})")


def redact_text(text: str) -> str:
    """Mask URL passwords, `password=` style keywords and bearer tokens in any text."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    text = _KEYWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    return _BEARER.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_url(url: str) -> str:
    """A URL with its password masked; a user name alone (`redis://token@host`) is masked too."""
    masked = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", url)
    if masked == url:
        masked = _URL_TOKEN_ONLY.sub(lambda m: f"{m['head']}{MASK}@", url)
    return redact_text(masked)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def inert(text: str, *, newlines: bool = True) -> str:
    """Text from a target made harmless for a terminal: control characters (ESC, C1, bell,
    carriage return...) shown as `\\x1b`-style escapes; newlines and tabs kept if `newlines`."""
    cleaned = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if not newlines:
        cleaned = cleaned.replace("\n", " ").replace("\t", " ")
    return cleaned


class Redactor:
    """Masks what a run must never show: every secret value its environment files brought
    in (raw and URL-encoded), and the patterns of `redact_text`; and makes target text inert.
    One per run, applied where text enters a check's record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET_CHARS:
                continue  # "1" or "on" would mask half the report; patterns still apply
            forms |= {secret, quote(secret, safe=""), quote_plus(secret)}
        ordered = sorted(forms, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str, *, newlines: bool = True) -> str:
        if self._values is not None:
            text = self._values.sub(MASK, text)
        return inert(redact_text(text), newlines=newlines)
